"""Figures of assessor agreement."""

from __future__ import annotations

from matplotlib.axes import Axes

from vc_eval.analysis.agreement import AgreementResult, icc_word
from vc_eval.core.privacy import MIN_N
from vc_eval.core.summary import FigureOut
from vc_eval.plots.report import new_figure, plot_domain_intervals


def plot_agreement(
    result: AgreementResult, *, ax: Axes | None = None, labels: dict[str, str] | None = None
) -> Axes:
    """ICC per domain with its 95% confidence interval (domains with < 6 pairs left out).

    Parameters
    ----------
    result : AgreementResult
    ax : Axes, optional
    labels : dict, optional
        Display names of domains (default: the result's ``domain_name``).
    """
    t = result.table[(result.table["n_pairs"] >= MIN_N) & result.table["icc"].notna()]
    names = [
        (labels or {}).get(d, name) for d, name in zip(t["domain"], t["domain_name"], strict=True)
    ]
    ax = plot_domain_intervals(t, "icc", "ci_lower", "ci_upper", names=names, ax=ax)
    for ref in (0.5, 0.75, 0.9):  # Koo & Li (2016): poor / moderate / good / excellent
        ax.axvline(ref, color="0.85", lw=0.8, zorder=0)
    ax.set(
        xlim=(min(0.0, float(t["ci_lower"].min()) if len(t) else 0.0), 1.0),
        xlabel="Intraclass correlation (95% CI)",
        title="Agreement between two assessors",
    )
    return ax


__all__ = ["plot_agreement"]


def agreement_figure(result: AgreementResult) -> FigureOut:
    """ICC per domain as a report figure; the alt text states the range and its bands."""
    t = result.table[(result.table["n_pairs"] >= MIN_N) & result.table["icc"].notna()]
    fig, ax = new_figure(figsize=(7, 0.4 * max(len(t), 1) + 1.5), layout="constrained")
    plot_agreement(result, ax=ax)
    said = ""
    if len(t):
        lo, hi = float(t["icc"].min()), float(t["icc"].max())
        said = f" ICCs range from {lo:.2f} ({icc_word(lo)}) to {hi:.2f} ({icc_word(hi)})."
    return FigureOut(
        fig,
        "Intraclass correlation with 95% interval for each domain with at least 6 pairs of "
        f"scorings, on a scale up to 1, with reference lines at 0.5, 0.75 and 0.9.{said}",
        "Assessor agreement (ICC) by domain.",
        # no count is shown; each point stands for its domain's pairs of scorings
        marks=tuple(int(n) for n in t["n_pairs"]),
    )


__all__ += ["agreement_figure"]
