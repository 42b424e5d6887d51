"""Figures of sufficiency projections: children by placement type, and the spend."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from vc_eval.analysis.sufficiency import SufficiencyResult
from vc_eval.core.privacy import MIN_N
from vc_eval.core.schema import PLACEMENT_LABELS, PLACEMENT_TYPES, Col


def _lines(frame, ax: Axes, *, min_mean: float, scale: float = 1.0) -> list[str]:
    """One line with its band per placement type whose projected mean reaches ``min_mean``."""
    shown = []
    colours = plt.get_cmap("tab10")
    for i, t in enumerate(PLACEMENT_TYPES):
        f = frame[frame[Col.placement_type] == t]
        if f.empty or f["mean"].max() < min_mean:
            continue
        c = colours(i)
        # the origin is the population as it is: no mark for 1-5 real children
        f = f.copy()
        small = (f["date"] == f["date"].min()) & (f["mean"] > 0) & (f["mean"] < MIN_N)
        f.loc[small, ["mean", "lower", "upper"]] = np.nan
        ax.plot(f["date"], f["mean"] / scale, color=c, lw=1.8, label=PLACEMENT_LABELS[t])
        ax.fill_between(f["date"], f["lower"] / scale, f["upper"] / scale, color=c, alpha=0.18)
        shown.append(t)
    return shown


def plot_children(result: SufficiencyResult, *, ax: Axes | None = None) -> Axes:
    """Projected children in care by placement type, mean with its simulation band.

    Types whose projected mean stays under 6 children are left out (no mark
    for fewer than 6 children).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    frame = result.by_type("children")
    _lines(frame, ax, min_mean=MIN_N)
    ax.axvline(result.dates[0], color="0.6", lw=0.8, ls="--")
    ax.set(
        xlabel="Quarter",
        ylabel="Children in care",
        title=f"Projected children by placement type ({result.model} model; "
        f"bands: {result.level:.0%} of simulations)",
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_spend(result: SufficiencyResult, *, ax: Axes | None = None) -> Axes:
    """Projected weekly placement spend (GBP thousands, today's prices) by placement type."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    kids = result.by_type("children")
    keep = kids.groupby(Col.placement_type)["mean"].max()
    keep = set(keep[keep >= MIN_N].index)
    frame = result.by_type("spend")
    frame = frame[frame[Col.placement_type].isin(keep)]
    _lines(frame, ax, min_mean=0.0, scale=1000.0)
    ax.axvline(result.dates[0], color="0.6", lw=0.8, ls="--")
    ax.set(
        xlabel="Quarter",
        ylabel="Weekly spend (£ thousands)",
        title=f"Projected weekly spend by placement type (bands: {result.level:.0%})",
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_backtest(frame, *, ax: Axes | None = None, placement_type: str = "total") -> Axes:
    """Backtest: projected band and mean of each model beside the actual counts."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    f = frame[frame[Col.placement_type] == placement_type]
    for i, (model, g) in enumerate(f.groupby("model")):
        c = plt.get_cmap("tab10")(i)
        ax.plot(g["date"], g["mean"], color=c, label=f"{model} (mean)")
        ax.fill_between(g["date"], g["lower"], g["upper"], color=c, alpha=0.15)
    g = f.drop_duplicates("date")
    ax.plot(g["date"], g["actual"], "ko", ms=4, label="actual")
    ax.set(xlabel="Quarter", ylabel="Children in care", title="Backtest")
    ax.legend(fontsize=8)
    return ax


__all__ = ["plot_backtest", "plot_children", "plot_spend"]
