"""Inference for one council: what a placebo (permutation) design can deliver.

With one adopting council, its estimate is compared with the same estimate
made in comparison councils that never adopted, given the same (fake)
start date: placebo-in-space, as in synthetic-control inference (Abadie,
Diamond and Hainmueller 2010) and Conley and Taber (2011). If the council's
studentised estimate minus its true effect is exchangeable with the
placebos' (random adoption; studentising removes differences in council
size), the rank of the council among ``n`` placebos gives an exact test,
and the interval made from the ``k``-th smallest placebo covers the truth
with probability ``k / (n + 1)`` (up to ``1 / (n + 1)`` more).

So the *achievable* confidence level is bounded by the number of placebo
councils: the smallest two-sided p-value is ``1 / (n + 1)``; a 95% interval
needs at least 19 of them. Below that this module gives the highest level
the councils allow, and below :data:`MIN_LEVEL` no interval at all.
"""

from __future__ import annotations

import math

import numpy as np

#: No interval is shown at a lower achievable level than this.
MIN_LEVEL = 0.90


def placebos_needed(alpha: float = 0.05) -> int:
    """Fewest placebo councils for a two-sided test at level ``alpha`` (19 for 5%)."""
    return int(math.ceil(1 / alpha - 1 - 1e-9))


def achievable_level(n_placebo: int, alpha: float = 0.05) -> float:
    """Confidence level a rank interval from ``n_placebo`` placebos can deliver.

    ``1 - alpha`` when there are enough placebos, else ``n / (n + 1)`` (the
    largest placebo as the critical value); 0 with none.
    """
    n = int(n_placebo)
    if n <= 0:
        return 0.0
    return min(1 - alpha, n / (n + 1))


def smallest_p(n_placebo: int) -> float:
    """Smallest p-value a rank test against ``n_placebo`` placebos can give."""
    return 1.0 / (int(n_placebo) + 1)


def critical_rank(n_placebo: int, alpha: float = 0.05) -> int:
    """Rank (1-based) of the placebo |t| used as critical value."""
    n = int(n_placebo)
    return min(int(math.ceil((1 - alpha) * (n + 1) - 1e-9)), n)


def rank_critical(placebo: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Critical value(s): the ``critical_rank``-th smallest |placebo| per column."""
    a = np.sort(np.abs(np.asarray(placebo, dtype=float)), axis=0)
    return a[critical_rank(a.shape[0], alpha) - 1]


def rank_p(stat: float, placebo: np.ndarray) -> float:
    """Two-sided permutation p-value of ``stat`` among the placebos (with the +1)."""
    placebo = np.asarray(placebo, dtype=float)
    return float((1 + np.sum(np.abs(placebo) >= abs(stat))) / (1 + placebo.size))


def level_text(level: float) -> str:
    """``"95%"``, ``"93%"``: a level as printed (rounded down, never up)."""
    return f"{int(math.floor(100 * level + 1e-9))}%"


def why_no_interval(n_placebo: int, alpha: float = 0.05, *, what: str = "councils") -> str:
    """Plain-language reason why no interval is shown (or why it is below 95%)."""
    n = int(n_placebo)
    need = placebos_needed(alpha)
    full = level_text(1 - alpha)
    if n == 0:
        return (
            f"No interval is shown: there is no comparison council that never adopted, so "
            f"nothing shows how much this estimate would move by chance alone (a {full} interval "
            f"needs at least {need} such {what})."
        )
    lvl = achievable_level(n, alpha)
    if lvl < MIN_LEVEL:
        return (
            f"No interval is shown: with {n} comparison {what if n > 1 else what.rstrip('s')} "
            f"that never adopted, the smallest chance level this design can show is "
            f"{level_text(smallest_p(n))}, so it cannot tell an effect from chance at any useful "
            f"level (a {full} interval needs at least {need})."
        )
    if lvl < 1 - alpha - 1e-9:
        return (
            f"Intervals are {level_text(lvl)} intervals, not {full}: that is the most {n} "
            f"comparison {what} that never adopted can deliver (a {full} interval needs at "
            f"least {need})."
        )
    return ""
