"""Measurement error in need scores, and regression that allows for it.

A need score is a practitioner's judgement: two practitioners scoring the
same child a few days apart do not agree exactly. Used as a regressor, a
noisy score biases its own coefficient towards zero (attenuation) and leaves
part of the confounding it was meant to remove; used as the baseline of a
change score, it produces regression to the mean (children with high
observed baselines "improve" by construction), which then leaks into any
group compared (e.g. placement types, which differ in need).

This module estimates the error variance of a score from the reviews scored
twice by different practitioners within a short window, and fits linear
regressions corrected for it by the method of moments (Fuller, 1987,
*Measurement Error Models*, ch. 2): with known error variances ``v_i`` of the
noisy column ``j`` and known error covariances ``c_i`` between that column
and the outcome (non-zero when the outcome is a change from the noisy
baseline),

    beta = (X'X - sum_i v_i e_j e_j')^-1 (X'y - sum_i c_i e_j),

with a cluster-robust sandwich covariance (clusters = children). The error
variance is treated as known; with the ~8% of reviews double-scored, its own
uncertainty is small next to the sampling error of the coefficients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from vc_eval.core.population import SECOND_SCORING_DAYS, second_scoring_pairs, second_scorings
from vc_eval.core.schema import Col


def single_thread_blas() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread for narrow least-squares work.

    Cross-products of tall, narrow design matrices gain nothing from BLAS
    threads, and on a busy 2-core machine OpenBLAS threads spinning against
    other processes made them ~100x slower (2 s instead of 0.02 s for
    60,000 x 40).
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
            return contextlib.nullcontext()
        # found once: looking the libraries up costs ~10 ms a call, and the
        # outcome models limit the threads dozens of times
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER = None


#: Two assessments of a child by different practitioners this close together
#: are treated as scores of the same state of need.
REPEAT_WINDOW_DAYS = SECOND_SCORING_DAYS
#: Sort order of scorings for the second-scoring rule (same-day scorings in a fixed order).
_ORDER = [Col.child_id, Col.assessment_date, Col.assessor_id]


def wide_scores(assessments: pd.DataFrame) -> pd.DataFrame:
    """Scores with one column per domain, one row per child x date x assessor.

    Pivot once and pass the result to :func:`composite_scores` when many
    composites are needed. The same frame as ``pivot_table(index=keys,
    columns="domain", values="score", aggfunc="mean")`` (rows missing a key or
    with no score left out, domains in sorted order), built from one grouping
    of the keys and two bincounts instead of a grouping of keys and domain
    and an unstack (4x faster on ten million scores).
    """
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    if Col.age_at_assessment in assessments:
        keys.append(Col.age_at_assessment)
    a = assessments[[*keys, Col.domain, Col.score]]
    # what the pivot leaves out: rows missing a key or the domain, and missing scores
    a = a[a[[*keys, Col.domain]].notna().all(axis=1) & a[Col.score].notna()]
    a = a.astype({Col.child_id: str, Col.assessor_id: str, Col.domain: str})
    g = a.groupby(keys, sort=True, observed=True)
    row = g.ngroup().to_numpy()
    index = g.size().index
    dom_codes, doms = pd.factorize(a[Col.domain], sort=True)
    n_rows, n_doms = len(index), len(doms)
    cell = row * n_doms + dom_codes
    sums = np.bincount(cell, weights=a[Col.score].to_numpy(dtype=float), minlength=n_rows * n_doms)
    counts = np.bincount(cell, minlength=n_rows * n_doms)
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = (sums / counts).reshape(n_rows, n_doms)
    keys_frame = index.to_frame(index=False)
    order = keys_frame.sort_values([Col.child_id, Col.assessment_date], kind="stable").index
    wide = keys_frame.loc[order]
    for k, d in enumerate(doms):
        wide[str(d)] = vals[order, k]
    return wide


def composite_scores(scores: pd.DataFrame, domains: Sequence[str]) -> pd.DataFrame:
    """Mean score over ``domains`` per child x assessment date x assessor.

    Parameters
    ----------
    scores : DataFrame
        Either the long assessments table (``child_id, assessment_date,
        assessor_id, domain, score[, age_at_assessment]``) or its wide form
        (:func:`wide_scores`, one column per domain).
    domains : sequence of str
        Domains averaged. Assessments missing some of them are averaged over
        the domains present.

    Returns
    -------
    DataFrame
        Columns ``child_id, assessment_date, assessor_id[, age_at_assessment],
        score``, sorted by child and date.
    """
    doms = list(domains)
    if Col.domain not in scores.columns:
        keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
        if Col.age_at_assessment in scores:
            keys.append(Col.age_at_assessment)
        out = scores[keys].copy()
        with np.errstate(all="ignore"):
            # row means of a row-contiguous array, whatever the frame's layout
            v = np.ascontiguousarray(scores[doms].to_numpy(dtype=float))
            out[Col.score] = np.nanmean(v, axis=1)
        out = out[np.isfinite(out[Col.score].to_numpy())]
    else:
        a = scores[scores[Col.domain].isin(doms)]
        keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
        if Col.age_at_assessment in a:
            keys.append(Col.age_at_assessment)
        out = a.groupby(keys, as_index=False, observed=True)[Col.score].mean()
    for c in (Col.child_id, Col.assessor_id):
        out[c] = out[c].astype(str)
    return out.sort_values([Col.child_id, Col.assessment_date], kind="stable").reset_index(
        drop=True
    )


def _repeat_flags(scores: pd.DataFrame, window_days: int) -> np.ndarray:
    """True where a row repeats the previous row's review (same child, other assessor, close)."""
    s = scores
    return second_scorings(
        s[Col.child_id].to_numpy(),
        s[Col.assessment_date].to_numpy(),
        s[Col.assessor_id].to_numpy(),
        window_days=window_days,
    )


def sem_from_differences(differences) -> float:
    """Standard error of measurement, in score points, from paired scorings' differences.

    ``SEM = sqrt(sum(d^2) / 2n)``: the spread of one score around the child's
    true score (assessor differences and occasion noise). The one estimator:
    :class:`ErrorVariance` holds its square (``variance``) and
    ``profile.measurement_error`` reports it per domain.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    return float(np.sqrt(np.sum(d**2) / (2 * d.size)))


@dataclass(frozen=True)
class ErrorVariance:
    """Error variance of one score, from repeat assessments.

    Attributes
    ----------
    variance : float
        Estimated variance of one practitioner's score around the child's
        true score (practitioner effect + occasion noise), ``mean(d^2) / 2``
        over pairs of scores ``d`` apart.
    n_pairs : int
        Pairs of assessments used.
    ci : tuple of float
        95% interval (chi-square, treating pairs as independent).
    """

    variance: float
    n_pairs: int
    ci: tuple[float, float]

    @property
    def sd(self) -> float:
        """The standard error of measurement, in score points (``sqrt(variance)``)."""
        return float(np.sqrt(self.variance))

    @property
    def sem(self) -> float:
        """The standard error of measurement, in score points (same as :attr:`sd`)."""
        return self.sd


def error_variance(scores: pd.DataFrame, *, window_days: int = REPEAT_WINDOW_DAYS) -> ErrorVariance:
    """Estimate a score's measurement-error variance from repeat assessments.

    Parameters
    ----------
    scores : DataFrame
        One score per child x date x assessor, sorted by child and date
        (e.g. from :func:`composite_scores`).
    window_days : int
        Largest gap between two assessments by different practitioners for
        them to count as a repeat of the same review.

    Raises
    ------
    ValueError
        If the data hold fewer than 10 repeat pairs.
    """
    s = scores.sort_values(_ORDER, kind="stable")
    i1, i2 = second_scoring_pairs(
        s[Col.child_id].to_numpy(),
        s[Col.assessment_date].to_numpy(),
        s[Col.assessor_id].to_numpy(),
        window_days=window_days,
    )
    v = s[Col.score].to_numpy(dtype=float)
    return error_variance_from_differences(v[i2] - v[i1], window_days=window_days)


def error_variance_from_differences(
    differences: np.ndarray, *, window_days: int = REPEAT_WINDOW_DAYS
) -> ErrorVariance:
    """:func:`error_variance` from the paired scorings' differences (second less first).

    For callers that find the pairs once and difference several scores over
    them; non-finite differences are left out. Raises ``ValueError`` as
    :func:`error_variance` does (``window_days`` is only for its message).
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if n < 10:
        raise ValueError(
            f"only {n} pair(s) of assessments by different practitioners within "
            f"{window_days} days: too few to estimate measurement error (need 10+); "
            "pass error_variance= explicitly"
        )
    var = sem_from_differences(d) ** 2
    lo = var * n / stats.chi2.ppf(0.975, n)
    hi = var * n / stats.chi2.ppf(0.025, n)
    return ErrorVariance(var, int(n), (float(lo), float(hi)))


def review_scores(scores: pd.DataFrame, *, window_days: int = REPEAT_WINDOW_DAYS) -> pd.DataFrame:
    """One score per review: repeat assessments of the same review averaged.

    Returns
    -------
    DataFrame
        ``child_id, assessment_date`` (of the first score), ``[age_at_assessment,]
        score`` (mean), ``n_scores`` (assessors averaged; the error variance of
        the review's score is the single-score variance divided by this).
    """
    s = scores.sort_values(_ORDER, kind="stable").reset_index(drop=True)
    review = np.cumsum(~_repeat_flags(s, window_days))
    agg = {
        Col.child_id: (Col.child_id, "first"),
        Col.assessment_date: (Col.assessment_date, "first"),
        Col.score: (Col.score, "mean"),
        "n_scores": (Col.score, "size"),
    }
    if Col.age_at_assessment in s:
        agg[Col.age_at_assessment] = (Col.age_at_assessment, "first")
    return s.groupby(review).agg(**agg).reset_index(drop=True)


@dataclass
class EIVFit:
    """A linear regression corrected for error in one regressor.

    Attributes
    ----------
    params, naive : Series
        Corrected and uncorrected (ordinary least squares) coefficients.
    cov, naive_cov : DataFrame
        Cluster-robust covariance of each.
    n, n_clusters : int
    reliability : float
        Share of the noisy column's variance (given the other columns) that
        is true signal; the naive coefficient is roughly this times the
        corrected one.
    noisy : str or None
        The column corrected.
    """

    params: pd.Series
    cov: pd.DataFrame
    naive: pd.Series
    naive_cov: pd.DataFrame
    n: int
    n_clusters: int
    reliability: float
    noisy: str | None
    warnings: list[str] = field(default_factory=list)

    def table(self, *, level: float = 0.95, corrected: bool = True) -> pd.DataFrame:
        """Tidy coefficients: term, estimate, se, ci_low, ci_high, p_value."""
        b = self.params if corrected else self.naive
        cov = self.cov if corrected else self.naive_cov
        se = np.sqrt(np.clip(np.diag(cov.to_numpy()), 0, None))
        z = stats.norm.ppf(0.5 + level / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.norm.sf(np.abs(b.to_numpy() / se))
        return pd.DataFrame(
            {
                "term": b.index,
                "estimate": b.to_numpy(),
                "se": se,
                "ci_low": b.to_numpy() - z * se,
                "ci_high": b.to_numpy() + z * se,
                "p_value": p,
            }
        )


def _sandwich(
    x: np.ndarray,
    psi: np.ndarray,
    a_inv: np.ndarray,
    groups: tuple[np.ndarray, int] | None,
    absorbed: int = 0,
) -> np.ndarray:
    """Cluster-robust sandwich; ``groups`` is (cluster code of each row, clusters)."""
    n, p = x.shape
    if groups is None:
        meat = psi.T @ psi
        g = n
    else:
        codes, g = groups
        sums = np.column_stack(
            [np.bincount(codes, weights=psi[:, k], minlength=g) for k in range(p)]
        )
        meat = sums.T @ sums
    # the usual small-sample factor (as statsmodels' cluster covariance);
    # absorbed fixed effects count as the dummy columns they replace
    k = p + absorbed
    adj = (g / max(g - 1, 1)) * ((n - 1) / max(n - k, 1))
    return adj * a_inv @ meat @ a_inv


def eiv_ols(
    x: pd.DataFrame,
    y: pd.Series | np.ndarray,
    *,
    noisy: str | None,
    error_var: float | np.ndarray = 0.0,
    error_cov_y: float | np.ndarray = 0.0,
    groups: np.ndarray | pd.Series | None = None,
    absorbed: int = 0,
) -> EIVFit:
    """Least squares corrected for classical measurement error in one column.

    Parameters
    ----------
    x : DataFrame
        Design matrix (include an intercept column yourself).
    y : array-like
        Outcome.
    noisy : str or None
        Column of ``x`` measured with error (None: plain OLS).
    error_var : float or array
        Error variance of ``noisy`` in each row (in that column's units).
    error_cov_y : float or array
        Covariance between the error in ``noisy`` and the error in ``y`` in
        each row (e.g. ``-error_var * scale`` when ``y`` is ``scale *
        (later score - noisy baseline)``).
    groups : array-like, optional
        Cluster labels (e.g. child ids) for the robust covariance.
    absorbed : int
        Dummy columns already partialled out of ``x`` and ``y`` (fixed effects
        absorbed by :mod:`vc_eval.analysis.absorb`), counted in the
        small-sample factor of the covariance so that it equals the dummy
        regression's.

    Returns
    -------
    EIVFit
        If the correction leaves the moment matrix non-positive-definite
        (error variance as large as the column's own variance given the
        others), the corrected estimates equal the naive ones and the
        problem is listed in ``warnings``.
    """
    with single_thread_blas():
        return _eiv_ols(x, y, noisy, error_var, error_cov_y, groups, absorbed)


def _eiv_ols(x, y, noisy, error_var, error_cov_y, groups, absorbed=0) -> EIVFit:
    names = list(x.columns)
    xv = x.to_numpy(dtype=float)
    yv = np.asarray(y, dtype=float)
    n, p = xv.shape
    g = None
    if groups is not None:
        # factorised once for both covariances and the count of clusters
        codes, uniq = pd.factorize(groups if isinstance(groups, pd.Series) else np.asarray(groups))
        g = (codes, len(uniq))
    xtx = xv.T @ xv
    xty = xv.T @ yv
    warn: list[str] = []
    xtx_inv = np.linalg.pinv(xtx)
    b0 = xtx_inv @ xty
    cov0 = _sandwich(xv, xv * (yv - xv @ b0)[:, None], xtx_inv, g, absorbed)
    reliability = 1.0
    b, cov = b0, cov0
    if noisy is not None:
        j = names.index(noisy)
        v = np.broadcast_to(np.asarray(error_var, dtype=float), (n,))
        c = np.broadcast_to(np.asarray(error_cov_y, dtype=float), (n,))
        a = xtx.copy()
        a[j, j] -= v.sum()
        rhs = xty.copy()
        rhs[j] -= c.sum()
        # reliability of the noisy column given the others: from the Schur complement
        # residual sum of squares of column j on the others = 1 / [(X'X)^-1]_jj
        rvar = float(1.0 / xtx_inv[j, j]) if xtx_inv[j, j] > 0 else 0.0
        reliability = 1.0 - v.sum() / rvar if rvar > 0 else float("nan")
        if not np.isfinite(reliability) or reliability <= 0.05:
            warn.append(
                f"measurement error in {noisy} is as large as its spread given the other "
                "terms (reliability {:.2f}); no correction applied".format(reliability)
            )
        else:
            a_inv = np.linalg.inv(a)
            b = a_inv @ rhs
            r = yv - xv @ b
            psi = xv * r[:, None]
            psi[:, j] += v * b[j] - c
            cov = _sandwich(xv, psi, a_inv, g, absorbed)
    return EIVFit(
        params=pd.Series(b, index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        naive=pd.Series(b0, index=names),
        naive_cov=pd.DataFrame(cov0, index=names, columns=names),
        n=n,
        n_clusters=n if g is None else int(g[1]),
        reliability=float(reliability),
        noisy=noisy,
        warnings=warn,
    )
