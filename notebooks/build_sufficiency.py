"""Write ``sufficiency.ipynb`` from the cell list below (kept apart from build_notebooks.py).

    python notebooks/build_sufficiency.py

Uses :func:`build_notebooks.build` (one ``parameters`` cell, code cells of at most
12 non-blank lines, kernelspec ``vc-eval``). The lead may fold ``SUFFICIENCY_CELLS``
into ``build_notebooks.NOTEBOOKS``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import HERE, build  # noqa: E402

SUFFICIENCY_PARAMETERS = """\
council: str = ""  # council name; empty: the first in alphabetical order
data_dir: str = "../data/synthetic"  # dataset folder
years: int = 3  # years ahead to project, by quarter (1-5)
framework: str = ""  # framework YAML or shipped name; empty: the one recorded with the data
target_mix: str = ""  # CSV placement_type, share [, need_band]; empty: the current mix
supply: str = ""  # CSV placement_type, places; empty: no gap table
n_sims: int = 200  # simulations per model
seed: int = 1  # seed for simulated intervals (same seed, same numbers)
figure_dpi: int = 90  # figure resolution (dots per inch)"""

SUFFICIENCY_CELLS = [
    (
        "markdown",
        ["remove_cell"],
        """\
# Sufficiency from need

Run by `vc-eval report --notebook sufficiency --council NAME` (or open in JupyterLab).
Every number comes from `vc_eval.analysis.sufficiency`; this notebook only displays the
summaries that the projection makes of itself.""",
    ),
    ("code", ["parameters"], SUFFICIENCY_PARAMETERS),
    (
        "code",
        [],
        """\
from vc_eval.reporting import sections_sufficiency as SS

res = SS.build(
    council=council, data_dir=data_dir, years=years, framework=framework,
    target_mix=target_mix, supply=supply, n_sims=n_sims, seed=seed,
)
SS.show(res.summary(), figs=SS.figures(res), dpi=figure_dpi, level=1)""",
    ),
    (
        "markdown",
        [],
        """\
## Baseline: the flow model

Moves between placement types by age band, from the placements table alone (what
councils' flow models do), on the same data and the same simulations.""",
    ),
    (
        "code",
        [],
        """\
if res.baseline is not None:
    SS.show(res.baseline.summary(), figs=SS.figures(res.baseline)[:1], dpi=figure_dpi)""",
    ),
    ("code", ["headline"], "SS.emit_headline(res)"),
]


def main() -> int:
    path = HERE / "sufficiency.ipynb"
    nb = build(SUFFICIENCY_CELLS)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
