"""Figures of cost against need (from :mod:`vc_eval.analysis.spend` results).

Report figures draw aggregates only: no mark stands for fewer than 6
children. :func:`plot_cost_vs_need_children` draws individual children and
is for analysts only.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vc_eval.analysis.spend import MixByNeedBand, NeedsMatchedScenario, SpendResult
from vc_eval.core import display, privacy
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.schema import PLACEMENT_LABELS, Col


def plot_cost_vs_need(
    result: SpendResult,
    *,
    ax: Axes | None = None,
    cmap: str = "Greys",
    lines: bool = True,
) -> Axes:
    """Weekly cost against total need: a 2-D histogram with a fit per placement type.

    Each shaded cell is a (10-point need x half-octave cost) bin holding at
    least 6 children (cells with fewer are left blank; see
    :func:`vc_eval.analysis.spend.cost_need_bins`); shade is the number of children.
    Lines are the fitted weekly cost by need within each placement type
    with at least 20 children (:func:`vc_eval.analysis.spend.fit_lines`). Safe for
    reports.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5))
    bins = result.bins
    if len(bins):
        rects = [
            Rectangle((r.need_low, r.cost_low), r.need_high - r.need_low, r.cost_high - r.cost_low)
            for r in bins.itertuples()
        ]
        norm = LogNorm(vmin=max(bins["children"].min(), 1), vmax=max(bins["children"].max(), 2))
        pc = PatchCollection(rects, cmap=cmap, norm=norm, alpha=0.8, linewidth=0)
        pc.set_array(bins["children"].to_numpy(dtype=float))
        ax.add_collection(pc)
        ax.figure.colorbar(pc, ax=ax, label="Children in cell (cells under 6 hidden)")
        ax.set_xlim(0, 100)
        ax.set_ylim(bins["cost_low"].min(), bins["cost_high"].max())
    if lines and len(result.lines):
        sns.lineplot(
            data=result.lines, x="need", y=Col.weekly_cost, hue="label", ax=ax, linewidth=2.2
        )
        ax.legend(title="Placement type (fit)", fontsize=8, title_fontsize=9, loc="upper left")
    ax.set_yscale("log")
    ax.set(
        xlabel="Total need (0-100)",
        ylabel="Weekly cost (GBP, log scale)",
        title="Weekly cost against total need",
    )
    return ax


def plot_cost_vs_need_children(
    frame: pd.DataFrame,
    *,
    need: str = TOTAL_NEED,
    ax: Axes | None = None,
) -> Axes:
    """ANALYST USE ONLY, NOT FOR REPORTS: one point per assessment, coloured by type.

    Every point is an individual child's assessment and placement, so the
    figure can disclose information about single children. Never put it in
    a report or share it outside the analysis team; use
    :func:`plot_cost_vs_need` instead.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5))
    d = frame.assign(label=frame[Col.placement_type].map(PLACEMENT_LABELS))
    sns.scatterplot(
        data=d, x=need, y=Col.weekly_cost, hue="label", s=8, alpha=0.5, linewidth=0, ax=ax
    )
    ax.set_yscale("log")
    ax.set(
        xlabel="Total need (0-100)",
        ylabel="Weekly cost (GBP, log scale)",
        title="Weekly cost against need (analyst only: individual children)",
    )
    ax.legend(title="Placement type", fontsize=8)
    return ax


def plot_mix_by_need_band(mix: MixByNeedBand | SpendResult, *, fig: Figure | None = None) -> Figure:
    """Placement mix (children by type and need band) and median weekly cost by band.

    Left: a heatmap of children by placement type and need band with the
    suppressed counts (``c``) from :mod:`vc_eval.core.privacy` written in, hidden
    cells left blank. Right: median weekly cost by need band with the
    interquartile range; bands of fewer than 6 children are not drawn.
    Safe for reports.
    """
    if isinstance(mix, SpendResult):
        mix = mix.mix
    if fig is None:
        fig = plt.figure(figsize=(12, 5))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    shown = mix.report_tables()["mix_by_need_band"]
    shown = shown.drop(index=privacy.TOTAL, columns=privacy.TOTAL)
    values = shown.apply(
        lambda col: pd.to_numeric(col.astype(str).str.replace(",", ""), errors="coerce")
    )
    # hidden cells are drawn blank-coloured (as zero) but keep their "c" label
    sns.heatmap(
        values.astype(float).fillna(0.0),
        annot=shown.to_numpy(),
        fmt="",
        cmap="Blues",
        cbar_kws={"label": "Children"},
        ax=ax1,
    )
    ax1.set(xlabel="Band of total need", ylabel="", title="Placement mix by need band")
    cb = mix.cost_by_band
    ok = cb[cb["children"] >= privacy.MIN_N]
    x = np.arange(len(ok))
    ax2.bar(x, ok["median_weekly_cost"], color="#4c72b0")
    ax2.errorbar(
        x,
        ok["median_weekly_cost"],
        yerr=[
            ok["median_weekly_cost"] - ok["lower_quartile"],
            ok["upper_quartile"] - ok["median_weekly_cost"],
        ],
        fmt="none",
        ecolor="black",
        capsize=4,
    )
    ax2.set_xticks(x, ok["band_label"], rotation=20)
    ax2.set(
        ylabel="Weekly cost (GBP): median and quartiles",
        title="Weekly cost by need band",
    )
    fig.tight_layout()
    return fig


def plot_scenario(scenario: NeedsMatchedScenario | SpendResult, *, ax: Axes | None = None) -> Axes:
    """Current weekly cost by placement type, and the cost of the expected mix.

    Bars are totals over placement types holding at least 6 children:
    current cost, and the cost of the number of children expected in the
    type from the mix similar-need children receive in the comparison
    population. The title gives the net saving and its interval (and says
    when the interval includes zero). Safe for reports.
    """
    if isinstance(scenario, SpendResult):
        scenario = scenario.scenario
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    t = scenario.by_type() if scenario is not None else pd.DataFrame()
    if t.empty:
        ax.text(0.5, 0.5, "Too few children to show", ha="center", va="center")
        ax.set_axis_off()
        return ax
    long = t.melt(
        id_vars="label",
        value_vars=["current_weekly_cost", "scenario_weekly_cost"],
        var_name="which",
        value_name="weekly",
    )
    long["which"] = long["which"].map(
        {"current_weekly_cost": "Current", "scenario_weekly_cost": "Needs-matched"}
    )
    sns.barplot(data=long, y="label", x="weekly", hue="which", ax=ax, orient="h")
    lo, hi = scenario.annual_ci
    if scenario.in_sample:
        title = "Needs-matched scenario: not estimated (no comparison population)"
    else:
        title = (
            f"Needs-matched scenario: net saving {display.money(scenario.annual_saving)} a year "
            f"({scenario.level:.0%} interval {display.interval(lo, hi, unit='£', decimals=0)}"
            + ("; includes zero)" if scenario.interval_includes_zero else ")")
        )
    ax.set(xlabel="Total weekly cost (GBP)", ylabel="Placement type", title=title)
    ax.legend(title="")
    return ax


def cost_need_figure(result: SpendResult):
    """Cost against need as a report figure (aggregated bins only), or None with nothing to draw.

    The alt text states the figure's finding: the result's own cost-need sentence.
    """
    from vc_eval.core.summary import FigureOut
    from vc_eval.plots.report import new_figure

    if result.bins.empty and result.lines.empty:
        return None
    fig, ax = new_figure(figsize=(9, 4.2))
    plot_cost_vs_need(result, ax=ax)
    said = ""
    sm = result.summary()
    for f in sm.findings:
        if f.key.startswith("cost_need"):
            said = f" {f.text}"
            break
    from vc_eval.core.summary import Count

    # A tile's shade is its number of children. A child assessed more than once can be
    # in several tiles, so the tiles are not disjoint groups of any universe the page
    # counts: each is declared in the figure's own universe (nothing can be subtracted
    # from it). Marks: the tiles, and each fitted line's placement type.
    tiles = tuple(
        Count(
            int(r.children),
            COST_NEED_TILES,
            (
                (
                    "tile",
                    f"need {r.need_low:g}-{r.need_high:g}, cost {r.cost_low:g}-{r.cost_high:g}",
                ),
            ),
        )
        for r in result.bins.itertuples()
    )
    lines = result.lines
    line_marks = (
        tuple(int(n) for n in lines.drop_duplicates("label")["children"])
        if len(lines) and "children" in lines
        else ()
    )
    return FigureOut(
        fig,
        "Grey tiles show how many children fall in each band of total need and weekly cost "
        "(tiles with fewer than 6 children are not drawn); lines are fitted cost against need "
        f"within each placement type with at least 20 children.{said}",
        "Weekly cost against total need by placement type (aggregated; no single child shown).",
        counts=tiles,
        marks=tuple(c.value for c in tiles) + line_marks,
    )


#: The cost-need figure's tiles: children per (need x cost) tile, a child in as many
#: tiles as it has assessments in different tiles.
COST_NEED_TILES = "cost_need_figure_tiles"
