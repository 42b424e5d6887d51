"""Figures of spend against outcomes (from :mod:`vc_eval.analysis.outcomes` results).

Only aggregates are drawn, and only for placement types with at least 6
children.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vc_eval.analysis.outcomes import SPEND, NeedChangeResult, OutcomesResult
from vc_eval.core import privacy
from vc_eval.core.framework import TOTAL_NEED


def _need_change(result: OutcomesResult | NeedChangeResult) -> NeedChangeResult:
    return result.need_change if isinstance(result, OutcomesResult) else result


def plot_change_by_type(
    result: OutcomesResult | NeedChangeResult,
    *,
    domain: str = TOTAL_NEED,
    ax: Axes | None = None,
    min_n: int = privacy.MIN_N,
) -> Axes:
    """Change in need per 6 months by placement type: raw average and adjusted estimate.

    Filled points with 95% intervals are the adjusted (standardised)
    averages from the model; open circles are the raw averages. Types with
    fewer than ``min_n`` children are not drawn. Safe for reports.
    """
    nc = _need_change(result)
    bt = nc.by_type
    if bt.empty:
        t = bt
    else:
        t = bt[(bt["domain"] == domain) & (bt["children"] >= min_n)].reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 * len(t) + 1.8))
    if t.empty:
        ax.text(0.5, 0.5, "Too few children to show", ha="center", va="center")
        ax.set_axis_off()
        return ax
    y = np.arange(len(t))[::-1]
    ok = t["adjusted_change"].notna().to_numpy()
    ax.errorbar(
        t.loc[ok, "adjusted_change"],
        y[ok],
        xerr=[
            (t["adjusted_change"] - t["ci_low"])[ok],
            (t["ci_high"] - t["adjusted_change"])[ok],
        ],
        fmt="o",
        color="#1f4e79",
        capsize=3,
        label="Adjusted (95% CI)",
    )
    ax.scatter(
        t["raw_change"], y, facecolors="none", edgecolors="#c44e52", label="Raw average", zorder=3
    )
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(y, t["label"])
    label = t["domain_label"].iloc[0] if len(t) else domain
    ax.set(
        xlabel="Change in need per 6 months (points; negative = need fell)",
        title=f"{label}: change in need by placement type",
    )
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_spend_effects(result: OutcomesResult, *, fig: Figure | None = None) -> Figure:
    """Association of weekly spend (per doubling) with need change and with outcomes.

    Left: points per 6 months per doubling of weekly cost, for each need
    domain, with 95% intervals. Right: the same for each external outcome
    (in the outcome's own units). Safe for reports (model estimates only).
    """
    if fig is None:
        fig = plt.figure(figsize=(12, 5.5))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    nc = result.need_change.coefficients
    if not nc.empty:
        sp = nc[nc["term"] == SPEND].reset_index(drop=True)
        y = np.arange(len(sp))[::-1]
        ax1.errorbar(
            sp["estimate"],
            y,
            xerr=[sp["estimate"] - sp["ci_low"], sp["ci_high"] - sp["estimate"]],
            fmt="o",
            color="#1f4e79",
            capsize=3,
        )
        ax1.set_yticks(y, sp["label"])
    ax1.axvline(0, color="grey", linewidth=0.8)
    ax1.set(
        xlabel="Change in need per 6 months, per doubling of weekly cost",
        title="Need change and spend (adjusted)",
    )
    ex = result.external.coefficients
    if not ex.empty:
        sp = ex[ex["term"] == SPEND]
        if "design" in sp:  # the main estimate; the negative control is in the tables
            sp = sp[sp["design"] == "main"]
        sp = sp.reset_index(drop=True)
        y = np.arange(len(sp))[::-1]
        ax2.errorbar(
            sp["estimate"],
            y,
            xerr=[sp["estimate"] - sp["ci_low"], sp["ci_high"] - sp["estimate"]],
            fmt="o",
            color="#55a868",
            capsize=3,
        )
        ax2.set_yticks(y, [m.replace("_", " ") for m in sp["measure"]])
    ax2.axvline(0, color="grey", linewidth=0.8)
    ax2.set(
        xlabel="Difference in outcome per doubling of weekly cost",
        title="Outcomes and spend at the start of the year (adjusted)",
    )
    fig.tight_layout()
    return fig


def change_by_type_figure(result: OutcomesResult):
    """Change in total need by placement type as a report figure, or None with too few children."""
    from vc_eval.core.summary import FigureOut
    from vc_eval.plots.report import new_figure

    bt = result.need_change.by_type
    if bt.empty or "domain" not in bt:
        return None
    bt = bt[(bt["domain"] == TOTAL_NEED) & (bt["children"] >= privacy.MIN_N)]
    if bt.empty:
        return None
    fig, ax = new_figure(figsize=(7, 0.5 * len(bt) + 1.8))
    plot_change_by_type(result, ax=ax)
    fell = int((bt["ci_high"] < 0).sum())
    return FigureOut(
        fig,
        "Adjusted change in total need per 6 months for each placement type with at least 6 "
        "children, as points with 95% interval bars, raw averages as open circles; zero marked "
        f"by a vertical line. In {fell} of {len(bt)} types the whole interval is below zero "
        "(need fell).",
        "Change in total need by placement type (observational).",
        # no count is shown; each type's points stand for its children
        marks=tuple(int(n) for n in bt["children"]),
    )
