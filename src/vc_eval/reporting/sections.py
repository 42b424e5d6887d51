"""The sections of the impact-update report: each one result's Summary and its figures.

A section is a :class:`vc_eval.core.summary.Summary`: the ``summary()`` of an
analysis result (every sentence and judgement word made by the result from
its own numbers, every count of children declared), plus figures drawn by
:mod:`vc_eval.plots` from the same result, with alt text stating what the
figure shows. This module writes no sentence about the data of its own
beyond the report's frame (title, data quality, methods) and composes the
executive summary from the sections' own findings.

Sections whose data a council does not hold (needs scores, costs) say so in
one line (status ``"absent"``): a council with SSDA903 returns only still
gets the population, placement mix, costs and stability sections.

The notebooks call :func:`section` and :func:`show`; everything a report says
is tested without Papermill. :func:`page` returns every Summary of one report
(for the page-level disclosure audit).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vc_eval.core import display, privacy
from vc_eval.core.dataset import Dataset, concat
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.population import SECOND_SCORING_DAYS
from vc_eval.core.schema import Col
from vc_eval.core.summary import (
    Count,
    FigureOut,
    Summary,
    Table,
    count_table,
    stat_table,
)
from vc_eval.reporting import cache
from vc_eval.reporting.context import (
    COMPARISONS,
    CONTEXT_PARAMETERS,
    ENGINES,
    HEADLINE_MIME,
    ReportContext,
    ReportInputError,
    build_context,
    parse_date,
    parse_domains,
)

if TYPE_CHECKING:
    from vc_eval.analysis import agreement as agreement_analysis
    from vc_eval.analysis import care
    from vc_eval.analysis import outcomes as outcome_analysis
    from vc_eval.analysis import profile as profile_analysis
    from vc_eval.analysis import spend as spend_analysis
    from vc_eval.analysis.trajectories import DomainFits

# The analyses and plots are imported where a section first needs them, not here: a
# notebook reading a finished page from the report cache then starts in about a second
# instead of importing statsmodels, scipy.stats, matplotlib and seaborn (~5 s of CPU).

log = logging.getLogger("vc_eval.report")

#: A report section is a Summary (kept as a name for readers of older code).
Section = Summary
#: Draws of the fixed effects behind each peak-age interval.
PEAK_DRAWS = 1000
MIN_N = privacy.MIN_N

#: What fills the sections a council's data may lack (one line each).
NEEDS_DATA = (
    "needs scores: a needs extract imported with `vc-eval import --needs FILE` (the "
    "council's review-by-review domain scores)"
)
COSTS_DATA = "weekly placement costs: a costs file imported with `vc-eval import --costs FILE`"
ABSENT: dict[str, str] = {
    "needs_profile": f"This section shows the prevalence of need by domain; it needs {NEEDS_DATA}.",
    "trajectories": f"This section shows need by age and peak ages; it needs {NEEDS_DATA}.",
    "need_change": f"This section shows how need changed between reviews; it needs {NEEDS_DATA}.",
    "cost_need": f"This section relates placement cost to assessed need; it needs {NEEDS_DATA}.",
    "outcomes": f"This section relates spend to need change and outcomes; it needs {NEEDS_DATA}.",
    "agreement": (
        "This section shows how closely two assessors scoring the same child agree; it needs "
        f"{NEEDS_DATA}, with some children scored by two assessors."
    ),
    "costs": f"This section shows spend on placements; it needs {COSTS_DATA}.",
}
TITLES: dict[str, str] = {
    "population": "The care population",
    "costs": "Placement costs",
    "stability": "Placement stability",
    "needs_profile": "Needs profile and complexity",
    "trajectories": "Need trajectories by age",
    "need_change": "Change in need over the period",
    "cost_need": "Cost against need and the needs-matched scenario",
    "outcomes": "Spend against outcome domains",
    "impact": "Programme impact",
    "agreement": "Assessor agreement",
    "data_quality": "Data quality: what was used and what was left out",
}


def _absent(key: str) -> Summary:
    return Summary.absent(TITLES[key], ABSENT[key], key=key)


def _keyed(sm: Summary, key: str) -> Summary:
    """The section's key and title on a result's summary (its findings keep their keys)."""
    sm.key = key
    sm.title = TITLES.get(key, sm.title)
    return sm


# --------------------------------------------------------------------------
# Results, computed once per context
# --------------------------------------------------------------------------


def _all_mix(ctx: ReportContext) -> pd.Series | None:
    from vc_eval.analysis import care

    if ctx.comparison != "all_councils":
        return None
    snap = ctx.all.placement_snapshot(ctx.period_end)
    return care.mix_from_counts(snap["type_counts"], snap["in_care"], snap["with_placement"])


def care_population(ctx: ReportContext) -> care.CarePopulation:
    from vc_eval.analysis import care

    return ctx.cached(
        "care_population",
        lambda: care.care_population(
            ctx.local,
            ctx.period_start,
            ctx.period_end,
            comparison=ctx.comparison,
            all_mix=_all_mix(ctx),
        ),
    )


def needs_profile_result(ctx: ReportContext) -> profile_analysis.NeedsProfile:
    """The needs profile of the period (latest assessment per child), with its comparison."""
    from vc_eval.analysis import profile as profile_analysis

    def run():
        prof = profile_analysis.needs_profile(
            ctx.local, period=(ctx.period_start, ctx.period_end), seed=ctx.seed, progress=False
        )
        prof.reference = _need_reference(ctx)
        scored, all_ = ctx.scored_domains, ctx.framework.domain_ids
        if len(scored) < len(all_):
            prof.caveats.append(
                f"The data hold scores for {len(scored)} of the framework's {len(all_)} domains "
                f"({display.labels(scored, ctx.framework)}); total need is the mean of the "
                "scored need domains only."
            )
        return prof

    return ctx.cached("profile", run)


def _need_reference(ctx: ReportContext) -> tuple[str, float] | None:
    """Mean latest total need to compare with: the previous period or all councils."""
    from vc_eval.analysis import profile as profile_analysis

    if ctx.comparison == "previous_period":
        snap = profile_analysis.latest_scores(ctx.local, period=ctx.previous_period)
        if snap.n_assessed >= MIN_N:
            return "in the previous period", float(snap.scores[TOTAL_NEED].mean())
    elif ctx.comparison == "all_councils":
        allv = ctx.all.latest_need(ctx.period_start, ctx.period_end)
        if allv["children"] >= MIN_N:
            return "across all councils in the data", float(allv["mean"])
    return None


def trajectory_fits(ctx: ReportContext) -> DomainFits:
    """Growth models per domain asked for, on all assessments up to the period end."""
    from vc_eval.analysis.trajectories import fit_domains

    return ctx.cached(
        "trajectories",
        lambda: fit_domains(
            ctx.local.scores_until(ctx.period_end),
            domains=[d for d in ctx.domains if d != TOTAL_NEED],
            include_total=TOTAL_NEED in ctx.domains,
            areas=False,
            basis="spline",
            random="slope",
            engine=ctx.engine,
            progress=False,
        ),
    )


def agreement_result(ctx: ReportContext) -> agreement_analysis.AgreementResult:
    from vc_eval.analysis import agreement as agreement_analysis

    a = ctx.local.assessments
    a = a[a[Col.assessment_date] <= ctx.period_end]
    return ctx.cached("agreement", lambda: agreement_analysis.agreement(a, framework=ctx.framework))


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def title(ctx: ReportContext) -> Summary:
    """Report title, period and what the data are."""
    sm = Summary(f"Impact update: {ctx.council}", key="title")
    fw = ctx.framework
    sm.say(
        "period",
        f"Reporting period: {ctx.period_text()}. Needs framework: {fw.name} (version "
        f"{fw.version}).",
    )
    if ctx.is_synthetic:
        sm.say(
            "synthetic",
            "Synthetic data: this report was made from a synthetic population; the council and "
            "the children are fictional. Nothing here describes real children.",
        )
    if fw.illustrative:
        sm.say("framework", "The needs framework is illustrative, not a council's own framework.")
    return sm


def _shown(key: str, res, *figures: Callable) -> Summary:
    """Section ``key``: the result's own summary, plus its report figures when it is ok.

    Each of ``figures`` takes the result and returns a :class:`FigureOut` or None.
    """
    sm = _keyed(res.summary(), key)
    if sm.status == "ok":
        sm.figures += [f for f in (draw(res) for draw in figures) if f is not None]
    return sm


def population(ctx: ReportContext) -> Summary:
    """Children in care: numbers, flows, age and sex, placement mix (SSDA903 alone)."""
    from vc_eval.plots import population as population_plots

    return _shown("population", care_population(ctx), population_plots.care_population_figure)


def costs(ctx: ReportContext) -> Summary:
    """Weekly spend on placements at the period end, by placement type."""
    from vc_eval.analysis import care
    from vc_eval.plots import population as population_plots

    if not ctx.has_costs:
        return _absent("costs")
    start = ctx.period_start if ctx.comparison == "previous_period" else None
    res = ctx.cached("costs", lambda: care.placement_costs(ctx.local, ctx.period_end, start=start))
    return _shown("costs", res, population_plots.costs_figure)


def stability(ctx: ReportContext) -> Summary:
    """Placements during the period of the children in care at its end."""
    from vc_eval.analysis import care
    from vc_eval.plots import population as population_plots

    res = ctx.cached(
        "stability",
        lambda: care.placement_stability(
            ctx.local,
            ctx.period_start,
            ctx.period_end,
            previous=ctx.comparison == "previous_period",
        ),
    )
    return _shown("stability", res, population_plots.stability_figure)


def needs_profile(ctx: ReportContext) -> Summary:
    """Prevalence of need by domain and band, complexity and profiles of need."""
    from vc_eval.plots import profile as profile_plots

    if not ctx.has_needs:
        return _absent("needs_profile")
    return _shown(
        "needs_profile",
        needs_profile_result(ctx),
        lambda prof: profile_plots.prevalence_figure(prof.prevalence),
        lambda prof: profile_plots.complexity_figure(prof.complexity),
    )


def need_change(ctx: ReportContext) -> Summary:
    """Change in need between each child's first and latest assessment in the period."""
    from vc_eval.plots import profile as profile_plots

    if not ctx.has_needs:
        return _absent("need_change")
    ch = needs_profile_result(ctx).change
    return _shown("need_change", ch, profile_plots.reliable_change_figure)


def trajectories(ctx: ReportContext) -> Summary:
    """Need by age: fitted growth curves and peak ages with intervals."""
    from vc_eval.plots import trajectories as trajectory_plots

    if not ctx.has_needs:
        return _absent("trajectories")
    if not ctx.domains:
        return Summary.insufficient(
            TITLES["trajectories"],
            "no domains were asked for (domains='none').",
            key="trajectories",
        )
    fits = trajectory_fits(ctx)
    sm = _keyed(fits.summary(n=PEAK_DRAWS, seed=ctx.seed, progress=False), "trajectories")
    if sm.status == "ok":
        sm.figures.append(trajectory_plots.domains_figure(fits, n=PEAK_DRAWS, seed=ctx.seed))
    return sm


def agreement(ctx: ReportContext) -> Summary:
    """Agreement between two assessors scoring the same child."""
    from vc_eval.plots import agreement as agreement_plots

    if not ctx.has_needs:
        return _absent("agreement")
    return _shown("agreement", agreement_result(ctx), agreement_plots.agreement_figure)


# -- cost, outcomes and impact -----------------------------------------------------

#: Bootstrap resamples for intervals in report sections (enough for 95% intervals).
REPORT_BOOT = 200


def _guarded(key: str, fn: Callable[[], Summary]) -> Summary:
    """A section from an analysis that may not cope with this council's data.

    The failure goes to the log; the page says in one line that the section
    could not be produced, never a traceback.
    """
    try:
        return _keyed(fn(), key)
    except (ValueError, KeyError, IndexError, np.linalg.LinAlgError) as err:
        log.warning("section %s not produced: %s: %s", key, type(err).__name__, err)
        return Summary.insufficient(
            TITLES[key],
            "the analysis could not be run on this council's data "
            f"({type(err).__name__}); the log of the run says why.",
            key=key,
        )


def _others(ctx: ReportContext) -> Dataset | None:
    """Every other council in the data (the needs-matched scenario's comparison), or None."""
    if ctx.all is not None:
        return ctx.all.others(ctx.council)
    others = [c for c in ctx.data.council_names() if c != ctx.council]
    return ctx.data.subset(others) if others else None


def spend_result(ctx: ReportContext) -> spend_analysis.SpendResult:
    """Cost against need and the needs-matched scenario against the other councils."""
    from vc_eval.analysis import spend as spend_analysis

    def run():
        # every council's snapshot is made once for a batch, and filtered here
        at, days = ctx.period_end, spend_analysis.LOOKBACK_DAYS
        reference = ctx.all.others_snapshot(ctx.council, at, days)
        return spend_analysis.spend(
            ctx.local,
            at=at,
            end=ctx.period_end,
            lookback_days=days,
            reference=reference,
            seed=ctx.seed,
            n_boot=REPORT_BOOT,
            progress=False,
        )

    return ctx.cached("spend", run)


def outcomes_result(ctx: ReportContext) -> outcome_analysis.OutcomesResult:
    """Spend against outcomes, and the programme's total effect against never-adopters."""
    from vc_eval.analysis import outcomes as outcome_analysis

    def run():
        res = outcome_analysis.outcomes(ctx.local, progress=False)
        adopted = ctx.local.councils[Col.programme_start].notna().any()
        never = [c for c in ctx.all.never_adopters() if c != ctx.council]
        if adopted and never:
            # the never-adopters' rows are made once from every council (and kept in the
            # cache): the same rows as those of concat([local, never-adopters])
            res.programme = outcome_analysis.programme_outcomes(
                ctx.local, comparison=ctx.all.programme_comparison()
            )
        return res

    return ctx.cached("outcomes", run)


def impact_result_for(ctx: ReportContext):
    """Every impact design for the council (the other councils are comparisons)."""
    from vc_eval.analysis.impact import impact_result

    series = ctx.cached("impact_series", lambda: ctx.all.series(ctx.period_end))

    def run():
        # the breakdowns by age and need do not depend on the council: they are built
        # once from every council's tables (and kept in the cache); a council that never
        # adopted has no estimate, so needs none
        adopted = ctx.local.councils[Col.programme_start].notna().any()
        groups = ctx.all.impact_groups() if adopted else None
        if groups is not None or not adopted:
            return impact_result(series, ctx.council, groups=groups)
        # the council and every comparison council, built the same way with or without a cache
        others = _others(ctx)
        data = ctx.local if others is None else concat([ctx.local, others])
        return impact_result(series, ctx.council, dataset=data)

    return ctx.cached("impact", run)


def _with_figure(key: str, result: Callable[[], object], figure: Callable) -> Summary:
    """:func:`_shown` for an analysis that may not cope with the council's data."""
    return _guarded(key, lambda: _shown(key, result(), figure))


def cost_need(ctx: ReportContext) -> Summary:
    """Cost against need, and the needs-matched scenario."""
    from vc_eval.plots import spend as spend_plots

    if not ctx.has_needs:
        return _absent("cost_need")
    return _with_figure("cost_need", lambda: spend_result(ctx), spend_plots.cost_need_figure)


def outcomes(ctx: ReportContext) -> Summary:
    """Spend against outcome domains, and the programme's effect on outcomes."""
    from vc_eval.plots import outcomes as outcome_plots

    if not ctx.has_needs:
        return _absent("outcomes")
    return _with_figure(
        "outcomes", lambda: outcomes_result(ctx), outcome_plots.change_by_type_figure
    )


def impact(ctx: ReportContext) -> Summary:
    """Programme impact: power first, then before/after and against comparison councils."""
    from vc_eval.plots import impact as impact_plots

    def run():
        res = impact_result_for(ctx)
        sm = res.summary()
        if sm.status == "ok":
            sm.figures += impact_plots.impact_figures(res)
        return sm

    return _guarded("impact", run)


def strengths(ctx: ReportContext) -> Summary:
    """Strengths beside needs and the child's own view (:mod:`.sections_strengths`)."""
    from vc_eval.reporting.sections_strengths import strengths as strengths_section

    return strengths_section(ctx)


# -- data quality ---------------------------------------------------------------


def _double_scored(assessments: pd.DataFrame) -> int:
    """Pairs of scorings of one child by two assessors (the agreement section's pairs)."""
    from vc_eval.analysis import agreement as agreement_analysis

    if assessments.empty:
        return 0
    return int(agreement_analysis.find_pairs(assessments)["pair"].nunique())


def data_quality(ctx: ReportContext) -> Summary:
    """What the data hold for this council, and what each analysis left out and why."""
    sm = Summary(TITLES["data_quality"], key="data_quality")
    ds = ctx.local
    kids, a, pl = ds.children, ds.assessments, ds.placements
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    sets = a.drop_duplicates(keys)
    in_period = sets[
        (sets[Col.assessment_date] >= ctx.period_start)
        & (sets[Col.assessment_date] <= ctx.period_end)
    ]
    after = sets[sets[Col.assessment_date] > ctx.period_end]
    ever_in_period = kids[
        (kids[Col.entered_care] <= ctx.period_end)
        & (kids[Col.left_care].isna() | (kids[Col.left_care] >= ctx.period_start))
    ]
    never = ever_in_period[~ever_in_period[Col.child_id].isin(in_period[Col.child_id])]
    dates = sets.merge(kids[[Col.child_id, Col.entered_care, Col.left_care]], on=Col.child_id)
    outside_care = dates[
        (dates[Col.assessment_date] < dates[Col.entered_care])
        | (dates[Col.assessment_date] > dates[Col.left_care])
    ]
    imputed = int(pl[Col.cost_imputed].sum()) if Col.cost_imputed in pl else 0
    rows = [
        ("Children in the data for this council", len(kids), "children", "all sections"),
        (
            "Children in care during the period with no assessment in it",
            len(never),
            "children",
            "left out of needs sections for the period",
        ),
        (
            "Assessments (child, date, assessor) in the period",
            len(in_period),
            "assessments",
            "needs sections",
        ),
        ("Assessments after the period end", len(after), "assessments", "left out"),
        (
            "Assessments dated outside the child's time in care",
            len(outside_care),
            "assessments",
            "kept; check recording",
        ),
        (
            f"Children scored by two assessors within {SECOND_SCORING_DAYS} days (pairs)",
            _double_scored(a),
            "pairs",
            "agreement; both scores kept elsewhere",
        ),
        (
            "Placements with an estimated weekly cost",
            imputed,
            "placements",
            "cost sections (cost is an estimate)",
        ),
    ]
    frame = pd.DataFrame(rows, columns=["Check", "Number", "Of", "Used in / effect"])
    st = privacy.suppress(frame.set_index("Check")[["Number"]], totals="none")
    frame["Number"] = st.table["Number"].to_numpy()
    # Each row counts a population of its own (children, assessments, pairs,
    # placements), stated nowhere else on the page: its own universe.
    sm.tables.append(
        Table(
            "What the data hold and what was left out",
            frame,
            {"Check": "label", "Number": "count", "Of": "text", "Used in / effect": "text"},
            "Numbers 1-5 are shown as c.",
            cell_universes={(str(c), "Number"): f"data quality: {c}" for c in frame["Check"]},
        )
    )
    sm.say(
        "checks",
        "The data were checked against the vc-eval data model when loaded (types, allowed "
        "codes, dates in order, links between tables); data breaking those rules stop the "
        "report instead of being silently dropped. The table lists what each analysis used "
        "and what it left out.",
    )
    if not ctx.has_needs:
        sm.say("no_needs", f"The data hold no needs scores for this council ({NEEDS_DATA}).")
    else:
        scored = ctx.scored_domains
        unscored = [d for d in ctx.framework.domain_ids if d not in scored]
        if unscored:
            sm.caveats.append(
                "No scores at all for: " + display.labels(unscored, ctx.framework) + "."
            )
    if ctx.has_costs and not ctx.costs_recorded:
        sm.caveats.append(
            "No weekly costs were imported: every cost is an estimate from typical costs by "
            "placement type."
        )
    imp = ds.metadata.get("import") or ds.metadata.get("import_report")
    if isinstance(imp, dict) and imp:
        sm.caveats.append(
            "The data were imported from council systems; the import report lists rows "
            "dropped at import and why."
        )
    sm.headline["assessments"] = display.safe_count(len(in_period))
    return sm


# -- methods and provenance -------------------------------------------------------


def provenance(ctx: ReportContext):
    """The :class:`vc_eval.core.provenance.Provenance` of this report (cached)."""
    from vc_eval.core.provenance import collect

    return ctx.cached(
        "provenance",
        lambda: collect(
            ctx.parameters, data_dir=ctx.data_dir, dataset=ctx.all, framework=ctx.framework
        ),
    )


def methods(ctx: ReportContext, sections: Sequence[Summary] = ()) -> Summary:
    """Methods, caveats and provenance (parameters, input fingerprints, versions)."""
    sm = Summary("Methods, caveats and provenance", key="methods")
    lo, hi = privacy.THRESHOLD
    sm.say(
        "disclosure",
        "Disclosure control: every table follows the rules of the DfE's children's social care "
        f"statistics: counts from {lo} to {hi} are shown as c, further cells are hidden where a "
        "hidden count could otherwise be worked out from totals, percentages are whole numbers "
        "and are hidden with their counts, and averages about fewer than "
        f"{MIN_N} children are hidden. Figures show only aggregates: no point, bar or line is "
        f"drawn for fewer than {MIN_N} children. No child, assessor or provider identifier "
        "appears in this report.",
    )
    sm.say(
        "observational",
        "What the analyses can and cannot show: the comparisons here are observational: "
        "children differ in ways the data do not record, so differences between groups, "
        "periods or councils are not proof that one caused the other. Small councils give "
        "wide intervals. Need scores are practitioners' judgements and differ between "
        "assessors (see assessor agreement).",
    )
    sm.say(
        "trajectories",
        "Need trajectories are linear mixed models fitted by restricted maximum likelihood, "
        "with a natural cubic spline in age, a random intercept and slope per child, and peak "
        "ages with intervals from draws of the fixed effects.",
    )
    sm.say(
        "reproducibility",
        "Reproducibility: rerunning with the same data, parameters and seed gives the same "
        "numbers. The table below records everything needed to do so.",
    )
    absent = [s.title for s in sections if s.status == "absent"]
    if absent:
        sm.caveats.append(
            "Sections without the data they need for this council: " + "; ".join(absent) + "."
        )
    frame = provenance(ctx).to_frame()
    frame.columns = ["Group", "Item", "Value"]
    sm.tables.append(
        Table(
            "Provenance: parameters, input files, framework and versions",
            frame,
            {"Group": "label", "Item": "label", "Value": "label"},
        )
    )
    return sm


# -- the report as a whole ------------------------------------------------------------


SECTION_FUNCTIONS: dict[str, Callable[[ReportContext], Summary]] = {
    "population": population,
    "costs": costs,
    "stability": stability,
    "needs_profile": needs_profile,
    "trajectories": trajectories,
    "need_change": need_change,
    "cost_need": cost_need,
    "outcomes": outcomes,
    "impact": impact,
    "agreement": agreement,
    "strengths": strengths,
    "data_quality": data_quality,
}

#: The findings the executive summary repeats, in order: (section, finding key).
EXECUTIVE_FINDINGS: tuple[tuple[str, str], ...] = (
    ("population", "population.in_care"),
    ("needs_profile", "prevalence.assessed"),
    ("needs_profile", "needs_profile.mean_total"),
    ("costs", "costs.total"),
    ("trajectories", "trajectories.total_peaks"),
    ("needs_profile", "complexity.three_plus"),
    ("need_change", "change.mean"),
    ("need_change", "change.reliable"),
    ("stability", "stability.three_plus"),
    ("agreement", "agreement.total"),
    ("cost_need", "cost_need.variance"),
    ("cost_need", "scenario.saving"),
    ("impact", "impact.not_adopted"),
    ("impact", "impact.design"),
    ("impact", "its.share_in_house_foster.12m"),
    ("impact", "did.share_in_house_foster.12m"),
    ("impact", "its.weekly_spend.12m"),
    ("impact", "did.weekly_spend.12m"),
)


def computed(ctx: ReportContext, key: str) -> Summary:
    """A section by key as its result made it (before the page audit), computed once.

    BLAS runs on one thread: a report's sections are computed in two processes
    at once (or a batch's councils in one worker per core), where BLAS threads
    only compete for the same cores (measured: 14% more CPU per council in a
    2-worker batch); and a section's numbers do not depend on the core count.
    """
    from vc_eval.analysis.lmm_fast import single_thread_blas

    def run() -> Summary:
        with single_thread_blas():
            return _off_pyplot(SECTION_FUNCTIONS[key](ctx))

    return ctx.cached(f"section_{key}", run)


def _off_pyplot(sm: Summary) -> Summary:
    """The section's figures taken out of pyplot's list of open figures.

    A figure drawn through pyplot stays registered there, and a notebook's
    inline backend shows every registered figure at the end of the cell that
    made it: a second copy of the figure, without its alt text, at the top of
    the report. The figures themselves stay usable (shown as PNGs by :func:`show`).
    """
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        for f in sm.figures:
            if f.figure is not None:
                plt.close(f.figure)  # a no-op for figures made outside pyplot
    return sm


def use_computed(ctx: ReportContext, key: str, sm: Summary) -> None:
    """Give ``ctx`` section ``key`` as computed elsewhere (another process, same
    data and parameters: :mod:`vc_eval.reporting.pages`), so it is not computed again."""
    if key not in SECTION_FUNCTIONS:
        raise KeyError(key)
    ctx._cache[f"section_{key}"] = sm


def all_sections(ctx: ReportContext) -> list[Summary]:
    """Every section as computed (before the page audit), in page order."""
    return [computed(ctx, k) for k in SECTION_FUNCTIONS]


def section(ctx: ReportContext, key: str) -> Summary:
    """A part of the page as shown, after the page-level disclosure audit.

    ``key`` is a section key (:data:`SECTION_FUNCTIONS`) or ``"title"``,
    ``"summary"`` (executive summary) or ``"methods"``.
    """
    for s in page(ctx):
        if s.key == key:
            return s
    raise KeyError(key)


def executive_summary(ctx: ReportContext) -> Summary:
    """The sections' own headline findings, and the headline numbers of every section."""

    def run():
        secs = {s.key: s for s in all_sections(ctx)}
        sm = Summary("Executive summary", key="summary")
        for key, finding in EXECUTIVE_FINDINGS:
            s = secs[key]
            if s.status != "ok":
                continue
            try:
                sm.findings.append(s.finding(finding))
            except KeyError:
                continue
        for what, data in (("needs scores", NEEDS_DATA), ("costs", COSTS_DATA)):
            missing = [
                s.title
                for k, s in secs.items()
                if s.status == "absent" and data in ABSENT.get(k, "")
            ]
            if missing:
                sm.caveats.append(
                    f"Not in this report, for want of {what}: {'; '.join(missing)}. They need "
                    f"{data}."
                )
        thin = [s.title for s in secs.values() if s.status == "insufficient"]
        if thin:
            sm.caveats.append(
                "Sections without enough data for this council: " + "; ".join(thin) + "."
            )
        numbers: dict = {}
        for s in secs.values():
            numbers.update({k: v for k, v in s.headline.items() if not k.startswith("_")})
        sm.headline = numbers
        sm.tables.append(_headline_table(numbers))
        ctx.headline.update(numbers)
        return sm

    return ctx.cached("executive_summary", run)


HEADLINE_LABELS: dict[str, str] = {
    "children_in_care_end": "Children in care at period end",
    "children_in_care_start": "Children in care at period start",
    "entered_care": "Children who entered care in the period",
    "left_care": "Children who left care in the period",
    "children_assessed": "Children assessed in the period",
    "assessments": "Assessments in the period",
    "mean_total_need_latest": "Average total need at latest assessment (0-100)",
    "weekly_spend_end": "Weekly placement spend at period end",
    "weekly_cost_per_child_end": "Average weekly cost per child at period end",
    "share_3plus_placements": "Children in care at period end with 3+ placements in the period",
    "total_need_peak_ages": "Peak ages of total need (years)",
    "share_3plus_high_need_domains": "Children with high need in 3+ domains",
    "mean_total_need_change": "Average change in total need, first to latest assessment",
    "share_reliably_improved": "Children whose total need reliably improved",
    "share_reliably_deteriorated": "Children whose total need reliably deteriorated",
    "cost_need_spearman_total": "Correlation of weekly cost with total need",
    "needs_matched_annual_saving": "Needs-matched scenario: saving a year",
    "need_change_per_spend_doubling": "Change in total need per 6 months per doubling of spend",
    "icc_total_need": "Assessor agreement on total need (ICC)",
}
MONEY_KEYS = ("weekly_spend_end", "weekly_cost_per_child_end", "needs_matched_annual_saving")
COUNT_KEYS = (
    "children_in_care_end",
    "children_in_care_start",
    "entered_care",
    "left_care",
    "children_assessed",
    "assessments",
)


def _headline_text(k: str, v) -> str:
    if isinstance(v, list):
        return ", ".join(f"{x:.1f}" for x in v) if v else "no clear peak"
    if isinstance(v, str):
        return v
    if k in COUNT_KEYS:
        return display.count_text(v)
    if k in MONEY_KEYS:
        return display.money(v)
    if k == "need_change_per_spend_doubling":
        return f"{v:+.2f}"
    if k in ("cost_need_spearman_total", "icc_total_need"):
        return f"{v:.2f}"
    if k == "mean_total_need_change":
        return f"{v:+.1f}"
    return f"{v:,.1f}"


def _headline_table(numbers: dict) -> Table:
    rows = [
        {"Measure": HEADLINE_LABELS[k], "Value": _headline_text(k, v)}
        for k, v in numbers.items()
        if k in HEADLINE_LABELS and v is not None
    ]
    return Table(
        "Headline numbers",
        pd.DataFrame(rows, columns=["Measure", "Value"]),
        {"Measure": "label", "Value": "value"},
    )


def _headline_counts(ctx: ReportContext) -> dict:
    """Counts of children the headline JSON states, with what they count."""
    from vc_eval.analysis import care
    from vc_eval.analysis import profile as profile_analysis

    pop = care_population(ctx)
    f = pop.flows
    out = {
        "children_in_care_end": Count(pop.n_end, care.IN_CARE_END),
        "children_in_care_start": Count(pop.n_start, care.IN_CARE_START),
    }
    if not f["hidden"]["entered"]:
        out["entered_care"] = Count(f["values"]["entered"], care.ENTERED)
    if not f["hidden"]["left"]:
        out["left_care"] = Count(f["values"]["left"], care.LEFT)
    if ctx.has_needs:
        n = needs_profile_result(ctx).prevalence.snapshot.n_assessed
        out["children_assessed"] = Count(n, profile_analysis.ASSESSED)
    return out


def page(ctx: ReportContext) -> list[Summary]:
    """Every Summary of the report in page order, after the page-level disclosure audit.

    Title, executive summary, the sections and methods are audited together
    (:func:`vc_eval.core.privacy.audit_page`): every count the page states, in
    tables, sentences and the headline numbers, is checked against the others,
    and where a count of 1-5 could be worked out more is hidden or a sentence
    withheld, and the page says so. Nothing is shown before this has run.

    With a report cache (``ctx.page_store``), the finished page (figures as
    PNGs at ``ctx.figure_dpi``, the audit, the headline numbers and key
    figures) is kept in the cache entry of the data, keyed by the parameters
    and the code (:func:`vc_eval.reporting.cache.page_key`): the same report
    asked for again is read back, byte for byte what it would compute.
    """

    def run():
        key = _page_key(ctx)
        stored = cache.load_page(ctx.page_store, key)
        if stored is not None:
            ctx._cache["page_audit"] = stored["audit"]
            ctx._cache["key_figures"] = stored["key_figures"]
            ctx._cache["headline_json"] = stored["headline"]
            ctx.headline.clear()
            ctx.headline.update(stored["headline"]["numbers"])
            return stored["page"]
        shown = _audited_page(ctx)
        if ctx.page_store is not None:
            shown = [
                replace(s, figures=[cache.RenderedFigure.of(f, ctx.figure_dpi) for f in s.figures])
                for s in shown
            ]
            ctx._cache["page"] = shown  # headline() and key_figures() below read it
            # the audit's copies of the summaries are the page itself (PNGs, not figures)
            ctx._cache["page_audit"] = replace(ctx._cache["page_audit"], summaries=shown)
            cache.save_page(
                ctx.page_store,
                key,
                {
                    "page": shown,
                    "audit": ctx._cache["page_audit"],
                    "key_figures": key_figures(ctx),
                    "headline": headline(ctx),
                },
            )
        return shown

    return ctx.cached("page", run)


def _page_key(ctx: ReportContext) -> str:
    return cache.page_key({**ctx.parameters, "figure_dpi": ctx.figure_dpi})


def page_is_stored(ctx: ReportContext) -> bool:
    """Whether the finished page of this report is in the report cache (see :func:`page`)."""
    return cache.has_page(ctx.page_store, _page_key(ctx))


def _audited_page(ctx: ReportContext) -> list[Summary]:
    secs = all_sections(ctx)
    raw = [title(ctx), executive_summary(ctx), *secs, methods(ctx, secs)]
    audit = privacy.audit_page(raw, _headline_counts(ctx))
    shown = list(audit.summaries)
    if audit.headline_withheld:
        for k in audit.headline_withheld:
            ctx.headline[k] = None
        ex = shown[1]
        numbers = {k: v for k, v in ex.headline.items() if k not in audit.headline_withheld}
        shown[1] = replace(ex, headline=numbers, tables=[_headline_table(numbers)])
    if audit.notes:
        shown[-1] = replace(shown[-1], caveats=[*shown[-1].caveats, *audit.notes])
    ctx._cache["page_audit"] = audit
    return shown


def page_audit(ctx: ReportContext) -> privacy.PageAudit:
    """What the page-level audit found and did (see :func:`page`)."""
    page(ctx)
    return ctx._cache["page_audit"]


def headline(ctx: ReportContext) -> dict:
    """Headline numbers of the report, for the JSON sidecar (no identifiers, counts 1-5 as c)."""
    page(ctx)  # the audit may withhold headline counts
    return ctx.cached("headline_json", lambda: _headline_json(ctx))


def _headline_json(ctx: ReportContext) -> dict:
    return {
        "council": ctx.council,
        "period_start": str(ctx.period_start.date()),
        "period_end": str(ctx.period_end.date()),
        "comparison": ctx.comparison,
        "numbers": dict(ctx.headline),
        "data_fingerprint": provenance(ctx).dataset_fingerprint,
        "framework": f"{ctx.framework.id} {ctx.framework.version}",
    }


def key_figures(ctx: ReportContext) -> str:
    """Stable plain-text figures (population and assessments), checked by nbval."""
    return ctx.cached("key_figures", lambda: _key_figures(ctx))


def _key_figures(ctx: ReportContext) -> str:
    pop = care_population(ctx)
    lines = [
        f"council: {ctx.council}",
        f"period: {ctx.period_start.date()} to {ctx.period_end.date()}",
        f"children in care at start: {display.count_text(pop.n_start)}",
        f"children in care at end: {display.count_text(pop.n_end)}",
    ]
    if ctx.has_needs:
        prof = needs_profile_result(ctx)
        n = prof.prevalence.snapshot.n_assessed
        mean = prof.mean_total()
        a = ctx.local.assessments
        a = a[
            (a[Col.assessment_date] >= ctx.period_start)
            & (a[Col.assessment_date] <= ctx.period_end)
        ]
        sets = a.drop_duplicates([Col.child_id, Col.assessment_date, Col.assessor_id])
        lines += [
            f"children assessed: {display.count_text(n)}",
            f"assessments: {display.count_text(len(sets))}",
            "mean total need at latest assessment: "
            + (f"{mean:.1f}" if n >= MIN_N and np.isfinite(mean) else "not shown"),
        ]
    else:
        lines.append("needs scores: none in the data")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Display (used in notebooks)
# --------------------------------------------------------------------------


def quiet_kernel() -> None:
    """Inside a report kernel: no progress bars, warnings to the log (never to the page).

    Warnings a reader needs are already in the results' caveats.
    """
    import warnings

    os.environ["TQDM_DISABLE"] = "1"
    logging.captureWarnings(True)
    pw = logging.getLogger("py.warnings")
    pw.propagate = False
    if not pw.handlers:
        pw.addHandler(logging.NullHandler())
    warnings.simplefilter("default")


def show(sm: Summary, *, dpi: int = 90, level: int = 2) -> None:
    """Display a Summary in a notebook: HTML text and tables, PNG figures with alt text, caveats."""
    from IPython.display import HTML, display

    display(HTML(replace(sm, caveats=[], figures=[]).to_html(level)))
    for f in sm.figures:
        data = base64.b64encode(f.png(dpi)).decode("ascii")
        display(
            {"image/png": data, "text/plain": f.alt},
            raw=True,
            metadata={"image/png": {"alt": f.alt}},
        )
        if f.caption:
            display(HTML(f'<p class="figure-caption"><em>{_esc(f.caption)}</em></p>'))
    if sm.caveats:
        items = "".join(f"<li>{_esc(c)}</li>" for c in sm.caveats)
        display(HTML(f'<ul class="caveats">{items}</ul>'))
    sm.close()


def _esc(text: str) -> str:
    from vc_eval.core.summary import escape_html

    return escape_html(text)


def emit_headline(ctx: ReportContext) -> None:
    """Output the headline numbers as JSON for ``render`` to save beside the report."""
    from IPython.display import display

    data = json.loads(json.dumps(headline(ctx), default=str))
    display({HEADLINE_MIME: data, "text/plain": "headline numbers recorded"}, raw=True)


__all__ = [
    "ABSENT",
    "COMPARISONS",
    "CONTEXT_PARAMETERS",
    "ENGINES",
    "HEADLINE_MIME",
    "PEAK_DRAWS",
    "FigureOut",
    "ReportContext",
    "ReportInputError",
    "Section",
    "Summary",
    "Table",
    "agreement",
    "all_sections",
    "build_context",
    "cost_need",
    "costs",
    "count_table",
    "data_quality",
    "emit_headline",
    "executive_summary",
    "headline",
    "impact",
    "key_figures",
    "methods",
    "need_change",
    "needs_profile",
    "outcomes",
    "computed",
    "page",
    "page_is_stored",
    "page_audit",
    "parse_date",
    "parse_domains",
    "population",
    "quiet_kernel",
    "section",
    "show",
    "stability",
    "stat_table",
    "title",
    "trajectories",
    "use_computed",
]
