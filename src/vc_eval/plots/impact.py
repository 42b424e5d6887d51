"""Figures of programme impact: series with counterfactual, event study, mix, savings.

Every mark is an aggregate: a council-period value is drawn only when it
describes at least 6 children (:data:`vc_eval.core.privacy.MIN_N`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from vc_eval.core.privacy import MIN_N

_GBP = FuncFormatter(lambda v, _: f"£{v / 1e6:,.1f}m" if abs(v) >= 1e6 else f"£{v:,.0f}")


def _label(outcome: str) -> str:
    from vc_eval.analysis.impact.text import label

    return label(outcome).capitalize()


def _format_y(ax: Axes, outcome: str) -> None:
    if outcome.startswith("share_"):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif "spend" in outcome or "cost" in outcome:
        ax.yaxis.set_major_formatter(_GBP)


def _limit_y(ax: Axes, outcome: str, *values, share_range=(0.0, 1.0)) -> None:
    """Y limits from the data and fitted lines, not from a wide band (shares within 0-100%)."""
    v = np.concatenate([np.asarray(x, dtype=float) for x in values])
    v = v[np.isfinite(v)]
    if not v.size:
        return
    lo, hi = float(v.min()), float(v.max())
    pad = 0.15 * (hi - lo) or 0.05 * (abs(hi) or 1.0)
    lo, hi = lo - pad, hi + pad
    if outcome.startswith("share_"):
        lo, hi = max(lo, share_range[0]), min(hi, share_range[1])
    ax.set_ylim(lo, hi)


def plot_its(result, *, ax: Axes | None = None) -> Axes:
    """Observed series, fitted lines and the counterfactual with its interval.

    Periods whose value describes fewer than 6 children are not drawn.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    d = result.data
    n = d["children"].to_numpy(dtype=float)
    show = np.isnan(n) | (n >= MIN_N)
    ax.scatter(d["period"][show], d["y"][show], s=14, color="0.35", label="observed", zorder=3)
    pre, post = d[~d["post"]], d[d["post"]]
    ax.plot(pre["period"], pre["fitted"], color="C0", lw=2, label="trend before")
    ax.plot(post["period"], post["fitted"], color="C1", lw=2, label="trend after")
    ax.plot(
        post["period"],
        post["counterfactual"],
        color="C0",
        lw=1.5,
        ls="--",
        label="counterfactual (trend before, carried on)",
    )
    band = post[["cf_lower", "cf_upper"]].to_numpy(dtype=float)
    if np.isfinite(band).all() and len(band):
        ax.fill_between(post["period"], band[:, 0], band[:, 1], color="C0", alpha=0.15, lw=0)
    _limit_y(ax, result.outcome, d.loc[show, "y"], d["fitted"], d["counterfactual"])
    ax.axvline(result.start, color="k", lw=1, ls=":")
    ax.annotate(
        "programme start",
        (result.start, 1),
        xycoords=("data", "axes fraction"),
        xytext=(3, -12),
        textcoords="offset points",
        fontsize=8,
    )
    _format_y(ax, result.outcome)
    ax.set(
        xlabel="",
        ylabel=_label(result.outcome),
        title=f"{result.council}: {_label(result.outcome)}",
    )
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_event_study(result, *, ax: Axes | None = None) -> Axes:
    """Event-time coefficients with intervals; the period before adoption is 0."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    c = result.coefficients
    est = c[c["se"] > 0]
    # Event times with too few councils observed have no interval: no bar, only the point.
    with_iv = np.isfinite(est["lower"].to_numpy(dtype=float))
    has = bool(with_iv.any())
    ax.plot(est["months"], est["estimate"], "o", ms=4, color="C0")
    if has:
        e = est[with_iv]
        ax.errorbar(
            e["months"],
            e["estimate"],
            yerr=[e["estimate"] - e["lower"], e["upper"] - e["estimate"]],
            fmt="none",
            ecolor="C0",
            elinewidth=1,
            capsize=0,
        )
    ref = c[c["se"] == 0]
    ax.plot(
        ref["months"],
        ref["estimate"],
        "o",
        mfc="white",
        color="C0",
        ms=5,
        label="reference (period before adoption)",
    )
    ax.axhline(0, color="0.4", lw=1)
    ax.axvline(-0.5 * (c["months"].diff().median() or 1), color="k", lw=1, ls=":")
    _format_y(ax, result.outcome)
    p = result.pretrend.get("p", np.nan)
    ptxt = f"; pre-trend p = {p:.2f}" if np.isfinite(p) else ""
    level = int(round(100 * (1 - result.alpha)))
    per = " per child at baseline" if result.scale_by else ""
    ax.set(
        xlabel="Months since adoption",
        ylabel=f"Effect on {_label(result.outcome)}{per}",
        title=f"Event study: {_label(result.outcome)}",
    )
    ax.text(
        0.01,
        0.98,
        f"{result.n_treated} adopting vs {result.n_controls} comparison "
        f"councils; "
        + (
            f"{level}% intervals"
            + ("" if with_iv.all() else " (none where too few councils observed)")
            + ptxt
            if has
            else "no intervals: too few councils"
        ),
        transform=ax.transAxes,
        fontsize=8,
        va="top",
    )
    ax.legend(fontsize=8, loc="lower left")
    return ax


def plot_council_did(result, *, ax: Axes | None = None) -> Axes:
    """The council's difference from the comparison councils' mean, by month from the start.

    Points are council-level means (each council's value describes at least
    6 children or is not drawn by the series); the dashed line is the mean
    difference before the start, and the effects at each horizon are marked
    with their interval when the design can deliver one.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    d = result.data
    months = d["event_time"].to_numpy() * (3 if result.freq == "QS" else 1)
    ax.plot(months, d["difference"], "o-", ms=3, lw=1, color="0.35", label="difference")
    base = float(d.loc[d["event_time"] < 0, "difference"].mean())
    ax.axhline(base, color="C0", ls="--", lw=1.2, label="mean difference before the start")
    e = result.effects[result.effects["kind"] == "point"]
    for _, r in e.iterrows():
        y = base + r["estimate"]
        if np.isfinite(r["lower"]):
            ax.errorbar(
                [r["horizon"]],
                [y],
                yerr=[[r["estimate"] - r["lower"]], [r["upper"] - r["estimate"]]],
                fmt="s",
                color="C3",
                capsize=3,
            )
        else:
            ax.plot([r["horizon"]], [y], "s", color="C3")
    ax.axvline(-0.5, color="k", lw=1, ls=":")
    _limit_y(ax, result.outcome, d["difference"], share_range=(-1.0, 1.0))
    _format_y(ax, result.outcome)
    lvl = result.effects["level"].dropna()
    note = (
        f"{int(100 * lvl.iloc[0])}% intervals from {result.n_placebo} placebo councils"
        if len(lvl)
        else "no interval: too few comparison councils"
    )
    ax.set(
        xlabel="Months since the start",
        ylabel=f"Difference: {_label(result.outcome).lower()}",
        title=f"{result.council} against {len(result.comparisons)} comparison councils",
    )
    ax.text(0.01, 0.98, note, transform=ax.transAxes, fontsize=8, va="top")
    ax.legend(fontsize=8, loc="lower left")
    return ax


def plot_placement_mix(mix, *, ax: Axes | None = None) -> Axes:
    """Share of children by placement type before and after the start (aggregates)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    t = mix.table
    order = t[t["period"] == "before"].sort_values("share", ascending=False)["label"].tolist() + [
        lab
        for lab in t["label"].unique()
        if lab not in set(t.loc[t["period"] == "before", "label"])
    ]
    sns.barplot(
        data=t,
        y="label",
        x="share",
        hue="period",
        order=order,
        hue_order=[h for h in ("before", "after") if h in set(t["period"])],
        ax=ax,
    )
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set(
        xlabel="Share of children placed",
        ylabel="",
        title=f"Placement mix before and after: {mix.scope}",
    )
    ax.legend(title="", fontsize=8)
    return ax


def plot_savings(result, *, horizon: int = 12, ax: Axes | None = None) -> Axes:
    """Yearly effect on spend at ``horizon`` months, total and its parts, with intervals."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    t = result.table
    a = t[(t["horizon"] == horizon) & (t["measure"] == "annual")].reset_index(drop=True)
    y = np.arange(len(a))[::-1]
    ax.barh(
        y, a["estimate"], color=["C3" if c == "total" else "C0" for c in a["component"]], alpha=0.8
    )
    if np.isfinite(a["lower"].to_numpy(dtype=float)).all():
        ax.errorbar(
            a["estimate"],
            y,
            xerr=[a["estimate"] - a["lower"], a["upper"] - a["estimate"]],
            fmt="none",
            ecolor="k",
            elinewidth=1,
        )
    ax.set_yticks(y, a["component"])
    ax.axvline(0, color="0.4", lw=1)
    ax.xaxis.set_major_formatter(_GBP)
    ax.set(
        xlabel="Difference in spend a year (negative = saving)",
        title=f"Spend at {horizon} months: {result.scope}",
    )
    return ax


def plot_impact(
    result,
    *,
    ax: Axes | None = None,
    design: str = "comparison councils",
    outcome: str = "share_in_house_foster",
) -> Axes:
    """One design's figure from an :class:`ImpactResult` (``result.results[(design, outcome)]``)."""
    r = result.results.get((design, outcome))
    if r is None:
        raise KeyError(f"no {design} result for {outcome}")
    return r.plot(ax=ax)


def impact_figures(result) -> list:
    """Report figures of an :class:`ImpactResult`: one per design for the in-house share and
    the mean weekly cost, each with alt text stating that design's finding."""
    from vc_eval.core.summary import FigureOut
    from vc_eval.plots.report import new_figure

    out = []
    for (design, outcome), r in result.results.items():
        if outcome not in ("share_in_house_foster", "mean_weekly_cost") or not len(r.effects):
            continue
        fig, ax = new_figure(figsize=(8, 3.8))
        r.plot(ax=ax)
        said = " ".join(f.text for f in r.summary().findings[:1])
        out.append(
            FigureOut(
                fig,
                f"{design.capitalize()}: {_label(outcome)} by month, observed values (months with "
                f"at least 6 children) and the estimated counterfactual. {said}".strip(),
                f"{design.capitalize()}: {_label(outcome)}.",
                marks=_marks(r),
            )
        )
    return out


def _marks(r) -> tuple[int, ...]:
    """Children behind each observed point drawn (months whose count is known).

    The points are shares and mean costs of the council's children in a month,
    whose numbers the page does not state: no count is declared. Points whose
    number of children the series does not carry are not listed.
    """
    d = getattr(r, "data", None)
    if d is None or "children" not in d:
        return ()
    n = d["children"].to_numpy(dtype=float)
    return tuple(int(x) for x in n[np.isfinite(n) & (n >= MIN_N)])


def plot_power(result, *, ax: Axes | None = None, outcome: str | None = None) -> Axes:
    """Smallest detectable effect by months after the start, one line per design."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    t = result.table
    outcome = outcome or (t["outcome"].iloc[0] if len(t) else "")
    t = t[(t["outcome"] == outcome) & np.isfinite(t["mde"].to_numpy(dtype=float))]
    for design, g in t.groupby("design", sort=True):
        ax.plot(g["horizon"], g["mde"], "o-", label=str(design))
    _format_y(ax, outcome)
    ax.set_ylim(bottom=0)
    ax.set(
        xlabel="Months after the start",
        ylabel="Smallest detectable effect",
        title=f"{result.council}: what the data could detect ({_label(outcome).lower()})",
    )
    if len(t):
        ax.legend(fontsize=8)
    return ax


def plot_sensitivity(result, *, ax: Axes | None = None, check: str | None = None) -> Axes:
    """Re-estimates of one check (rows) with their intervals, where the design gives one."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    check = check or next(iter(result.tables), "")
    t = result.tables.get(check)
    if t is None:
        raise KeyError(f"no check {check!r}")
    t = t[np.isfinite(t["estimate"].to_numpy(dtype=float))].reset_index(drop=True)
    y = np.arange(len(t))[::-1]
    ax.plot(t["estimate"], y, "o", color="C0")
    has = np.isfinite(t["lower"].to_numpy(dtype=float))
    if has.any():
        ax.errorbar(
            t["estimate"][has],
            y[has],
            xerr=[(t["estimate"] - t["lower"])[has], (t["upper"] - t["estimate"])[has]],
            fmt="none",
            ecolor="C0",
        )
    ax.axvline(0, color="0.4", lw=1)
    ax.set_yticks(y, t["setting"])
    if result.outcome.startswith("share_"):
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif "spend" in result.outcome or "cost" in result.outcome:
        ax.xaxis.set_major_formatter(_GBP)
    ax.set(xlabel=f"Effect on {_label(result.outcome).lower()}", title=check.capitalize())
    return ax
