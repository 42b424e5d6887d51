"""The faster spend computations give the figures of the straightforward ones.

``variance_explained`` fits its least squares by a QR decomposition (not the
statsmodels pseudo-inverse, an SVD of every row) and ``cost_need_correlation``
ranks each column once (the cost's ranks shared by every measure scored on the
same rows); both must give what statsmodels and scipy give, including with
ties, missing scores and a rank-deficient design.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from vc_eval.analysis.spend import LOG_COST, cost_need_correlation, variance_explained
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.schema import Col


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(7)
    n = 3_000
    need = rng.integers(0, 60, n).astype(float)  # integer scores: many ties
    types = rng.choice(["a", "b", "c", "d"], n)
    cost = np.exp(6 + 0.02 * need + (types == "b") * 0.5 + rng.normal(scale=0.4, size=n)).round()
    dom = need + rng.normal(scale=5, size=n)
    dom[rng.random(n) < 0.1] = np.nan  # some domains not scored
    return pd.DataFrame(
        {
            Col.child_id: rng.integers(0, 800, n).astype(str),
            TOTAL_NEED: need,
            "d1": dom,
            "d2": np.round(dom / 10),
            "copy": need * 2.0,  # collinear with total need
            Col.placement_type: types,
            Col.weekly_cost: cost,
            LOG_COST: np.log(cost),
        }
    )


def _statsmodels_r2(frame: pd.DataFrame, cols: list[str]) -> tuple[float, float]:
    d = frame[[LOG_COST, TOTAL_NEED, Col.placement_type, "d1", "d2", "copy"]].dropna()
    parts = []
    if "type" in cols:
        parts.append(pd.get_dummies(d[Col.placement_type], drop_first=True, dtype=float))
    parts += [d[[c]].astype(float) for c in cols if c != "type"]
    x = sm.add_constant(pd.concat(parts, axis=1).to_numpy(), has_constant="add")
    res = sm.OLS(d[LOG_COST].to_numpy(), x).fit()
    return res.rsquared, res.rsquared_adj


def test_variance_explained_equals_statsmodels(frame):
    v = variance_explained(frame, domains=["d1", "d2", "copy"]).set_index("model")
    for model, cols in {
        "need": [TOTAL_NEED],
        "type": ["type"],
        "type + need": ["type", TOTAL_NEED],
        "type + domains": ["type", "d1", "d2", "copy"],
    }.items():
        r2, adj = _statsmodels_r2(frame, cols)
        assert v.loc[model, "r2"] == pytest.approx(r2, rel=1e-10, abs=1e-12)
        assert v.loc[model, "adj_r2"] == pytest.approx(adj, rel=1e-10, abs=1e-12)


def test_rank_deficient_design_counts_its_rank(frame):
    """``copy`` is 2 x total need: the rank (and adjusted R-squared) allows for it."""
    f = frame.assign(d1=frame[TOTAL_NEED] * 3.0, d2=frame[TOTAL_NEED] - 1.0)
    v = variance_explained(f, domains=["d1", "d2"]).set_index("model")
    both = v.loc["type + need", ["r2", "adj_r2"]].to_numpy()
    np.testing.assert_allclose(v.loc["type + domains", ["r2", "adj_r2"]].to_numpy(), both)


def test_correlations_equal_scipy(frame):
    f = frame
    out = cost_need_correlation(f, measures=[TOTAL_NEED, "d1", "d2"], n_boot=50, seed=1)
    out = out.set_index("measure")
    for m in (TOTAL_NEED, "d1", "d2"):
        ok = f[m].notna()
        want = stats.spearmanr(f.loc[ok, m], f.loc[ok, Col.weekly_cost]).statistic
        assert out.loc[m, "spearman_rho"] == pytest.approx(want, rel=1e-12)
        assert out.loc[m, "ci_low"] < out.loc[m, "spearman_rho"] < out.loc[m, "ci_high"]
    assert out.loc["d1", "assessments"] == int(f["d1"].notna().sum())
