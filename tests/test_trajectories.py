"""fit_growth on generic long tables: lme4's published fit, direct statsmodels calls,
errors, warnings and optimiser fallback, curves and peaks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.regression.mixed_linear_model import MixedLM

from vc_eval.analysis.trajectories import GrowthFitWarning, fit_growth
from vc_eval.analysis.trajectories.peaks import (
    ALL_PEAKS,
    refine_ages,
    summarise_peaks,
    summarise_steepest,
)

DATA = Path(__file__).parent / "data"

# lme4 (Bates et al. 2015, JSS 67(1)), REML fit of Reaction ~ Days + (Days|Subject)
# on sleepstudy, as printed to 3 decimals.
LME4_SLEEPSTUDY = {
    "intercept": 251.405,
    "days": 10.467,
    "sd_intercept": 24.741,
    "sd_slope": 5.922,
    "corr": 0.066,
    "sd_residual": 25.592,
}


def sleepstudy_like(seed: int = 7, n_subjects: int = 18, n_days: int = 10) -> pd.DataFrame:
    """Data shaped like lme4's sleepstudy, with known parameters."""
    rng = np.random.default_rng(seed)
    cov = np.array([[25.0**2, 0.07 * 25 * 6], [0.07 * 25 * 6, 6.0**2]])
    b = rng.multivariate_normal([0, 0], cov, size=n_subjects)
    days = np.tile(np.arange(n_days, dtype=float), n_subjects)
    subj = np.repeat(np.arange(n_subjects), n_days)
    y = 251 + 10.5 * days + b[subj, 0] + b[subj, 1] * days + rng.normal(0, 25.6, days.size)
    return pd.DataFrame(
        {
            "Reaction": y,
            "Days": days,
            "Subject": [f"S{s:03d}" for s in subj],
            "sex": np.where(subj % 2 == 0, "female", "male"),
            "dose": rng.normal(0, 1, days.size),
        }
    )


def direct(formula: str, data: pd.DataFrame, re_formula: str | None = "~Days", reml=True):
    """Direct statsmodels fit, converged tightly (BFGS, gradient 1e-10)."""
    m = smf.mixedlm(formula, data, groups=data["Subject"], re_formula=re_formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.fit(reml=reml, method=["bfgs"], gtol=1e-10)


def vc_of(res) -> dict:
    c = np.asarray(res.cov_re)
    out = {"sd_intercept": np.sqrt(c[0, 0]), "sd_residual": np.sqrt(res.scale)}
    if c.shape[0] > 1:
        out["sd_slope"] = np.sqrt(c[1, 1])
        out["corr"] = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])
    return out


# -- reference results ------------------------------------------------------------


def test_reproduces_lme4_published_sleepstudy_fit():
    d = pd.read_csv(DATA / "sleepstudy.csv")
    fit = fit_growth(d, outcome="Reaction", time="Days", group="Subject", age_centre=0)
    fe = fit.fixed_effects.set_index("term")["estimate"]
    vc = fit.variance_components
    # Published values are rounded to 3 decimals; statsmodels and lme4 agree to ~1e-3.
    assert fe["Intercept"] == pytest.approx(LME4_SLEEPSTUDY["intercept"], abs=2e-3)
    assert fe["Days"] == pytest.approx(LME4_SLEEPSTUDY["days"], abs=2e-3)
    for k in ("sd_intercept", "sd_slope", "corr", "sd_residual"):
        assert vc[k] == pytest.approx(LME4_SLEEPSTUDY[k], abs=2e-3), k
    assert fit.converged and fit.warnings == []
    assert fit.n_groups == 18 and fit.n_obs == 180
    # lme4's REML criterion is 1743.6, i.e. log-likelihood -871.8
    assert fit.llf == pytest.approx(-871.8, abs=0.05)


def test_matches_direct_statsmodels_fit_to_1e6():
    d = sleepstudy_like()
    ref = direct("Reaction ~ Days", d)
    fit = fit_growth(
        d,
        outcome="Reaction",
        time="Days",
        group="Subject",
        age_centre=0,
        polish=True,
        engine="statsmodels",
    )
    assert fit.method == "lbfgs+bfgs"
    fe = fit.fixed_effects
    np.testing.assert_allclose(fe["estimate"], ref.fe_params, rtol=1e-6)
    np.testing.assert_allclose(fe["se"], ref.bse_fe, rtol=1e-6)
    for k, v in vc_of(ref).items():
        # the correlation is near 0 here, so it is compared absolutely
        assert fit.variance_components[k] == pytest.approx(v, rel=1e-6, abs=1e-6), k
    # time is scaled internally; the reported REML log-likelihood is on Days' own scale
    assert fit.llf == pytest.approx(ref.llf, rel=1e-9)
    assert fit.basis.scale != 1.0


def test_default_optimiser_agrees_with_direct_fit_to_1e3():
    # L-BFGS-B's stopping rule leaves variance components ~1e-4 from the optimum
    d = sleepstudy_like(seed=11)
    ref = direct("Reaction ~ Days", d)
    fit = fit_growth(
        d, outcome="Reaction", time="Days", group="Subject", age_centre=0, engine="statsmodels"
    )
    assert fit.method == "lbfgs"
    np.testing.assert_allclose(fit.fixed_effects["estimate"], ref.fe_params, rtol=1e-5)
    for k, v in vc_of(ref).items():
        assert fit.variance_components[k] == pytest.approx(v, rel=1e-3, abs=1e-4), k


def test_default_centring_reports_intercept_and_variances_at_the_centre():
    d = sleepstudy_like()
    ref = direct("Reaction ~ Days", d)
    fit = fit_growth(d, outcome="Reaction", time="Days", group="Subject", polish=True)
    c = fit.basis.centre
    assert c == pytest.approx(4.5)
    b0, b1 = ref.fe_params
    fe = fit.fixed_effects.set_index("term")["estimate"]
    assert fe["Intercept"] == pytest.approx(b0 + b1 * c, rel=1e-6)
    assert fe["Days"] == pytest.approx(b1, rel=1e-6)
    v = np.asarray(ref.cov_re)
    var_c = v[0, 0] + 2 * c * v[0, 1] + c**2 * v[1, 1]
    assert fit.variance_components["sd_intercept"] == pytest.approx(np.sqrt(var_c), rel=1e-5)
    assert fit.variance_components["sd_slope"] == pytest.approx(np.sqrt(v[1, 1]), rel=1e-5)
    assert fit.llf == pytest.approx(ref.llf, rel=1e-9)


def test_hinge_basis_ml_fit_matches_direct_call():
    d = sleepstudy_like(seed=3)
    ref = direct("Reaction ~ Days + I(np.maximum(Days - 4, 0))", d, reml=False)
    fit = fit_growth(
        d,
        outcome="Reaction",
        time="Days",
        group="Subject",
        basis="hinge",
        knots=[4],
        age_centre=0,
        reml=False,
        polish=True,
    )
    assert list(fit.fixed_effects["term"]) == ["Intercept", "Days", "Days_after_4"]
    np.testing.assert_allclose(fit.fixed_effects["estimate"], ref.fe_params, rtol=1e-6)
    np.testing.assert_allclose(fit.fixed_effects["se"], ref.bse_fe, rtol=1e-5)
    assert fit.llf == pytest.approx(ref.llf, rel=1e-9)


def test_spline_basis_and_covariates_match_direct_call():
    d = sleepstudy_like(seed=5)
    fit = fit_growth(
        d,
        outcome="Reaction",
        time="Days",
        group="Subject",
        basis="spline",
        knots=[3, 6],
        random="intercept",
        covariates=("sex", "dose"),
        polish=True,
    )
    assert fit.basis.knots == (0.0, 3.0, 6.0, 9.0)
    ref = direct(
        "Reaction ~ cr(Days, knots=[3.0, 6.0], lower_bound=0.0, upper_bound=9.0, "
        "constraints='center') + C(sex) + dose",
        d,
        re_formula=None,
    )
    # statsmodels puts C(sex) before the spline columns; match by position of kind
    names = list(ref.fe_params.index)
    order = [0] + [i for i, n in enumerate(names) if n.startswith("cr(")]
    order += [names.index("C(sex)[T.male]"), names.index("dose")]
    np.testing.assert_allclose(fit.fe_params, ref.fe_params.iloc[order], rtol=1e-6)
    assert fit.variance_components["sd_intercept"] == pytest.approx(
        vc_of(ref)["sd_intercept"], rel=1e-6
    )
    assert fit.llf == pytest.approx(ref.llf, rel=1e-9)
    assert "sex[male]" in fit.names and "dose" in fit.names


def test_fast_engine_gives_the_same_fit():
    pytest.importorskip("vc_eval.analysis.lmm_fast")
    d = sleepstudy_like(seed=9)
    a = fit_growth(d, outcome="Reaction", time="Days", group="Subject", polish=True)
    b = fit_growth(d, outcome="Reaction", time="Days", group="Subject", engine="fast")
    assert b.engine == "fast" and b.converged
    np.testing.assert_allclose(b.fe_params, a.fe_params, rtol=1e-6)
    np.testing.assert_allclose(b.cov_re, a.cov_re, rtol=1e-4)
    assert b.llf == pytest.approx(a.llf, rel=1e-8)


def test_one_growth_design_fits_several_outcomes_as_fit_growth_does():
    # GrowthDesign shares the basis, design and engine statistics between
    # outcomes on the same rows; each fit equals its own fit_growth.
    from vc_eval.analysis.trajectories import GrowthDesign

    d = sleepstudy_like(seed=4, n_subjects=40)
    d["Other"] = 0.5 * d["Reaction"] + np.random.default_rng(1).normal(0, 20, len(d))
    kw = dict(time="Days", group="Subject", basis="spline", df=3)
    gd = GrowthDesign.build(d[["Days", "Subject"]], **kw)
    for outcome in ("Reaction", "Other", "Reaction"):
        shared = gd.fit(d[outcome].to_numpy(), outcome=outcome)
        alone = fit_growth(d, outcome=outcome, **kw)
        se = np.sqrt(np.diag(alone.cov_fe))
        assert np.max(np.abs(shared.fe_params - alone.fe_params) / se) < 1e-5
        np.testing.assert_allclose(np.diag(shared.cov_fe), np.diag(alone.cov_fe), rtol=1e-5)
        np.testing.assert_allclose(shared.cov_re, alone.cov_re, rtol=1e-4)
        assert shared.llf == pytest.approx(alone.llf, rel=1e-10)
        assert list(shared.data.columns) == list(alone.data.columns)
        assert (shared.n_obs, shared.n_groups) == (alone.n_obs, alone.n_groups)
    assert shared._engine_state[0] is gd._lmm  # one engine design for every outcome
    with pytest.raises(ValueError, match="values for"):
        gd.fit(d["Reaction"].to_numpy()[:-1], outcome="Reaction")


# -- curves ---------------------------------------------------------------------------


def test_curve_is_the_fixed_part_with_a_delta_method_band():
    d = sleepstudy_like()
    fit = fit_growth(d, outcome="Reaction", time="Days", group="Subject", age_centre=0)
    fe = fit.fixed_effects.set_index("term")
    cov = fit.cov_fe * np.outer(fit.design.units, fit.design.units)  # per day
    c = fit.curve([0.0, 2.5, 9.0])
    for age, row in zip([0.0, 2.5, 9.0], c.itertuples(), strict=True):
        g = np.array([1.0, age])
        assert row.estimate == pytest.approx(
            fe.loc["Intercept", "estimate"] + age * fe.loc["Days", "estimate"]
        )
        assert row.se == pytest.approx(np.sqrt(g @ cov @ g))
        assert row.lower == pytest.approx(row.estimate - 1.959964 * row.se, rel=1e-6)
    assert (c["upper"] > c["lower"]).all()


def test_curve_at_a_covariate_level():
    d = sleepstudy_like()
    d.loc[d["sex"] == "male", "Reaction"] += 40
    fit = fit_growth(d, outcome="Reaction", time="Days", group="Subject", covariates=("sex",))
    m = fit.curve([5.0], at={"sex": "male"})["estimate"].iloc[0]
    f = fit.curve([5.0], at={"sex": "female"})["estimate"].iloc[0]
    avg = fit.curve([5.0])["estimate"].iloc[0]
    sex_effect = fit.fixed_effects.set_index("term").loc["sex[male]", "estimate"]
    assert m - f == pytest.approx(sex_effect)
    assert f < avg < m  # the default curve averages over the sample's mix
    with pytest.raises(KeyError, match="not a covariate"):
        fit.curve([5.0], at={"council": "x"})


# -- peaks ----------------------------------------------------------------------------


def bumps(grid, a=7.0, b=11.0, hb=1.0):
    return np.exp(-0.5 * ((grid - a) / 1.3) ** 2) + hb * np.exp(-0.5 * ((grid - b) / 1.3) ** 2)


def test_summarise_peaks_finds_peaks_and_intervals():
    grid = np.linspace(0, 18, 901)
    rng = np.random.default_rng(0)
    shifts = rng.normal(0, 0.2, 500)
    curves = np.array([bumps(grid - s) for s in shifts])
    table, counts = summarise_peaks(grid, bumps(grid), curves)
    assert list(table["peak"]) == [1, 2]
    assert table["age"].tolist() == pytest.approx([7.0, 11.0], abs=0.05)
    # percentile interval of the shifts: about +-1.96 * 0.2
    assert table["lower"].iloc[0] == pytest.approx(7 - 0.39, abs=0.1)
    assert table["upper"].iloc[0] == pytest.approx(7 + 0.39, abs=0.1)
    assert (table["share_with_peak"] == 1.0).all()
    assert counts.to_dict() == {2: 1.0}


def test_a_peak_that_vanishes_in_half_the_curves_is_reported_as_such():
    grid = np.linspace(0, 18, 901)
    curves = np.array([bumps(grid, hb=1.0)] * 100 + [bumps(grid, hb=0.0)] * 100)
    table, counts = summarise_peaks(grid, bumps(grid, hb=0.6), curves, reported_only=False)
    assert len(table) == 2
    assert table["share_with_peak"].tolist() == pytest.approx([1.0, 0.5])
    assert counts.to_dict() == pytest.approx({1: 0.5, 2: 0.5})
    # the default rule reports only the peak most plausible curves show
    assert table["reported"].tolist() == [True, False]
    shown, _ = summarise_peaks(grid, bumps(grid, hb=0.6), curves)
    assert shown["age"].tolist() == pytest.approx([7.0], abs=0.05)
    every, _ = summarise_peaks(grid, bumps(grid, hb=0.6), curves, rule=ALL_PEAKS)
    assert len(every) == 2


def test_default_rule_ignores_wiggles_that_every_curve_shares():
    # a falling line with small wiggles: the fitted curve and all its plausible
    # curves show the same wiggles, so only the prominence floor can tell
    grid = np.linspace(0, 18, 901)
    rng = np.random.default_rng(4)
    base = 50 - 0.3 * grid + 0.15 * np.sin(grid * 2.5)
    curves = base + rng.normal(0, 0.02, (200, 1))
    sd = 12.0  # spread of the scores themselves, as a fit would pass
    table, _ = summarise_peaks(grid, base, curves, scale=sd)
    assert table.empty
    cands, _ = summarise_peaks(grid, base, curves, scale=sd, reported_only=False)
    assert len(cands) > 2 and not cands["reported"].any()
    # a real peak of a few points on the same line is reported
    peaked = base + 6 * np.exp(-0.5 * ((grid - 9) / 1.3) ** 2)
    t, _ = summarise_peaks(grid, peaked, peaked + rng.normal(0, 0.05, (200, 1)), scale=sd)
    assert t["age"].tolist() == pytest.approx([9.0], abs=0.3)


def test_peak_ages_are_located_between_grid_points():
    grid = np.linspace(0, 18, 19)  # a coarse grid: one point a year
    curve = -((grid - 7.3) ** 2)
    table, _ = summarise_peaks(grid, curve, curve[None, :])
    assert table["age"].iloc[0] == pytest.approx(7.3, abs=1e-9)
    assert refine_ages(grid, curve, np.array([7]))[0] == pytest.approx(7.3)


def test_ends_are_not_peaks_and_small_bumps_can_be_ignored():
    grid = np.linspace(0, 18, 901)
    falling = 50 - 2 * grid
    assert summarise_peaks(grid, falling, falling[None, :])[0].empty
    wiggly = bumps(grid) * 10 + 0.05 * np.sin(grid * 6)
    all_peaks, _ = summarise_peaks(grid, wiggly, wiggly[None, :])
    big, _ = summarise_peaks(grid, wiggly, wiggly[None, :], min_prominence=1.0)
    assert len(all_peaks) > 2
    assert big["age"].tolist() == pytest.approx([7.0, 11.0], abs=0.1)


def test_steepest_rise_and_fall():
    grid = np.linspace(0, 18, 901)
    curve = 1 / (1 + np.exp(-(grid - 5))) - 1 / (1 + np.exp(-(grid - 13) / 0.5))
    t = summarise_steepest(grid, curve, curve[None, :]).set_index("direction")
    assert t.loc["rise", "age"] == pytest.approx(5.0, abs=0.05)
    assert t.loc["fall", "age"] == pytest.approx(13.0, abs=0.05)
    assert t.loc["fall", "slope"] == pytest.approx(-0.5, abs=0.01)


def peaked_data(n_groups: int = 120, seed: int = 1) -> pd.DataFrame:
    """Need peaking at age 8 (quadratic), random intercepts, ages 2-15."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        ages = np.sort(rng.uniform(2, 15, 6))
        y = 60 - 0.5 * (ages - 8) ** 2 + rng.normal(0, 6) + rng.normal(0, 3, ages.size)
        rows.append(pd.DataFrame({"age": ages, "need": y, "child": f"c{g}"}))
    return pd.concat(rows, ignore_index=True)


def test_peak_from_draws_recovers_a_known_peak():
    d = peaked_data(n_groups=200)
    fit = fit_growth(
        d, outcome="need", time="age", group="child", basis="spline", df=4, random="intercept"
    )
    ps = fit.peaks(n=1000, seed=3)
    assert len(ps.peaks) == 1
    p = ps.peaks.iloc[0]
    assert abs(p.age - 8.0) < 0.5
    assert p.lower < 8.0 < p.upper
    assert p.share_with_peak > 0.99
    assert ps.peaks.equals(fit.peaks(n=1000, seed=3).peaks)  # seeded: reproducible
    # another seed gives other draws, so other interval ends (located between
    # grid points, so they cannot coincide by rounding to the grid)
    other = fit.peaks(n=1000, seed=4).peaks
    assert other.loc[0, "lower"] != p.lower and other.loc[0, "upper"] != p.upper
    assert abs(other.loc[0, "lower"] - p.lower) < 0.3


def test_peak_from_bootstrap_over_groups():
    d = peaked_data(n_groups=80, seed=2)
    fit = fit_growth(
        d, outcome="need", time="age", group="child", basis="spline", df=4, random="intercept"
    )
    ps = fit.peaks("bootstrap", n=25, seed=1, progress=False)
    assert ps.method == "bootstrap" and ps.n == 25 and ps.notes == []
    p = ps.peaks.iloc[0]
    assert p.lower < 8.0 < p.upper
    assert p.upper - p.lower < 3
    # seeded: the same refits again
    a, _ = fit.bootstrap_params(3, rng=7)
    b, _ = fit.bootstrap_params(3, rng=7)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], fit.fe_params)


def test_observed_means_hide_ages_with_fewer_than_six_children():
    d = peaked_data(n_groups=60)
    d = d[d["age"] < 14].copy()
    extra = pd.DataFrame({"age": 14.5, "need": 50.0, "child": [f"c{i}" for i in range(5)]})
    fit = fit_growth(
        pd.concat([d, extra]), outcome="need", time="age", group="child", random="intercept"
    )
    ob = fit.observed_means()
    assert 14.0 not in set(ob["bin_start"])
    assert (ob["n_groups"] >= 6).all()
    ob5 = fit.observed_means(min_groups=5)
    assert 14.0 in set(ob5["bin_start"])


# -- errors, warnings, optimisers ---------------------------------------------------------


def test_clear_errors():
    d = sleepstudy_like()
    kw = dict(outcome="Reaction", time="Days", group="Subject")
    with pytest.raises(ValueError, match="too few groups.*5 .*at least 10"):
        fit_growth(d[d["Subject"].isin(d["Subject"].unique()[:5])], **kw)
    with pytest.raises(ValueError, match="not in the data: Age"):
        fit_growth(d, outcome="Reaction", time="Age", group="Subject")
    with pytest.raises(ValueError, match="random='intercept'"):
        fit_growth(d.groupby("Subject").head(1), **kw)
    with pytest.raises(ValueError, match="rank deficient"):
        fit_growth(d.assign(t2=d["Days"] * 2), covariates=("t2",), **kw)
    with pytest.raises(ValueError, match="Nelder-Mead"):
        fit_growth(d, methods=("nm", "lbfgs"), engine="statsmodels", **kw)
    with pytest.raises(ValueError, match="basis must be"):
        fit_growth(d, basis="quadratic", **kw)
    with pytest.raises(ValueError, match="engine must be"):
        fit_growth(d, engine="lme4", **kw)
    with pytest.raises(ValueError, match="inside the observed times"):
        fit_growth(d, basis="hinge", knots=[12], **kw)


def test_missing_values_are_dropped_and_counted():
    d = sleepstudy_like()
    d.loc[[0, 5, 17], "Reaction"] = np.nan
    fit = fit_growth(d, outcome="Reaction", time="Days", group="Subject")
    assert fit.n_dropped == 3 and fit.n_obs == 177
    assert "3 rows with missing values dropped" in fit.report()


def test_boundary_fit_is_flagged_never_swallowed():
    # no random slope in the truth: the slope variance runs to the boundary
    rng = np.random.default_rng(3)
    n = 40
    days = np.tile(np.arange(10.0), n)
    subj = np.repeat(np.arange(n), 10)
    y = 250 + 10 * days + rng.normal(0, 20, n)[subj] + rng.normal(0, 25, days.size)
    d = pd.DataFrame({"y": y, "t": days, "g": subj})
    with pytest.warns(GrowthFitWarning, match="warning\\(s\\) while fitting"):
        fit = fit_growth(d, outcome="y", time="t", group="g")
    assert fit.singular
    assert any("boundary" in w.lower() for w in fit.warnings)
    assert fit.stats()["n_warnings"] == len(fit.warnings) >= 1
    assert fit.summary().caveats == fit.warnings
    assert "warning:" in fit.report()


def test_optimiser_fallback_is_recorded(monkeypatch):
    real_fit = MixedLM.fit

    def flaky(self, *args, method=None, **kwargs):
        if method == ["lbfgs"]:
            raise np.linalg.LinAlgError("Singular matrix (simulated)")
        return real_fit(self, *args, method=method, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", flaky)
    d = sleepstudy_like()
    with pytest.warns(GrowthFitWarning):
        fit = fit_growth(d, outcome="Reaction", time="Days", group="Subject", engine="statsmodels")
    assert fit.converged and fit.method == "bfgs"
    assert [a["method"] for a in fit.attempts] == ["lbfgs", "bfgs"]
    assert "simulated" in fit.attempts[0]["warnings"][0]
    assert any("lbfgs did not converge" in w for w in fit.warnings)


def test_no_convergence_is_reported(monkeypatch):
    real_fit = MixedLM.fit

    def never(self, *args, **kwargs):
        res = real_fit(self, *args, **kwargs)
        res.converged = False
        return res

    monkeypatch.setattr(MixedLM, "fit", never)
    d = sleepstudy_like()
    with pytest.warns(GrowthFitWarning, match="no optimiser converged"):
        fit = fit_growth(
            d,
            outcome="Reaction",
            time="Days",
            group="Subject",
            methods=("lbfgs", "bfgs"),
            engine="statsmodels",
        )
    assert not fit.converged
    assert [a["method"] for a in fit.attempts] == ["lbfgs", "bfgs"]


def test_scaling_time_keeps_small_slope_variances_off_the_boundary():
    # slope SD 0.08 per unit time: statsmodels' optimisers (and its absolute
    # boundary check, variance < 0.01) trip on unscaled time but not on scaled time
    rng = np.random.default_rng(0)
    n, k = 120, 10
    t = np.tile(np.arange(k, dtype=float), n)
    g = np.repeat(np.arange(n), k)
    b0, b1 = rng.normal(0, 3, n), rng.normal(0, 0.08, n)
    y = 20 + 0.5 * t + b0[g] + b1[g] * (t - 4.5) + rng.normal(0, 0.5, t.size)
    d = pd.DataFrame({"y": y, "t": t, "g": g})
    scaled = fit_growth(d, outcome="y", time="t", group="g", engine="statsmodels")
    assert scaled.warnings == [] and scaled.method == "lbfgs"
    assert scaled.variance_components["sd_slope"] == pytest.approx(0.08, rel=0.15)
    with pytest.warns(GrowthFitWarning):
        raw = fit_growth(
            d,
            outcome="y",
            time="t",
            group="g",
            age_scale=1.0,
            methods=("lbfgs",),
            engine="statsmodels",
        )
    # unscaled, L-BFGS-B fails here: that is said, loudly, not hidden
    assert not raw.converged
    assert any("no optimiser converged" in w for w in raw.warnings)


def test_peak_rule_describes_itself():
    from vc_eval.analysis.trajectories.peaks import DEFAULT_RULE, PeakRule

    assert "90%" in DEFAULT_RULE.describe() and "0.1 standard deviations" in DEFAULT_RULE.describe()
    assert "2 points" in PeakRule(min_prominence=2.0).describe()
    assert DEFAULT_RULE.threshold(12.0) == pytest.approx(1.2)
    assert PeakRule(min_prominence=2.0).threshold(12.0) == 2.0
