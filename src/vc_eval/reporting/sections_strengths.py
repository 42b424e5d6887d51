"""The report section on strengths beside needs and the child's own view.

Like every section (:mod:`vc_eval.reporting.sections`), it only composes the
``summary()`` of analysis results (each sentence, judgement word and count of
children made by the result from its own numbers) and figures drawn by
:mod:`vc_eval.plots` from the same results:

* :func:`vc_eval.analysis.strengths.strengths_beside_needs`: strengths
  beside needs, and the direction of change first to latest ("better" as
  the framework declares it);
* :func:`vc_eval.analysis.strengths.strength_cost`: does money follow
  strengths as well as need?
* :func:`vc_eval.analysis.child_view.child_view_agreement`: the child's own
  rating beside the practitioner's, per domain, and where they differ most.

A council whose data hold no strength scores or no children's ratings gets
one line saying so for each (SSDA903-only data: one line for the section).
"""

from __future__ import annotations

from collections.abc import Callable

from vc_eval.analysis.child_view import ChildViewResult, child_view_agreement
from vc_eval.analysis.strengths import (
    StrengthCostResult,
    StrengthsResult,
    strength_cost,
    strengths_beside_needs,
)
from vc_eval.core.dataset import Dataset
from vc_eval.core.privacy import MIN_N
from vc_eval.core.schema import ASSESSMENTS, CHILD_ROLE, Col, rater_roles
from vc_eval.core.summary import FigureOut, Finding, Summary
from vc_eval.reporting.context import ReportContext

KEY = "strengths"
TITLE = "Strengths and the child's own view"
#: Bootstrap resamples for the cost-against-strengths intervals in a report.
REPORT_BOOT = 200
ABSENT = (
    "This section shows strengths beside needs and the child's own view beside the "
    "practitioner's; it needs a needs extract with strength-domain scores or with "
    "children's ratings of their own needs (a rater role column), imported with "
    "`vc-eval import --needs FILE`."
)


def _period(ctx: ReportContext) -> Dataset:
    """The council's data with only the scores (and ratings) dated in the period."""
    ds = ctx.local
    r = ds.ratings
    keep = (r[Col.assessment_date] >= ctx.period_start) & (r[Col.assessment_date] <= ctx.period_end)
    tables = dict(ds.tables)
    tables[ASSESSMENTS] = r[keep].reset_index(drop=True)
    return Dataset(tables, metadata=ds.metadata, framework=ds.framework, files=ds.files)


def strengths_result(ctx: ReportContext) -> StrengthsResult:
    """Strengths beside needs, first to latest assessment in the period."""
    return ctx.cached("strengths", lambda: strengths_beside_needs(_period(ctx)))


def strength_cost_result(ctx: ReportContext) -> StrengthCostResult:
    """Weekly cost against strengths beside cost against need, in the period."""
    return ctx.cached(
        "strength_cost",
        lambda: strength_cost(
            ctx.local,
            start=ctx.period_start,
            end=ctx.period_end,
            n_boot=REPORT_BOOT,
            seed=ctx.seed,
        ),
    )


def child_view_result(ctx: ReportContext) -> ChildViewResult:
    """The child's own ratings in the period beside the practitioners'."""
    return ctx.cached(
        "child_view",
        lambda: child_view_agreement(_period(ctx).ratings, framework=ctx.framework),
    )


def has_strengths(ds: Dataset) -> bool:
    """Whether any practitioner scored a strength domain."""
    return bool(ds.assessments[Col.domain].astype(str).isin(ds.framework.strength_domains).any())


def has_child_ratings(ds: Dataset) -> bool:
    """Whether any score is the child's own rating."""
    return bool((rater_roles(ds.ratings) == CHILD_ROLE).any())


def _figure(res, alt: str, draw: Callable, size: tuple[float, float], marks=None) -> FigureOut:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    draw(res, ax=ax)
    return FigureOut(fig, alt=alt, marks=marks)  # marks: children behind each, for the audit


def _strength_figures(res: StrengthsResult, sm: Summary) -> list[FigureOut]:
    from vc_eval.plots.strengths import plot_strengths_by_age, strengths_marks

    # the plot draws only age bands of 6 or more children
    if res.by_age[res.by_age["kind"] == "strength"].empty:
        return []
    f = sm.findings[0]
    alt = f"Mean need and strength scores by age band. {f.text}"
    return [_figure(res, alt, plot_strengths_by_age, (8, 4.5), strengths_marks(res))]


def _cost_figures(res: StrengthCostResult, sm: Summary) -> list[FigureOut]:
    from vc_eval.plots.strengths import plot_strength_cost, strength_cost_marks

    t = res.table
    if t[(t["children"] >= MIN_N) & t["ci_low"].notna()].empty:
        return []
    alt = " ".join(f.text for f in sm.findings[1:3])
    n = len(t)
    return [_figure(res, alt, plot_strength_cost, (7, 0.45 * n + 1.5), strength_cost_marks(res))]


def _child_figures(res: ChildViewResult, sm: Summary) -> list[FigureOut]:
    from vc_eval.plots.child_view import child_view_marks, plot_child_view

    t = res.table
    shown = t[(t["n_pairs"] >= MIN_N) & t["mean_diff"].notna()]
    if shown.empty:
        return []
    alt = sm.finding("child_view.differs_most").text
    return [_figure(res, alt, plot_child_view, (7, 0.4 * len(shown) + 1.5), child_view_marks(res))]


def _add(sm: Summary, part: Summary, figures: Callable[[], list[FigureOut]]) -> None:
    """A result's findings, tables and caveats (and figures when it is ok) into the section."""
    if part.status != "ok":
        # one line saying what is missing (no numbers)
        sm.findings.append(part.findings[0])
        return
    sm.findings += part.findings
    sm.tables += part.tables
    sm.caveats += [c for c in part.caveats if c not in sm.caveats]
    sm.headline.update(part.headline)
    sm.figures += figures()


def strengths(ctx: ReportContext) -> Summary:
    """Strengths beside needs, money against strengths, and the child's own view."""
    ds = ctx.local
    s_on, c_on = has_strengths(ds), has_child_ratings(ds)
    if not (s_on or c_on):
        return Summary.absent(TITLE, ABSENT, key=KEY)
    sm = Summary(TITLE, key=KEY)
    if s_on:
        res = strengths_result(ctx)
        part = res.summary()
        _add(sm, part, lambda: _strength_figures(res, part))
        cost = strength_cost_result(ctx)
        cpart = cost.summary()
        _add(sm, cpart, lambda: _cost_figures(cost, cpart))
    else:
        sm.findings.append(
            Finding(
                "strengths.absent",
                "The data hold no strength scores: only needs are recorded for this council.",
            )
        )
    if c_on:
        cv = child_view_result(ctx)
        part = cv.summary()
        _add(sm, part, lambda: _child_figures(cv, part))
    else:
        sm.findings.append(
            Finding(
                "child_view.absent",
                "The data hold no ratings by children of their own needs (no scores with the "
                "rater role 'child').",
            )
        )
    return sm


__all__ = [
    "ABSENT",
    "KEY",
    "TITLE",
    "child_view_result",
    "has_child_ratings",
    "has_strengths",
    "strength_cost_result",
    "strengths",
    "strengths_result",
]
