"""Programme impact: series, interrupted time series, stacked event study, savings.

Recovery on synthetic populations whose programme effects are known
(``truth["true_effects"]``), exact recovery on noise-free hand-made panels,
and the null (``ProgrammeEffects.none()``). Tolerances are stated per test;
coverage over more seeds is measured in ``benchmarks/bench_impact.py``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import statsmodels.api as sm  # noqa: E402

from vc_eval.analysis.absorb import demean_many  # noqa: E402
from vc_eval.analysis.impact import (  # noqa: E402
    council_series,
    event_study,
    its,
    its_all,
    placement_mix,
    pool_its,
    savings,
    spend_components,
    true_effect,
)
from vc_eval.analysis.impact.did import MIN_ARM, build_stacks  # noqa: E402
from vc_eval.analysis.impact.savings import COMBINED, _protect_mix, base_prices  # noqa: E402
from vc_eval.analysis.impact.series import (  # noqa: E402
    COHORT,
    PERIOD,
    add_programme_timing,
    period_ordinal,
)
from vc_eval.core.dataset import Dataset  # noqa: E402
from vc_eval.core.population import in_care_on, placements_on  # noqa: E402
from vc_eval.core.schema import PLACEMENT_TYPES, Col  # noqa: E402
from vc_eval.plots.impact import (  # noqa: E402
    plot_event_study,
    plot_its,
    plot_placement_mix,
    plot_savings,
)
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate  # noqa: E402

SHARE = "share_in_house_foster"
COST = "mean_weekly_cost"
SPEND = "weekly_spend"


def _pop(seed: int, councils: int = 30, size: int = 300, programme=None) -> tuple:
    cfg = SynthConfig(councils=councils, seed=seed, sizes=(size,) * councils)
    if programme is not None:
        cfg = SynthConfig(
            councils=councils, seed=seed, sizes=(size,) * councils, programme=programme
        )
    ds = generate(cfg)
    return ds, council_series(ds, progress=False)


#: Adoption dates for the pooled design's populations: every adopting council has
#: 12 months before its start and 24 after it inside the generator's window.
STARTS = ("2022-04-01", "2022-07-01", "2022-10-01", "2023-01-01")


def _arms_pop(seed: int, adopting: int = MIN_ARM, never: int = MIN_ARM, size: int = 200, **kw):
    """``adopting`` councils (starts cycling over STARTS) and ``never`` never-adopters:
    enough on both sides, at every horizon, for the pooled design to give intervals."""
    n = adopting + never
    cfg = SynthConfig(
        councils=n,
        seed=seed,
        sizes=(size,) * n,
        adopters=(True,) * adopting + (False,) * never,
        programme_starts=tuple(STARTS[i % 4] for i in range(adopting)) + (None,) * never,
        **kw,
    )
    ds = generate(cfg)
    return ds, council_series(ds, progress=False)


@pytest.fixture(scope="module")
def pooled_pop():
    # 16 adopting and 16 never-adopting councils (the pooled design's floor, MIN_ARM).
    return _arms_pop(41)


@pytest.fixture(scope="module")
def pooled_null():
    # Seed 41 without effects: with common random numbers, pooled_pop's counterfactual.
    return _arms_pop(41, programme=ProgrammeEffects.none())


@pytest.fixture(scope="module")
def pop():
    # Seed 14 has none of the 1-in-20 misses of the 95% intervals recorded in
    # benchmarks/impact.md (seeds 10-12 have some); coverage is measured there
    # and in test_event_study_coverage_over_seeds.
    return _pop(14)


@pytest.fixture(scope="module")
def null_pop():
    # Seed 13: see pop(); with common random numbers a null population is the
    # counterfactual of the effect population with the same seed.
    return _pop(13, programme=ProgrammeEffects.none())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------
# Series
# --------------------------------------------------------------------------


def test_series_matches_generator_and_population(pop):
    ds, s = pop
    # The generator's own factual = counterfactual + effect, computed independently.
    for council, eff in list(ds.truth["true_effects"].items())[:5]:
        m = eff["monthly"]
        sub = s[s[Col.council] == council].set_index(PERIOD).loc[pd.to_datetime(m["month"])]
        cf_cost = np.add(m["counterfactual_mean_weekly_cost"], m["mean_weekly_cost"])
        np.testing.assert_allclose(sub[COST], cf_cost, atol=1e-3)
        cf_spend = np.add(m["counterfactual_weekly_spend"], m["weekly_spend"])
        np.testing.assert_allclose(sub[SPEND], cf_spend, atol=0.05)
    # Stocks agree with vc_eval.core.population on a date.
    date = pd.Timestamp("2023-02-01")
    c = s[Col.council].iloc[0]
    row = s[(s[Col.council] == c) & (s[PERIOD] == date)].iloc[0]
    kids = ds.children[ds.children[Col.council] == c]
    assert row["children"] == len(in_care_on(kids, date))
    active = placements_on(
        ds.placements[ds.placements[Col.child_id].isin(kids[Col.child_id])], date
    )
    assert row["placed"] == len(active)
    assert row["n_childrens_home"] == (active[Col.placement_type] == "childrens_home").sum()
    assert row[SPEND] == pytest.approx(active[Col.weekly_cost].sum())
    shares = row[[f"share_{t}" for t in PLACEMENT_TYPES]].sum()
    assert shares == pytest.approx(1.0)


def test_series_timing_columns(pop):
    ds, s = pop
    starts = ds.councils.set_index(Col.council)[Col.programme_start]
    for c, g in s.groupby(Col.council):
        if pd.isna(starts[c]):
            assert g[COHORT].isna().all() and g["event_time"].isna().all()
            assert not g["post"].any()
        else:
            zero = g.loc[g["event_time"] == 0, PERIOD]
            assert len(zero) == 1 and zero.iloc[0] == starts[c]  # synthetic starts on the 1st
            assert (g["post"] == (g[PERIOD] >= starts[c])).all()


def _tiny_dataset() -> Dataset:
    """Two children, hand-made assessments and placements with known answers."""
    kids = pd.DataFrame(
        {
            Col.child_id: ["A", "B"],
            Col.council: ["Testshire", "Testshire"],
            Col.sex: ["male", "female"],
            Col.date_of_birth: pd.to_datetime(["2012-05-01", "2010-01-01"]),
            Col.ethnicity: ["White", "Mixed"],
            Col.entered_care: pd.to_datetime(["2021-01-10", "2021-03-01"]),
            Col.left_care: pd.to_datetime([None, "2021-07-20"]),
        }
    )
    assess = pd.DataFrame(
        {
            Col.child_id: ["A", "A", "A", "B", "B"],
            Col.assessment_date: pd.to_datetime(
                ["2021-02-05", "2021-05-10", "2021-05-20", "2021-03-25", "2021-06-25"]
            ),
            Col.assessor_id: ["S1", "S1", "S2", "S1", "S2"],
            Col.domain: ["attachment"] * 5,
            Col.score: [50.0, 44.0, 46.0, 30.0, 36.0],
        }
    )
    place = pd.DataFrame(
        {
            Col.child_id: ["A", "A", "B"],
            Col.start_date: pd.to_datetime(["2021-01-10", "2021-04-15", "2021-03-01"]),
            Col.end_date: pd.to_datetime(["2021-04-15", None, "2021-07-20"]),
            Col.placement_type: ["ifa_foster", "in_house_foster", "childrens_home"],
            Col.provider_id: ["IFA1", "T-FOSTER", "CH1"],
            Col.weekly_cost: [800.0, 500.0, 5000.0],
        }
    )
    councils = pd.DataFrame(
        {Col.council: ["Testshire"], Col.programme_start: pd.to_datetime(["2021-04-10"])}
    )
    outcomes = pd.DataFrame(
        {
            Col.child_id: ["A"],
            Col.date: pd.to_datetime(["2021-03-31"]),
            Col.measure: ["sdq_total"],
            Col.value: [14.0],
        }
    )
    return Dataset.from_frames(
        councils=councils, children=kids, assessments=assess, placements=place, outcomes=outcomes
    )


def test_series_by_hand():
    s = council_series(
        _tiny_dataset(), start="2021-02-01", end="2021-08-01", progress=False
    ).set_index(PERIOD)
    assert list(s.index.strftime("%m")) == ["02", "03", "04", "05", "06", "07", "08"]
    assert list(s["children"]) == [1, 2, 2, 2, 2, 2, 1]
    assert s.loc["2021-04-01", SPEND] == 5800.0
    assert s.loc["2021-05-01", SPEND] == 5500.0
    assert s.loc["2021-05-01", SHARE] == 0.5
    assert s.loc["2021-04-01", "moves"] == 1 and s["moves"].sum() == 1
    # May: A scored twice (44, 46) counts once as 45; change from 50 over 94/104 days.
    assert s.loc["2021-05-01", "mean_total_need"] == pytest.approx(45.0)
    expect = np.mean([(44 - 50) * 182.625 / 94, (46 - 50) * 182.625 / 104])
    assert s.loc["2021-05-01", "need_change_6m"] == pytest.approx(expect)
    # June: B's change over 92 days; A's second scoring (10 days) is never a baseline.
    assert s.loc["2021-06-01", "need_change_6m"] == pytest.approx(6 * 182.625 / 92)
    assert s.loc["2021-03-01", "outcome_sdq_total"] == 14.0
    assert s.loc["2021-03-01", "outcome_sdq_total_children"] == 1
    # Programme started 10 April: first period start on or after it is 1 May.
    assert s.loc["2021-05-01", "event_time"] == 0 and s.loc["2021-04-01", "event_time"] == -1
    q = council_series(_tiny_dataset(), "QS", start="2021-01-01", end="2021-09-30", progress=False)
    assert list(q["event_time"]) == [-2, -1, 0]  # quarters; start rounds up to 1 July
    assert q["moves"].sum() == 1


# --------------------------------------------------------------------------
# Interrupted time series
# --------------------------------------------------------------------------


def _its_frame(y: np.ndarray, start_index: int, council: str = "X") -> pd.DataFrame:
    periods = pd.date_range("2020-01-01", periods=len(y), freq="MS")
    s = pd.DataFrame({Col.council: council, PERIOD: periods, "y": y, "placed": 100})
    s = add_programme_timing(s, pd.Series({council: periods[start_index]}), "MS")
    s.attrs["freq"] = "MS"
    return s


def test_its_recovers_constructed_break():
    rng = np.random.default_rng(5)
    n, k = 60, 30
    t = np.arange(n) - k
    post = t >= 0
    e = np.zeros(n)
    for i in range(1, n):  # AR(1) noise, phi 0.5, sd 0.3
        e[i] = 0.5 * e[i - 1] + rng.normal(0, 0.3)
    y = 10 + 0.05 * t + post * (2.0 + 0.3 * t) + e
    r = its(_its_frame(y, k), "X", "y", calibration="none")
    # effect at 12 months = 2 + 0.3 * 12 = 5.6; tolerance 0.5 (about 3 se)
    assert r.effect(12)["estimate"] == pytest.approx(5.6, abs=0.5)
    assert r.effect(12)["lower"] < 5.6 < r.effect(12)["upper"]
    assert r.effect(24)["estimate"] == pytest.approx(9.2, abs=0.8)
    # mean effect over the first 12 months = 2 + 0.3 * 5.5
    assert r.effect(12, "average")["estimate"] == pytest.approx(3.65, abs=0.4)
    cf = r.data.set_index(PERIOD)["counterfactual"]
    assert cf.iloc[k + 12] == pytest.approx(10 + 0.05 * 12, abs=0.4)
    assert not r.effect(24)["within_data"] or 24 <= n - k - 1
    assert any("observational" in c for c in r.caveats)
    assert any("interval" in st for st in r.statements)


def test_its_newey_west_is_statsmodels():
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=40)) + 50
    r = its(_its_frame(y, 20), "X", "y", errors="newey-west", maxlags=4, calibration="none")
    t = np.arange(40) - 20.0
    X = np.column_stack([np.ones(40), t, t >= 0, t * (t >= 0)])
    ref = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": True})
    np.testing.assert_allclose(r.coefficients["estimate"], ref.params, rtol=1e-10)
    np.testing.assert_allclose(r.coefficients["se"], ref.bse, rtol=1e-10)
    # Prewhitening widens intervals on a persistent (random-walk) series.
    pw = its(_its_frame(y, 20), "X", "y", maxlags=4, calibration="none")
    assert pw.effect(12)["se"] > 1.5 * r.effect(12)["se"]


def test_its_errors(pop):
    ds, s = pop
    never = s.loc[s[COHORT].isna(), Col.council].iloc[0]
    with pytest.raises(ValueError, match="no programme start"):
        its(s, never, SHARE)
    with pytest.raises(ValueError, match="not a column"):
        its(s, never, "no_such_column")
    with pytest.raises(ValueError, match="not in the series"):
        its(s, "Atlantis", SHARE)
    with pytest.raises(ValueError, match="at least 6 periods"):
        its(s, never, SHARE, start="2025-01-01")
    # A never-adopter analysed at a chosen date works (and is its own placebo excluded).
    r = its(s, never, SHARE, start="2023-01-01")
    assert r.start == pd.Timestamp("2023-01-01") and r.n_placebo >= 5


def test_its_pooled_recovers_truth(pop):
    # Single-council ITS is noisy (per-council RMSE about 0.04 in-house share and
    # GBP 170 a week at 12 months in benchmarks/impact.md), so the mean over ~20
    # adopters is checked at 12 months to about 3 standard errors: 3 pp of
    # in-house share and GBP 120 a week per child. At 24 months (about 12
    # adopters observed) only the interval is checked.
    ds, s = pop
    for outcome, tol in ((SHARE, 0.03), (COST, 120.0)):
        table, skipped = its_all(s, outcome, progress=False)
        assert not skipped
        pooled = pool_its(table).set_index(["horizon", "kind"])
        for h in (12, 24):
            used = table[(table["horizon"] == h) & table["within_data"]]["council"].unique()
            truth = true_effect(ds.truth, outcome, h, councils=list(used))
            row = pooled.loc[(h, "point")]
            if h == 12:
                assert abs(row["estimate"] - truth) < tol, (outcome, row["estimate"], truth)
            assert row["lower"] < truth < row["upper"], (outcome, h)


# --------------------------------------------------------------------------
# Stacked event study
# --------------------------------------------------------------------------


def _panel(cohorts: dict[str, int | None], n: int, effect, *, noise=0.0, trend=None, seed=0):
    """Hand-made council x month panel: council + month effects + programme effect."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2020-01-01", periods=n, freq="MS")
    rows = []
    for i, (c, g) in enumerate(cohorts.items()):
        for p, per in enumerate(periods):
            e = None if g is None else p - g
            y = 3.0 * i + 0.2 * p + np.sin(p / 3.0)
            if e is not None and e >= 0:
                y += effect(c, e)
            if trend is not None and g is not None:
                y += trend * p
            rows.append({Col.council: c, PERIOD: per, "y": y + rng.normal(0, noise), "placed": 100})
    s = pd.DataFrame(rows)
    starts = pd.Series(
        {
            c: (periods[0] + pd.DateOffset(months=g) if g is not None else pd.NaT)
            for c, g in cohorts.items()
        }
    )
    s = add_programme_timing(s, starts, "MS")
    s.attrs["freq"] = "MS"
    return s


def test_event_study_exact_on_noise_free_staggered_panel():
    # Two cohorts with different, growing effects; early adopters would be
    # bad controls for late ones (their effect keeps growing).
    cohorts = {"E1": 10, "E2": 10, "L1": 20, "N1": None, "N2": None, "N3": None}
    slope = {"E1": 1.0, "E2": 1.0, "L1": 3.0}
    s = _panel(cohorts, 40, lambda c, e: slope[c] * (e + 1))
    r = event_study(s, "y", pre=6, post=12, horizons=(6, 12), inference="cluster")
    co = r.coefficients.set_index("event_time")["estimate"]
    np.testing.assert_allclose(co.loc[-6:-1], 0, atol=1e-8)
    # Each adopting council counts equally: mean slope (1 + 1 + 3) / 3.
    for e in range(0, 13):
        assert co.loc[e] == pytest.approx(5 / 3 * (e + 1), abs=1e-8)
    # The naive two-way fixed-effects event study is biased here: check that it
    # differs, so the test above is about the clean-control design.
    d = s.copy()
    d["e"] = d["event_time"].clip(-6, 12)
    X = pd.get_dummies(d["e"].astype("Int64").astype(str), prefix="e", dtype=float)
    X = X.drop(columns=["e_-1", "e_<NA>"], errors="ignore")
    X = pd.concat(
        [
            X,
            pd.get_dummies(d[Col.council], dtype=float),
            pd.get_dummies(d[PERIOD].astype(str), drop_first=True, dtype=float),
        ],
        axis=1,
    )
    naive = sm.OLS(d["y"].to_numpy(), X.to_numpy()).fit().params[list(X.columns).index("e_12")]
    assert abs(naive - 5 / 3 * 13) > 0.5


def test_stacks_never_use_treated_councils_as_controls(pop):
    ds, s = pop
    data, stacks = build_stacks(s, SHARE, pre=12, post=24)
    cohort = s.drop_duplicates(Col.council).set_index(Col.council)[COHORT]
    ordinal = pd.Series(np.nan, index=cohort.index)
    ordinal[cohort.notna()] = period_ordinal(cohort[cohort.notna()], "MS")
    for g, part in data.groupby("stack"):
        ctrl = part.loc[~part["_treated"], Col.council].unique()
        window_end = part["_p"].max()
        assert all(np.isnan(ordinal[c]) or ordinal[c] > window_end for c in ctrl)
        treated = part.loc[part["_treated"], Col.council].unique()
        assert (ordinal[treated] == g).all()
    assert (stacks["skipped"] == "").all()


def test_event_study_matches_explicit_dummies():
    cohorts = {"A": 8, "B": 12, "C": None, "D": None, "E": 30}
    s = _panel(cohorts, 24, lambda c, e: 0.5 * e, noise=0.5, seed=3)
    r = event_study(s, "y", pre=4, post=6, horizons=(3,), inference="cluster")
    data, _ = build_stacks(s, "y", pre=4, post=6)
    times = [e for e in range(-4, 7) if e != -1]
    D = np.column_stack([(data["event_time"] == e).astype(float) for e in times])
    U = pd.get_dummies(data["stack"].astype(str) + data[Col.council], dtype=float)
    first = data["_p"] == data.groupby("stack")["_p"].transform("min")
    T = pd.get_dummies(
        (data["stack"].astype(str) + "|" + data["_p"].astype(str)).where(~first), dtype=float
    )  # one period per stack is the baseline
    X = np.column_stack([D, U.to_numpy(), T.to_numpy()])
    assert np.linalg.matrix_rank(X) == X.shape[1]
    ref = sm.WLS(data["y"].to_numpy(), X, weights=data["weight"].to_numpy()).fit()
    est = r.coefficients.set_index("event_time").loc[times, "estimate"].to_numpy()
    np.testing.assert_allclose(est, ref.params[: len(times)], atol=1e-8)
    # Clustered errors: statsmodels on the design with the fixed effects absorbed.
    unit = pd.factorize(data["stack"].astype(str) + data[Col.council])[0]
    tcode = pd.factorize(data["stack"].astype(str) + data["_p"].astype(str))[0]
    Z = demean_many(np.column_stack([data["y"], D]), [unit, tcode], data["weight"].to_numpy())
    cl = sm.WLS(Z[:, 0], Z[:, 1:], weights=data["weight"].to_numpy()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(data[Col.council])[0]}
    )
    se = r.coefficients.set_index("event_time").loc[times, "se"].to_numpy()
    np.testing.assert_allclose(se, cl.bse, rtol=1e-8)


def test_event_study_recovers_truth(pooled_pop):
    ds, s = pooled_pop
    # tolerances: 2.5 pp of in-house share; GBP 100 a week per child (effects ~150-250)
    for outcome, tol, floor in ((SHARE, 0.025, 0.04), (COST, 100.0, 75.0)):
        r = event_study(s, outcome)
        assert r.inference == "wild"
        for h in (12, 24):
            truth = true_effect(ds.truth, outcome, h, councils=r.treated_at[h])
            e = r.effect(h)
            assert abs(e["estimate"] - truth) < tol, (outcome, h, e["estimate"], truth)
            assert e["lower"] < truth < e["upper"], (outcome, h)
            assert abs(e["estimate"]) > floor  # the effect is detected, not just near truth
        assert r.pretrend["p"] > 0.01
        ta = true_effect(ds.truth, outcome, 12, councils=r.treated_at[12], kind="average")
        assert abs(r.effect(12, "average")["estimate"] - ta) < tol


def test_event_study_null_covers_zero(pooled_null, null_pop):
    ds, s = pooled_null
    assert all(abs(v["12m"]["in_house_share"]) < 1e-12 for v in ds.truth["true_effects"].values())
    for outcome in (SHARE, COST):
        r = event_study(s, outcome)
        for h in (12, 24):
            e = r.effect(h)
            assert e["lower"] < 0 < e["upper"], (outcome, h, e.to_dict())
        assert r.pretrend["p"] > 0.01
    ds, s = null_pop
    table, _ = its_all(s, SHARE, progress=False)
    point = table[(table["kind"] == "point") & table["within_data"]]
    assert ((point["lower"] < 0) & (point["upper"] > 0)).mean() >= 0.8


def test_event_study_coverage_over_seeds():
    # At the floor (16 adopting councils, all observed 24 months, and 16 never): every
    # horizon has an interval, and they cover (benchmarks/README.md: 0.88-1.00 there).
    hits, total = 0, 0
    for seed in (21, 22, 23):
        ds, s = _arms_pop(seed, size=100)
        for outcome in (SHARE, COST):
            r = event_study(s, outcome, n_boot=499)
            for h in (12, 24):
                truth = true_effect(ds.truth, outcome, h, councils=r.treated_at[h])
                e = r.effect(h)
                assert e["n_treated"] >= MIN_ARM and e["n_controls"] >= MIN_ARM
                hits += e["lower"] < truth < e["upper"]
                total += 1
    # 95% intervals: at least total - 3 should cover (P(more misses) < 1% if calibrated).
    assert total == 12 and hits >= total - 3, f"{hits}/{total}"


@pytest.mark.parametrize("n_tr,n_ctrl", [(4, 2), (12, 12), (20, 8)])
def test_event_study_few_councils_gives_no_interval(n_tr, n_ctrl):
    # 4 adopting and 2 comparison councils covered 0.66-0.80; 8-12 a side covered
    # 0.82-0.90 and the pre-trend test rejected 14-25% of parallel-trend data
    # (benchmarks/README.md, study_min_arm.py): below MIN_ARM on either side, nothing.
    cohorts = {f"T{i}": 14 + i % 3 for i in range(n_tr)} | {f"N{i}": None for i in range(n_ctrl)}
    s = _panel(cohorts, 36, lambda c, e: 1.0, noise=0.2, seed=4)
    r = event_study(s, "y", pre=12, post=12)
    assert r.effects["lower"].isna().all() and r.effects["upper"].isna().all()
    assert r.effects["p"].isna().all() and r.coefficients["lower"].isna().all()
    assert np.isnan(r.pretrend["p"]) and f"fewer than {MIN_ARM}" in r.no_interval
    assert f"{n_tr} adopting and {n_ctrl} comparison" in r.no_interval
    assert r.effect(12)["estimate"] == pytest.approx(1.0, abs=0.3)
    assert any("no interval" in st for st in r.statements)
    assert r.summary().finding("pooled.y.12m").word == "cannot tell"
    assert r.no_interval in r.summary().caveats


def test_event_study_withholds_each_horizon_with_too_few_adopters_observed():
    # 20 adopting councils, but the 8 that adopt late are observed only 13-14 months
    # after adoption: 20 at 12 months, 12 at 24. The floor counts the adopters
    # observed at each horizon, so 12 months has an interval and 24 months none.
    cohorts = (
        {f"A{i}": 14 + i % 3 for i in range(12)}
        | {f"B{i}": 26 + i % 2 for i in range(8)}
        | {f"N{i}": None for i in range(16)}
    )
    s = _panel(cohorts, 40, lambda c, e: 1.0, noise=0.2, seed=5)
    r = event_study(s, "y", pre=12, post=24)
    assert not r.no_interval and np.isfinite(r.pretrend["p"])
    e12, e24 = r.effect(12), r.effect(24)
    assert e12["n_treated"] == 20 and e12["n_controls"] == 16
    assert e12["lower"] < e12["upper"] and e12["estimate"] == pytest.approx(1.0, abs=0.3)
    assert e24["n_treated"] < MIN_ARM and np.isnan(e24["lower"]) and np.isnan(e24["p"])
    assert np.isnan(r.effect(24, "average")["lower"])
    assert e24["estimate"] == pytest.approx(1.0, abs=0.3)  # the estimate is still shown
    co = r.coefficients.set_index("event_time")
    assert co.loc[co["n_treated"] >= MIN_ARM, "lower"].drop(-1).notna().all()
    assert co.loc[co["n_treated"] < MIN_ARM, "lower"].isna().all()
    summ = r.summary()
    assert summ.finding("pooled.y.12m").word != "cannot tell"
    assert summ.finding("pooled.y.24m").word == "cannot tell"
    why = [c for c in summ.caveats if c.startswith("No interval")]
    assert len(why) == 1 and "at 24 months" in why[0]
    assert f"{int(e24['n_treated'])} adopting councils are observed" in why[0]
    assert any(f"only {int(e24['n_treated'])} adopting councils" in st for st in r.statements)
    ax = plot_event_study(r)  # bars only where there are intervals
    assert "none where too few councils observed" in ax.texts[0].get_text()
    bars = [c for c in ax.collections if len(c.get_segments())]
    assert len(bars[0].get_segments()) == int(r.coefficients["lower"].notna().sum())
    # Same panel with every adopter observed 24 months: both horizons have intervals.
    early = {c: (14 + i % 3 if g is not None else None) for i, (c, g) in enumerate(cohorts.items())}
    r2 = event_study(_panel(early, 44, lambda c, e: 1.0, noise=0.2, seed=5), "y", pre=12, post=24)
    assert r2.effects["lower"].notna().all()
    assert not any(c.startswith("No interval") for c in r2.caveats)


def test_stacks_cohort_labels_are_calendar_dates(pop):
    ds, s = pop
    r = event_study(s, SHARE, inference="cluster", n_boot=0)
    starts = {
        pd.Timestamp(v["programme_start"])
        for v in ds.truth["councils"].values()
        if v["programme_start"]
    }
    assert set(r.stacks["cohort"]) <= starts
    assert r.stacks["cohort"].dt.year.between(2020, 2026).all()


def test_pretrend_test_detects_diverging_trends():
    cohorts = {f"T{i}": 14 + i % 3 for i in range(MIN_ARM)} | {
        f"N{i}": None for i in range(MIN_ARM)
    }
    s = _panel(cohorts, 36, lambda c, e: 0.0, noise=0.2, trend=0.15, seed=4)
    r = event_study(s, "y", pre=12, post=12, inference="cluster")
    assert "bootstrap" in r.pretrend["method"] and r.pretrend["p"] < 0.01
    assert any("did not move in parallel" in st for st in r.statements)
    f = event_study(s, "y", pre=12, post=12, inference="cluster", n_boot=0)
    assert "F test" in f.pretrend["method"] and f.pretrend["p"] < 0.001
    # No divergence: the same panel without the trend passes.
    ok = _panel(cohorts, 36, lambda c, e: 0.0, noise=0.2, seed=4)
    assert event_study(ok, "y", pre=12, post=12).pretrend["p"] > 0.05


def test_event_study_rejects_impossible_designs():
    s = _panel({"A": 5, "B": 8}, 20, lambda c, e: 1.0)  # no never/not-yet adopters
    with pytest.raises(ValueError, match="clean comparison"):
        event_study(s, "y", pre=3, post=20)
    with pytest.raises(ValueError, match="not a column"):
        event_study(s, "nope")


# --------------------------------------------------------------------------
# Savings
# --------------------------------------------------------------------------


def test_spend_components_add_up(pooled_pop):
    ds, s = pooled_pop
    prices = base_prices(s, s[PERIOD] < s[COHORT].min())
    comp = spend_components(s, prices)
    total = comp["spend_volume"] + comp["spend_mix"] + comp["spend_price"]
    np.testing.assert_allclose(total, comp[SPEND], rtol=1e-12)
    r = savings(s, n_boot=199)
    t = r.table.set_index(["horizon", "measure", "component"])["estimate"].sort_index()
    for h in (12, 24):
        for m in ("weekly", "annual", "cumulative"):
            parts = t.loc[(h, m)].drop("total").sum()
            assert parts == pytest.approx(t.loc[(h, m, "total")], rel=1e-9)
    wk = t.loc[(12, "weekly", "total")]
    assert t.loc[(12, "annual", "total")] == pytest.approx(wk * 365.25 / 7)
    truth = true_effect(ds.truth, SPEND, 12)
    row = r.table.query("horizon == 12 and measure == 'weekly' and component == 'total'").iloc[0]
    # weekly spend per adopting council: within 35% of the true mean difference
    assert row["estimate"] == pytest.approx(truth, rel=0.35)
    assert row["lower"] < truth < row["upper"]
    assert any("a year" in st for st in r.statements)


def test_savings_withholds_intervals_below_the_floor(pop):
    # pop has 14 adopting councils (fewer than MIN_ARM): the comparison design's
    # spend figures come without intervals, and the text says why.
    ds, s = pop
    r = savings(s, n_boot=99)
    assert r.results["total"].n_treated < MIN_ARM
    assert r.table["lower"].isna().all() and r.table["upper"].isna().all()
    assert r.table["estimate"].notna().all()
    assert any(f"no interval: fewer than {MIN_ARM} adopting" in st for st in r.statements)
    assert r.results["total"].no_interval in r.caveats
    assert r.summary().finding("savings.total.12m").word == "cannot tell"


def _effects(**kw) -> ProgrammeEffects:
    base = dict(
        in_house_weight=1.0,
        ifa_weight=1.0,
        childrens_home_weight=1.0,
        step_down_rate_childrens_home=0.0,
        step_down_rate_ifa=0.0,
        price_growth_after=None,
        need_change_per_year=0.0,
    )
    base.update(kw)
    return ProgrammeEffects(**base)


def test_savings_split_mix_from_prices():
    # Prices only: price growth stops at the start; placements unchanged, so the
    # whole true effect on spend is a price effect.
    ds, s = _arms_pop(31, size=200, programme=_effects(price_growth_after=0.0))
    r = savings(s, horizons=(24,), n_boot=499)
    w = r.table[r.table["measure"] == "weekly"].set_index("component")
    truth = true_effect(ds.truth, SPEND, 24, councils=r.results["total"].treated_at[24])
    assert w.loc["prices", "upper"] < 0  # a clear price saving
    assert w.loc["prices", "lower"] < truth < w.loc["prices", "upper"]
    assert w.loc["placement mix", "lower"] < 0 < w.loc["placement mix", "upper"]
    # Mix only: step-downs and a tilt to in-house fostering; prices unchanged.
    ds, s = _arms_pop(
        32,
        size=200,
        programme=_effects(
            in_house_weight=1.5, childrens_home_weight=0.7, step_down_rate_childrens_home=0.6
        ),
    )
    r = savings(s, horizons=(24,), n_boot=499)
    w = r.table[r.table["measure"] == "weekly"].set_index("component")
    truth = true_effect(ds.truth, SPEND, 24, councils=r.results["total"].treated_at[24])
    assert w.loc["placement mix", "upper"] < 0
    assert w.loc["placement mix", "lower"] < truth < w.loc["placement mix", "upper"]
    assert w.loc["prices", "lower"] < 0 < w.loc["prices", "upper"]
    assert abs(w.loc["placement mix", "estimate"]) > 5 * abs(w.loc["prices", "estimate"])


def test_savings_for_one_council(pop):
    ds, s = pop
    c = sorted(ds.truth["true_effects"])[0]
    r = savings(s, council=c)
    assert r.scope == c and r.design.startswith("before/after")
    tot = r.table.query("horizon == 12 and measure == 'weekly'").set_index("component")
    assert tot.drop("total")["estimate"].sum() == pytest.approx(tot.loc["total", "estimate"])
    assert r.results["total"].n_placebo >= 5


# --------------------------------------------------------------------------
# Placement mix and disclosure
# --------------------------------------------------------------------------


def test_protect_mix_never_shows_fewer_than_six():
    counts = {
        "in_house_foster": 40.0,
        "ifa_foster": 30.0,
        "kinship": 4.0,
        "secure": 1.0,
        "childrens_home": 7.0,
        "placed_with_parents": 0.0,
        "other": 0.0,
        "supported_accommodation": 0.0,
    }
    rows = pd.DataFrame(_protect_mix("before", counts, 6))
    assert (rows["children"] >= 6).all()
    assert COMBINED in set(rows["label"])
    assert rows["share"].sum() == pytest.approx(1.0)
    # kinship (4) + secure (1) = 5 < 6, so the smallest shown type (children's home) joins.
    assert "childrens_home" not in set(rows["placement_type"])
    assert rows.loc[rows["label"] == COMBINED, "children"].iloc[0] == 12


def test_placement_mix_pooled_and_single(pop):
    ds, s = pop
    c = sorted(ds.truth["true_effects"])[0]
    one = placement_mix(s, c)
    assert (one.table["children"] >= 6).all()
    for period in ("before", "after"):
        assert one.table.loc[one.table[PERIOD] == period, "share"].sum() == pytest.approx(1)
    pooled = placement_mix(s)
    inh = pooled.table[pooled.table["placement_type"] == "in_house_foster"].set_index("period")
    assert inh.loc["after", "share"] > inh.loc["before", "share"]
    with pytest.raises(ValueError):
        placement_mix(s, s.loc[s[COHORT].isna(), Col.council].iloc[0])


# --------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------


def test_plots_draw_and_hide_small_marks(pop):
    ds, s = pop
    c = sorted(ds.truth["true_effects"])[0]
    r = its(s, c, SHARE)
    r.data.loc[:4, "children"] = 3  # pretend the first five months had 3 children
    ax = plot_its(r)
    assert len(ax.collections[0].get_offsets()) == len(r.data) - 5
    assert plot_event_study(event_study(s, SHARE, n_boot=99)).get_title()
    assert plot_placement_mix(placement_mix(s, c)).get_title()
    assert plot_savings(savings(s, n_boot=99)).get_title()


# --------------------------------------------------------------------------
# One council against comparison councils; need and outcome truth
# --------------------------------------------------------------------------


def test_council_did_recovers_truth_per_council(pop):
    # Mean over the ~14 adopting councils at 12 months against the mean of their
    # own truths; tolerances about 3 standard errors of that mean (spread of
    # council estimates / sqrt(14), measured on this population).
    from vc_eval.analysis.impact import council_did

    ds, s = pop
    for outcome, tol in (
        (SHARE, 0.025),
        (COST, 100.0),
        ("mean_total_need", 0.75),
        ("need_change_6m", 0.75),
    ):
        est, truth, cover = [], [], []
        for c in ds.truth["true_effects"]:
            try:
                r = council_did(s, c, outcome, horizons=(12,))
            except ValueError:
                continue  # e.g. fewer than 12 months before the start
            e = r.effect(12)
            t = true_effect(ds.truth, outcome, 12, councils=[c])
            est.append(e["estimate"])
            truth.append(t)
            cover.append(e["lower"] <= t <= e["upper"])
            assert e["level"] == pytest.approx(min(0.95, r.n_placebo / (r.n_placebo + 1)))
        assert len(est) >= 10
        assert abs(np.mean(est) - np.mean(truth)) < tol, (outcome, np.mean(est), np.mean(truth))
        # 94-95% intervals (16 or more placebo councils): at least 3 in 4 cover here.
        assert np.mean(cover) >= 0.75, (outcome, np.mean(cover))


def test_per_council_designs_recover_spend_and_need_truth():
    """Every per-council estimand the impact section shows has a recovery test:
    in-house share and cost are checked above (pooled before/after, comparison
    councils); here weekly spend (both designs) and mean total need (before/after)
    against ``truth["true_effects"]``, on seed 15, which no other test uses: 24
    councils of 300 children, 8 adopting (4 in July 2022, 4 in January 2023), 16
    never (enough placebos for 94% intervals). Mean over the 8 adopters at 12
    months against the mean of their truths. Tolerances about 3.5 standard errors
    of that mean (on seeds 15-16 the SE was GBP 9k-19k a week for spend before/
    after, 6k-14k for comparison councils, 0.30-0.36 points for need), and at
    least 3 in 4 of the councils' intervals contain their truth (coverage is
    measured in the study in benchmarks/README.md)."""
    from vc_eval.analysis.impact import council_did

    n = 24
    ds = generate(
        SynthConfig(
            councils=n,
            seed=15,
            sizes=(300,) * n,
            adopters=(True,) * 8 + (False,) * (n - 8),
            programme_starts=("2022-07-01",) * 4 + ("2023-01-01",) * 4 + (None,) * (n - 8),
        )
    )
    s = council_series(ds, progress=False)
    for fn, outcome, tol in (
        (its, SPEND, 60_000.0),
        (its, "mean_total_need", 1.2),
        (council_did, SPEND, 50_000.0),
    ):
        est, truth, cover = [], [], []
        for c in ds.truth["true_effects"]:
            e = fn(s, c, outcome, horizons=(12,)).effect(12)
            t = true_effect(ds.truth, outcome, 12, councils=[c])
            est.append(e["estimate"])
            truth.append(t)
            cover.append(e["lower"] <= t <= e["upper"])
        assert len(est) == 8
        err = np.mean(est) - np.mean(truth)
        assert abs(err) < tol, (fn.__name__, outcome, np.mean(est), np.mean(truth))
        assert np.mean(cover) >= 0.75, (fn.__name__, outcome, np.mean(cover))
    # the truths are real effects, not zeros (spend falls, need falls)
    assert true_effect(ds.truth, SPEND, 12) < -20_000
    assert true_effect(ds.truth, "mean_total_need", 12) < -0.5


def test_need_and_outcome_truth(pop, null_pop):
    from vc_eval.analysis.impact import true_outcome_effects

    ds, _ = pop
    nd, _ = null_pop
    need12 = true_effect(ds.truth, "mean_total_need", 12)
    # -2 points a year of exposure, children exposed for up to 12 months: about -1 to -2.
    assert -2.0 < need12 < -0.5
    ch = true_effect(ds.truth, "need_change_6m", 24)
    assert -1.0 <= ch < -0.7  # -1 per 6 months for a child exposed the whole 6 months
    o = true_outcome_effects(ds.truth)
    assert set(o["measure"]) == {"sdq_total", "placement_moves", "missing_episodes"}
    sdq = o[o["measure"] == "sdq_total"]
    assert (sdq["effect"] < 0).mean() > 0.9  # lower need -> fewer difficulties
    # The null: no programme, no effect on need or outcomes, exactly.
    assert true_effect(nd.truth, "mean_total_need", 12) == 0.0
    assert (true_outcome_effects(nd.truth)["effect"] == 0).all()


def test_council_did_null_run(null_pop):
    # No programme: intervals exclude zero only by chance (5% each; about 20
    # council-horizons per outcome that share one set of placebo councils, so the
    # tolerance is wide: at most a quarter).
    from vc_eval.analysis.impact import council_did

    ds, s = null_pop
    for outcome in (SHARE, COST, "mean_total_need"):
        hits = []
        for c in ds.truth["true_effects"]:
            try:
                r = council_did(s, c, outcome)
            except ValueError:
                continue
            e = r.effects[r.effects["kind"] == "point"]
            hits += list((e["lower"] > 0) | (e["upper"] < 0))
        assert len(hits) >= 15 and np.mean(hits) <= 0.25, (outcome, np.mean(hits), len(hits))


def test_council_did_leave_one_out_equals_the_series_without_each_council(pop):
    """The sensitivity table's leave-one-out rows, from one reshaping of the series, are
    exactly council_did on the series without that council (estimates, intervals, words)."""
    from vc_eval.analysis.impact import council_did
    from vc_eval.analysis.impact.council_did import council_did_leave_one_out

    ds, s = pop
    council = next(iter(ds.truth["true_effects"]))
    for outcome in (SHARE, COST):
        base = council_did(s, council, outcome, horizons=(12,))
        runs = council_did_leave_one_out(s, council, outcome, base.comparisons, horizons=(12,))
        assert [c for c, _ in runs] == base.comparisons and len(runs) >= 10
        for c, run in runs:
            less = s[s["council"] != c]
            less.attrs = dict(s.attrs)
            want, got = council_did(less, council, outcome, horizons=(12,)), run()
            pd.testing.assert_frame_equal(got.effects, want.effects)
            pd.testing.assert_frame_equal(got.data, want.data)
            np.testing.assert_array_equal(got.placebo_t, want.placebo_t)
            assert got.comparisons == want.comparisons and c not in got.comparisons
            assert got.statements == want.statements and got.caveats == want.caveats
    # a council whose leaving out leaves no comparison: the same error as the plain run
    two = s[s["council"].isin([council, base.comparisons[0]])]
    two.attrs = dict(s.attrs)
    ((c, run),) = council_did_leave_one_out(two, council, SHARE, [base.comparisons[0]])
    alone = s[s["council"] == council]
    alone.attrs = dict(s.attrs)
    for fn in (run, lambda: council_did(alone, council, SHARE)):
        with pytest.raises(ValueError, match="no comparison council"):
            fn()
    # a council alone in having a value in a month of the window (the council's own value
    # missing there too): leaving it out reshapes the series differently; the same error
    c = base.comparisons[0]
    gap = s.copy()
    gap.attrs = dict(s.attrs)
    month = sorted(gap.loc[gap["council"] == council, PERIOD].unique())[-14]
    gap.loc[(gap[PERIOD] == month) & (gap["council"] != c), SHARE] = np.nan
    ((_, run),) = council_did_leave_one_out(gap, council, SHARE, [c], horizons=(12,))
    less = gap[gap["council"] != c]
    less.attrs = dict(s.attrs)
    with pytest.raises(ValueError) as fast:
        run()
    with pytest.raises(ValueError) as plain:
        council_did(less, council, SHARE, horizons=(12,))
    assert str(fast.value) == str(plain.value)


def test_council_did_without_a_value_of_the_outcome_says_so(pop):
    # a council whose outcome is missing throughout (e.g. no costs in a 903-only return):
    # a plain reason the section can print, not a lookup error
    from vc_eval.analysis.impact import council_did

    ds, s = pop
    council = next(iter(ds.truth["true_effects"]))
    blank = s.copy()
    blank.attrs = dict(s.attrs)
    blank.loc[blank["council"] == council, COST] = np.nan
    with pytest.raises(ValueError, match="no value of the outcome for the council"):
        council_did(blank, council, COST)
