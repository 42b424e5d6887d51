"""Disclosure control for every table and figure a report shows.

Follows the rules of the DfE's children's social care statistics:

* counts from 1 to 5 are shown as ``c`` (primary suppression); true zeros
  are shown as ``0``;
* further cells are hidden (secondary suppression) so that no hidden cell can
  be worked out from the totals a reader knows: the table's shown totals, or
  row and column sums published elsewhere;
* percentages built on hidden counts are hidden, the rest are rounded to
  whole numbers;
* a statistic (mean, median) about fewer than 6 children is hidden;
* no child, assessor or provider identifier may appear in a shown table.

How secondary suppression works
-------------------------------
A table with its margins is a set of linear equations (each row of cells sums
to its row total, each column to its column total). Hidden cells are the
unknowns. A hidden cell is *recoverable* when the equations pin its value,
which is exactly when its unit vector lies in the row space of the equations
restricted to the hidden cells (for a two-way table: when the hidden cell is a
"bridge" of the graph of hidden cells, e.g. the only hidden cell in a row).
:func:`suppress` checks this exactly with linear algebra and, while any hidden
cell is recoverable, hides more: in a two-way table the cheapest rectangle of
cells that puts the recoverable cell on a cycle of hidden cells (fewest new
cells, then smallest values; never true zeros or totals unless nothing else
works), otherwise the smallest visible cell in a line through it. Secondary
cells that turn out not to be needed are shown again (largest first).

A reader also knows that a hidden cell is at least 1 (true zeros are shown;
at least 0 if a zero had to be hidden). An audit then finds hidden cells
whose value is fixed by the sums *and* that bound (e.g. two hidden 1s in a
row whose total is known) exactly, with a few linear programs, and hides
more until none is; tests check each hidden cell's feasible range by linear
programming.

Limits: totals assumed known but not shown that are themselves 1-5 already
disclose a small group and can pin cells in their line (``notes`` says so;
show totals in the table so they are suppressed). Relations between
different tables (e.g. the same children counted in two reports) are not
considered.

The page as a whole
--------------------
Suppression per table does not stop a reader combining a sentence with a
table ("Of 18 children in children's homes, 11 ..." read beside a table that
hides the 11). :func:`audit_page` gathers every count a page states (table
cells and margins, the counts each sentence declares, headline counts) and,
per universe (the population counted), writes each as a sum of *atomic
cells*: the cross-product of every variable any of them conditions on, each
with an "other" value. Shown counts are equations; hidden ones (``c``,
"fewer than 6") are inequalities. The implicit equalities of that polyhedron
are found with a few linear programs (as for single tables), and then every
hidden count and every conjunction of conditions ("children's homes and
typical placement not foster") is checked at once by linear algebra: one
that is pinned to a value of 1-5 is a disclosure. :func:`audit_and_fix`
hides more table cells or withholds sentences until none is, and says so on
the page.

Public API: :func:`suppress` (two-way tables), :func:`suppress_long` (tidy
tables, protected within groups), :func:`suppress_stats`, :func:`safe_frame`,
:func:`drop_small_groups`, :class:`SuppressedTable`, :func:`audit_page`,
:func:`audit_and_fix`, :class:`PageAudit`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from vc_eval.core.schema import IDENTIFIER_COLUMNS

#: Counts in this inclusive range are hidden.
THRESHOLD: tuple[int, int] = (1, 5)
#: Smallest number of children a shown statistic or plotted mark may describe.
MIN_N = 6
#: Marker for a hidden value (DfE convention).
SUPPRESSED = "c"
#: Marker for a count that is not zero but is below 0.5% of its total.
LOW = "<1"
#: Default label of a totals row or column.
TOTAL = "Total"

Totals = Literal["both", "rows", "columns", "none"]


class DisclosureError(ValueError):
    """A table cannot be shown safely (identifiers present, or unprotectable)."""


# --------------------------------------------------------------------------
# Guards
# --------------------------------------------------------------------------


def label_key(value) -> str:
    """A label as the page audit compares it: text on one line, spaces collapsed (so a
    sentence's ``where``, a table's row and its ``cell_universes`` key agree)."""
    return " ".join(str(value).split())


def safe_frame(df: pd.DataFrame, *, extra: Iterable[str] = ()) -> pd.DataFrame:
    """Return ``df`` unchanged, or raise if it carries identifier columns.

    Parameters
    ----------
    df : DataFrame
        A frame about to be shown.
    extra : iterable of str
        More column names to treat as identifiers.

    Raises
    ------
    DisclosureError
        If a column or index level is named like an identifier
        (:data:`vc_eval.core.schema.IDENTIFIER_COLUMNS`).
    """
    banned = set(IDENTIFIER_COLUMNS) | set(extra)
    names = [str(c) for c in df.columns] + [str(n) for n in df.index.names if n is not None]
    if isinstance(df.columns, pd.MultiIndex):
        names += [str(x) for tup in df.columns for x in tup]
    found = sorted(banned & set(names))
    if found:
        raise DisclosureError(
            f"identifier column(s) {', '.join(found)} must not appear in a shown table; "
            "aggregate first"
        )
    return df


def drop_small_groups(
    df: pd.DataFrame,
    group_cols: str | Sequence[str],
    count: str,
    *,
    min_n: int = MIN_N,
) -> pd.DataFrame:
    """Keep only the rows of groups that describe at least ``min_n`` children.

    Use before plotting, so no mark is drawn for fewer than ``min_n`` children.

    Parameters
    ----------
    df : DataFrame
        Row-level or aggregated data.
    group_cols : str or sequence of str
        Columns defining the groups (one mark per group).
    count : str
        Either an identifier column (e.g. ``child_id``; its distinct values
        are counted per group) or a numeric count column (summed per group).
    min_n : int
        Smallest group size kept (default 6).

    Returns
    -------
    DataFrame
        The rows of ``df`` in large-enough groups, in their original order;
        ``.attrs["dropped_groups"]`` holds how many groups were dropped.
    """
    cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    grouped = df.groupby(cols, observed=True, dropna=False, sort=False)[count]
    if count in IDENTIFIER_COLUMNS or not pd.api.types.is_numeric_dtype(df[count]):
        size = grouped.transform("nunique")
    else:
        size = grouped.transform("sum")
    keep = size.to_numpy() >= min_n
    out = df.loc[keep].copy()
    n_groups = df.groupby(cols, observed=True, dropna=False).ngroups
    kept = out.groupby(cols, observed=True, dropna=False).ngroups if len(out) else 0
    out.attrs["dropped_groups"] = int(n_groups - kept)
    return out


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def format_count(value: float, hidden: bool = False) -> str:
    """A count as shown: ``c`` if hidden, else an integer with thousands commas."""
    if hidden:
        return SUPPRESSED
    return f"{int(round(value)):,}"


def format_percent(value: float, hidden: bool = False, *, count: float | None = None) -> str:
    """A percentage as shown: ``c`` if hidden, else a whole number.

    A non-zero count whose percentage rounds to 0 is shown as ``<1``.
    """
    if hidden:
        return SUPPRESSED
    if value is None or not np.isfinite(value):
        return "x"
    r = int(np.floor(value + 0.5))
    if r == 0 and count is not None and count > 0:
        return LOW
    return str(r)


def _format_stat(value: float, decimals: int) -> str:
    if value is None or not np.isfinite(value):
        return "x"
    return f"{value:,.{decimals}f}"


# --------------------------------------------------------------------------
# The protection engine (cells + linear equations)
# --------------------------------------------------------------------------


@dataclass
class _Problem:
    """Cells of a table, which are shown, and the sums a reader knows.

    ``values`` covers every cell of the extended grid (inner cells plus a
    totals row and column, shown or only known), laid out row-major in
    ``shape``; ``equations`` are (cell indices, signs) with sum(sign * x) = 0.
    """

    values: np.ndarray
    shown: np.ndarray  # bool: cell is displayed (so may be suppressed)
    margin: np.ndarray  # bool: cell is a total (suppressed only as a last resort)
    equations: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    shape: tuple[int, int] | None = None
    two_way: bool = False  # both row and column sums are known
    row_eq: bool = False  # each row's sum is known (shown or published)
    col_eq: bool = False  # each column's sum is known


def _determined(mask: np.ndarray, equations: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Which hidden cells the equations pin down (bool over all cells)."""
    out = np.zeros(mask.size, dtype=bool)
    unknown = np.flatnonzero(mask)
    if unknown.size == 0:
        return out
    pos = np.full(mask.size, -1)
    pos[unknown] = np.arange(unknown.size)
    rows = []
    for idx, sign in equations:
        sel = mask[idx]
        if sel.any():
            row = np.zeros(unknown.size)
            row[pos[idx[sel]]] = sign[sel]
            rows.append(row)
    if not rows:
        return out
    a = np.asarray(rows)
    _, s, vt = np.linalg.svd(a, full_matrices=True)
    rank = int((s > 1e-9 * max(1.0, s[0])).sum())
    null = vt[rank:]
    if null.shape[0] == 0:
        out[unknown] = True
        return out
    free = np.linalg.norm(null, axis=0) > 1e-8
    out[unknown[~free]] = True
    return out


def _rectangle(problem: _Problem, mask: np.ndarray, cell: int, allow_zero: bool) -> list[int]:
    """Cheapest rectangle of cells that puts ``cell`` on a cycle of hidden cells.

    Cost: new totals hidden, then number of new cells, then their sum.
    """
    nr, nc = problem.shape
    v = problem.values.reshape(nr, nc)
    ok = (problem.shown | mask).reshape(nr, nc)
    if not allow_zero:
        ok &= (v > 0) | mask.reshape(nr, nc)
    hid = mask.reshape(nr, nc)
    mar = problem.margin.reshape(nr, nc)
    a, b = divmod(cell, nc)
    new = (~hid).astype(float)
    cells_new = new[a, :][None, :] + new[:, b][:, None] + new
    value_new = (v * new)[a, :][None, :] + (v * new)[:, b][:, None] + v * new
    marg_new = (mar & ~hid).astype(float)
    margins_new = marg_new[a, :][None, :] + marg_new[:, b][:, None] + marg_new
    feasible = ok[a, :][None, :] & ok[:, b][:, None] & ok
    feasible[a, :] = False
    feasible[:, b] = False
    feasible &= cells_new > 0  # a rectangle already hidden adds nothing
    if not feasible.any():
        return []
    big = 1e12
    cost = margins_new * big * big + cells_new * big + value_new
    cost[~feasible] = np.inf
    a2, b2 = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return [int(x) for x in (a * nc + b2, a2 * nc + b, a2 * nc + b2) if not mask[x]]


def _line_choice(
    problem: _Problem, mask: np.ndarray, lines: list[int], allow_zero: bool
) -> list[int]:
    """Smallest visible cell (inner before totals) in the first line that has one."""
    v, shown, margin = problem.values, problem.shown, problem.margin
    for k in lines:
        idx = problem.equations[k][0]
        cand = idx[shown[idx] & ~mask[idx] & ((v[idx] > 0) | allow_zero)]
        if cand.size:
            order = np.lexsort((cand, v[cand], margin[cand]))
            return [int(cand[order[0]])]
    return []


def _fix_recoverable(problem: _Problem, mask: np.ndarray) -> None:
    """Hide cells until no hidden cell is pinned by the equations (in place)."""
    eqs, v = problem.equations, problem.values
    for _ in range(mask.size + 1):
        det = _determined(mask, eqs)
        if not det.any():
            return
        cells = np.flatnonzero(det)
        cell = int(cells[np.argmin(v[cells])])
        lines = sorted((int(mask[idx].sum()), k) for k, (idx, _) in enumerate(eqs) if cell in idx)
        line_ids = [k for _, k in lines]
        choice: list[int] = []
        for allow_zero in (False, True):
            if problem.two_way:
                choice = _rectangle(problem, mask, cell, allow_zero)
            if not choice:
                choice = _line_choice(problem, mask, line_ids, allow_zero)
            if choice:
                break
        if not choice:
            raise DisclosureError(
                "cannot protect this table: a hidden cell is recoverable from known totals "
                "even with every other cell in its rows and columns hidden"
            )
        mask[choice] = True
    raise DisclosureError("secondary suppression did not converge")  # pragma: no cover


def _prune(problem: _Problem, mask: np.ndarray, primary: np.ndarray) -> None:
    """Show again any secondary cell not needed (largest first), in place."""
    v = problem.values
    secondary = np.flatnonzero(mask & ~primary)
    for cell in secondary[np.argsort(-v[secondary], kind="stable")]:
        mask[cell] = False
        if _determined(mask, problem.equations).any():
            mask[cell] = True


def _equations_on(
    problem: _Problem, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The known sums as A x = b over the hidden cells x."""
    unknown = np.flatnonzero(mask)
    pos = np.full(mask.size, -1)
    pos[unknown] = np.arange(unknown.size)
    a_rows, b = [], []
    for idx, sign in problem.equations:
        sel = mask[idx]
        if not sel.any():
            continue
        row = np.zeros(unknown.size)
        row[pos[idx[sel]]] = sign[sel]
        a_rows.append(row)
        b.append(-float(np.dot(sign[~sel], problem.values[idx[~sel]])))
    if not a_rows:
        return unknown, None, None
    return unknown, np.asarray(a_rows), np.asarray(b)


def _pinned(problem: _Problem, mask: np.ndarray, lower: float) -> np.ndarray:
    """Hidden cells whose value is fixed by the known sums and the lower bound.

    Exact and cheap: the feasible set {A x = b, x >= lower} has affine hull
    {A x = b, x_i = lower for i in I}, where I are the cells forced to the
    bound in every solution (only cells whose true value is at the bound can
    be). I is found with a few LPs (maximise capped slacks; a cell with slack
    is not forced); a cell is then pinned when the equations plus ``x_I =
    lower`` determine it.
    """
    from scipy.optimize import linprog

    out = np.zeros(mask.size, dtype=bool)
    unknown, a_eq, b_eq = _equations_on(problem, mask)
    if unknown.size == 0 or a_eq is None:
        return out
    remaining = np.flatnonzero(problem.values[unknown] <= lower + 1e-9)
    forced = np.array([], dtype=int)
    n = unknown.size
    while remaining.size:
        m = remaining.size
        c = np.r_[np.zeros(n), -np.ones(m)]
        a_ub = np.zeros((m, n + m))
        a_ub[np.arange(m), remaining] = -1.0
        a_ub[np.arange(m), n + np.arange(m)] = 1.0
        res = linprog(
            c,
            A_ub=a_ub,
            b_ub=np.full(m, -lower),
            A_eq=np.hstack([a_eq, np.zeros((a_eq.shape[0], m))]),
            b_eq=b_eq,
            bounds=[(lower, None)] * n + [(0.0, 1.0)] * m,
            method="highs",
        )
        if res.status != 0:  # pragma: no cover - the true values are feasible
            break
        slack = res.x[n:]
        if slack.max() <= 1e-7:
            forced = remaining
            break
        remaining = remaining[slack <= 1e-7]
    if forced.size == 0:
        return out
    eqs = list(problem.equations) + [(np.array([unknown[i]]), np.array([1.0])) for i in forced]
    return _determined(mask, eqs)


def _protect(
    problem: _Problem, lo: int, hi: int, *, audit: bool = True
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Primary and final suppression masks, and whether zeros had to be hidden.

    Linear algebra makes sure no hidden cell is a function of the known sums.
    The audit then also uses what a reader knows about hidden cells: they are
    at least 1 (true zeros are shown) or, if a zero had to be hidden, at least
    0. A hidden cell whose range is still pinned (e.g. two hidden 1s in a row
    whose other cells and total are shown) gets more cells hidden in its tight
    lines.
    """
    v, shown = problem.values, problem.shown
    primary = shown & (v >= lo) & (v <= hi)
    mask = primary.copy()
    _fix_recoverable(problem, mask)
    _prune(problem, mask, primary)
    if audit:
        for _ in range(mask.size + 1):
            lower = 0.0 if (mask & (v == 0)).any() else 1.0
            pinned = _pinned(problem, mask, lower)
            if not pinned.any():
                break
            # A line is tight when its hidden cells all sit at the lower bound;
            # hide the best visible cell in a line through any pinned cell.
            lines = set()
            for k, (idx, _) in enumerate(problem.equations):
                if pinned[idx].any():
                    hid = idx[mask[idx]]
                    lines.add((not bool(np.all(v[hid] <= lower)), int(mask[idx].sum()), k))
            choice = _line_choice(problem, mask, [k for *_, k in sorted(lines)], False)
            if not choice and problem.two_way:
                for cell in np.flatnonzero(pinned):
                    choice = _rectangle(problem, mask, int(cell), False)
                    if choice:
                        break
            if not choice:
                break  # nothing left to hide without zeros; linear safety still holds
            mask[choice] = True
            _fix_recoverable(problem, mask)
    zeros = bool((mask & (v == 0)).any())
    return primary, mask, zeros


def feasible_ranges(problem: _Problem, mask: np.ndarray, *, lower: float = 0.0) -> pd.DataFrame:
    """Min and max each hidden cell can take given the known sums (linear programming).

    An audit aid: a hidden cell is safe when ``max - min > 0``.
    """
    from scipy.optimize import linprog

    unknown, a_eq, b_eq = _equations_on(problem, mask)
    out = []
    for j, cell in enumerate(unknown):
        c = np.zeros(unknown.size)
        c[j] = 1.0
        lo = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(lower, None), method="highs")
        hi = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=(lower, None), method="highs")
        vmax = np.inf if hi.status == 3 else -hi.fun
        out.append((int(cell), lo.fun, vmax))
    return pd.DataFrame(out, columns=["cell", "min", "max"])


def _small_total_notes(problems: list[_Problem], lo: int, hi: int) -> list[str]:
    """Warn when a total assumed known (but not shown) is itself 1-5."""
    n = 0
    for prob in problems:
        in_eq = np.zeros(prob.values.size, dtype=bool)
        for idx, _ in prob.equations:
            in_eq[idx] = True
        n += int(
            (in_eq & prob.margin & ~prob.shown & (prob.values >= lo) & (prob.values <= hi)).sum()
        )
    if not n:
        return []
    return [
        f"{n} total(s) assumed known to the reader are themselves {lo}-{hi}; such a total "
        "already discloses a small group, so cells in its line may be pinned by it. "
        "Show the totals in the table (so they are suppressed) or aggregate further."
    ]


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass
class SuppressedTable:
    """A table made safe to show.

    Attributes
    ----------
    table : DataFrame
        What may be shown: protected columns hold strings (``c`` for hidden,
        ``0`` for true zeros, whole numbers otherwise); other columns pass
        through unchanged.
    mask : DataFrame
        True where a count is hidden (same labels as the count cells).
    primary : DataFrame
        True where the count itself is in the suppressed range.
    raw : DataFrame
        The counts before suppression. Never show this.
    threshold : tuple of int
        Inclusive range of counts hidden by primary suppression.
    zeros_hidden : bool
        True if some true zeros had to be hidden to protect the table.
    notes : list of str
        Caveats for the reader of the code (e.g. a known total of 1-5).
    """

    table: pd.DataFrame
    mask: pd.DataFrame
    primary: pd.DataFrame
    raw: pd.DataFrame = field(repr=False)
    threshold: tuple[int, int] = THRESHOLD
    zeros_hidden: bool = False
    notes: list[str] = field(default_factory=list)
    _problems: list = field(default_factory=list, repr=False)
    _layout: dict = field(default_factory=dict, repr=False)

    @property
    def n_primary(self) -> int:
        return int(self.primary.to_numpy().sum())

    @property
    def n_suppressed(self) -> int:
        return int(self.mask.to_numpy().sum())

    @property
    def n_secondary(self) -> int:
        return self.n_suppressed - self.n_primary

    def to_frame(self) -> pd.DataFrame:
        """The shown table (strings in protected columns)."""
        return self.table.copy()

    def summary(self) -> str:
        lo, hi = self.threshold
        return (
            f"{self.n_primary} cell(s) with counts {lo}-{hi} hidden, "
            f"{self.n_secondary} more hidden so they cannot be worked out from totals"
            + (" (some true zeros hidden too)" if self.zeros_hidden else "")
        )

    def percent(self, of: Literal["row", "column", "total"] = "row") -> pd.DataFrame:
        """Percentages of a two-way table as strings, hidden where the count is.

        Only for tables from :func:`suppress`. The denominator is the row
        (column, grand) total; a percentage is hidden when its count is hidden
        or its denominator is a hidden shown total. Percentages reveal their
        totals, so they are only offered along totals the reader already knows
        (``totals`` given to :func:`suppress`).
        """
        lay = self._layout
        if lay.get("kind") != "wide":
            raise ValueError("percent() is for two-way tables from suppress()")
        if of not in ("row", "column", "total"):
            raise ValueError("of must be 'row', 'column' or 'total'")
        row_eq, col_eq = lay["row_eq"], lay["col_eq"]
        if (
            (of == "row" and not row_eq)
            or (of == "column" and not col_eq)
            or (of == "total" and not (row_eq or col_eq))
        ):
            raise DisclosureError(
                f"{of} percentages would reveal {of} totals this table was not protected "
                "against; call suppress(..., totals='both')"
            )
        prob: _Problem = self._problems[0]
        nr, nc = lay["shape"]
        ext = prob.values.reshape(nr, nc)
        ext_mask = lay["mask"].reshape(nr, nc)
        out = pd.DataFrame("", index=self.raw.index, columns=self.raw.columns, dtype=object)
        for i in range(len(self.raw.index)):
            for j in range(len(self.raw.columns)):
                a, b = divmod(int(lay["where"][i, j]), nc)
                da, db = {"row": (a, nc - 1), "column": (nr - 1, b), "total": (nr - 1, nc - 1)}[of]
                den = ext[da, db]
                hidden = bool(ext_mask[a, b]) or bool(ext_mask[da, db])
                v = ext[a, b]
                pct = 100.0 * v / den if den > 0 else np.nan
                out.iat[i, j] = format_percent(pct, hidden, count=v)
        return out

    def __str__(self) -> str:
        return self.table.to_string()

    def _repr_html_(self) -> str:
        return self.table.to_html()


# --------------------------------------------------------------------------
# Two-way tables
# --------------------------------------------------------------------------


def _check_counts(frame: pd.DataFrame) -> pd.DataFrame:
    try:
        num = frame.apply(pd.to_numeric).astype(float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"count columns must be numeric ({err})") from err
    arr = num.to_numpy()
    if np.isnan(arr).any():
        raise ValueError("counts must not be missing; fill absent combinations with 0")
    if (arr < 0).any() or (np.abs(arr - np.round(arr)) > 1e-9).any():
        raise ValueError("counts must be whole numbers >= 0")
    return num


def _grid_problem(
    grid: np.ndarray,
    *,
    total_row: int | None,
    total_col: int | None,
    totals: Totals,
) -> tuple[_Problem, np.ndarray]:
    """Build the cells and equations of a two-way table.

    Returns the problem over an extended grid (inner cells plus a totals row
    and column, shown or not) and the flat indices of the shown grid cells.
    """
    nr, nc = grid.shape
    inner_r = [i for i in range(nr) if i != total_row]
    inner_c = [j for j in range(nc) if j != total_col]
    r_, c_ = len(inner_r), len(inner_c)
    ext = np.zeros((r_ + 1, c_ + 1))
    shown = np.zeros((r_ + 1, c_ + 1), dtype=bool)
    where = np.full((nr, nc), -1)
    w = c_ + 1
    for a, i in enumerate(inner_r):
        for b, j in enumerate(inner_c):
            ext[a, b] = grid[i, j]
            shown[a, b] = True
            where[i, j] = a * w + b
    inner = ext[:r_, :c_]
    ext[:r_, c_] = inner.sum(axis=1)
    ext[r_, :c_] = inner.sum(axis=0)
    ext[r_, c_] = inner.sum()
    if total_col is not None:
        for a, i in enumerate(inner_r):
            where[i, total_col] = a * w + c_
            shown[a, c_] = True
        if not np.allclose(grid[inner_r, total_col], ext[:r_, c_]):
            raise ValueError("the totals column does not equal the sum of the other columns")
    if total_row is not None:
        for b, j in enumerate(inner_c):
            where[total_row, j] = r_ * w + b
            shown[r_, b] = True
        if not np.allclose(grid[total_row, inner_c], ext[r_, :c_]):
            raise ValueError("the totals row does not equal the sum of the other rows")
    if total_row is not None and total_col is not None:
        where[total_row, total_col] = r_ * w + c_
        shown[r_, c_] = True
        if not np.isclose(grid[total_row, total_col], ext[r_, c_]):
            raise ValueError("the grand total does not equal the sum of the inner cells")
    margin = np.zeros_like(shown)
    margin[r_, :] = True
    margin[:, c_] = True
    # A hidden total over a single cell is the cell itself: not extra
    # knowledge to protect against.
    row_eq = (total_col is not None or totals in ("both", "rows")) and not (
        c_ == 1 and total_col is None
    )
    col_eq = (total_row is not None or totals in ("both", "columns")) and not (
        r_ == 1 and total_row is None
    )
    eqs: list[tuple[np.ndarray, np.ndarray]] = []
    if row_eq:
        for a in range(r_ + 1):
            if a == r_ and not col_eq:
                continue
            idx = np.array([a * w + b for b in range(c_ + 1)])
            eqs.append((idx, np.r_[np.ones(c_), -1.0]))
    if col_eq:
        for b in range(c_ + 1):
            if b == c_ and not row_eq:
                continue
            idx = np.array([a * w + b for a in range(r_ + 1)])
            eqs.append((idx, np.r_[np.ones(r_), -1.0]))
    two_way = row_eq and col_eq and r_ >= 2 and c_ >= 2
    prob = _Problem(
        ext.ravel(), shown.ravel(), margin.ravel(), eqs, (r_ + 1, c_ + 1), two_way, row_eq, col_eq
    )
    return prob, where


def _find_label(labels: pd.Index, label: str) -> int | None:
    hits = [k for k, x in enumerate(labels) if str(x) == label]
    if len(hits) > 1:
        raise ValueError(f"more than one '{label}' row or column")
    return hits[0] if hits else None


def suppress(
    table: pd.DataFrame,
    *,
    count_cols: Sequence[str] | None = None,
    threshold: tuple[int, int] = THRESHOLD,
    totals: Totals = "both",
    total_label: str = TOTAL,
) -> SuppressedTable:
    """Protect a two-way table of counts (rows x columns, optionally with margins).

    Parameters
    ----------
    table : DataFrame
        Counts; the index holds the row categories, the count columns the
        column categories. A row and/or column labelled ``total_label`` is
        taken as the shown margin and must equal the sums.
    count_cols : sequence of str, optional
        The count columns (default: all columns). Other columns pass through.
    threshold : (int, int)
        Inclusive range of counts hidden (default 1-5).
    totals : {"both", "rows", "columns", "none"}
        Which sums the reader may know even when not shown: "rows" means each
        row's total across the columns, "columns" each column's total. The
        safe default assumes both are known (e.g. published elsewhere).
        Use "none" only for tables whose cells do not add up to anything.
    total_label : str
        Label of shown totals rows/columns.

    Returns
    -------
    SuppressedTable
        ``.table`` is safe to show; ``.percent(of=...)`` gives percentages.

    Raises
    ------
    DisclosureError
        If the table has identifier columns, or cannot be protected.
    ValueError
        If counts are not whole non-negative numbers or totals do not add up.
    """
    safe_frame(table)
    cols = list(table.columns) if count_cols is None else list(count_cols)
    counts = _check_counts(table[cols])
    lo, hi = threshold
    tr = _find_label(counts.index, total_label)
    tc = _find_label(pd.Index(cols), total_label)
    if totals not in ("both", "rows", "columns", "none"):
        raise ValueError("totals must be 'both', 'rows', 'columns' or 'none'")
    grid = counts.to_numpy()
    prob, where = _grid_problem(grid, total_row=tr, total_col=tc, totals=totals)
    primary_x, mask_x, zeros = _protect(prob, lo, hi)
    mask = pd.DataFrame(mask_x[where], index=counts.index, columns=cols)
    primary = pd.DataFrame(primary_x[where], index=counts.index, columns=cols)
    shown = table.copy()
    for c in cols:
        shown[c] = [format_count(v, m) for v, m in zip(counts[c], mask[c], strict=True)]
        shown[c] = shown[c].astype(object)
    layout = {
        "kind": "wide",
        "row_eq": prob.row_eq,
        "col_eq": prob.col_eq,
        "shape": prob.shape,
        "where": where,
        "mask": mask_x,
    }
    notes = _small_total_notes([prob], lo, hi)
    return SuppressedTable(shown, mask, primary, counts, (lo, hi), zeros, notes, [prob], layout)


# --------------------------------------------------------------------------
# Long (tidy) tables
# --------------------------------------------------------------------------


def suppress_long(
    df: pd.DataFrame,
    *,
    count_col: str,
    within: str | Sequence[str] = (),
    rows: str | None = None,
    columns: str | None = None,
    totals: Totals = "both",
    total_label: str = TOTAL,
    threshold: tuple[int, int] = THRESHOLD,
    percent_cols: Mapping[str, str] | Sequence[str] | None = None,
    stat_cols: Sequence[str] = (),
    n_col: str | None = None,
    min_n: int = MIN_N,
    stat_decimals: int = 1,
) -> SuppressedTable:
    """Protect a tidy table of counts, separately within each group.

    Within each group (rows sharing the values of ``within``):

    * with ``columns=None`` the group's counts are one list whose sum the
      reader may know (e.g. band counts of one domain summing to the children
      assessed); a row whose ``rows`` value is ``total_label`` is the shown total;
    * with ``rows`` and ``columns`` the group is a two-way table protected as
      by :func:`suppress` with ``totals``.

    Parameters
    ----------
    df : DataFrame
        Tidy table, one row per cell.
    count_col : str
        The count column.
    within : str or sequence of str
        Group columns; groups are protected separately (their counts do not
        add up across groups).
    rows, columns : str, optional
        Category columns of the cells within a group (see above).
    totals : {"both", "rows", "columns", "none"}
        Known sums (two-way case). In the one-way case anything but "none"
        means the group total is known.
    percent_cols : mapping or sequence, optional
        Percentage columns computed from ``count_col`` (a mapping may name the
        count each percentage comes from). Hidden where the count is, rounded
        to whole numbers elsewhere.
    stat_cols : sequence of str
        Statistics (means, medians) hidden where ``n_col`` is below ``min_n``.
    n_col : str, optional
        The number of children behind each statistic (default ``count_col``).
    min_n : int
        Smallest number of children a statistic may describe.
    stat_decimals : int
        Decimals shown for statistics.

    Returns
    -------
    SuppressedTable
        ``.table`` is ``df`` with the protected columns as strings.
    """
    safe_frame(df)
    within = [within] if isinstance(within, str) else list(within)
    lo, hi = threshold
    counts = _check_counts(df[[count_col]])[count_col]
    if percent_cols is not None and totals == "none":
        raise DisclosureError(
            "percentages reveal their totals; protect with totals known (not 'none')"
        )
    mask = pd.Series(False, index=df.index)
    primary = pd.Series(False, index=df.index)
    # Percentages of a group whose shown total is hidden would reveal it.
    total_hidden = pd.Series(False, index=df.index)
    zeros_any = False
    problems = []
    groups = (
        df.groupby(within, sort=False, dropna=False).indices if within else {(): np.arange(len(df))}
    )
    for pos in groups.values():
        sub = df.iloc[pos]
        sub_counts = counts.iloc[pos]
        if columns is None:
            labels = sub[rows].astype(str).to_numpy() if rows else np.arange(len(sub)).astype(str)
            if len(set(labels)) != len(labels):
                raise ValueError(f"duplicate '{rows}' values within a group of {within}")
            grid = sub_counts.to_numpy()[:, None]
            tr = _find_label(pd.Index(labels), total_label) if rows else None
            prob, where = _grid_problem(
                grid, total_row=tr, total_col=None, totals="columns" if totals != "none" else "none"
            )
            p, m, z = _protect(prob, lo, hi)
            flat = where[:, 0]
            if tr is not None and m[flat[tr]]:
                total_hidden.iloc[pos] = True
        else:
            if rows is None:
                raise ValueError("rows= is needed with columns=")
            key = sub[[rows, columns]].astype(str)
            if key.duplicated().any():
                raise ValueError(f"duplicate ({rows}, {columns}) cells within a group of {within}")
            r_labels = pd.Index(pd.unique(key[rows]))
            c_labels = pd.Index(pd.unique(key[columns]))
            grid = np.zeros((len(r_labels), len(c_labels)))
            ri = r_labels.get_indexer(key[rows])
            ci = c_labels.get_indexer(key[columns])
            grid[ri, ci] = sub_counts.to_numpy()
            tr = _find_label(r_labels, total_label)
            tc = _find_label(c_labels, total_label)
            prob, where = _grid_problem(grid, total_row=tr, total_col=tc, totals=totals)
            p, m, z = _protect(prob, lo, hi)
            flat = where[ri, ci]
        zeros_any |= z
        problems.append(prob)
        mask.iloc[pos] = m[flat]
        primary.iloc[pos] = p[flat]
    shown = df.copy()
    shown[count_col] = pd.Series(
        [format_count(v, h) for v, h in zip(counts, mask, strict=True)],
        index=df.index,
        dtype=object,
    )
    if percent_cols is not None:
        pmap = (
            dict(percent_cols)
            if isinstance(percent_cols, Mapping)
            else {c: count_col for c in percent_cols}
        )
        for pc, cc in pmap.items():
            if cc != count_col:
                raise ValueError(f"percent column {pc!r} must come from {count_col!r}")
            vals = pd.to_numeric(df[pc]).astype(float)
            shown[pc] = pd.Series(
                [
                    format_percent(v, h, count=n)
                    for v, h, n in zip(vals, mask | total_hidden, counts, strict=True)
                ],
                index=df.index,
                dtype=object,
            )
    if stat_cols:
        stats = suppress_stats(
            df, n_col=n_col or count_col, stat_cols=stat_cols, min_n=min_n, decimals=stat_decimals
        )
        for sc in stat_cols:
            shown[sc] = stats[sc]
    return SuppressedTable(
        shown,
        mask.to_frame(count_col),
        primary.to_frame(count_col),
        counts.to_frame(count_col),
        (lo, hi),
        zeros_any,
        _small_total_notes(problems, lo, hi),
        problems,
        {"kind": "long"},
    )


def suppress_stats(
    df: pd.DataFrame,
    *,
    n_col: str,
    stat_cols: Sequence[str],
    min_n: int = MIN_N,
    decimals: int = 1,
) -> pd.DataFrame:
    """Hide statistics about fewer than ``min_n`` children.

    Parameters
    ----------
    df : DataFrame
        A table with one statistic per row per column in ``stat_cols``.
    n_col : str
        Number of children behind each row's statistics.
    stat_cols : sequence of str
        Columns to protect.
    min_n : int
        Smallest number of children a shown statistic may describe.
    decimals : int
        Decimals shown.

    Returns
    -------
    DataFrame
        A copy with ``stat_cols`` as strings (``c`` where hidden). The
        ``n_col`` is left as it is: pass counts through :func:`suppress` or
        :func:`suppress_long` to show them.
    """
    safe_frame(df)
    n = pd.to_numeric(df[n_col]).to_numpy(dtype=float)
    small = ~(n >= min_n)
    out = df.copy()
    for sc in stat_cols:
        vals = pd.to_numeric(df[sc]).to_numpy(dtype=float)
        out[sc] = pd.Series(
            [
                SUPPRESSED if h else _format_stat(v, decimals)
                for v, h in zip(vals, small, strict=True)
            ],
            index=df.index,
            dtype=object,
        )
    return out


# --------------------------------------------------------------------------
# The page as a whole
# --------------------------------------------------------------------------

#: Value of a variable not named by any count on the page.
_OTHER = "\x00other"
#: Largest number of atomic cells audited in one universe.
MAX_ATOMS = 20_000


@dataclass
class _Entry:
    """One count the page states, as a set of conditions within a universe."""

    universe: str
    where: tuple[tuple[str, str], ...]
    value: int | None  # None: hidden (shown as c or "fewer than 6")
    lo: float = 0.0  # bounds a reader knows for a hidden count
    hi: float | None = None
    source: tuple = ()  # ("table", s, t, row, col) | ("finding", s, f) | ("headline", s, key)
    margin: bool = False
    #: (variable, values): only children whose value is none of these (a
    #: table's categories are exhaustive when it shows their total).
    outside: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: (variable, values): only children whose value is one of these.
    among: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Where the count is stated (a table's caption, a finding's key), for messages.
    what: str = ""


@dataclass
class PageAudit:
    """What :func:`audit_page` found and did.

    Attributes
    ----------
    violations : list of dict
        Counts of 1-5 a reader could work out from the page as given
        (``universe``, ``where``, ``value``, ``kind``).
    remaining : list of dict
        The same after fixing (empty unless ``fix=False``).
    summaries : list
        The summaries as they may be shown (copies; fixed when ``fix=True``).
    hidden : list of str
        Table cells hidden by the audit.
    withheld : list of str
        Sentences (and headline counts) withheld by the audit.
    headline_withheld : list of str
        Keys of ``headline_counts`` the page must not state.
    unaudited : list of str
        Tables with counts but no ``universe`` (checked alone by
        :func:`suppress`, not against the rest of the page).
    notes : list of str
        Plain-language notes for the report.
    figures_withheld : list of str
        Figures withheld by the audit (a mark for fewer than 6 children, or
        counts that read with the page reveal a count of 1-5), with why.
    figures_unchecked : list of str
        Figures that declare no ``marks`` (the fewer-than-6 rule could not
        be checked for them).
    figure_counts : list of str
        Where each count a figure declares was gathered (for benchmarks).
    """

    violations: list[dict] = field(default_factory=list)
    remaining: list[dict] = field(default_factory=list)
    summaries: list = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    headline_withheld: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures_withheld: list[str] = field(default_factory=list)
    figures_unchecked: list[str] = field(default_factory=list)
    figure_counts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.remaining


def _parse_shown(text) -> int | None | str:
    """A shown count cell: int, ``"c"`` when hidden, None when not a count."""
    if text is None:
        return None
    t = str(text).strip().replace(",", "")
    if t == SUPPRESSED:
        return SUPPRESSED
    if t.isdigit():
        return int(t)
    try:
        f = float(t)
    except ValueError:
        return None
    return int(round(f)) if np.isfinite(f) and abs(f - round(f)) < 1e-9 and f >= 0 else None


def _count_columns(table) -> tuple[list[str], list[str]]:
    kinds = getattr(table, "kinds", {}) or {}
    cols = [str(c) for c in table.frame.columns]
    return (
        [c for c in cols if kinds.get(c) == "label"],
        [c for c in cols if kinds.get(c) == "count"],
    )


def _table_entries(table, s: int, t: int) -> list[_Entry]:
    """The counts a table states, with the conditions each cell implies.

    Label columns condition on their value (variable: the column name, or
    ``table.dims[column]``); a label equal to ``Total`` conditions on
    nothing (a margin). With ``table.columns_dim`` the count columns are the
    values of that variable (a trailing " (n)" dropped; ``Total`` is the
    margin); without it, several count columns are separate measures.
    ``table.column_universes`` gives a count column a universe of its own
    (labels condition as usual), and ``table.cell_universes`` a cell (keyed
    by the row's first label and the column; the first label then names
    the universe, not a condition); cells with neither and no table
    universe are not read.
    """
    universe = getattr(table, "universe", None)
    col_unis = dict(getattr(table, "column_universes", None) or {})
    cell_unis = {
        (label_key(r), c): u for (r, c), u in (getattr(table, "cell_universes", None) or {}).items()
    }
    labels, counts = _count_columns(table)
    if not (universe or col_unis or cell_unis) or not counts:
        return []
    dims = dict(getattr(table, "dims", None) or {})
    col_dim = getattr(table, "columns_dim", None)
    row_var = getattr(table, "row_variable", None)
    if row_var:
        return _row_variable_entries(table, s, t, labels, counts, row_var)
    frame = table.frame
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    out = []
    for r in range(len(frame)):
        cond, margin = [], False
        rest, rest_margin = [], False  # the same without the first label column
        for k, c in enumerate(labels):
            v = label_key(frame.iat[r, frame.columns.get_loc(c)])
            if v == TOTAL:
                margin = True
                rest_margin |= k > 0
            else:
                cond.append((dims.get(c, c), v))
                rest += [(dims.get(c, c), v)] if k > 0 else []
        first = label_key(frame.iat[r, frame.columns.get_loc(labels[0])]) if labels else None
        for c in counts:
            shown = _parse_shown(frame.iat[r, frame.columns.get_loc(c)])
            if shown is None:
                continue
            uni, where, m = universe, list(cond), margin
            if (first, c) in cell_unis:
                # The row is a population of its own: its first label names it.
                uni, where, m = cell_unis[(first, c)], list(rest), rest_margin
            elif c in col_unis:
                uni = col_unis[c]
            elif not universe:
                continue
            elif col_dim:
                name = c[:-4] if c.endswith(" (n)") else c
                if name == TOTAL:
                    m = True
                else:
                    where.append((col_dim, name))
            elif len(counts) > 1:
                # Separate measures: related to nothing outside this table.
                uni = f"{universe}#{table.caption}#{c}"
            hidden = shown == SUPPRESSED
            out.append(
                _Entry(
                    uni,
                    tuple(sorted(where)),
                    None if hidden else int(shown),
                    1.0 if hidden else 0.0,
                    None,
                    ("table", s, t, r, c),
                    m,
                )
            )
    return out + _exhaustive(out, labels, counts, dims, col_dim)


def _row_variable_entries(table, s: int, t: int, labels, counts, row_var: str) -> list[_Entry]:
    """A table whose rows each count the same children by their own variable
    (``Table.row_variable``): cell (row, column) is "the row's variable has
    the column's value"; a ``Total`` column is the row's margin and says the
    row's columns are every value the variable takes."""
    if len(labels) != 1:
        raise ValueError(f"table {table.caption!r}: row_variable needs one label column")
    frame = table.frame.set_axis([str(c) for c in table.frame.columns], axis=1)
    out = []
    for r in range(len(frame)):
        label = label_key(frame.iat[r, frame.columns.get_loc(labels[0])])
        var = row_var.format(label)
        row = []
        for c in counts:
            shown = _parse_shown(frame.iat[r, frame.columns.get_loc(c)])
            if shown is None:
                continue
            name = c[:-4] if c.endswith(" (n)") else c
            margin = name == TOTAL
            hidden = shown == SUPPRESSED
            row.append(
                _Entry(
                    table.universe,
                    () if margin else ((var, name),),
                    None if hidden else int(shown),
                    1.0 if hidden else 0.0,
                    None,
                    ("table", s, t, r, c),
                    margin,
                )
            )
        vals = tuple(sorted(v for e in row for _, v in e.where))
        if any(e.margin for e in row):
            out.append(_Entry(table.universe, (), 0, outside=((var, vals),), source=("structure",)))
        out += row
    return out


def _exhaustive(cells: list[_Entry], labels, counts, dims, col_dim) -> list[_Entry]:
    """A shown total says the table's categories are all there is: no child of
    the row (column) falls outside the shown columns (rows)."""
    out = []
    by_row: dict[int, list[_Entry]] = {}
    for e in cells:
        by_row.setdefault(e.source[3], []).append(e)
    if col_dim:
        for row in by_row.values():
            names = [e.source[4] for e in row]
            if _has_total(names):
                vals = tuple(sorted(v for e in row for a, v in e.where if a == col_dim))
                base = tuple(sorted(w for w in row[0].where if w[0] != col_dim))
                out.append(
                    _Entry(
                        row[0].universe, base, 0, outside=((col_dim, vals),), source=("structure",)
                    )
                )
    if len(labels) == 1:
        var = dims.get(labels[0], labels[0])
        by_col: dict[str, list[_Entry]] = {}
        for e in cells:
            by_col.setdefault(e.source[4], []).append(e)
        for col in by_col.values():
            if any(e.margin and not any(a == var for a, _ in e.where) for e in col):
                vals = tuple(sorted(v for e in col for a, v in e.where if a == var))
                tot = next(e for e in col if not any(a == var for a, _ in e.where))
                out.append(
                    _Entry(
                        tot.universe, tot.where, 0, outside=((var, vals),), source=("structure",)
                    )
                )
    return out


def _has_universe(table) -> bool:
    """Whether a table says what its counts count (a universe, per column or per cell)."""
    return bool(
        getattr(table, "universe", None)
        or getattr(table, "column_universes", None)
        or getattr(table, "cell_universes", None)
    )


def _has_total(names) -> bool:
    return any(n == TOTAL for n in names)


def _count_entry(count, source: tuple) -> _Entry:
    lo, hi = THRESHOLD
    v = int(round(float(count.value)))
    where = tuple(sorted((str(a), label_key(b)) for a, b in count.where))
    among = tuple(
        sorted(
            (str(a), tuple(sorted(label_key(x) for x in vs)))
            for a, vs in (getattr(count, "any_of", ()) or ())
        )
    )
    if lo <= v <= hi:  # stated as "fewer than 6": the reader knows only the range
        return _Entry(count.universe, where, None, float(lo), float(hi), source, among=among)
    return _Entry(count.universe, where, v, 0.0, None, source, among=among)


def _is_count(x) -> bool:
    return all(hasattr(x, a) for a in ("value", "universe", "where"))


def _page_entries(summaries, headline_counts) -> tuple[list[_Entry], list[str]]:
    entries, unaudited = [], []
    for s, summ in enumerate(summaries):
        for t, table in enumerate(getattr(summ, "tables", []) or []):
            got = _table_entries(table, s, t)
            for e in got:
                e.what = f"table {str(table.caption)!r}"
            if not got and _count_columns(table)[1] and not _has_universe(table):
                unaudited.append(str(table.caption))
            entries += got
            for k, count in enumerate(getattr(table, "implied", ()) or ()):
                entries.append(_count_entry(count, ("implied", s, t, k)))
                entries[-1].what = f"table {str(table.caption)!r} (implied)"
        for j, fig in enumerate(getattr(summ, "figures", []) or []):
            for k, count in enumerate(getattr(fig, "counts", ()) or ()):
                entries.append(_count_entry(count, ("figure", s, j, k)))
                entries[-1].what = f"figure {_figure_name(fig)!r}"
        for f, finding in enumerate(getattr(summ, "findings", []) or []):
            for count in getattr(finding, "counts", ()) or ():
                entries.append(_count_entry(count, ("finding", s, f)))
                entries[-1].what = f"finding {getattr(finding, 'key', f)!r}"
        for key, val in (getattr(summ, "headline", {}) or {}).items():
            if _is_count(val):
                entries.append(_count_entry(val, ("headline", s, key)))
                entries[-1].what = f"headline {key!r}"
    for key, val in (headline_counts or {}).items():
        entries.append(_count_entry(val, ("headline", -1, key)))
        entries[-1].what = f"headline {key!r}"
    return entries, unaudited


def _figure_name(fig) -> str:
    return str(getattr(fig, "caption", "") or getattr(fig, "alt", ""))[:80]


def _atoms(entries: list[_Entry]) -> tuple[list[str], list[list[str]]]:
    vals: dict[str, set[str]] = {}
    for e in entries:
        for var, v in e.where:
            vals.setdefault(var, set()).add(v)
        for var, vs in (*e.outside, *e.among):
            vals.setdefault(var, set()).update(vs)
    names = sorted(vals)
    return names, [sorted(vals[n]) + [_OTHER] for n in names]


def _indicator(entry: _Entry, names, values, shape) -> np.ndarray:
    """0/1 array over the atoms (shape ``shape``) of the children a count covers."""
    ind = np.ones(shape, dtype=bool)
    for var, v in entry.where:
        k = names.index(var)
        sel = np.zeros(shape[k], dtype=bool)
        sel[values[k].index(v)] = True
        ind &= sel.reshape([-1 if i == k else 1 for i in range(len(shape))])
    for var, vals in entry.outside:
        k = names.index(var)
        sel = np.array([v not in vals for v in values[k]])
        ind &= sel.reshape([-1 if i == k else 1 for i in range(len(shape))])
    for var, vals in entry.among:
        k = names.index(var)
        sel = np.array([v in vals for v in values[k]])
        ind &= sel.reshape([-1 if i == k else 1 for i in range(len(shape))])
    return ind.ravel()


#: Largest linear program (rows x columns) the audit builds as dense arrays.
_DENSE_LP_CELLS = 2_000_000


def _dense_lp(rows: int, columns: int) -> bool:
    """Whether a program of this size is built dense: page universes are small, and
    dense arrays spare linprog most of its set-up per program (sparse stacking and
    checks cost several times HiGHS's own solve); HiGHS gets the same matrix either
    way (linprog stores both as compressed columns, without zeros)."""
    return rows * columns <= _DENSE_LP_CELLS


def _implicit_equalities(a_eq, b_eq: np.ndarray, g, h: np.ndarray):
    """A feasible point of {A x = b, G x <= h} and which rows of G hold with
    equality at every feasible point (None if infeasible).

    Maximises capped slacks (a row with slack is not an implicit equality)
    until the remaining rows have none: a few linear programs. The cap is
    small (1 / number of rows) so that one program can give every slack row
    some slack at once (a cap of 1 lets a total of 10 free only 10 atoms per
    program).
    """
    from scipy import sparse
    from scipy.optimize import linprog

    n, m = g.shape[1], g.shape[0]
    dense = _dense_lp(m, n + m)
    if dense:
        g = g.toarray() if sparse.issparse(g) else np.asarray(g, dtype=float)
        a_eq = a_eq.toarray() if sparse.issparse(a_eq) else np.asarray(a_eq, dtype=float)
        a_eq = a_eq if a_eq.shape[0] else None
    else:
        g = sparse.csr_matrix(g)
        a_eq = sparse.csr_matrix(a_eq) if a_eq.shape[0] else None
    cand = np.arange(m)
    cap = 1.0 / (m + 1)
    while True:
        k = cand.size
        if dense:
            t = np.zeros((m, k))
            t[cand, np.arange(k)] = 1.0
            a_ub = np.hstack([g, t])
            a_eq_k = np.hstack([a_eq, np.zeros((a_eq.shape[0], k))]) if a_eq is not None else None
        else:
            t = sparse.csr_matrix((np.ones(k), (cand, np.arange(k))), shape=(m, k))
            a_ub = sparse.hstack([g, t]).tocsr()
            a_eq_k = (
                sparse.hstack([a_eq, sparse.csr_matrix((a_eq.shape[0], k))]).tocsr()
                if a_eq is not None
                else None
            )
        res = linprog(
            np.r_[np.zeros(n), -np.ones(k)],
            A_ub=a_ub,
            b_ub=h,
            A_eq=a_eq_k,
            b_eq=b_eq if a_eq is not None else None,
            bounds=[(None, None)] * n + [(0.0, cap)] * k,
            method="highs",
        )
        if res.status != 0:
            return None, cand
        x0, slack = res.x[:n], res.x[n:]
        if k == 0 or slack.max() <= 1e-4 * cap:
            return x0, cand
        cand = cand[slack <= 1e-4 * cap]


def _reader_bounds(entries: list[_Entry], ind_b: np.ndarray) -> np.ndarray | None:
    """Lower bound a reader can assume for each hidden entry (others: 0).

    A ``c`` is at least 1 (true zeros are shown), unless the page shows that
    some ``c`` must be a hidden zero (secondary suppression hides zeros as a
    last resort): then the fewest cells that must be zero are relaxed to 0,
    found by one linear program. None if the page contradicts itself.
    """
    from scipy.optimize import linprog

    lo = np.array([e.lo if e.value is None else 0.0 for e in entries])
    hid = [i for i, e in enumerate(entries) if e.value is None]
    can = [i for i in hid if entries[i].hi is None and entries[i].lo > 0]
    nb = ind_b.shape[1]
    k = len(can)
    eq = [i for i, e in enumerate(entries) if e.value is not None]
    a_eq = np.hstack([ind_b[eq], np.zeros((len(eq), k))]) if eq else None
    b_eq = [entries[i].value for i in eq] or None
    a_ub, b_ub = [], []
    for i in hid:
        row = np.r_[-ind_b[i], np.zeros(k)]
        if i in can:
            row[nb + can.index(i)] = -1.0  # x_i + r_i >= lo_i
        a_ub.append(row)
        b_ub.append(-lo[i])
        if entries[i].hi is not None:
            a_ub.append(np.r_[ind_b[i], np.zeros(k)])
            b_ub.append(entries[i].hi)
    res = linprog(
        np.r_[np.zeros(nb), np.ones(k)],
        A_eq=a_eq,
        b_eq=b_eq,
        A_ub=np.array(a_ub) if a_ub else None,
        b_ub=b_ub or None,
        bounds=[(0, None)] * nb + [(0.0, float(lo[i])) for i in can],
        method="highs",
    )
    if res.status != 0:
        return None
    for j, i in enumerate(can):
        if res.x[nb + j] > 1e-7:
            lo[i] = 0.0
    return lo


def _audit_universe(entries: list[_Entry]) -> list[dict]:
    """Counts of 1-5 a reader can pin down from the entries of one universe.

    Atoms that belong to exactly the same stated counts are interchangeable,
    so the linear programs run over those classes ("blocks"), not atoms: a
    block's total is what the page constrains. A set of atoms (a conjunction
    cell) is then pinned exactly when it takes each block that can be
    non-zero wholly or not at all, and its block vector lies in the row space
    of the equations that hold at every feasible point.
    """
    from scipy import sparse

    lo_t, hi_t = THRESHOLD
    names, values = _atoms(entries)
    shape = tuple(len(v) for v in values)
    n = int(np.prod(shape)) if shape else 1
    cells = int(np.prod([s + 1 for s in shape])) if shape else 1
    if n > MAX_ATOMS or cells > MAX_ATOMS * 4:
        raise DisclosureError(
            f"universe {entries[0].universe!r} has {n} atomic cells (variables "
            f"{', '.join(names)}); too many to audit; state fewer cross-classifications"
        )
    ind = np.array([_indicator(e, names, values, shape) for e in entries], dtype=bool)
    sig, block_of = np.unique(ind.T, axis=0, return_inverse=True)
    block_of = block_of.ravel()
    nb = sig.shape[0]
    size = np.bincount(block_of, minlength=nb).astype(float)
    ind_b = sig.T.astype(float)  # entry x block: each entry holds whole blocks
    shown = np.array([e.value is not None for e in entries])
    a_eq = ind_b[shown]
    b_eq = np.array([e.value for e in entries if e.value is not None], dtype=float)
    hidden = [i for i, e in enumerate(entries) if e.value is None]
    # With nothing hidden a reader assumes no bound, and whether the shown counts
    # agree is the feasibility of the first program below (the same system), so
    # the bounds' own program is needed only with hidden counts.
    lower = _reader_bounds(entries, ind_b) if hidden else np.zeros(len(entries))
    if lower is None:
        raise DisclosureError(_contradiction(entries))
    # Inequalities G x <= h: every block >= 0, every hidden count >= what a
    # reader can assume (and <= 5 when stated as "fewer than 6").
    h_rows, extra = [], []
    for i in hidden:
        e = entries[i]
        extra.append(-ind_b[i])
        h_rows.append(-lower[i])
        if e.hi is not None:
            extra.append(ind_b[i])
            h_rows.append(e.hi)
    extra_m = np.array(extra).reshape(-1, nb)
    if _dense_lp(nb + len(extra), 2 * nb + len(extra)):  # as _implicit_equalities builds it
        g = np.vstack([-np.identity(nb), extra_m])
    else:
        g = sparse.vstack([-sparse.identity(nb, format="csr"), sparse.csr_matrix(extra_m)]).tocsr()
    h = np.r_[np.zeros(nb), np.array(h_rows, dtype=float)]
    x0, tight = _implicit_equalities(a_eq, b_eq, g, h)
    if x0 is None and not hidden:  # the shown counts contradict each other
        raise DisclosureError(_contradiction(entries))
    if x0 is None:  # pragma: no cover - the bounds were found feasible
        raise DisclosureError(f"audit of universe {entries[0].universe!r} failed")
    # Blocks forced to 0 drop out; the other tight rows join the equations.
    free = np.ones(nb, dtype=bool)
    free[tight[tight < nb]] = False
    x0 = np.where(free, x0, 0.0)
    rows = [a_eq[:, free]]
    tight_extra = tight[tight >= nb] - nb
    if tight_extra.size:
        rows.append(extra_m[tight_extra][:, free])
    eq = np.vstack(rows)
    q = np.zeros((int(free.sum()), 0))
    if eq.size:
        _, sv, vt = np.linalg.svd(eq, full_matrices=False)
        rank = int((sv > 1e-9 * max(1.0, sv[0])).sum())
        q = vt[:rank].T  # orthonormal basis of the row space, over free blocks

    def pinned_small(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``vec`` (share of each block taken) pinned to a value of 1-5."""
        v = vec[:, free]
        whole = np.all((v < 1e-9) | (v > 1 - 1e-9), axis=1)
        norm2 = (v**2).sum(1)
        resid = norm2 - ((v @ q) ** 2).sum(1)
        val = v @ x0[free]
        r = np.round(val)
        return whole & (resid <= 1e-7 * np.maximum(norm2, 1.0)) & (r >= lo_t) & (r <= hi_t), val

    out = []
    # Every hidden count on the page.
    if hidden:
        flag, val = pinned_small(ind_b[hidden])
        for i, f, v in zip(hidden, flag, val, strict=True):
            if f:
                e = entries[i]
                out.append(
                    {
                        "universe": e.universe,
                        "where": e.where,
                        "value": int(round(v)),
                        "kind": "hidden",
                    }
                )
    # Every conjunction of conditions (a value or "any" per variable), at once:
    # atoms per block for each cell, by summing a one-hot tensor along each axis.
    onehot = np.zeros((n, nb))
    onehot[np.arange(n), block_of] = 1.0
    t = onehot.reshape(*shape, nb)
    for axis in range(len(shape)):
        t = np.concatenate([t, t.sum(axis=axis, keepdims=True)], axis=axis)
    share = t.reshape(-1, nb) / size
    flag, val = pinned_small(share)
    seen = {e.where for e in entries if e.value is None and not e.among and not e.outside}
    ext_shape = tuple(s + 1 for s in shape)
    for cell in np.flatnonzero(flag):
        idx = np.unravel_index(int(cell), ext_shape)
        where = tuple((names[j], values[j][i]) for j, i in enumerate(idx) if i < shape[j])
        if where in seen:
            continue
        out.append(
            {
                "universe": entries[0].universe,
                "where": where,
                "value": int(round(float(val[cell]))),
                "kind": "derived",
            }
        )
    return out


def _contradiction(entries: list[_Entry]) -> str:
    where = sorted({e.what for e in entries if e.what})
    return (
        f"the counts stated in universe {entries[0].universe!r} contradict each other; "
        f"they come from {', '.join(where) or 'the page'}: a table or sentence that counts a "
        "narrower population needs its own universe (or a `where`), and a table's Total "
        "row says its rows are every child of the universe"
    )


def _entry_vars(e: _Entry) -> set[str]:
    return {a for a, _ in e.where} | {a for a, _ in e.outside} | {a for a, _ in e.among}


def _components(entries: list[_Entry]) -> list[list[_Entry]]:
    """Entries grouped by connected sets of variables (variables stated together).

    Counts over no variable (the universe total) go with every group.
    """
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    for e in entries:
        vs = sorted(_entry_vars(e))
        for v in vs[1:]:
            parent[find(v)] = find(vs[0])
        for v in vs[:1]:
            find(v)
    groups: dict[str, list[_Entry]] = {}
    for v in parent:
        groups.setdefault(find(v), [])
    totals = [e for e in entries if not _entry_vars(e)]
    for e in entries:
        vs = _entry_vars(e)
        if vs:
            groups[find(next(iter(vs)))].append(e)
    if not groups:
        return [totals]
    return [g + totals for g in groups.values()]


def _total_range(entries: list[_Entry]) -> tuple[float, float]:
    """Smallest and largest universe total the entries allow (linear programming)."""
    from scipy.optimize import linprog

    names, values = _atoms(entries)
    shape = tuple(len(v) for v in values)
    ind = np.array([_indicator(e, names, values, shape) for e in entries], dtype=float)
    sig, _ = np.unique(ind.T, axis=0, return_inverse=True)
    ind_b = sig.T
    nb = ind_b.shape[1]
    a_eq = [ind_b[i] for i, e in enumerate(entries) if e.value is not None]
    b_eq = [e.value for e in entries if e.value is not None]
    lower = _reader_bounds(entries, ind_b)
    if lower is None:
        raise DisclosureError(_contradiction(entries))
    a_ub, b_ub = [], []
    for i, e in enumerate(entries):
        if e.value is None:
            a_ub.append(-ind_b[i])
            b_ub.append(-lower[i])
            if e.hi is not None:
                a_ub.append(ind_b[i])
                b_ub.append(e.hi)
    kw = dict(
        A_eq=np.array(a_eq) if a_eq else None,
        b_eq=b_eq or None,
        A_ub=np.array(a_ub) if a_ub else None,
        b_ub=b_ub or None,
        bounds=(0, None),
        method="highs",
    )
    c = np.ones(nb)
    lo = linprog(c, **kw)
    hi = linprog(-c, **kw)
    return float(lo.fun), (np.inf if hi.status == 3 else float(-hi.fun))


def _audit_split(entries: list[_Entry]) -> list[dict]:
    """Audit a universe group by group of variables stated together.

    The groups share only the universe total, so the page allows exactly the
    combinations of each group's solutions with a common total: each group is
    audited with the total bounded by what every group allows. (A cell across
    groups is pinned only when a cell within one group is, by the Frechet
    bounds, so those are not checked separately.)
    """
    groups = _components(entries)
    if len(groups) == 1:
        return _audit_universe(entries)
    lo, hi = 0.0, np.inf
    for g in groups:
        a, b = _once(_total_range, g)
        lo, hi = max(lo, a), min(hi, b)
    if lo > hi + 1e-7:
        raise DisclosureError(_contradiction(entries))
    uni = entries[0].universe
    if hi - lo < 1e-7:
        bound = _Entry(uni, (), int(round(lo)), source=("structure",))
    else:
        bound = _Entry(uni, (), None, lo, hi if np.isfinite(hi) else None, ("structure",))
    out, seen = [], set()
    for g in groups:
        for v in _once(_audit_universe, [*g, bound]):
            key = (v["where"], v["kind"])
            if key not in seen:
                seen.add(key)
                out.append(v)
    return out


def _describe(where: tuple) -> str:
    if not where:
        return "all children"
    return ", ".join(f"{a} = {'(other)' if b == _OTHER else b}" for a, b in where)


#: What the current :func:`audit_page` has already worked out about sets of entries
#: (see :func:`_once`); None outside an audit.
_SPLIT_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "vc_eval_audit_memo", default=None
)


def _entry_key(e: _Entry) -> tuple:
    return (
        e.universe,
        e.where,
        e.value,
        e.lo,
        e.hi,
        e.source,
        e.margin,
        e.outside,
        e.among,
        e.what,
    )


def _once(fn, entries: list[_Entry]):
    """``fn(entries)``, remembered for the rest of the page's audit.

    The audit of a universe (and of each group of its variables, and the range
    of its total a group allows) depends only on its entries, in order, and a
    page's audit asks again about what its fixes did not touch (every fix
    re-audits the page; every trial fix re-audits one universe, whose other
    groups are unchanged), so the answer, or the contradiction raised, is kept
    and given again: the same decisions as computing it again, without the
    linear programs.
    """
    memo = _SPLIT_MEMO.get()
    if memo is None:
        return fn(entries)
    key = (fn.__name__, tuple(_entry_key(e) for e in entries))
    if key not in memo:
        try:
            memo[key] = ("ok", fn(entries))
        except DisclosureError as err:
            memo[key] = ("error", err)
    status, value = memo[key]
    if status == "error":
        raise DisclosureError(*value.args)
    return [dict(v) for v in value] if isinstance(value, list) else value


def _audit_split_once(entries: list[_Entry]) -> list[dict]:
    """:func:`_audit_split`, remembered (see :func:`_once`)."""
    return _once(_audit_split, entries)


def _audit_entries(entries: list[_Entry]) -> list[dict]:
    by: dict[str, list[_Entry]] = {}
    for e in entries:
        by.setdefault(e.universe, []).append(e)
    out = []
    for u in sorted(by):
        out += _audit_split_once(by[u])
    return out


def _actions(entries: list[_Entry], violation: dict) -> list[tuple]:
    """Ways to remove a violation, cheapest first: hide a table cell (inner,
    smallest first), withhold a sentence, hide a margin, withhold a headline."""
    acts = []
    # Counts over the violation's variables (or over none: totals) first, so that
    # when no single action is enough the cheapest one taken is one that bears on it
    # (not, say, an age x sex cell for a count by placement).
    on = {a for a, _ in violation["where"]}
    for e in entries:
        if e.universe != violation["universe"] or e.value is None:
            continue
        far = 1 if on and _entry_vars(e) and not (_entry_vars(e) & on) else 0
        kind = e.source[0]
        if kind in ("structure", "implied"):
            continue
        if kind == "table":
            cost = (far, 3 if e.margin else 1, e.value)
            acts.append((cost, e.source))
        elif kind == "finding":
            acts.append(((far, 2, e.value), e.source))
        elif kind == "figure":  # the whole figure: after a sentence, before a margin
            acts.append(((far, 2.5, e.value), e.source))
        else:
            acts.append(((far, 4, e.value), e.source))
    acts.sort(key=lambda a: (a[0], str(a[1])))
    seen, out = set(), []
    for _, src in acts:
        key = src if src[0] not in ("finding", "figure") else src[:3]
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def _apply(entries: list[_Entry], action: tuple) -> list[_Entry]:
    if action[0] == "table":
        return [
            _Entry(e.universe, e.where, None, 1.0, None, e.source, e.margin)
            if e.source == action
            else e
            for e in entries
        ]
    if action[0] in ("finding", "figure"):
        return [e for e in entries if e.source[:3] != action]
    return [e for e in entries if e.source != action]


def _still(violations: list[dict], v: dict) -> bool:
    return any(w["universe"] == v["universe"] and w["where"] == v["where"] for w in violations)


def audit_page(summaries, headline_counts=None, *, fix: bool = True) -> PageAudit:
    """Prove that no count of 1-5 can be worked out from a page as a whole.

    Parameters
    ----------
    summaries : sequence of Summary
        Everything the page shows (:class:`vc_eval.core.summary.Summary`).
        Tables with a ``universe`` contribute every count cell and margin;
        findings contribute their declared ``counts``; a ``headline`` value
        that is a ``Count`` is a headline count.
    headline_counts : mapping of str to Count, optional
        Further counts the page states (e.g. in its headline JSON).
    fix : bool
        Hide more table cells or withhold sentences until nothing can be
        worked out, and say so in the affected summaries.

    Returns
    -------
    PageAudit

    Notes
    -----
    Counts are related only within a universe and through the variable
    names and value labels they use: a sentence's ``Count.where`` must use a
    table's column name (or ``Table.dims``) and the label the table shows.
    A percentage a sentence states reveals its count; declare that count.
    """
    from threadpoolctl import threadpool_limits

    # Small dense problems: threads only cost time (and more on a busy machine).
    token = _SPLIT_MEMO.set({})
    try:
        with threadpool_limits(1):
            return _audit_page(list(summaries), headline_counts, fix)
    finally:
        _SPLIT_MEMO.reset(token)


def _small_marks(summaries: list) -> tuple[list[dict], list[str]]:
    """Figures with a mark for 1-5 children (violations), and figures declaring no marks."""
    lo, hi = THRESHOLD
    bad, unchecked = [], []
    for s, summ in enumerate(summaries):
        for j, fig in enumerate(getattr(summ, "figures", []) or []):
            marks = getattr(fig, "marks", None)
            if marks is None:
                unchecked.append(_figure_name(fig))
                continue
            small = [int(m) for m in marks if lo <= int(m) <= hi]
            if small:
                bad.append(
                    {
                        "universe": "figure marks",
                        "where": (("figure", _figure_name(fig)),),
                        "value": min(small),
                        "kind": "mark",
                        "source": ("figure", s, j),
                    }
                )
    return bad, unchecked


def _without_contradicting_figures(entries: list[_Entry]) -> tuple[list[_Entry], set[tuple]]:
    """The entries without the figures whose counts contradict the rest of the page."""
    figs = sorted({e.source[:3] for e in entries if e.source[0] == "figure"})
    rest = [e for e in entries if e.source[0] != "figure"]
    _audit_entries(rest)  # raises: the page contradicts itself without any figure
    bad, keep = set(), list(rest)
    for src in figs:
        trial = keep + [e for e in entries if e.source[:3] == src]
        try:
            _audit_entries(trial)
        except DisclosureError:
            bad.add(src)
            continue
        keep = trial
    return keep, bad


def _audit_page(summaries: list, headline_counts, fix: bool) -> PageAudit:
    entries, unaudited = _page_entries(summaries, headline_counts)
    marks, unchecked = _small_marks(summaries)
    # A figure with a mark for fewer than 6 children is withheld whatever else
    # the page says; its counts then state nothing.
    drop_figs = {v["source"] for v in marks}
    try:
        found = _audit_entries(entries)
    except DisclosureError:
        # A figure whose declared counts contradict the tables and sentences is
        # withheld (its declaration is wrong, so what it shows is unaudited);
        # a page that contradicts itself without figures is refused as before.
        entries, bad = _without_contradicting_figures(entries)
        drop_figs |= bad
        found = _audit_entries(entries)
        marks += [
            {
                "universe": "figure counts",
                "where": (("figure", str(src)),),
                "value": 0,
                "kind": "contradiction",
                "source": src,
            }
            for src in sorted(bad)
        ]
    violations = marks + found
    result = PageAudit(violations=violations, unaudited=unaudited)
    result.figures_unchecked = unchecked
    result.figure_counts = [e.what for e in entries if e.source[0] == "figure"]
    if not fix or not violations:
        result.remaining = violations
        result.summaries = summaries
        return result
    done: list[tuple] = sorted(drop_figs)
    for act in done:
        entries = _apply(entries, act)
    current = _audit_entries(entries)
    for _ in range(len(entries) + 1):
        if not current:
            break
        v = current[0]
        uni = [e for e in entries if e.universe == v["universe"]]
        acts = _actions(entries, v)
        chosen = None
        for act in acts:
            trial = _apply(uni, act)
            if not trial or not _still(_audit_entries(trial), v):
                chosen = act
                break
        if chosen is None:
            if not acts:  # pragma: no cover - a violation always has a stated count
                break
            chosen = acts[0]
        entries = _apply(entries, chosen)
        done.append(chosen)
        current = _audit_entries(entries)
    result.remaining = current
    result.summaries = _rewrite(summaries, done, result)
    return result


def _rewrite(summaries: list, done: list[tuple], result: PageAudit) -> list:
    """Copies of the summaries with the audit's extra hiding and withholding, said."""
    from dataclasses import replace

    cells: dict[tuple[int, int], list[tuple[int, str]]] = {}
    drop_f: dict[int, set[int]] = {}
    drop_h: dict[int, set[str]] = {}
    drop_g: dict[int, set[int]] = {}
    for act in done:
        if act[0] == "table":
            cells.setdefault((act[1], act[2]), []).append((act[3], act[4]))
        elif act[0] == "finding":
            drop_f.setdefault(act[1], set()).add(act[2])
        elif act[0] == "figure":
            drop_g.setdefault(act[1], set()).add(act[2])
        else:
            drop_h.setdefault(act[1], set()).add(act[2])
            result.withheld.append(f"headline count {act[2]!r}")
            result.headline_withheld.append(str(act[2]))
    out = []
    for s, summ in enumerate(summaries):
        tables = list(summ.tables)
        for (s2, t), rc in cells.items():
            if s2 != s:
                continue
            table = tables[t]
            frame = table.frame.copy()
            cols = [str(c) for c in frame.columns]
            frame.columns = cols
            _, counts = _count_columns(table)
            for r, c in rc:
                frame[c] = frame[c].astype(object)
                frame.iat[r, cols.index(c)] = SUPPRESSED
                # Percentages of a hidden count would give it away.
                for pc in cols:
                    if table.kinds.get(pc) == "percent" and (
                        len(counts) == 1 or pc.startswith(c.removesuffix(" (n)") + " ")
                    ):
                        frame[pc] = frame[pc].astype(object)
                        frame.iat[r, cols.index(pc)] = SUPPRESSED
                result.hidden.append(f"{table.caption}: row {r + 1}, {c}")
            frame.columns = table.frame.columns
            n = len(rc)
            note = (
                f"{n} more cell{'s' if n > 1 else ''} hidden so that no count of fewer than 6 "
                "children can be worked out from other numbers on this page."
            )
            tables[t] = replace(
                table,
                frame=frame,
                kinds=dict(table.kinds),
                note=" ".join(x for x in (table.note, note) if x),
            )
        findings = list(summ.findings)
        caveats = list(summ.caveats)
        gone = drop_f.get(s, set())
        if gone:
            for f in sorted(gone):
                result.withheld.append(findings[f].text)
            findings = [f for i, f in enumerate(findings) if i not in gone]
            k = len(gone)
            caveats.append(
                f"{k} sentence{'s were' if k > 1 else ' was'} withheld: read with the other "
                "numbers on this page, it would have revealed a count of fewer than 6 children."
            )
        headline = dict(summ.headline)
        for key in drop_h.get(s, set()):
            headline.pop(key, None)
        figures = list(getattr(summ, "figures", []) or [])
        figs_gone = drop_g.get(s, set())
        if figs_gone:
            for j in sorted(figs_gone):
                result.figures_withheld.append(_figure_name(figures[j]))
            figures = [f for j, f in enumerate(figures) if j not in figs_gone]
            k = len(figs_gone)
            caveats.append(
                f"{k} figure{'s were' if k > 1 else ' was'} withheld: a mark stood for fewer "
                "than 6 children, or read with the other numbers on this page it would have "
                "revealed a count of fewer than 6 children."
            )
        changed = gone or any(s2 == s for s2, _ in cells) or s in drop_h or figs_gone
        out.append(
            replace(
                summ,
                tables=tables,
                findings=findings,
                caveats=caveats,
                headline=headline,
                figures=figures,
            )
            if changed
            else summ
        )
    if result.hidden:
        result.notes.append(
            f"{len(result.hidden)} more table cell(s) hidden so that no count of fewer than 6 "
            "children can be worked out by combining numbers across the page."
        )
    if result.withheld:
        result.notes.append(
            f"{len(result.withheld)} statement(s) withheld because, read with the tables, they "
            "would have revealed a count of fewer than 6 children."
        )
    if result.figures_withheld:
        result.notes.append(
            f"{len(result.figures_withheld)} figure(s) withheld because a mark stood for fewer "
            "than 6 children, or the figure read with the tables would have revealed a count "
            "of fewer than 6 children."
        )
    return out


def audit_and_fix(summaries, headline_counts=None) -> tuple[list, list[str]]:
    """The hook a report calls before showing anything: fixed summaries and notes.

    See :func:`audit_page`. Raises :class:`DisclosureError` if the page
    cannot be made safe (it always can, by hiding more).
    """
    res = audit_page(summaries, headline_counts, fix=True)
    if res.remaining:
        raise DisclosureError(
            "page-level disclosure audit failed: "
            + "; ".join(f"{_describe(v['where'])} ({v['universe']})" for v in res.remaining)
        )
    return res.summaries, res.notes


__all__ = [
    "LOW",
    "MAX_ATOMS",
    "MIN_N",
    "SUPPRESSED",
    "THRESHOLD",
    "TOTAL",
    "DisclosureError",
    "PageAudit",
    "SuppressedTable",
    "audit_and_fix",
    "audit_page",
    "drop_small_groups",
    "feasible_ranges",
    "format_count",
    "format_percent",
    "label_key",
    "safe_frame",
    "suppress",
    "suppress_long",
    "suppress_stats",
]
