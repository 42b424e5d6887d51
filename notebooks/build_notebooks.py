"""Write the report notebooks from the cell lists below (kept as code for reviewable diffs).

    python notebooks/build_notebooks.py            # rewrite both notebooks, no outputs
    python notebooks/build_notebooks.py --refresh  # also store the outputs nbval checks

Notebooks hold no logic: each cell calls :mod:`vc_eval.reporting.sections` (or
:mod:`vc_eval.reporting.sections_peaks`) and displays the result. Rules kept here:
one ``parameters`` cell, every code cell at most 12 non-blank lines,
kernelspec ``vc-eval``. ``--refresh`` executes each notebook in this Python
environment and keeps the outputs only of cells marked ``# NBVAL_CHECK_OUTPUT``
(the stable headline figures that ``pytest --nbval-lax`` compares).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "vc-eval", "display_name": "Python (vc-eval)", "language": "python"}
MAX_LINES = 12

IMPACT_PARAMETERS = """\
council: str = ""  # council name; empty: the first in alphabetical order
data_dir: str = "../data/synthetic"  # dataset folder
period_start: str = ""  # YYYY-MM-DD; empty: 12 months up to period_end
period_end: str = ""  # YYYY-MM-DD; empty: the latest date in the data
framework: str = ""  # framework YAML or shipped name; empty: the one recorded with the data
comparison: str = "previous_period"  # previous_period | all_councils | none
domains: str = "all"  # growth-model domains: all | total | none | comma-separated ids
engine: str = "fast"  # growth-model engine: fast | statsmodels
seed: int = 1  # seed for simulated intervals (same seed, same numbers)
figure_dpi: int = 90  # figure resolution (dots per inch)
cache_dir: str = ""  # batch cache of the other councils (vc-eval report fills it); empty: none"""

IMPACT_CELLS = [
    (
        "markdown",
        ["remove_cell"],
        """\
# Impact update

This notebook is run by `vc-eval report --council NAME`, which fills in the parameters
below, executes it with Papermill and renders the HTML report (code hidden). Every number
comes from `vc_eval.reporting.sections`; the notebook itself only displays the sections.""",
    ),
    ("code", ["parameters"], IMPACT_PARAMETERS),
    (
        "code",
        [],
        """\
from vc_eval.reporting import sections as S

ctx = S.build_context(
    council=council, data_dir=data_dir, period_start=period_start, period_end=period_end,
    framework=framework, comparison=comparison, domains=domains, engine=engine, seed=seed,
    figure_dpi=figure_dpi, cache_dir=cache_dir,
)
S.show(S.title(ctx), dpi=figure_dpi, level=1)""",
    ),
    ("code", [], "S.show(S.executive_summary(ctx), dpi=figure_dpi)"),
    ("code", [], 'S.show(S.section(ctx, "population"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "needs_profile"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "trajectories"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "need_change"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "cost_need"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "outcomes"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "impact"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "agreement"), dpi=figure_dpi)'),
    ("code", [], 'S.show(S.section(ctx, "data_quality"), dpi=figure_dpi)'),
    ("code", [], "S.show(S.methods(ctx, S.all_sections(ctx)), dpi=figure_dpi)"),
    ("code", ["headline"], "S.emit_headline(ctx)"),
    ("code", ["remove_cell"], "# NBVAL_CHECK_OUTPUT\nprint(S.key_figures(ctx))"),
]

PEAKS_PARAMETERS = """\
data_dir: str = "../data/synthetic"  # dataset folder
councils: str = ""  # empty: all councils pooled; or comma-separated council names
by_council: bool = True  # also fit total need separately per council and compare
domains: str = "all"  # domains for the main peak table: all | total | comma-separated ids
sensitivity_domains: str = "total"  # domains refitted with other splines and random effects
period_end: str = ""  # YYYY-MM-DD: use assessments up to this date; empty: all
framework: str = ""  # framework YAML or shipped name; empty: the one recorded with the data
engine: str = "fast"  # growth-model engine: fast | statsmodels
n_draws: int = 1000  # draws of the fixed effects per peak-age interval
seed: int = 1  # seed for simulated intervals (same seed, same numbers)
figure_dpi: int = 90  # figure resolution (dots per inch)"""

PEAKS_CELLS = [
    (
        "markdown",
        ["remove_cell"],
        """\
# Need trajectories and peak ages

For researchers: mixed-effects growth models of need by age, pooled or per council, peak
ages with intervals, and how the peaks move with the spline and the random-effects
structure. Run with `vc-eval report --notebook need_peaks`, or open in JupyterLab
(`make lab`). Every number comes from `vc_eval.reporting.sections_peaks`.""",
    ),
    ("code", ["parameters"], PEAKS_PARAMETERS),
    (
        "code",
        [],
        """\
from vc_eval.reporting import sections as S
from vc_eval.reporting import sections_peaks as P

pctx = P.build_peaks_context(
    data_dir=data_dir, councils=councils, by_council=by_council, domains=domains,
    sensitivity_domains=sensitivity_domains, period_end=period_end, framework=framework,
    engine=engine, n_draws=n_draws, seed=seed,
)
S.show(P.title(pctx), dpi=figure_dpi, level=1)""",
    ),
    ("code", [], "S.show(P.pooled_peaks(pctx), dpi=figure_dpi)"),
    ("code", [], "S.show(P.council_peaks(pctx), dpi=figure_dpi)"),
    ("code", [], "S.show(P.spline_sensitivity(pctx), dpi=figure_dpi)"),
    ("code", [], "S.show(P.random_effects_sensitivity(pctx), dpi=figure_dpi)"),
    ("code", [], "S.show(P.model_details(pctx), dpi=figure_dpi)"),
    ("code", [], "S.show(P.methods(pctx), dpi=figure_dpi)"),
    ("code", ["headline"], "P.emit_headline(pctx)"),
    ("code", ["remove_cell"], "# NBVAL_CHECK_OUTPUT\nprint(P.key_figures(pctx))"),
]

NOTEBOOKS = {"impact_update": IMPACT_CELLS, "need_peaks": PEAKS_CELLS}


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    for kind, tags, source in cells:
        if kind == "code":
            n = sum(1 for ln in source.splitlines() if ln.strip())
            if n > MAX_LINES:
                raise ValueError(f"code cell has {n} non-blank lines (max {MAX_LINES}):\n{source}")
            cell = new_code_cell(source)
        else:
            cell = new_markdown_cell(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def refresh_checked_outputs(nb: nbformat.NotebookNode, path: Path) -> None:
    """Execute ``nb`` here and keep outputs of ``# NBVAL_CHECK_OUTPUT`` cells only."""
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / path.name
        nbformat.write(nb, src)
        out = Path(tmp) / f"out-{path.name}"
        papermill.execute_notebook(
            str(src), str(out), kernel_name="python3", cwd=str(HERE), progress_bar=False
        )
        done = nbformat.read(out, as_version=4)
    by_id = {c.get("id"): c for c in done.cells}
    for cell in nb.cells:
        if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source:
            ran = by_id[cell["id"]]
            cell.outputs = ran.outputs
            cell.execution_count = 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--refresh",
        action="store_true",
        help="execute and store the outputs of NBVAL_CHECK_OUTPUT cells",
    )
    ap.add_argument("names", nargs="*", default=list(NOTEBOOKS), help="notebooks to write")
    args = ap.parse_args(argv)
    for name in args.names:
        path = HERE / f"{name}.ipynb"
        nb = build(NOTEBOOKS[name])
        if args.refresh:
            refresh_checked_outputs(nb, path)
        elif path.exists():
            # Keep stored check outputs when only rewriting the cells.
            old = nbformat.read(path, as_version=4)
            kept = {c.get("id"): c for c in old.cells if c.get("outputs")}
            for cell in nb.cells:
                if cell.get("id") in kept and cell.source == kept[cell["id"]].source:
                    cell.outputs = kept[cell["id"]].outputs
                    cell.execution_count = kept[cell["id"]].execution_count
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
