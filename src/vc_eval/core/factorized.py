"""Column operations done once per distinct value.

Council extracts are long (a national needs extract has ~10 million rows)
but repeat few distinct values (ids, dates, domains, scores). Factorising a
column and working on its distinct values keeps the importer fast without
changing results; each helper here equals its plain pandas counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd


def apply_unique(
    values: pd.Series, func: Callable[[pd.Series], pd.Series], *, dtype=None
) -> pd.Series:
    """``func(values)`` computed on the distinct values only (missing stays missing).

    ``func`` takes and returns a Series of the same length; its result dtype
    is kept (or ``dtype``).
    """
    values = pd.Series(values, copy=False)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    res = func(pd.Series(uniques, dtype=values.dtype if dtype is None else None))
    arr = pd.array(res) if dtype is None else pd.array(res, dtype=dtype)
    return pd.Series(arr.take(codes, allow_fill=True), index=values.index)


def distinct_applied(
    values: pd.Series, func: Callable[[pd.Series], pd.Series]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``values`` and ``func`` applied to their distinct values only.

    ``out[codes]`` equals ``func(values).to_numpy()`` row for row (a missing
    value is one more distinct value, passed to ``func`` as it is); for work
    that can stay on the distinct values (sorting, searching) before going
    back to rows.
    """
    values = pd.Series(values, copy=False)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, func(pd.Series(uniques, dtype=values.dtype)).to_numpy()


def lookup(values: pd.Series, mapping: pd.Series) -> pd.Series:
    """``values.map(mapping)`` for a mapping Series with a unique index."""
    values = pd.Series(values, copy=False)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    found = mapping.reindex(pd.Index(uniques, dtype=mapping.index.dtype)).array
    return pd.Series(found.take(codes, allow_fill=True), index=values.index)


def isin(values: pd.Series, allowed: Iterable) -> np.ndarray:
    """``values.isin(allowed)`` as a boolean array (missing is never in).

    pandas' ``isin`` on Arrow-backed strings turns every allowed value into a
    Python object first (about 10 s for 240k child ids against a national
    table); for string columns Arrow's own ``is_in`` does it in a fraction of
    a second. Other columns are factorised and each distinct value looked up once.
    """
    values = pd.Series(values, copy=False)
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        found = _arrow_isin(values, allowed)
        if found is not None:
            return found
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    allowed = set(allowed)
    hit = np.fromiter((u in allowed for u in uniques), dtype=bool, count=len(uniques))
    return np.where(codes >= 0, hit[np.maximum(codes, 0)], False)


def _arrow_isin(values: pd.Series, allowed: Iterable) -> np.ndarray | None:
    """:func:`isin` by Arrow for a string column; None when ``allowed`` is not all strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values.array)
    if isinstance(allowed, pd.Series | pd.Index) and isinstance(allowed.dtype, pd.StringDtype):
        wanted = pa.array(allowed.array)
    else:
        allowed = list(allowed) if not isinstance(allowed, list | tuple) else allowed
        if not all(isinstance(v, str) for v in allowed):
            return None
        wanted = pa.array(allowed, type=arr.type)
    found = pc.is_in(arr, value_set=wanted.cast(arr.type).unique(), skip_nulls=True)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def combine(codes: list[np.ndarray]) -> np.ndarray:
    """One integer per distinct combination of several code arrays (each >= 0)."""
    key = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
    span = 1
    for c in codes:
        size = int(c.max()) + 2 if len(c) else 1
        if span * size >= 2**62:
            # compress the key so far before it could overflow
            key, first = pd.factorize(key)
            span = len(first)
        key = key * size + c
        span *= size
    return key


def group_codes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One integer per distinct combination of ``columns`` (missing is a value)."""
    return combine([pd.factorize(frame[c], use_na_sentinel=False)[0] for c in columns])


def duplicated(frame: pd.DataFrame, columns: list[str], keep: str | bool = "first") -> np.ndarray:
    """``frame.duplicated(columns, keep=keep)`` as a boolean array."""
    if not len(frame):
        return np.zeros(0, dtype=bool)
    return pd.Series(group_codes(frame, columns)).duplicated(keep=keep).to_numpy()


def to_number(values: pd.Series) -> pd.Series:
    """``pd.to_numeric(values.str.strip(), errors="coerce")`` as float."""

    def conv(u: pd.Series) -> pd.Series:
        return pd.to_numeric(u.astype("str").str.strip(), errors="coerce").astype(float)

    return apply_unique(values, conv, dtype="float64")


__all__ = ["apply_unique", "combine", "duplicated", "group_codes", "isin", "lookup", "to_number"]
