"""Linear mixed growth models on any long table: :func:`fit_growth` and :class:`GrowthFit`.

The model for outcome ``y`` of group (child) ``i`` at time (age) ``t``::

    y = f(t) + covariates + b0_i + b1_i * t* + e,    t* = (t - centre) / scale

with ``f`` linear, piecewise linear (hinges) or a natural cubic spline,
``(b0_i, b1_i)`` normal with an unstructured covariance (or ``b0_i`` only),
and ``e`` normal. Fitted by REML (default) or ML with statsmodels MixedLM, or
the fast engine (:mod:`vc_eval.analysis.lmm_fast`) on exactly the same arrays.

Everything is reported on the original time scale: slopes per unit of time,
the random intercept at ``t = centre``, the random slope per unit of time.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from vc_eval.analysis.trajectories.basis import Covariate, Design, TimeBasis
from vc_eval.analysis.trajectories.engines import (
    DEFAULT_METHODS,
    ENGINES,
    fit_arrays,
)
from vc_eval.analysis.trajectories.engines import fit_design as _fit_fast_design
from vc_eval.analysis.trajectories.engines import fit_designs as _fit_fast_designs
from vc_eval.analysis.trajectories.peaks import (
    DEFAULT_RULE,
    MIN_PEAK_SHARE,
    PeakRule,
    summarise_peaks,
    summarise_steepest,
)
from vc_eval.core import display
from vc_eval.core.progress import tqdm
from vc_eval.core.summary import Count, Result, Summary, Table

RANDOM: tuple[str, ...] = ("intercept", "slope")
#: Fewest groups a growth model is fitted to.
MIN_GROUPS = 10
#: Observed means by age are shown only for bins with at least this many groups.
MIN_GROUPS_PER_BIN = 6
#: Default grid step (time units) for curves and peaks: about a week of age.
GRID_STEP = 0.02
#: Peaks and steepest change are looked for between these quantiles of the
#: observed times: at the very ends a spline follows a handful of points.
PEAK_RANGE = (0.01, 0.99)


class GrowthFitWarning(UserWarning):
    """A growth model was fitted, but with warnings worth reading (see ``.warnings``)."""


def peak_text(peaks: pd.DataFrame, *, min_share: float = MIN_PEAK_SHARE) -> tuple[str, list]:
    """Peak ages as words ("about age 7.1 (95% interval 6.5 to 7.8)") and the ages kept.

    Only peaks present in at least ``min_share`` of plausible curves are
    named; with none, the text says there is no clear peak.
    """
    p = peaks[peaks["share_with_peak"] >= min_share]
    if p.empty:
        return "shows no clear peak with age", []
    ages = [
        f"{r.age:.1f} (95% interval {display.interval(r.lower, r.upper, decimals=1)})"
        for r in p.itertuples()
    ]
    return f"peaks at about age {display.and_list(ages)}", list(p.itertuples())


@dataclass
class PeakSummary(Result):
    """Peak ages and ages of steepest change of a fitted curve, with intervals.

    Attributes
    ----------
    peaks : DataFrame
        One row per peak of the fitted curve that the peak rule reports (see
        :func:`vc_eval.analysis.trajectories.peaks.summarise_peaks`).
    steepest : DataFrame
        Ages of steepest rise and fall with intervals.
    peak_counts : Series
        Share of plausible curves with 0, 1, 2, ... peaks.
    method : {"draws", "bootstrap"}
    n : int
        Plausible curves used (bootstrap: successful refits).
    level : float
    notes : list of str
        E.g. bootstrap refits that failed or did not converge.
    """

    peaks: pd.DataFrame
    steepest: pd.DataFrame
    peak_counts: pd.Series
    method: str
    n: int
    level: float
    notes: list[str] = field(default_factory=list)
    #: Every interior peak of the fitted curve, with ``reported`` saying which
    #: passed the rule (analysts' view; reports use ``peaks``).
    candidates: pd.DataFrame | None = None
    rule: PeakRule = DEFAULT_RULE
    label: str = ""

    _plot = "trajectories:plot_peak_summary"

    @property
    def caveats(self) -> list[str]:
        return list(self.notes)

    def to_frame(self) -> pd.DataFrame:
        """Peaks table with the method and number of curves added."""
        out = self.peaks.copy()
        out["method"] = self.method
        out["n_curves"] = self.n
        return out

    def summary(self, *, min_share: float | None = None) -> Summary:
        """Where the curve peaks (word "peaks" or "no clear peak"), from the plausible curves."""
        what = self.label or "The curve"
        min_share = self.rule.min_share if min_share is None else min_share
        text, kept = peak_text(self.peaks, min_share=min_share)
        sm = Summary(f"Peak ages: {what}" if self.label else "Peak ages", key="peaks")
        sm.say(
            "ages",
            f"{what} {text}. {self.rule.describe()} ({self.n:,} plausible curves, {self.method}.)",
            word="peaks" if kept else "no clear peak",
        )
        sm.caveats = self.caveats
        sm.headline["peak_ages"] = [round(float(r.age), 1) for r in kept]
        return sm


@dataclass
class GrowthFit(Result):
    """A fitted growth model.

    Attributes
    ----------
    label : str
        What was fitted (e.g. a domain name), used in messages.
    outcome, time, group : str
        Column names in the data.
    design : Design
        Fixed-effects design (time basis, covariates, group interaction).
    random : {"intercept", "slope"}
    reml : bool
    engine : str
    fe_params, cov_fe : ndarray
        Fixed effects and their covariance on the design's own columns
        (time scaled); use :attr:`fixed_effects` for a readable table.
    cov_re_design : ndarray
        Random-effects covariance in the design's units (slope per ``t*``).
    scale : float
        Residual variance.
    llf : float
        Log-likelihood, REML or ML, equal to that of the same model fitted
        on unscaled time (so it matches a direct statsmodels call).
    converged : bool
    method : str
        Optimiser whose fit was accepted.
    n_iter : int
    attempts : list of dict
        Every optimiser tried and how it went.
    warnings : list of str
        Every warning from fitting, never swallowed.
    n_groups, n_obs, n_dropped : int
        Groups and rows used, and rows dropped for missing values.
    data : DataFrame
        The rows used (outcome, time, group and covariate columns).
    """

    label: str
    outcome: str
    time: str
    group: str
    design: Design
    random: str
    reml: bool
    engine: str
    fe_params: np.ndarray
    cov_fe: np.ndarray
    cov_re_design: np.ndarray
    scale: float
    llf: float
    converged: bool
    method: str
    n_iter: int
    attempts: list[dict]
    warnings: list[str]
    n_groups: int
    n_obs: int
    n_dropped: int
    data: pd.DataFrame = field(repr=False)
    # views of ``data`` asked for more than once (a report's figure and its counts)
    _views: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    methods: tuple[str, ...] = DEFAULT_METHODS
    #: Fast engine: the engine's design statistics and fit, reused by the
    #: bootstrap (rebuilt from ``data`` when absent).
    _engine_state: tuple | None = field(default=None, repr=False, compare=False)

    _plot = "trajectories:plot_curve"

    @property
    def caveats(self) -> list[str]:
        """The fitting warnings, never swallowed."""
        return list(self.warnings)

    def to_frame(self) -> pd.DataFrame:
        """The fixed effects (estimate, SE, interval) on the original time scale."""
        return self.fixed_effects

    # -- parameters ---------------------------------------------------------
    @property
    def basis(self) -> TimeBasis:
        return self.design.basis

    @property
    def names(self) -> list[str]:
        return self.design.names

    @property
    def fixed_effects(self) -> pd.DataFrame:
        """Fixed effects on the original time scale.

        Columns: ``term``, ``estimate``, ``se``, ``z``, ``p``, ``lower``,
        ``upper`` (95% Wald interval). Time terms are per unit of time; the
        intercept is the value where every other column is zero (for the
        linear basis: at ``t = centre``).
        """
        u = self.design.units
        est = self.fe_params * u
        se = np.sqrt(np.clip(np.diag(self.cov_fe), 0, None)) * u
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        zc = stats.norm.ppf(0.975)
        return pd.DataFrame(
            {
                "term": self.names,
                "estimate": est,
                "se": se,
                "z": z,
                "p": 2 * stats.norm.sf(np.abs(z)),
                "lower": est - zc * se,
                "upper": est + zc * se,
            }
        )

    @property
    def cov_re(self) -> np.ndarray:
        """Random-effects covariance on the original time scale (slope per unit time)."""
        d = np.ones(self.cov_re_design.shape[0])
        if d.size > 1:
            d[1] = 1.0 / self.basis.scale
        return self.cov_re_design * np.outer(d, d)

    @property
    def variance_components(self) -> pd.Series:
        """SD of the random intercept (at ``t = centre``) and slope (per unit
        time), their correlation, the residual SD, and the ICC at the centre."""
        c = self.cov_re
        sd0 = float(np.sqrt(max(c[0, 0], 0.0)))
        out = {"sd_intercept": sd0, "sd_slope": np.nan, "corr": np.nan}
        if c.shape[0] > 1:
            sd1 = float(np.sqrt(max(c[1, 1], 0.0)))
            out["sd_slope"] = sd1
            out["corr"] = float(c[0, 1] / (sd0 * sd1)) if sd0 > 0 and sd1 > 0 else np.nan
        out["sd_residual"] = float(np.sqrt(self.scale))
        out["icc"] = self.icc
        return pd.Series(out, name="value")

    @property
    def icc(self) -> float:
        """Intraclass correlation at ``t = centre``: intercept variance over total."""
        v0 = max(self.cov_re[0, 0], 0.0)
        return float(v0 / (v0 + self.scale))

    @property
    def singular(self) -> bool:
        """True when the random-effects covariance is on (or next to) the boundary.

        As lme4's ``isSingular``: a diagonal element of the Cholesky factor of
        ``cov_re / scale`` (in the design's units) below 1e-4; and also a
        correlation beyond +-0.99, which statsmodels' unconstrained optimiser
        approaches without reaching.
        """
        rel = self.cov_re_design / self.scale
        try:
            lam = np.linalg.cholesky(rel)
        except np.linalg.LinAlgError:
            return True
        corr = self.variance_components["corr"]
        return bool(np.min(np.abs(np.diag(lam))) < 1e-4 or (np.isfinite(corr) and abs(corr) > 0.99))

    # -- curves -------------------------------------------------------------
    def age_grid(
        self, step: float = GRID_STEP, quantiles: tuple[float, float] = (0.0, 1.0)
    ) -> np.ndarray:
        """An even grid between two quantiles of the observed times (default: the range)."""
        t = self.data[self.time].to_numpy(dtype=float)
        lo, hi = (float(v) for v in np.quantile(t, quantiles))
        n = max(int(round((hi - lo) / step)) + 1, 3)
        return np.linspace(lo, hi, n)

    def curve(
        self,
        ages: Sequence[float] | np.ndarray | None = None,
        *,
        at: Mapping[str, object] | None = None,
        level: float = 0.95,
    ) -> pd.DataFrame:
        """Fitted mean curve with a pointwise confidence band (delta method).

        Parameters
        ----------
        ages : array, optional
            Times to evaluate at (default: :meth:`age_grid`).
        at : mapping, optional
            Covariate (or ``by``) values; others are held at their sample
            mean, so the default curve describes the population in the data.
        level : float
            Band coverage.

        Returns
        -------
        DataFrame
            ``age``, ``estimate``, ``se``, ``lower``, ``upper``.
        """
        ages = self.age_grid() if ages is None else np.asarray(ages, dtype=float)
        G = self.design.grid(ages, at)
        est = G @ self.fe_params
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", G, self.cov_fe, G), 0, None))
        zc = stats.norm.ppf(0.5 + level / 2)
        return pd.DataFrame(
            {"age": ages, "estimate": est, "se": se, "lower": est - zc * se, "upper": est + zc * se}
        )

    def peaks(
        self,
        method: str = "draws",
        *,
        n: int | None = None,
        seed: int = 0,
        level: float = 0.95,
        at: Mapping[str, object] | None = None,
        ages: np.ndarray | None = None,
        min_prominence: float | None = None,
        rule: PeakRule = DEFAULT_RULE,
        progress: bool | None = None,
    ) -> PeakSummary:
        """Peak ages (interior local maxima of the fitted curve) with intervals.

        Also the ages of steepest rise and fall. Peaks are looked for inside
        the grid only, so a maximum at its ends is not a peak.

        Parameters
        ----------
        method : {"draws", "bootstrap"}
            ``"draws"``: curves from draws of the fixed effects from
            ``N(beta, cov_fe)`` (fast). ``"bootstrap"``: refits on samples of
            groups drawn with replacement (fast engine: each refit reweights
            the fitted design's per-group statistics; statsmodels: one full
            fit per sample, slow).
        n : int, optional
            Number of draws (default 2000) or bootstrap samples (default 200).
        seed : int
            Random seed; the same seed gives the same intervals.
        level : float
            Interval coverage.
        at : mapping, optional
            Covariate values (see :meth:`curve`).
        ages : array, optional
            Grid (default: from the 1st to the 99th percentile of observed
            times, :data:`PEAK_RANGE`, in steps of :data:`GRID_STEP`).
        min_prominence : float, optional
            Count only peaks at least this prominent (outcome units), in the
            fitted curve and in every plausible curve, with no share
            condition (``0.0``: every interior maximum). Overrides ``rule``.
        rule : PeakRule
            Which peaks are reported (default
            :data:`~vc_eval.analysis.trajectories.peaks.DEFAULT_RULE`:
            prominence at least 0.1 SD of the outcome, in at least 90% of the
            plausible curves).
        progress : bool, optional
            Progress bar for the bootstrap (default: only on a terminal).
        """
        ages = self.age_grid(quantiles=PEAK_RANGE) if ages is None else np.asarray(ages, float)
        G = self.design.grid(ages, at)
        rng = np.random.default_rng(seed)
        notes: list[str] = []
        if method == "draws":
            n = 2000 if n is None else int(n)
            betas = rng.multivariate_normal(self.fe_params, self.cov_fe, size=n, method="eigh")
        elif method == "bootstrap":
            n = 200 if n is None else int(n)
            betas, notes = self.bootstrap_params(n, rng=rng, progress=progress)
        else:
            raise ValueError(f"method must be 'draws' or 'bootstrap'; got {method!r}")
        curve = G @ self.fe_params
        curves = betas @ G.T
        sd = float(np.nanstd(self.data[self.outcome].to_numpy(dtype=float)))
        cands, counts = summarise_peaks(
            ages,
            curve,
            curves,
            level=level,
            min_prominence=min_prominence,
            rule=rule,
            scale=sd,
            reported_only=False,
        )
        table = cands[cands["reported"]].reset_index(drop=True)
        table["peak"] = np.arange(1, len(table) + 1)
        table.attrs = dict(cands.attrs)
        return PeakSummary(
            peaks=table,
            candidates=cands,
            rule=rule,
            steepest=summarise_steepest(ages, curve, curves, level=level),
            peak_counts=counts,
            method=method,
            n=int(curves.shape[0]),
            level=level,
            notes=notes,
            label=self.label,
        )

    def bootstrap_params(
        self, n: int, *, rng: np.random.Generator | int = 0, progress: bool | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """Fixed effects refitted on ``n`` samples of groups drawn with replacement.

        The design (knots, centring, spline constraints) is the original
        fit's, so every refit estimates the same curve family. Returns the
        (successful refits x p) array and notes on refits that failed or
        did not converge.
        """
        rng = np.random.default_rng(rng)
        y = self.data[self.outcome].to_numpy(dtype=float)
        if self.engine == "fast":
            return self._bootstrap_fast(n, y, rng, progress)
        X = self.design.matrix(self.data, self.time)
        Z = _random_design(self.basis, self.data[self.time].to_numpy(dtype=float), self.random)
        codes = pd.factorize(self.data[self.group], sort=True)[0]
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(self.n_groups + 1))
        out, failed, unconverged, warned = [], 0, 0, []
        for _ in tqdm(
            range(n), desc=f"bootstrap {self.label}", disable=_disable(progress), leave=False
        ):
            pick = rng.integers(0, self.n_groups, self.n_groups)
            rows = np.concatenate([order[starts[g] : starts[g + 1]] for g in pick])
            new_groups = np.repeat(np.arange(pick.size), np.diff(starts)[pick])
            try:
                r = fit_arrays(
                    y[rows],
                    X[rows],
                    Z[rows],
                    new_groups,
                    reml=self.reml,
                    engine=self.engine,
                    methods=self.methods,
                )
            except (RuntimeError, ValueError, np.linalg.LinAlgError):
                failed += 1
                continue
            unconverged += not r.converged
            if r.warnings:
                warned.append(r.warnings[0])
            out.append(r.fe_params)
        notes = []
        if failed:
            notes.append(f"{failed} of {n} bootstrap refits failed and were left out")
        if unconverged:
            notes.append(f"{unconverged} of {n} bootstrap refits did not converge (kept)")
        if warned:
            notes.append(
                f"{len(warned)} of {n} bootstrap refits raised warnings (first: {warned[0]})"
            )
        return np.asarray(out).reshape(-1, len(self.fe_params)), notes

    def _bootstrap_fast(
        self, n: int, y: np.ndarray, rng: np.random.Generator, progress: bool | None
    ) -> tuple[np.ndarray, list[str]]:
        """The fast engine's bootstrap: the same resamples of groups as a
        refitting loop (``rng.integers(0, n_groups, n_groups)`` per refit,
        groups in sorted order), each fitted by reweighting the design's
        per-group statistics, warm-started from this fit."""
        from vc_eval.analysis.lmm_fast import LMMDesign

        if self._engine_state is not None:
            lmm_design, full = self._engine_state
        else:
            X = self.design.matrix(self.data, self.time)
            Z = _random_design(self.basis, self.data[self.time].to_numpy(dtype=float), self.random)
            codes = pd.factorize(self.data[self.group], sort=True)[0]
            lmm_design, full = LMMDesign(X, Z, codes), None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            boot = lmm_design.bootstrap(
                y, n_boot=n, rng=rng, reml=self.reml, fit=full, progress=progress
            )
        notes = []
        unconverged = int((~boot.converged).sum())
        if unconverged:
            notes.append(f"{unconverged} of {n} bootstrap refits did not converge (kept)")
        if caught:
            notes.append(
                f"{len(caught)} warning(s) during the bootstrap (first: {caught[0].message})"
            )
        return boot.fe_params, notes

    # -- data views ---------------------------------------------------------
    def observed_means(
        self, *, width: float = 1.0, min_groups: int = MIN_GROUPS_PER_BIN
    ) -> pd.DataFrame:
        """Observed mean outcome by bins of time (default: year of age).

        Bins with fewer than ``min_groups`` distinct groups are dropped, so
        the result is safe to show in reports.

        Returns
        -------
        DataFrame
            ``bin_start``, ``age`` (bin midpoint), ``mean``, ``se``,
            ``n_obs``, ``n_groups``.
        """
        # keyed by the frame itself too: a fit whose data were replaced or edited
        # in place (rows added or dropped) is counted afresh
        key = ("observed_means", float(width), int(min_groups), id(self.data), len(self.data))
        if key not in self._views:
            self._views[key] = self._observed_means(width, min_groups)
        return self._views[key].copy()

    def _observed_means(self, width: float, min_groups: int) -> pd.DataFrame:
        t = self.data[self.time].to_numpy(dtype=float)
        b = np.floor(t / width) * width
        g = pd.DataFrame(
            {
                "bin_start": b,
                "y": self.data[self.outcome].to_numpy(dtype=float),
                "g": self.data[self.group].to_numpy(),
            }
        )
        agg = (
            g.groupby("bin_start")
            .agg(
                mean=("y", "mean"), sd=("y", "std"), n_obs=("y", "size"), n_groups=("g", "nunique")
            )
            .reset_index()
        )
        agg = agg[agg["n_groups"] >= min_groups].copy()
        agg["age"] = agg["bin_start"] + width / 2
        agg["se"] = agg["sd"] / np.sqrt(agg["n_obs"])
        return agg[["bin_start", "age", "mean", "se", "n_obs", "n_groups"]].reset_index(drop=True)

    # -- summaries ----------------------------------------------------------
    def summary(self) -> Summary:
        """The model in words and tables: sizes, fixed effects, variance components."""
        s = self.stats()
        sm = Summary(f"Growth model: {self.label}", key="growth", caveats=self.caveats)
        sm.say(
            "model",
            f"{self.outcome} by {self.time}: {s['n_obs']:,} rows in "
            f"{display.plural(int(s['n_groups']), 'group')}; {s['basis']}; random "
            f"{self.random}; {s['method']} ({self.engine} engine), "
            + ("converged" if self.converged else "did not converge")
            + (", singular fit" if self.singular else "")
            + ".",
            word="converged" if self.converged else "not converged",
            counts=[Count(int(s["n_groups"]), f"groups:{self.group}")],
        )
        fe = self.fixed_effects
        sm.tables.append(
            Table(
                "Fixed effects",
                fe.round(4),
                {c: ("label" if c == fe.columns[0] else "stat") for c in map(str, fe.columns)},
            )
        )
        vc = self.variance_components.round(4)
        sm.tables.append(
            Table(
                "Variance components",
                pd.DataFrame({"component": vc.index.astype(str), "value": vc.to_numpy()}),
                {"component": "label", "value": "stat"},
            )
        )
        return sm

    def stats(self) -> pd.Series:
        """Model-level statistics in one Series (for tables across fits)."""
        vc = self.variance_components
        return pd.Series(
            {
                "label": self.label,
                "n_groups": self.n_groups,
                "n_obs": self.n_obs,
                "n_dropped": self.n_dropped,
                "basis": self.basis.describe(),
                "random": self.random,
                "method": "REML" if self.reml else "ML",
                "engine": self.engine,
                "optimiser": self.method,
                "converged": self.converged,
                "singular": self.singular,
                "llf": self.llf,
                "time_centre": self.basis.centre,
                **vc.to_dict(),
                "n_warnings": len(self.warnings),
            },
            name=self.label,
        )

    def report(self) -> str:
        """Plain-text summary: model, fixed effects, variance components, warnings."""
        s = self.stats()
        lines = [
            f"Growth model: {self.label} ({self.outcome} by {self.time}, groups {self.group})",
            f"  {s['n_obs']} rows in {s['n_groups']} groups"
            + (f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else ""),
            f"  basis: {s['basis']}; random: {self.random}; {s['method']}, engine "
            f"{self.engine} ({self.method}); converged: {self.converged}; "
            f"log-likelihood {self.llf:.3f}",
            "",
            self.fixed_effects.to_string(index=False, float_format=lambda x: f"{x:.4g}"),
            "",
            f"  random intercept SD (at {self.time} = {self.basis.centre:g}): "
            f"{s['sd_intercept']:.4g}",
        ]
        if self.random == "slope":
            lines.append(
                f"  random slope SD (per unit of {self.time}): {s['sd_slope']:.4g}; "
                f"correlation {s['corr']:.3f}"
            )
        lines.append(f"  residual SD: {s['sd_residual']:.4g}; ICC: {s['icc']:.3f}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _disable(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def _random_design(basis: TimeBasis, t: np.ndarray, random: str) -> np.ndarray:
    one = np.ones((t.size, 1))
    if random == "intercept":
        return one
    return np.column_stack([one, basis.scaled(t)])


def _single_thread_blas(fn):
    """Run ``fn`` with single-threaded BLAS: every product in a growth fit is
    tall and thin, where BLAS threads only add hand-offs (tenfold slower on a
    busy machine)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from vc_eval.analysis.lmm_fast import single_thread_blas

        with single_thread_blas():
            return fn(*args, **kwargs)

    return wrapper


@_single_thread_blas
def fit_growth(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    group: str,
    random: str = "slope",
    basis: str = "linear",
    knots: Sequence[float] | None = None,
    df: int | None = None,
    covariates: Sequence[str] = (),
    by: str | None = None,
    reml: bool = True,
    engine: str = "fast",
    age_centre: float | None = None,
    age_scale: float | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    polish: bool = False,
    min_groups: int = MIN_GROUPS,
    label: str | None = None,
    design_cache=None,
) -> GrowthFit:
    """Fit a linear mixed growth model to a long table.

    Parameters
    ----------
    data : DataFrame
        One row per observation.
    outcome, time, group : str
        Columns: the outcome, the time (e.g. age in years) and the grouping
        factor (e.g. child id).
    random : {"slope", "intercept"}
        Random intercept and slope on centred time (default), or intercept only.
    basis : {"linear", "hinge", "spline"}
        Fixed-effects shape in time: a line, a line with slope changes at
        ``knots``, or a natural cubic spline (patsy ``cr``) with ``df``
        columns or the given interior ``knots``.
    knots : sequence of float, optional
        Hinge or interior spline knots, in time units.
    df : int, optional
        Spline columns (default 8).
    covariates : sequence of str
        Extra columns entering additively: numeric as is, others as
        treatment dummies (first sorted level is the reference).
    by : str, optional
        A column whose levels (taken as categories, even if numbers) each get
        their own curve (basis x level interaction); used by
        :func:`compare_groups`. The first sorted level is the reference.
    reml : bool
        REML (default) or ML (needed to compare fixed effects by likelihood ratio).
    engine : {"fast", "statsmodels"}
        The fast engine (default; :mod:`vc_eval.analysis.lmm_fast`, same estimates) or
        statsmodels MixedLM (the reference).
    age_centre, age_scale : float, optional
        ``t* = (t - centre) / scale`` (default: mean and SD of time). The
        random intercept is the group's level at ``t = centre``.
    methods : sequence of str
        statsmodels optimisers tried in order until one converges.
    polish : bool
        statsmodels engine: restart BFGS from the optimum found, for
        estimates correct to ~1e-7 relative rather than ~1e-4 (for
        comparisons with other software; slower).
    min_groups : int
        Fewest groups to fit.
    label : str, optional
        Name used in messages (default: the outcome column).
    design_cache : vc_eval.analysis.lmm_fast.DesignCache, optional
        Fast engine: share design-only statistics with earlier fits on the
        same rows, times and groups (see :func:`fit_domains`).

    Returns
    -------
    GrowthFit

    Raises
    ------
    ValueError
        Missing columns, too few groups or rows, no group with repeated
        times for a random slope, or a rank-deficient design.
    """
    label = label or outcome
    if random not in RANDOM:
        raise ValueError(f"random must be one of {', '.join(RANDOM)}; got {random!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    covariates = tuple(covariates)
    needed = [outcome, time, group, *covariates] + ([by] if by else [])
    missing = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing:
        raise ValueError(f"{label}: column(s) not in the data: {', '.join(missing)}")
    frame = data.loc[:, list(dict.fromkeys(needed))]
    for c in (outcome, time):
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise ValueError(f"{label}: column {c!r} must be numeric")
    keep = frame.notna().all(axis=1).to_numpy()
    n_dropped = int((~keep).sum())
    frame = frame.loc[keep].reset_index(drop=True)
    gd = GrowthDesign.build(
        frame.drop(columns=[outcome]) if outcome not in (time, group, *covariates, by) else frame,
        time=time,
        group=group,
        random=random,
        basis=basis,
        knots=knots,
        df=df,
        covariates=covariates,
        by=by,
        age_centre=age_centre,
        age_scale=age_scale,
        min_groups=min_groups,
        label=label,
    )
    return gd.fit(
        frame[outcome].to_numpy(dtype=float),
        outcome=outcome,
        label=label,
        reml=reml,
        engine=engine,
        methods=methods,
        polish=polish,
        n_dropped=n_dropped,
        design_cache=design_cache,
        stacklevel=3,
    )


@dataclass
class GrowthDesign:
    """Everything about a growth fit that does not depend on the outcome.

    Built once from the rows, times, groups and covariates, and fitted to
    any number of outcomes observed on exactly those rows (the need domains
    of one population): the time basis, the design matrices, the group
    codes and, for the fast engine, its design-only statistics are shared.
    :func:`fit_growth` is ``GrowthDesign.build(...).fit(y)``.

    Attributes
    ----------
    frame : DataFrame
        The rows (time, group and covariate columns; no missing values).
    design : Design
    X, Z : ndarray
        Fixed- and random-effects designs.
    codes : ndarray
        Group index of each row (groups in sorted order).
    """

    frame: pd.DataFrame
    time: str
    group: str
    random: str
    design: Design
    X: np.ndarray
    Z: np.ndarray
    codes: np.ndarray
    n_groups: int
    _lmm: object | None = field(default=None, repr=False)

    @classmethod
    @_single_thread_blas
    def build(
        cls,
        frame: pd.DataFrame,
        *,
        time: str,
        group: str,
        random: str = "slope",
        basis: str = "linear",
        knots: Sequence[float] | None = None,
        df: int | None = None,
        covariates: Sequence[str] = (),
        by: str | None = None,
        age_centre: float | None = None,
        age_scale: float | None = None,
        min_groups: int = MIN_GROUPS,
        label: str = "growth model",
    ) -> GrowthDesign:
        """The design of a growth model on ``frame`` (rows without missing values).

        Parameters are those of :func:`fit_growth`; raises its
        ``ValueError`` for too few groups or rows, no repeated times for a
        random slope, or a rank-deficient design.
        """
        if random not in RANDOM:
            raise ValueError(f"random must be one of {', '.join(RANDOM)}; got {random!r}")
        covariates = tuple(covariates)
        frame = frame.loc[:, list(dict.fromkeys([time, group, *covariates, *([by] if by else [])]))]
        n_obs = len(frame)
        codes, uniq = pd.factorize(frame[group], sort=True)
        n_groups = len(uniq)
        if n_groups < min_groups:
            raise ValueError(
                f"{label}: too few groups to fit a growth model: {n_groups} {group} value(s) "
                f"with data, at least {min_groups} needed"
            )
        t = frame[time].to_numpy(dtype=float)
        if random == "slope":
            # groups seen at two or more distinct times
            order = np.lexsort((t, codes))
            tc, cc = t[order], codes[order]
            new_time = np.r_[True, (tc[1:] != tc[:-1]) | (cc[1:] != cc[:-1])]
            per_group = np.bincount(cc[new_time], minlength=n_groups)
            n_repeat = int((per_group >= 2).sum())
            if n_repeat < 3:
                raise ValueError(
                    f"{label}: a random slope needs groups seen at two or more times; only "
                    f"{n_repeat} such group(s). Use random='intercept'."
                )
        tb = TimeBasis.build(
            t, kind=basis, name=time, knots=knots, df=df, centre=age_centre, scale=age_scale
        )
        design = Design(
            tb,
            tuple(Covariate.build(frame[c], c) for c in covariates),
            Covariate.build(frame[by].astype(str), by) if by else None,
        )
        if by and design.by.levels is not None and len(design.by.levels) < 2:
            raise ValueError(f"{label}: {by!r} has a single level; nothing to compare")
        X = design.matrix(frame, time)
        p = X.shape[1]
        q = 1 if random == "intercept" else 2
        if n_obs <= p + q * (q + 1) // 2 + 1:
            raise ValueError(
                f"{label}: too few rows ({n_obs}) for a model with {p} fixed effects and "
                f"{q * (q + 1) // 2} random-effect parameters"
            )
        _check_rank(X, design.names, label)
        Z = _random_design(tb, t, random)
        return cls(frame, time, group, random, design, X, Z, codes, n_groups)

    @_single_thread_blas
    def fit(
        self,
        y: np.ndarray,
        *,
        outcome: str,
        label: str | None = None,
        reml: bool = True,
        engine: str = "fast",
        methods: Sequence[str] = DEFAULT_METHODS,
        polish: bool = False,
        n_dropped: int = 0,
        design_cache=None,
        stacklevel: int = 2,
    ) -> GrowthFit:
        """Fit outcome ``y`` (one value per row of :attr:`frame`, no missing values).

        ``n_dropped`` is recorded as the rows left out for missing values
        before the design was built. The fast engine's design-only
        statistics are built on the first fit and reused by the next.
        """
        label = label or outcome
        y = self._check_y(y, label, engine)
        if engine == "fast" and design_cache is None:
            res = _fit_fast_design(self.lmm_design(), y, reml=reml)
        else:
            res = fit_arrays(
                y,
                self.X,
                self.Z,
                self.codes,
                reml=reml,
                engine=engine,
                methods=methods,
                polish=polish,
                design_cache=design_cache,
            )
        return self._growth_fit(
            res,
            y,
            outcome=outcome,
            label=label,
            reml=reml,
            engine=engine,
            methods=methods,
            n_dropped=n_dropped,
            stacklevel=stacklevel + 1,
        )

    def lmm_design(self):
        """The fast engine's :class:`~vc_eval.analysis.lmm_fast.LMMDesign` of
        this design (its design-only statistics), built on first use."""
        from vc_eval.analysis.lmm_fast import LMMDesign

        if self._lmm is None:
            self._lmm = LMMDesign(self.X, self.Z, self.codes)
        return self._lmm

    @_single_thread_blas
    def fit_many(
        self,
        ys: Sequence[np.ndarray],
        labels: Sequence[str],
        *,
        outcome: str,
        reml: bool = True,
        engine: str = "fast",
        methods: Sequence[str] = DEFAULT_METHODS,
        n_dropped: Sequence[int] | None = None,
        workers: int | None = None,
        stacklevel: int = 2,
    ) -> list[GrowthFit | Exception]:
        """:meth:`fit` for several outcomes on this design, in order.

        With the fast engine the fits run on ``workers`` threads (default
        :func:`~vc_eval.analysis.lmm_fast.default_workers`: two on a
        national design, one on a council's), each from the first fit's
        optimum, so the results do not depend on ``workers``. An outcome
        whose fit fails gets its ``ValueError`` or ``RuntimeError`` in its
        place. Warnings are raised in order, as :meth:`fit` raises them.
        """
        n_dropped = [0] * len(ys) if n_dropped is None else list(n_dropped)
        out: list[GrowthFit | Exception | None] = [None] * len(ys)
        checked: dict[int, np.ndarray] = {}
        for i, (y, label) in enumerate(zip(ys, labels, strict=True)):
            try:
                checked[i] = self._check_y(y, label, engine)
            except ValueError as err:
                out[i] = err
        if engine == "fast":
            from vc_eval.analysis.lmm_fast import default_workers

            idx = list(checked)
            lmm = self.lmm_design() if idx else None
            n_workers = default_workers(self.n_groups) if workers is None else int(workers)
            res = _fit_fast_designs(lmm, [checked[i] for i in idx], reml=reml, workers=n_workers)
            engine_fits = dict(zip(idx, res, strict=True))
        else:
            engine_fits = {}
            for i, y in checked.items():
                try:
                    engine_fits[i] = fit_arrays(
                        y, self.X, self.Z, self.codes, reml=reml, engine=engine, methods=methods
                    )
                except (ValueError, RuntimeError) as err:
                    engine_fits[i] = err
        for i, r in engine_fits.items():
            if isinstance(r, Exception):
                out[i] = r
                continue
            out[i] = self._growth_fit(
                r,
                checked[i],
                outcome=outcome,
                label=labels[i],
                reml=reml,
                engine=engine,
                methods=methods,
                n_dropped=n_dropped[i],
                stacklevel=stacklevel + 1,
            )
        return out

    def _check_y(self, y: np.ndarray, label: str, engine: str) -> np.ndarray:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
        y = np.asarray(y, dtype=float)
        if y.shape != (len(self.frame),):
            raise ValueError(f"{label}: y has {y.size} values for {len(self.frame)} rows")
        return y

    def _growth_fit(
        self,
        res,
        y: np.ndarray,
        *,
        outcome: str,
        label: str,
        reml: bool,
        engine: str,
        methods: Sequence[str],
        n_dropped: int,
        stacklevel: int,
    ) -> GrowthFit:
        """The :class:`GrowthFit` of an engine's fit of ``y`` on this design."""
        design = self.design
        llf = res.llf
        if reml:
            # REML's log|X'V^-1X| term depends on how X is scaled; undo the time
            # scaling so llf equals that of the same model on unscaled time.
            llf += float(np.sum(np.log(design.units)))
        # the fit's rows: the outcome beside the shared (not copied) design columns
        cols = {c: self.frame[c] for c in self.frame.columns if c != outcome}
        data = pd.DataFrame({outcome: pd.Series(y, copy=False), **cols}, copy=False)
        fit = GrowthFit(
            label=label,
            outcome=outcome,
            time=self.time,
            group=self.group,
            design=design,
            random=self.random,
            reml=reml,
            engine=engine,
            fe_params=res.fe_params,
            cov_fe=res.cov_fe,
            cov_re_design=res.cov_re,
            scale=res.scale,
            llf=llf,
            converged=res.converged,
            method=res.method,
            n_iter=res.n_iter,
            attempts=res.attempts,
            warnings=list(res.warnings),
            n_groups=self.n_groups,
            n_obs=len(self.frame),
            n_dropped=n_dropped,
            data=data,
            methods=tuple(methods),
            _engine_state=res.state,
        )
        if fit.singular and not any("boundary" in w.lower() for w in fit.warnings):
            fit.warnings.append(
                "SingularFit: the random-effects covariance is on the boundary (a variance near "
                "zero or a correlation near +-1); consider random='intercept'"
            )
        if fit.warnings:
            warnings.warn(
                f"{label}: {len(fit.warnings)} warning(s) while fitting, first: "
                f"{fit.warnings[0]} (all in GrowthFit.warnings)",
                GrowthFitWarning,
                stacklevel=stacklevel,
            )
        return fit


def _check_rank(X: np.ndarray, names: list[str], label: str) -> None:
    # Scale columns first so the rank test is about collinearity, not units.
    norms = np.sqrt((X**2).sum(axis=0))
    if np.any(norms == 0):
        empty = [n for n, v in zip(names, norms, strict=True) if v == 0]
        raise ValueError(f"{label}: design column(s) with no data: {', '.join(empty)}")
    Xs = X / norms
    sv = np.linalg.svd(Xs.T @ Xs, compute_uv=False, hermitian=True)
    if sv[-1] < 1e-10 * sv[0]:
        raise ValueError(
            f"{label}: the fixed-effects design is rank deficient (collinear columns among "
            f"{', '.join(names)}); use fewer knots or drop a covariate"
        )
