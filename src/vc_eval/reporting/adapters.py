"""Report sections built from the analysis modules (profile, spend, outcomes, agreement, impact).

Each ``<key>_section(ctx, module)`` runs one analysis for the report's
council and period and turns its result into a
:class:`vc_eval.reporting.sections.Section`: plain-language text written here with
small counts hidden, the module's own disclosure-controlled tables (every
column's kind declared, so tests can check every shown count), and figures
drawn only from aggregates of at least 6 children. Row-level frames the
modules keep for analysts never reach a section.

:mod:`vc_eval.reporting.sections` calls these only when the module exists, so a report
made before a module lands says the section is not yet available.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd

from vc_eval.core import privacy
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.schema import Col
from vc_eval.core.summary import escape_md
from vc_eval.plots.report import new_figure
from vc_eval.reporting.sections import (
    MIN_N,
    FigureOut,
    ReportContext,
    Section,
    Table,
    _round,
    count_text,
    insufficient,
    money,
)

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


def shown_table(
    frame: pd.DataFrame,
    caption: str,
    kinds: Mapping[str, str],
    *,
    rename: Mapping[str, str] | None = None,
    drop: Sequence[str] = (),
    note: str = "",
) -> Table:
    """A module's already-protected table, with readable headers and declared column kinds.

    A named index becomes the first (label) column. Columns not in ``kinds``
    are left out, so nothing reaches the report unexamined.
    """
    f = frame.copy()
    if f.index.name is not None or isinstance(f.index, pd.MultiIndex):
        f = f.reset_index()
    f.columns = [str(c) for c in f.columns]
    f = f.drop(columns=[c for c in drop if c in f.columns])
    keep = [c for c in f.columns if c in kinds]
    f = f[keep]
    k = {c: kinds[c] for c in keep}
    if rename:
        f = f.rename(columns=rename)
        k = {rename.get(c, c): v for c, v in k.items()}
    return Table(caption, f.reset_index(drop=True), k, note)


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


def _pct(part: float, whole: float) -> str | None:
    """Whole-number percentage, or None when the part is a count of 1-5."""
    lo, hi = privacy.THRESHOLD
    if whole <= 0 or lo <= part <= hi or lo <= whole - part <= hi:
        return None
    return f"{100 * part / whole:.0f}%"


# --------------------------------------------------------------------------
# Needs profile and change
# --------------------------------------------------------------------------


def _profile(ctx: ReportContext, mod):
    def run():
        return _quiet(
            mod.needs_profile,
            ctx.local,
            period=(ctx.period_start, ctx.period_end),
            seed=ctx.seed,
        )

    return ctx.cached("profile", run)


def _wide(
    st, index: str, columns: str, value_cols: Sequence[str], names: Mapping | None = None
) -> pd.DataFrame:
    """Pivot a protected long table to wide, keeping the shown strings.

    ``names`` shortens the column categories (e.g. band labels to "Band 1").
    """
    t = st.table.copy()
    if names:
        t[columns] = t[columns].map(lambda x: names.get(x, x))
    parts = []
    for v in value_cols:
        w = t.pivot(index=index, columns=columns, values=v)
        w = w.loc[list(dict.fromkeys(t[index])), list(dict.fromkeys(t[columns]))]
        w.columns = [f"{c} ({'n' if v == 'n' else '%'})" for c in w.columns]
        parts.append(w)
    out = pd.concat(parts, axis=1)
    order = [c for pair in zip(*[p.columns for p in parts], strict=True) for c in pair]
    return out[order].reset_index()


def needs_profile_section(ctx: ReportContext, mod) -> Section:
    sec = Section("needs_profile", "Needs profile and complexity")
    (prof, warns) = _profile(ctx, mod)
    prev, cx = prof.prevalence, prof.complexity
    n_assessed = prev.snapshot.n_assessed
    if n_assessed < MIN_N:
        return insufficient(
            sec.key,
            sec.title,
            f"{count_text(n_assessed)} children were assessed in the period; at least "
            f"{MIN_N} are needed to describe their needs.",
        )
    fw = ctx.framework
    top = max(b.band for b in fw.bands)
    hi = prev.table[prev.table["band"] >= top - 1].groupby("domain_name", sort=False)
    share = (100 * hi["n"].sum() / hi["n_assessed"].first()).sort_values(ascending=False)
    lead = ", ".join(f"{d.lower()} ({v:.0f}%)" for d, v in share.head(3).items())
    # The number in care but not assessed is not given (it can be small; see data quality).
    sec.text.append(
        f"{count_text(n_assessed)} children in care were assessed in the period; each "
        "child's latest assessment in the period is used. A domain is of **high need** for a "
        "child when its score is in the top two "
        f"bands ({fw.bands[-2].min:g}-100). The domains where most children had high need were "
        f"{lead}."
    )
    c = cx.per_child["complexity"]
    n3 = int((c >= 3).sum())
    p3 = _pct(n3, len(c))
    if p3:
        sec.text.append(
            f"**Complexity:** {p3} of children assessed had high need in three or more "
            f"domains (median {c.median():.0f} of {cx.n_domains} domains)."
        )
        sec.headline["share_3plus_high_need_domains"] = p3
        sec.headline["_summary"] = [
            f"{p3} of children assessed had high need in three or more of the "
            f"{cx.n_domains} domains."
        ]
    st = prev.safe_table()
    short = {lab: f"Band {b}" for b, lab in fw.band_labels().items()}
    wide = _wide(st, "domain_name", "band_label", ["n", "percent"], short)
    kinds = {"domain_name": "label"}
    for col in wide.columns[1:]:
        kinds[col] = "count" if col.endswith("(n)") else "percent"
    sec.tables.append(
        shown_table(
            wide,
            "Children by band of need in each domain (latest assessment in the period)",
            kinds,
            rename={"domain_name": "Domain"},
            note="Bands: "
            + "; ".join(
                f"{b.band} = {b.descriptor.lower()} ({b.min:g}-{b.max:g})" for b in fw.bands
            )
            + "."
            + (f" {st.summary()}." if st.n_suppressed else ""),
        )
    )
    cst = cx.safe_table(top_code=6)
    sec.tables.append(
        shown_table(
            cst.table,
            f"Children by number of domains of high need (top {cx.top_bands} bands)",
            {"complexity": "label", "n": "count", "percent": "percent"},
            rename={"complexity": "Domains of high need", "n": "Children", "percent": "%"},
            note=cst.summary() if cst.n_suppressed else "",
        )
    )
    by_age = cx.safe_table("age_group", top_code=4)
    sec.tables.append(
        shown_table(
            by_age.table,
            "Children by age group and number of domains of high need",
            {"age_group": "label", **{str(k): "count" for k in by_age.table.columns}},
            rename={"age_group": "Age group"},
            note=by_age.summary() if by_age.n_suppressed else "",
        )
    )
    from vc_eval.plots import profile as pp

    fig, ax = new_figure(figsize=(7.5, 0.42 * len(fw.domain_ids) + 1.6))
    try:
        pp.plot_prevalence(prev, ax=ax)
        sec.figures.append(
            FigureOut(
                fig,
                "Heatmap of the percentage of children assessed in each band of need, one "
                "row per domain; hidden cells are grey and marked c.",
                "Prevalence of need by domain and band.",
            )
        )
    except AttributeError as err:  # the plotting module is still being written
        sec.notes.append(f"Prevalence figure not drawn ({type(err).__name__}).")
    fig, ax = new_figure(figsize=(6.5, 3.6))
    pp.plot_complexity(cx, ax=ax, top_code=6)
    sec.figures.append(
        FigureOut(
            fig,
            "Bar chart of the percentage of children with 0, 1, 2, ... domains of high need; "
            "bars for hidden counts are not drawn.",
            "Complexity of need.",
        )
    )
    if prof.clusters is not None and len(prof.clusters.sizes):
        cl = prof.clusters
        cst = cl.safe_table()
        sec.text.append(
            f"**Profiles of need.** Grouping children by their pattern of scores "
            f"({cl.method}, {cl.k} groups) gives: "
            + "; ".join(
                f"{r.label.lower()}" + (f" ({r.percent:.0f}%)" if r.n >= MIN_N else "")
                for r in cl.sizes.itertuples()
            )
            + "."
        )
        sec.tables.append(
            shown_table(
                cst.table,
                "Profiles of need (clusters of children with similar scores)",
                {"cluster": "label", "label": "text", "n": "count", "percent": "percent"},
                rename={"cluster": "Profile", "label": "Description", "n": "Children"},
            )
        )
    sec.notes += warns
    return sec


def need_change_section(ctx: ReportContext, mod) -> Section:
    sec = Section("need_change", "Change in need over the period")
    (prof, _) = _profile(ctx, mod)
    ch = prof.change
    t = ch.summary_table
    tot = t[t["domain"] == TOTAL_NEED]
    n = int(tot["n_children"].max()) if len(tot) else 0
    if n < MIN_N:
        return insufficient(
            sec.key,
            sec.title,
            f"{count_text(n)} children had two assessments in the period far enough apart "
            f"to compare; at least {MIN_N} are needed.",
        )
    by = tot.set_index("category")["n"]
    imp, det = int(by.get("improved", 0)), int(by.get("deteriorated", 0))
    p_imp, p_det = _pct(imp, n), _pct(det, n)
    mean = float(tot["mean_change"].iloc[0])
    err = ch.error.set_index("domain")
    thr = err.loc[TOTAL_NEED, "threshold"] if TOTAL_NEED in err.index else np.nan
    sec.text.append(
        f"**{count_text(n)} children** had a first and a latest assessment in the period at "
        f"least two weeks apart. Their total need changed by **{mean:+.1f} points** on "
        "average (a fall is an improvement)."
        + (
            f" A change counts as **reliable** when it is larger than {thr:.1f} points, the "
            "difference two assessors commonly give the same child; "
            + (f"{p_imp} of children reliably improved" if p_imp else "")
            + (" and " if p_imp and p_det else "")
            + (f"{p_det} reliably deteriorated" if p_det else "")
            + (
                "."
                if (p_imp or p_det)
                else "the numbers reliably improving or deteriorating are too small to show."
            )
            if np.isfinite(thr)
            else ""
        )
    )
    sec.headline["mean_total_need_change"] = _round(mean)
    sec.headline["_summary"] = [
        f"Between their first and latest assessment in the period, children's total need "
        f"changed by {mean:+.1f} points on average"
        + (f"; {p_imp} reliably improved" if p_imp else "")
        + (f" and {p_det} reliably deteriorated" if p_det else "")
        + "."
    ]
    if p_imp:
        sec.headline["share_reliably_improved"] = p_imp
    if p_det:
        sec.headline["share_reliably_deteriorated"] = p_det
    st = ch.safe_table()
    wide = _wide(st, "domain_name", "category", ["n", "percent"])
    means = t.drop_duplicates("domain").set_index("domain_name")
    stats = privacy.suppress_stats(
        means.reset_index(), n_col="n_children", stat_cols=["mean_change"], decimals=1
    ).set_index("domain_name")["mean_change"]
    wide["Mean change"] = wide["domain_name"].map(stats).to_numpy()
    kinds = {"domain_name": "label", "Mean change": "stat"}
    for col in wide.columns[1:-1]:
        kinds[col] = "count" if col.endswith("(n)") else "percent"
    sec.tables.append(
        shown_table(
            wide,
            "Reliable change between each child's first and latest assessment in the period",
            kinds,
            rename={"domain_name": "Domain"},
            note=st.summary() if st.n_suppressed else "",
        )
    )
    from vc_eval.plots import profile as pp

    fig, ax = new_figure(figsize=(8, 0.4 * len(wide) + 1.6))
    pp.plot_reliable_change(ch, ax=ax)
    sec.figures.append(
        FigureOut(
            fig,
            "Stacked horizontal bars per domain: percentage of children reliably improved, "
            "with no reliable change, and reliably deteriorated; hidden counts are pooled into "
            "a grey segment marked c.",
            "Reliable change by domain.",
        )
    )
    sec.notes.append(ch.method_note)
    return sec


# --------------------------------------------------------------------------
# Cost against need
# --------------------------------------------------------------------------


def _comparison(ctx: ReportContext):
    """The other councils in the data (the needs-matched scenario's comparison), or None."""
    data = getattr(ctx, "data", None)
    if data is None:
        return None
    others = [c for c in data.council_names() if c != ctx.council]
    return data.subset(others) if others else None


def _from_summary(sec: Section, summ) -> Section:
    """Fill a section from a result's Summary: its findings, tables, headline and caveats."""
    sec.status = summ.status if summ.status != "absent" else "insufficient"
    sec.text += [escape_md(f.text) for f in summ.findings]
    sec.tables += summ.tables
    sec.headline.update(summ.headline)
    sec.notes += summ.caveats
    return sec


def cost_need_section(ctx: ReportContext, mod) -> Section:
    """Cost against need: the words, tables and headline are :class:`SpendResult.summary`'s."""
    sec = Section("cost_need", "Cost against need and the needs-matched scenario")

    def run():
        return _quiet(
            mod.spend,
            ctx.local,
            at=ctx.period_end,
            end=ctx.period_end,
            reference=_comparison(ctx),
            seed=ctx.seed,
            n_boot=REPORT_BOOT,
            progress=False,
        )

    try:
        sp, warns = ctx.cached("spend", run)
    except ValueError as err:
        return insufficient(sec.key, sec.title, f"{err}.")
    summ = sp.summary()
    _from_summary(sec, summ)
    sec.headline["_summary"] = [
        summ.finding(k).text
        for k in ("cost_need.variance", "scenario.saving")
        if any(f.key == k for f in summ.findings)
    ]
    fig = _cost_need_figure(sp)
    if fig is not None:
        sec.figures.append(fig)
    sec.notes += warns
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


def outcomes_section(ctx: ReportContext, mod) -> Section:
    """Spend against outcomes and the programme's effect: :class:`OutcomesResult.summary`."""
    sec = Section("outcomes", "Spend against outcomes, and the programme's effect on them")

    def run():
        # this council's programme effect needs councils that never adopted to compare with
        data = getattr(ctx, "data", None)
        res = _quiet(mod.outcomes, ctx.local, progress=False)
        if data is not None:
            cs = data.councils
            never = cs.loc[cs[Col.programme_start].isna(), Col.council].tolist()
            if never and ctx.council not in never:
                res[0].programme = mod.programme_outcomes(data.subset([ctx.council, *never]))
        return res

    try:
        oc, warns = ctx.cached("outcomes", run)
    except (ValueError, np.linalg.LinAlgError) as err:
        return insufficient(sec.key, sec.title, f"{err}.")
    _from_summary(sec, oc.summary())
    fig = _by_type_figure(oc.need_change, ctx)
    if fig is not None:
        sec.figures.append(fig)
    sec.notes += warns
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
# Assessor agreement
# --------------------------------------------------------------------------


def agreement_section(ctx: ReportContext, mod) -> Section:
    sec = Section("agreement", "Assessor agreement")
    a = ctx.local.assessments
    a = a[a[Col.assessment_date] <= ctx.period_end]
    ag, warns = ctx.cached("agreement", lambda: _quiet(mod.agreement, a, framework=ctx.framework))
    t = ag.table
    ok = t.dropna(subset=["icc"])
    ok = ok[ok["n_pairs"] >= MIN_N]
    if ok.empty:
        return insufficient(
            sec.key,
            sec.title,
            f"too few children were scored by two assessors within {ag.window_days} days to "
            "measure agreement.",
        )
    tot = ok[ok["domain"] == TOTAL_NEED]
    sec.text.append(
        f"Where two assessors scored the same child within {ag.window_days} days (assessments "
        "up to the period end), agreement per domain is measured by the intraclass "
        f"correlation (ICC: 1 = perfect agreement). ICCs ranged from {ok['icc'].min():.2f} to "
        f"{ok['icc'].max():.2f}."
        + (
            f" For total need, two assessors' scores differed by between "
            f"{tot['loa_lower'].iloc[0]:.1f} and {tot['loa_upper'].iloc[0]:+.1f} points in 95% "
            "of pairs (limits of agreement)."
            if len(tot)
            else ""
        )
        + " Large differences are a prompt for reflective supervision, not a finding about "
        "either assessor."
    )
    if len(tot):
        sec.headline["icc_total_need"] = _round(float(tot["icc"].iloc[0]), 2)
        sec.headline["_summary"] = [
            f"Two assessors scoring the same child agreed with an ICC of "
            f"{tot['icc'].iloc[0]:.2f} on total need."
        ]
    st = ag.safe_table()
    sec.tables.append(
        shown_table(
            st.table,
            "Agreement between two assessors scoring the same child",
            {
                "domain_name": "label",
                "domain": "label",
                "n_pairs": "count",
                "icc": "stat",
                "ci_lower": "stat",
                "ci_upper": "stat",
                "mean_diff": "stat",
                "loa_lower": "stat",
                "loa_upper": "stat",
                "sem": "stat",
            },
            rename={
                "domain_name": "Domain",
                "domain": "Domain",
                "n_pairs": "Pairs",
                "icc": "ICC",
                "ci_lower": "from",
                "ci_upper": "to",
                "mean_diff": "Mean difference",
                "loa_lower": "Limits of agreement from",
                "loa_upper": "to ",
                "sem": "SEM",
            },
            note=ag.note,
        )
    )
    label = {d: ctx.framework.label(d) for d in ok["domain"]}
    fig, ax = new_figure(figsize=(6.5, 0.35 * len(ok) + 1.4))
    y = np.arange(len(ok))
    ax.errorbar(
        ok["icc"],
        y,
        xerr=[ok["icc"] - ok["ci_lower"], ok["ci_upper"] - ok["icc"]],
        fmt="o",
        capsize=3,
    )
    ax.set_yticks(y, [label[d] for d in ok["domain"]])
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="ICC (95% interval)", title="Assessor agreement by domain")
    sec.figures.append(
        FigureOut(
            fig,
            "Intraclass correlation with 95% interval for each domain with at least 6 pairs "
            "of scorings, on a scale from 0 to 1.",
            "Assessor agreement (ICC) by domain.",
        )
    )
    sec.notes += warns
    return sec


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


def _impact_series(ctx: ReportContext, mod):
    """Council x month series of every council in the data, up to the period end."""
    return ctx.cached("impact_series", lambda: _quiet(ctx.all.series, ctx.period_end))


def _effect(col: str, value: float) -> str:
    from vc_eval.analysis.impact.text import fmt_value

    return fmt_value(col, value, signed=True).replace(" percentage points", " pp")


def _readable(text: str) -> str:
    for col, name in IMPACT_OUTCOMES.items():
        text = text.replace(col, name.lower() if not text.startswith(col) else name)
    return text


def impact_section(ctx: ReportContext, mod) -> Section:
    sec = Section("impact", "Programme impact")
    start = ctx.local.councils[Col.programme_start].iloc[0]
    if pd.isna(start) or start > ctx.period_end:
        sec.text.append(
            f"{ctx.council} had not adopted the programme by {ctx.period_end:%-d %B %Y} (no "
            "programme start date in the data before then), so there is no before/after "
            "estimate for this council. Its data serve as a comparison for councils that did "
            "adopt."
        )
        return sec
    (series, warns) = _impact_series(ctx, mod)

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
        return insufficient(
            sec.key, sec.title, "no impact estimate could be made: " + "; ".join(notes[:3])
        )
    sec.text.append(
        f"{ctx.council} adopted the programme on {pd.Timestamp(start):%-d %B %Y}. Two designs "
        "estimate what changed: **before/after** (the council against its own trend before the "
        "start, carried on) and **comparison councils** (the change in this council against "
        "the change over the same months in councils that had not adopted). Effects are at "
        "12 and 24 months after the start; an interval that includes zero means no change "
        "could be detected."
    )
    key = "share_in_house_foster"
    for res in (its_res.get(key), es_res.get(key)):
        if res is not None:
            sec.text.append(" ".join(_readable(s) for s in res.statements[1:3]))
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
        sec.text.append(" ".join(sav.statements[1:3]))
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
    sec.notes += list(dict.fromkeys(notes))
    if "its_in_house_share_12m_pp" in sec.headline:
        sec.headline["_summary"] = [
            f"Before/after: 12 months after the programme started, the share of children with "
            f"in-house foster carers was {sec.headline['its_in_house_share_12m_pp']:+.1f} "
            "percentage points against the earlier trend."
        ]
    return sec


def _impact_figures(sec: Section, its_res: dict, es_res: dict, sav) -> None:
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
    "agreement_section",
    "cost_need_section",
    "impact_section",
    "need_change_section",
    "needs_profile_section",
    "outcomes_section",
    "shown_table",
]
