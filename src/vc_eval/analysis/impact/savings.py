"""Savings attribution and placement mix before and after the programme.

The effect on weekly spend is split into three parts, each estimated with
the same design as the total, so the parts add up to it exactly (both
designs are linear in the outcome). With ``n_k`` children and weekly spend
``spend_k`` in placement type ``k``, ``N`` children placed, and fixed *base
prices* ``p_k`` with base mean cost ``c = sum_k s_k p_k`` (``s_k`` the mix
in the same months)::

    spend  = N c                          number of children, at base mean cost
           + (sum_k n_k p_k - N c)        placement mix, valued at base prices
           + (spend - sum_k n_k p_k)      prices

The base prices are the prices paid *after* the start: the mean weekly cost
of each placement type in the adopting council's months since its start
(before/after design) or in all adopting councils' months since their
starts (comparison design). So:

* **placement mix** = observed mix at observed prices minus the
  counterfactual mix at observed prices (what the change in mix is worth at
  today's prices);
* **prices** = the counterfactual mix at observed prices minus the
  counterfactual mix at counterfactual prices (what the same placements
  would have cost at the prices that would have been paid);
* **number of children** = the change in children placed, at the mean cost.

(Exactly so when prices are steady over the months used; otherwise the
mix part is valued at the average post-start price.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vc_eval.analysis.impact.did import MIN_ARM, event_study
from vc_eval.analysis.impact.its import its
from vc_eval.analysis.impact.series import (
    COHORT,
    EVENT_TIME,
    FREQS,
    PERIOD,
    PLACED,
    WEEKLY_SPEND,
    WEEKS_PER_YEAR,
    n_col,
    spend_col,
)
from vc_eval.analysis.impact.text import SAVINGS_CANNOT, fmt_gbp
from vc_eval.core.costs import DEFAULT_UNIT_COSTS
from vc_eval.core.display import interval
from vc_eval.core.privacy import MIN_N
from vc_eval.core.schema import PLACEMENT_LABELS, PLACEMENT_TYPES, Col
from vc_eval.core.summary import Finding, Result, Summary

SPEND_VOLUME = "spend_volume"
SPEND_MIX = "spend_mix"
SPEND_PRICE = "spend_price"
COMPONENTS: dict[str, str] = {
    WEEKLY_SPEND: "total",
    SPEND_VOLUME: "number of children",
    SPEND_MIX: "placement mix",
    SPEND_PRICE: "prices",
}


def base_prices(series: pd.DataFrame, mask: pd.Series | np.ndarray) -> pd.DataFrame:
    """Mean weekly cost and share of each placement type over the rows in ``mask``.

    A type never seen in the base rows is priced from all rows of the
    series, and failing that from the default unit costs
    (:data:`vc_eval.core.costs.DEFAULT_UNIT_COSTS`), so that a type that appears
    only after the start is still valued in the mix part.
    Columns: placement_type, price, share, source.
    """
    base = series[np.asarray(mask, dtype=bool)]
    rows = []
    total = base[[n_col(t) for t in PLACEMENT_TYPES]].to_numpy().sum()
    for t in PLACEMENT_TYPES:
        n, s = base[n_col(t)].sum(), base[spend_col(t)].sum()
        src = "base period"
        if n == 0:
            n, s = series[n_col(t)].sum(), series[spend_col(t)].sum()
            src = "whole series"
        price = s / n if n > 0 else DEFAULT_UNIT_COSTS[t].median
        if n == 0:
            src = "default unit cost"
        rows.append(
            {
                "placement_type": t,
                "price": float(price),
                "share": float(base[n_col(t)].sum() / total) if total else np.nan,
                "source": src,
            }
        )
    return pd.DataFrame(rows)


def spend_components(series: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Add spend_volume, spend_mix and spend_price columns (they sum to weekly_spend)."""
    p = prices.set_index("placement_type")
    out = series.copy()
    at_base = sum(out[n_col(t)] * p.loc[t, "price"] for t in PLACEMENT_TYPES)
    base_cost = float(np.nansum(p["share"] * p["price"]))
    out[SPEND_VOLUME] = out[PLACED] * base_cost
    out[SPEND_MIX] = at_base - out[SPEND_VOLUME]
    out[SPEND_PRICE] = out[WEEKLY_SPEND] - at_base
    return out


@dataclass
class SavingsResult(Result):
    """The programme's estimated effect on spend, in GBP, split into parts.

    Attributes
    ----------
    table : DataFrame
        component (total, number of children, placement mix, prices),
        horizon (months), measure ("weekly": difference in weekly spend at
        the horizon; "annual": that times 52.18, the yearly rate; "cumulative":
        summed over the first ``horizon`` months), estimate, lower, upper (GBP;
        negative = less spent than the counterfactual, i.e. a saving),
        councils (adopting councils behind the row).
    prices : DataFrame
        The base prices and mix used to value the mix part.
    """

    design: str
    scope: str
    table: pd.DataFrame
    prices: pd.DataFrame
    alpha: float
    results: dict = field(default_factory=dict, repr=False)
    statements: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    _plot = "impact:plot_savings"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> Summary:
        """The statements as findings (the total's with its judgement word), and caveats."""
        from vc_eval.analysis.impact.words import judge

        findings = []
        for i, text in enumerate(self.statements):
            findings.append(Finding(f"savings.{i}", text))
        t = self.table
        for _, r in t[(t["component"] == "total") & (t["measure"] == "annual")].iterrows():
            findings.append(
                Finding(
                    f"savings.total.{int(r['horizon'])}m",
                    f"Total spend at {int(r['horizon'])} months: "
                    f"{judge(r['estimate'], r['lower'], r['upper'])}.",
                    word=judge(r["estimate"], r["lower"], r["upper"]),
                )
            )
        return Summary(f"Spend: {self.design}, {self.scope}", findings, caveats=self.caveats)


def savings(
    series: pd.DataFrame,
    *,
    council: str | None = None,
    horizons: tuple[int, ...] = (12, 24),
    alpha: float = 0.05,
    **kwargs,
) -> SavingsResult:
    """Programme effect on spend in GBP a year, split into number, mix and prices.

    Parameters
    ----------
    series : DataFrame
        From :func:`vc_eval.analysis.impact.council_series`.
    council : str, optional
        Before/after (interrupted time series) for this council. Without
        it, the comparison-council design over all adopting councils, on
        spend per child placed at baseline, turned back into GBP for the
        average adopting council (the ``councils`` column says how many
        adopting councils are behind each row; the statements also give the
        total over them).
    horizons : tuple of int
        Months after the start.
    **kwargs
        Passed to :func:`its` or :func:`vc_eval.analysis.impact.event_study`.
    """
    freq = series.attrs.get("freq", "MS")
    step = FREQS[freq]
    weeks_per_period = WEEKS_PER_YEAR / 12 * step
    rows, results = [], {}
    if council is not None:
        d = series[series[Col.council] == council]
        if d.empty:
            raise ValueError(f"council {council!r} is not in the series")
        prices = base_prices(d, d[EVENT_TIME] >= 0)
        # All councils keep their rows: never-adopters calibrate the intervals.
        comp = spend_components(series, prices)
        comp.attrs = dict(series.attrs)
        for col, name in COMPONENTS.items():
            r = its(comp, council, col, horizons=horizons, alpha=alpha, **kwargs)
            results[name] = r
            for _, e in r.effects.iterrows():
                rows += _rows(name, e, e["critical"], step, weeks_per_period, scale=1.0, councils=1)
        scope = council
        design = "before/after (interrupted time series)"
    else:
        if series[COHORT].isna().all():
            raise ValueError("no council in the series adopted the programme")
        prices = base_prices(series, series[EVENT_TIME] >= 0)
        comp = spend_components(series, prices)
        comp.attrs = dict(series.attrs)
        for col, name in COMPONENTS.items():
            r = event_study(comp, col, horizons=horizons, alpha=alpha, scale_by=PLACED, **kwargs)
            results[name] = r
            for _, e in r.effects.iterrows():
                hp = int(round(e["horizon"] / step))
                span = range(hp) if e["kind"] == "average" else [hp]
                sc = np.mean([r.scale.get(k, np.nan) for k in span])
                qq = (e["upper"] - e["estimate"]) / e["se"] if e["se"] > 0 else 0.0
                rows += _rows(
                    name, e, qq, step, weeks_per_period, scale=sc, councils=int(e["n_treated"])
                )
        scope = "average adopting council"
        design = "comparison councils (stacked event study)"
    table = pd.DataFrame(rows)
    res = SavingsResult(
        design=design, scope=scope, table=table, prices=prices, alpha=alpha, results=results
    )
    res.statements, res.caveats = _savings_text(res, results)
    return res


def _rows(name, e, qq, step, weeks_per_period, *, scale, councils):
    """Weekly, annual and cumulative rows from one effect row."""
    est, se = e["estimate"] * scale, e["se"] * scale
    h = int(e["horizon"])
    lvl = float(e["level"]) if "level" in e else (0.95 if np.isfinite(e["lower"]) else np.nan)
    out = []
    if e["kind"] == "point":
        for measure, f in (("weekly", 1.0), ("annual", WEEKS_PER_YEAR)):
            out.append(
                {
                    "component": name,
                    "horizon": h,
                    "measure": measure,
                    "estimate": est * f,
                    "lower": (est - qq * se) * f,
                    "upper": (est + qq * se) * f,
                    "level": lvl,
                    "councils": councils,
                }
            )
    else:
        f = weeks_per_period * h / step  # mean weekly effect x weeks in the first h months
        out.append(
            {
                "component": name,
                "horizon": h,
                "measure": "cumulative",
                "estimate": est * f,
                "lower": (est - qq * se) * f,
                "upper": (est + qq * se) * f,
                "level": lvl,
                "councils": councils,
            }
        )
    return out


def _iv(r, design: str = "before") -> str:
    """ "93% interval a to b", or why there is none."""
    from vc_eval.analysis.impact.inference import level_text

    if not (np.isfinite(r["lower"]) and np.isfinite(r["upper"])):
        if design.startswith("before"):
            return "no interval: too few comparison councils to tell this from chance"
        # The pooled design withholds intervals below MIN_ARM councils a side at
        # this horizon (the caveats say which side).
        return (
            f"no interval: fewer than {MIN_ARM} adopting or comparison councils observed this long"
        )
    return f"{level_text(r['level'])} interval {interval(r['lower'], r['upper'], unit='£')}"


def _savings_text(res: SavingsResult, results: dict) -> tuple[list[str], list[str]]:
    from vc_eval.analysis.impact.words import FELL, ROSE, judge

    t = res.table
    out = [f"Spend, {res.design}, {res.scope}."]
    for h in sorted(t["horizon"].unique()):
        a = t[(t["horizon"] == h) & (t["measure"] == "annual")].set_index("component")
        if "total" not in a.index:
            continue
        tot = a.loc["total"]
        j = judge(tot["estimate"], tot["lower"], tot["upper"])
        word = "lower" if tot["estimate"] < 0 else "higher"
        verdict = {FELL: " a saving", ROSE: " a rise"}.get(j, "")
        clear = f": {verdict.strip()} larger than chance alone would give" if verdict else ""
        out.append(
            f"At {h} months, spend was running {fmt_gbp(abs(tot['estimate']))} a year {word} than "
            f"expected without the programme ({_iv(tot, res.design)}; negative = saving){clear}."
        )
        if tot["councils"] > 1:
            out.append(
                f"That is per adopting council; over the {int(tot['councils'])} adopting councils "
                f"observed {h} months after their start, about "
                f"{fmt_gbp(abs(tot['estimate']) * tot['councils'])} a year in total."
            )
        parts = [
            f"{c} {fmt_gbp(a.loc[c, 'estimate'])}"
            for c in COMPONENTS.values()
            if c != "total" and c in a.index
        ]
        out.append(f"Of this: {', '.join(parts)} a year.")
        c = t[(t["horizon"] == h) & (t["measure"] == "cumulative") & (t["component"] == "total")]
        if len(c):
            r = c.iloc[0]
            out.append(
                f"Summed over the first {h} months: {fmt_gbp(r['estimate'])} "
                f"({_iv(r, res.design)})."
            )
    where = (
        "in the council's months since its start"
        if res.design.startswith("before")
        else "in adopting councils' months since their starts"
    )
    out.append(
        "Placement mix is the difference between the observed and the expected placement mix, "
        f"both valued at the prices paid after the start (mean weekly cost of each type {where}); "
        "prices are the rest: the expected placements at the prices actually paid minus at the "
        "prices expected; number of children is the change in children placed at the mean cost."
    )
    cav = list(SAVINGS_CANNOT)
    main = results.get("total")
    if main is not None:
        cav += [c for c in main.caveats if c not in cav]
    if not res.design.startswith("before"):
        cav.append(
            "The comparison design estimates spend per child placed before adoption and "
            "scales it by the mean number of children placed in adopting councils; it is "
            "an average over adopting councils, not any one council's saving."
        )
    return out, cav


# --------------------------------------------------------------------------
# Placement mix before and after
# --------------------------------------------------------------------------


@dataclass
class MixResult(Result):
    """Placement mix before and after the programme start (aggregates only).

    ``table`` columns: period ("before"/"after"), placement_type, label,
    children (mean number on the first day of each month, rounded), share.
    Types with fewer than 6 children in a period are combined into
    "Other types (combined)", with further types folded in until the
    combined group itself has at least 6, so no mark describes fewer.
    """

    scope: str
    before: tuple[pd.Timestamp, pd.Timestamp]
    after: tuple[pd.Timestamp, pd.Timestamp]
    table: pd.DataFrame
    statements: list[str] = field(default_factory=list)

    caveats: list[str] = field(default_factory=list)

    _plot = "impact:plot_placement_mix"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> Summary:
        return Summary(
            f"Placement mix before and after: {self.scope}",
            [Finding(f"mix.{i}", s) for i, s in enumerate(self.statements)],
        )


COMBINED = "Other types (combined)"


def placement_mix(
    series: pd.DataFrame,
    council: str | None = None,
    *,
    months: int = 12,
    min_n: int = MIN_N,
) -> MixResult:
    """Placement mix in the ``months`` before the start and the last ``months`` of data.

    Counts are mean numbers of children on the first day of each period.
    With ``council=None`` the adopting councils are pooled: each council's
    own months before its start and its own latest months, summed over
    councils.
    """
    step = FREQS[series.attrs.get("freq", "MS")]
    k = max(1, months // step)
    d = series.dropna(subset=[COHORT])
    if council is not None:
        d = d[d[Col.council] == council]
        if d.empty:
            raise ValueError(f"{council!r} is not an adopting council in the series")
    if d.empty:
        raise ValueError("no adopting council in the series")
    cols = [n_col(t) for t in PLACEMENT_TYPES]
    pre = d[(d[EVENT_TIME] >= -k) & (d[EVENT_TIME] < 0)]
    last = d.groupby(Col.council)[EVENT_TIME].transform("max")
    post = d[(d[EVENT_TIME] >= 0) & (d[EVENT_TIME] > last - k)]
    rows = []
    for label, part in (("before", pre), ("after", post)):
        if part.empty:
            continue
        mean = part.groupby(Col.council)[cols].mean().sum()
        rows += _protect_mix(label, {t: float(mean[n_col(t)]) for t in PLACEMENT_TYPES}, min_n)
    table = pd.DataFrame(rows, columns=["period", "placement_type", "label", "children", "share"])

    def span(p):
        return (
            (pd.Timestamp(p[PERIOD].min()), pd.Timestamp(p[PERIOD].max()))
            if len(p)
            else (pd.NaT, pd.NaT)
        )

    res = MixResult(
        scope=council or "adopting councils (pooled)",
        before=span(pre),
        after=span(post),
        table=table,
    )
    res.statements = _mix_text(res)
    return res


def _protect_mix(label: str, counts: dict[str, float], min_n: int) -> list[dict]:
    total = sum(counts.values())
    small = [t for t, n in counts.items() if 0 < n < min_n]
    shown = {t: n for t, n in counts.items() if n >= min_n}
    comb = sum(counts[t] for t in small)
    while small and 0 < comb < min_n and shown:
        # fold the smallest shown type in too, so the combined group has >= min_n
        t = min(shown, key=shown.get)
        comb += shown.pop(t)
        small.append(t)
    rows = [
        {
            "period": label,
            "placement_type": t,
            "label": PLACEMENT_LABELS[t],
            "children": round(n),
            "share": n / total,
        }
        for t, n in shown.items()
    ]
    if small and comb >= min_n:
        rows.append(
            {
                "period": label,
                "placement_type": "combined",
                "label": COMBINED,
                "children": round(comb),
                "share": comb / total,
            }
        )
    return rows


def _mix_text(res: MixResult) -> list[str]:
    t = res.table
    out = []
    inh = t[t["placement_type"] == "in_house_foster"].set_index("period")["share"]
    if {"before", "after"} <= set(inh.index):
        out.append(
            f"{res.scope}: in-house foster care was {100 * inh['before']:.0f}% of placements in "
            f"the months before the start and {100 * inh['after']:.0f}% in the latest months. "
            "This is a before/after description, not an effect: see the designs for that."
        )
    return out
