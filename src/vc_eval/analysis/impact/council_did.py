"""One council against comparison councils, with placebo-in-space inference.

The council's difference from the mean of the comparison councils,
``D_t = y_t - mean_j y_jt``, is compared before and after the start::

    effect at h months   = D_{t0 + h} - mean(D over the ``pre`` months before t0)
    mean over 0..h-1     = mean(D_{t0}, ..., D_{t0 + h - 1}) - the same pre mean

Comparison councils are those that had not adopted by the end of the
window (never, or later): national changes shared by all councils cancel
out. Inference is by permutation (Abadie et al. 2010; Conley and Taber
2011): each comparison council in turn is treated as if it had started on
the same date, against the others, and its estimate divided by the spread
of its own difference before the start (so large and small councils are
comparable). The council's studentised estimate is ranked among theirs;
the interval inverts that test, so it covers the truth with the probability
the rank allows (:mod:`vc_eval.analysis.impact.inference`). With fewer than
9 comparison councils no interval is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vc_eval.analysis.impact import inference
from vc_eval.analysis.impact.effects import HorizonEffects
from vc_eval.analysis.impact.series import COHORT, FREQS, PERIOD, ordinal_start, period_ordinal
from vc_eval.core.schema import Col
from vc_eval.core.summary import Result


@dataclass
class CouncilDiDResult(HorizonEffects, Result):
    """One council's difference from comparison councils, before and after its start.

    Attributes
    ----------
    effects : DataFrame
        horizon, kind ("point", "average"), estimate, scale (spread of the
        difference before the start), critical, level, lower, upper, p
        (permutation), n_placebo.
    data : DataFrame
        period, event_time, y (the council), comparison (mean of the
        comparison councils), difference.
    placebo : DataFrame
        One row per comparison council and contrast: studentised placebo
        estimates (columns as ``effects`` rows).
    """

    council: str
    outcome: str
    start: pd.Timestamp
    freq: str
    effects: pd.DataFrame
    data: pd.DataFrame
    placebo_t: np.ndarray
    comparisons: list[str]
    pre: int
    alpha: float
    statements: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    _plot = "impact:plot_council_did"

    @property
    def n_placebo(self) -> int:
        return int(self.placebo_t.shape[0])

    @property
    def level(self) -> float:
        lvl = inference.achievable_level(self.n_placebo, self.alpha)
        return lvl if lvl >= inference.MIN_LEVEL else 0.0

    def to_frame(self) -> pd.DataFrame:
        return self.effects.assign(council=self.council, outcome=self.outcome)

    def summary(self):
        from vc_eval.analysis.impact.words import council_did_summary

        return council_did_summary(self)


def _contrast_matrix(horizons, step, pre_p):
    """Rows: weights over event times -pre_p .. max horizon (periods)."""
    hmax = max(int(round(h / step)) for h in horizons)
    times = np.arange(-pre_p, hmax + 1)
    rows, labels = [], []
    pre_w = np.where(times < 0, -1.0 / pre_p, 0.0)
    for h in horizons:
        hp = int(round(h / step))
        w = pre_w.copy()
        w[times == hp] += 1.0
        rows.append(w)
        labels.append((h, "point"))
        if hp >= 1:
            w = pre_w.copy()
            w[(times >= 0) & (times < hp)] += 1.0 / hp
            rows.append(w)
            labels.append((h, "average"))
    return times, np.array(rows), labels


def council_did(
    series: pd.DataFrame,
    council: str,
    outcome: str,
    *,
    horizons: tuple[int, ...] = (12, 24),
    pre: int = 12,
    alpha: float = 0.05,
) -> CouncilDiDResult:
    """One adopting council against the councils that had not adopted, with permutation inference.

    Parameters
    ----------
    series : DataFrame
        From :func:`vc_eval.analysis.impact.council_series`, with the
        council and the comparison councils.
    council, outcome : str
    horizons : tuple of int
        Months after the start; horizons beyond the data are dropped.
    pre : int
        Months before the start forming the baseline.
    alpha : float
        1 - the confidence level asked for (delivered only with enough
        comparison councils; see ``effects["level"]``).

    Raises
    ------
    ValueError
        Unknown council or outcome, a council that never adopted, too few
        months before the start, or no comparison council.
    """
    return _estimate(_prepare(*_wide(series, council, outcome), horizons, pre), alpha)


def council_did_leave_one_out(
    series: pd.DataFrame,
    council: str,
    outcome: str,
    without: list[str],
    *,
    horizons: tuple[int, ...] = (12, 24),
    pre: int = 12,
    alpha: float = 0.05,
) -> list[tuple[str, Callable[[], CouncilDiDResult]]]:
    """:func:`council_did` on ``series`` without each council of ``without`` in turn.

    Returns ``(left out, run)`` pairs; ``run()`` gives exactly what
    ``council_did(series without that council, ...)`` gives (or raises what
    it raises), from one reshaping of the series instead of one per council
    left out (a national series has dozens of comparison councils).
    """
    council_, outcome_, freq, t0, wide, cohorts = _wide(series, council, outcome)
    full: list = []  # the whole series prepared, once (or the error preparing it raised)

    def slow(c: str) -> CouncilDiDResult:
        w = wide.drop(index=c, errors="ignore")
        # as the series without the council would be reshaped: no period left empty
        w = w.loc[:, w.notna().any(axis=0)]
        less = cohorts.drop(index=c, errors="ignore")
        return _estimate(_prepare(council_, outcome_, freq, t0, w, less, horizons, pre), alpha)

    def run(c: str) -> CouncilDiDResult:
        if not full:
            try:
                full.append(_prepare(council_, outcome_, freq, t0, wide, cohorts, horizons, pre))
            except ValueError as err:
                full.append(err)
        p = full[0]
        # Leaving out a council only removes its row of the comparison (its period
        # columns stay unless it alone had a value there, where the series without it
        # is reshaped differently: then the plain way); the same numbers, in the same order.
        if isinstance(p, ValueError) or c in p.sole:
            return slow(c)
        if c in p.comps:
            i = p.comps.index(c)
            p = replace(p, comps=p.comps[:i] + p.comps[i + 1 :], M=np.delete(p.M, i, axis=0))
        return _estimate(p, alpha)

    return [(c, lambda c=c: run(c)) for c in without]


def _wide(series: pd.DataFrame, council: str, outcome: str) -> tuple:
    """What :func:`council_did` takes from the series: the outcome by council (rows)
    and period (columns, counted from the council's start) and every council's cohort."""
    freq = series.attrs.get("freq", "MS")
    if outcome not in series.columns:
        raise ValueError(f"outcome {outcome!r} is not a column of the series")
    own = series[series[Col.council] == council]
    if own.empty:
        raise ValueError(f"council {council!r} is not in the series")
    if own[COHORT].isna().all():
        raise ValueError(f"{council} has no programme start")
    t0 = pd.Timestamp(own[COHORT].iloc[0])
    g0 = int(period_ordinal([t0], freq)[0])
    wide = series.assign(_p=period_ordinal(series[PERIOD], freq) - g0).pivot_table(
        index=Col.council, columns="_p", values=outcome, aggfunc="mean"
    )
    cohorts = series.drop_duplicates(Col.council).set_index(Col.council)[COHORT]
    return council, outcome, freq, t0, wide, cohorts


@dataclass
class _Prepared:
    """What :func:`_estimate` takes from the reshaped series (see :func:`_prepare`)."""

    council: str
    outcome: str
    freq: str
    t0: pd.Timestamp
    g0: int
    pre: int
    times: np.ndarray
    W: np.ndarray
    labels: list
    comps: list  # the comparison councils, in the series' order
    M: np.ndarray  # their outcome in the window (comparison x period)
    y: np.ndarray  # the council's outcome in the window
    sole: frozenset  # councils alone in having a value in some period of the window


def _prepare(
    council: str,
    outcome: str,
    freq: str,
    t0: pd.Timestamp,
    wide: pd.DataFrame,
    cohorts: pd.Series,
    horizons: tuple[int, ...],
    pre: int,
) -> _Prepared:
    """The window of the outcome by council, and the comparison councils, from the reshaped
    series (:func:`_wide`); raises when the council's own data cannot give an estimate."""
    step = FREQS[freq]
    g0 = int(period_ordinal([t0], freq)[0])
    pre_p = max(1, int(np.ceil(pre / step)))
    if council not in wide.index:  # the pivot drops a council with no value of the outcome
        raise ValueError(f"{council}, {outcome}: no value of the outcome for the council")
    own_row = wide.loc[council].to_numpy(dtype=float)
    last = int(np.nanmax(wide.columns.to_numpy()[np.isfinite(own_row)]))
    horizons = tuple(h for h in horizons if int(round(h / step)) <= last)
    if not horizons:
        raise ValueError(f"{council}, {outcome}: no horizon within the data after the start")
    times, W, labels = _contrast_matrix(horizons, step, pre_p)
    if not set(times) <= set(wide.columns):
        raise ValueError(
            f"{council}, {outcome}: need {pre_p} periods before the start in the series"
        )
    Y = wide[list(times)]
    co = pd.Series(np.nan, index=cohorts.index)
    has = cohorts.notna()
    co[has] = period_ordinal(cohorts[has], freq) - g0
    clean = co.isna() | (co > times.max())
    # one pass over the councils (a national series has 150 of them), not a lookup per council
    finite = Y.notna().to_numpy()
    usable = (
        clean.reindex(Y.index, fill_value=False).to_numpy(dtype=bool)
        & finite.all(axis=1)
        & (Y.index != council)
    )
    comps = list(Y.index[usable])
    alone = finite.sum(axis=0) == 1
    sole = frozenset(Y.index[finite[:, alone].any(axis=1)]) if alone.any() else frozenset()
    return _Prepared(
        council,
        outcome,
        freq,
        t0,
        g0,
        pre,
        times,
        W,
        labels,
        comps,
        Y.loc[comps].to_numpy(dtype=float),
        Y.loc[council].to_numpy(dtype=float),
        sole,
    )


def _estimate(p: _Prepared, alpha: float) -> CouncilDiDResult:
    """The estimates, placebo inference and words of :func:`council_did`."""
    council, outcome, comps, times, W, labels = (
        p.council,
        p.outcome,
        p.comps,
        p.times,
        p.W,
        p.labels,
    )
    if not comps:
        raise ValueError(f"{council}, {outcome}: no comparison council without the programme")
    if np.isnan(p.y).any():
        raise ValueError(f"{council}, {outcome}: missing values in the window")
    M, y = p.M, p.y
    pre_mask = times < 0

    def stat(target: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, float]:
        d = target - others.mean(axis=0)
        dp = d[pre_mask]
        # Spread of the difference before the start: the unit that studentises.
        scale = float(np.std(dp, ddof=1)) if dp.size > 1 else np.nan
        return W @ d, scale

    est, scale = stat(y, M)
    ptab = []
    if len(comps) >= 2:
        for j in range(len(comps)):
            e_j, s_j = stat(M[j], np.delete(M, j, axis=0))
            ptab.append(e_j / s_j if s_j > 0 else np.full(len(labels), np.nan))
    placebo = np.array(ptab).reshape(len(ptab), len(labels))
    placebo = placebo[np.isfinite(placebo).all(axis=1)]
    n = placebo.shape[0]
    lvl = inference.achievable_level(n, alpha)
    show = lvl >= inference.MIN_LEVEL and scale > 0
    crit = inference.rank_critical(placebo, alpha) if show else np.full(len(labels), np.nan)
    rows = []
    for j, (h, kind) in enumerate(labels):
        tstat = est[j] / scale if scale > 0 else np.nan
        rows.append(
            {
                "horizon": h,
                "kind": kind,
                "estimate": float(est[j]),
                "scale": scale,
                "critical": float(crit[j]),
                "level": lvl if show else np.nan,
                "lower": float(est[j] - crit[j] * scale) if show else np.nan,
                "upper": float(est[j] + crit[j] * scale) if show else np.nan,
                "p": inference.rank_p(tstat, placebo[:, j]) if n else np.nan,
                "n_placebo": n,
            }
        )
    comp_mean = M.mean(axis=0)
    periods = [ordinal_start(p.g0 + int(t), p.freq) for t in times]
    data = pd.DataFrame(
        {
            PERIOD: periods,
            "event_time": times,
            "y": y,
            "comparison": comp_mean,
            "difference": y - comp_mean,
        }
    )
    res = CouncilDiDResult(
        council=council,
        outcome=outcome,
        start=p.t0,
        freq=p.freq,
        effects=pd.DataFrame(rows),
        data=data,
        placebo_t=placebo,
        comparisons=comps,
        pre=p.pre,
        alpha=alpha,
    )
    from vc_eval.analysis.impact.words import council_did_caveats, council_did_findings

    res.statements = [f.text for f in council_did_findings(res)]
    res.caveats = council_did_caveats(res)
    return res
