"""Measurement-error correction, checked by recovery on data made here.

Tolerances are about 4 standard errors of each estimate at the sizes used,
so a correct method fails by chance far less than once in a thousand runs,
while the uncorrected estimates (biased by 20-50%) fall well outside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from vc_eval.analysis.measurement_error import (
    composite_scores,
    eiv_ols,
    error_variance,
    review_scores,
    wide_scores,
)
from vc_eval.core.schema import Col


def test_eiv_recovers_slope_under_classical_error(rng):
    n, beta, sd_x, sd_e = 20_000, 0.5, 10.0, 6.0  # reliability 100 / 136 = 0.74
    x_true = rng.normal(50, sd_x, n)
    z = rng.normal(0, 1, n)
    y = 2 + beta * x_true + 1.5 * z + rng.normal(0, 3, n)
    x_obs = x_true + rng.normal(0, sd_e, n)
    X = pd.DataFrame({"const": 1.0, "x": x_obs, "z": z})
    fit = eiv_ols(X, y, noisy="x", error_var=sd_e**2)
    # SE of the corrected slope is about 0.004 here
    assert fit.params["x"] == pytest.approx(beta, abs=0.02)
    assert fit.params["z"] == pytest.approx(1.5, abs=0.1)
    assert fit.naive["x"] == pytest.approx(beta * 100 / 136, abs=0.02)
    assert fit.reliability == pytest.approx(100 / 136, abs=0.02)
    # uncorrected fit equals statsmodels OLS
    ols = sm.OLS(y, X).fit()
    np.testing.assert_allclose(fit.naive.to_numpy(), ols.params.to_numpy(), rtol=1e-10)


def test_eiv_change_score_removes_regression_to_the_mean(rng):
    # true change does not depend on baseline; a group with higher true need
    # has the same true change. Naive fits show a baseline slope and a group gap.
    n, sd_e = 30_000, 6.0
    group = rng.random(n) < 0.3
    x1 = rng.normal(40, 8, n) + 10 * group
    x2 = x1 - 1.0 + rng.normal(0, 2, n)  # everyone falls by 1 point
    o1, o2 = x1 + rng.normal(0, sd_e, n), x2 + rng.normal(0, sd_e, n)
    y = o2 - o1
    X = pd.DataFrame({"const": 1.0, "baseline": o1, "group": group.astype(float)})
    fit = eiv_ols(X, y, noisy="baseline", error_var=sd_e**2, error_cov_y=-(sd_e**2))
    assert fit.params["baseline"] == pytest.approx(0.0, abs=0.03)
    assert fit.params["group"] == pytest.approx(0.0, abs=0.35)
    assert fit.params["const"] + 40 * fit.params["baseline"] == pytest.approx(-1.0, abs=0.2)
    assert fit.naive["baseline"] < -0.3  # regression to the mean
    assert fit.naive["group"] > 1.5  # leaks into the group comparison


def test_cluster_robust_se_matches_statsmodels(rng):
    n_groups, per = 300, 4
    g = np.repeat(np.arange(n_groups), per)
    u = rng.normal(0, 2, n_groups)[g]
    x = rng.normal(0, 1, g.size) + 0.5 * rng.normal(0, 1, n_groups)[g]
    y = 1 + 2 * x + u + rng.normal(0, 1, g.size)
    X = pd.DataFrame({"const": 1.0, "x": x})
    fit = eiv_ols(X, y, noisy=None, groups=g)
    ref = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": g})
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.cov.to_numpy(), ref.cov_params().to_numpy(), rtol=1e-8)


def test_error_variance_from_repeat_pairs(rng):
    # 400 children, each with reviews 6 months apart; 30% of reviews scored
    # again by another assessor within 14 days. Error sd 5 (variance 25).
    rows = []
    for c in range(400):
        true = rng.normal(45, 10)
        for k in range(4):
            day = pd.Timestamp("2022-01-01") + pd.Timedelta(days=182 * k + int(rng.integers(0, 5)))
            rows.append((f"C{c}", day, f"A{rng.integers(0, 50)}", true + rng.normal(0, 5)))
            if rng.random() < 0.3:
                rows.append(
                    (
                        f"C{c}",
                        day + pd.Timedelta(days=int(rng.integers(1, 15))),
                        "B" + str(rng.integers(0, 50)),
                        true + rng.normal(0, 5),
                    )
                )
    s = pd.DataFrame(rows, columns=[Col.child_id, Col.assessment_date, Col.assessor_id, Col.score])
    ev = error_variance(s)
    assert 400 < ev.n_pairs < 560
    # ~480 pairs: relative SE of the variance sqrt(2/480) = 6.5%
    assert ev.variance == pytest.approx(25.0, rel=0.25)
    assert ev.ci[0] < 25.0 < ev.ci[1]
    rev = review_scores(s)
    assert len(rev) == 1600
    assert rev["n_scores"].sum() == len(s)
    with pytest.raises(ValueError, match="too few"):
        error_variance(s.drop_duplicates(Col.child_id))


def test_composite_from_long_and_wide_agree(bundled):
    a = bundled.assessments
    doms = ["emotional_health", "behaviour"]
    long = composite_scores(a, doms)
    wide = composite_scores(wide_scores(a), doms)
    pd.testing.assert_frame_equal(
        long.reset_index(drop=True), wide.reset_index(drop=True), check_dtype=False
    )
