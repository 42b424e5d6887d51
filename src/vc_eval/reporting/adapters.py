"""Temporary home of three report sections while other branches land (see sections.py)."""

from __future__ import annotations

from vc_eval.analysis import outcomes as outcomes_mod
from vc_eval.analysis import spend as spend_mod
from vc_eval.analysis.impact import impact_result
from vc_eval.core.schema import Col
from vc_eval.core.summary import Summary
from vc_eval.plots import impact as impact_plots
from vc_eval.plots import outcomes as outcome_plots
from vc_eval.plots import spend as spend_plots
from vc_eval.reporting.context import ReportContext

#: Bootstrap resamples for intervals in report sections (enough for 95% intervals).
REPORT_BOOT = 200


def _comparison(ctx: ReportContext):
    """The other councils in the data (the needs-matched scenario's comparison), or None."""
    if ctx.all is not None:
        return ctx.all.others(ctx.council)
    others = [c for c in ctx.data.council_names() if c != ctx.council]
    return ctx.data.subset(others) if others else None


def cost_need_section(ctx: ReportContext) -> Summary:
    """Cost against need and the needs-matched scenario: :meth:`SpendResult.summary`."""
    sp = ctx.cached(
        "spend",
        lambda: spend_mod.spend(
            ctx.local,
            at=ctx.period_end,
            end=ctx.period_end,
            reference=_comparison(ctx),
            seed=ctx.seed,
            n_boot=REPORT_BOOT,
            progress=False,
        ),
    )
    sm = sp.summary()
    if sm.status == "ok":
        fig = spend_plots.cost_need_figure(sp)
        if fig is not None:
            sm.figures.append(fig)
    return sm


def outcomes_section(ctx: ReportContext) -> Summary:
    """Spend against outcomes and the programme effect on them (``OutcomesResult.summary``)."""

    def run():
        res = outcomes_mod.outcomes(ctx.local, progress=False)
        data = ctx.data
        if data is not None:
            cs = data.councils
            never = cs.loc[cs[Col.programme_start].isna(), Col.council].tolist()
            if never and ctx.council not in never:
                res.programme = outcomes_mod.programme_outcomes(data.subset([ctx.council, *never]))
        return res

    oc = ctx.cached("outcomes", run)
    sm = oc.summary()
    if sm.status == "ok":
        fig = outcome_plots.change_by_type_figure(oc)
        if fig is not None:
            sm.figures.append(fig)
    return sm


def impact_section(ctx: ReportContext) -> Summary:
    """Programme impact for the council: :func:`vc_eval.analysis.impact.impact_result`."""
    series = ctx.cached("impact_series", lambda: ctx.all.series(ctx.period_end))
    res = ctx.cached(
        "impact",
        lambda: impact_result(
            series, ctx.council, dataset=ctx.data if ctx.data is not None else ctx.local
        ),
    )
    sm = res.summary()
    if sm.status == "ok":
        sm.figures += impact_plots.impact_figures(res)
    return sm
