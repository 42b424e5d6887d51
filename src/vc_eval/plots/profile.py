"""Figures of the needs profile: prevalence heatmap, complexity, clusters, change.

Every figure is drawn from the disclosure-controlled tables of the result
(:mod:`vc_eval.core.privacy`): hidden counts are shown as ``c`` or left out,
never drawn.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes

from vc_eval.analysis.profile import (
    ASSESSED,
    CHANGE_CATEGORIES,
    COMPLEXITY_VARIABLE,
    REASSESSED,
    ChangeResult,
    ClusterResult,
    ComplexityResult,
    PrevalenceResult,
)
from vc_eval.core.privacy import MIN_N, SUPPRESSED
from vc_eval.core.summary import Count, FigureOut
from vc_eval.plots.report import new_figure

HIDDEN_COLOUR = "#d9d9d9"


def _ax(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_prevalence(
    result: PrevalenceResult, *, ax: Axes | None = None, cmap: str = "Blues"
) -> Axes:
    """Heatmap of the percentage of children in each band of each domain.

    Cells whose count is hidden (1-5, or to protect one) show ``c`` on grey.
    """
    st = result.safe_table()
    t = result.table.reset_index(drop=True)
    shown = st.table.reset_index(drop=True)
    hidden = st.mask["n"].reset_index(drop=True).to_numpy()
    t = t.assign(value=np.where(hidden, np.nan, t["percent"]), text=shown["percent"].astype(str))
    order = list(dict.fromkeys(t["domain_name"]))
    bands = sorted(t["band"].unique())
    values = t.pivot(index="domain_name", columns="band", values="value").loc[order, bands]
    text = t.pivot(index="domain_name", columns="band", values="text").loc[order, bands]
    text = text.map(lambda s: s if s == SUPPRESSED else f"{s}%")
    ax = _ax(ax, (7, 0.45 * len(order) + 1.5))
    ax.set_facecolor(HIDDEN_COLOUR)
    sns.heatmap(
        values.astype(float),
        annot=text.to_numpy(),
        fmt="",
        cmap=cmap,
        vmin=0,
        vmax=100,
        linewidths=0.5,
        linecolor="white",
        cbar_kws={"label": "% of children assessed"},
        ax=ax,
    )
    # seaborn leaves NaN (hidden) cells unannotated: mark them ourselves.
    for i, j in zip(*np.nonzero(values.isna().to_numpy()), strict=True):
        ax.text(j + 0.5, i + 0.5, SUPPRESSED, ha="center", va="center", color="0.25")
    fw = result.framework
    labels = {b.band: f"{b.band}\n{b.min:g}-{b.max:g}" for b in fw.bands} if fw else {}
    ax.set_xticklabels([labels.get(b, str(b)) for b in bands], rotation=0)
    ax.set(xlabel="Band of need (score range)", ylabel="", title="Prevalence of need by band")
    return ax


def plot_complexity(
    result: ComplexityResult,
    *,
    ax: Axes | None = None,
    percent: bool = True,
    top_code: int | None = None,
) -> Axes:
    """Bar chart of how many need domains children have in the top two bands.

    Bars whose count is hidden are not drawn; ``c`` marks their place.
    """
    st = result.safe_table(top_code=top_code)
    raw = st.raw["n"].to_numpy(dtype=float)
    hidden = st.mask["n"].to_numpy()
    levels = st.table["complexity"].astype(str).to_numpy()
    total = raw.sum()
    value = 100.0 * raw / total if (percent and total) else raw
    value = np.where(hidden, np.nan, value)
    ax = _ax(ax, (7, 4))
    x = np.arange(len(levels))
    ax.bar(x[~hidden], value[~hidden], color=sns.color_palette()[0])
    for xi in x[hidden]:
        ax.text(xi, 0, SUPPRESSED, ha="center", va="bottom", color="0.3")
    ax.set_xticks(x, levels)
    ax.set(
        xlabel=f"Need domains in the top {result.top_bands} bands",
        ylabel="% of children" if percent else "Children",
        title="Complexity of need",
    )
    return ax


def plot_cluster_profiles(
    result: ClusterResult, *, ax: Axes | None = None, show_overall: bool = True
) -> Axes:
    """Mean score per domain for each need cluster (clusters of < 6 children left out)."""
    prof = result.profiles.merge(result.sizes[["cluster", "n"]], on="cluster")
    prof = prof[prof["n"] >= MIN_N].copy()
    prof["profile"] = [
        f"{c}. {lab} (n={n:,})"
        for c, lab, n in prof[["cluster", "label", "n"]].itertuples(index=False)
    ]
    order = list(dict.fromkeys(result.profiles["domain_name"]))
    ax = _ax(ax, (9, 4.5))
    sns.pointplot(
        data=prof,
        x="domain_name",
        y="mean",
        hue="profile",
        order=order,
        markers="o",
        ax=ax,
    )
    if show_overall:
        overall = result.profiles.drop_duplicates("domain_name").set_index("domain_name")
        ax.plot(
            np.arange(len(order)),
            overall.loc[order, "overall"].to_numpy(),
            ls="--",
            color="0.4",
            label="All children",
        )
    ax.set_xticks(np.arange(len(order)), order, rotation=40, ha="right")
    ax.set(xlabel="", ylabel="Mean score (0-100)", title="Profiles of need")
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_reliable_change(result: ChangeResult, *, ax: Axes | None = None) -> Axes:
    """Share of children reliably improved, unchanged and deteriorated, per domain.

    Hidden counts are pooled into one grey ``c`` segment (their sum is known
    from the total anyway, their split is not shown); a pool of fewer than 6
    children is not drawn (no mark stands for fewer than 6), only marked ``c``.
    """
    st = result.safe_table()
    t = result.summary_table.reset_index(drop=True).copy()
    t["hidden"] = st.mask["n"].reset_index(drop=True).to_numpy()
    order = list(dict.fromkeys(t["domain_name"]))
    colours = dict(zip(CHANGE_CATEGORIES, ["#1b9e77", "#bdbdbd", "#d95f02"], strict=True))
    ax = _ax(ax, (8, 0.4 * len(order) + 1.5))
    for i, d in enumerate(order):
        sub = t[t["domain_name"] == d]
        n = sub["n"].sum()
        if n == 0:
            continue
        left = 0.0
        for r in sub.itertuples():
            if r.hidden:
                continue
            w = 100.0 * r.n / n
            ax.barh(
                i, w, left=left, color=colours[r.category], label=r.category if i == 0 else None
            )
            left += w
        hid = sub.loc[sub["hidden"], "n"].sum()
        if sub["hidden"].any():
            w = 100.0 * hid / n
            if hid >= MIN_N:
                ax.barh(i, w, left=left, color=HIDDEN_COLOUR, edgecolor="0.6")
            ax.text(left + w / 2, i, SUPPRESSED, ha="center", va="center", fontsize="small")
    ax.set_yticks(np.arange(len(order)), order)
    ax.invert_yaxis()
    ax.set(
        xlim=(0, 100), xlabel="% of children", title="Reliable change, first to latest assessment"
    )
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[c], label=c) for c in CHANGE_CATEGORIES]
    handles.append(Patch(facecolor=HIDDEN_COLOUR, edgecolor="0.6", label="hidden (c)"))
    ax.legend(
        handles=handles,
        fontsize="small",
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=4,
    )
    return ax


__all__ = [
    "plot_cluster_profiles",
    "plot_complexity",
    "plot_prevalence",
    "plot_reliable_change",
]


# --------------------------------------------------------------------------
# Figure-level: report figures with alt text stating the finding
# --------------------------------------------------------------------------


def prevalence_figure(result: PrevalenceResult) -> FigureOut:
    """The prevalence heatmap as a report figure; the alt text names the top domain."""
    n_dom = result.table["domain"].nunique()
    fig, ax = new_figure(figsize=(7.5, 0.42 * n_dom + 1.6), layout="constrained")
    plot_prevalence(result, ax=ax)
    hi = result.high_need()
    lead = (
        f" {hi['domain_name'].iloc[0]} has the largest share of children in the top two bands."
        if len(hi)
        else ""
    )
    # The cells' percentages of each domain's children give the counts away: the
    # table's shown cells and row totals, in the table's variables.
    cells, totals = result.cell_counts()
    return FigureOut(
        fig,
        "Heatmap of the percentage of children assessed in each band of need, one row per "
        f"domain ({n_dom} domains); hidden cells are grey and marked c.{lead}",
        "Prevalence of need by domain and band.",
        counts=cells + totals,
        marks=tuple(c.value for c in cells),
    )


def complexity_figure(result: ComplexityResult) -> FigureOut:
    """The complexity bar chart; the alt text gives the median number of domains."""
    fig, ax = new_figure(figsize=(6.5, 3.6), layout="constrained")
    plot_complexity(result, ax=ax, top_code=result.TOP_CODE)
    med = result.per_child["complexity"].median()
    # bar heights are percentages of the children assessed (a stated count): counts
    st = result.safe_table(top_code=result.TOP_CODE)
    drawn = [
        (str(level), int(n))
        for level, n, h in zip(
            st.table["complexity"], st.raw["n"].to_numpy(), st.mask["n"].to_numpy(), strict=True
        )
        if not h
    ]
    return FigureOut(
        fig,
        "Bar chart of the percentage of children with 0, 1, 2, ... domains of high need; bars "
        f"for hidden counts are not drawn. The median child has high need in {med:.0f} of "
        f"{result.n_domains} domains.",
        "Complexity of need.",
        counts=tuple(Count(n, ASSESSED, ((COMPLEXITY_VARIABLE, lev),)) for lev, n in drawn),
        marks=tuple(n for _, n in drawn),
    )


def reliable_change_figure(result: ChangeResult) -> FigureOut:
    """Reliable change by domain; the alt text states the direction of total need."""
    n_dom = result.summary_table["domain"].nunique()
    fig, ax = new_figure(figsize=(8, 0.4 * n_dom + 1.6), layout="constrained")
    plot_reliable_change(result, ax=ax)
    s = result.summary()
    said = ""
    if s.status == "ok":
        said = " " + s.finding("change.mean").text
    counts, marks = _change_counts(result)
    return FigureOut(
        fig,
        "Stacked horizontal bars per domain: percentage of children reliably improved, with "
        "no reliable change, and reliably deteriorated; hidden counts are pooled into a grey "
        f"segment marked c.{said}",
        "Reliable change by domain.",
        counts=counts,
        marks=marks,
    )


def _change_counts(result: ChangeResult) -> tuple[tuple[Count, ...], tuple[int, ...]]:
    """What the reliable-change bars show, in the table's variables: each drawn
    segment's count and each domain's total (the percentages of a total a
    sentence states give the counts away); marks: the segments, the pooled
    grey one included (drawn only for 6 or more children)."""
    st = result.safe_table()
    t = result.summary_table.reset_index(drop=True)
    hidden = st.mask["n"].reset_index(drop=True).to_numpy()
    counts, marks = [], []
    for name, g in t.groupby("domain_name", sort=False):
        n = int(g["n"].sum())
        if n == 0:
            continue
        counts.append(Count(n, REASSESSED, (("domain", str(name)),)))
        pooled = 0
        for i, r in g.iterrows():
            if hidden[i]:
                pooled += int(r["n"])
                continue
            counts.append(
                Count(int(r["n"]), REASSESSED, (("domain", str(name)), ("change", r["category"])))
            )
            marks.append(int(r["n"]))
        if hidden[g.index].any() and pooled >= MIN_N:  # smaller pools are not drawn
            marks.append(pooled)
    return tuple(counts), tuple(marks)


__all__ += ["complexity_figure", "prevalence_figure", "reliable_change_figure"]
