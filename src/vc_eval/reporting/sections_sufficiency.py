"""What the sufficiency notebook displays: one projection, its summary and two figures.

The notebook ``notebooks/sufficiency.ipynb`` holds no logic: it calls
:func:`build` with its parameters and :func:`show` on each summary. Every
sentence comes from :class:`~vc_eval.analysis.sufficiency.SufficiencyResult`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vc_eval.analysis.sufficiency import SufficiencyResult, sufficiency
from vc_eval.core.dataset import Dataset
from vc_eval.core.summary import FigureOut, Summary
from vc_eval.reporting.render import HEADLINE_MIME


def _csv(path: str) -> pd.DataFrame | None:
    return pd.read_csv(path) if path else None


def build(
    *,
    council: str = "",
    data_dir: str | Path = "data/synthetic",
    years: int = 3,
    framework: str = "",
    target_mix: str = "",
    supply: str = "",
    n_sims: int = 200,
    seed: int = 1,
) -> SufficiencyResult:
    """Load the data and project one council (the first alphabetically when empty)."""
    ds = Dataset.load(data_dir, framework=framework or None)
    council = council or sorted(ds.council_names())[0]
    return sufficiency(
        ds,
        council=council,
        years=years,
        n_sims=n_sims,
        seed=seed,
        target_mix=_csv(target_mix),
        supply=_csv(supply),
    )


def figures(res: SufficiencyResult) -> list[FigureOut]:
    """The two commissioner's figures, with alt text stating each one's finding."""
    import matplotlib.pyplot as plt

    from vc_eval.plots.sufficiency import plot_children, plot_spend

    s = res.summary()
    out = []
    for fn, key in ((plot_children, "sufficiency.children"), (plot_spend, "sufficiency.spend")):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        fn(res, ax=ax)
        out.append(FigureOut(fig, alt=s.finding(key).text))
    return out


def show(summary: Summary, *, figs: list[FigureOut] = (), dpi: int = 90, level: int = 2) -> None:
    """Display a summary (HTML) and figures (PNG with alt text) in a notebook."""
    import base64

    from IPython.display import HTML, display

    display(HTML(summary.to_html(level)))
    for f in figs:
        data = base64.b64encode(f.png(dpi)).decode("ascii")
        display(
            {"image/png": data, "text/plain": f.alt},
            raw=True,
            metadata={"image/png": {"alt": f.alt}},
        )
        f.close()


def headline(res: SufficiencyResult) -> dict:
    """Headline numbers for the JSON beside the report."""
    return {"council": res.council, **res.summary().headline}


def emit_headline(res: SufficiencyResult) -> None:
    """Output the headline numbers for ``vc-eval report`` to save."""
    from IPython.display import display

    data = json.loads(json.dumps(headline(res), default=str))
    display({HEADLINE_MIME: data, "text/plain": "headline numbers recorded"}, raw=True)
