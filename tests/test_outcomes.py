"""Spend against outcomes: recovery of the generator's outcome model, null
effects of spend and placement type on need change, cost per point,
disclosure control and figures.

Truth (``truth["outcome_model"]``): SDQ = 3 + 0.25 x mean(true emotional
health, true behaviour) + 1.0 x moves + N(0, 4); attendance = 96 - 0.12 x
true education - 1.5 x moves + N(0, 4), clipped to 0-100. Placement type and
spend have no effect on need or outcomes; the programme lowers every need
score by 2 points a year (1 point per 6 months) after its start.

Tolerances (and why), for the 1,600-children-in-care population used here:

* SDQ per need point within 0.03 (standard error ~0.008; seeds 1-8 gave
  0.242-0.261); the uncorrected estimate must be attenuated (below 0.9 x
  corrected), since the need score is an average of noisy assessments.
* SDQ per placement move within 0.3 (SE ~0.11; seeds 0.88-1.08).
* Attendance per education point within 0.03 of -0.12 (SE ~0.005; clipping
  at 100% pulls it ~0.004 towards zero; seeds -0.131 to -0.106).
* Need change per 6 months: programme effect within 0.35 of -1.0 (SE ~0.13;
  seeds -1.19 to -0.94); spend per doubling within 0.4 of 0 (SE ~0.1);
  each placement type with 300+ intervals within 1.0 of 0 (SEs 0.1-0.35).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from vc_eval.analysis.outcomes import (
    MOVES,
    NEED,
    POOLED,
    PROGRAMME,
    PROGRAMME_MEASURES,
    SPEND,
    WEEKS_PER_HALF_YEAR,
    OutcomesResult,
    external_outcomes,
    need_change,
    need_change_frame,
    outcome_frame,
    outcomes,
    programme_outcomes,
    type_term,
)
from vc_eval.core import privacy
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.schema import Col
from vc_eval.plots import outcomes as outcome_plots
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate


@pytest.fixture(scope="module")
def synth():
    return generate(SynthConfig(councils=2, seed=5, sizes=(800, 800)))


@pytest.fixture(scope="module")
def external(synth):
    # the structural model: need and moves measured in the outcome's own year
    return external_outcomes(
        synth,
        measures=["sdq_total", "school_attendance"],
        design=POOLED,
        exposure_days=0,
        adjust_for_moves=True,
        negative_control=False,
        progress=False,
    )


@pytest.fixture(scope="module")
def change(synth):
    return need_change(synth, domains=["education"], progress=False)


@pytest.fixture(scope="module")
def small():
    return generate(SynthConfig(councils=1, seed=11, sizes=(60,), adopters=(False,)))


@pytest.fixture(scope="module")
def small_result(small):
    return outcomes(small, progress=False)


def test_sdq_effects_recovered(synth, external):
    om = synth.truth["outcome_model"]["sdq"]
    need = external.term("sdq_total", NEED)
    moves = external.term("sdq_total", MOVES)
    assert external.need_domains["sdq_total"] == ("emotional_health", "behaviour")
    assert need["estimate"] == pytest.approx(om["per_need_point"], abs=0.03)
    assert need["ci_low"] < om["per_need_point"] < need["ci_high"]
    assert moves["estimate"] == pytest.approx(om["per_move"], abs=0.3)
    naive = external.term("sdq_total", NEED, corrected=False)
    assert naive["estimate"] < 0.9 * need["estimate"]
    # spend has no effect on SDQ in the generator
    spend = external.term("sdq_total", SPEND)
    assert abs(spend["estimate"]) < 3 * spend["se"]


def test_attendance_effect_recovered(synth, external):
    om = synth.truth["outcome_model"]["attendance"]
    need = external.term("school_attendance", NEED)
    assert external.need_domains["school_attendance"] == ("education",)
    assert need["estimate"] == pytest.approx(om["per_need_point"], abs=0.03)
    assert need["ci_low"] < om["per_need_point"] < need["ci_high"]
    # the tolerance alone would not catch a missing correction (naive ~ -0.103)
    naive = external.term("school_attendance", NEED, corrected=False)
    assert abs(naive["estimate"]) < 0.9 * abs(need["estimate"])
    assert external.term("school_attendance", MOVES)["estimate"] == pytest.approx(
        om["per_move"], abs=0.4
    )


def test_need_change_programme_effect_and_null_effects(synth, change):
    truth = synth.truth["programme"]["need_change_per_year"] / 2  # per 6 months
    prog = change.term(TOTAL_NEED, PROGRAMME)
    assert prog["estimate"] == pytest.approx(truth, abs=0.35)
    spend = change.term(TOTAL_NEED, SPEND)
    assert spend["estimate"] == pytest.approx(0.0, abs=0.4)
    f = need_change_frame(synth, synth.framework.need_domains)
    n_int = f.groupby(Col.placement_type).size()
    checked = 0
    for t, n in n_int.items():
        if t == change.reference_type or n < 300:
            continue
        checked += 1
        assert change.term(TOTAL_NEED, type_term(t))["estimate"] == pytest.approx(0, abs=1.0), t
    assert checked >= 4
    # without the correction, regression to the mean shows up as a spend effect
    naive = change.term(TOTAL_NEED, SPEND, corrected=False)
    # (children in dearer placements have higher true need than their observed
    # baseline shows, so "improve" less: the naive spend slope is pushed upwards)
    assert naive["estimate"] - spend["estimate"] > 0.25
    assert change.term(TOTAL_NEED, "baseline", corrected=False)["estimate"] < -0.1
    assert 0.6 < change.reliability[TOTAL_NEED] < 0.95
    assert "education" in change.n


def test_cost_per_point_by_type(change):
    bt = change.by_type
    assert set(bt["domain"]) == {TOTAL_NEED, "education"}
    for _, r in bt.iterrows():
        if r["children"] < privacy.MIN_N:
            assert np.isnan(r["adjusted_change"])
        if np.isfinite(r["adjusted_change"]) and r["adjusted_change"] < 0:
            expected = r["mean_weekly_cost"] * WEEKS_PER_HALF_YEAR / -r["adjusted_change"]
            assert r["cost_per_point"] == pytest.approx(expected)
        else:
            assert np.isnan(r["cost_per_point"])
        if np.isfinite(r["adjusted_change"]):
            assert r["ci_low"] < r["adjusted_change"] < r["ci_high"]


def identifiers(ds) -> set[str]:
    ids = set(ds.children[Col.child_id].astype(str))
    ids |= set(ds.assessments[Col.assessor_id].astype(str))
    ids |= set(ds.placements[Col.provider_id].dropna().astype(str))
    return ids


def test_results_say_they_are_observational(small_result):
    text = str(small_result.summary())
    assert "observational" in text and "cannot show" in text
    assert any("observational" in c for c in small_result.caveats)


def test_report_tables_hide_small_cells_and_ids(small, small_result):
    tables = small_result.report_tables()
    assert {"need_change_spend", "need_change_by_type", "external_outcomes"} <= set(tables)
    ids = identifiers(small)
    for name, table in tables.items():
        assert not set(table.columns) & {Col.child_id, Col.assessor_id, Col.provider_id}, name
        cells = {str(x) for x in table.to_numpy().ravel()}
        assert not cells & ids, name
    raw = small_result.need_change.by_type.reset_index(drop=True)
    shown = tables["need_change_by_type"].reset_index(drop=True)
    small_rows = (raw["children"] >= 1) & (raw["children"] <= 5)
    assert small_rows.any()  # the small council really has types with 1-5 children
    assert (shown.loc[small_rows, "children"] == privacy.SUPPRESSED).all()
    assert (shown.loc[small_rows, "intervals"] == privacy.SUPPRESSED).all()
    assert (shown.loc[raw["children"] < 6, "adjusted_change"] == privacy.SUPPRESSED).all()
    # within each domain, a single hidden count could be recovered from the total
    for _, grp in shown.groupby("domain_label"):
        assert (grp["children"] == privacy.SUPPRESSED).sum() != 1
    text = str(small_result.summary())
    assert not any(i in text for i in ids)


def test_figures(small_result, change):
    ax = outcome_plots.plot_change_by_type(change)
    shown = change.by_type.query("domain == @TOTAL_NEED and children >= 6")
    assert len(ax.get_yticks()) == len(shown)
    ax = outcome_plots.plot_change_by_type(small_result, domain=TOTAL_NEED)
    n_ok = (small_result.need_change.by_type.query("domain == @TOTAL_NEED")["children"] >= 6).sum()
    assert len(ax.get_yticklabels()) == n_ok
    fig = outcome_plots.plot_spend_effects(small_result)
    assert len(fig.axes) == 2
    plt.close("all")


def test_tiny_council_still_renders():
    ds = generate(SynthConfig(councils=1, seed=2, sizes=(3,), adopters=(False,)))
    r = outcomes(ds, progress=False)
    assert "observational" in str(r.summary())
    assert any("not modelled" in c for c in r.caveats)
    r.report_tables()
    outcome_plots.plot_change_by_type(r)
    outcome_plots.plot_spend_effects(r)


# --------------------------------------------------------------------------
# Spend -> outcomes under the null, and the programme's total effect
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def null_world():
    """Spend has no effect on any outcome (as always in the generator), and no programme."""
    return generate(
        SynthConfig(councils=3, seed=71, sizes=(400, 400, 400), programme=ProgrammeEffects.none())
    )


@pytest.fixture(scope="module")
def null_result(null_world):
    return outcomes(null_world, domains=[], progress=False)


def test_spend_has_no_association_with_outcomes_under_the_null(null_result):
    """Newer placements are dearer and moves start new placements, so spend goes with
    moves unless the placement's start date is allowed for. Under the null every
    spend estimate (main design and negative control) must sit within 3.5 standard
    errors of zero (a false alarm about 1 time in 2,000; the old design's +0.13 to
    +0.17 moves per doubling was 4-5 SE away), and the words must follow the
    intervals. (95%-interval rates over 60 seeds: benchmarks/study_outcomes_null.py.)"""
    r = null_result
    w = r.words()
    c = r.external.coefficients
    for m in ("sdq_total", "placement_moves", "missing_episodes"):
        for design in ("main", "negative_control"):
            t = c[(c["measure"] == m) & (c["term"] == SPEND) & (c["design"] == design)].iloc[0]
            assert abs(t["estimate"]) < 3.5 * t["se"], (m, design)
        t = c[(c["measure"] == m) & (c["term"] == SPEND) & (c["design"] == "main")].iloc[0]
        covers = t["ci_low"] < 0 < t["ci_high"]
        assert (w[f"spend.{m}"] == "no clear difference") == covers, m
        assert r.summary().finding(f"spend.{m}").word == w[f"spend.{m}"]


def _bumped(ds, measure: str, bump) -> Dataset:
    """``ds`` with ``bump(frame)`` added to ``measure``'s values, where ``frame`` is
    :func:`outcome_frame` at the start of each outcome's year (indexed by child and date)."""
    o = ds.outcomes.copy()
    doms = {"missing_episodes": ("risk_taking",)}.get(measure, tuple(ds.framework.need_domains))
    f = outcome_frame(ds, measure, doms, exposure_days=-365)
    f = f.drop_duplicates([Col.child_id, Col.date]).set_index([Col.child_id, Col.date])
    add = pd.Series(bump(f), index=f.index)
    sel = o[Col.measure] == measure
    idx = pd.MultiIndex.from_frame(o.loc[sel, [Col.child_id, Col.date]].astype({Col.child_id: str}))
    o.loc[sel, Col.value] = o.loc[sel, Col.value].to_numpy() + add.reindex(idx).fillna(0).to_numpy()
    return Dataset.from_frames(
        councils=ds.councils,
        children=ds.children,
        assessments=ds.assessments.drop(columns=[Col.age_at_assessment]),
        placements=ds.placements,
        outcomes=o,
    )


def _log_cost(f: pd.DataFrame) -> np.ndarray:
    return np.log2(np.maximum(f[Col.weekly_cost].to_numpy(float), 1.0) / 800.0)


def test_spend_words_flip_when_spend_goes_with_an_outcome(null_world):
    """Plant an association (missing episodes rise with the year-start spend): the
    word flips from "no clear difference" to "higher"."""
    planted = _bumped(null_world, "missing_episodes", lambda f: 0.8 * _log_cost(f))
    ex = external_outcomes(
        planted, measures=["missing_episodes"], negative_control=False, progress=False
    )
    res = OutcomesResult(need_change(planted, domains=[], include_total=False), ex)
    assert res.words()["spend.missing_episodes"] == "higher"
    assert "the same child" in res.summary().finding("spend.missing_episodes").text


def test_within_child_design_finds_a_planted_effect_and_the_control_stays_null(null_world):
    """Positive control: 0.1 placement moves a year per doubling of spend at the
    start of the year, planted on the null world (seed 71), is recovered (within 3
    standard errors, SE about 0.02; benchmarks/study_outcomes_null.py gives the
    detection rate over seeds), and the negative control, which holds spend at the
    start of the year fixed, does not pick it up."""
    planted = _bumped(null_world, MOVES, lambda f: 0.1 * _log_cost(f))
    ex = external_outcomes(planted, measures=[MOVES], progress=False)
    t = ex.term(MOVES, SPEND)
    assert abs(t["estimate"] - 0.1) < 3 * t["se"], t["estimate"]
    assert t["ci_low"] > 0
    base = external_outcomes(null_world, measures=[MOVES], progress=False)
    ctl, ctl0 = (r.term(MOVES, SPEND, design="negative_control") for r in (ex, base))
    assert ctl["estimate"] == pytest.approx(ctl0["estimate"], abs=1e-9)


def test_within_child_design_ignores_what_does_not_change_about_a_child(null_world):
    """The confounding the pooled design could not remove: something fixed about
    a child (here planted: 0.15 more moves a year per doubling of the child's
    average placement cost) makes dearer children move more. Compared with each
    other, children show spend "raising" moves; compared with themselves, not."""

    def fixed(f: pd.DataFrame) -> np.ndarray:
        lc = pd.Series(_log_cost(f), index=f.index)
        return 0.15 * lc.groupby(level=Col.child_id).transform("mean").to_numpy()

    confounded = _bumped(null_world, MOVES, fixed)
    pooled = external_outcomes(
        confounded, measures=[MOVES], design=POOLED, negative_control=False, progress=False
    ).term(MOVES, SPEND)
    within = external_outcomes(confounded, measures=[MOVES], progress=False).term(MOVES, SPEND)
    assert pooled["ci_low"] > 0
    assert abs(within["estimate"]) < 3.5 * within["se"]


def test_programme_total_effect_null_and_words(null_result):
    pg = null_result.programme.set_index("measure")
    for m in PROGRAMME_MEASURES:
        assert pg.loc[m, "ci_low"] < 0 < pg.loc[m, "ci_high"], m
        assert null_result.words()[f"programme.{m}"] == "no clear difference"
        assert "includes zero" in null_result.summary().finding(f"programme.{m}").text


def test_programme_total_effect_detects_a_need_fall():
    """A large fall in need lowers SDQ (0.25 points per point of emotional and
    behaviour need) without any adjustment for need; adjusting for need (the
    old model) would hide it."""
    strong = ProgrammeEffects(need_change_per_year=-8.0)
    ds = generate(
        SynthConfig(
            councils=3,
            seed=72,
            sizes=(400, 400, 400),
            adopters=(True, True, False),
            programme_starts=("2022-04-01", "2022-04-01", None),
            programme=strong,
        )
    )
    pg = programme_outcomes(ds).set_index("measure")
    assert pg.loc["sdq_total", "ci_high"] < 0
    assert pg.loc["sdq_total", "adopting_councils"] == 2


def _row_weighted_truth(ds, measure: str) -> float:
    """The generator's true total effect on ``measure``, averaged like the estimate.

    ``truth["true_effects"][council]["outcomes"]`` gives, at each 31 March after
    the start, the mean effect over the children the outcome is recorded for; the
    difference in differences averages over the treated rows (child x year), so
    each council-year is weighted by its rows.
    """
    from vc_eval.analysis.impact import true_outcome_effects

    kids = ds.children[[Col.child_id, Col.council]].astype({Col.child_id: str})
    o = ds.outcomes[ds.outcomes[Col.measure] == measure].astype({Col.child_id: str})
    rows = o.merge(kids, on=Col.child_id).groupby([Col.council, Col.date]).size()
    tr = true_outcome_effects(ds.truth)
    tr = tr[tr["measure"] == measure].set_index(["council", "date"])["effect"]
    n = rows.reindex(tr.index).fillna(0).to_numpy()
    return float(np.average(tr.to_numpy(), weights=n))


def test_programme_total_effect_recovers_truth():
    """Recovery of the total programme effect on SDQ, placement moves and missing
    episodes against ``truth["true_effects"][c]["outcomes"]`` (default programme:
    need falls 2 points a year, step-downs add moves). Seed 74 is used by no other
    test. Four councils of 1,000 children, two adopting on 1 April 2022. Over
    seeds 821-840 (same design) the estimates were unbiased (mean error/SE
    -0.07 to 0.20, SD 0.89-0.97) and the 95% intervals covered the truth in 95%
    (SDQ, moves) and 100% (missing) of seeds; SEs here are about 0.25 SDQ points,
    0.022 moves and 0.014 episodes a year. Tolerance: 3 standard errors, and the
    interval must contain the truth."""
    ds = generate(
        SynthConfig(
            councils=4,
            seed=74,
            sizes=(1000,) * 4,
            adopters=(True, True, False, False),
            programme_starts=("2022-04-01", "2022-04-01", None, None),
        )
    )
    pg = programme_outcomes(ds).set_index("measure")
    for m in PROGRAMME_MEASURES:
        truth = _row_weighted_truth(ds, m)
        r = pg.loc[m]
        assert abs(r["estimate"] - truth) < 3 * r["se"], (m, r["estimate"], truth)
        assert r["ci_low"] < truth < r["ci_high"], m
    # the truth itself: lower need means fewer difficulties; step-downs are moves
    assert _row_weighted_truth(ds, "sdq_total") < -0.5
    assert _row_weighted_truth(ds, "placement_moves") > 0
    assert pg.loc["sdq_total", "estimate"] < 0


def test_programme_effect_needs_a_comparison():
    ds = generate(SynthConfig(councils=1, seed=2, sizes=(300,), adopters=(True,)))
    pg = programme_outcomes(ds)
    assert pg["estimate"].isna().all()
    assert pg["note"].str.contains("cannot be told apart|no council").all()
    r = outcomes(ds, domains=[], progress=False)
    f = r.summary().finding("programme.sdq_total")
    assert f.word == "not estimable" and "not estimated" in f.text


def test_outcome_result_interface(small_result):
    frame = small_result.to_frame()
    assert {"model", "measure", "design", "estimate"} <= set(frame.columns)
    assert small_result.plot() is not None
