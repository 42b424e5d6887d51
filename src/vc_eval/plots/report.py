"""Figures of the impact-update report that no analysis module draws itself.

Every function takes aggregates that have already been made safe to show
(no mark for fewer than 6 children) and returns a matplotlib Figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize=(6, 3.5), layout=None, **kwargs):
    """A figure and its axes outside pyplot's global state.

    Report figures are never registered with pyplot, so a notebook's inline
    backend cannot display them a second time, and nothing leaks between
    sections.
    """
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def plot_domain_intervals(
    table: pd.DataFrame,
    estimate: str,
    lower: str,
    upper: str,
    *,
    names: list[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """One dot with its interval per domain row, first row at the top.

    ``table`` holds only rows fit to show (the caller leaves out domains with
    fewer than 6 pairs); ``names`` label the rows (default ``domain_name``).
    """
    t = table.iloc[::-1]
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 0.4 * max(len(t), 1) + 1.5))
    y = np.arange(len(t))
    ax.errorbar(
        t[estimate],
        y,
        xerr=[t[estimate] - t[lower], t[upper] - t[estimate]],
        fmt="o",
        capsize=3,
    )
    ax.set_yticks(y, list(t["domain_name"]) if names is None else names[::-1])
    return ax


def plot_in_care_by_month(series: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Children in care on the first of each month, one line per period.

    ``series`` has columns ``month`` (Timestamp), ``children`` (count, NaN
    where hidden) and ``period`` (label).
    """
    if ax is None:
        _, ax = new_figure(figsize=(6, 3.5))
    for label, g in series.groupby("period", sort=False):
        ax.plot(g["month"], g["children"], marker="o", ms=3, label=str(label))
    ax.set(xlabel="Month", ylabel="Children in care", title="Children in care by month")
    ax.set_ylim(bottom=0)
    ax.tick_params(axis="x", labelrotation=30)
    if series["period"].nunique() > 1:
        ax.legend(frameon=False, fontsize=8)
    return ax


def plot_placement_mix(mix: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Share of children by placement type (``label``, ``percent``, optional ``group``).

    Types whose count is hidden are left out by the caller.
    """
    if ax is None:
        _, ax = new_figure(figsize=(6, 3.5))
    hue = "group" if "group" in mix and mix["group"].nunique() > 1 else None
    sns.barplot(data=mix, y="label", x="percent", hue=hue, ax=ax, orient="h")
    ax.set(xlabel="% of children in care", ylabel="", title="Placement type")
    if hue:
        ax.legend(frameon=False, fontsize=8, title=None)
    return ax


def plot_curves_grid(
    curves: dict[str, pd.DataFrame],
    observed: dict[str, pd.DataFrame],
    *,
    peaks: dict[str, list[float]] | None = None,
    ncols: int = 4,
    ylabel: str = "Score (0-100)",
) -> Figure:
    """Small multiples: fitted mean curve with band, observed means, peak ages.

    Parameters
    ----------
    curves : dict of DataFrame
        Title -> ``age``, ``estimate``, ``lower``, ``upper``.
    observed : dict of DataFrame
        Title -> ``age``, ``mean`` (bins with at least 6 children only).
    peaks : dict of list, optional
        Title -> peak ages to mark with a vertical line.
    """
    n = max(len(curves), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = new_figure(
        nrows, ncols, figsize=(3.0 * ncols, 2.4 * nrows), sharex=True, squeeze=False
    )
    for ax, (title, c) in zip(axes.flat, curves.items(), strict=False):
        ax.fill_between(c["age"], c["lower"], c["upper"], alpha=0.25, lw=0)
        ax.plot(c["age"], c["estimate"], lw=1.5)
        obs = observed.get(title)
        if obs is not None and len(obs):
            ax.plot(obs["age"], obs["mean"], "o", ms=2.5, color="0.35")
        for a in (peaks or {}).get(title, []):
            ax.axvline(a, color="C3", lw=0.8, ls="--")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(curves) :]:
        ax.set_visible(False)
    for ax in axes[-1, :]:
        ax.set_xlabel("Age (years)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    fig.tight_layout()
    return fig


def plot_peak_intervals(peaks: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Peak ages with intervals (``label``, ``age``, ``lower``, ``upper``, optional ``group``)."""
    if ax is None:
        _, ax = new_figure(figsize=(6, 0.35 * max(len(peaks["label"].unique()), 3) + 1))
    labels = list(dict.fromkeys(peaks["label"]))
    ypos = {lab: i for i, lab in enumerate(labels)}
    groups = list(dict.fromkeys(peaks["group"])) if "group" in peaks else [None]
    for k, g in enumerate(groups):
        sub = peaks if g is None else peaks[peaks["group"] == g]
        off = (k - (len(groups) - 1) / 2) * 0.18
        y = sub["label"].map(ypos).to_numpy() + off
        ax.errorbar(
            sub["age"],
            y,
            xerr=[sub["age"] - sub["lower"], sub["upper"] - sub["age"]],
            fmt="o",
            ms=4,
            capsize=2,
            label=g,
        )
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="Peak age (years), 95% interval", title="Peak ages of need")
    if groups != [None]:
        ax.legend(frameon=False, fontsize=8)
    return ax
