"""Figures of need trajectories by age: fitted curves, small multiples, peaks.

Report-safe figures draw the fitted curve (a model summary) and observed
means by year of age only where at least 6 children were seen at that age.
:func:`plot_spaghetti` draws individual children and is for analysts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vc_eval.analysis.trajectories import DomainFits, GroupComparison, GrowthFit, PeakSummary
from vc_eval.analysis.trajectories.growth import MIN_GROUPS_PER_BIN, peak_text
from vc_eval.analysis.trajectories.peaks import MIN_PEAK_SHARE
from vc_eval.core.summary import FigureOut, agg_canvas
from vc_eval.plots.report import new_figure

BAND_ALPHA = 0.25


def _ax(ax: Axes | None, size: tuple[float, float] = (6.0, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_curve(
    fit: GrowthFit,
    *,
    ax: Axes | None = None,
    peaks: PeakSummary | None = None,
    observed: bool = True,
    min_groups: int = MIN_GROUPS_PER_BIN,
    at: Mapping[str, object] | None = None,
    color=None,
    label: str | None = None,
    title: str | None = None,
) -> Axes:
    """Fitted mean curve with its 95% band over the observed means by year of age.

    Parameters
    ----------
    fit : GrowthFit
    ax : Axes, optional
    peaks : PeakSummary, optional
        Marks each peak with its interval under the curve.
    observed : bool
        Draw observed means by year of age (bins with fewer than
        ``min_groups`` children are left out, so the figure is report-safe).
    at : mapping, optional
        Covariate values for the curve (see :meth:`GrowthFit.curve`).
    color, label, title
        Line colour, legend label and axes title.
    """
    ax = _ax(ax)
    color = color or sns.color_palette()[0]
    c = fit.curve(at=at)
    ax.fill_between(c["age"], c["lower"], c["upper"], color=color, alpha=BAND_ALPHA, lw=0)
    ax.plot(c["age"], c["estimate"], color=color, lw=2, label=label or "fitted mean (95% band)")
    if observed:
        ob = fit.observed_means(min_groups=min_groups)
        if len(ob):
            # plain matplotlib: seaborn's scatterplot costs ~0.1 s a panel for the same dots
            ax.scatter(
                ob["age"],
                ob["mean"],
                color="0.25",
                s=18,
                label="observed mean by year of age",
                zorder=3,
            )
    if peaks is not None:
        _mark_peaks(ax, peaks, color)
    ax.set_xlabel(f"{fit.time.replace('_', ' ')} (years)" if fit.time else "age")
    ax.set_ylabel(fit.outcome.replace("_", " "))
    ax.set_title(title if title is not None else fit.label)
    return ax


def _mark_peaks(ax: Axes, peaks: PeakSummary, color) -> None:
    lo, hi = ax.get_ylim()
    y = lo + 0.04 * (hi - lo)
    for r in peaks.peaks.itertuples():
        ax.axvline(r.age, color=color, lw=0.8, ls="--", alpha=0.8)
        if np.isfinite(r.lower):
            ax.errorbar(
                r.age,
                y,
                xerr=[[r.age - r.lower], [r.upper - r.age]],
                fmt="v",
                color=color,
                ms=5,
                capsize=3,
                alpha=min(1.0, 0.3 + r.share_with_peak),
            )
    ax.set_ylim(lo, hi)


def plot_domains(
    fits: DomainFits,
    *,
    names: Sequence[str] | None = None,
    col_wrap: int = 4,
    height: float = 2.6,
    sharey: bool = True,
    peaks: bool = True,
    min_groups: int = MIN_GROUPS_PER_BIN,
    **peak_options,
) -> Figure:
    """Small multiples: one panel per fitted domain, total need or area.

    ``peak_options`` go to :meth:`DomainFits.peak_summaries` (e.g. ``n``, ``seed``).
    """
    names = list(names or fits.fits)
    if not names:
        raise ValueError("no fits to plot")
    ncol = min(col_wrap, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(
        nrow,
        ncol,
        figsize=(height * 1.35 * ncol, height * nrow),
        sharex=True,
        sharey=sharey,
        squeeze=False,
    )
    summaries = fits.peak_summaries(**peak_options) if peaks else {}
    for ax, name in zip(axes.flat, names, strict=False):
        plot_curve(
            fits[name],
            ax=ax,
            peaks=summaries.get(name),
            min_groups=min_groups,
            title=fits.labels.get(name, name),
        )
        ax.title.set_fontsize(9)
        if ax.get_legend():
            ax.get_legend().remove()
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.supxlabel("age (years)")
    fig.supylabel("need score")
    fig.tight_layout()
    return fig


def plot_spaghetti(
    fit: GrowthFit,
    *,
    n: int = 30,
    seed: int = 0,
    ax: Axes | None = None,
    curve: bool = True,
) -> Axes:
    """Observed trajectories of a random sample of children, with the fitted mean.

    **For analysts only, never for reports**: each line is one child's
    scores, which could identify a child. Children are sampled with
    ``np.random.default_rng(seed)``.
    """
    ax = _ax(ax)
    groups = pd.unique(fit.data[fit.group])
    rng = np.random.default_rng(seed)
    pick = rng.choice(groups, size=min(n, groups.size), replace=False)
    d = fit.data[fit.data[fit.group].isin(pick)].sort_values([fit.group, fit.time])
    # Anonymous codes: the figure never carries real ids, even for analysts.
    d = d.assign(_child=pd.factorize(d[fit.group])[0])
    sns.lineplot(
        data=d,
        x=fit.time,
        y=fit.outcome,
        units="_child",
        estimator=None,
        ax=ax,
        lw=0.8,
        alpha=0.5,
        color="0.4",
        marker="o",
        markersize=3,
        legend=False,
    )
    if curve:
        c = fit.curve()
        ax.plot(c["age"], c["estimate"], color=sns.color_palette()[3], lw=2.5, label="fitted mean")
        ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{fit.label}: {pick.size} children (analyst view, not for reports)")
    return ax


def peak_frame(fits: DomainFits | pd.DataFrame, **peak_options) -> pd.DataFrame:
    """The peaks table to draw (a :class:`DomainFits` or its ``peaks_table()``)."""
    if isinstance(fits, DomainFits):
        return fits.peaks_table(**peak_options)
    return fits


def plot_peaks(
    fits: DomainFits | pd.DataFrame,
    *,
    ax: Axes | None = None,
    min_share: float = 0.0,
    **peak_options,
) -> Axes:
    """Peak ages with 95% intervals, one row per fit.

    Marker shading shows the share of plausible curves with the peak;
    peaks seen in fewer than ``min_share`` of them are left out.
    """
    t = peak_frame(fits, **peak_options)
    t = t[t["share_with_peak"] >= min_share]
    order = list(dict.fromkeys(t["label"])) if len(t) else []
    ax = _ax(ax, (6.5, 0.42 * max(len(order), 1) + 1.2))
    pos = {lab: i for i, lab in enumerate(order)}
    cmap = plt.get_cmap("Blues")
    for r in t.itertuples():
        y = pos[r.label]
        ax.errorbar(
            r.age,
            y,
            xerr=[[r.age - r.lower], [r.upper - r.age]],
            fmt="o",
            color=cmap(0.35 + 0.65 * r.share_with_peak),
            ms=6,
            capsize=3,
        )
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set_xlabel("peak age (years), 95% interval")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Peak ages of need (darker: peak present in more plausible curves)")
    return ax


def plot_group_curves(
    comparison: GroupComparison,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Fitted curve per group with bands, and the likelihood-ratio test in the title."""
    ax = _ax(ax)
    c = comparison.curves()
    palette = sns.color_palette(n_colors=len(comparison.levels))
    for colour, lev in zip(palette, comparison.levels, strict=True):
        d = c[c[comparison.by] == lev]
        ax.fill_between(d["age"], d["lower"], d["upper"], color=colour, alpha=BAND_ALPHA, lw=0)
        ax.plot(d["age"], d["estimate"], color=colour, lw=2, label=str(lev))
    ax.legend(title=comparison.by, fontsize=8)
    ax.set_xlabel("age (years)")
    ax.set_ylabel(comparison.full.outcome.replace("_", " "))
    ax.set_title(
        f"LR test of different curves: chi2 = {comparison.lr_stat:.1f}, "
        f"df = {comparison.df}, p = {comparison.p_value:.3g}",
        fontsize=9,
    )
    return ax


def plot_peak_summary(peaks: PeakSummary, *, ax: Axes | None = None) -> Axes:
    """Axes-level: the peak ages of one curve with their intervals (one row per peak)."""
    t = peaks.to_frame().assign(label=peaks.label or "curve")
    return plot_peaks(t, ax=ax)


def plot_domain_fit(fits: DomainFits, *, ax: Axes | None = None, name: str | None = None) -> Axes:
    """Axes-level: one fit of a :class:`DomainFits` (total need if fitted, else the first)."""
    if name is None:
        name = "total_need" if "total_need" in fits.fits else next(iter(fits.fits))
    return plot_curve(fits[name], ax=ax, title=fits.labels.get(name, name))


#: Margins of :func:`domains_figure`'s grid, in inches: room for the tick labels and the
#: shared axis labels whatever the number of panels.
_GRID_MARGINS = {"left": 0.84, "right": 0.24, "bottom": 0.67, "top": 0.48}


def domains_figure(
    fits: DomainFits,
    *,
    n: int | None = None,
    seed: int = 0,
    min_share: float = MIN_PEAK_SHARE,
    col_wrap: int = 4,
) -> FigureOut:
    """Figure-level, for reports: one panel per fit, peaks named as in ``fits.summary()``.

    Observed means are drawn only for years of age with at least 6 children;
    peaks seen in fewer than ``min_share`` of plausible curves are not marked.
    The alt text states the peak ages of total need.
    """
    names = list(fits.fits)
    if not names:
        raise ValueError("no fits to plot")
    summaries = fits.peak_summaries(n=n, seed=seed)
    ncol = min(col_wrap, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = new_figure(nrow, ncol, figsize=(3.0 * ncol, 2.4 * nrow), sharex=True, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        ps = summaries[name]
        kept = replace(ps, peaks=ps.peaks[ps.peaks["share_with_peak"] >= min_share])
        plot_curve(fits[name], ax=ax, peaks=kept, title=fits.labels.get(name, name))
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=8)
        if ax.get_legend():
            ax.get_legend().remove()
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    shared = [fig.supxlabel("Age (years)", fontsize=9), fig.supylabel("Score (0-100)", fontsize=9)]
    # fixed spacing for the shared-axis grid (tight or constrained layout draws the 16
    # panels once more, ~1-2 s), with margins that hold the labels: the PNG needs no crop
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=_GRID_MARGINS["left"] / width,
        right=1 - _GRID_MARGINS["right"] / width,
        bottom=_GRID_MARGINS["bottom"] / height,
        top=1 - _GRID_MARGINS["top"] / height,
        wspace=0.12,
        hspace=0.35,
    )
    said = ""
    if "total_need" in summaries:
        text, _ = peak_text(summaries["total_need"].peaks, min_share=min_share)
        said = f" Total need {text}."
    # each observed dot stands for the children seen at that year of age (6 or more)
    marks = tuple(
        int(k) for name in names for k in fits[name].observed_means()["n_groups"].to_numpy()
    )
    return FigureOut(
        fig,
        f"Small multiples, one per fitted need measure ({len(names)}): the fitted average need "
        "score by age with its 95% band, dots for the observed average at each year of age "
        f"with at least 6 children, and dashed lines at peak ages.{said}",
        "Fitted need by age (line, 95% band) and observed means (dots).",
        marks=marks,
        fits=_inside_canvas(fig, [ax.title for ax in fig.axes if ax.get_visible()] + shared),
    )


def _inside_canvas(fig, texts) -> bool:
    """Whether every one of ``texts`` (panel titles, shared labels) lies inside the canvas.

    The grid's margins hold the tick labels of any grid; a panel title can be
    wider than its panel (or the figure) and run past the canvas, and then the
    PNG is cropped to fit instead. Measured from the text alone (no drawing).
    """
    with agg_canvas(fig) as canvas:
        renderer, box = canvas.get_renderer(), fig.bbox
        for t in texts:
            e = t.get_window_extent(renderer)
            if e.x0 < box.x0 or e.y0 < box.y0 or e.x1 > box.x1 or e.y1 > box.y1:
                return False
        return True
