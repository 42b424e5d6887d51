"""Figures of sufficiency projections: children by placement type, and the spend.

No mark stands for fewer than 6 children: a quarter's point of a placement
type is drawn only where its projected mean is at least 6, and the origin
(the population as it is: real children, the same in every simulation) only
for the types a table of the origin by type with its total would show
(:func:`vc_eval.core.privacy.suppress`: 1-5 hidden, and as many more as keep
them from being worked out from the total the page states). The figure-level
functions (:func:`children_figure`, :func:`spend_figure`) declare what each
figure shows (``FigureOut.counts``: the origin's counts by type) and the
children behind each mark (``FigureOut.marks``) for the page audit.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from vc_eval.analysis.sufficiency import UNIVERSE_ORIGIN, SufficiencyResult
from vc_eval.core import privacy
from vc_eval.core.privacy import MIN_N
from vc_eval.core.schema import PLACEMENT_LABELS, PLACEMENT_TYPES, Col
from vc_eval.core.summary import Count, FigureOut
from vc_eval.plots.report import new_figure

#: Variable of the origin's counts by placement type (values: the types' labels).
VARIABLE = "placement"


def origin_shown(result: SufficiencyResult) -> pd.Series:
    """Whether each type's origin count may be drawn (index: type codes).

    As a one-way table of the origin by type with its total would show it:
    counts of 1-5 hidden, and more hidden where the total would give them away.
    """
    n = result.origin_by_type()
    frame = pd.DataFrame({"children": n.to_numpy()}, index=list(n.index))
    frame.loc[privacy.TOTAL] = int(n.sum())
    hidden = privacy.suppress(frame, totals="columns").mask["children"]
    shown = ~hidden.drop(privacy.TOTAL).to_numpy(dtype=bool)
    return pd.Series(shown, index=list(PLACEMENT_TYPES))


def drawn_points(result: SufficiencyResult) -> pd.DataFrame:
    """Projected children by quarter and type (no total), with ``drawn``: the points a
    figure may mark (mean of at least 6 children; the origin only where
    :func:`origin_shown`)."""
    kids = result.by_type("children")
    kids = kids[kids[Col.placement_type] != "total"]
    ok = kids["mean"].to_numpy() >= MIN_N
    origin = (kids["date"] == result.dates[0]).to_numpy()
    shown = kids[Col.placement_type].map(origin_shown(result)).to_numpy(dtype=bool)
    return kids.assign(drawn=ok & (~origin | shown))


def _lines(frame: pd.DataFrame, drawn: np.ndarray, ax: Axes, *, scale: float = 1.0) -> list[str]:
    """One line with its band per placement type with a drawn point (others not drawn)."""
    shown = []
    colours = plt.get_cmap("tab10")
    frame = frame.copy()
    frame.loc[~drawn, ["mean", "lower", "upper"]] = np.nan
    for i, t in enumerate(PLACEMENT_TYPES):
        f = frame[frame[Col.placement_type] == t]
        if f["mean"].notna().sum() == 0:
            continue
        c = colours(i)
        ax.plot(f["date"], f["mean"] / scale, color=c, lw=1.8, label=PLACEMENT_LABELS[t])
        ax.fill_between(f["date"], f["lower"] / scale, f["upper"] / scale, color=c, alpha=0.18)
        shown.append(t)
    return shown


def plot_children(result: SufficiencyResult, *, ax: Axes | None = None) -> Axes:
    """Projected children in care by placement type, mean with its simulation band.

    Points whose projected mean is under 6 children are not drawn (nor a type
    whose mean stays under 6), nor an origin count a table would hide.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    frame = drawn_points(result)
    drawn = _lines(frame, frame["drawn"].to_numpy(), ax)
    ax.axvline(result.dates[0], color="0.6", lw=0.8, ls="--")
    ax.set(
        xlabel="Quarter",
        ylabel="Children in care",
        title=f"Projected children by placement type ({result.model} model; "
        f"bands: {result.level:.0%} of simulations)",
    )
    ax.set_ylim(bottom=0)
    if drawn:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_spend(result: SufficiencyResult, *, ax: Axes | None = None) -> Axes:
    """Projected weekly placement spend (GBP thousands, today's prices) by placement type.

    Drawn only where the children figure draws the same point: spend is not
    shown for fewer than 6 children.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    kids = drawn_points(result)
    spend = result.by_type("spend")
    spend = spend[spend[Col.placement_type] != "total"]
    drawn = _lines(spend, kids["drawn"].to_numpy(), ax, scale=1000.0)
    ax.axvline(result.dates[0], color="0.6", lw=0.8, ls="--")
    ax.set(
        xlabel="Quarter",
        ylabel="Weekly spend (£ thousands)",
        title=f"Projected weekly spend by placement type (bands: {result.level:.0%})",
    )
    ax.set_ylim(bottom=0)
    if drawn:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def _marks(result: SufficiencyResult) -> tuple[int, ...]:
    """Children behind each drawn point: the origin's real count, or the projected mean."""
    f = drawn_points(result)
    return tuple(int(round(m)) for m in f.loc[f["drawn"], "mean"])


def _origin_counts(result: SufficiencyResult) -> tuple[Count, ...]:
    """What the figures' origin points state: each drawn type's count, each type of 1-5
    (read as "fewer than 6"), each type of none (taken as known, as a table shows true
    zeros: the stricter reading), and that the types are every child counted."""
    n = result.origin_by_type()
    shown = origin_shown(result).to_numpy()
    lo, hi = privacy.THRESHOLD
    counts = [
        Count(int(v), UNIVERSE_ORIGIN, ((VARIABLE, str(label)),))
        for (label, v), s in zip(n.items(), shown, strict=True)
        if (s and (v >= MIN_N or v == 0)) or lo <= v <= hi
    ]
    counts.append(Count(int(n.sum()), UNIVERSE_ORIGIN, any_of=((VARIABLE, tuple(n.index)),)))
    return tuple(counts)


def children_figure(result: SufficiencyResult, *, alt: str = "") -> FigureOut:
    """Projected children by placement type, with what it shows declared for the page audit."""
    fig, ax = new_figure(figsize=(8, 4.5), layout="constrained")
    plot_children(result, ax=ax)
    said = alt or result.summary().finding("sufficiency.children").text
    return FigureOut(
        fig,
        "Lines: children in care by placement type each quarter, from the population as it "
        "is to the projection, with bands of the simulations; quarters and types with fewer "
        f"than 6 children are not drawn. {said}",
        f"Projected children in care by placement type ({result.model} model). Points for "
        "fewer than 6 children are not drawn.",
        counts=_origin_counts(result),
        marks=_marks(result),
    )


def spend_figure(result: SufficiencyResult, *, alt: str = "") -> FigureOut:
    """Projected weekly spend by placement type; marks: the children behind each point."""
    fig, ax = new_figure(figsize=(8, 4.5), layout="constrained")
    plot_spend(result, ax=ax)
    said = alt or result.summary().finding("sufficiency.spend").text
    # money, not children: no counts; each point stands for the children the
    # children figure draws there
    return FigureOut(
        fig,
        "Lines: weekly placement spend at today's prices by placement type each quarter, with "
        f"bands of the simulations; drawn only where at least 6 children are. {said}",
        f"Projected weekly spend by placement type ({result.model} model).",
        marks=_marks(result),
    )


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


__all__ = [
    "VARIABLE",
    "children_figure",
    "drawn_points",
    "origin_shown",
    "plot_backtest",
    "plot_children",
    "plot_spend",
    "spend_figure",
]
