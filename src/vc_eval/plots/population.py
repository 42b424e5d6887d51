"""Figures of the care population."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from vc_eval.analysis.care import (
    IN_CARE_END,
    IN_CARE_START,
    CarePopulation,
    PlacementCosts,
    PlacementStability,
)
from vc_eval.core.display import money, percent, plural
from vc_eval.core.privacy import MIN_N
from vc_eval.core.summary import Count, FigureOut
from vc_eval.plots.report import new_figure, plot_in_care_by_month, plot_placement_mix


def plot_need_by_age(by_age: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Mean total need by year of age (from :func:`vc_eval.core.population.mean_need_by_age`).

    Each point is a year of age with at least 6 children; the band is +/- one
    standard error.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    se = by_age["sd"] / by_age["assessments"].pow(0.5)
    sns.lineplot(data=by_age, x="age", y="mean", marker="o", ax=ax)
    ax.fill_between(by_age["age"], by_age["mean"] - se, by_age["mean"] + se, alpha=0.25)
    ax.set(xlabel="Age (years)", ylabel="Mean total need (0-100)", title="Total need by age")
    return ax


# --------------------------------------------------------------------------
# From the results of vc_eval.analysis.care (axes-level, then report figures)
# --------------------------------------------------------------------------


def plot_in_care(result: CarePopulation, *, ax: Axes | None = None) -> Axes:
    """Children in care on the first of each month (months under 6 children not drawn)."""
    return plot_in_care_by_month(result.monthly, ax=ax)


def plot_mix(result: CarePopulation, *, ax: Axes | None = None) -> Axes:
    """Percentage of children in care by placement type at the end (types under 6, and
    types the placement table hides, left out)."""
    mix = result.mix_end
    total = mix.sum()
    shown = mix[(mix >= MIN_N) & result.shown_end()]
    frame = pd.DataFrame({"label": shown.index, "percent": 100 * shown.to_numpy() / max(total, 1)})
    if ax is None:
        _, ax = new_figure(figsize=(6, 3.5))
    if len(frame):
        plot_placement_mix(frame, ax=ax)
    return ax


def care_population_figure(result: CarePopulation) -> FigureOut:
    """Children in care by month and placement mix; alt text states the count and change."""
    fig, (ax1, ax2) = new_figure(1, 2, figsize=(11, 3.8), layout="constrained")
    plot_in_care(result, ax=ax1)
    plot_mix(result, ax=ax2)
    mix = result.mix_end
    left_out = int(((mix >= 1) & ((mix < MIN_N) | ~result.shown_end())).sum())
    word = result.change_word()
    said = (
        f" The number in care {word} over the period."
        if word in ("rose", "fell")
        else (" The number in care was about the same." if word else "")
    )
    counts, marks = _population_counts(result)
    return FigureOut(
        fig,
        "Left: children in care on the first of each month of the period"
        + (" and of the previous period" if result.monthly["period"].nunique() > 1 else "")
        + ". Right: percentage of children in care by placement type at the end of the period"
        + (
            f" ({plural(left_out, 'type')} with fewer than 6 children, or hidden in the "
            "table, left out)"
            if left_out
            else ""
        )
        + "."
        + said,
        "Children in care by month, and placement type at period end. Months and types with "
        "fewer than 6 children are not drawn.",
        counts=counts,
        marks=marks,
    )


def _declared(
    counts: pd.Series, universe: str, var: str, shown: pd.Series | None = None
) -> tuple[list[Count], list[int]]:
    """Counts a bar chart of shares shows: each drawn bar (6 or more children, and shown
    in its table when ``shown`` says which are), and each category left out for having
    1-5 (stated as "fewer than 6"); marks: the drawn bars."""
    out, marks = [], []
    for label, n in counts.items():
        n = int(n)
        drawn = n >= MIN_N and (shown is None or bool(shown.get(label, False)))
        if drawn:
            marks.append(n)
        if drawn or 1 <= n < MIN_N:
            out.append(Count(n, universe, ((var, str(label)),)))
    return out, marks


def _population_counts(result: CarePopulation) -> tuple[tuple[Count, ...], tuple[int, ...]]:
    """What the care population figure shows: children in care each month (each
    drawn point its own count) and the placement mix at the end (shares of the
    children in care, a count the page states)."""
    counts, marks = _declared(result.mix_end, IN_CARE_END, "placement", result.shown_end())
    m = result.monthly
    for month, n, period in m[["month", "children", "period"]].itertuples(index=False):
        if np.isfinite(n):
            counts.append(Count(int(n), f"in care on {pd.Timestamp(month):%Y-%m-%d} ({period})"))
            marks.append(int(n))
    return tuple(counts), tuple(marks)


def plot_spend_by_type(result: PlacementCosts, *, ax: Axes | None = None) -> Axes:
    """Weekly spend by placement type (types with fewer than 6 children not drawn)."""
    t = result.by_type[result.by_type["children"] >= MIN_N]
    if ax is None:
        _, ax = new_figure(figsize=(6.5, 3.5))
    sns.barplot(data=t, y="placement_type", x="weekly_spend", ax=ax, orient="h", color="C0")
    ax.set(xlabel="Weekly spend (£)", ylabel="", title="Weekly spend by placement type")
    ax.xaxis.set_major_formatter(lambda v, _: money(v))
    return ax


def costs_figure(result: PlacementCosts) -> FigureOut:
    """Weekly spend by placement type; alt text names the type with most spend."""
    fig, ax = new_figure(
        figsize=(7, 0.45 * max(len(result.by_type), 1) + 1.5), layout="constrained"
    )
    plot_spend_by_type(result, ax=ax)
    t = result.by_type[result.by_type["children"] >= MIN_N]
    # bars are money, not children: no counts; each bar stands for a type's children
    said = ""
    if len(t):
        top = t.sort_values("weekly_spend", ascending=False).iloc[0]
        said = f" {top['placement_type']} has the largest weekly spend."
    return FigureOut(
        fig,
        "Horizontal bars: total weekly spend on placements by placement type at the end of the "
        f"period, for types with at least 6 children.{said}",
        "Weekly spend by placement type (types with fewer than 6 children not drawn).",
        marks=tuple(int(n) for n in t["children"]),
    )


def plot_stability(result: PlacementStability, *, ax: Axes | None = None) -> Axes:
    """Share of children by number of placements in the period (bars under 6 not drawn,
    nor a bar the stability table hides: with the total it would give a hidden count)."""
    c = result.counts
    cols = [x for x in ("this", "previous") if x in c]
    names = {"this": "This period", "previous": "Previous period"}
    shown = result.shown()
    rows = []
    for col in cols:
        total = c[col].sum()
        for r in c.itertuples():
            n = getattr(r, col)
            if n >= MIN_N and shown.at[r.placements, col]:
                rows.append(
                    {"placements": r.placements, "percent": 100 * n / total, "period": names[col]}
                )
    frame = pd.DataFrame(rows, columns=["placements", "percent", "period"])
    if ax is None:
        _, ax = new_figure(figsize=(6, 3.5))
    if len(frame):
        sns.barplot(data=frame, x="placements", y="percent", hue="period", ax=ax)
        ax.legend(frameon=False, fontsize=8, title=None)
    ax.set(xlabel="Placements in the period", ylabel="% of children", title="Placement stability")
    return ax


def stability_figure(result: PlacementStability) -> FigureOut:
    fig, ax = new_figure(figsize=(6.5, 3.6), layout="constrained")
    plot_stability(result, ax=ax)
    share = result.share_three_plus()
    c = result.counts.set_index("placements")["this"]
    shown = result.shown()
    k = int(c.get("3 or more", 0))
    said = (
        f" {percent(share)} had three or more placements."
        if k >= MIN_N and c.sum() - k >= MIN_N and shown.at["3 or more", "this"]
        else ""
    )
    counts, marks = _declared(c, IN_CARE_END, "placements", shown["this"])
    if "previous" in result.counts:
        p = result.counts.set_index("placements")["previous"]
        more, more_marks = _declared(p, STABILITY_PREVIOUS, "placements", shown["previous"])
        counts += more
        marks += more_marks
    return FigureOut(
        fig,
        "Bar chart of the percentage of children in care at the end of the period by number "
        f"of placements during it, this period and the previous one; bars for fewer than 6 "
        f"children are not drawn.{said}",
        "Placements during the period.",
        counts=tuple(counts),
        marks=tuple(marks),
    )


#: Universe of the stability figure's previous-period bars (children in care at the
#: end of the previous period, by placements during it): the children in care the day
#: before this period, the universe of the start's counts (as the stability table says).
STABILITY_PREVIOUS = IN_CARE_START
