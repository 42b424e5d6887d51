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
import os
import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize

__all__ = [
    "DesignCache",
    "GroupStats",
    "LMMBootstrap",
    "LMMDesign",
    "LMMResult",
    "bootstrap_lmm",
    "default_workers",
    "fit_lmm",
    "group_statistics",
    "single_thread_blas",
]

#: Designs with at least this many groups are fitted on several threads
#: (bootstrap refits, and the responses of one design in ``fit_domains``);
#: smaller ones are quicker on one.
PARALLEL_MIN_GROUPS = 20_000
#: Most threads :func:`default_workers` gives.
MAX_WORKERS = 2


def default_workers(n_groups: int) -> int:
    """Threads for independent fits on a design with ``n_groups`` groups: the
    usable cores up to :data:`MAX_WORKERS`, or 1 below
    :data:`PARALLEL_MIN_GROUPS` groups. Results do not depend on it."""
    if n_groups < PARALLEL_MIN_GROUPS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


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

    def resample(
        self, idx: np.ndarray, y: np.ndarray, Xs: np.ndarray, rows: _Rows | None = None
    ) -> GroupStats:
        """Statistics of a resample of groups (``idx`` may repeat groups).

        A group drawn k times enters every sum over groups with weight k, so
        the resample shares all per-group arrays with ``self`` (no copies);
        only the three global cross-products change. ``y`` and ``Xs`` are the
        rows these statistics were built from (the response as passed to
        :func:`group_statistics` and ``X / x_scale``): the global products are
        row-weighted sums over them (no per-group ``X'X`` blocks are kept),
        over ``Xs``'s distinct rows when ``rows`` lists them.
        """
        if self.weights is not None:
            raise ValueError("resample the original statistics, not a resample")
        c = np.bincount(np.asarray(idx), minlength=self.n_groups).astype(float)
        w = c[self.codes]
        wy = w * y
        out = dataclasses.replace(
            self,
            XtX=_weighted_gram(Xs, w) if rows is None else rows.gram(w),
            Xty=Xs.T @ wy if rows is None else rows.t_dot(wy),
            yty=float(wy @ y),
            n_obs=int(c @ self.group_sizes),
            weights=c,
        )
        # share the derived per-group arrays (never recomputed)
        for key in ("ZtZ_s", "ZtX_s", "Zty_s"):
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


def _factorize(
    groups: Sequence[Hashable] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
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
    return LMMDesign(X, Z, groups).statistics(y)


class LMMDesign:
    """Design-only statistics of ``X``, ``Z`` and the groups, shared by every response.

    The per-group cross-products ``Z'Z`` and ``Z'X`` and the global ``X'X``
    depend on the design alone, so they are computed once and reused by
    every response fitted on the same rows (the need domains of one
    population share children and ages), by bootstrap resamples (a
    resample reweights groups) and by refits. Only ``Z'y``, ``X'y`` and
    ``y'y`` are computed per response: a few passes over the rows.

    Parameters
    ----------
    X, Z, groups
        Fixed-effects design (n, p), random-effects design (n, q) and group
        labels (n,); rows need not be sorted by group.

    Raises
    ------
    ValueError
        Rows that do not match, missing or infinite values, an all-zero
        column or a rank-deficient ``X``.
    """

    def __init__(
        self, X: np.ndarray, Z: np.ndarray, groups: Sequence[Hashable] | np.ndarray
    ) -> None:
        X = np.asarray(X, dtype=float)
        Z = np.asarray(Z, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if Z.ndim == 1:
            Z = Z[:, None]
        n = X.shape[0]
        if Z.shape[0] != n or len(groups) != n:
            raise ValueError(
                f"y, X, Z and groups must have the same number of rows "
                f"(got X {n}, Z {Z.shape[0]}, groups {len(groups)})"
            )
        for name, arr in (("X", X), ("Z", Z)):
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} contains missing or infinite values")
        x_scale = np.sqrt(np.mean(X**2, axis=0))
        z_scale = np.sqrt(np.mean(Z**2, axis=0))
        if (x_scale == 0).any():
            raise ValueError("X has an all-zero column")
        if (z_scale == 0).any():
            raise ValueError("Z has an all-zero column")
        codes, labels = _factorize(groups)
        g, q, p = len(labels), Z.shape[1], X.shape[1]
        self.X, self.Z, self.groups = X, Z, groups
        self.codes, self.labels = codes, labels
        self.x_scale, self.z_scale = x_scale, z_scale
        self.Xs = X / x_scale
        self.Zs = Z / z_scale
        # Z'Z and Z'X per group: one bincount per entry (a pass over the rows
        # in their own order, no sorting, no (n, p) temporaries)
        ZtZ = np.empty((g, q, q))
        ZtX = np.empty((g, q, p))
        for a in range(q):
            za = self.Zs[:, a]
            for b in range(q):
                ZtZ[:, a, b] = np.bincount(codes, weights=za * self.Zs[:, b], minlength=g)
            for j in range(p):
                ZtX[:, a, j] = np.bincount(codes, weights=za * self.Xs[:, j], minlength=g)
        self.ZtZ = ZtZ
        self.ZtX = ZtX
        self.rows = _Rows.find(self.Xs)
        self.XtX = _weighted_gram(self.Xs, None) if self.rows is None else self.rows.gram(None)
        self.group_sizes = np.bincount(codes, minlength=g)
        self._soa: dict[str, np.ndarray] = {}
        #: (theta, inverse Hessian) of the first interior fit on this design:
        #: the warm start of every later response (see :meth:`fit`). Always
        #: the first's, never the previous one's, so a response's fit does not
        #: depend on the order the others were fitted in (or on threads).
        self.hint: tuple[np.ndarray, np.ndarray] | None = None
        self._check_rank()

    @property
    def n_obs(self) -> int:
        return self.X.shape[0]

    def _t_dot(self, v: np.ndarray) -> np.ndarray:
        """``Xs' v``."""
        return self.Xs.T @ v if self.rows is None else self.rows.t_dot(v)

    def _dot(self, b: np.ndarray) -> np.ndarray:
        """``Xs b``."""
        return self.Xs @ b if self.rows is None else (self.rows.unique @ b)[self.rows.inverse]

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def _check_rank(self) -> None:
        w = np.linalg.eigvalsh(self.XtX)
        if w[0] > 1e-10 * w[-1]:
            return
        # nearly collinear: decide as np.linalg.lstsq does, on the rows
        if np.linalg.matrix_rank(self.Xs) < self.Xs.shape[1]:
            raise ValueError("the fixed-effects design X is rank deficient")

    def matches(self, X: np.ndarray, Z: np.ndarray, groups) -> bool:
        """True when ``X``, ``Z`` and ``groups`` are this design's (same rows, same values)."""
        X = np.asarray(X)
        Z = np.asarray(Z)
        X = X[:, None] if X.ndim == 1 else X
        Z = Z[:, None] if Z.ndim == 1 else Z
        if X.shape != self.X.shape or Z.shape != self.Z.shape or len(groups) != self.n_obs:
            return False
        if groups is not self.groups and not np.array_equal(
            np.asarray(groups), np.asarray(self.groups)
        ):
            return False
        return bool(np.array_equal(X, self.X) and np.array_equal(Z, self.Z))

    def statistics(self, y: np.ndarray) -> GroupStats:
        """:class:`GroupStats` of response ``y`` (shares the design arrays)."""
        y = np.asarray(y, dtype=float).ravel()
        if y.shape[0] != self.n_obs:
            raise ValueError(
                f"y, X, Z and groups must have the same number of rows "
                f"(got y {y.shape[0]}, X {self.n_obs})"
            )
        if not np.isfinite(y).all():
            raise ValueError("y contains missing or infinite values")
        Zty = np.column_stack(
            [
                np.bincount(self.codes, weights=self.Zs[:, a] * y, minlength=self.n_groups)
                for a in range(self.Zs.shape[1])
            ]
        )
        st = GroupStats(
            ZtZ=self.ZtZ,
            ZtX=self.ZtX,
            Zty=Zty,
            XtX=self.XtX,
            Xty=self._t_dot(y),
            yty=float(y @ y),
            n_obs=self.n_obs,
            group_sizes=self.group_sizes,
            group_labels=self.labels,
            codes=self.codes,
            x_scale=self.x_scale,
            z_scale=self.z_scale,
        )
        # the structure-of-arrays copies are design-only: build them once
        if not self._soa:
            self._soa["ZtZ_s"] = np.ascontiguousarray(self.ZtZ.transpose(1, 2, 0))
            self._soa["ZtX_s"] = np.ascontiguousarray(self.ZtX.transpose(1, 2, 0))
        st.__dict__.update(self._soa)
        return st

    def prepare(self, y: np.ndarray) -> _Prepared:
        """Statistics of ``y`` less its least-squares fit on ``X`` (see :func:`fit_lmm`)."""
        y = np.asarray(y, dtype=float).ravel()
        if y.shape[0] != self.n_obs:
            raise ValueError(f"y has {y.shape[0]} rows but X has {self.n_obs}")
        if not np.isfinite(y).all():
            raise ValueError("y or X contains missing or infinite values")
        n, p = self.Xs.shape
        if n <= p:
            raise ValueError(f"{n} observations cannot estimate {p} fixed effects")
        if self.n_groups < 2:
            raise ValueError("at least two groups are needed to estimate a random effect")
        # Work with OLS residuals as the response (an exact reparametrisation,
        # beta = b0 + beta~): small numbers keep the sums of squares accurate, so
        # the likelihood is smooth to ~1e-12 relative even at national scale.
        # Normal equations on the scaled design plus one step of iterative
        # refinement give least squares to working accuracy without a QR of X.
        cf = linalg.cho_factor(self.XtX, lower=True)
        bs = linalg.cho_solve(cf, self._t_dot(y))
        r = y - self._dot(bs)
        bs = bs + linalg.cho_solve(cf, self._t_dot(r))
        y_c = y - self._dot(bs)
        return _Prepared(self.statistics(y_c), bs / self.x_scale, y_c, self.Xs, self)

    def fit(
        self,
        y: np.ndarray,
        *,
        reml: bool = True,
        start: np.ndarray | None = None,
        maxiter: int = 500,
        warm: bool = True,
        set_hint: bool = True,
    ) -> LMMResult:
        """Fit response ``y`` on this design (see :func:`fit_lmm`).

        With ``warm`` (default) and no ``start``, the first interior fit on
        this design (:attr:`hint`) seeds Newton steps with its curvature,
        and the optimum is then checked and polished exactly as a cold
        fit's; only the path to it is shorter. ``set_hint=False`` leaves
        :attr:`hint` as it is (fits running side by side must not set it).
        """
        with _blas_single_thread():
            return _fit_prepared(
                self.prepare(y),
                reml=reml,
                start=start,
                maxiter=maxiter,
                warm=warm,
                set_hint=set_hint,
            )

    def bootstrap(
        self,
        y: np.ndarray,
        *,
        n_boot: int = 200,
        rng: np.random.Generator | int = 0,
        reml: bool = True,
        maxiter: int = 500,
        fit: LMMResult | None = None,
        progress: bool | None = None,
        workers: int | None = None,
    ) -> LMMBootstrap:
        """Bootstrap over groups by reweighting this design's statistics.

        ``fit`` is the full-data fit of ``y`` when already at hand (it is
        refitted otherwise). Replicate ``b`` draws
        ``rng.integers(0, n_groups, n_groups)`` (groups in sorted-label
        order), so a generator gives the same resamples as a loop that
        refits resampled rows. ``workers`` threads refit (default
        :func:`default_workers`); every replicate starts from the full fit,
        so the results do not depend on their number.
        """
        with _blas_single_thread():
            return _bootstrap(
                self,
                y,
                n_boot=n_boot,
                rng=rng,
                reml=reml,
                maxiter=maxiter,
                full=fit,
                progress=progress,
                workers=workers,
            )


class DesignCache:
    """Designs already built, reused when ``X``, ``Z`` and the groups are equal.

    Pass one cache to every fit of a batch (e.g. the domains of one
    population): a fit whose design equals a cached one only computes its
    response's statistics. Holds at most ``max_size`` designs (least recently
    used dropped first).
    """

    def __init__(self, max_size: int = 2) -> None:
        self.max_size = max_size
        self._designs: list[LMMDesign] = []
        self.hits = 0
        self.misses = 0

    def get(self, X: np.ndarray, Z: np.ndarray, groups) -> LMMDesign:
        """The cached design equal to (X, Z, groups), building it if needed."""
        for i, d in enumerate(self._designs):
            if d.matches(X, Z, groups):
                self._designs.append(self._designs.pop(i))
                self.hits += 1
                return d
        d = LMMDesign(X, Z, groups)
        self.misses += 1
        self._designs.append(d)
        del self._designs[: -self.max_size]
        return d

    def clear(self) -> None:
        self._designs.clear()


@dataclass
class _Rows:
    """The distinct rows of a tall design and which one each row is.

    A growth design's rows are a function of age (days, so a few thousand
    distinct values) and a few covariates: sums over 850,000 rows such as
    ``X' diag(w) X`` and ``X'y`` are sums over the distinct rows of the
    per-row weights added up (one ``bincount``), hundreds of times cheaper.
    """

    unique: np.ndarray  # (u, p)
    inverse: np.ndarray  # (n,) index into unique

    @classmethod
    def find(cls, A: np.ndarray) -> _Rows | None:
        """The distinct rows of ``A``, or None when they are not many fewer than its rows."""
        n, p = A.shape
        if n < 4096:
            return None
        # factorise a random projection of each row (hashing floats), then
        # check exactly that equal projections were equal rows
        h = A @ np.random.default_rng(20261130).standard_normal(p)
        inverse, _ = pd.factorize(h)
        u = int(inverse.max()) + 1
        if u > n // 4:
            return None
        first = np.empty(u, dtype=np.int64)
        first[inverse[::-1]] = np.arange(n - 1, -1, -1)  # the last write wins: first rows
        unique = A[first]
        for i in range(0, n, 65536):
            if not np.array_equal(unique[inverse[i : i + 65536]], A[i : i + 65536]):
                return None
        return cls(unique, inverse)

    def t_dot(self, v: np.ndarray) -> np.ndarray:
        """``A' v``."""
        return self.unique.T @ np.bincount(self.inverse, weights=v, minlength=len(self.unique))

    def gram(self, w: np.ndarray | None) -> np.ndarray:
        """``A' diag(w) A`` (w None: all ones), symmetrised."""
        wu = np.bincount(self.inverse, weights=w, minlength=len(self.unique))
        out = (self.unique * wu[:, None]).T @ self.unique
        return 0.5 * (out + out.T)


def _weighted_gram(A: np.ndarray, w: np.ndarray | None, chunk: int = 65536) -> np.ndarray:
    """``A' diag(w) A`` in row chunks (bounded temporaries), symmetrised."""
    k = A.shape[1]
    out = np.zeros((k, k))
    for i in range(0, A.shape[0], chunk):
        blk = A[i : i + chunk]
        out += blk.T @ (blk if w is None else blk * w[i : i + chunk, None])
    return 0.5 * (out + out.T)


# --------------------------------------------------------------------------
# Batched small-matrix helpers. Per-group q x q matrices are held
# "structure of arrays", shape (q, q, g): each entry is one contiguous vector
# over groups, so a batched 2 x 2 product is a dozen vector operations (several
# times faster than numpy's batched matmul on 84,000 tiny matrices).
# --------------------------------------------------------------------------


def _soa_mm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-group ``A @ B`` for (q, r, g) and (r, s, g) arrays."""
    q, r = A.shape[:2]
    s = B.shape[1]
    out = np.empty((q, s, max(A.shape[2], B.shape[2])))
    for a in range(q):
        for b in range(s):
            np.multiply(A[a, 0], B[0, b], out=out[a, b])
            for c in range(1, r):
                out[a, b] += A[a, c] * B[c, b]
    return out


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
    #: Hessian of llf in packed Psi (statsmodels order), when asked for
    hess: np.ndarray | None = None
    #: u = Z'V^-1 r per group (q, g), with the gradient
    u: np.ndarray | None = None
    #: with the Hessian: sum_g (Z'V^-1X)_g' E_i u_g per packed element i of
    #: Psi (k, p), the cross derivatives of the fixed-effects information
    w: np.ndarray | None = None


#: Groups per block in the likelihood's passes over the per-group ``Z'X``:
#: a (q, p, CHUNK) block stays in cache while every product that needs it is
#: done, where whole-array operations made a dozen passes over ~70 MB arrays
#: per evaluation nationally (memory traffic was most of the time).
CHUNK = 4096


def _blocks(g: int) -> list[slice]:
    return [slice(i, min(i + CHUNK, g)) for i in range(0, g, CHUNK)]


def _soa_chol2(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Lower Cholesky factors ``(l00, l10, l11)`` of per-group 2 x 2 ``W``
    (q, q, g), or None when some ``W_g`` is not positive definite."""
    w00, w10, w11 = W[0, 0], W[1, 0], W[1, 1]
    if not np.all(w00 > 0):
        return None
    l00 = np.sqrt(w00)
    l10 = w10 / l00
    s11 = w11 - l10 * l10
    if not np.all(s11 >= 0):
        return None
    return l00, l10, np.sqrt(s11)


def _woodbury2(Psi: np.ndarray, S: np.ndarray):
    """For q = 2, per group: ``W = (I + Psi S)^-1 Psi`` (symmetrised),
    ``log det (I + Psi S)``, ``M = I - S W`` and ``M S``, entry by entry on
    vectors over groups (``S = Z'Z`` as (2, 2, g), symmetric)."""
    p00, p01, p11 = (
        float(Psi[0, 0]),
        float(0.5 * (Psi[0, 1] + Psi[1, 0])),
        float(Psi[1, 1]),
    )
    s00, s01, s11 = S[0, 0], S[0, 1], S[1, 1]
    n00 = 1.0 + p00 * s00 + p01 * s01
    n01 = p00 * s01 + p01 * s11
    n10 = p01 * s00 + p11 * s01
    n11 = 1.0 + p01 * s01 + p11 * s11
    det = n00 * n11 - n01 * n10
    with np.errstate(invalid="ignore", divide="ignore"):
        logdet = np.log(det)
    r = 1.0 / det
    W = np.empty((2, 2, s00.size))
    np.multiply(n11 * p00 - n01 * p01, r, out=W[0, 0])
    np.multiply(0.5 * ((n11 * p01 - n01 * p11) + (n00 * p01 - n10 * p00)), r, out=W[0, 1])
    W[1, 0] = W[0, 1]
    np.multiply(n00 * p11 - n10 * p01, r, out=W[1, 1])
    w00, w01, w11 = W[0, 0], W[0, 1], W[1, 1]
    M = np.empty_like(W)
    M[0, 0] = 1.0 - (s00 * w00 + s01 * w01)
    M[0, 1] = -(s00 * w01 + s01 * w11)
    M[1, 0] = -(s01 * w00 + s11 * w01)
    M[1, 1] = 1.0 - (s01 * w01 + s11 * w11)
    MS = np.empty_like(W)
    MS[0, 0] = M[0, 0] * s00 + M[0, 1] * s01
    MS[0, 1] = M[0, 0] * s01 + M[0, 1] * s11
    MS[1, 0] = M[1, 0] * s00 + M[1, 1] * s01
    MS[1, 1] = M[1, 0] * s01 + M[1, 1] * s11
    return W, logdet, M, MS


def _profile(
    st: GroupStats, Psi: np.ndarray, reml: bool, grad: bool = True, hess: bool = False
) -> _Eval:
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

    Two passes over the per-group ``Z'X`` in blocks of :data:`CHUNK` groups:
    the first for ``X'V^-1X`` and ``X'V^-1y`` (so beta), the second for
    everything in the gradient and Hessian that involves ``X``, in the
    coordinates ``F = L^-1 (Z'X)'`` with ``C = L L'`` (so ``C^-1`` never
    multiplies a per-group array: ``Z'V^-1X C^-1 X'V^-1Z = (M F)'(M F)``).
    """
    g, q, p = st.n_groups, st.q, st.p
    n = st.n_obs
    fac = n - p if reml else n
    Zs = st.ZtZ_s
    eye = np.eye(q)[:, :, None]
    if q == 2:
        W, logdetN, M, MZ = _woodbury2(Psi, Zs)
    else:
        N = eye + np.tensordot(Psi, Zs, axes=(1, 0))
        Ninv, logdetN = _soa_inv_logdet(N)
        W = np.tensordot(Ninv, Psi, axes=(1, 0)).transpose(0, 2, 1)
        W = 0.5 * (W + W.transpose(1, 0, 2))
        M = MZ = None
    c = st.weights  # None, or per-group weights (bootstrap draw counts)
    Wc = W if c is None else W * c
    ZtX, Zty = st.ZtX_s, st.Zty_s
    # v_g = W_g Z'y_g (weighted): X'V^-1y = X'y - sum_g (Z'X)_g' v_g
    v = np.empty((q, g))
    for a in range(q):
        np.multiply(Wc[a, 0], Zty[0], out=v[a])
        for b in range(1, q):
            v[a] += Wc[a, b] * Zty[b]
    ytVy = st.yty - float(np.sum(Zty * v))
    XtVy = st.Xty.copy()
    # X'V^-1X = X'X - sum_g (Z'X)_g' W_g (Z'X)_g. For q = 2 through
    # W_g = L_g L_g': with B_a = sum_b L_g[b, a] (Z'X)_g[b] the sum is
    # B_0 B_0' + B_1 B_1', two symmetric rank updates per block.
    C = st.XtX.copy()
    chol = _soa_chol2(W) if q == 2 else None
    if chol is not None and c is not None:
        rc = np.sqrt(c)
        chol = tuple(x * rc for x in chol)
    for s in _blocks(g):
        Zb = ZtX[:, :, s]
        for a in range(q):
            XtVy -= Zb[a] @ v[a, s]
        if chol is not None:
            l00, l10, l11 = (x[s] for x in chol)
            B0 = Zb[0] * l00
            B0 += Zb[1] * l10
            B1 = Zb[1] * l11
            C -= B0 @ B0.T
            C -= B1 @ B1.T
        else:
            for a in range(q):
                for b in range(a, q):
                    P = (Zb[a] * Wc[a, b, s]) @ Zb[b].T
                    C -= P if a == b else P + P.T
    C = 0.5 * (C + C.T)
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
    if not (grad or hess):
        return _Eval(llf, None, beta, rvir, C, W)
    # M = I - Z'Z W maps Z'r to Z'V^-1 r, Z'X to Z'V^-1 X and Z'Z to Z'V^-1 Z
    if M is None:
        M = eye - _soa_mm(Zs, W)
        MZ = _soa_mm(M, Zs)
    u = np.empty((q, g))
    need_f = reml or hess  # ML without the Hessian needs nothing of X here
    if need_f:
        Lo = np.tril(cf[0])
        Linv = linalg.solve_triangular(Lo, np.eye(p), lower=True)
    Kt = np.empty((q, q, g)) if reml else None
    if hess:
        Bu = np.zeros((q, q, p))  # sum_g Bt_g[a] uc_g[b], Bt = L^-1 (Z'V^-1X)'
        Dt = {(a, b): np.zeros((p, p)) for a in range(q) for b in range(a + 1)}
    for s in _blocks(g):
        Zb = ZtX[:, :, s]
        Mb = M[:, :, s]
        eb = Zty[:, s] - np.stack([beta @ Zb[a] for a in range(q)])  # Z'r per group
        for a in range(q):
            np.multiply(Mb[a, 0], eb[0], out=u[a, s])
            for b in range(1, q):
                u[a, s] += Mb[a, b] * eb[b]
        if not need_f:
            continue
        F = [Linv @ Zb[a] for a in range(q)]
        if not hess:
            # gradient only: K = Z'X C^-1 X'Z per group (M K M' after the loop)
            for a in range(q):
                for b in range(a + 1):
                    Kt[a, b, s] = np.einsum("pm,pm->m", F[a], F[b])
                    Kt[b, a, s] = Kt[a, b, s]
            continue
        Bt = []
        for a in range(q):
            t = F[0] * Mb[a, 0]
            for b in range(1, q):
                t += F[b] * Mb[a, b]
            Bt.append(t)
        if reml:
            # Z'V^-1X C^-1 X'V^-1Z per group = Bt_a . Bt_b
            for a in range(q):
                for b in range(a + 1):
                    Kt[a, b, s] = np.einsum("pm,pm->m", Bt[a], Bt[b])
                    Kt[b, a, s] = Kt[a, b, s]
        if hess:
            ub = u[:, s] if c is None else u[:, s] * c[s]
            for a in range(q):
                for b in range(q):
                    Bu[a, b] += Bt[a] @ ub[b]
            if reml:
                for a in range(q):
                    for b in range(a + 1):
                        left = Bt[a] if c is None else Bt[a] * c[s]
                        Dt[a, b] += left @ Bt[b].T
    if reml and not hess:
        Kt = _soa_mm(_soa_mm(M, Kt), M.transpose(1, 0, 2))
    G = -0.5 * (np.sum(MZ, axis=2) if c is None else MZ @ c)
    uc = u if c is None else u * c
    G += (0.5 * fac / rvir) * (uc @ u.T)
    if reml:
        G += 0.5 * (np.sum(Kt, axis=2) if c is None else Kt @ c)
    G = 0.5 * (G + G.T)
    H = w = None
    if hess:
        H, wt = _hessian_psi(st, MZ, u, uc, Kt, Bu, Dt, rvir, fac, reml)
        # back from L^-1 coordinates: w_i = L wt_i
        w = wt @ Lo.T
    return _Eval(llf, G, beta, rvir, C, W, H, u, w)


def _hessian_psi(
    st: GroupStats,
    A: np.ndarray,
    u: np.ndarray,
    uc: np.ndarray,
    Kt: np.ndarray | None,
    Bu: np.ndarray,
    Dt: dict,
    rvir: float,
    fac: float,
    reml: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Hessian of the profiled log-likelihood in packed Psi (statsmodels order).

    With ``V_i = Z E_i Z'`` the derivative of ``V`` along packed element
    ``i`` of Psi and ``P = V^-1 - V^-1 X C^-1 X'V^-1``, the profiled
    (over beta and sigma^2) log-likelihood has::

        d2l/dpsi_i dpsi_j = 1/2 tr(P V_i P V_j)
                            - fac/2 (2 y'P V_i P V_j P y / y'Py
                                     - (y'P V_i P y)(y'P V_j P y) / (y'Py)^2)

    (ML: ``V^-1`` for ``P`` in the trace). Per group, with ``A = Z'V^-1Z``,
    ``B = Z'V^-1X``, ``Kt = B C^-1 B'`` and ``u = Z'V^-1 r``:
    ``tr(P V_i P V_j) = sum tr(E_i A E_j A) - 2 sum tr(E_i A E_j Kt)
    + tr(C^-1 D_i C^-1 D_j)`` with ``D_i = sum B' E_i B``, and
    ``y'P V_i P V_j P y = sum u'E_i A E_j u - w_i' C^-1 w_j`` with
    ``w_i = sum B' E_i u``. :func:`_profile` passes the X-dependent sums in
    the coordinates ``Bt = L^-1 B'`` (``C = L L'``), where
    ``tr(C^-1 D_i C^-1 D_j) = tr(Dt_i Dt_j)`` and ``w_i' C^-1 w_j = wt_i' wt_j``.
    Returns the Hessian and ``wt`` (k, p).
    """
    q = st.q
    c = st.weights
    r_idx, c_idx = _psi_pack(q)
    k = len(r_idx)
    # E_i = e_a e_b' + e_b e_a' (or e_a e_a'): its (row, column) pairs
    sym = [[(a, b), (b, a)] if a != b else [(a, a)] for a, b in zip(r_idx, c_idx, strict=True)]

    def gsum(x: np.ndarray, y: np.ndarray) -> float:
        return float(x @ y) if c is None else float((x * c) @ y)

    wt = np.array([sum(Bu[a, b] for a, b in sym[i]) for i in range(k)])
    pvec = np.array([sum(float(u[a] @ uc[b]) for a, b in sym[i]) for i in range(k)])
    D = []
    if reml:
        for a, b in zip(r_idx, c_idx, strict=True):
            P = Dt[a, b]
            D.append(P if a == b else P + P.T)
    H = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            # tr(E_i A E_j A) = sum A[b, c] A[d, a] over (a, b) in E_i, (c, d) in E_j
            tr = 0.0
            quad = 0.0
            for a, b in sym[i]:
                for cc, d in sym[j]:
                    tr += gsum(A[b, cc], A[d, a])
                    if reml:
                        tr -= 2.0 * gsum(A[b, cc], Kt[d, a])
                    quad += gsum(u[a] * u[d], A[b, cc])
            if reml:
                tr += float(np.sum(D[i] * D[j]))
            quad -= float(wt[i] @ wt[j])
            H[i, j] = H[j, i] = 0.5 * tr - 0.5 * fac * (
                2.0 * quad / rvir - pvec[i] * pvec[j] / rvir**2
            )
    return H, wt


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


@functools.cache
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    # Scanning the loaded libraries takes ~40 ms: once per process, not per fit.
    return ThreadpoolController()


def single_thread_blas():
    """Context manager: BLAS on one thread (every product in these fits is
    tall and thin, where BLAS threads only add hand-offs, several-fold
    slower on a busy machine; parallel work is over fits instead)."""
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


_blas_single_thread = single_thread_blas


@dataclass
class _Prepared:
    st: GroupStats
    b0: np.ndarray  # OLS coefficients subtracted from y
    y: np.ndarray  # y - X b0
    Xs: np.ndarray  # X / x_scale
    design: LMMDesign | None = None


def _prepare(y, X, Z, groups) -> _Prepared:
    y_arr = np.asarray(y, dtype=float).ravel()
    X_arr = np.asarray(X, dtype=float)
    X_arr = X_arr[:, None] if X_arr.ndim == 1 else X_arr
    if X_arr.shape[0] != y_arr.shape[0]:
        raise ValueError(f"y has {y_arr.shape[0]} rows but X has {X_arr.shape[0]}")
    if not (np.isfinite(y_arr).all() and np.isfinite(X_arr).all()):
        raise ValueError("y or X contains missing or infinite values")
    return LMMDesign(X_arr, Z, groups).prepare(y_arr)


def _start_theta(prep: _Prepared, start) -> np.ndarray:
    """Starting theta in scaled-Z units (see :func:`fit_lmm` for ``start``)."""
    st = prep.st
    q, zs = st.q, st.z_scale
    rows, cols = _tril_index(q)
    if start is None:

        def ete(beta: np.ndarray) -> np.ndarray:
            e = prep.y - (prep.Xs @ beta if prep.design is None else prep.design._dot(beta))
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
        self.last_theta: np.ndarray | None = None

    def at(self, theta: np.ndarray) -> _Eval:
        """The evaluation at ``theta`` (the last one when it was there)."""
        if self.last is not None and np.array_equal(self.last_theta, theta):
            return self.last
        L = _theta_to_lambda(theta, self.q)
        return _profile(self.st, L @ L.T, self.reml)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        self.n_fev += 1
        L = _theta_to_lambda(theta, self.q)
        ev = _profile(self.st, L @ L.T, self.reml)
        self.last, self.last_theta = ev, theta.copy()
        if not np.isfinite(ev.llf):
            return np.inf, np.zeros_like(theta)
        # dl/dL = 2 G L for symmetric G; keep the lower-triangle entries.
        dL = 2.0 * ev.grad @ L
        return -ev.llf, -dL[self.rows, self.cols]

    def full(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        """``-llf``, its gradient and its exact Hessian in theta (None where not finite)."""
        self.n_fev += 1
        L = _theta_to_lambda(theta, self.q)
        ev = _profile(self.st, L @ L.T, self.reml, hess=True)
        self.last, self.last_theta = ev, theta.copy()
        if not np.isfinite(ev.llf):
            return np.inf, np.zeros_like(theta), None
        dL = 2.0 * ev.grad @ L
        return -ev.llf, -dL[self.rows, self.cols], -_theta_hessian(L, ev.grad, ev.hess)


def _theta_hessian(L: np.ndarray, G: np.ndarray, Hpsi: np.ndarray) -> np.ndarray:
    """Hessian of llf in theta from its gradient ``G`` (symmetric, in Psi) and
    Hessian ``Hpsi`` (packed Psi): ``J' Hpsi J`` plus the gradient times the
    (constant) second derivatives of ``Psi = L L'``."""
    q = L.shape[0]
    rows, cols = _tril_index(q)
    J = _dpsi_dtheta(L)
    H = J.T @ Hpsi @ J
    m = len(rows)
    for s_ in range(m):
        for t_ in range(s_, m):
            if cols[s_] != cols[t_]:
                continue
            # d2 Psi / dtheta_s dtheta_t = e_is e_it' + e_it e_is'
            i, j = rows[s_], rows[t_]
            val = G[i, j] + G[j, i]
            H[s_, t_] += val
            if t_ != s_:
                H[t_, s_] += val
    return H


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
        ev = objective.at(theta)
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


def _optimise_hinted(
    st: GroupStats,
    theta0: np.ndarray,
    H0inv: np.ndarray | None,
    reml: bool,
    maxiter: int,
    message: str = "Newton from a previous fit on the same design",
) -> _Optimum | None:
    """Newton steps with the exact Hessian from ``theta0`` (another response's
    optimum on the same design, or a cold start), stepping with ``H0inv``
    (that optimum's inverse Hessian) where this response's Hessian is not
    positive definite, with the optimality check of a cold fit. None when
    the path fails (boundary, no descent): fit with L-BFGS-B instead."""
    dpos = _diag_positions(st.q)
    objective = _Objective(st, reml)
    if np.any(theta0[dpos] < 100 * SINGULAR_TOL):
        return None
    theta, newton_iter, kkt_ok, H = _newton_polish(
        objective, theta0, dpos, max_steps=30, fallback_inv=H0inv
    )
    if not kkt_ok or H is None or np.any(theta[dpos] < SINGULAR_TOL):
        return None
    return _Optimum(
        theta=theta,
        ev=objective.at(theta),
        converged=True,
        n_iter=newton_iter,
        n_fev=objective.n_fev,
        message=message,
        hess_theta=H,
    )


def _fit_prepared(
    prep: _Prepared,
    *,
    reml: bool,
    start,
    maxiter: int,
    warm: bool = False,
    set_hint: bool = True,
) -> LMMResult:
    st = prep.st
    q, p, n, g = st.q, st.p, st.n_obs, st.n_groups
    notes: list[str] = []
    if g < 5:
        notes.append(f"only {g} groups: random-effects variances are poorly determined")
    design = prep.design
    opt = None
    if warm and start is None and design is not None and design.hint is not None:
        opt = _optimise_hinted(st, design.hint[0], design.hint[1], reml, maxiter)
    if opt is None:
        theta0 = _start_theta(prep, start)
        # the default start compares a few candidates (likelihood evaluations)
        n_start = 4 if start is None else 0
        # Newton with the exact Hessian from the start usually converges in a
        # handful of steps; near the boundary or where the curvature is not
        # positive it gives up, and L-BFGS-B (with its restarts) takes over.
        opt = _optimise_hinted(st, theta0, None, reml, maxiter, "Newton from the start")
        if opt is None:
            opt = _optimise(st, theta0, reml, maxiter)
        opt.n_fev += n_start
    if (
        set_hint
        and design is not None
        and design.hint is None
        and opt.converged
        and opt.hess_theta is not None
    ):
        try:
            design.hint = (opt.theta.copy(), np.linalg.inv(opt.hess_theta))
        except np.linalg.LinAlgError:
            pass
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
    # BLUPs, cross derivatives and Hessian from the last Newton evaluation
    # at the optimum; one more evaluation when the optimiser ended elsewhere
    ev_h = ev if ev.w is not None and ev.hess is not None else _profile(st, Psi_s, reml, hess=True)
    u = ev_h.u
    if opt.hess_theta is not None and not singular:
        # at an interior optimum the Hessian changes coordinates as J^-T H J^-1
        J = _dpsi_dtheta(L_s)
        Jinv = np.linalg.inv(J)
        hess_psi = -(Jinv.T @ opt.hess_theta @ Jinv)
    else:
        hess_psi = ev_h.hess
    cov_fe_s, hess_note = _statsmodels_cov_fe(
        st, ev_h.w, ev.rvir, reml, cov_fe_gls_s, hess_psi=hess_psi
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
        random_effects=(u.T @ Psi_s) * Dz,
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
    y_arr = np.asarray(y, dtype=float).ravel()
    X_arr = np.asarray(X, dtype=float)
    if X_arr.shape[0] != y_arr.shape[0]:
        raise ValueError(f"y has {y_arr.shape[0]} rows but X has {X_arr.shape[0]}")
    return LMMDesign(X_arr, Z, groups).bootstrap(
        y_arr, n_boot=n_boot, rng=seed, reml=reml, maxiter=maxiter, progress=progress
    )


def _bootstrap(
    design: LMMDesign,
    y: np.ndarray,
    *,
    n_boot: int,
    rng: np.random.Generator | int,
    reml: bool,
    maxiter: int,
    full: LMMResult | None,
    progress: bool | None,
    workers: int | None = None,
) -> LMMBootstrap:
    from vc_eval.core.progress import tqdm

    seed = rng if isinstance(rng, int | np.integer) else -1
    rng = np.random.default_rng(rng)
    prep = design.prepare(y)
    if full is None:
        full = _fit_prepared(prep, reml=reml, start=None, maxiter=maxiter)
    st = prep.st
    g, q, p = st.n_groups, st.q, st.p
    rows, cols = _tril_index(q)
    dpos = _diag_positions(q)
    theta_full = (st.z_scale[:, None] * _theta_to_lambda(full.theta, q))[rows, cols]
    # an interior start: a replicate's optimum may lie off the boundary
    theta_full[dpos] = np.maximum(theta_full[dpos], 1e-2)
    objective = _Objective(st, reml)
    H = objective.full(theta_full)[2]
    H0inv = np.linalg.inv(H) if H is not None and np.linalg.eigvalsh(H).min() > 0 else None
    fe = np.empty((n_boot, p))
    cov_re = np.empty((n_boot, q, q))
    scale = np.empty(n_boot)
    conv = np.zeros(n_boot, bool)
    sing = np.zeros(n_boot, bool)
    Dz = 1.0 / st.z_scale

    def refit(b: int, idx: np.ndarray) -> None:
        sb = st.resample(idx, prep.y, prep.Xs, design.rows)
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

    bar = tqdm(total=n_boot, disable=None if progress is None else not progress, leave=False)
    n_workers = default_workers(g) if workers is None else max(1, int(workers))
    # Every refit starts from the full fit (never from another refit), and
    # resample b is always the b-th draw from ``rng``: the same numbers
    # whatever the number of workers.
    if n_workers == 1 or n_boot < 2:
        for b in range(n_boot):
            refit(b, rng.integers(0, g, size=g))
            bar.update()
    else:
        lock = threading.Lock()
        todo = iter(range(n_boot))

        def work() -> None:
            while True:
                with lock:
                    b = next(todo, None)
                    if b is None:
                        return
                    idx = rng.integers(0, g, size=g)
                refit(b, idx)
                with lock:
                    bar.update()

        # threads, not processes: the design's arrays are shared, and the
        # work is BLAS and whole-array numpy calls, which release the GIL
        with ThreadPoolExecutor(n_workers) as pool:
            for f in [pool.submit(work) for _ in range(min(n_workers, n_boot))]:
                f.result()
    bar.close()
    return LMMBootstrap(full, fe, cov_re, scale, conv, sing, int(seed))


def _fd_hessian(grad_fn, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of an exact gradient, symmetrised."""
    k = x.size
    H = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = steps[j]
        H[:, j] = (grad_fn(x + e) - grad_fn(x - e)) / (2 * steps[j])
    return 0.5 * (H + H.T)


def _newton_polish(
    objective,
    theta: np.ndarray,
    dpos: np.ndarray,
    max_steps: int = 8,
    fallback_inv: np.ndarray | None = None,
):
    """Newton steps, with the exact Hessian, on the coordinates not held at the zero bound.

    L-BFGS-B stops on relative criteria that, on a log-likelihood of size ~1e6,
    leave variance components accurate to only a few digits; two or three
    Newton steps with the exact gradient and Hessian make them agree with
    statsmodels to many. From a nearby optimum (another response on the same
    design) Newton alone converges; where the Hessian is not positive
    definite there, ``fallback_inv`` (that optimum's inverse Hessian) gives
    the step. Returns (theta, steps taken, KKT conditions satisfied, Hessian
    of the objective at theta or None): the Hessian is returned when every
    coordinate is free, for reuse in the standard errors.
    """
    theta = theta.copy()
    f, gvec, H_full = objective.full(theta)
    if not np.isfinite(f) or H_full is None:
        return theta, 0, False, None
    steps_taken = 0

    def free_set():
        at_bound = np.zeros(theta.size, bool)
        at_bound[dpos] = theta[dpos] <= 1e-8
        # a coordinate at the bound stays there if the gradient pushes outward
        return ~(at_bound & (gvec >= 0))

    def hessian_out():
        if np.any(theta[dpos] <= 1e-8):
            return None
        return H_full

    for _ in range(max_steps):
        free = free_set()
        if not free.any():
            return theta, steps_taken, True, None
        H = H_full[np.ix_(free, free)]
        gf = gvec[free]
        try:
            w = np.linalg.eigvalsh(H)
            if w.min() > 0:
                step = np.linalg.solve(H, gf)
            elif fallback_inv is not None and free.all():
                step = fallback_inv @ gf
            else:
                break
        except np.linalg.LinAlgError:
            break
        decrement = float(gf @ step)
        if w.min() > 0 and decrement < 1e-10:
            return theta, steps_taken, True, hessian_out()
        if decrement <= 0:
            break
        t = 1.0
        improved = False
        for _ls in range(30):
            cand = theta.copy()
            cand[free] -= t * step
            cand[dpos] = np.maximum(cand[dpos], 0.0)
            fc, gc, Hc = objective.full(cand)
            if np.isfinite(fc) and Hc is not None and fc <= f + 1e-12 * abs(f):
                improved = True
                break
            t *= 0.5
        if not improved:
            break
        theta, f, gvec, H_full = cand, fc, gc, Hc
        steps_taken += 1
    # final check: the Newton decrement (projected gradient against curvature)
    free = free_set()
    if not free.any():
        return theta, steps_taken, True, None
    H = H_full[np.ix_(free, free)]
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
    w: np.ndarray,
    rvir: float,
    reml: bool,
    cov_fe_gls_s: np.ndarray,
    hess_psi: np.ndarray,
) -> tuple[np.ndarray, str | None]:
    """Fixed-effects block of the inverse observed information, as statsmodels.

    statsmodels inverts the Hessian of the scale-profiled log-likelihood over
    (beta, packed Psi). Its fixed-effects block is
    ``A_ff^-1 + A_ff^-1 A_fr S^-1 A_rf A_ff^-1`` with ``A_ff = X'V^-1X / scale``,
    ``A_fr`` the cross derivatives, and ``S`` minus the Hessian
    ``hess_psi`` of the beta-profiled log-likelihood in Psi. ``w`` (k, p)
    holds ``sum_g (Z'V^-1X)_g' E_j u_g`` per packed element j of Psi (from
    :func:`_profile` with the Hessian).
    """
    p, n = st.p, st.n_obs
    fac = n - p if reml else n
    # cross derivatives: (fac/rvir) sum_g X'V^-1 Z dPsi_j Z'V^-1 r
    A_fr = (fac / rvir) * np.asarray(w).T
    Hprof = hess_psi
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
