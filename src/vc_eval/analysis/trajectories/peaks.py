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

Which peaks are *reported* is decided by one rule, :class:`PeakRule`, the
default everywhere (fits, domain tables, the report and the notebooks): a
peak of the fitted curve is reported only if it is prominent enough to
matter (at least ``rel_prominence`` of the outcome's standard deviation,
or an absolute ``min_prominence``) and at least ``min_share`` of the
plausible curves have a peak that prominent in its basin. Small wiggles of
a spline fit are reproduced by nearly every draw of its fixed effects, so
the share alone cannot tell a wiggle from a peak; the prominence floor can.
Peaks that fail the rule stay visible to analysts as *candidates*.

Peak ages are located between grid points by fitting a parabola through
the highest grid point and its two neighbours, so ages and interval ends
vary continuously with the data rather than jumping in grid steps.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "reported",
]
#: Peaks present in fewer plausible curves than this share are not reported as peaks.
MIN_PEAK_SHARE = 0.5
STEEPEST_COLUMNS = ["direction", "age", "lower", "upper", "slope", "slope_lower", "slope_upper"]


@dataclass(frozen=True)
class PeakRule:
    """When a peak of a fitted curve is reported.

    Attributes
    ----------
    rel_prominence : float
        Smallest prominence, as a share of the outcome's standard deviation
        (``scale``), for a peak to count (in the fitted curve and in each
        plausible curve). 0.1 of the SD is about one point of need on the
        0-100 scale: the true need peaks near 7 and 11 have prominences of
        2-10 points, spline wiggles on flat or monotone curves 0.0-0.3.
    min_prominence : float or None
        An absolute floor (outcome units) used instead of the relative one.
    min_share : float
        Smallest share of plausible curves with such a peak in the basin.
    """

    rel_prominence: float = 0.1
    min_prominence: float | None = None
    min_share: float = 0.9

    def describe(self) -> str:
        """The rule in one plain sentence, for reports and notebooks."""
        size = (
            f"at least {self.min_prominence:g} points above the surrounding troughs"
            if self.min_prominence is not None
            else f"at least {self.rel_prominence:g} standard deviations of the scores above "
            "the surrounding troughs"
        )
        return (
            f"A peak is reported only if it rises {size} and at least "
            f"{self.min_share:.0%} of the plausible curves have such a peak at about that age."
        )

    def threshold(self, scale: float | None) -> float:
        """The prominence floor in outcome units for an outcome SD of ``scale``."""
        if self.min_prominence is not None:
            return float(self.min_prominence)
        if scale is None or not np.isfinite(scale):
            return 0.0
        return float(self.rel_prominence * scale)


#: The default rule (see :class:`PeakRule`); every table of peaks uses it.
DEFAULT_RULE = PeakRule()
#: Every interior maximum, reported whatever its size or share (analysts' view).
ALL_PEAKS = PeakRule(rel_prominence=0.0, min_prominence=0.0, min_share=0.0)


def refine_ages(grid: np.ndarray, curve: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Peak ages between grid points: vertex of the parabola through idx-1, idx, idx+1."""
    idx = np.asarray(idx, dtype=int)
    grid = np.asarray(grid, dtype=float)
    if idx.size == 0:
        return np.empty(0)
    inner = (idx > 0) & (idx < grid.size - 1)
    i = np.where(inner, idx, 1 if grid.size > 2 else 0)
    if grid.size < 3:
        return grid[idx]
    y0, y1, y2 = curve[..., i - 1], curve[..., i], curve[..., i + 1]
    return _vertex(grid, idx, inner, i, y0, y1, y2)


def _vertex(grid, idx, inner, i, y0, y1, y2) -> np.ndarray:
    """Age of the vertex of the parabola through three grid points around each peak
    (half a grid step at most; the grid age itself at the ends)."""
    den = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(den < 0, 0.5 * (y0 - y2) / den, 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    step = np.where(
        delta >= 0, grid[np.minimum(i + 1, grid.size - 1)] - grid[i], grid[i] - grid[i - 1]
    )
    return np.where(inner, grid[i] + delta * step, grid[idx])


def curve_peaks(curve: np.ndarray, min_prominence: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Indices and prominences of the interior peaks of one curve."""
    idx, props = find_peaks(np.asarray(curve, dtype=float), prominence=0.0)
    keep = props["prominences"] >= min_prominence
    return idx[keep], props["prominences"][keep]


def curves_peaks(curves: np.ndarray, min_prominence: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Interior peaks of many curves at once: :func:`curve_peaks` row by row, vectorised.

    Returns (row, index) of every peak with prominence at least
    ``min_prominence``, ordered by row then index. The same peaks and
    prominences as :func:`scipy.signal.find_peaks` (strict local maxima;
    prominence from the lowest points between the peak and higher ground on
    either side); a curve with a flat run of equal neighbouring values (a
    plateau, where find_peaks picks the middle) goes through find_peaks itself.
    """
    x = np.asarray(curves, dtype=float)
    n, m = x.shape
    if m < 3 or n == 0:
        return np.empty(0, dtype=int), np.empty(0, dtype=int)
    up = x[:, 1:] > x[:, :-1]
    # plateaus and non-finite values follow find_peaks' own rules, row by row
    flat = (x[:, 1:] == x[:, :-1]).any(axis=1) | ~np.isfinite(x).all(axis=1)
    # Turning points and both ends: a curve without plateaus is monotone between two
    # of them, so the lowest points a prominence needs are among them, and the
    # nearest higher point lies on the slope into the nearest higher one of them.
    # Working on these few points (not the whole grid) gives the same numbers.
    turn = np.ones((n, m), dtype=bool)
    turn[:, 1:-1] = up[:, :-1] != up[:, 1:]
    turn[flat] = False
    er, ec = np.nonzero(turn)
    inner = (ec > 0) & (ec < m - 1)
    is_peak = np.zeros(er.size, dtype=bool)
    is_peak[inner] = up[er[inner], ec[inner] - 1] & ~up[er[inner], ec[inner]]
    per_row = np.bincount(er, minlength=n)
    pos = np.arange(er.size) - (np.cumsum(per_row) - per_row)[er]
    k = int(per_row.max()) if er.size else 1
    # the turning points' values row by row, padded never higher / never lowest
    high, low = np.full((n, k), -np.inf), np.full((n, k), np.inf)
    high[er, pos] = low[er, pos] = x[er, ec]
    rows, at, idx = er[is_peak], pos[is_peak], ec[is_peak]
    keep = np.ones(rows.size, dtype=bool)
    cols = np.arange(k)
    for start in range(0, rows.size, _CHUNK):
        r, j = rows[start : start + _CHUNK], at[start : start + _CHUNK][:, None]
        hr, lr = high[r], low[r]
        height = np.take_along_axis(hr, j, axis=1)
        higher = hr > height
        before, after = cols < j, cols > j
        left = np.where(higher & before, cols, -1).max(axis=1)[:, None]
        right = np.where(higher & after, cols, k).min(axis=1)[:, None]
        left_min = np.where((cols > left) & ~after, lr, np.inf).min(axis=1)
        right_min = np.where((cols < right) & ~before, lr, np.inf).min(axis=1)
        prom = height[:, 0] - np.maximum(left_min, right_min)
        keep[start : start + _CHUNK] = prom >= min_prominence
    rows, idx = rows[keep], idx[keep]
    if flat.any():
        extra = [(r, curve_peaks(x[r], min_prominence)[0]) for r in np.flatnonzero(flat)]
        rows = np.concatenate([rows, *(np.full(i.size, r) for r, i in extra)])
        idx = np.concatenate([idx, *(i for _, i in extra)])
        order = np.lexsort((idx, rows))
        rows, idx = rows[order], idx[order]
    return rows.astype(int), idx.astype(int)


#: Peaks handled per block in :func:`curves_peaks` (bounds memory at about 2k x turning points).
_CHUNK = 2048


def _refine_rows(grid: np.ndarray, curves: np.ndarray, rows: np.ndarray, idx: np.ndarray):
    """:func:`refine_ages` of one grid index per selected curve (the same arithmetic)."""
    grid = np.asarray(grid, dtype=float)
    if idx.size == 0:
        return np.empty(0)
    if grid.size < 3:
        return grid[idx]
    inner = (idx > 0) & (idx < grid.size - 1)
    i = np.where(inner, idx, 1)
    y0, y1, y2 = curves[rows, i - 1], curves[rows, i], curves[rows, i + 1]
    return _vertex(grid, idx, inner, i, y0, y1, y2)


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
    min_prominence: float | None = None,
    rule: PeakRule = DEFAULT_RULE,
    scale: float | None = None,
    reported_only: bool = True,
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
    min_prominence : float, optional
        Shorthand for ``rule=PeakRule(min_prominence=..., min_share=0)``: an
        absolute prominence floor (outcome units) and no share condition.
    rule : PeakRule
        Which peaks are reported (default :data:`DEFAULT_RULE`).
    scale : float, optional
        The outcome's standard deviation, for the rule's relative floor
        (None: no floor unless the rule sets an absolute one).
    reported_only : bool
        Return only the peaks the rule reports (default); False returns every
        candidate with the ``reported`` column saying which pass.

    Returns
    -------
    peaks : DataFrame
        One row per peak of ``curve``: ``peak`` (1, 2, ... by age), ``age``,
        ``lower``, ``upper`` (percentile interval of the matched peak ages,
        located between grid points), ``share_with_peak`` (share of curves
        with a peak of at least the rule's prominence in this peak's basin),
        ``height`` (fitted value at the peak), ``prominence`` and
        ``reported``. ``attrs["threshold"]`` is the prominence floor used.
    counts : Series
        Share of plausible curves with 0, 1, 2, ... peaks of at least that
        prominence.
    """
    if min_prominence is not None:
        rule = PeakRule(min_prominence=float(min_prominence), min_share=0.0)
    floor = rule.threshold(scale)
    alpha = (1 - level) / 2
    curve = np.asarray(curve, dtype=float)
    peaks, prom = curve_peaks(curve, floor)
    basins = peak_basins(curve, peaks)
    curves = np.asarray(curves, dtype=float).reshape(-1, curve.size)
    rows, idx = curves_peaks(curves, floor)
    n_peaks = np.bincount(rows, minlength=curves.shape[0])
    matched = []
    for lo, hi in basins:
        # each curve's highest peak in the basin (the first by age on a tie), as one pass
        inside = (idx >= lo) & (idx <= hi)
        r, i = rows[inside], idx[inside]
        order = np.lexsort((i, -curves[r, i], r))
        first = order[np.r_[True, r[order][1:] != r[order][:-1]]] if r.size else order
        matched.append(_refine_rows(grid, curves, r[first], i[first]))
    ages_fit = refine_ages(grid, curve, peaks)
    rows = []
    n_curves = curves.shape[0]
    for k, p in enumerate(peaks):
        ages = np.asarray(matched[k], dtype=float)
        share = ages.size / n_curves if n_curves else np.nan
        rows.append(
            {
                "age": float(ages_fit[k]),
                "lower": float(np.quantile(ages, alpha)) if ages.size else np.nan,
                "upper": float(np.quantile(ages, 1 - alpha)) if ages.size else np.nan,
                "share_with_peak": share,
                "height": float(curve[p]),
                "prominence": float(prom[k]),
                "reported": bool(np.isfinite(share) and share >= rule.min_share),
            }
        )
    # peaks of the fitted curve below the prominence floor: candidates never reported
    all_idx, all_prom = curve_peaks(curve, 0.0)
    for p, pr in zip(all_idx, all_prom, strict=True):
        if pr < floor:
            rows.append(
                {
                    "age": float(refine_ages(grid, curve, np.array([p]))[0]),
                    "lower": np.nan,
                    "upper": np.nan,
                    "share_with_peak": np.nan,
                    "height": float(curve[p]),
                    "prominence": float(pr),
                    "reported": False,
                }
            )
    rows.sort(key=lambda r: r["age"])
    for k, r in enumerate(rows):
        r["peak"] = k + 1
    out = pd.DataFrame(rows, columns=PEAK_COLUMNS).astype({"reported": bool})
    if reported_only:
        out = out[out["reported"]].reset_index(drop=True)
        out["peak"] = np.arange(1, len(out) + 1)
    out.attrs["threshold"] = floor
    counts = pd.Series(n_peaks).value_counts(normalize=True).sort_index()
    counts.index.name = "n_peaks"
    return out, counts.rename("share")


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
