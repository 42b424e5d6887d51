"""Absorbed council fixed effects give the dummy regression's estimates and standard errors.

The outcome models absorb council fixed effects (within-council transformation,
:mod:`vc_eval.analysis.absorb`) instead of fitting a dummy column per council.
By the Frisch-Waugh-Lovell theorem the other coefficients are the same, and the
cluster-robust covariance is the same once the absorbed columns are counted in
its small-sample factor; the measurement-error correction touches one slope only.
Checked here against the dummy form (``absorb_councils=False``, the previous
code) on a small multi-council population: estimates and standard errors to
1e-8 relative (observed: 1e-9 or better). The need-change frames built once
per set of assessments (``cache=``) must equal the frames built per domain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vc_eval.analysis.absorb import absorbed_columns, demean, group_codes, group_means
from vc_eval.analysis.measurement_error import eiv_ols, wide_scores
from vc_eval.analysis.outcomes import (
    POOLED,
    external_outcomes,
    need_change,
    need_change_frame,
    programme_outcomes,
)
from vc_eval.core.dataset import Dataset
from vc_eval.synthetic.generator import SynthConfig, generate

RTOL = 1e-8


@pytest.fixture(scope="module")
def five_councils():
    return generate(SynthConfig(councils=5, seed=11, sizes=(220, 200, 180, 200, 240)))


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def _same_terms(absorbed: pd.DataFrame, dummies: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows of both tables for every term but the councils' and the intercept."""
    dummies = dummies[
        ~dummies["term"].str.startswith("council[") & (dummies["term"] != "intercept")
    ]
    absorbed = absorbed[absorbed["term"] != "intercept"]
    assert not absorbed["term"].str.startswith("council[").any()
    m = absorbed.merge(
        dummies, on=[*keys, "term"], suffixes=("_a", "_d"), how="outer", indicator=True
    )
    assert (m["_merge"] == "both").all(), m.loc[m["_merge"] != "both", [*keys, "term"]]
    return m


def test_demean_is_the_within_transformation():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 7, 500).astype(str)
    v = rng.normal(size=(500, 3))
    codes, n = group_codes(g)
    assert n == 7
    want = v - pd.DataFrame(v).groupby(g).transform("mean").to_numpy()
    np.testing.assert_allclose(demean(v, codes, n), want, atol=1e-13)
    np.testing.assert_allclose(
        demean(v, codes, n, add_mean=True), want + v.mean(axis=0), atol=1e-13
    )
    np.testing.assert_allclose(
        group_means(v[:, 0], codes, n)[codes], v[:, 0] - want[:, 0], atol=1e-13
    )
    # a column constant within every group is absorbed; one varying within groups is not
    level = rng.normal(size=7)[codes]
    both = np.column_stack([level, v[:, 0]])
    assert absorbed_columns(both, demean(both, codes, n)).tolist() == [True, False]
    with pytest.raises(ValueError, match="missing"):
        group_codes(np.array(["a", None, "b"], dtype=object))


def test_eiv_ols_with_absorbed_groups_equals_the_dummy_regression():
    """Corrected and naive estimates and cluster-robust SEs, on data with a noisy column."""
    rng = np.random.default_rng(3)
    n, n_groups = 2_000, 12
    grp = rng.integers(0, n_groups, n)
    child = rng.integers(0, 400, n)
    true = rng.normal(size=n) + 0.3 * grp
    noisy = true + rng.normal(scale=0.6, size=n)
    z = rng.normal(size=n) + 0.1 * grp
    y = 1.0 + 0.5 * true - 0.3 * z + 0.2 * grp + rng.normal(size=n)
    ev = 0.36
    dummies = pd.DataFrame(
        {"intercept": 1.0, "x": noisy, "z": z}
        | {f"g{k}": (grp == k).astype(float) for k in range(1, n_groups)}
    )
    full = eiv_ols(dummies, y, noisy="x", error_var=ev, groups=child)
    codes, g = group_codes(grp)
    within = pd.DataFrame(
        {
            "intercept": 1.0,
            "x": demean(noisy, codes, g, add_mean=True),
            "z": demean(z, codes, g, add_mean=True),
        }
    )
    fit = eiv_ols(
        within,
        demean(y, codes, g, add_mean=True),
        noisy="x",
        error_var=ev,
        groups=child,
        absorbed=g - 1,
    )
    for term in ("x", "z"):
        assert fit.params[term] == pytest.approx(full.params[term], rel=1e-10)
        assert fit.naive[term] == pytest.approx(full.naive[term], rel=1e-10)
        assert fit.cov.loc[term, term] == pytest.approx(full.cov.loc[term, term], rel=1e-10)
        assert fit.naive_cov.loc[term, term] == pytest.approx(
            full.naive_cov.loc[term, term], rel=1e-10
        )
    assert fit.reliability == pytest.approx(full.reliability, rel=1e-10)
    # without counting the absorbed columns the small-sample factor (and SEs) would differ
    plain = eiv_ols(
        within, demean(y, codes, g, add_mean=True), noisy="x", error_var=ev, groups=child
    )
    assert plain.cov.loc["x", "x"] < fit.cov.loc["x", "x"] * (1 - 1e-4)


def test_need_change_absorbed_equals_dummies(five_councils):
    a = need_change(five_councils, progress=False, domains=["behaviour", "education"])
    d = need_change(
        five_councils, progress=False, domains=["behaviour", "education"], absorb_councils=False
    )
    for corrected in (True, False):
        m = _same_terms(
            a.coefficients if corrected else a.naive,
            d.coefficients if corrected else d.naive,
            ["domain"],
        )
        assert _relative(m["estimate_a"], m["estimate_d"]) < RTOL
        assert _relative(m["se_a"], m["se_d"]) < RTOL
    bt = a.by_type.merge(d.by_type, on=["domain", "placement_type"], suffixes=("_a", "_d"))
    assert len(bt) == len(a.by_type) == len(d.by_type)
    shown = bt["adjusted_change_d"].notna()
    assert shown.any()
    assert (bt["adjusted_change_a"].notna() == shown).all()
    for col in ("adjusted_change", "ci_low", "ci_high"):
        assert _relative(bt.loc[shown, f"{col}_a"], bt.loc[shown, f"{col}_d"]) < RTOL
    assert a.n == d.n
    assert a.warnings == d.warnings
    for k in a.reliability:
        assert a.reliability[k] == pytest.approx(d.reliability[k], rel=RTOL)


def test_pooled_outcomes_and_programme_effect_absorbed_equal_dummies(five_councils):
    kw = {"design": POOLED, "progress": False, "measures": ["sdq_total"]}
    a = external_outcomes(five_councils, **kw)
    d = external_outcomes(five_councils, absorb_councils=False, **kw)
    for corrected in (True, False):
        m = _same_terms(
            a.coefficients if corrected else a.naive,
            d.coefficients if corrected else d.naive,
            ["measure", "design"],
        )
        assert _relative(m["estimate_a"], m["estimate_d"]) < RTOL
        assert _relative(m["se_a"], m["se_d"]) < RTOL
    assert a.n == d.n
    pa = programme_outcomes(five_councils)
    pd_ = programme_outcomes(five_councils, absorb_councils=False)
    assert pa["estimate"].notna().all()
    assert _relative(pa["estimate"], pd_["estimate"]) < RTOL
    assert _relative(pa["se"], pd_["se"]) < RTOL
    assert pa["note"].tolist() == pd_["note"].tolist()


def test_one_council_absorbs_nothing(five_councils):
    """A single council's models are exactly the dummy form's (no transformation at all)."""
    one = five_councils.subset(five_councils.council_names()[0])
    a = need_change(one, progress=False, domains=["behaviour"])
    d = need_change(one, progress=False, domains=["behaviour"], absorb_councils=False)
    pd.testing.assert_frame_equal(a.coefficients, d.coefficients, check_exact=True)
    pd.testing.assert_frame_equal(a.by_type, d.by_type, check_exact=True)


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
def test_need_change_frames_built_once_equal_frames_built_per_domain(five_councils):
    """With scores missing at some assessments, so domains are scored at different rows."""
    ds = five_councils.subset(five_councils.council_names()[:2])
    a = ds.assessments
    drop = np.random.default_rng(2).random(len(a)) < 0.05
    tables = dict(ds.tables)
    tables["assessments"] = a[~drop]
    gappy = Dataset.from_frames(**tables, framework=ds.framework)
    wide = wide_scores(gappy.assessments)
    cache: dict = {}
    needs = list(gappy.framework.need_domains)
    for doms in (needs, ["behaviour"], ["education"], needs[:3]):
        want = need_change_frame(gappy, doms, scores=wide)
        got = need_change_frame(gappy, doms, scores=wide, cache=cache)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    # the same rows share one set of reviews: total need (every domain) and a subset differ
    assert sum(k[0] == "reviews" for k in cache) >= 2
