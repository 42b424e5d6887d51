"""Peak ages of a fitted curve, and their uncertainty from many plausible curves.

A peak is an interior local maximum of the curve on a fine grid (a maximum
at either end of the age range is not a peak), optionally only those whose
topographic prominence (height above the higher of the two lowest points
separating it from higher ground; :func:`scipy.signal.find_peaks`) reaches a
threshold.

Uncertainty comes from a set of curves that could have been fitted: draws
of the fixed effects from their estimated sampling distribution, or refits
on bootstrap samples of children. Peaks can appear or vanish from one curve
to the next, so each peak of the fitted curve owns a stretch of ages (its
*basin*: from the lowest point between it and the previous peak to the
lowest point between it and the next, or to the ends). A plausible curve
"has" that peak if it has a peak in the basin (the highest, if several). We
report the share of curves that do, and the interval is over those curves
only: a low share means the peak is often not there at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

PEAK_COLUMNS = [
    "peak",
    "age",
    "lower",
    "upper",
    "share_with_peak",
    "height",
    "prominence",
]
#: Peaks present in fewer plausible curves than this share are not reported as peaks.
MIN_PEAK_SHARE = 0.5
STEEPEST_COLUMNS = ["direction", "age", "lower", "upper", "slope", "slope_lower", "slope_upper"]


def curve_peaks(curve: np.ndarray, min_prominence: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Indices and prominences of the interior peaks of one curve."""
    idx, props = find_peaks(np.asarray(curve, dtype=float), prominence=0.0)
    keep = props["prominences"] >= min_prominence
    return idx[keep], props["prominences"][keep]


def peak_basins(curve: np.ndarray, peaks: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) grid index of each peak's basin; peaks in increasing order."""
    bounds = [0]
    for a, b in zip(peaks[:-1], peaks[1:], strict=True):
        bounds.append(int(a + np.argmin(curve[a : b + 1])))
    bounds.append(len(curve) - 1)
    return [(bounds[k], bounds[k + 1]) for k in range(len(peaks))]


def summarise_peaks(
    grid: np.ndarray,
    curve: np.ndarray,
    curves: np.ndarray,
    *,
    level: float = 0.95,
    min_prominence: float = 0.0,
) -> tuple[pd.DataFrame, pd.Series]:
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
    min_prominence : float
        Only peaks at least this prominent (outcome units) count, in the
        fitted curve and in each plausible curve.

    Returns
    -------
    peaks : DataFrame
        One row per peak of ``curve``: ``peak`` (1, 2, ... by age), ``age``,
        ``lower``, ``upper`` (percentile interval of the matched peak ages),
        ``share_with_peak`` (share of curves with a peak in this peak's
        basin), ``height`` (fitted value at the peak) and ``prominence``.
    counts : Series
        Share of plausible curves with 0, 1, 2, ... peaks.
    """
    alpha = (1 - level) / 2
    peaks, prom = curve_peaks(curve, min_prominence)
    basins = peak_basins(curve, peaks)
    matched = [[] for _ in basins]
    n_peaks = np.zeros(curves.shape[0], dtype=int)
    for i, c in enumerate(curves):
        idx, _ = curve_peaks(c, min_prominence)
        n_peaks[i] = idx.size
        for k, (lo, hi) in enumerate(basins):
            inside = idx[(idx >= lo) & (idx <= hi)]
            if inside.size:
                matched[k].append(inside[np.argmax(c[inside])])
    rows = []
    for k, p in enumerate(peaks):
        ages = grid[np.asarray(matched[k], dtype=int)]
        rows.append(
            {
                "peak": k + 1,
                "age": float(grid[p]),
                "lower": float(np.quantile(ages, alpha)) if ages.size else np.nan,
                "upper": float(np.quantile(ages, 1 - alpha)) if ages.size else np.nan,
                "share_with_peak": ages.size / curves.shape[0] if curves.shape[0] else np.nan,
                "height": float(curve[p]),
                "prominence": float(prom[k]),
            }
        )
    counts = pd.Series(n_peaks).value_counts(normalize=True).sort_index()
    counts.index.name = "n_peaks"
    return pd.DataFrame(rows, columns=PEAK_COLUMNS), counts.rename("share")


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
    d = np.gradient(curves, grid, axis=1) if curves.shape[0] else np.empty((0, grid.size))

    def q(a: np.ndarray, x: float) -> float:
        return float(np.quantile(a, x)) if a.size else np.nan

    rows = []
    for direction, pick in (("rise", np.argmax), ("fall", np.argmin)):
        i0 = int(pick(d0))
        idx = pick(d, axis=1) if d.shape[0] else np.empty(0, dtype=int)
        ages = grid[idx]
        slopes = d[np.arange(d.shape[0]), idx]
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
