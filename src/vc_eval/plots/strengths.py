"""Figures of strengths beside needs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from vc_eval.analysis.strengths import StrengthCostResult, StrengthsResult
from vc_eval.core.population import AGE_BAND_LABELS
from vc_eval.core.privacy import MIN_N


def plot_strengths_by_age(result: StrengthsResult, *, ax: Axes | None = None) -> Axes:
    """Mean score by age band: each outcome area's needs and strengths side by side.

    Line style and legend say which way is better, as the framework declares
    it (needs: lower is better; strengths: higher is better). Age bands with
    fewer than 6 children are not drawn.
    """
    fw = result.framework
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    t = result.by_age
    x = {b: i for i, b in enumerate(AGE_BAND_LABELS)}
    colours = plt.get_cmap("tab10")
    for i, area in enumerate(fw.outcome_areas):
        for kind, style in (("need", "-"), ("strength", "--")):
            doms = [d for d in fw.domains_in_area(area) if fw.domain(d).kind == kind]
            sub = t[t["domain"].isin(doms)]
            if sub.empty:
                continue
            m = sub.groupby("age_band", observed=True)["mean"].mean()
            better = fw.better(doms[0])
            ax.plot(
                [x[b] for b in m.index],
                m.to_numpy(),
                style,
                color=colours(i),
                marker="o",
                ms=3,
                label=f"{fw.outcome_areas[area]}: {kind} ({better} is better)",
            )
    ax.set_xticks(range(len(AGE_BAND_LABELS)), AGE_BAND_LABELS)
    ax.set(
        xlabel="Age band",
        ylabel="Mean score (0-100)",
        title="Needs (solid) and strengths (dashed) by age",
        ylim=(0, 100),
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_strength_cost(result: StrengthCostResult, *, ax: Axes | None = None) -> Axes:
    """Correlation of weekly cost with total need and each strength, with 95% intervals.

    Filled marks: all children; open marks: among children of similar total
    need and age. Nothing is drawn for fewer than 6 children.
    """
    t = result.table[(result.table["children"] >= MIN_N) & result.table["ci_low"].notna()]
    t = t.iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * max(len(t), 1) + 1.5))
    y = np.arange(len(t))
    for col, lo, hi, dy, fill, label in (
        ("spearman_rho", "ci_low", "ci_high", 0.12, True, "all children"),
        ("partial_rho", "partial_low", "partial_high", -0.12, False, "similar need and age"),
    ):
        ok = t[col].notna().to_numpy()
        s = t[ok]
        ax.errorbar(
            s[col],
            y[ok] + dy,
            xerr=[s[col] - s[lo], s[hi] - s[col]],
            fmt="o",
            mfc=None if fill else "white",
            capsize=3,
            label=label,
        )
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_yticks(y, list(t["label"]))
    ax.set(
        xlabel="Spearman correlation with weekly cost (95% interval)",
        title="Does money follow strengths as well as need?",
        xlim=(-1, 1),
    )
    ax.legend(fontsize=8, loc="lower right")
    return ax


def strengths_marks(result: StrengthsResult) -> tuple[int, ...]:
    """Children behind the marks of :func:`plot_strengths_by_age` (for the page audit):
    each drawn point is a mean over domain x age-band cells of 6 or more children."""
    return tuple(int(n) for n in result.by_age["n_children"])


def strength_cost_marks(result: StrengthCostResult) -> tuple[int, ...]:
    """Children behind each row of :func:`plot_strength_cost` (for the page audit)."""
    t = result.table[(result.table["children"] >= MIN_N) & result.table["ci_low"].notna()]
    return tuple(int(n) for n in t["children"])


__all__ = ["plot_strength_cost", "plot_strengths_by_age", "strength_cost_marks", "strengths_marks"]
