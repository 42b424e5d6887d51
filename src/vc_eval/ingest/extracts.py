"""Council extracts beside the SSDA903: needs scores and placement costs.

Both come from systems no one here controls, as CSV or Excel.

**Needs extract.** Long (one row per child x review x domain) or wide (one
column per domain). A small YAML file says which column is which::

    child_id: Child ID          # required
    date: Review date           # required
    assessor: Worker            # optional (omit if the extract has none)
    rater_role: Completed by    # optional: who gave the score (see below)
    rater_values:               # optional: labels in that column -> roles
      Young person's view: child
    domain: Domain              # long form: the domain column ...
    score: Score                # ... and the score column
    domain_values:              # optional: labels in the domain column -> ids
      Attachment and family relationships: attachment
    # wide form instead of domain/score: column -> framework domain id
    # domains: {Attachment: attachment, Behaviour: behaviour}
    sheet: Scores               # Excel only (default: the first sheet)

Without a config the columns are found by name (``child_id``, ``date`` or
``assessment_date``, ``assessor_id``, then ``domain`` + ``score`` or one
column per framework domain). Domain labels equal to a framework domain's
id or name (any case) are recognised without mapping.

**Who scored.** A needs extract may say who gave each score (a column named
``rater_role``, ``rater``, ``role``, ``completed_by`` or ``scored_by``, or
named by ``rater_role`` in the config). Its values are mapped to the data
model's roles (:data:`vc_eval.core.schema.RATER_ROLES`): common spellings
are known (:data:`RATER_SPELLINGS`: "Social worker", "SW", "Foster carer",
"Young person", "YP", "Self", "IRO" ...; case, spaces, hyphens and
underscores are ignored) and ``rater_values`` in the config maps any other.
A value that maps to no role is an error naming the file, row, column and
rule (the score is dropped; ``--strict`` stops the import). A blank value, or
an extract with no such column, means the score is a social worker's
(``DEFAULT_RATER_ROLE``), as before roles were recorded. A child's own
rating may have a blank assessor.

**Costs.** One row per placement (or cost period): child, start date of
the placement or period, weekly cost in GBP, optionally an end date. The
columns are found by the names in :data:`COST_ALIASES`.

Readers return text-checked frames keeping ``__file``/``__row``; rules that
need the SSDA903 (unknown child, date before birth) are checked by
:mod:`vc_eval.ingest.importer`.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vc_eval.core.factorized import to_number
from vc_eval.core.framework import SCORE_MAX, SCORE_MIN, Framework
from vc_eval.core.schema import CHILD_ROLE, DEFAULT_RATER_ROLE, RATER_ROLES
from vc_eval.ingest.problems import ERROR, NOTE, ImportFailed, ProblemLog, fatal
from vc_eval.ingest.pseudonymise import normalise_ids
from vc_eval.ingest.ssda903 import (
    check_regular_file,
    check_text,
    decode_bytes,
    looks_like_data,
    normalise_header,
    parse_dates,
    read_csv_text,
    sniff_delimiter,
    strip_text,
)

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")

CHILD_ALIASES = ("child_id", "child", "childid", "child id", "child_ref", "child reference")
DATE_ALIASES = (
    "assessment_date",
    "date",
    "review_date",
    "review date",
    "assessment date",
    "score_date",
)
ASSESSOR_ALIASES = ("assessor_id", "assessor", "worker", "worker_id", "social_worker")
ROLE_ALIASES = (
    "rater_role",
    "rater role",
    "rater",
    "role",
    "completed_by",
    "completed by",
    "scored_by",
    "scored by",
)
#: Assessor id given to a child's own rating recorded with no assessor.
CHILD_ASSESSOR = "SELF"
#: Spellings of who scored, after :func:`role_key` -> the data model's role.
RATER_SPELLINGS: dict[str, str] = {
    **{k: "social_worker" for k in ("social worker", "sw", "socialworker", "allocated worker")},
    **{k: "social_worker" for k in ("practitioner", "worker", "caseworker", "case worker")},
    **{
        k: "carer"
        for k in (
            "carer",
            "foster carer",
            "kinship carer",
            "residential carer",
            "residential worker",
            "key worker",
            "keyworker",
            "care worker",
        )
    },
    **{
        k: CHILD_ROLE
        for k in (
            "child",
            "young person",
            "yp",
            "cyp",
            "child or young person",
            "child young person",
            "child and young person",
            "self",
            "self rating",
            "self report",
            "own view",
            "child s view",
            "young person s view",
            "childs view",
        )
    },
    **{k: "iro" for k in ("iro", "independent reviewing officer", "reviewing officer")},
    **{k: "other" for k in ("other", "other practitioner", "other professional")},
    **{k.replace("_", " "): k for k in RATER_ROLES},
}

COST_ALIASES: dict[str, tuple[str, ...]] = {
    "child": CHILD_ALIASES,
    "start": ("start_date", "placement_start", "decom", "start", "date", "from", "period_start"),
    "end": ("end_date", "placement_end", "dec", "end", "to", "period_end"),
    "cost": ("weekly_cost", "cost_per_week", "weekly cost", "weekly_cost_gbp", "cost"),
}


def _key(name: str) -> str:
    return str(name).replace("\ufeff", "").strip().casefold()


def role_key(value: str) -> str:
    """A rater-role label compared loosely: case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[-_/.,'’()&]+", " ", _key(value)).split())


def read_table_file(
    path: Path, label: str, log: ProblemLog, *, sheet=None
) -> tuple[pd.DataFrame, str]:
    """Read a CSV or Excel file as text columns (headers kept as written).

    Returns (frame with ``__row``, encoding or "excel"). Fatal: missing,
    unreadable, empty, not a spreadsheet.
    """
    if not path.exists():
        raise fatal(label, "file not found")
    check_regular_file(path, label)
    if path.suffix.lower() in EXCEL_SUFFIXES:
        try:
            raw = pd.read_excel(
                path, sheet_name=0 if sheet is None else sheet, dtype=str, header=None
            )
        except (ValueError, KeyError, OSError) as err:
            raise fatal(label, f"cannot be read as an Excel workbook ({err})") from err
        except Exception as err:  # openpyxl raises assorted errors on corrupt files
            raise fatal(
                label, f"cannot be read as an Excel workbook ({type(err).__name__})"
            ) from err
        raw = raw.dropna(how="all")
        if raw.empty:
            raise fatal(label, "file is empty")
        header = [
            str(h).strip() if isinstance(h, str) else ("" if pd.isna(h) else str(h))
            for h in raw.iloc[0]
        ]
        body = raw.iloc[1:].copy()
        body.columns = header
        body = body.loc[:, [h for h in header if h]]
        body = body.fillna("").astype("str")
        for c in body.columns:
            body[c] = body[c].str.strip()
        body["__row"] = np.arange(1, len(body) + 1)
        _check_header_line(body, label)
        return body.reset_index(drop=True), "excel"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise fatal(label, f"file cannot be read ({err.strerror or err})") from err
    text, enc = decode_bytes(data, label)
    frame = read_csv_text(text, label, log, upper=False, utf8=data if enc == "utf-8" else None)
    _check_header_line(frame, label)
    return frame, enc


def _check_header_line(frame: pd.DataFrame, label: str) -> None:
    """Fatal when the first line is a data row: its values (child ids, dates)
    would otherwise be echoed as "column names" in error messages."""
    if looks_like_data([str(c) for c in frame.columns if c != "__row"]):
        raise fatal(
            label,
            "the first line holds data, not column headers: the header line is missing",
        )


# --------------------------------------------------------------------------
# Needs extract
# --------------------------------------------------------------------------


@dataclass
class NeedsConfig:
    """Column mapping of a needs extract (see the module docstring)."""

    child_id: str | None = None
    date: str | None = None
    assessor: str | None = None
    domain: str | None = None
    score: str | None = None
    domains: dict[str, str] = field(default_factory=dict)
    domain_values: dict[str, str] = field(default_factory=dict)
    rater_role: str | None = None
    rater_values: dict[str, str] = field(default_factory=dict)
    sheet: str | int | None = None
    source: str = "auto"

    @property
    def wide(self) -> bool:
        return bool(self.domains)


def load_needs_config(path: Path | None) -> NeedsConfig:
    """Read the YAML mapping; fatal if it is not valid or names no columns."""
    if path is None:
        return NeedsConfig()
    label = str(Path(path).name)
    if not Path(path).exists():
        raise fatal(label, "needs-extract config not found (--needs-config)")
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise fatal(label, f"needs-extract config is not valid YAML ({err})") from err
    if not isinstance(spec, dict):
        raise fatal(label, "needs-extract config must be a mapping of keys to column names")
    known = {
        "child_id",
        "date",
        "assessor",
        "domain",
        "score",
        "domains",
        "domain_values",
        "rater_role",
        "rater_values",
        "sheet",
        "format",
    }
    unknown = sorted(set(spec) - known)
    if unknown:
        raise fatal(
            label,
            f"unknown key(s) in needs-extract config: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})",
        )
    domains = spec.get("domains") or {}
    if isinstance(domains, list):
        domains = {str(d): str(d) for d in domains}
    if not isinstance(domains, dict):
        raise fatal(label, "'domains' must map column names to domain ids")
    cfg = NeedsConfig(
        child_id=spec.get("child_id"),
        date=spec.get("date"),
        assessor=spec.get("assessor"),
        domain=spec.get("domain"),
        score=spec.get("score"),
        domains={str(k): str(v) for k, v in domains.items()},
        domain_values={str(k): str(v) for k, v in (spec.get("domain_values") or {}).items()},
        rater_role=spec.get("rater_role"),
        rater_values={str(k): str(v) for k, v in (spec.get("rater_values") or {}).items()},
        sheet=spec.get("sheet"),
        source=label,
    )
    for key in ("child_id", "date"):
        if not getattr(cfg, key):
            raise fatal(label, f"needs-extract config must name the '{key}' column")
    bad = sorted(v for v in cfg.rater_values.values() if v not in RATER_ROLES)
    if bad:
        raise fatal(
            label,
            f"rater_values: unknown role(s) {', '.join(bad)} (roles are: {', '.join(RATER_ROLES)})",
        )
    if not cfg.wide and not (cfg.domain and cfg.score):
        raise fatal(
            label,
            "needs-extract config must give 'domain' and 'score' columns "
            "(long form) or a 'domains' mapping (wide form)",
        )
    return cfg


def _find(columns: dict[str, str], wanted: str | None, aliases: tuple[str, ...]) -> str | None:
    if wanted:
        return columns.get(_key(wanted))
    for a in aliases:
        if a in columns:
            return columns[a]
    return None


@dataclass
class NeedsExtract:
    """A needs extract in long form, before linking to the SSDA903.

    ``frame`` columns: ``child`` (raw id), ``date``, ``assessor`` (raw id),
    ``domain`` (framework id), ``score``, ``role`` (rater role id:
    ``DEFAULT_RATER_ROLE`` when the extract has no role column), ``__file``,
    ``__row``. The text columns are categorical (national extracts: ~10
    million rows of a few hundred thousand distinct ids).
    ``columns["rater_role"]`` is ``"(none)"`` without one.
    """

    frame: pd.DataFrame
    file: str
    encoding: str
    layout: str
    rows_read: int
    columns: dict[str, str]


@dataclass
class CodedTable:
    """A text table held as codes: a row's value in a kept column is
    ``uniques[column][codes[column][row]]``.

    National needs extracts have ~10 million rows but few distinct values per
    column (children, dates, domains, scores), so checks run once per distinct
    value and no column is held as 10 million strings.

    Attributes
    ----------
    names : list of str
        Every column of the file (headers as written, blank ones left out), in order.
    codes : dict of str to numpy.ndarray
        Per kept column, one int32 code per row.
    uniques : dict of str to pandas.Series
        Per kept column, its distinct values (text, surrounding spaces removed).
    rows : numpy.ndarray
        Each row's number as problems report it (1 = the first data line).
    encoding : str
        The file's text encoding (``"excel"`` for a workbook).
    """

    names: list[str]
    codes: dict[str, np.ndarray]
    uniques: dict[str, pd.Series]
    rows: np.ndarray
    encoding: str

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, keep: list[str], encoding: str) -> CodedTable:
        """From a frame of :func:`read_table_file` (text columns and ``__row``)."""
        codes, uniques = {}, {}
        for c in dict.fromkeys(keep):
            k, u = pd.factorize(frame[c])
            codes[c] = k.astype(np.int32)
            uniques[c] = pd.Series(u, dtype="str")
        names = [c for c in frame.columns if c != "__row"]
        return cls(names, codes, uniques, frame["__row"].to_numpy(), encoding)

    def values(self, column: str) -> np.ndarray:
        """The distinct values of ``column`` (object array, indexed by its codes)."""
        return self.uniques[column].to_numpy(dtype=object)

    def text(self, column: str, idx: np.ndarray) -> np.ndarray:
        """The text of ``column`` on rows ``idx`` (object array)."""
        return self.values(column)[self.codes[column][idx]]


#: CSV files at least this large are read block by block (:func:`read_coded_csv`).
STREAM_MIN_BYTES = 32 * 1024**2
#: Bytes of a CSV file parsed at a time (extended to the end of a line).
#: Below 32 MiB: glibc hands larger buffers out as fresh memory maps, so each
#: block's bytes were page-faulted and zeroed anew (national extract: about
#: 1.5 s of CPU at 32 MiB); buffers of this size are reused from the heap.
STREAM_BLOCK_BYTES = 16 * 1024**2


def _block_ok(block: bytes, *, after_newline: bool) -> bool:
    """Whether a block of whole lines passes :func:`read_csv_text`'s test for its
    Arrow path: no NUL, no carriage return but in a CRLF line break, no blank
    line, and quotes that pair up within each line (no cell runs over lines)."""
    if b"\x00" in block or b"\n\n" in block:
        return False
    if after_newline and block.startswith(b"\n"):
        return False
    if b"\r" in block:
        # Windows line breaks are read as line breaks; any other carriage
        # return is repaired (and noted) by the line-by-line reader
        if block.count(b"\r") != block.count(b"\r\n") or b"\n\r\n" in block:
            return False
        if after_newline and block.startswith(b"\r\n"):
            return False
    if b'"' not in block:
        return True
    a = np.frombuffer(block, dtype=np.uint8)
    quotes = np.flatnonzero(a == ord('"'))
    # Every line has an even number of quotes exactly when the quotes, paired
    # in order (1st-2nd, 3rd-4th ...), are even in number and no pair has a
    # line break between its two quotes (cheaper than numbering every line).
    if len(quotes) % 2:
        return False
    return not np.logical_or.reduceat(a == ord("\n"), quotes)[0::2].any()


def read_coded_csv(
    path: Path,
    label: str,
    want: Callable[[list[str]], list[str]],
    *,
    block_bytes: int | None = None,
) -> CodedTable | None:
    """Read a UTF-8 CSV file block by block into a :class:`CodedTable`.

    Gives the rows, values and row numbers :func:`read_table_file` gives
    through its Arrow path, without holding the file's bytes, its decoded text
    and its text columns at once: each block of lines (``block_bytes``,
    default :data:`STREAM_BLOCK_BYTES`) is parsed, its columns coded, and
    dropped. ``want(names)`` says which columns to keep (it may raise
    :class:`~vc_eval.ingest.problems.ImportFailed`); the others are read only
    to tell blank rows.

    Returns None, having logged nothing, for anything that path would not read
    as it is (not UTF-8, another byte-order mark, carriage returns, blank
    lines, quotes running over lines, ragged rows, header problems, no data
    rows, columns not found): the caller then reads the file whole, which
    repairs, reports or rejects it exactly as before.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    block = int(block_bytes or STREAM_BLOCK_BYTES)
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError:
        return None
    with fh:
        data = fh.read(block)
        enc = "utf-8"
        if data.startswith(codecs.BOM_UTF8):
            enc, data = "utf-8-sig", data[len(codecs.BOM_UTF8) :]
        if len(data) < 4 or data.startswith(
            (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        ):
            return None
        end = data.find(b"\n")
        while end < 0:  # a header line longer than a block
            more = fh.read(block)
            if not more:
                return None
            data += more
            end = data.find(b"\n")
        head, data = data[: end + 1], data[end + 1 :]
        if not _block_ok(head, after_newline=False):
            return None
        try:
            head_text = head[:-1].decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError:
            return None
        sep = sniff_delimiter(head_text)
        headers = [
            normalise_header(h, upper=False)
            for h in next(csv.reader([head_text], delimiter=sep), [])
        ]
        n = len(headers)
        names = [h for h in headers if h]
        if not names or len(set(names)) < len(names) or looks_like_data(names):
            return None
        try:
            keep = list(dict.fromkeys(want(names)))
        except ImportFailed:
            return None
        parse = pacsv.ParseOptions(delimiter=sep, quote_char='"', ignore_empty_lines=True)
        try:  # the Arrow parser must see as many header cells as csv does
            got = pacsv.read_csv(
                pa.py_buffer(head),
                read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                parse_options=parse,
            ).num_columns
        except (pa.ArrowInvalid, ValueError):
            return None
        if got != n:
            return None
        fields = [f"f{i}" for i in range(n)]
        read_opts = pacsv.ReadOptions(column_names=fields)
        convert = pacsv.ConvertOptions(
            column_types={f: pa.string() for f in fields},
            null_values=[],
            strings_can_be_null=False,
        )
        # kept columns first: the others only matter while a row may still be blank
        order = [(h, headers.index(h)) for h in keep] + [
            (h, i) for i, h in enumerate(headers) if h and h not in keep
        ]
        seen: dict[str, dict[str, int]] = {h: {} for h in keep}
        codes: dict[str, list[np.ndarray]] = {h: [] for h in keep}
        rows: list[np.ndarray] = []
        sample = head.decode("utf-8")  # the text's start, checked as decoding does
        parsed = 0  # data rows so far, blank ones included (they are numbered)
        at_end = False
        while not at_end:
            more = fh.read(block)
            at_end = not more
            data += more
            cut = len(data) if at_end else data.rfind(b"\n") + 1
            if cut <= 0:
                continue
            piece, data = data[:cut], data[cut:]
            if not piece:
                break
            if not _block_ok(piece, after_newline=True):
                return None
            if len(sample) < 20000:
                sample += piece[:80000].decode("utf-8", errors="ignore")
            if not piece.isascii():
                try:
                    piece.decode("utf-8")
                except UnicodeDecodeError:
                    return None
            try:
                table = pacsv.read_csv(
                    pa.py_buffer(piece),
                    read_options=read_opts,
                    parse_options=parse,
                    convert_options=convert,
                )
            except (pa.ArrowInvalid, ValueError):
                return None
            del piece
            if table.num_columns != n:
                return None
            m = table.num_rows
            blank = np.ones(m, dtype=bool)
            for h, i in order:
                if h not in seen and not blank.any():
                    break
                col = table.column(i)
                coded = (
                    col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
                ).dictionary_encode()
                idx = coded.indices.to_numpy(zero_copy_only=False)
                vals = strip_text(pd.Series(coded.dictionary, dtype="str"))
                blank &= (vals == "").to_numpy()[idx]
                if h in seen:
                    known = seen[h]
                    lut = np.fromiter(
                        (known.setdefault(v, len(known)) for v in vals.tolist()),
                        dtype=np.int32,
                        count=len(vals),
                    )
                    codes[h].append(lut[idx])
            del table
            numbers = np.arange(parsed + 1, parsed + m + 1)
            parsed += m
            if blank.any():
                for h in keep:
                    codes[h][-1] = codes[h][-1][~blank]
                numbers = numbers[~blank]
            rows.append(numbers)
        try:
            check_text(sample, label)
        except ImportFailed:
            return None
        if not parsed:
            return None
    return CodedTable(
        names,
        {h: np.concatenate(codes[h]) for h in keep},
        {h: pd.Series(list(seen[h]), dtype="str") for h in keep},
        np.concatenate(rows),
        enc,
    )


@dataclass
class _NeedsColumns:
    """Which column of a needs extract is which (see :func:`read_needs`)."""

    child: str
    date: str
    assessor: str | None
    role: str | None
    layout: str
    domain: str | None = None  # long form
    score: str | None = None  # long form
    domains: dict[str, str] = field(default_factory=dict)  # wide form: column -> domain id

    @property
    def used(self) -> list[str]:
        cols = [self.child, self.date, self.assessor, self.role, self.domain, self.score]
        return [c for c in cols if c] + list(self.domains)


def _needs_columns(
    names: list[str], config: NeedsConfig, framework: Framework, label: str
) -> _NeedsColumns:
    """Find the needs extract's columns by the config or by name; fatal if missing."""
    cols = {_key(c): c for c in names}
    child = _find(cols, config.child_id, CHILD_ALIASES)
    date = _find(cols, config.date, DATE_ALIASES)
    assessor = _find(cols, config.assessor, ASSESSOR_ALIASES)
    role_col = _find(cols, config.rater_role, ROLE_ALIASES)
    missing = [
        name
        for name, got, want in (("child id", child, config.child_id), ("date", date, config.date))
        if got is None
    ]
    if config.assessor and assessor is None:
        missing.append(f"assessor ('{config.assessor}')")
    if config.rater_role and role_col is None:
        missing.append(f"rater role ('{config.rater_role}')")
    if missing:
        raise fatal(
            label,
            f"needs extract: cannot find the {', '.join(missing)} column(s) "
            f"(columns are: {', '.join(list(cols.values())[:15])})",
        )
    if config.wide or (not config.domain and _find(cols, None, ("domain",)) is None):
        if config.wide:
            dom_cols = {}
            for col, dom in config.domains.items():
                c = cols.get(_key(col))
                if c is None:
                    raise fatal(label, f"needs extract: domain column '{col}' (config) not found")
                dom_cols[c] = dom
        else:
            lookup = _domain_lookup(framework)
            dom_cols = {c: lookup[k] for k, c in cols.items() if k in lookup}
        if not dom_cols:
            raise fatal(
                label,
                "needs extract: no domain/score columns and no column named "
                f"after a domain of framework '{framework.id}'",
            )
        return _NeedsColumns(child, date, assessor, role_col, "wide", domains=dom_cols)
    dcol = _find(cols, config.domain, ("domain", "need_domain", "domain_id"))
    scol = _find(cols, config.score, ("score", "need_score", "value"))
    if dcol is None or scol is None:
        raise fatal(label, "needs extract: cannot find the domain and score columns")
    return _NeedsColumns(child, date, assessor, role_col, "long", domain=dcol, score=scol)


def _domain_lookup(framework: Framework) -> dict[str, str]:
    """Domain labels recognised without mapping (name or id, any case) -> id."""
    names = {_key(d.name): d.id for d in framework.domains}
    ids = {_key(d): d for d in framework.all_domain_ids}
    return {**names, **ids}


def _categorical(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="str"))


def _ids(table: CodedTable, column: str) -> tuple[np.ndarray, pd.Index]:
    """Identifiers of ``column`` normalised once per distinct value: a code per
    row (-1: blank) and the distinct normalised ids."""
    norm = normalise_ids(table.uniques[column])
    ucodes, ids = pd.factorize(norm, use_na_sentinel=True)
    return ucodes.astype(np.int32)[table.codes[column]], pd.Index(ids, dtype="str")


def read_needs(
    path: Path, config: NeedsConfig, framework: Framework, log: ProblemLog
) -> NeedsExtract:
    """Read a needs extract (CSV or Excel, long or wide) and check each score.

    Row-level problems (blank child or date, invalid date, unknown domain,
    score missing, not a number or outside 0-100) are logged and the value
    dropped. Fatal: the file cannot be read or its columns cannot be found.

    Large CSV files (:data:`STREAM_MIN_BYTES`) are read block by block
    (:func:`read_coded_csv`); every file is held as codes per distinct value
    (:class:`CodedTable`), so a national extract (~10 million rows) never sits
    in memory as text.
    """
    label = Path(path).name
    path = Path(path)
    table = None
    if (
        path.suffix.lower() not in EXCEL_SUFFIXES
        and path.is_file()
        and path.stat().st_size >= STREAM_MIN_BYTES
    ):
        table = read_coded_csv(
            path, label, lambda names: _needs_columns(names, config, framework, label).used
        )
    if table is None:
        raw, enc = read_table_file(path, label, log, sheet=config.sheet)
        spec = _needs_columns([c for c in raw.columns if c != "__row"], config, framework, label)
        table = CodedTable.from_frame(raw, spec.used, enc)
        del raw
    else:
        spec = _needs_columns(table.names, config, framework, label)
    child, date, assessor, role_col = spec.child, spec.date, spec.assessor, spec.role

    # Ids, dates, roles and scores are parsed once per distinct value and
    # indexed by code; a wide file is expanded to one entry per row x domain by
    # index, and raw text is looked up only for the entries a problem is
    # reported on (national extracts are ~10 million scores).
    n = len(table)
    child_c, child_ids = _ids(table, child)
    date_codes = table.codes[date]
    date_u = parse_dates(table.uniques[date]).to_numpy()
    date_blank = (table.uniques[date] == "").to_numpy()[date_codes]
    date_bad = np.isnat(date_u)[date_codes]
    role_c, role_ids, role_unknown = _roles(
        table.uniques[role_col] if role_col else None, table.codes.get(role_col), n, config
    )
    if assessor:
        assessor_c, assessor_ids = _ids(table, assessor)
        # a child's own rating needs no assessor
        own_blank = (assessor_c < 0) & (role_ids == CHILD_ROLE)[role_c]
        if own_blank.any():
            if CHILD_ASSESSOR not in assessor_ids:
                assessor_ids = assessor_ids.append(pd.Index([CHILD_ASSESSOR], dtype="str"))
            assessor_c[own_blank] = assessor_ids.get_loc(CHILD_ASSESSOR)
    else:
        assessor_c, assessor_ids = np.zeros(n, dtype=np.int8), pd.Index(["unrecorded"])
    known = set(framework.all_domain_ids)
    wide = spec.layout == "wide"
    if wide:
        dom_cols = spec.domains
        k = len(dom_cols)
        src = np.repeat(np.arange(n), k)  # entry -> row of the file (row-major)
        col_names = np.array(list(dom_cols), dtype=object)
        col_of = np.tile(np.arange(k), n)
        dom_codes, domain_ids = pd.factorize(pd.Series(list(dom_cols.values()), dtype="str"))
        domain_c = np.tile(dom_codes.astype(np.int8), n)
        domain_known = np.tile([d in known for d in dom_cols.values()], n)
        score = np.column_stack(
            [to_number(table.uniques[c]).to_numpy()[table.codes[c]] for c in dom_cols]
        ).ravel()
        blank_score = np.column_stack(
            [(table.uniques[c] == "").to_numpy()[table.codes[c]] for c in dom_cols]
        ).ravel()
        score_nan = np.isnan(score)
        score_out = (score < SCORE_MIN) | (score > SCORE_MAX)
        where = col_names[col_of]  # the column each entry came from
        row_no = table.rows[src]

        def raw_value(kind, idx):
            if kind == "score":
                vals = [table.values(c) for c in dom_cols]
                codes = [table.codes[c] for c in dom_cols]
                return [vals[c][codes[c][r]] for r, c in zip(src[idx], col_of[idx], strict=True)]
            if kind == "domain":
                return where[idx]
            return table.text(role_col if kind == "role" else date, src[idx])

    else:
        # one entry per row: masks and values stay per row, by code (no copies)
        dcol, scol = spec.domain, spec.score
        recode = {_key(k): v for k, v in config.domain_values.items()}
        lookup = _domain_lookup(framework)
        mapped = pd.Series(
            [recode.get(_key(u), lookup.get(_key(u))) for u in table.values(dcol)], dtype="str"
        )
        dom_codes, domain_ids = pd.factorize(mapped, use_na_sentinel=True)
        domain_c = dom_codes.astype(np.int16)[table.codes[dcol]]
        domain_known = mapped.isin(known).to_numpy()[table.codes[dcol]]
        score_codes = table.codes[scol]
        score_u = to_number(table.uniques[scol]).to_numpy()
        blank_score = (table.uniques[scol] == "").to_numpy()[score_codes]
        score_nan = np.isnan(score_u)[score_codes]
        score_out = ((score_u < SCORE_MIN) | (score_u > SCORE_MAX))[score_codes]
        where = None
        row_no = table.rows

        def raw_value(kind, idx):
            c = {"score": scol, "domain": dcol, "date": date, "role": role_col}[kind]
            return table.text(c, idx)

    entries = len(row_no)
    bad = np.zeros(entries, dtype=bool)

    def flag(mask, column, rule, *, value=None, hide=False, level=ERROR, action="score dropped"):
        nonlocal bad
        mask = np.asarray(mask, dtype=bool) & ~bad
        idx = np.flatnonzero(mask)
        if idx.size:
            col = where[idx] if (wide and column is None) else column
            vals = None if value is None else raw_value(value, idx)
            log.add(
                label, row_no[idx], col, rule, vals, action=action, level=level, hide_values=hide
            )
        bad |= mask

    def per_row(mask_w: np.ndarray) -> np.ndarray:
        return mask_w[src] if wide else mask_w

    flag(per_row(child_c < 0), child, "child id is blank", hide=True)
    flag(per_row(date_blank), date, "date is blank")
    flag(per_row(date_bad), date, "not a valid date (dd/mm/YYYY or YYYY-MM-DD)", value="date")
    if assessor:
        flag(per_row(assessor_c < 0), assessor, "assessor id is blank")
    if role_col:
        known_roles = ", ".join(sorted(set(RATER_SPELLINGS.values())))
        flag(
            per_row(role_unknown),
            role_col,
            f"rater role not recognised (roles: {known_roles}; map other labels with "
            "rater_values in --needs-config)",
            value="role",
        )
    flag(
        ~domain_known,
        None if wide else spec.domain,
        f"domain not in framework '{framework.id}'",
        value="domain",
    )
    score_col = None if wide else spec.score
    if wide:
        # a blank cell in a wide extract is a domain not scored at that review
        flag(blank_score, None, "no score (blank cell)", level=NOTE, action="nothing imported")
    else:
        flag(blank_score, spec.score, "score is missing")
    flag(score_nan, score_col, "score is not a number", value="score")
    flag(score_out, score_col, "score outside 0-100", value="score")
    keep = ~bad
    del bad, blank_score, score_nan, score_out, domain_known, date_blank, date_bad
    ks = src[keep] if wide else keep  # the kept entries' rows of the file
    columns = {
        "child": child,
        "date": date,
        "assessor": assessor or "(none)",
        "rater_role": role_col or "(none)",
    }
    frame = pd.DataFrame(
        {
            "child": _categorical(child_c[ks], child_ids),
            "date": date_u[date_codes[ks]],
            "assessor": _categorical(assessor_c[ks], assessor_ids),
            "domain": _categorical(domain_c[keep], domain_ids),
            "score": score[keep] if wide else score_u[score_codes[keep]],
            "role": _categorical(role_c[ks], role_ids),
            "__file": pd.Categorical.from_codes(np.zeros(int(keep.sum()), dtype=np.int8), [label]),
            "__row": row_no[keep],
        }
    )
    return NeedsExtract(frame, label, table.encoding, spec.layout, n, columns)


def _roles(
    values: pd.Series | None, codes: np.ndarray | None, n: int, config: NeedsConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's rater role and whether its label was not recognised.

    ``values`` are a column's distinct labels and ``codes`` each row's label.
    Returns (role code per row, role ids the codes index, unrecognised per
    row). Blank or absent: :data:`DEFAULT_RATER_ROLE`. Labels are mapped by
    the config's ``rater_values`` first, then by :data:`RATER_SPELLINGS`.
    """
    if values is None:
        return (
            np.zeros(n, dtype=np.int8),
            np.array([DEFAULT_RATER_ROLE], dtype=object),
            np.zeros(n, dtype=bool),
        )
    own = {role_key(k): v for k, v in config.rater_values.items()}
    mapped, unknown = [], []
    for u in values.fillna("").tolist():
        k = role_key(u)
        role = DEFAULT_RATER_ROLE if k == "" else own.get(k, RATER_SPELLINGS.get(k))
        mapped.append(role or DEFAULT_RATER_ROLE)
        unknown.append(role is None)
    role_codes, role_ids = pd.factorize(np.asarray(mapped, dtype=object))
    return (
        role_codes.astype(np.int8)[codes],
        np.asarray(role_ids, dtype=object),
        np.asarray(unknown, dtype=bool)[codes],
    )


# --------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------


#: Weekly costs above this are rejected as implausible: the highest known
#: placement cost is about £63,000 a week (LGA, 2022/23; shared/DOMAIN.md).
MAX_WEEKLY_COST = 100_000.0

_UK_MONEY = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_EU_MONEY = re.compile(r"^-?(\d{1,3}(\.\d{3})+|\d+),\d{1,2}$|^-?\d{1,3}(\.\d{3}){2,}$")
_AMBIGUOUS_MONEY = re.compile(r"^-?\d{1,3}\.\d{3}$")


def parse_money(values: pd.Series) -> pd.Series:
    """Weekly costs from text: ``£1,200.50`` and European ``1.200,50`` both give 1200.5.

    Currency signs, ``GBP`` and spaces are ignored. A value that could be
    read either way (``1.200``) and anything else that is not a plain
    number give NaN, so the caller reports it. ``inf`` and ``nan`` stay
    non-finite for the caller to reject.
    """
    s = values.fillna("").astype("str")
    # the clean-up (Python's regex, value by value) only where it can change
    # something: not on values of digits, points, commas and signs alone
    mixed = ~s.str.fullmatch(r"[0-9.,+-]*").to_numpy(dtype=bool)
    if mixed.any():
        s = s.copy()
        s[mixed] = s[mixed].str.replace(r"(?i)gbp|£|\s", "", regex=True)
    codes, uniques = pd.factorize(s)
    u = pd.Series(uniques, dtype="str")
    out = pd.Series(np.nan, index=u.index)
    uk = u.str.match(_UK_MONEY) & ~u.str.match(_AMBIGUOUS_MONEY)
    out[uk] = pd.to_numeric(u[uk].str.replace(",", "", regex=False), errors="coerce")
    eu = ~uk & u.str.match(_EU_MONEY)
    out[eu] = pd.to_numeric(
        u[eu].str.replace(".", "", regex=False).str.replace(",", ".", regex=False),
        errors="coerce",
    )
    other = ~uk & ~eu & u.str.match(_SPECIAL_NUMBER)
    out[other] = pd.to_numeric(u[other], errors="coerce")
    res = out.to_numpy(dtype=float)[codes] if len(codes) else np.array([], dtype=float)
    return pd.Series(res, index=values.index)


_SPECIAL_NUMBER = re.compile(r"(?i)^[+-]?(inf|infinity|nan|\d+(\.\d+)?e[+-]?\d+)$")


@dataclass
class CostsExtract:
    """Weekly costs: ``child`` (raw id), ``start``, ``end`` (may be NaT), ``cost``."""

    frame: pd.DataFrame
    file: str
    encoding: str
    rows_read: int
    columns: dict[str, str]


def read_costs(path: Path, log: ProblemLog) -> CostsExtract:
    """Read a costs file (CSV or Excel) and check each row."""
    label = Path(path).name
    raw, enc = read_table_file(Path(path), label, log)
    cols = {_key(c): c for c in raw.columns if c != "__row"}
    found = {k: _find(cols, None, v) for k, v in COST_ALIASES.items()}
    need = [k for k in ("child", "start", "cost") if found[k] is None]
    if need:
        wanted = "; ".join(f"{k}: one of {', '.join(COST_ALIASES[k][:4])}" for k in need)
        raise fatal(label, f"costs file: cannot find the column(s) for {wanted}")
    out = pd.DataFrame(
        {
            "child": normalise_ids(raw[found["child"]]),
            "start": parse_dates(raw[found["start"]]),
            "end": parse_dates(raw[found["end"]]) if found["end"] else pd.NaT,
            "cost": parse_money(raw[found["cost"]]),
            "__file": label,
            "__row": raw["__row"].to_numpy(),
            "__start_raw": raw[found["start"]],
            "__end_raw": raw[found["end"]] if found["end"] else "",
            "__cost_raw": raw[found["cost"]],
        }
    )
    out["end"] = out["end"].astype("datetime64[ns]")
    bad = pd.Series(False, index=out.index)

    def flag(mask, column, rule, value_col=None, hide=False):
        nonlocal bad
        mask = mask & ~bad
        log.add_rows(out, mask, column, rule, value_col=value_col, hide_values=hide)
        bad = bad | mask

    flag(out["child"].isna(), found["child"], "child id is blank")
    flag(
        out["start"].isna(),
        found["start"],
        "not a valid date (dd/mm/YYYY or YYYY-MM-DD)",
        "__start_raw",
    )
    if found["end"]:
        flag(
            out["end"].isna() & (out["__end_raw"].fillna("") != ""),
            found["end"],
            "not a valid date (dd/mm/YYYY or YYYY-MM-DD)",
            "__end_raw",
        )
        flag(
            out["end"] < out["start"],
            found["end"],
            "cost period ends before it starts",
            "__end_raw",
        )
    cost_raw = out["__cost_raw"].fillna("").astype("str").str.strip()
    ambiguous = out["cost"].isna() & cost_raw.str.match(_AMBIGUOUS_MONEY).to_numpy()
    flag(
        ambiguous,
        found["cost"],
        "weekly cost format is ambiguous (1.200 could be 1,200 or 1.2); write 1200 or 1200.00",
        "__cost_raw",
    )
    flag(out["cost"].isna(), found["cost"], "weekly cost is missing or not a number", "__cost_raw")
    flag(
        ~np.isfinite(out["cost"].to_numpy(dtype=float)),
        found["cost"],
        "weekly cost is not a finite number",
        "__cost_raw",
    )
    flag(out["cost"] < 0, found["cost"], "weekly cost is negative", "__cost_raw")
    flag(
        out["cost"] > MAX_WEEKLY_COST,
        found["cost"],
        f"weekly cost is implausible (over £{MAX_WEEKLY_COST:,.0f} a week; the highest "
        "known is about £63,000)",
        "__cost_raw",
    )
    frame = out.loc[~bad, ["child", "start", "end", "cost", "__file", "__row", "__start_raw"]]
    return CostsExtract(
        frame.reset_index(drop=True),
        label,
        enc,
        len(raw),
        {k: v or "(none)" for k, v in found.items()},
    )


__all__ = [
    "CHILD_ASSESSOR",
    "COST_ALIASES",
    "CodedTable",
    "RATER_SPELLINGS",
    "ROLE_ALIASES",
    "CostsExtract",
    "NeedsConfig",
    "NeedsExtract",
    "MAX_WEEKLY_COST",
    "load_needs_config",
    "parse_money",
    "read_coded_csv",
    "read_costs",
    "read_needs",
    "read_table_file",
    "role_key",
]
