"""A fast linear mixed model engine for one grouping factor.

Fits ``y = X beta + Z b_g + e`` with ``b_g ~ N(0, Sigma)`` per group and
``e ~ N(0, sigma^2 I)`` by REML or ML, giving the same estimates, standard
errors and log-likelihood as statsmodels ``MixedLM`` but much faster on many
small groups (children with a handful of assessments each).

Why it is fast: statsmodels loops over groups in Python and solves a tiny
system per group on every likelihood evaluation. Here the per-group sufficient
statistics (``Z'Z``, ``Z'X``, ``Z'y``) are computed once with grouped sums, and
every evaluation of the likelihood and its analytic gradient is a handful of
vectorised operations on stacked ``q x q`` arrays, whatever the number of
groups. The residual variance and the fixed effects are profiled out as lme4
does, and the relative covariance ``Psi = Sigma / sigma^2 = Lambda Lambda'`` is
optimised over its Cholesky factor ``theta`` (diagonal bounded below by zero)
with L-BFGS-B, then polished by a few Newton steps on a finite-difference
Hessian of the exact gradient. A singular (boundary) fit is checked for
optimality over the positive semidefinite cone, not just in theta, and
restarted if it is a spurious stationary point of the parametrisation.

:func:`bootstrap_lmm` refits on groups resampled with replacement by
reweighting the same per-group statistics (no copies of the data) and
warm-started Newton steps, so bootstrap intervals are practical at national
scale.

Standard errors of the fixed effects follow statsmodels: the fixed-effects
block of the inverse observed information over (fixed effects, covariance
parameters), which differs slightly from lme4's ``sigma^2 (X'V^-1X)^-1``
(kept as :attr:`LMMResult.cov_fe_gls`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize

__all__ = [
    "GroupStats",
    "LMMBootstrap",
    "LMMResult",
    "bootstrap_lmm",
    "fit_lmm",
    "group_statistics",
]

#: A diagonal element of the scaled Cholesky factor below this is a boundary
#: (singular) fit, as in lme4's ``isSingular(tol = 1e-4)``.
SINGULAR_TOL = 1e-4


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


@dataclass
class LMMResult:
    """A fitted linear mixed model.

    Attributes
    ----------
    fe_params : ndarray (p,)
        Fixed-effects estimates (GLS at the fitted covariance).
    cov_fe : ndarray (p, p)
        Covariance of the fixed effects as statsmodels reports it.
    bse : ndarray (p,)
        Standard errors of the fixed effects, ``sqrt(diag(cov_fe))``.
    cov_re : ndarray (q, q)
        Random-effects covariance in the units of ``y`` (not relative).
    scale : float
        Residual variance.
    llf : float
        REML or ML log-likelihood, as statsmodels ``MixedLM`` reports it.
    converged : bool
        True when the optimiser met its convergence test (a boundary fit can
        be converged: see ``singular``).
    n_iter : int
        Optimiser iterations (L-BFGS-B plus Newton polishing steps).
    warnings : list of str
        Everything worth knowing about the fit, never swallowed.
    n_groups, n_obs : int
        Number of groups and observations.
    reml : bool
        Whether the fit is REML.
    theta : ndarray
        Lower-triangular Cholesky factor of ``cov_re / scale``, packed
        column by column (lme4's ``theta``), in the units of ``Z``.
    singular : bool
        True for a boundary fit (a variance at zero or a correlation of +-1).
    random_effects : ndarray (n_groups, q)
        Predicted random effects (BLUPs), rows in ``group_labels`` order.
    group_labels : ndarray (n_groups,)
        The group labels, sorted when they can be.
    cov_fe_gls : ndarray (p, p)
        ``scale * (X' V^-1 X)^-1`` (what lme4's ``vcov`` reports).
    n_fev : int
        Likelihood evaluations used.
    """

    fe_params: np.ndarray
    cov_fe: np.ndarray
    bse: np.ndarray
    cov_re: np.ndarray
    scale: float
    llf: float
    converged: bool
    n_iter: int
    warnings: list[str]
    n_groups: int
    n_obs: int
    reml: bool = True
    theta: np.ndarray = field(default_factory=lambda: np.empty(0))
    singular: bool = False
    random_effects: np.ndarray | None = None
    group_labels: np.ndarray | None = None
    cov_fe_gls: np.ndarray | None = None
    n_fev: int = 0

    @property
    def re_sd(self) -> np.ndarray:
        """Standard deviations of the random effects."""
        return np.sqrt(np.clip(np.diag(self.cov_re), 0.0, None))

    @property
    def re_corr(self) -> np.ndarray:
        """Correlation matrix of the random effects (NaN where an SD is 0)."""
        sd = self.re_sd
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.cov_re / np.outer(sd, sd)

    def summary(self) -> str:
        """A short plain-text summary."""
        kind = "REML" if self.reml else "ML"
        lines = [
            f"Linear mixed model ({kind}), fast engine: {self.n_obs} observations "
            f"in {self.n_groups} groups",
            f"log-likelihood {self.llf:.4f}; converged {self.converged}; iterations {self.n_iter}",
            "fixed effects (estimate, SE): "
            + ", ".join(
                f"{b:.4g} ({s:.3g})" for b, s in zip(self.fe_params, self.bse, strict=True)
            ),
            "random-effects SDs: " + ", ".join(f"{s:.4g}" for s in self.re_sd),
            f"residual SD: {np.sqrt(self.scale):.4g}",
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------


@dataclass
class GroupStats:
    """Per-group and global cross-products of scaled ``y``, ``X`` and ``Z``.

    ``X`` and ``Z`` columns are divided by their root mean square
    (``x_scale``, ``z_scale``) so the optimiser sees a well-conditioned problem;
    the results are transformed back exactly.
    """

    ZtZ: np.ndarray  # (g, q, q)
    ZtX: np.ndarray  # (g, q, p)
    Zty: np.ndarray  # (g, q)
    XtX: np.ndarray  # (p, p)
    Xty: np.ndarray  # (p,)
    yty: float
    n_obs: int
    group_sizes: np.ndarray  # (g,)
    group_labels: np.ndarray  # (g,)
    codes: np.ndarray  # (n,) group index of each row
    x_scale: np.ndarray  # (p,)
    z_scale: np.ndarray  # (q,)
    #: Per-group weights (a bootstrap resample's draw counts); None means 1.
    #: Honoured by the likelihood only (not by the starting values or BLUPs).
    weights: np.ndarray | None = None

    @functools.cached_property
    def products(self) -> _Products | None:
        """Per-group products for fast evaluations (computed on first use)."""
        return _products(self)

    @functools.cached_property
    def ZtZ_s(self) -> np.ndarray:
        """Z'Z as (q, q, g)."""
        return np.ascontiguousarray(self.ZtZ.transpose(1, 2, 0))

    @functools.cached_property
    def ZtX_s(self) -> np.ndarray:
        """Z'X as (q, p, g)."""
        return np.ascontiguousarray(self.ZtX.transpose(1, 2, 0))

    @functools.cached_property
    def Zty_s(self) -> np.ndarray:
        """Z'y as (q, g)."""
        return np.ascontiguousarray(self.Zty.T)

    def resample(self, idx: np.ndarray, y: np.ndarray, Xs: np.ndarray) -> GroupStats:
        """Statistics of a resample of groups (``idx`` may repeat groups).

        A group drawn k times enters every sum over groups with weight k, so
        the resample shares all per-group arrays with ``self`` (no copies);
        only the three global cross-products change. ``y`` and ``Xs`` are the
        rows these statistics were built from (the response as passed to
        :func:`group_statistics` and ``X / x_scale``), used once to form
        per-group ``X'X``, ``X'y`` and ``y'y``.
        """
        if self.weights is not None:
            raise ValueError("resample the original statistics, not a resample")
        g, p = self.n_groups, self.p
        if "_xx_groups" not in self.__dict__:
            pi, pj = _upper_pairs(p)
            order = np.argsort(self.codes, kind="stable")
            starts = np.r_[0, np.cumsum(self.group_sizes)[:-1]]
            Xo, yo = Xs[order], y[order]
            cols = np.concatenate([Xo[:, pi] * Xo[:, pj], Xo * yo[:, None], (yo * yo)[:, None]], 1)
            self.__dict__["_xx_groups"] = np.add.reduceat(cols, starts, axis=0)
        c = np.bincount(np.asarray(idx), minlength=g).astype(float)
        xx = c @ self.__dict__["_xx_groups"]
        mp = p * (p + 1) // 2
        out = dataclasses.replace(
            self,
            XtX=_unpack_sym(xx[:mp], p),
            Xty=xx[mp : mp + p],
            yty=float(xx[-1]),
            n_obs=int(c @ self.group_sizes),
            weights=c,
        )
        # share the derived per-group arrays (never recomputed)
        for key in ("ZtZ_s", "ZtX_s", "Zty_s", "products"):
            if key in self.__dict__:
                out.__dict__[key] = self.__dict__[key]
        return out

    @property
    def n_groups(self) -> int:
        return self.ZtZ.shape[0]

    @property
    def p(self) -> int:
        return self.XtX.shape[0]

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]


def _factorize(groups: Sequence[Hashable] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and labels, sorted like statsmodels when the labels allow."""
    try:
        codes, labels = pd.factorize(np.asarray(groups), sort=True)
    except TypeError:  # mixed label types that do not order
        codes, labels = pd.factorize(np.asarray(groups, dtype=object), sort=False)
    if (codes < 0).any():
        raise ValueError("groups contains missing values")
    return codes, np.asarray(labels)


def group_statistics(
    y: np.ndarray, X: np.ndarray, Z: np.ndarray, groups: Sequence[Hashable] | np.ndarray
) -> GroupStats:
    """Compute the sufficient statistics once.

    Parameters
    ----------
    y, X, Z, groups
        Response (n,), fixed-effects design (n, p), random-effects design
        (n, q) and group labels (n,); rows need not be sorted by group.

    Returns
    -------
    GroupStats
    """
    y = np.asarray(y, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    Z = np.asarray(Z, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if Z.ndim == 1:
        Z = Z[:, None]
    n = y.shape[0]
    if X.shape[0] != n or Z.shape[0] != n or len(groups) != n:
        raise ValueError(
            f"y, X, Z and groups must have the same number of rows "
            f"(got {n}, {X.shape[0]}, {Z.shape[0]}, {len(groups)})"
        )
    for name, arr in (("y", y), ("X", X), ("Z", Z)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains missing or infinite values")
    x_scale = np.sqrt(np.mean(X**2, axis=0))
    z_scale = np.sqrt(np.mean(Z**2, axis=0))
    if (x_scale == 0).any():
        raise ValueError("X has an all-zero column")
    if (z_scale == 0).any():
        raise ValueError("Z has an all-zero column")
    Xs = X / x_scale
    Zs = Z / z_scale
    codes, labels = _factorize(groups)
    g = len(labels)
    q, p = Zs.shape[1], Xs.shape[1]

    # Sort rows by group once, then every grouped sum is one reduceat.
    order = np.argsort(codes, kind="stable")
    sc = codes[order]
    starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]])
    Zo, Xo, yo = Zs[order], Xs[order], y[order]
    prods = np.concatenate(
        [
            (Zo[:, :, None] * Zo[:, None, :]).reshape(n, q * q),
            (Zo[:, :, None] * Xo[:, None, :]).reshape(n, q * p),
            Zo * yo[:, None],
        ],
        axis=1,
    )
    sums = np.add.reduceat(prods, starts, axis=0)
    # contiguous copies: batched matmul on strided views is several times slower
    ZtZ = np.ascontiguousarray(sums[:, : q * q]).reshape(g, q, q)
    ZtX = np.ascontiguousarray(sums[:, q * q : q * q + q * p]).reshape(g, q, p)
    Zty = np.ascontiguousarray(sums[:, q * q + q * p :])
    return GroupStats(
        ZtZ=ZtZ,
        ZtX=ZtX,
        Zty=Zty,
        XtX=Xs.T @ Xs,
        Xty=Xs.T @ y,
        yty=float(y @ y),
        n_obs=n,
        group_sizes=np.bincount(codes, minlength=g),
        group_labels=labels,
        codes=codes,
        x_scale=x_scale,
        z_scale=z_scale,
    )


# --------------------------------------------------------------------------
# Batched small-matrix helpers. Per-group q x q matrices are held
# "structure of arrays", shape (q, q, g): each entry is one contiguous vector
# over groups, so a batched 2 x 2 product is a dozen vector operations (several
# times faster than numpy's batched matmul on 84,000 tiny matrices).
# --------------------------------------------------------------------------

#: Precomputed per-group products are used while they fit in this many bytes;
#: beyond it (very wide X) each evaluation works from Z'X directly.
PRODUCT_BYTES_LIMIT = 1_500_000_000


def _soa_mm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-group ``A @ B`` for (q, r, g) and (r, s, g) arrays."""
    return np.sum(A[:, :, None, :] * B[None, :, :, :], axis=1)


def _soa_inv_logdet(N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-group inverse and log-determinant of a (q, q, g) array."""
    q = N.shape[0]
    if q == 1:
        return 1.0 / N, np.log(N[0, 0])
    if q == 2:
        a, b, c, d = N[0, 0], N[0, 1], N[1, 0], N[1, 1]
        det = a * d - b * c
        inv = np.stack([np.stack([d, -b]), np.stack([-c, a])]) / det
        with np.errstate(invalid="ignore", divide="ignore"):
            return inv, np.log(det)
    Ng = np.moveaxis(N, 2, 0)
    sign, ld = np.linalg.slogdet(Ng)
    return np.moveaxis(np.linalg.inv(Ng), 0, 2), np.where(sign > 0, ld, np.nan)


def _small_inv(M: np.ndarray) -> np.ndarray:
    """Inverse of stacked (g, q, q) matrices."""
    inv, _ = _soa_inv_logdet(np.moveaxis(M, 0, 2))
    return np.moveaxis(inv, 2, 0)


def _upper_pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(k)


@dataclass
class _Products:
    """Per-group products that make each evaluation a few matrix-vector
    products: sums over groups of ``(Z'X)' W (Z'X)`` and the like are linear in
    the distinct entries of the per-group ``W``.

    Row ``(ab, g)`` of ``SX`` holds the upper triangle (i <= j) of
    ``ZtX[a]' ZtX[b] + ZtX[b]' ZtX[a]`` (one term when a == b) over pairs
    a <= b; ``SXy`` and ``Syy`` likewise for ``Z'X' W Z'y`` and ``Z'y' W Z'y``.
    """

    SX: np.ndarray  # (m * g, p(p+1)/2)
    SXy: np.ndarray  # (m * g, p)
    Syy: np.ndarray  # (m * g,)


def _products(st: GroupStats) -> _Products | None:
    g, q, p = st.n_groups, st.q, st.p
    qa, qb = _upper_pairs(q)
    pi, pj = _upper_pairs(p)
    m, mp = len(qa), len(pi)
    if g * m * (mp + p + 1) * 8 > PRODUCT_BYTES_LIMIT:
        return None
    ZtX = st.ZtX_s  # (q, p, g)
    Zty = st.Zty_s  # (q, g)
    SX = np.empty((m, mp, g))
    SXy = np.empty((m, p, g))
    Syy = np.empty((m, g))
    for s, (a, b) in enumerate(zip(qa, qb, strict=True)):
        SX[s] = ZtX[a, pi] * ZtX[b, pj]
        SXy[s] = ZtX[a] * Zty[b]
        Syy[s] = Zty[a] * Zty[b]
        if a != b:
            SX[s] += ZtX[b, pi] * ZtX[a, pj]
            SXy[s] += ZtX[b] * Zty[a]
            Syy[s] *= 2.0
    return _Products(
        np.ascontiguousarray(SX.transpose(0, 2, 1)).reshape(m * g, mp),
        np.ascontiguousarray(SXy.transpose(0, 2, 1)).reshape(m * g, p),
        Syy.reshape(m * g),
    )


def _unpack_sym(v: np.ndarray, k: int) -> np.ndarray:
    """Symmetric (k, k) matrix from its upper triangle (row-major ``triu``)."""
    M = np.zeros((k, k))
    M[np.triu_indices(k)] = v
    return M + np.triu(M, 1).T


# --------------------------------------------------------------------------
# Profiled likelihood and gradient
# --------------------------------------------------------------------------


@dataclass
class _Eval:
    llf: float
    grad: np.ndarray | None  # dl/dPsi as a symmetric (q, q) matrix
    beta: np.ndarray
    rvir: float
    C: np.ndarray  # X'V^-1X (scaled X)
    W: np.ndarray  # (q, q, g)


def _profile(st: GroupStats, Psi: np.ndarray, reml: bool, grad: bool = True) -> _Eval:
    """Profiled (over sigma^2 and beta) log-likelihood at relative covariance Psi.

    Uses ``V = I + Z Psi Z'`` per group and Woodbury,
    ``V^-1 = I - Z W Z'`` with ``W = (I + Psi Z'Z)^-1 Psi`` (symmetric), valid
    for any symmetric ``Psi`` that keeps ``V`` positive definite (the Hessian is
    taken by finite differences that may step just outside the PSD cone), and
    ``log det V = log det (I + Psi Z'Z)``.

    The gradient with respect to Psi (envelope theorem: beta and sigma^2 at
    their profiled values) is ``G = -1/2 sum Z'V^-1Z + fac/(2 r'V^-1r) sum u u'
    [+ 1/2 sum Z'V^-1X C^-1 X'V^-1Z for REML]`` with ``u = Z'V^-1 r``,
    ``C = X'V^-1X`` and ``fac`` = n (ML) or n - p (REML).
    """
    g, q, p = st.n_groups, st.q, st.p
    n = st.n_obs
    fac = n - p if reml else n
    Zs = st.ZtZ_s
    eye = np.eye(q)[:, :, None]
    N = eye + np.tensordot(Psi, Zs, axes=(1, 0))
    Ninv, logdetN = _soa_inv_logdet(N)
    W = np.tensordot(Ninv, Psi, axes=(1, 0)).transpose(0, 2, 1)
    W = 0.5 * (W + W.transpose(1, 0, 2))
    c = st.weights  # None, or per-group weights (bootstrap draw counts)
    prod = st.products
    if prod is not None:
        qa, qb = _upper_pairs(q)
        w = (W[qa, qb] if c is None else W[qa, qb] * c).reshape(-1)
        C = st.XtX - _unpack_sym(w @ prod.SX, p)
        XtVy = st.Xty - w @ prod.SXy
        ytVy = st.yty - float(w @ prod.Syy)
    else:
        Wg = np.ascontiguousarray(np.moveaxis(W if c is None else W * c, 2, 0))
        WZtX = Wg @ st.ZtX
        C = st.XtX - np.tensordot(st.ZtX, WZtX, axes=([0, 1], [0, 1]))
        C = 0.5 * (C + C.T)
        WZty = (Wg @ st.Zty[:, :, None])[:, :, 0]
        XtVy = st.Xty - np.tensordot(st.ZtX, WZty, axes=([0, 1], [0, 1]))
        ytVy = st.yty - float(np.sum(st.Zty * WZty))
    try:
        cf = linalg.cho_factor(C, lower=True)
    except linalg.LinAlgError as err:
        raise np.linalg.LinAlgError("X'V^-1X is not positive definite") from err
    beta = linalg.cho_solve(cf, XtVy)
    rvir = ytVy - float(beta @ XtVy)
    logdetV = float(np.sum(logdetN) if c is None else c @ logdetN)
    if not np.isfinite(logdetV) or rvir <= 0:
        return _Eval(-np.inf, None, beta, rvir, C, W)
    llf = -0.5 * logdetV - 0.5 * fac * np.log(rvir)
    llf += -0.5 * fac * np.log(2 * np.pi) + 0.5 * fac * np.log(fac) - 0.5 * fac
    if reml:
        logdetC = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        # back to the units of the caller's X (scaling X shifts log det C)
        logdetC += 2.0 * float(np.sum(np.log(st.x_scale)))
        llf -= 0.5 * logdetC
    G = None
    if grad:
        # M = I - Z'Z W maps Z'r to Z'V^-1 r, Z'X to Z'V^-1 X and Z'Z to Z'V^-1 Z
        M = eye - _soa_mm(Zs, W)
        e = st.Zty_s - np.matmul(beta, st.ZtX_s)  # (q, g): Z'r per group
        u = np.sum(M * e[None, :, :], axis=1)
        MZ = _soa_mm(M, Zs)
        G = -0.5 * (np.sum(MZ, axis=2) if c is None else MZ @ c)
        G += (0.5 * fac / rvir) * ((u if c is None else u * c) @ u.T)
        if reml:
            Cinv = linalg.cho_solve(cf, np.eye(p))
            if prod is not None:
                pi, pj = _upper_pairs(p)
                cw = np.where(pi == pj, 1.0, 2.0) * Cinv[pi, pj]
                kv = (prod.SX @ cw).reshape(len(qa), g)
                K = np.empty((q, q, g))
                half = np.where(qa == qb, 1.0, 0.5)[:, None]
                K[qa, qb] = kv * half
                K[qb, qa] = kv * half
            else:
                K = np.moveaxis(st.ZtX @ Cinv @ st.ZtX.transpose(0, 2, 1), 0, 2)
            T = _soa_mm(M, K)
            if c is not None:
                T *= c
            G += 0.5 * np.tensordot(T, M, axes=([1, 2], [1, 2]))
        G = 0.5 * (G + G.T)
    return _Eval(llf, G, beta, rvir, C, W)


def _final_pieces(st: GroupStats, W: np.ndarray, beta: np.ndarray):
    """Z'V^-1X (g, q, p) and u = Z'V^-1 r (g, q) at the estimate."""
    g, q, p = st.n_groups, st.q, st.p
    M = np.moveaxis(np.eye(q)[:, :, None] - _soa_mm(st.ZtZ_s, W), 2, 0)
    ZtVX = M @ st.ZtX
    e = st.Zty - (st.ZtX.reshape(g * q, p) @ beta).reshape(g, q)
    u = (M @ e[:, :, None])[:, :, 0]
    return ZtVX, u


# --------------------------------------------------------------------------
# Parametrisation: theta = lower-triangular Cholesky factor, column-major
# --------------------------------------------------------------------------


def _tril_index(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of the lower triangle, column by column (lme4 order)."""
    cols, rows = np.triu_indices(q)  # (col, row) pairs with row >= col
    return rows, cols


def _theta_to_lambda(theta: np.ndarray, q: int) -> np.ndarray:
    L = np.zeros((q, q))
    L[_tril_index(q)] = theta
    return L


def _diag_positions(q: int) -> np.ndarray:
    rows, cols = _tril_index(q)
    return np.flatnonzero(rows == cols)


def _psi_pack(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangle indices of Psi, row by row (statsmodels' packing)."""
    return np.tril_indices(q)


def _grad_psi_packed(G: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the distinct elements of symmetric Psi."""
    q = G.shape[0]
    r, c = _psi_pack(q)
    return np.where(r == c, 1.0, 2.0) * G[r, c]


def _dpsi_dtheta(L: np.ndarray) -> np.ndarray:
    """Jacobian of packed Psi = L L' (statsmodels order) w.r.t. theta (lme4 order)."""
    q = L.shape[0]
    rows, cols = _tril_index(q)
    r, c = _psi_pack(q)
    J = np.empty((len(r), len(rows)))
    for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
        E = np.zeros((q, q))
        E[i, j] = 1.0
        dPsi = E @ L.T + L @ E.T
        J[:, k] = dPsi[r, c]
    return J


def _psi_from_packed(v: np.ndarray, q: int) -> np.ndarray:
    Psi = np.zeros((q, q))
    Psi[_psi_pack(q)] = v
    return Psi + np.tril(Psi, -1).T


# --------------------------------------------------------------------------
# Starting values
# --------------------------------------------------------------------------


def _moment_start(st: GroupStats, group_ete) -> np.ndarray:
    """Relative covariance (scaled units) from per-group OLS of OLS residuals.

    The spread of per-group coefficients, less their average sampling variance,
    estimates Sigma; divided by the pooled within-group residual variance it
    estimates Psi. Projected onto the PSD cone with a small floor so the start
    is an interior point.
    """
    q = st.q
    beta = np.linalg.lstsq(st.XtX, st.Xty, rcond=None)[0]
    Zte = st.Zty - st.ZtX @ beta
    ok = st.group_sizes > q
    if q == 1:
        det = st.ZtZ[:, 0, 0]
    else:
        det = np.linalg.det(st.ZtZ)
    tr = np.trace(st.ZtZ, axis1=1, axis2=2)
    ok &= det > 1e-8 * np.maximum(tr, 1e-300) ** q
    fallback = np.eye(q)
    if ok.sum() < max(5, 2 * q):
        return fallback
    ZtZi = _small_inv(st.ZtZ[ok])
    b = (ZtZi @ Zte[ok][:, :, None])[:, :, 0]
    # within-group residual SS = e'e - (Z'e)' b, summed over the groups used
    ete = group_ete(beta)[ok]
    ss_within = float(np.sum(ete - np.sum(Zte[ok] * b, axis=1)))
    df_within = float(np.sum(st.group_sizes[ok] - q))
    if df_within <= 0 or ss_within <= 0:
        return fallback
    s2 = ss_within / df_within
    Sb = np.cov(b, rowvar=False).reshape(q, q)
    Sigma = Sb - s2 * ZtZi.mean(axis=0)
    w, V = np.linalg.eigh(0.5 * (Sigma + Sigma.T) / s2)
    w = np.clip(w, 1e-2 * max(w.max(), 1e-2), None)
    Psi = (V * w) @ V.T
    if not np.isfinite(Psi).all():
        return fallback
    return Psi


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------


def fit_lmm(
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    groups: Sequence[Hashable] | np.ndarray,
    *,
    reml: bool = True,
    start: np.ndarray | None = None,
    maxiter: int = 500,
) -> LMMResult:
    """Fit a linear mixed model with one grouping factor.

    Parameters
    ----------
    y : array (n,)
        Response.
    X : array (n, p)
        Fixed-effects design (include the intercept column yourself).
    Z : array (n, q)
        Random-effects design (e.g. a column of ones, plus centred age).
    groups : array (n,)
        Group labels (any hashable values); rows need not be sorted.
    reml : bool
        REML (default) or ML.
    start : array, optional
        Starting point: either ``theta`` (length ``q(q+1)/2``, e.g. from a
        previous :class:`LMMResult`) or a relative covariance ``cov_re/scale``
        (q, q). Default: a moment-based estimate.
    maxiter : int
        Maximum L-BFGS-B iterations.

    Returns
    -------
    LMMResult
    """
    # Every BLAS call here is small; multi-threaded BLAS only adds hand-off
    # overhead (several-fold, worse on a busy machine).
    with _blas_single_thread():
        return _fit(y, X, Z, groups, reml=reml, start=start, maxiter=maxiter)


def _blas_single_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class _Prepared:
    st: GroupStats
    b0: np.ndarray  # OLS coefficients subtracted from y
    y: np.ndarray  # y - X b0
    Xs: np.ndarray  # X / x_scale


def _prepare(y, X, Z, groups) -> _Prepared:
    y_arr = np.asarray(y, dtype=float).ravel()
    X_arr = np.asarray(X, dtype=float)
    X_arr = X_arr[:, None] if X_arr.ndim == 1 else X_arr
    if X_arr.shape[0] != y_arr.shape[0]:
        raise ValueError(f"y has {y_arr.shape[0]} rows but X has {X_arr.shape[0]}")
    if not (np.isfinite(y_arr).all() and np.isfinite(X_arr).all()):
        raise ValueError("y or X contains missing or infinite values")
    n, p = X_arr.shape
    if n <= p:
        raise ValueError(f"{n} observations cannot estimate {p} fixed effects")
    # Work with OLS residuals as the response (an exact reparametrisation,
    # beta = b0 + beta~): small numbers keep the sums of squares accurate, so
    # the likelihood is smooth to ~1e-12 relative even at national scale.
    b0, _, rank, _ = np.linalg.lstsq(X_arr, y_arr, rcond=None)
    if rank < p:
        raise ValueError("the fixed-effects design X is rank deficient")
    y_c = y_arr - X_arr @ b0
    st = group_statistics(y_c, X_arr, Z, groups)
    if st.n_groups < 2:
        raise ValueError("at least two groups are needed to estimate a random effect")
    return _Prepared(st, b0, y_c, X_arr / st.x_scale)


def _start_theta(prep: _Prepared, start) -> np.ndarray:
    """Starting theta in scaled-Z units (see :func:`fit_lmm` for ``start``)."""
    st = prep.st
    q, zs = st.q, st.z_scale
    rows, cols = _tril_index(q)
    if start is None:

        def ete(beta: np.ndarray) -> np.ndarray:
            e = prep.y - prep.Xs @ beta
            return np.bincount(st.codes, weights=e * e, minlength=st.n_groups)

        # The moment estimate is usually close, but per-group OLS on two or
        # three nearly collinear times can throw it far off; take whichever of
        # a few candidates has the highest likelihood (cheap evaluations).
        Psi0 = _moment_start(st, ete)
        candidates = [Psi0, np.diag(np.diag(Psi0)), np.eye(q), 0.1 * np.eye(q)]
        llfs = [_profile(st, P, reml=True, grad=False).llf for P in candidates]
        best = candidates[int(np.nanargmax(np.where(np.isfinite(llfs), llfs, np.nan)))]
        return np.linalg.cholesky(best + 1e-12 * np.eye(q))[rows, cols]
    s = np.asarray(start, dtype=float)
    if s.ndim == 1 and s.size == len(rows):
        theta0 = (zs[:, None] * _theta_to_lambda(s, q))[rows, cols]
    elif s.shape == (q, q):
        Ps = s * np.outer(zs, zs)
        w, V = np.linalg.eigh(0.5 * (Ps + Ps.T))
        Ps = (V * np.clip(w, 1e-6, None)) @ V.T
        theta0 = np.linalg.cholesky(Ps)[rows, cols]
    else:
        raise ValueError(f"start must be theta (length {len(rows)}) or a ({q}, {q}) matrix")
    dpos = _diag_positions(q)
    theta0[dpos] = np.abs(theta0[dpos])
    return theta0


@dataclass
class _Optimum:
    theta: np.ndarray  # scaled-Z units
    ev: _Eval
    converged: bool
    n_iter: int
    n_fev: int
    message: str
    #: Hessian of -llf in theta at the optimum (interior fits only), or None
    hess_theta: np.ndarray | None = None


class _Objective:
    """``-llf`` and its gradient in theta (scaled-Z units), counting calls."""

    def __init__(self, st: GroupStats, reml: bool):
        self.st, self.reml, self.n_fev = st, reml, 0
        self.q = st.q
        self.rows, self.cols = _tril_index(st.q)
        self.last: _Eval | None = None

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        self.n_fev += 1
        L = _theta_to_lambda(theta, self.q)
        ev = _profile(self.st, L @ L.T, self.reml)
        self.last = ev
        if not np.isfinite(ev.llf):
            return np.inf, np.zeros_like(theta)
        # dl/dL = 2 G L for symmetric G; keep the lower-triangle entries.
        dL = 2.0 * ev.grad @ L
        return -ev.llf, -dL[self.rows, self.cols]


#: A singular fit whose Psi-gradient has an eigenvalue above this is not an
#: optimum over the PSD cone (see :func:`_optimise`).
KKT_TOL = 1e-5


def _optimise(
    st: GroupStats, theta0: np.ndarray, reml: bool, maxiter: int, max_restarts: int = 3
) -> _Optimum:
    """Maximise the profiled likelihood over theta (scaled-Z units).

    L-BFGS-B with bounds, then Newton polishing. On a singular fit the
    Cholesky parametrisation has spurious stationary points: with a zero
    diagonal, the same Psi has factors differing in the sign of a column, and
    a bound can hold theta where Psi could still improve. Optimality over the
    cone of PSD matrices needs the Psi-gradient G to be negative semidefinite
    (and G Psi = 0); if G has a positive eigenvalue, restart from Psi plus a
    step along its eigenvector and keep the better fit.
    """
    q = st.q
    rows, cols = _tril_index(q)
    dpos = _diag_positions(q)
    objective = _Objective(st, reml)

    bounds = [(0.0, None) if r == c else (None, None) for r, c in zip(rows, cols, strict=True)]

    def run(start: np.ndarray):
        opt = optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": maxiter, "ftol": 1e-12, "gtol": 1e-5, "maxcor": 20},
        )
        theta, newton_iter, kkt_ok, H = _newton_polish(objective, np.asarray(opt.x, float), dpos)
        L = _theta_to_lambda(theta, q)
        ev = _profile(st, L @ L.T, reml)
        return theta, ev, kkt_ok, int(opt.nit) + newton_iter, opt, H

    theta, ev, kkt_ok, n_iter, opt, H = run(theta0)
    for _ in range(max_restarts):
        if not np.any(theta[dpos] < SINGULAR_TOL) or ev.grad is None:
            break
        w, V = np.linalg.eigh(ev.grad)
        if w[-1] <= KKT_TOL:
            break
        L = _theta_to_lambda(theta, q)
        Psi = L @ L.T
        v = V[:, -1]
        step = max(float(np.trace(Psi)) / q, 0.1)
        cand = np.linalg.cholesky(Psi + step * np.outer(v, v) + 1e-10 * np.eye(q))[rows, cols]
        theta2, ev2, kkt2, it2, opt2, H2 = run(cand)
        n_iter += it2
        if not ev2.llf > ev.llf + 1e-10:
            break
        theta, ev, kkt_ok, opt, H = theta2, ev2, kkt2, opt2, H2
    if np.any(theta[dpos] < SINGULAR_TOL) and ev.grad is not None:
        # still singular: optimal only if no direction in the PSD cone ascends
        kkt_ok = kkt_ok and np.linalg.eigvalsh(ev.grad)[-1] <= KKT_TOL
    return _Optimum(
        theta=theta,
        ev=ev,
        converged=bool(kkt_ok),
        n_iter=n_iter,
        n_fev=objective.n_fev,
        message=str(opt.message),
        hess_theta=H,
    )


def _optimise_warm(
    st: GroupStats, theta0: np.ndarray, H0inv: np.ndarray, reml: bool, maxiter: int
) -> _Optimum:
    """Newton steps with a fixed inverse Hessian (a nearby fit's), for refits
    of resampled data: their optimum is close to the original one and the
    curvature nearly the same, so a few gradient evaluations suffice. Falls
    back to :func:`_optimise` near the boundary or if a step fails."""
    dpos = _diag_positions(st.q)
    objective = _Objective(st, reml)
    theta = theta0.copy()
    f, g = objective(theta)
    for it in range(25):
        if not np.isfinite(f):
            break
        step = H0inv @ g
        if float(g @ step) < 1e-9:
            return _Optimum(theta, objective.last, True, it, objective.n_fev, "warm Newton")
        new = theta - step
        if np.any(new[dpos] < 100 * SINGULAR_TOL):
            break
        fn, gn = objective(new)
        if not fn <= f + 1e-12 * abs(f):
            break
        theta, f, g = new, fn, gn
    out = _optimise(st, theta, reml, maxiter)
    out.n_fev += objective.n_fev
    return out


def _fit(y, X, Z, groups, *, reml: bool, start, maxiter: int) -> LMMResult:
    return _fit_prepared(_prepare(y, X, Z, groups), reml=reml, start=start, maxiter=maxiter)


def _fit_prepared(prep: _Prepared, *, reml: bool, start, maxiter: int) -> LMMResult:
    st = prep.st
    q, p, n, g = st.q, st.p, st.n_obs, st.n_groups
    notes: list[str] = []
    if g < 5:
        notes.append(f"only {g} groups: random-effects variances are poorly determined")
    opt = _optimise(st, _start_theta(prep, start), reml, maxiter)
    if not opt.converged:
        notes.append(f"optimisation did not converge ({opt.message})")
    theta, ev = opt.theta, opt.ev
    rows, cols = _tril_index(q)
    dpos = _diag_positions(q)
    L_s = _theta_to_lambda(theta, q)
    Psi_s = L_s @ L_s.T
    scale = ev.rvir / (n - p if reml else n)
    singular = bool(np.any(theta[dpos] < SINGULAR_TOL))
    if singular:
        notes.append(
            "boundary (singular) fit: the random-effects covariance is singular "
            "(a variance at zero or a correlation of +-1); consider a simpler "
            "random-effects structure"
        )
    # back to the caller's units: Psi = D^-1 Psi_s D^-1, beta = b0 + beta_s / x_scale
    Dz = 1.0 / st.z_scale
    Cinv_s = linalg.cho_solve(linalg.cho_factor(ev.C, lower=True), np.eye(p))
    cov_fe_gls_s = scale * Cinv_s
    ZtVX, u = _final_pieces(st, ev.W, ev.beta)
    hess_psi = None
    if opt.hess_theta is not None and not singular:
        # at an interior optimum the Hessian changes coordinates as J^-T H J^-1
        J = _dpsi_dtheta(L_s)
        Jinv = np.linalg.inv(J)
        hess_psi = -(Jinv.T @ opt.hess_theta @ Jinv)
    cov_fe_s, hess_note = _statsmodels_cov_fe(
        st, Psi_s, ev, ZtVX, u, reml, cov_fe_gls_s, hess_psi=hess_psi
    )
    if hess_note:
        notes.append(hess_note)
    xs_outer = np.outer(st.x_scale, st.x_scale)
    cov_fe = cov_fe_s / xs_outer
    with np.errstate(invalid="ignore"):
        bse = np.sqrt(np.diag(cov_fe))
    return LMMResult(
        fe_params=prep.b0 + ev.beta / st.x_scale,
        cov_fe=cov_fe,
        bse=bse,
        cov_re=scale * Psi_s * np.outer(Dz, Dz),
        scale=float(scale),
        llf=float(ev.llf),
        converged=opt.converged,
        n_iter=opt.n_iter,
        warnings=notes,
        n_groups=g,
        n_obs=n,
        reml=reml,
        theta=(Dz[:, None] * L_s)[rows, cols],
        singular=singular,
        # BLUPs: b_g = Psi Z'V^-1 r (scaled), back to Z units
        random_effects=(u @ Psi_s) * Dz,
        group_labels=st.group_labels,
        cov_fe_gls=cov_fe_gls_s / xs_outer,
        n_fev=opt.n_fev,
    )


# --------------------------------------------------------------------------
# Bootstrap over groups
# --------------------------------------------------------------------------


@dataclass
class LMMBootstrap:
    """Refits of a mixed model on groups resampled with replacement.

    Attributes
    ----------
    fit : LMMResult
        The fit to the original data (replicates start from its estimate).
    fe_params : ndarray (n_boot, p)
    cov_re : ndarray (n_boot, q, q)
    scale : ndarray (n_boot,)
    converged, singular : ndarray of bool (n_boot,)
    seed : int
    """

    fit: LMMResult
    fe_params: np.ndarray
    cov_re: np.ndarray
    scale: np.ndarray
    converged: np.ndarray
    singular: np.ndarray
    seed: int

    @property
    def n_boot(self) -> int:
        return self.fe_params.shape[0]

    def fe_interval(self, level: float = 0.95) -> np.ndarray:
        """Percentile intervals for the fixed effects, shape (p, 2)."""
        a = (1 - level) / 2
        return np.quantile(self.fe_params, [a, 1 - a], axis=0).T


def bootstrap_lmm(
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    groups: Sequence[Hashable] | np.ndarray,
    *,
    n_boot: int = 200,
    seed: int = 0,
    reml: bool = True,
    maxiter: int = 500,
    progress: bool | None = None,
) -> LMMBootstrap:
    """Bootstrap a mixed model over groups (children), resampled with replacement.

    Each replicate is fitted from the per-group sufficient statistics of the
    original data, indexed by the resampled groups (a group drawn twice counts
    as two groups), so no replicate touches the raw rows except for three
    weighted cross-products; each starts from the full-data estimate.

    Parameters
    ----------
    y, X, Z, groups, reml, maxiter
        As for :func:`fit_lmm`.
    n_boot : int
        Number of replicates.
    seed : int
        Seed for ``np.random.default_rng``; same seed, same replicates.
    progress : bool or None
        Show a tqdm progress bar (None: only on a terminal).

    Returns
    -------
    LMMBootstrap
    """
    from tqdm.auto import tqdm

    with _blas_single_thread():
        prep = _prepare(y, X, Z, groups)
        full = _fit_prepared(prep, reml=reml, start=None, maxiter=maxiter)
        st = prep.st
        g, q, p = st.n_groups, st.q, st.p
        rows, cols = _tril_index(q)
        dpos = _diag_positions(q)
        theta_full = (st.z_scale[:, None] * _theta_to_lambda(full.theta, q))[rows, cols]
        # an interior start: a replicate's optimum may lie off the boundary
        theta_full[dpos] = np.maximum(theta_full[dpos], 1e-2)
        objective = _Objective(st, reml)
        H = _fd_hessian(
            lambda t: objective(t)[1], theta_full, 1e-5 * np.maximum(np.abs(theta_full), 1e-2)
        )
        w = np.linalg.eigvalsh(H)
        H0inv = np.linalg.inv(H) if w.min() > 0 else None
        rng = np.random.default_rng(seed)
        fe = np.empty((n_boot, p))
        cov_re = np.empty((n_boot, q, q))
        scale = np.empty(n_boot)
        conv = np.zeros(n_boot, bool)
        sing = np.zeros(n_boot, bool)
        Dz = 1.0 / st.z_scale
        for b in tqdm(range(n_boot), disable=None if progress is None else not progress):
            idx = rng.integers(0, g, size=g)
            sb = st.resample(idx, prep.y, prep.Xs)
            if H0inv is not None:
                opt = _optimise_warm(sb, theta_full.copy(), H0inv, reml, maxiter)
            else:
                opt = _optimise(sb, theta_full.copy(), reml, maxiter)
            n_b = sb.n_obs
            s2 = opt.ev.rvir / (n_b - p if reml else n_b)
            L_s = _theta_to_lambda(opt.theta, q)
            fe[b] = prep.b0 + opt.ev.beta / st.x_scale
            cov_re[b] = s2 * (L_s @ L_s.T) * np.outer(Dz, Dz)
            scale[b] = s2
            conv[b] = opt.converged
            sing[b] = bool(np.any(opt.theta[dpos] < SINGULAR_TOL))
    return LMMBootstrap(full, fe, cov_re, scale, conv, sing, seed)


def _fd_hessian(grad_fn, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of an exact gradient, symmetrised."""
    k = x.size
    H = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = steps[j]
        H[:, j] = (grad_fn(x + e) - grad_fn(x - e)) / (2 * steps[j])
    return 0.5 * (H + H.T)


def _newton_polish(objective, theta: np.ndarray, dpos: np.ndarray, max_steps: int = 8):
    """Newton steps on the coordinates not held at the zero bound.

    L-BFGS-B stops on relative criteria that, on a log-likelihood of size ~1e6,
    leave variance components accurate to only a few digits; two or three
    Newton steps with the exact gradient make them agree with statsmodels to
    many. Returns (theta, steps taken, KKT conditions satisfied, Hessian of the
    objective at theta or None): the Hessian is returned when every coordinate
    is free, for reuse in the standard errors.
    """
    theta = theta.copy()
    f, gvec = objective(theta)
    if not np.isfinite(f):
        return theta, 0, False, None
    steps_taken = 0
    last_H: tuple[np.ndarray, np.ndarray] | None = None  # (theta, full Hessian)

    def free_and_hessian():
        nonlocal last_H
        at_bound = np.zeros(theta.size, bool)
        at_bound[dpos] = theta[dpos] <= 1e-8
        # a coordinate at the bound stays there if the gradient pushes outward
        free = ~(at_bound & (gvec >= 0))
        if not free.any():
            return free, None
        h = 1e-5 * np.maximum(np.abs(theta), 1e-2)
        H = _fd_hessian(lambda t: objective(t)[1], theta, h)
        last_H = (theta.copy(), H)
        return free, H[np.ix_(free, free)]

    def hessian_out():
        if last_H is None or not np.array_equal(last_H[0], theta) or np.any(theta[dpos] <= 1e-8):
            return None
        return last_H[1]

    for _ in range(max_steps):
        free, H = free_and_hessian()
        if H is None:
            return theta, steps_taken, True, None
        gf = gvec[free]
        try:
            w = np.linalg.eigvalsh(H)
            if w.min() <= 0:
                break
            step = np.linalg.solve(H, gf)
        except np.linalg.LinAlgError:
            break
        decrement = float(gf @ step)
        if decrement < 1e-10:
            return theta, steps_taken, True, hessian_out()
        t = 1.0
        improved = False
        for _ls in range(30):
            cand = theta.copy()
            cand[free] -= t * step
            cand[dpos] = np.maximum(cand[dpos], 0.0)
            fc, gc = objective(cand)
            if np.isfinite(fc) and fc <= f + 1e-12 * abs(f):
                improved = True
                break
            t *= 0.5
        if not improved:
            break
        theta, f, gvec = cand, fc, gc
        steps_taken += 1
    # final check: the Newton decrement (projected gradient against curvature)
    free, H = free_and_hessian()
    if H is None:
        return theta, steps_taken, True, None
    gf = gvec[free]
    try:
        w = np.linalg.eigvalsh(H)
        if w.min() > 0:
            ok = float(gf @ np.linalg.solve(H, gf)) < 1e-6
            return theta, steps_taken, ok, hessian_out()
    except np.linalg.LinAlgError:
        pass
    # flat or indefinite curvature (e.g. on the boundary): fall back to the gradient
    return theta, steps_taken, float(np.max(np.abs(gf))) < 1e-3, None


def _statsmodels_cov_fe(
    st: GroupStats,
    Psi_s: np.ndarray,
    ev: _Eval,
    ZtVX: np.ndarray,
    u: np.ndarray,
    reml: bool,
    cov_fe_gls_s: np.ndarray,
    hess_psi: np.ndarray | None = None,
) -> tuple[np.ndarray, str | None]:
    """Fixed-effects block of the inverse observed information, as statsmodels.

    statsmodels inverts the Hessian of the scale-profiled log-likelihood over
    (beta, packed Psi). Its fixed-effects block is
    ``A_ff^-1 + A_ff^-1 A_fr S^-1 A_rf A_ff^-1`` with ``A_ff = X'V^-1X / scale``,
    ``A_fr`` the cross derivatives, and ``S`` minus the Hessian of the
    beta-profiled log-likelihood in Psi (here from finite differences of its
    exact gradient).
    """
    q, p, n = st.q, st.p, st.n_obs
    fac = n - p if reml else n
    r, c = _psi_pack(q)
    k = len(r)
    # cross derivatives: -(fac/rvir) sum_g X'V^-1 Z dPsi_j Z'V^-1 r
    A_fr = np.empty((p, k))
    for j in range(k):
        a, b = r[j], c[j]
        t = ZtVX[:, a, :].T @ u[:, b]
        if a != b:
            t = t + ZtVX[:, b, :].T @ u[:, a]
        A_fr[:, j] = (fac / ev.rvir) * t
    v0 = Psi_s[r, c]

    def grad_packed(v: np.ndarray) -> np.ndarray:
        e = _profile(st, _psi_from_packed(v, q), reml)
        if e.grad is None:
            return np.full(k, np.nan)
        return _grad_psi_packed(e.grad)

    diag_scale = np.sqrt(np.clip(np.diag(Psi_s), 0, None))
    steps = 1e-4 * np.maximum(
        np.where(r == c, diag_scale[r] ** 2, diag_scale[r] * diag_scale[c]), 1e-3
    )
    Hprof = _fd_hessian(grad_packed, v0, steps) if hess_psi is None else hess_psi
    S = -Hprof
    try:
        corr = cov_fe_gls_s @ A_fr @ np.linalg.solve(S, A_fr.T @ cov_fe_gls_s)
        cov = cov_fe_gls_s + corr
        if not np.isfinite(cov).all():
            raise np.linalg.LinAlgError
        note = None
        if np.linalg.eigvalsh(S).min() <= 0:
            note = (
                "the Hessian at the estimate is not negative definite; fixed-effect "
                "standard errors use the observed information regardless"
            )
        return 0.5 * (cov + cov.T), note
    except np.linalg.LinAlgError:
        return cov_fe_gls_s, (
            "the observed information is singular; fixed-effect standard errors "
            "are scale * (X'V^-1X)^-1"
        )
