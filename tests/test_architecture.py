"""The import graph of vc_eval: no cycles, no upward arrows, no private imports.

Layers, lowest first: core < ingest, synthetic < analysis < plots < reporting
< commands < cli. A module may import from its own layer or lower ones only.
Imports inside functions count too (they are still arrows), except the
result's lazy ``plot()`` lookup, which names its function as a string.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vc_eval"

LAYER = {
    "core": 0,
    "ingest": 1,
    "synthetic": 1,
    "analysis": 2,
    "plots": 3,
    "reporting": 4,
    "commands": 5,
    "cli": 6,
    "__init__": 7,  # the package's public API re-exports everything
    "api": 7,  # the flat public API module (vc_eval.api) behind it
    "__main__": 7,
}

#: Known upward arrows in files owned by others, for the lead to shrink.
#: (importer module, imported module)
ALLOWED_UPWARD: set[tuple[str, str]] = set()
#: Known cycles (as sorted tuples of modules), for the lead to shrink.
ALLOWED_CYCLES: set[tuple[str, ...]] = set()
#: Known imports of private names across modules: (importer, "module:name").
ALLOWED_PRIVATE: set[tuple[str, str]] = {
    ("vc_eval.reporting.render", "vc_eval.core.dataset:_find_table_file"),
    ("vc_eval.reporting.render", "vc_eval.core.dataset:_read_table"),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def resolve(importer: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports() -> list[tuple[str, str, str | None]]:
    """(importer, imported module, imported name or None) for every import.

    ``from vc_eval import __version__`` is not an arrow: the package sets its
    version before it imports anything (checked below), so any layer may read it.
    """
    mods = modules()
    out = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("vc_eval"):
                        out.append((name, a.name, None))
            elif isinstance(node, ast.ImportFrom):
                target = resolve(name, is_pkg, node)
                if not target.startswith("vc_eval"):
                    continue
                for a in node.names:
                    if target == "vc_eval" and a.name == "__version__":
                        continue
                    sub = f"{target}.{a.name}"
                    if sub in mods:  # "from vc_eval.core import privacy"
                        out.append((name, sub, None))
                    else:
                        out.append((name, target, a.name))
    return out


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return LAYER["__init__"]
    return LAYER[parts[1]]


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_no_upward_arrows():
    bad = set()
    for a, b, _ in imports():
        if b == "vc_eval":
            b = "vc_eval.__init__"
        if layer(b) > layer(a) and (a, b) not in ALLOWED_UPWARD:
            bad.add((a, b))
    assert not bad, "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in sorted(bad))


def test_allow_lists_are_still_needed():
    """Shrink the allow-lists as violations are fixed (a stale entry fails)."""
    edges = {(a, b) for a, b, _ in imports()}
    assert ALLOWED_UPWARD <= edges
    private = {(a, f"{b}:{n}") for a, b, n in imports() if n}
    assert ALLOWED_PRIVATE <= private


def graph() -> dict[str, set[str]]:
    mods = modules()
    g: dict[str, set[str]] = {m: set() for m in mods}
    for a, b, _ in imports():
        if b in mods and a != b:
            g[a].add(b)
    return g


def cycles(g: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(tuple(sorted(comp)))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    # A package __init__ importing its submodules, which import the package's
    # siblings, is not a cycle of code: drop arrows into a package __init__
    # from its own submodules.
    g = graph()
    for a in g:
        g[a] = {b for b in g[a] if not a.startswith(b + ".")}
    found = [c for c in cycles(g) if c not in ALLOWED_CYCLES]
    assert not found, f"import cycles: {found}"


def test_no_private_names_across_modules():
    bad = []
    for a, b, n in imports():
        if n and n.startswith("_") and not n.startswith("__") and b != a:
            if (a, f"{b}:{n}") not in ALLOWED_PRIVATE:
                bad.append(f"{a} imports {b}.{n}")
    assert not bad, "private imports: " + "; ".join(sorted(bad))


def test_version_is_set_before_any_import_of_the_package():
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if any(isinstance(t, ast.Name) and t.id == "__version__" for t in ast.walk(node)):
            break
        if isinstance(node, ast.ImportFrom) and (node.level or "vc_eval" in (node.module or "")):
            pytest.fail("vc_eval/__init__.py imports submodules before setting __version__")


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [("a", "b", "c")]


@pytest.mark.parametrize("module", ["vc_eval.analysis", "vc_eval.core"])
def test_low_layers_do_not_load_plotting(module):
    """analysis and core name plotting functions as strings (Result.plot), never import them."""
    for a, b, _ in imports():
        if a.startswith(module) and (a, b) not in ALLOWED_UPWARD:
            assert not b.startswith(("vc_eval.plots", "vc_eval.reporting")), (a, b)
