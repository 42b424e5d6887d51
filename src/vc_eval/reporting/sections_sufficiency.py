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
from vc_eval.core import privacy
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
    """The two commissioner's figures, with alt text stating each one's finding.

    Each declares the children behind its marks and the counts it shows
    (:mod:`vc_eval.plots.sufficiency`), for the page audit (:func:`page`).
    """
    from vc_eval.plots.sufficiency import children_figure, spend_figure

    s = res.summary()
    return [
        children_figure(res, alt=s.finding("sufficiency.children").text),
        spend_figure(res, alt=s.finding("sufficiency.spend").text),
    ]


def page(res: SufficiencyResult) -> tuple[list[Summary], privacy.PageAudit]:
    """The page as shown, after the page-level disclosure audit, and what the audit did.

    The projection's summary with both figures, then (when there is one) the
    flow baseline's with its children figure, audited together
    (:func:`vc_eval.core.privacy.audit_page`): a figure with a mark for fewer
    than 6 children, or whose counts read with the sentences would reveal a
    count of 1-5, is withheld; sentences likewise. The audit's notes join the
    last summary's caveats.
    """
    from dataclasses import replace

    from vc_eval.plots.sufficiency import children_figure

    parts = [replace(res.summary(), figures=figures(res))]
    if res.baseline is not None:
        base = res.baseline.summary()
        alt = base.finding("sufficiency.children").text
        parts.append(replace(base, figures=[children_figure(res.baseline, alt=alt)]))
    audit = privacy.audit_page(parts)
    if not audit.ok:  # pragma: no cover - the audit can always hide more
        raise privacy.DisclosureError("sufficiency page: the page-level audit failed")
    shown = list(audit.summaries)
    # figures the audit withheld are not shown: close them now
    kept = {id(f) for s in shown for f in s.figures}
    for s in parts:
        for f in s.figures:
            if id(f) not in kept:
                f.close()
    if audit.notes:
        shown[-1] = replace(shown[-1], caveats=[*shown[-1].caveats, *audit.notes])
    return shown, audit


def show(
    summary: Summary, *, figs: list[FigureOut] | None = None, dpi: int = 90, level: int = 2
) -> None:
    """Display a summary (HTML) and figures (PNG with alt text) in a notebook.

    ``figs`` defaults to the summary's own (those :func:`page` kept).
    """
    import base64

    from IPython.display import HTML, display

    display(HTML(summary.to_html(level)))
    for f in summary.figures if figs is None else figs:
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
