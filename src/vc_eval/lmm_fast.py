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
Hessian of the exact gradient.

Standard errors of the fixed effects follow statsmodels: the fixed-effects
block of the inverse observed information over (fixed effects, covariance
parameters), which differs slightly from lme4's ``sigma^2 (X'V^-1X)^-1``
(kept as :attr:`LMMResult.cov_fe_gls`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize

__all__ = ["LMMResult", "fit_lmm", "group_statistics", "GroupStats"]

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
            f"log-likelihood {self.llf:.4f}; converged {self.converged}; "
            f"iterations {self.n_iter}",
            "fixed effects (estimate, SE): "
            + ", ".join(f"{b:.4g} ({s:.3g})" for b, s in zip(self.fe_params, self.bse)),
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
    ZtZ = sums[:, : q * q].reshape(g, q, q)
    ZtX = sums[:, q * q : q * q + q * p].reshape(g, q, p)
    Zty = sums[:, q * q + q * p :]
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
# Batched small-matrix helpers (q is 1, 2 or a few: explicit loops over q
# broadcast over all groups at once, which beats batched matmul here)
# --------------------------------------------------------------------------


def _bmm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Batched ``A @ B`` for ``A`` (g, q, q) and ``B`` (g, q, k)."""
    out = A[:, :, 0, None] * B[:, None, 0, :]
    for k in range(1, A.shape[2]):
        out += A[:, :, k, None] * B[:, None, k, :]
    return out


def _bmv(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched ``A @ v`` for ``A`` (g, q, k) and ``v`` (g, k)."""
    return np.sum(A * v[:, None, :], axis=2)


def _small_inv_logdet(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and log-determinant of stacked (g, q, q) matrices."""
    q = M.shape[1]
    if q == 1:
        d = M[:, 0, 0]
        return (1.0 / d)[:, None, None], np.log(d)
    if q == 2:
        a, b, c, d = M[:, 0, 0], M[:, 0, 1], M[:, 1, 0], M[:, 1, 1]
        det = a * d - b * c
        inv = np.empty_like(M)
        inv[:, 0, 0] = d / det
        inv[:, 0, 1] = -b / det
        inv[:, 1, 0] = -c / det
        inv[:, 1, 1] = a / det
        return inv, np.log(det)
    sign, ld = np.linalg.slogdet(M)
    return np.linalg.inv(M), np.where(sign > 0, ld, np.nan)


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
    ZtVX: np.ndarray  # (g, q, p)
    u: np.ndarray  # (g, q): Z'V^-1 r


def _profile(st: GroupStats, Psi: np.ndarray, reml: bool, grad: bool = True) -> _Eval:
    """Profiled (over sigma^2 and beta) log-likelihood at relative covariance Psi.

    Uses ``V = I + Z Psi Z'`` per group and Woodbury:
    ``V^-1 = I - Z W Z'`` with ``W = Psi (I + Z'Z Psi)^-1``, valid for any
    symmetric ``Psi`` that keeps ``V`` positive definite (the Hessian is taken
    by finite differences that may step just outside the PSD cone).
    """
    g, q, p = st.n_groups, st.q, st.p
    n = st.n_obs
    fac = n - p if reml else n
    eye = np.eye(q)
    ZtZ = st.ZtZ
    # N = I + Psi Z'Z; W = N^-1 Psi (symmetric); log det V = log det N.
    N = eye + np.einsum("ij,gjk->gik", Psi, ZtZ)
    Ninv, logdetN = _small_inv_logdet(N)
    W = np.einsum("gij,jk->gik", Ninv, Psi)
    W = 0.5 * (W + W.transpose(0, 2, 1))
    WZtX = _bmm(W, st.ZtX)
    WZty = _bmv(W, st.Zty)
    ZtVX = st.ZtX - _bmm(ZtZ, WZtX)
    ZtVy = st.Zty - _bmv(ZtZ, WZty)
    C = st.XtX - np.tensordot(st.ZtX, WZtX, axes=([0, 1], [0, 1]))
    C = 0.5 * (C + C.T)
    XtVy = st.Xty - np.tensordot(st.ZtX, WZty, axes=([0, 1], [0, 1]))
    ytVy = st.yty - float(np.sum(st.Zty * WZty))
    try:
        cf = linalg.cho_factor(C, lower=True)
    except linalg.LinAlgError as err:
        raise np.linalg.LinAlgError("X'V^-1X is not positive definite") from err
    beta = linalg.cho_solve(cf, XtVy)
    rvir = ytVy - float(beta @ XtVy)
    logdetV = float(np.sum(logdetN))
    if not np.isfinite(logdetV) or rvir <= 0:
        return _Eval(-np.inf, None, beta, rvir, C, ZtVX, np.zeros((g, q)))
    llf = -0.5 * logdetV - 0.5 * fac * np.log(rvir)
    llf += -0.5 * fac * np.log(2 * np.pi) + 0.5 * fac * np.log(fac) - 0.5 * fac
    if reml:
        logdetC = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        # back to the units of the caller's X (scaling X shifts log det C)
        logdetC += 2.0 * float(np.sum(np.log(st.x_scale)))
        llf -= 0.5 * logdetC
    u = ZtVy - ZtVX @ beta
    G = None
    if grad:
        ZtVZ = ZtZ - _bmm(ZtZ, _bmm(W, ZtZ))
        G = -0.5 * ZtVZ.sum(axis=0)
        G += (0.5 * fac / rvir) * (u.T @ u)
        if reml:
            T = linalg.cho_solve(cf, ZtVX.reshape(g * q, p).T).T.reshape(g, q, p)
            G += 0.5 * np.tensordot(T, ZtVX, axes=([0, 2], [0, 2]))
        G = 0.5 * (G + G.T)
    return _Eval(llf, G, beta, rvir, C, ZtVX, u)


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
    q, p = st.q, st.p
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
    ZtZi, _ = _small_inv_logdet(st.ZtZ[ok])
    b = _bmv(ZtZi, Zte[ok])
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
    y_arr = np.asarray(y, dtype=float).ravel()
    X_arr = np.asarray(X, dtype=float)
    X_arr = X_arr[:, None] if X_arr.ndim == 1 else X_arr
    st = group_statistics(y_arr, X_arr, Z, groups)
    q, p, n, g = st.q, st.p, st.n_obs, st.n_groups
    notes: list[str] = []
    if n <= p:
        raise ValueError(f"{n} observations cannot estimate {p} fixed effects")
    if np.linalg.matrix_rank(st.XtX) < p:
        raise ValueError("the fixed-effects design X is rank deficient")
    if g < 2:
        raise ValueError("at least two groups are needed to estimate a random effect")
    if g < 5:
        notes.append(f"only {g} groups: random-effects variances are poorly determined")

    Xs = X_arr / st.x_scale

    def ete(beta: np.ndarray) -> np.ndarray:
        e = y_arr - Xs @ beta
        return np.bincount(st.codes, weights=e * e, minlength=g)

    rows, cols = _tril_index(q)
    dpos = _diag_positions(q)
    k = len(rows)
    zs = st.z_scale

    # --- starting point, in scaled-Z units --------------------------------
    if start is None:
        Psi0 = _moment_start(st, ete)
        theta0 = np.linalg.cholesky(Psi0 + 1e-12 * np.eye(q))[rows, cols]
    else:
        s = np.asarray(start, dtype=float)
        if s.ndim == 1 and s.size == k:
            L = _theta_to_lambda(s, q)
            theta0 = (zs[:, None] * L)[rows, cols]
        elif s.shape == (q, q):
            Ps = s * np.outer(zs, zs)
            w, V = np.linalg.eigh(0.5 * (Ps + Ps.T))
            Ps = (V * np.clip(w, 1e-6, None)) @ V.T
            theta0 = np.linalg.cholesky(Ps)[rows, cols]
        else:
            raise ValueError(f"start must be theta (length {k}) or a ({q}, {q}) matrix")
        theta0[dpos] = np.abs(theta0[dpos])

    n_fev = 0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal n_fev
        n_fev += 1
        L = _theta_to_lambda(theta, q)
        ev = _profile(st, L @ L.T, reml)
        if not np.isfinite(ev.llf):
            return np.inf, np.zeros_like(theta)
        # dl/dL = 2 G L for symmetric G; keep the lower-triangle entries.
        dL = 2.0 * ev.grad @ L
        return -ev.llf, -dL[rows, cols]

    bounds = [(0.0, None) if r == c else (None, None) for r, c in zip(rows, cols)]
    opt = optimize.minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 20},
    )
    theta = np.asarray(opt.x, dtype=float)
    n_iter = int(opt.nit)

    # --- Newton polishing on the free coordinates ---------------------------
    theta, newton_iter, kkt_ok = _newton_polish(objective, theta, dpos)
    n_iter += newton_iter
    converged = bool(kkt_ok)
    if not converged:
        notes.append(
            "optimisation did not converge: "
            f"{opt.message if isinstance(opt.message, str) else opt.message!s}"
        )

    # --- results at the optimum --------------------------------------------
    L_s = _theta_to_lambda(theta, q)
    Psi_s = L_s @ L_s.T
    ev = _profile(st, Psi_s, reml)
    fac = n - p if reml else n
    scale = ev.rvir / fac
    singular = bool(np.any(theta[dpos] < SINGULAR_TOL))
    if singular:
        notes.append(
            "boundary (singular) fit: the random-effects covariance is singular "
            "(a variance at zero or a correlation of +-1); consider a simpler "
            "random-effects structure"
        )
    # unscale: Psi = D^-1 Psi_s D^-1, beta = beta_s / x_scale
    Dz = 1.0 / zs
    Psi = Psi_s * np.outer(Dz, Dz)
    L = Dz[:, None] * L_s
    beta = ev.beta / st.x_scale
    Cinv_s = linalg.cho_solve(linalg.cho_factor(ev.C, lower=True), np.eye(p))
    cov_fe_gls_s = scale * Cinv_s
    cov_fe_s, hess_note = _statsmodels_cov_fe(st, Psi_s, ev, reml, scale, cov_fe_gls_s)
    if hess_note:
        notes.append(hess_note)
    xs_outer = np.outer(st.x_scale, st.x_scale)
    cov_fe = cov_fe_s / xs_outer
    cov_fe_gls = cov_fe_gls_s / xs_outer
    with np.errstate(invalid="ignore"):
        bse = np.sqrt(np.diag(cov_fe))
    # BLUPs: b_g = Psi Z'V^-1 r (scaled), back to Z units
    blups = (ev.u @ Psi_s) * Dz
    return LMMResult(
        fe_params=beta,
        cov_fe=cov_fe,
        bse=bse,
        cov_re=scale * Psi,
        scale=float(scale),
        llf=float(ev.llf),
        converged=converged,
        n_iter=n_iter,
        warnings=notes,
        n_groups=g,
        n_obs=n,
        reml=reml,
        theta=L[rows, cols],
        singular=singular,
        random_effects=blups,
        group_labels=st.group_labels,
        cov_fe_gls=cov_fe_gls,
        n_fev=n_fev,
    )


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
    many. Returns (theta, steps taken, KKT conditions satisfied).
    """
    theta = theta.copy()
    f, gvec = objective(theta)
    if not np.isfinite(f):
        return theta, 0, False
    steps_taken = 0
    for _ in range(max_steps):
        at_bound = np.zeros(theta.size, bool)
        at_bound[dpos] = theta[dpos] <= 1e-8
        # a coordinate at the bound stays there if the gradient pushes outward
        free = ~(at_bound & (gvec >= 0))
        if not free.any():
            return theta, steps_taken, True
        h = 1e-5 * np.maximum(np.abs(theta), 1e-2)
        H = _fd_hessian(lambda t: objective(t)[1], theta, h)[np.ix_(free, free)]
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
            return theta, steps_taken, True
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
    # final check: projected gradient small relative to curvature
    at_bound = np.zeros(theta.size, bool)
    at_bound[dpos] = theta[dpos] <= 1e-8
    free = ~(at_bound & (gvec >= 0))
    if not free.any():
        return theta, steps_taken, True
    h = 1e-5 * np.maximum(np.abs(theta), 1e-2)
    H = _fd_hessian(lambda t: objective(t)[1], theta, h)[np.ix_(free, free)]
    gf = gvec[free]
    try:
        w = np.linalg.eigvalsh(H)
        if w.min() > 0:
            return theta, steps_taken, float(gf @ np.linalg.solve(H, gf)) < 1e-6
    except np.linalg.LinAlgError:
        pass
    # flat or indefinite curvature (e.g. on the boundary): fall back to the gradient
    return theta, steps_taken, float(np.max(np.abs(gf))) < 1e-3


def _statsmodels_cov_fe(
    st: GroupStats,
    Psi_s: np.ndarray,
    ev: _Eval,
    reml: bool,
    scale: float,
    cov_fe_gls_s: np.ndarray,
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
        t = ev.ZtVX[:, a, :].T @ ev.u[:, b]
        if a != b:
            t = t + ev.ZtVX[:, b, :].T @ ev.u[:, a]
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
    Hprof = _fd_hessian(grad_packed, v0, steps)
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
