"""Peak ages of a fitted curve, and their uncertainty from many plausible curves.

A peak is an interior local maximum of the curve on a fine grid (a maximum
at either end of the age range is not a peak). Uncertainty comes from a set
of curves that could have been fitted: draws of the fixed effects from
their estimated sampling distribution, or refits on bootstrap samples of
children. Peaks can appear or vanish from one curve to the next, so each
peak of the fitted curve owns the stretch of ages between its neighbouring
troughs; a curve "has" that peak if it has a local maximum there (the
highest, if several), and we report the share of curves that do. The
interval is over those curves only, so a low share means the interval
describes a peak that is often not there at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PEAK_COLUMNS = [
    "peak",
    "age",
    "lower",
    "upper",
    "share_with_peak",
    "height",
    "prominence",
]
STEEPEST_COLUMNS = ["direction", "age", "lower", "upper", "slope", "slope_lower", "slope_upper"]


def local_maxima(values: np.ndarray) -> np.ndarray:
    """Boolean mask of interior local maxima along the last axis.

    A plateau counts once, at its first point.
    """
    v = np.asarray(values, dtype=float)
    mask = np.zeros(v.shape, dtype=bool)
    mask[..., 1:-1] = (v[..., 1:-1] > v[..., :-2]) & (v[..., 1:-1] >= v[..., 2:])
    return mask


def local_minima(values: np.ndarray) -> np.ndarray:
    """Boolean mask of interior local minima along the last axis."""
    return local_maxima(-np.asarray(values, dtype=float))


def peak_basins(grid: np.ndarray, curve: np.ndarray) -> list[tuple[int, int, int]]:
    """For each peak of ``curve``: (peak index, first index, last index) of its basin.

    The basin runs from the trough before the peak to the trough after it
    (or to the ends of the grid).
    """
    peaks = np.flatnonzero(local_maxima(curve))
    troughs = np.flatnonzero(local_minima(curve))
    out = []
    for p in peaks:
        left = troughs[troughs < p]
        right = troughs[troughs > p]
        lo = int(left[-1]) if left.size else 0
        hi = int(right[0]) if right.size else len(grid) - 1
        out.append((int(p), lo, hi))
    return out


def summarise_peaks(
    grid: np.ndarray,
    curve: np.ndarray,
    curves: np.ndarray,
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """Peaks of ``curve`` with intervals from the plausible ``curves``.

    Parameters
    ----------
    grid : array (m,)
        Ages, increasing.
    curve : array (m,)
        The fitted curve.
    curves : array (n, m)
        Plausible curves (draws or bootstrap refits).
    level : float
        Interval coverage.

    Returns
    -------
    DataFrame
        One row per peak of ``curve``: ``peak`` (1, 2, ... by age), ``age``,
        ``lower``, ``upper`` (percentile interval of the matched peak ages),
        ``share_with_peak`` (share of curves with a peak in this peak's
        basin), ``height`` (fitted value at the peak) and ``prominence``
        (height above the higher of the two neighbouring troughs or ends).
    """
    alpha = (1 - level) / 2
    is_max = local_maxima(curves)
    rows = []
    for k, (p, lo, hi) in enumerate(peak_basins(grid, curve), start=1):
        seg = curves[:, lo : hi + 1]
        seg_max = np.where(is_max[:, lo : hi + 1], seg, -np.inf)
        has = np.isfinite(seg_max).any(axis=1)
        ages = grid[lo + np.argmax(seg_max[has], axis=1)] if has.any() else np.empty(0)
        left_min = curve[lo : p + 1].min()
        right_min = curve[p : hi + 1].min()
        rows.append(
            {
                "peak": k,
                "age": float(grid[p]),
                "lower": float(np.quantile(ages, alpha)) if ages.size else np.nan,
                "upper": float(np.quantile(ages, 1 - alpha)) if ages.size else np.nan,
                "share_with_peak": float(has.mean()) if curves.shape[0] else np.nan,
                "height": float(curve[p]),
                "prominence": float(curve[p] - max(left_min, right_min)),
            }
        )
    return pd.DataFrame(rows, columns=PEAK_COLUMNS)


def peak_count_shares(curves: np.ndarray) -> pd.Series:
    """Share of plausible curves with 0, 1, 2, ... peaks."""
    counts = local_maxima(curves).sum(axis=1)
    return pd.Series(counts).value_counts(normalize=True).sort_index().rename("share")


def summarise_steepest(
    grid: np.ndarray, curve: np.ndarray, curves: np.ndarray, *, level: float = 0.95
) -> pd.DataFrame:
    """Ages of steepest rise and steepest fall, with intervals.

    ``slope`` is the derivative (outcome units per unit of time) at that
    age. A curve that never rises (or never falls) still has a "steepest
    rise": the age where it falls least; read ``slope`` to tell.
    """
    alpha = (1 - level) / 2
    d0 = np.gradient(curve, grid)
    d = np.gradient(curves, grid, axis=1) if curves.size else np.empty((0, grid.size))
    rows = []
    for direction, pick in (("rise", np.argmax), ("fall", np.argmin)):
        i0 = int(pick(d0))
        idx = pick(d, axis=1) if d.size else np.empty(0, dtype=int)
        ages = grid[idx]
        slopes = d[np.arange(d.shape[0]), idx] if d.size else np.empty(0)
        q = (lambda a, x: float(np.quantile(a, x)) if a.size else np.nan)  # noqa: E731
        rows.append(
            {
                "direction": direction,
                "age": float(grid[i0]),
                "lower": q(ages, alpha),
                "upper": q(ages, 1 - alpha),
                "slope": float(d0[i0]),
                "slope_lower": q(slopes, alpha),
                "slope_upper": q(slopes, 1 - alpha),
            }
        )
    return pd.DataFrame(rows, columns=STEEPEST_COLUMNS)
