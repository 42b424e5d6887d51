"""The vectorised peak finder gives find_peaks' peaks, curve by curve, plateaus included."""

from __future__ import annotations

import numpy as np

from vc_eval.analysis.trajectories.peaks import curve_peaks, curves_peaks, summarise_peaks


def _rowwise(curves: np.ndarray, floor: float) -> list[tuple[int, int]]:
    return [(r, int(i)) for r, c in enumerate(curves) for i in curve_peaks(c, floor)[0]]


def test_curves_peaks_equals_find_peaks_row_by_row():
    rng = np.random.default_rng(7)
    grid = np.linspace(0, 18, 301)
    for _ in range(25):
        base = sum(
            rng.normal() * np.sin(grid * rng.uniform(0.1, 2.0) + rng.uniform(0, 6))
            for _ in range(int(rng.integers(1, 5)))
        )
        curves = base + rng.normal(size=(40, grid.size)) * rng.choice([0.0, 1e-3, 0.1])
        curves[0, 60:70] = curves[0, 60]  # a plateau: find_peaks' middle-of-plateau rule
        curves[1, 100:104] = curves[1].max() + 1
        curves[2, 5] = np.nan
        for floor in (0.0, 0.05, 0.5):
            rows, idx = curves_peaks(curves, floor)
            assert list(zip(rows.tolist(), idx.tolist(), strict=True)) == _rowwise(curves, floor)


def test_summarise_peaks_matches_a_curve_by_curve_count():
    rng = np.random.default_rng(3)
    grid = np.linspace(0, 10, 201)
    curve = np.exp(-((grid - 3) ** 2)) + 0.8 * np.exp(-((grid - 7) ** 2))
    curves = curve + rng.normal(0, 0.15, (300, 1)) * np.exp(-((grid - 7) ** 2))
    curves += rng.normal(0, 0.01, (300, 1)) * grid
    table, counts = summarise_peaks(grid, curve, curves, min_prominence=0.05)
    # the share of curves with 0, 1, 2... peaks, as find_peaks counts them
    n = np.array([curve_peaks(c, 0.05)[0].size for c in curves])
    expected = np.bincount(n) / n.size
    assert np.allclose(counts.reindex(range(expected.size), fill_value=0).to_numpy(), expected)
    assert len(table) == 2 and (table["share_with_peak"] > 0.5).all()


def test_curves_peaks_on_rough_curves_equals_find_peaks():
    """Curves with many wiggles, ties between distant points, higher ends, plateaus
    and missing values: the turning-point shortcut must give find_peaks' answer."""
    rng = np.random.default_rng(11)
    for trial in range(120):
        n, m = int(rng.integers(1, 20)), int(rng.integers(3, 60))
        kind = trial % 4
        if kind == 0:
            curves = rng.normal(size=(n, m))
        elif kind == 1:  # few distinct values: ties and plateaus everywhere
            curves = rng.integers(0, 4, size=(n, m)).astype(float)
        elif kind == 2:  # rounded: equal heights at distant points
            curves = np.round(rng.normal(size=(n, m)), 1)
        else:
            curves = rng.normal(size=(n, m))
            curves[rng.random((n, m)) < 0.05] = np.nan
        for floor in (0.0, 0.3, 1.0, 5.0):
            rows, idx = curves_peaks(curves, floor)
            assert list(zip(rows.tolist(), idx.tolist(), strict=True)) == _rowwise(curves, floor)
