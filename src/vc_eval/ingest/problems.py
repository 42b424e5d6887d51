"""Problems found while importing council data: collected, grouped and counted.

Every problem is a :class:`~vc_eval.core.schema.Violation` (file, row, column,
rule, value) plus what the importer did about it and how serious it is:

``fatal``
    The import cannot go on (unreadable file, no recognisable table, no
    key). Raised at once as :class:`ImportFailed`; nothing is written.
``error``
    A row-level problem: the row (or one value) was dropped or changed.
    Listed in the import report; with ``--strict`` the import is rejected.
``note``
    Worth knowing but harmless to the imported data (a code in a column
    that is not imported, a child with no episodes).

Problems are stored as small frames, not one object per row, so that a
national-scale import with many flagged rows stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from vc_eval.core.schema import Violation

FATAL, ERROR, NOTE = "fatal", "error", "note"
LEVELS = (FATAL, ERROR, NOTE)

#: Exit codes of ``vc-eval import``.
EXIT_FATAL = 2
EXIT_STRICT = 3

#: Shown instead of an identifier's value: reports never show identifiers.
HIDDEN = "<identifier hidden>"

PROBLEM_COLUMNS = ("file", "row", "column", "rule", "value", "action", "level", "child")

#: Columns whose values identify a child (or their mother, address, school
#: record or placement): never copied into a problem log, whatever the table.
IDENTIFYING_COLUMNS = frozenset(
    ("CHILD", "UPN", "DOB", "HOME_POST", "PL_POST", "URN", "MOTHER", "MC_DOB", "SW_ID")
)
#: Council extracts name their columns freely: these patterns mark the same kinds.
_IDENTIFYING_NAME = re.compile(
    r"(?i)(child|upn|\bdob\b|birth|post\s*code|postcode|_post\b|\burn\b|mother|"
    r"\bname\b|address|\bnhs\b|\bid\b|_id\b|person|pupil|worker|assessor|social)"
)

#: Longest value copied into a problem log (longer ones are cut).
MAX_VALUE_CHARS = 60


def is_identifying(column: str | None) -> bool:
    """Whether values of ``column`` may identify a person (and so are never shown)."""
    if column is None:
        return False
    c = str(column).strip()
    return c.upper() in IDENTIFYING_COLUMNS or bool(_IDENTIFYING_NAME.search(c))


def _shown(value: object) -> str | None:
    if value is None:
        return None
    v = " ".join(str(value).split())
    return v if len(v) <= MAX_VALUE_CHARS else v[:MAX_VALUE_CHARS] + "..."


class ImportFailed(Exception):
    """The import stopped; carries the problems that stopped it.

    Attributes
    ----------
    problems : list of Violation
        The fatal problems (or, under ``--strict``, the row-level ones).
    exit_code : int
        Exit code for the command line (:data:`EXIT_FATAL` or :data:`EXIT_STRICT`).
    """

    def __init__(
        self,
        problems: Sequence[Violation],
        *,
        exit_code: int = EXIT_FATAL,
        headline: str | None = None,
        grouped: pd.DataFrame | None = None,
    ):
        self.problems = list(problems)
        self.exit_code = exit_code
        self.grouped = grouped
        head = headline or "import failed"
        if grouped is not None and len(grouped):
            lines = [_group_line(r) for r in grouped.head(40).to_dict("records")]
            more = len(grouped) - 40
        else:
            lines = [str(v) for v in self.problems[:40]]
            more = len(self.problems) - 40
        tail = f"\n  ... and {more} more" if more > 0 else ""
        body = "\n".join(f"  - {line}" for line in lines)
        if len(self.problems) == 1 and grouped is None and head == str(self.problems[0]):
            body = ""  # a single fatal problem is its own headline
        super().__init__(f"{head}:\n{body}{tail}" if body else head)


def _group_line(r: dict) -> str:
    where = r["file"]
    if r["column"]:
        where += f", column '{r['column']}'"
    rows = f" (rows {r['rows']})" if r["rows"] else ""
    vals = f"; values {r['values']}" if r["values"] else ""
    return f"{where}: {r['rule']} - {r['count']} row(s){rows}{vals}; {r['action']}"


def fatal(
    file: str,
    rule: str,
    *,
    row: int | None = None,
    column: str | None = None,
    value: str | None = None,
) -> ImportFailed:
    """A fatal problem as an exception (``raise fatal(...)``)."""
    v = Violation(str(file), row, column, rule, value)
    return ImportFailed([v], exit_code=EXIT_FATAL, headline=str(v))


class ProblemLog:
    """Collects row-level problems and notes during one import."""

    def __init__(self) -> None:
        self._frames: list[pd.DataFrame] = []

    def add(
        self,
        file: str | Iterable[str],
        rows: Iterable[int | None] | int | None,
        column: str | Iterable[str] | None,
        rule: str,
        values: Iterable | None = None,
        *,
        action: str = "row dropped",
        level: str = ERROR,
        hide_values: bool = False,
        children: Iterable | None = None,
        value_column: str | None = None,
    ) -> int:
        """Record one rule broken by zero or more rows; returns how many.

        ``file`` and ``column`` may be one name or one per row.
        ``hide_values`` replaces the values by :data:`HIDDEN`; so does a
        ``column`` (or ``value_column``, where the value came from) that
        identifies a person (:func:`is_identifying`). Other values are cut
        to :data:`MAX_VALUE_CHARS`. ``children`` are the raw child ids of
        the rows, kept only in memory and shown pseudonymised
        (:meth:`frame` with ``pseudonymise``).
        """
        if level not in (ERROR, NOTE):
            raise ValueError(f"level must be {ERROR!r} or {NOTE!r}; raise fatal() for fatal")
        if rows is None or isinstance(rows, (int, np.integer)):
            rows = [rows]
        rows = pd.Series(
            list(rows) if not isinstance(rows, pd.Series) else rows.to_numpy(), dtype="Int64"
        )
        n = len(rows)
        if n == 0:
            return 0
        if values is None:
            vals = pd.Series([None] * n, dtype=object)
        else:
            vals = pd.Series(
                list(values) if not isinstance(values, pd.Series) else values.to_numpy(),
                dtype=object,
            )
            vals = vals.where(vals.notna(), None)
            cols_named = [column] if isinstance(column, str) or column is None else list(column)
            if (
                hide_values
                or is_identifying(value_column)
                or any(is_identifying(c) for c in set(cols_named))
            ):
                vals = pd.Series([HIDDEN] * n, dtype=object)
            else:
                vals = vals.map(_shown)
        files = (
            pd.Series([file] * n, dtype=object)
            if isinstance(file, str)
            else pd.Series(
                list(file) if not isinstance(file, pd.Series) else file.to_numpy(), dtype=object
            )
        )
        if column is not None and not isinstance(column, str):
            column = (
                column.to_numpy()
                if isinstance(column, pd.Series)
                else np.asarray(list(column), dtype=object)
            )
        self._frames.append(
            pd.DataFrame(
                {
                    "file": files.to_numpy(),
                    "row": rows.to_numpy(),
                    "column": column,
                    "rule": rule,
                    "value": vals.to_numpy(),
                    "action": action,
                    "level": level,
                    "child": None
                    if children is None
                    else pd.Series(
                        list(children) if not isinstance(children, pd.Series) else children,
                        dtype=object,
                    ).to_numpy(),
                }
            )
        )
        return n

    def add_rows(
        self,
        frame: pd.DataFrame,
        mask,
        column: str | None,
        rule: str,
        *,
        value_col: str | None = None,
        column_col: str | None = None,
        action: str = "row dropped",
        level: str = ERROR,
        hide_values: bool = False,
    ) -> int:
        """Record ``rule`` for the rows of ``frame`` where ``mask`` holds.

        ``frame`` carries the source columns ``__file`` and ``__row``. The
        value shown comes from ``value_col`` (default: ``column``); with
        ``column_col`` each row names its own column (wide extracts).
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return 0
        sub = frame.loc[mask]
        col = value_col if value_col is not None else column
        values = sub[col] if col is not None and col in sub else None
        cols = sub[column_col] if column_col is not None else column
        kid = next((c for c in ("CHILD", "child") if c in sub), None)
        return self.add(
            sub["__file"],
            sub["__row"],
            cols,
            rule,
            values,
            action=action,
            level=level,
            hide_values=hide_values,
            children=sub[kid] if kid is not None else None,
            value_column=col,
        )

    # -- views ---------------------------------------------------------------
    def frame(
        self,
        level: str | None = None,
        *,
        pseudonymise: Callable[[pd.Series], pd.Series] | None = None,
    ) -> pd.DataFrame:
        """All problems, one row each (columns :data:`PROBLEM_COLUMNS`).

        ``child`` holds the row's child as ``pseudonymise`` gives it (the
        same pseudonym as in the dataset), or is blank: raw ids never leave
        the log.
        """
        if not self._frames:
            out = pd.DataFrame({c: pd.Series(dtype=object) for c in PROBLEM_COLUMNS})
        else:
            out = pd.concat(self._frames, ignore_index=True)
        if level is not None:
            out = out[out["level"] == level].reset_index(drop=True)
        if pseudonymise is not None and out["child"].notna().any():
            kid = out["child"].where(out["child"].notna())
            out["child"] = pseudonymise(kid.astype(object)).where(kid.notna(), None)
        else:
            out["child"] = None
        return out

    def extend(self, other: ProblemLog) -> None:
        """Add ``other``'s problems after this log's, in their order."""
        self._frames.extend(other._frames)

    def count(self, level: str | None = None) -> int:
        return int(
            sum(len(f) if level is None else int((f["level"] == level).sum()) for f in self._frames)
        )

    def violations(self, level: str | None = None) -> list[Violation]:
        """Problems as :class:`Violation` objects (file, row, column, rule, value)."""
        f = self.frame(level)
        return [
            Violation(
                r["file"],
                None if pd.isna(r["row"]) else int(r["row"]),
                r["column"],
                r["rule"],
                r["value"],
            )
            for r in f.to_dict("records")
        ]

    def grouped(
        self, level: str | None = None, *, max_rows: int = 10, max_values: int = 5
    ) -> pd.DataFrame:
        """Problems grouped by file, column, rule and action, with counts.

        Columns: level, file, column, rule, action, count, rows (the first
        ``max_rows`` row numbers), values (up to ``max_values`` distinct values).
        """
        f = self.frame(level)
        cols = ["level", "file", "column", "rule", "action", "count", "rows", "values"]
        if f.empty:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        f = f.assign(column=f["column"].fillna(""))
        out = []
        keys = ["level", "file", "column", "rule", "action"]
        for key, g in f.groupby(keys, sort=False, dropna=False):
            rows = g["row"].dropna().astype(int).drop_duplicates().sort_values()
            shown = ", ".join(str(r) for r in rows.head(max_rows))
            if len(rows) > max_rows:
                shown += f", ... ({len(rows) - max_rows} more)"
            vals = g["value"].dropna().drop_duplicates()
            vshown = ", ".join(repr(v) for v in vals.head(max_values))
            if len(vals) > max_values:
                vshown += ", ..."
            out.append(dict(zip(keys, key, strict=True), count=len(g), rows=shown, values=vshown))
        res = pd.DataFrame(out, columns=cols)
        order = {FATAL: 0, ERROR: 1, NOTE: 2}
        res["_o"] = res["level"].map(order)
        res = res.sort_values(["_o", "file", "count"], ascending=[True, True, False], kind="stable")
        return res.drop(columns="_o").reset_index(drop=True)


__all__ = [
    "ERROR",
    "EXIT_FATAL",
    "EXIT_STRICT",
    "FATAL",
    "HIDDEN",
    "ImportFailed",
    "NOTE",
    "ProblemLog",
    "IDENTIFYING_COLUMNS",
    "MAX_VALUE_CHARS",
    "fatal",
    "is_identifying",
]
