"""The impact section of a council's report, as one :class:`Summary`.

:func:`impact_result` runs every design the report shows for one council
(power first, then before/after and comparison councils for each outcome,
then sensitivity checks), and composes their own findings, tables and
caveats into one Summary (:func:`impact_summary` returns just that). The
report calls it and writes nothing of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vc_eval.analysis.impact import inference
from vc_eval.analysis.impact.council_did import council_did
from vc_eval.analysis.impact.its import its
from vc_eval.analysis.impact.power import PowerResult, impact_power
from vc_eval.analysis.impact.sensitivity import heterogeneity, sensitivity
from vc_eval.analysis.impact.series import COHORT
from vc_eval.analysis.impact.words import (
    CANNOT_TELL,
    council_did_caveats,
    council_did_findings,
    effects_table,
    its_caveats,
    its_findings,
    power_findings,
    power_table,
)
from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import Col
from vc_eval.core.summary import Finding, Result, Summary

#: Series the report analyses for programme impact (each has a truth in
#: ``truth.json`` for synthetic data; children in care is not among them because
#: the synthetic programme does not change entries or exits).
IMPACT_OUTCOMES: tuple[str, ...] = (
    "share_in_house_foster",
    "mean_weekly_cost",
    "weekly_spend",
    "mean_total_need",
)
HORIZONS: tuple[int, ...] = (12, 24)


@dataclass
class ImpactResult(Result):
    """Every impact design the report shows for one council, and their Summary.

    Attributes
    ----------
    council : str
    results : dict
        (design, outcome) -> :class:`ITSResult` or :class:`CouncilDiDResult`;
        design is "before/after" or "comparison councils".
    power : PowerResult or None
    checks : list of SensitivityResult
    """

    council: str
    results: dict = field(default_factory=dict)
    power: PowerResult | None = None
    checks: list = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    summary_: Summary | None = field(default=None, repr=False)

    _plot = "impact:plot_impact"

    def to_frame(self) -> pd.DataFrame:
        frames = [
            r.to_frame().assign(design=d) for (d, _), r in self.results.items() if len(r.effects)
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> Summary:
        return self.summary_

    def figures_wanted(self) -> list[tuple[str, str]]:
        """(design, outcome) pairs worth a figure, in report order."""
        return [k for k in self.results if k[1] in ("share_in_house_foster", "weekly_spend")]


def impact_summary(series: pd.DataFrame, council: str, **kwargs) -> Summary:
    """The impact section's :class:`Summary` for one council (see :func:`impact_result`)."""
    return impact_result(series, council, **kwargs).summary()


def impact_result(
    series: pd.DataFrame,
    council: str,
    *,
    outcomes: tuple[str, ...] = IMPACT_OUTCOMES,
    horizons: tuple[int, ...] = HORIZONS,
    alpha: float = 0.05,
    checks: str | None = "weekly_spend",
    dataset: Dataset | None = None,
    groups: Mapping[str, Mapping[str, pd.DataFrame | str] | ValueError] | None = None,
) -> Summary:
    """Programme impact for one council: power, then estimates, with their limits.

    Parameters
    ----------
    series : DataFrame
        :func:`vc_eval.analysis.impact.council_series` of every council in
        the data (the others are the comparison and placebo councils).
    council : str
        The report's council.
    checks : str, optional
        Outcome whose comparison-council estimate gets the sensitivity tables
        (placebo start dates, leave one comparison council out, other
        windows) and, with ``dataset``, the tables by age group and need band
        at entry; None for none.
    dataset : Dataset, optional
        The data behind ``series`` (needed for the age and need breakdowns).
    groups : mapping, optional
        ``{"age": ..., "need": ...}``: the breakdowns' series already built
        from the same data (:func:`~vc_eval.analysis.impact.sensitivity.group_series`;
        a batch builds them once for all its councils; the ValueError that
        building them raised, if it did), instead of ``dataset``.

    Returns
    -------
    ImpactResult
        Its ``summary()``: findings (what the data could detect, then one per
        design, outcome and horizon with its judgement word), the power,
        effects and sensitivity tables, caveats, and ``headline`` numbers
        (effects at 12 months). ``status`` is "insufficient" when the council
        never adopted or nothing could be estimated. ``plot(ax, design=...,
        outcome=...)`` draws one design's figure.
    """
    title = "Programme impact"
    own = series[series[Col.council] == council]
    if own.empty:
        raise ValueError(f"council {council!r} is not in the series")
    if own[COHORT].isna().all():
        return _wrap(
            council,
            Summary(
                title,
                findings=[
                    Finding(
                        "impact.not_adopted",
                        f"{council} had not adopted the programme in the period of the data, so "
                        "there is no estimate for this council; its data serve as a comparison for "
                        "councils that did adopt.",
                        word=CANNOT_TELL,
                    )
                ],
                status="insufficient",
            ),
        )
    results: dict = {}
    notes: list[str] = []
    for outcome in outcomes:
        if outcome not in series.columns:
            continue
        for design, fn in (
            ("before/after", its),
            ("comparison councils", council_did),
        ):
            try:
                results[(design, outcome)] = fn(
                    series, council, outcome, horizons=horizons, alpha=alpha
                )
            except (ValueError, np.linalg.LinAlgError) as err:
                notes.append(f"{outcome}, {design}: not estimated ({err}).")
    if not results:
        return _wrap(
            council,
            Summary(
                title,
                findings=[Finding("impact.none", "No impact estimate could be made.")],
                caveats=notes,
                status="insufficient",
            ),
        )
    start = pd.Timestamp(own[COHORT].iloc[0])
    n_never = int(series.drop_duplicates(Col.council)[COHORT].isna().sum())
    findings = [
        Finding(
            "impact.design",
            f"{council} adopted the programme from {start:%-d %B %Y}. Two designs estimate what "
            "changed: before/after (the council against its own earlier trend carried on) and "
            "comparison councils (the council's difference from councils that had not adopted, "
            f"before and after the start). {display_councils(n_never)}",
        )
    ]
    pw = impact_power(series, council, outcomes=outcomes, horizons=horizons, results=results)
    findings += power_findings(pw)
    its_res = [r for (d, _), r in results.items() if d == "before/after"]
    did_res = [r for (d, _), r in results.items() if d == "comparison councils"]
    for r in its_res:
        findings += its_findings(r)[1:]
    for r in did_res:
        findings += council_did_findings(r)[1:]
    caveats: list[str] = []
    for r in its_res[:1]:
        caveats += its_caveats(r)
    for r in did_res[:1]:
        caveats += council_did_caveats(r)
    caveats += pw.caveats
    extra_tables = []
    parts: list = []
    if checks and ("comparison councils", checks) in results:
        try:
            parts.append(sensitivity(series, council, checks, horizon=min(horizons)))
        except ValueError as err:
            notes.append(f"Sensitivity checks not run ({err}).")
        if dataset is not None or groups is not None:
            for by in ("age", "need"):
                try:
                    given = None if groups is None else groups[by]
                    if isinstance(given, ValueError):  # building the groups failed
                        raise given
                    parts.append(
                        heterogeneity(
                            dataset, council, checks, by=by, horizon=min(horizons), series=given
                        )
                    )
                except ValueError as err:
                    notes.append(f"Breakdown by {by} not run ({err}).")
        for p in parts:
            sm = p.summary()
            findings += sm.findings
            extra_tables += sm.tables
            caveats += sm.caveats
    caveats += notes
    headline: dict = {}
    for (design, outcome), r in results.items():
        try:
            e = r.effect(12)
        except KeyError:
            continue
        k = f"{'its' if design.startswith('before') else 'did'}_{outcome}_12m"
        headline[k] = float(e["estimate"])
    sm = Summary(
        title,
        findings=findings,
        tables=[
            power_table(pw),
            effects_table(its_res + did_res, caption="Estimated programme effects"),
            *extra_tables,
        ],
        caveats=list(dict.fromkeys(caveats)),
        headline=headline,
    )
    return ImpactResult(council, results, pw, parts, caveats=list(sm.caveats), summary_=sm)


def _wrap(council: str, sm: Summary) -> ImpactResult:
    return ImpactResult(council, caveats=list(sm.caveats), summary_=sm)


def display_councils(n_never: int) -> str:
    """Sentence on how many placebo councils there are and what that allows."""
    lvl = inference.achievable_level(n_never)
    if lvl >= 0.95 - 1e-9:
        return (
            f"{n_never} councils never adopted; they show how much each estimate moves by "
            "chance, enough for 95% intervals."
        )
    if lvl >= inference.MIN_LEVEL:
        return (
            f"{n_never} councils never adopted; they show how much each estimate moves by "
            f"chance, enough for {inference.level_text(lvl)} intervals but not 95% ones "
            f"(that needs {inference.placebos_needed()})."
        )
    return (
        f"Only {n_never} council{'s' if n_never != 1 else ''} never adopted: too few to show how "
        "much an estimate moves by chance, so no interval is given and no change is called "
        f"real or not (an interval needs at least {inference.placebos_needed(0.1)} such "
        "councils, a 95% one 19)."
    )
