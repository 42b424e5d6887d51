"""Report sections still written here, for analyses whose results have no ``summary()`` yet.

Cost against need (``spend``), spend against outcome domains (``outcomes``)
and programme impact (``impact``) are being moved onto the one result
interface in their own modules; until then each is turned into a
:class:`~vc_eval.core.summary.Summary` here, behind one function per
section (``cost_need_section``, ``outcomes_section``, ``impact_section``)
that :mod:`vc_eval.reporting.sections` calls. When a module's result gains
``summary()``, its section in ``sections`` calls that instead and the
function here is deleted.

This module imports only :mod:`vc_eval.reporting.context` from the reporting
layer (never ``sections``), so there is no import cycle.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd

from vc_eval.analysis import impact as impact_mod
from vc_eval.analysis import outcomes as outcomes_mod
from vc_eval.analysis import spend as spend_mod
from vc_eval.core import privacy
from vc_eval.core.display import count_text, labels, money
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.schema import Col
from vc_eval.core.summary import FigureOut, Summary, Table, table_from
from vc_eval.plots.report import new_figure
from vc_eval.reporting.context import ReportContext

MIN_N = privacy.MIN_N


def _round(x: float, d: int = 1) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), d)


def _section(key: str, title: str) -> Summary:
    return Summary(title, key=key)


def _insufficient(sec: Summary, reason: str) -> Summary:
    return Summary.insufficient(sec.title, reason, key=sec.key)


#: Bootstrap resamples for intervals in report sections (enough for 95% intervals).
REPORT_BOOT = 200
#: Readable names of outcome measures and model terms in tables.
MEASURE_LABELS: dict[str, str] = {
    "sdq_total": "SDQ total difficulties (0-40)",
    "school_attendance": "School attendance (%)",
    "exclusion": "Exclusions",
    "missing_episodes": "Missing episodes",
    "placement_moves": "Placement moves",
    "offending": "Offending (yes/no)",
}
TERM_LABELS: dict[str, str] = {
    "need": "Need score (per point)",
    "placement_moves": "Placement moves in the year (per move)",
    "spend_per_doubling": "Weekly spend (per doubling)",
}


def _quiet(fn, *args, **kwargs):
    """Run an analysis, returning (result, warning messages) instead of printing warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fn(*args, **kwargs)
    # Numerical RuntimeWarnings (e.g. a zero-width interval) stay in the analyst's
    # log, not in a report for programme leads; every other warning is shown.
    msgs = [
        str(w.message)
        for w in caught
        if not issubclass(w.category, DeprecationWarning | FutureWarning | RuntimeWarning)
    ]
    return res, list(dict.fromkeys(msgs))


# --------------------------------------------------------------------------
# Cost against need
# --------------------------------------------------------------------------


def cost_need_section(ctx: ReportContext) -> Summary:
    """Cost against need (legacy words; to be replaced by ``SpendResult.summary()``)."""
    mod = spend_mod
    sec = _section("cost_need", "Cost against need and the needs-matched scenario")

    def run():
        return _quiet(
            mod.spend,
            ctx.local,
            at=ctx.period_end,
            end=ctx.period_end,
            seed=ctx.seed,
            n_boot=REPORT_BOOT,
            progress=False,
        )

    try:
        sp, warns = ctx.cached("spend", run)
    except ValueError as err:
        return _insufficient(sec, f"{err}.")
    tot = sp.correlations.set_index("measure").loc[TOTAL_NEED]
    v = sp.variance.set_index("model")["r2"]
    sc = sp.scenario
    if sc.n_children < MIN_N:
        # A saving summed over fewer than 6 children describes identifiable children.
        return _insufficient(sec, f"Fewer than {MIN_N} children in care had assessed needs.")
    sec.say(
        "strength",
        f"Each assessment was matched to the placement the child was in that day "
        f"({count_text(int(tot['children']))} children). Weekly cost rose with total need only "
        f"weakly (Spearman correlation {tot['spearman_rho']:.2f}, 95% interval "
        f"{tot['ci_low']:.2f} to {tot['ci_high']:.2f}): placement type explained "
        f"{v['type']:.0%} of the variation in cost, total need {v['need']:.0%}.",
    )
    lo, hi = sc.annual_ci
    direction = "save" if sc.weekly_saving >= 0 else "cost an extra"
    n_res, n_res_f = sc.residential_to_foster
    sec.say(
        "scenario",
        "Needs-matched scenario. If each child were in the placement type most common "
        "for children of the same age band with a similar profile of need, placements would "
        f"{direction} about {money(abs(sc.annual_saving))} a year (95% interval "
        f"{money(lo)} to {money(hi)}; a negative figure is an extra cost). "
        f"{count_text(sc.n_changed)} of {count_text(sc.n_children)} children's typical type "
        "differs from their current one."
        + (
            f" Of {count_text(n_res)} children in children's homes, {count_text(n_res_f)} have "
            "foster care as the typical placement for their needs."
            if n_res
            else ""
        ),
    )
    sec.headline["_summary"] = [
        f"Placement type, not need, explained most of the variation in weekly cost "
        f"({v['type']:.0%} against {v['need']:.0%}). A needs-matched mix of placements would "
        f"{direction} about {money(abs(sc.annual_saving))} a year (95% interval {money(lo)} to "
        f"{money(hi)})."
    ]
    sec.headline.update(
        {
            "cost_need_spearman_total": _round(float(tot["spearman_rho"]), 2),
            "needs_matched_annual_saving": _round(sc.annual_saving, 0),
            "needs_matched_annual_saving_interval": [_round(lo, 0), _round(hi, 0)],
        }
    )
    tabs = sp.report_tables()
    sec.tables.append(
        table_from(
            tabs["scenario"],
            "Needs-matched scenario (GBP; interval by resampling children)",
            {"figure": "label", "estimate": "stat", "ci_low": "stat", "ci_high": "stat"},
            rename={
                "figure": "Figure",
                "estimate": "Estimate",
                "ci_low": "95% interval from",
                "ci_high": "to",
            },
        )
    )
    trans = tabs["scenario_transitions"]
    sec.tables.append(
        table_from(
            trans,
            "Children by current placement type (rows) and the type typical for their needs "
            "(columns)",
            {"Current placement type": "label", **{c: "count" for c in trans.columns}},
        )
    )
    mix = tabs["mix_by_need_band"]
    sec.tables.append(
        table_from(
            mix,
            f"Placement type by band of total need, {ctx.period_end:%-d %B %Y}",
            {"Placement type": "label", **{c: "count" for c in mix.columns}},
        )
    )
    sec.tables.append(
        table_from(
            tabs["cost_by_type"],
            "Weekly cost by placement type (GBP)",
            {
                "label": "label",
                "median_weekly_cost": "stat",
                "lower_quartile": "stat",
                "upper_quartile": "stat",
            },
            rename={
                "label": "Placement type",
                "median_weekly_cost": "Median",
                "lower_quartile": "Lower quartile",
                "upper_quartile": "Upper quartile",
            },
        )
    )
    corr = tabs["correlations"]
    sec.tables.append(
        table_from(
            corr,
            "Correlation of weekly cost with need (Spearman, 95% interval)",
            {
                "label": "label",
                "spearman_rho": "stat",
                "ci_low": "stat",
                "ci_high": "stat",
                "children": "count",
                "assessments": "count",
            },
            rename={
                "label": "Need",
                "spearman_rho": "Correlation",
                "ci_low": "from",
                "ci_high": "to",
                "children": "Children",
                "assessments": "Assessments",
            },
        )
    )
    flags = tabs["flags"]
    sec.tables.append(
        table_from(
            flags,
            f"Children flagged for review: cost high or low for their need (top and bottom "
            f"{sp.flags.quantile:.0%}); children are never named here",
            {"Placement type": "label", **{c: "count" for c in flags.columns}},
        )
    )
    fig = _cost_need_figure(sp)
    if fig is not None:
        sec.figures.append(fig)
    sec.caveats += sp.caveats + warns
    return sec


def _cost_need_figure(sp) -> FigureOut | None:
    bins, lines = sp.bins, sp.lines
    if bins.empty and lines.empty:
        return None
    fig, ax = new_figure(figsize=(9, 4.2))
    if len(bins):
        cmap = matplotlib.colormaps["Greys"]
        top = bins["children"].max()
        for r in bins.itertuples():
            ax.fill_between(
                [r.need_low, r.need_high],
                r.cost_low,
                r.cost_high,
                color=cmap(0.15 + 0.6 * r.children / top),
                lw=0,
            )
    for label, g in lines.groupby("label", sort=False):
        ax.plot(g["need"], g["weekly_cost"], lw=2, label=label)
    ax.set_yscale("log")
    ax.set(
        xlabel="Total need (0-100)",
        ylabel="Weekly cost (GBP, log scale)",
        title="Weekly cost against need",
    )
    if len(lines):
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return FigureOut(
        fig,
        "Grey tiles show how many children fall in each band of total need and weekly cost "
        "(tiles with fewer than 6 children are not drawn); coloured lines are fitted cost "
        "against need within each placement type with at least 20 children.",
        "Weekly cost against total need by placement type (aggregated; no single child shown).",
    )


# --------------------------------------------------------------------------
# Spend against outcome domains
# --------------------------------------------------------------------------


def outcomes_section(ctx: ReportContext) -> Summary:
    """Spend against outcomes (legacy words; to be replaced by ``OutcomesResult.summary()``)."""
    mod = outcomes_mod
    sec = _section("outcomes", "Spend against outcome domains")

    def run():
        return _quiet(mod.outcomes, ctx.local, progress=False)

    try:
        oc, warns = ctx.cached("outcomes", run)
    except (ValueError, np.linalg.LinAlgError) as err:
        return _insufficient(sec, f"{err}.")
    nc = oc.need_change
    if TOTAL_NEED in nc.n and nc.n[TOTAL_NEED][1] >= MIN_N:
        rows, kids = nc.n[TOTAL_NEED]
        s = nc.term(TOTAL_NEED, mod.SPEND)
        sec.say(
            "spend",
            f"Using every pair of consecutive reviews ({count_text(rows)} intervals, "
            f"{count_text(kids)} children), each doubling of weekly spend went with a change "
            f"of {s['estimate']:+.2f} points per 6 months in total need (95% interval "
            f"{s['ci_low']:+.2f} to {s['ci_high']:+.2f}), after adjusting for baseline need, "
            "age, time in care and placement type. An interval that includes zero means no "
            "association could be detected.",
        )
        sec.headline["need_change_per_spend_doubling"] = _round(float(s["estimate"]), 2)
    else:
        sec.say("too_few", "Too few children had two reviews to relate need change to spend.")
    tabs = oc.report_tables()
    if "need_change_spend" in tabs:
        sec.tables.append(
            table_from(
                tabs["need_change_spend"],
                "Change in need per 6 months for each doubling of weekly spend (adjusted)",
                {"label": "label", "estimate": "stat", "ci_low": "stat", "ci_high": "stat"},
                rename={
                    "label": "Need",
                    "estimate": "Points per 6 months",
                    "ci_low": "95% interval from",
                    "ci_high": "to",
                },
            )
        )
    if "need_change_by_type" in tabs:
        bt = tabs["need_change_by_type"]
        bt = bt[bt["domain_label"] == ctx.framework.label(TOTAL_NEED)]
        sec.tables.append(
            table_from(
                bt,
                "Total need: change per 6 months by placement type, and cost per point of "
                "need reduced",
                {
                    "label": "label",
                    "children": "count",
                    "intervals": "count",
                    "mean_weekly_cost": "stat",
                    "raw_change": "stat",
                    "adjusted_change": "stat",
                    "ci_low": "stat",
                    "ci_high": "stat",
                    "cost_per_point": "stat",
                },
                rename={
                    "label": "Placement type",
                    "children": "Children",
                    "intervals": "Intervals",
                    "mean_weekly_cost": "Mean weekly cost",
                    "raw_change": "Change",
                    "adjusted_change": "Adjusted change",
                    "ci_low": "from",
                    "ci_high": "to",
                    "cost_per_point": "Cost per point reduced (GBP)",
                },
            )
        )
    if "external_outcomes" in tabs:
        ext = tabs["external_outcomes"].copy()
        ext["measure"] = ext["measure"].map(lambda m: MEASURE_LABELS.get(m, m))
        ext["term"] = ext["term"].map(lambda m: TERM_LABELS.get(m, m))
        if "need_domains" in ext:
            # ids like "emotional_health, behaviour" -> the framework's labels
            ext["need_domains"] = [
                labels([x.strip() for x in str(v).split(",") if x.strip()], ctx.framework)
                for v in ext["need_domains"]
            ]
        sec.tables.append(
            table_from(
                ext,
                "Outcomes against spend, need and placement moves (adjusted associations)",
                {
                    "measure": "label",
                    "need_domains": "label",
                    "term": "label",
                    "estimate": "stat",
                    "ci_low": "stat",
                    "ci_high": "stat",
                },
                rename={
                    "measure": "Outcome",
                    "need_domains": "Need adjusted for",
                    "term": "Term",
                    "estimate": "Estimate",
                    "ci_low": "from",
                    "ci_high": "to",
                },
            )
        )
    fig = _by_type_figure(nc, ctx)
    if fig is not None:
        sec.figures.append(fig)
    sec.caveats += oc.caveats + warns
    return sec


def _by_type_figure(nc, ctx: ReportContext) -> FigureOut | None:
    bt = nc.by_type
    if bt.empty or "domain" not in bt:
        return None
    bt = bt[(bt["domain"] == TOTAL_NEED) & (bt["children"] >= MIN_N)]
    if bt.empty:
        return None
    fig, ax = new_figure(figsize=(6.5, 0.4 * len(bt) + 1.5))
    y = np.arange(len(bt))
    ax.errorbar(
        bt["adjusted_change"],
        y,
        xerr=[bt["adjusted_change"] - bt["ci_low"], bt["ci_high"] - bt["adjusted_change"]],
        fmt="o",
        capsize=3,
    )
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y, bt["label"])
    ax.invert_yaxis()
    ax.set(
        xlabel="Adjusted change in total need per 6 months (points)",
        ylabel="",
        title="Change in need by placement type",
    )
    return FigureOut(
        fig,
        "Adjusted change in total need per 6 months for each placement type with at least 6 "
        "children, as points with 95% interval bars; zero marked by a vertical line.",
        "Change in total need by placement type (observational).",
    )


# --------------------------------------------------------------------------
# Programme impact
# --------------------------------------------------------------------------

#: Series analysed for programme impact: column -> readable name.
IMPACT_OUTCOMES: dict[str, str] = {
    "share_in_house_foster": "Share of children placed with in-house foster carers",
    "share_childrens_home": "Share of children placed in children's homes",
    "mean_weekly_cost": "Mean weekly cost per child placed",
    "children": "Children in care",
    "need_change_6m": "Change in total need per 6 months",
}
HORIZONS: tuple[int, ...] = (12, 24)


def _impact_series(ctx: ReportContext):
    """Council x month series of every council in the data, up to the period end."""
    return ctx.cached("impact_series", lambda: _quiet(ctx.all.series, ctx.period_end))


def _effect(col: str, value: float) -> str:
    from vc_eval.analysis.impact.text import fmt_value

    return fmt_value(col, value, signed=True).replace(" percentage points", " pp")


def _readable(text: str) -> str:
    for col, name in IMPACT_OUTCOMES.items():
        text = text.replace(col, name.lower() if not text.startswith(col) else name)
    return text


def impact_section(ctx: ReportContext) -> Summary:
    """Programme impact (legacy words; to be replaced by the impact results' ``summary()``)."""
    mod = impact_mod
    sec = _section("impact", "Programme impact")
    start = ctx.local.councils[Col.programme_start].iloc[0]
    if pd.isna(start) or start > ctx.period_end:
        sec.say(
            "not_adopted",
            f"{ctx.council} had not adopted the programme by {ctx.period_end:%-d %B %Y} (no "
            "programme start date in the data before then), so there is no before/after "
            "estimate for this council. Its data serve as a comparison for councils that did "
            "adopt.",
        )
        return sec
    (series, warns) = _impact_series(ctx)

    rows, its_res, es_res, notes = [], {}, {}, list(warns)
    for col, name in IMPACT_OUTCOMES.items():
        if col not in series.columns:
            continue
        for design, fn in (
            ("Before/after", lambda c=col: mod.its(series, ctx.council, c, horizons=HORIZONS)),
            (
                "Comparison councils",
                lambda c=col: mod.event_study(
                    series, c, treated=[ctx.council], horizons=HORIZONS, seed=ctx.seed
                ),
            ),
        ):
            try:
                res, w = _quiet(fn)
            except (ValueError, np.linalg.LinAlgError, KeyError) as err:
                notes.append(f"{name}, {design.lower()}: not estimated ({err}).")
                continue
            notes += w
            (its_res if design == "Before/after" else es_res)[col] = res
            for h in HORIZONS:
                try:
                    e = res.effect(h)
                except KeyError:
                    continue
                beyond = "within_data" in e and not bool(e["within_data"])
                rows.append(
                    {
                        "Outcome": name,
                        "Design": design,
                        "Months after start": str(h),
                        "Effect": _effect(col, e["estimate"]),
                        "95% interval": f"{_effect(col, e['lower'])} to {_effect(col, e['upper'])}",
                        "Note": "extrapolated beyond the data" if beyond else "",
                    }
                )
    if not rows:
        return _insufficient(sec, "no impact estimate could be made: " + "; ".join(notes[:3]))
    sec.say(
        "designs",
        f"{ctx.council} adopted the programme on {pd.Timestamp(start):%-d %B %Y}. Two designs "
        "estimate what changed: before/after (the council against its own trend before the "
        "start, carried on) and comparison councils (the change in this council against "
        "the change over the same months in councils that had not adopted). Effects are at "
        "12 and 24 months after the start; an interval that includes zero means no change "
        "could be detected.",
    )
    key = "share_in_house_foster"
    for res in (its_res.get(key), es_res.get(key)):
        if res is not None:
            sec.say("statement", " ".join(_readable(s) for s in res.statements[1:3]))
    if key in its_res:
        e = its_res[key].effect(12)
        sec.headline["its_in_house_share_12m_pp"] = _round(100 * float(e["estimate"]))
    if key in es_res:
        e = es_res[key].effect(12)
        sec.headline["did_in_house_share_12m_pp"] = _round(100 * float(e["estimate"]))
    sec.tables.append(
        Table(
            "Estimated programme effects (pp = percentage points)",
            pd.DataFrame(rows),
            {
                "Outcome": "label",
                "Design": "label",
                "Months after start": "label",
                "Effect": "stat",
                "95% interval": "stat",
                "Note": "text",
            },
        )
    )
    try:
        sav, w = _quiet(mod.savings, series, council=ctx.council, horizons=HORIZONS)
        notes += w
    except (ValueError, np.linalg.LinAlgError, KeyError) as err:
        sav = None
        notes.append(f"Savings not estimated ({err}).")
    if sav is not None:
        sec.say("savings", " ".join(sav.statements[1:3]))
        t = sav.table[sav.table["measure"] == "annual"]
        frame = pd.DataFrame(
            {
                "Part of spend": t["component"].str.capitalize(),
                "Months after start": t["horizon"].astype(str),
                "Difference a year": [money(v) for v in t["estimate"]],
                "95% interval": [
                    f"{money(a)} to {money(b)}" for a, b in zip(t["lower"], t["upper"], strict=True)
                ],
            }
        )
        sec.tables.append(
            Table(
                "Programme effect on spend, a year (negative = saving), split into number of "
                "children, placement mix and prices",
                frame.reset_index(drop=True),
                {
                    "Part of spend": "label",
                    "Months after start": "label",
                    "Difference a year": "stat",
                    "95% interval": "stat",
                },
            )
        )
        tot = t[(t["component"] == "total") & (t["horizon"] == 12)]
        if len(tot):
            sec.headline["programme_spend_effect_12m_annual"] = _round(
                float(tot["estimate"].iloc[0]), 0
            )
        notes += [c for c in sav.caveats if c not in notes]
    _impact_figures(sec, its_res, es_res, sav)
    for res in [*its_res.values(), *es_res.values()]:
        notes += [c for c in res.caveats if c not in notes]
    sec.caveats += list(dict.fromkeys(notes))
    if "its_in_house_share_12m_pp" in sec.headline:
        sec.headline["_summary"] = [
            f"Before/after: 12 months after the programme started, the share of children with "
            f"in-house foster carers was {sec.headline['its_in_house_share_12m_pp']:+.1f} "
            "percentage points against the earlier trend."
        ]
    return sec


def _impact_figures(sec: Summary, its_res: dict, es_res: dict, sav) -> None:
    from vc_eval.plots import impact as ip

    for col in ("share_in_house_foster", "mean_weekly_cost"):
        r = its_res.get(col)
        if r is None:
            continue
        fig, ax = new_figure(figsize=(8, 3.8))
        ip.plot_its(r, ax=ax)
        ax.set_title(IMPACT_OUTCOMES[col])
        sec.figures.append(
            FigureOut(
                fig,
                f"{IMPACT_OUTCOMES[col]} by month: observed values (months with at least 6 "
                "children), the fitted trend before and after the programme start, and the "
                "earlier trend carried on with its 95% interval (the counterfactual).",
                f"Before/after: {IMPACT_OUTCOMES[col].lower()}.",
            )
        )
    r = es_res.get("share_in_house_foster")
    if r is not None:
        fig, ax = new_figure(figsize=(8, 3.8))
        ip.plot_event_study(r, ax=ax)
        sec.figures.append(
            FigureOut(
                fig,
                "Difference from comparison councils in the share of children with in-house "
                "foster carers, by month before and after adoption, with 95% intervals.",
                "Comparison councils: in-house foster care share by month from adoption.",
            )
        )
    if sav is not None:
        fig, ax = new_figure(figsize=(7, 3.4))
        ip.plot_savings(sav, ax=ax)
        sec.figures.append(
            FigureOut(
                fig,
                "Horizontal bars: estimated difference in spend a year at 12 months, in total "
                "and split into number of children, placement mix and prices, with 95% "
                "intervals.",
                "Programme effect on spend at 12 months.",
            )
        )


__all__ = [
    "cost_need_section",
    "impact_section",
    "outcomes_section",
]
