"""Absorbing one set of fixed effects (e.g. councils) instead of dummy columns.

A regression with a dummy column per council has as many columns as councils
(153 nationally), and its cross-products, rank checks and sandwich grow with
the square of that. By the Frisch-Waugh-Lovell theorem the other coefficients
are those of the same regression on the data with each column's council mean
taken off (the within transformation); for one set of fixed effects that is
exact in one pass (no alternating projections needed).

Here the within-transformed columns get the overall mean added back and an
intercept is kept (as Stata's ``areg``/``xtreg, fe`` do). The intercept then
estimates the row-weighted average of the council levels, and any linear
combination ``a + m'b`` of intercept and slopes (a prediction at average
council, as in a standardised mean) has the same estimate and the same
cluster-robust influence on every row as in the dummy regression: only the
small-sample factor of the sandwich needs the absorbed columns counted, which
:func:`vc_eval.analysis.measurement_error.eiv_ols` takes as ``absorbed``.
The measurement-error correction of :func:`eiv_ols` touches one slope only,
so it carries over unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

#: A within-transformed column whose spread is below this share of its raw
#: spread is constant within every group (up to rounding): the fixed effects
#: absorb it, as a dummy regression would find it collinear with them.
ABSORBED_TOL = 1e-9


def group_codes(groups) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 of the groups (in order of first appearance) and G."""
    keep = isinstance(groups, pd.Series | pd.Index | pd.Categorical)
    codes, uniq = pd.factorize(groups if keep else np.asarray(groups), sort=False)
    if (codes < 0).any():
        raise ValueError("fixed-effect groups contain missing values")
    return codes.astype(np.intp, copy=False), len(uniq)


def group_means(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of each column of ``values`` (n x k, or n) within each group (G x k, or G)."""
    v = np.asarray(values, dtype=float)
    size = np.bincount(codes, minlength=n_groups).astype(float)
    if v.ndim == 1:
        return np.bincount(codes, weights=v, minlength=n_groups) / size
    out = np.empty((n_groups, v.shape[1]))
    for k in range(v.shape[1]):
        out[:, k] = np.bincount(codes, weights=v[:, k], minlength=n_groups)
    return out / size[:, None]


def demean(values: np.ndarray, codes: np.ndarray, n_groups: int, *, add_mean: bool = False):
    """Each column less its group mean (the within transformation).

    Parameters
    ----------
    values : ndarray
        n x k (or n) values.
    codes, n_groups : from :func:`group_codes`.
    add_mean : bool
        Add each column's overall mean back (for a regression that keeps an
        intercept, see the module docstring).
    """
    v = np.asarray(values, dtype=float)
    out = v - group_means(v, codes, n_groups)[codes]
    if add_mean:
        out = out + v.mean(axis=0)
    return out


def absorbed_columns(raw: np.ndarray, within: np.ndarray) -> np.ndarray:
    """True for the columns the fixed effects absorb (constant within every group).

    ``raw`` and ``within`` are the n x k columns before and after
    :func:`demean` (without the mean added back).
    """
    spread = np.linalg.norm(raw - raw.mean(axis=0), axis=0)
    left = np.linalg.norm(within, axis=0)
    return left <= ABSORBED_TOL * np.maximum(spread, 1e-300)


def demean_many(
    M: np.ndarray,
    groups: list[np.ndarray],
    w: np.ndarray,
    *,
    tol: float = 1e-11,
    maxiter: int = 500,
) -> np.ndarray:
    """Residualise the columns of M on several sets of fixed effects (weighted).

    Alternating projections: exact after one sweep for balanced panels with
    unit-constant weights, iterated to ``tol`` otherwise.
    """
    out = np.array(M, dtype=float, copy=True)
    mats = []
    for codes in groups:
        ng = int(codes.max()) + 1
        S = sparse.csr_matrix((w, (codes, np.arange(codes.size))), shape=(ng, codes.size))
        mats.append((S, np.asarray(S.sum(axis=1)).ravel(), codes))
    scale = max(1.0, float(np.abs(out).max()))
    for _ in range(maxiter):
        delta = 0.0
        for S, sw, codes in mats:
            means = (S @ out) / sw[:, None]
            out -= means[codes]
            delta = max(delta, float(np.abs(means).max()))
        if delta < tol * scale:
            break
    return out
