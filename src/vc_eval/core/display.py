"""Display rules, once: money, counts, percentages, intervals and labels.

Every number a summary, table or report states goes through one of these, so
"£1,234", "fewer than 6" and "12 to 15" look the same everywhere and an
interval is never shown with two equal ends.
"""

from __future__ import annotations

import math

from vc_eval.core import privacy


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def money(x: float, *, decimals: int = 0) -> str:
    """Pounds with thousands separators, minus sign before the £ (``-£1,200``)."""
    if not _finite(x):
        return "unknown"
    return f"{'-' if x < 0 else ''}£{abs(float(x)):,.{decimals}f}"


def count_text(n: float) -> str:
    """A count of children for a sentence: whole, and "fewer than 6" when 1-5."""
    if not _finite(n):
        return "unknown"
    n = int(round(float(n)))
    lo, hi = privacy.THRESHOLD
    return "fewer than 6" if lo <= n <= hi else f"{n:,}"


def safe_count(n: float) -> int | str | None:
    """A count for headline JSON: an int, or ``"c"`` when 1-5."""
    if not _finite(n):
        return None
    n = int(round(float(n)))
    lo, hi = privacy.THRESHOLD
    return privacy.SUPPRESSED if lo <= n <= hi else n


def percent(share: float, *, decimals: int = 0) -> str:
    """A share (0-1) as a percentage, whole by default (DfE rounding)."""
    if not _finite(share):
        return "unknown"
    return f"{100 * float(share):.{decimals}f}%"


def plural(n: int, one: str, many: str | None = None) -> str:
    """``"1 council"``, ``"3 councils"``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _fmt(x: float, decimals: int, unit: str) -> str:
    if unit == "£":
        return money(x, decimals=decimals)
    if unit == "%":
        return f"{x:.{decimals}f}%"
    if unit == "pp":
        return f"{x:.{decimals}f} pp"
    return f"{x:.{decimals}f}{unit}"


def interval(
    lo: float, hi: float, *, unit: str = "", decimals: int = 1, max_decimals: int = 4
) -> str:
    """An interval ``"lo to hi"`` whose two ends differ as printed.

    Adds decimals (up to ``max_decimals``) until the ends differ; an interval
    that is degenerate at that precision is said to be so rather than shown
    as ``"x to x"``.
    """
    if not (_finite(lo) and _finite(hi)):
        return "not available"
    lo, hi = float(lo), float(hi)
    d = decimals
    while d <= max_decimals:
        a, b = _fmt(lo, d, unit), _fmt(hi, d, unit)
        if a != b:
            return f"{a} to {b}"
        d += 1
    return f"{_fmt(lo, decimals, unit)} (no spread: the interval is degenerate)"


def estimate(x: float, lo: float | None = None, hi: float | None = None, **kw) -> str:
    """A point estimate with its interval in brackets when one is given."""
    unit, decimals = kw.get("unit", ""), kw.get("decimals", 1)
    point = _fmt(float(x), decimals, unit) if _finite(x) else "unknown"
    if lo is None or hi is None:
        return point
    return f"{point} (95% interval {interval(lo, hi, **kw)})"


def and_list(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = [str(i) for i in items]
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def label(key: str, framework=None) -> str:
    """The readable label of an id, from the one label table.

    Domain, outcome-area and ``total_need`` ids come from the framework
    (:meth:`vc_eval.core.framework.Framework.label`), placement types and
    outcome measures from the schema; anything else is returned as it is
    (never a raw id where a label exists).
    """
    from vc_eval.core.schema import OUTCOME_MEASURES, PLACEMENT_LABELS

    key = str(key)
    if framework is not None:
        try:
            return framework.label(key)
        except KeyError:
            pass
    if key in PLACEMENT_LABELS:
        return PLACEMENT_LABELS[key]
    if key in OUTCOME_MEASURES:
        return OUTCOME_MEASURES[key]
    if key == "total_need":
        return "Total need"
    return key


def labels(keys, framework=None, *, lower: bool = False) -> str:
    """Several labels joined as ``"a, b and c"`` (lower-cased with ``lower``)."""
    out = [label(k, framework) for k in keys]
    return and_list([x.lower() if lower else x for x in out])


def points(x: float, *, decimals: int = 1, signed: bool = False) -> str:
    """A score difference in points (``+2.3 points``)."""
    if not _finite(x):
        return "unknown"
    sign = "+" if signed else ""
    return f"{float(x):{sign}.{decimals}f} points"


def direction_word(est: float, lo: float, hi: float, *, up: str, down: str, neither: str) -> str:
    """The one rule for direction words: ``up`` or ``down`` only when the interval
    ``lo``-``hi`` excludes zero, else ``neither``."""
    if _finite(lo) and _finite(hi) and (lo > 0 or hi < 0):
        return up if est > 0 else down
    return neither
