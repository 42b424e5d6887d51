"""Design matrices for growth models: the time basis, covariates and group interactions.

A fitted growth model keeps its :class:`Design`, so the same columns (same
knots, same centring, same spline constraints) can be evaluated on a new age
grid for the fitted mean curve, its derivative and its peaks, and rebuilt on
resampled data for the bootstrap.

Time enters the fixed effects as ``t* = (t - centre) / scale``. Linear and
hinge columns are linear in ``t*``; the natural cubic spline (patsy ``cr``
with a centring constraint) is built on ``t`` itself, since its column space
does not change under an affine change of time. Scaling keeps the random
slope variance of order one in the optimiser's units, which is what stops
small slope variances tripping statsmodels' boundary checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

BASES: tuple[str, ...] = ("linear", "hinge", "spline")
#: Spline columns (excluding the intercept) when neither ``df`` nor ``knots`` is given.
DEFAULT_SPLINE_DF = 8
#: Quantiles of time used for hinge knots when none are given.
DEFAULT_HINGE_QUANTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class TimeBasis:
    """Columns of the fixed-effects design that depend on time only.

    Attributes
    ----------
    kind : {"linear", "hinge", "spline"}
    name : str
        Name of the time column (used to name design columns).
    centre, scale : float
        ``t* = (t - centre) / scale`` for the linear and hinge columns and
        the random slope.
    knots : tuple of float
        Hinge knots, or all spline knots including the two boundary knots,
        in the original time units.
    """

    kind: str
    name: str
    centre: float
    scale: float
    knots: tuple[float, ...] = ()
    _spline_info: object | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        t: np.ndarray,
        *,
        kind: str = "linear",
        name: str = "time",
        knots: Sequence[float] | None = None,
        df: int | None = None,
        centre: float | None = None,
        scale: float | None = None,
    ) -> TimeBasis:
        """Choose knots, centre and scale from the observed times ``t``.

        Parameters
        ----------
        t : array
            Observed times (no missing values).
        kind : {"linear", "hinge", "spline"}
        knots : sequence of float, optional
            Hinge knots; or interior spline knots (boundary knots are the
            observed minimum and maximum). Default: hinge knots at the
            quartiles of ``t``, spline knots evenly spaced over its range.
        df : int, optional
            Spline columns besides the intercept (default
            :data:`DEFAULT_SPLINE_DF`); ignored when ``knots`` is given.
        centre, scale : float, optional
            Default: the mean and standard deviation of ``t``.
        """
        if kind not in BASES:
            raise ValueError(f"basis must be one of {', '.join(BASES)}; got {kind!r}")
        t = np.asarray(t, dtype=float)
        centre = float(np.mean(t)) if centre is None else float(centre)
        if scale is None:
            scale = float(np.std(t))
            scale = scale if scale > 0 else 1.0
        if not scale > 0:
            raise ValueError(f"time scale must be positive; got {scale}")
        lo, hi = float(np.min(t)), float(np.max(t))
        if kind == "linear":
            if knots:
                raise ValueError("knots only apply to the hinge and spline bases")
            return cls(kind, name, centre, float(scale))
        if kind == "hinge":
            if knots is None:
                knots = np.unique(np.round(np.quantile(t, DEFAULT_HINGE_QUANTILES), 2))
            knots = tuple(sorted(float(k) for k in knots))
            bad = [k for k in knots if not lo < k < hi]
            if bad:
                raise ValueError(
                    f"hinge knots must lie inside the observed times ({lo:g} to {hi:g}); "
                    f"got {', '.join(f'{k:g}' for k in bad)}"
                )
            return cls(kind, name, centre, float(scale), knots)
        # Natural cubic spline: all knots explicit so the basis is reproducible.
        if knots is None:
            df = DEFAULT_SPLINE_DF if df is None else int(df)
            if df < 2:
                raise ValueError(f"a spline needs df >= 2; got {df}")
            # Evenly spaced, not at quantiles: a peak is as likely at an age
            # with few assessments as at one with many.
            inner = np.linspace(lo, hi, df + 1)[1:-1]
        else:
            inner = np.asarray(sorted(float(k) for k in knots))
            bad = [k for k in inner if not lo < k < hi]
            if bad:
                raise ValueError(
                    f"spline knots must lie inside the observed times ({lo:g} to {hi:g}); "
                    f"got {', '.join(f'{k:g}' for k in bad)}"
                )
        all_knots = np.unique(np.concatenate([[lo], inner, [hi]]))
        if all_knots.size < 3:
            raise ValueError("too few distinct times for a spline; use basis='linear'")
        info = _spline_design_info(t, all_knots)
        return cls(kind, name, centre, float(scale), tuple(float(k) for k in all_knots), info)

    # -- columns ------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Design column names, the intercept first."""
        if self.kind == "linear":
            return ["Intercept", self.name]
        if self.kind == "hinge":
            return ["Intercept", self.name] + [f"{self.name}_after_{k:g}" for k in self.knots]
        return ["Intercept"] + [f"{self.name}_ns{j + 1}" for j in range(len(self.knots) - 1)]

    @property
    def units(self) -> np.ndarray:
        """Multiplier turning each coefficient into original time units.

        Linear and hinge coefficients are per unit of ``t*``; multiplied by
        ``1 / scale`` they are per unit of time. Spline coefficients have no
        time unit.
        """
        u = np.ones(len(self.names))
        if self.kind in ("linear", "hinge"):
            u[1:] = 1.0 / self.scale
        return u

    def scaled(self, t: np.ndarray) -> np.ndarray:
        """``(t - centre) / scale``."""
        return (np.asarray(t, dtype=float) - self.centre) / self.scale

    def matrix(self, t: np.ndarray) -> np.ndarray:
        """Design columns at times ``t`` (n x k), intercept first."""
        t = np.asarray(t, dtype=float)
        one = np.ones((t.size, 1))
        if self.kind == "linear":
            return np.column_stack([one, self.scaled(t)])
        if self.kind == "hinge":
            hinges = [np.maximum(t - k, 0.0) / self.scale for k in self.knots]
            return np.column_stack([one, self.scaled(t), *hinges])
        # The basis is a function of t alone and ages repeat (days of age):
        # evaluate it once per distinct time, then index.
        uniq, inv = np.unique(t, return_inverse=True)
        spline = np.asarray(patsy.build_design_matrices([self._spline_info], {"t": uniq})[0])
        return np.column_stack([one, spline[inv.ravel()]])

    def describe(self) -> str:
        """One line for summaries."""
        if self.kind == "linear":
            return "linear"
        if self.kind == "hinge":
            return "hinge (knots " + ", ".join(f"{k:g}" for k in self.knots) + ")"
        return (
            f"natural cubic spline, {len(self.knots) - 1} df (knots "
            + ", ".join(f"{k:.2f}" for k in self.knots)
            + ")"
        )


def _spline_design_info(t: np.ndarray, all_knots: np.ndarray):
    # Knots are written into the formula (repr round-trips floats exactly) so
    # the stored design needs no outside variables to be evaluated again.
    inner = "[" + ", ".join(repr(float(k)) for k in all_knots[1:-1]) + "]"
    lo, hi = repr(float(all_knots[0])), repr(float(all_knots[-1]))
    term = f"cr(t, knots={inner}, lower_bound={lo}, upper_bound={hi}"
    # The centring constraint (columns sum to zero over the data) keeps the
    # basis identifiable beside the explicit intercept. It is patsy's
    # constraints='center' (the mean of the unconstrained columns over the
    # data), computed once per distinct time weighted by its count (ages
    # repeat: days of age) and written into the formula, so the stored
    # design needs no data to be evaluated again.
    uniq, counts = np.unique(np.asarray(t, dtype=float), return_counts=True)
    free = np.asarray(patsy.dmatrix(f"0 + {term})", {"t": uniq}))
    centre = (counts @ free) / counts.sum()
    constraint = "[[" + ", ".join(repr(float(v)) for v in centre) + "]]"
    formula = f"0 + {term}, constraints={constraint})"
    return patsy.incr_dbuilder(formula, lambda: iter([{"t": uniq}]))


@dataclass(frozen=True)
class Covariate:
    """One covariate column: numeric (kept as is) or categorical (treatment dummies).

    The reference level of a categorical covariate is its first sorted level.
    """

    name: str
    levels: tuple[str, ...] | None  # None: numeric
    mean: np.ndarray  # sample mean of the design columns (shares for dummies)

    @classmethod
    def build(cls, values: pd.Series, name: str) -> Covariate:
        if _is_categorical(values):
            levels = tuple(sorted(values.astype(str).unique()))
            cov = cls(name, levels, np.zeros(max(len(levels) - 1, 0)))
            return cls(name, levels, cov.columns(values).mean(axis=0))
        v = values.to_numpy(dtype=float)
        return cls(name, None, np.array([v.mean()]))

    @property
    def names(self) -> list[str]:
        if self.levels is None:
            return [self.name]
        return [f"{self.name}[{lev}]" for lev in self.levels[1:]]

    def columns(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Design columns for observed values (n x k)."""
        if self.levels is None:
            return np.asarray(values, dtype=float).reshape(-1, 1)
        v = np.asarray(pd.Series(values).astype(str))
        unknown = set(np.unique(v)) - set(self.levels)
        if unknown:
            raise ValueError(
                f"{self.name}: level(s) not seen when fitting: {', '.join(sorted(unknown))}"
            )
        if len(self.levels) == 1:
            return np.zeros((v.size, 0))
        return np.column_stack([v == lev for lev in self.levels[1:]]).astype(float)

    def at(self, value=None) -> np.ndarray:
        """Design values for one setting: a level/number, or ``None`` for the sample mean."""
        if value is None:
            return self.mean
        if self.levels is None:
            return np.array([float(value)])
        return self.columns(np.array([value]))[0]


def _is_categorical(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


@dataclass(frozen=True)
class Design:
    """The full fixed-effects design: time basis, covariates, and a group interaction.

    Columns are ``B(t)`` (intercept first), then each covariate's columns,
    then for each non-reference level ``g`` of ``by`` the columns
    ``1[by == g] * B(t)`` (a group main effect and a group-specific curve).
    """

    basis: TimeBasis
    covariates: tuple[Covariate, ...] = ()
    by: Covariate | None = None

    @property
    def names(self) -> list[str]:
        out = list(self.basis.names)
        for c in self.covariates:
            out += c.names
        if self.by is not None:
            for lev_name in self.by.names:
                out += [
                    lev_name if b == "Intercept" else f"{lev_name}:{b}" for b in self.basis.names
                ]
        return out

    @property
    def units(self) -> np.ndarray:
        parts = [self.basis.units]
        parts += [np.ones(len(c.names)) for c in self.covariates]
        if self.by is not None:
            parts += [self.basis.units] * len(self.by.names)
        return np.concatenate(parts)

    @property
    def time_columns(self) -> np.ndarray:
        """Indices of columns that are linear in ``t*`` (their REML llf term depends on scale)."""
        per_col = self.units != 1.0
        return np.flatnonzero(per_col)

    def matrix(self, frame: pd.DataFrame, time: str) -> np.ndarray:
        """Design matrix for rows of ``frame`` (must hold the time and covariate columns)."""
        b = self.basis.matrix(frame[time].to_numpy(dtype=float))
        parts = [b]
        parts += [c.columns(frame[c.name]) for c in self.covariates]
        if self.by is not None:
            d = self.by.columns(frame[self.by.name])
            parts += [d[:, [j]] * b for j in range(d.shape[1])]
        return np.column_stack(parts)

    def grid(self, t: np.ndarray, at: Mapping[str, object] | None = None) -> np.ndarray:
        """Design rows at times ``t`` with covariates fixed.

        ``at`` maps covariate (or ``by``) names to a level or number; those
        not named are held at their sample mean (shares of each level), so
        the curve describes the population mix in the data.
        """
        at = dict(at or {})
        known = {c.name for c in self.covariates} | ({self.by.name} if self.by else set())
        unknown = set(at) - known
        if unknown:
            raise KeyError(f"not a covariate of this model: {', '.join(sorted(unknown))}")
        b = self.basis.matrix(t)
        parts = [b]
        for c in self.covariates:
            parts.append(np.broadcast_to(c.at(at.get(c.name)), (b.shape[0], len(c.names))))
        if self.by is not None:
            d = self.by.at(at.get(self.by.name))
            parts += [d[j] * b for j in range(d.size)]
        return np.column_stack(parts)
