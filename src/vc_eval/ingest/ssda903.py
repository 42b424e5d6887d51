"""The SSDA903 return: its tables, codes, and how to read them from CSV or XML.

The SSDA903 is the child-level return every English council sends the DfE
each year about children looked after. This module knows the format and
nothing about our data model beyond the code mappings:

* :data:`TABLES` lists each table's columns, date columns and code lists;
  a CSV file is recognised by its set of column headers (case and spaces
  ignored), never by its file name.
* :func:`read_source` reads a folder of CSV files (one per table), a single
  CSV file, or a DfE XML file (root element ``EXPSSDA903``) into
  :class:`RawTable` objects of text columns, each row keeping its file and
  row number so every later problem can name them.
* Text is decoded whatever the export did to it: UTF-8 with or without a
  byte-order mark, UTF-16, Windows-1252; cells are stripped of stray spaces
  and code columns upper-cased.
* :func:`placement_types`, :func:`ethnic_groups` and :data:`SEX_CODES` map
  SSDA903 codes onto the vocabularies of :mod:`vc_eval.core.schema`.

Rows in XML sources are numbered by their ``<CHILD>`` element (the n-th
child record in the file), since all of a child's rows live inside it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval.ingest.problems import NOTE, ProblemLog, fatal

# --------------------------------------------------------------------------
# Codes
# --------------------------------------------------------------------------

SEX_CODES: dict[str, str] = {"1": "male", "2": "female"}

#: ETHNIC code -> DfE top-level group (one of ``schema.ETHNICITIES``).
#: Chinese (CHNE) follows the ONS 2021 harmonised standard (Asian); DfE
#: tables before 2022 put it under "Other".
ETHNIC_GROUPS: dict[str, str] = {
    **dict.fromkeys(("WBRI", "WIRI", "WIRT", "WOTH", "WROM"), "White"),
    **dict.fromkeys(("MWBC", "MWBA", "MWAS", "MOTH"), "Mixed"),
    **dict.fromkeys(("AIND", "APKN", "ABAN", "AOTH", "CHNE"), "Asian"),
    **dict.fromkeys(("BCRB", "BAFR", "BOTH"), "Black"),
    "OOTH": "Other",
    **dict.fromkeys(("REFU", "NOBT"), "Not recorded"),
}

LEGAL_STATUS = frozenset(
    ("C1", "C2", "D1", "E1", "V2", "V3", "V4", "J1", "J2", "J3", "L1", "L2", "L3")
)
#: Legal statuses of short-break (respite) episodes, excluded by default.
SHORT_BREAK_LS = frozenset(("V3", "V4"))
RNE_CODES = frozenset(("S", "P", "L", "T", "U", "B"))
#: RNE meaning "legal status changed only": the placement carries on.
RNE_SAME_PLACEMENT = frozenset(("L",))
REC_CODES = frozenset(
    (
        "E11",
        "E12",
        "E2",
        "E3",
        "E4A",
        "E4B",
        "E13",
        "E41",
        "E45",
        "E46",
        "E47",
        "E48",
        "E5",
        "E6",
        "E7",
        "E8",
        "E9",
        "E14",
        "E15",
        "E16",
        "E17",
        "X1",
    )
)
PROVIDER_CODES = frozenset(("PR0", "PR1", "PR2", "PR3", "PR4", "PR5"))
#: Providers that make a foster placement an independent fostering agency one.
IFA_PROVIDERS = frozenset(("PR4", "PR5"))

#: PLACE code -> placement group. ``foster`` becomes in-house or IFA by provider.
PLACE_GROUPS: dict[str, str] = {
    **dict.fromkeys(("U1", "U2", "U3"), "kinship"),
    **dict.fromkeys(("U4", "U5", "U6"), "foster"),
    **dict.fromkeys(("K2", "R1", "S1", "P3"), "childrens_home"),
    **dict.fromkeys(("K1", "R5"), "secure"),
    **dict.fromkeys(("H5", "P2", "K3"), "supported_accommodation"),
    "P1": "placed_with_parents",
    **dict.fromkeys(
        (
            "A3",
            "A4",
            "A5",
            "A6",
            "T0",
            "T1",
            "T2",
            "T3",
            "T4",
            "R2",
            "R3",
            "Z1",
            "Z11",
            "Z12",
            "Z13",
            "Z14",
        ),
        "other",
    ),
}
PLACE_CODES = frozenset(PLACE_GROUPS)

#: URN values meaning "no registered provider".
NO_URN = frozenset(("", "XXXXXXX", "SC999999", "NONE", "N/A", "NA"))

_ZERO_ONE = frozenset(("0", "1"))


def placement_types(place: pd.Series, provider: pd.Series) -> pd.Series:
    """Our placement type for each PLACE + PLACE_PROVIDER pair (NaN if unknown).

    Foster placements (U4-U6) are IFA when the provider is private or
    voluntary (PR4/PR5) and in-house otherwise (PR1-PR3, and PR0/blank,
    which the import report counts separately).
    """
    group = place.map(PLACE_GROUPS)
    ifa = provider.isin(IFA_PROVIDERS)
    out = group.where(group != "foster", np.where(ifa, "ifa_foster", "in_house_foster"))
    return out.astype("str")


def ethnic_groups(codes: pd.Series) -> pd.Series:
    """DfE top-level group for each ETHNIC code (NaN if unknown)."""
    return codes.map(ETHNIC_GROUPS).astype("str")


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """One SSDA903 table: columns, which are optional, dates and code lists.

    ``imported`` tables feed the dataset; the others are read and checked so
    the import report can list their problems, but not used.
    """

    name: str
    label: str
    columns: tuple[str, ...]
    optional: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    codes: dict[str, frozenset] = field(default_factory=dict)
    ids: tuple[str, ...] = ("CHILD",)
    imported: bool = True

    @property
    def required(self) -> frozenset[str]:
        return frozenset(self.columns) - frozenset(self.optional)

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self.columns)

    def matches(self, headers: set[str]) -> bool:
        return self.required <= headers <= self.allowed


HEADER, EPISODES, REVIEWS, UASC, OC2, OC3, AD1, PLACED_ADOPTION, PREV_PERM, MISSING, SW = (
    "header",
    "episodes",
    "reviews",
    "uasc",
    "oc2",
    "oc3",
    "ad1",
    "placed_for_adoption",
    "previous_permanence",
    "missing",
    "sw_episodes",
)

TABLES: dict[str, TableSpec] = {
    HEADER: TableSpec(
        HEADER,
        "Header",
        ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"),
        optional=("UPN", "MOTHER", "MC_DOB"),
        dates=("DOB", "MC_DOB"),
        codes={
            "SEX": frozenset(SEX_CODES),
            "ETHNIC": frozenset(ETHNIC_GROUPS),
            "MOTHER": _ZERO_ONE,
        },
    ),
    EPISODES: TableSpec(
        EPISODES,
        "Episodes",
        (
            "CHILD",
            "DECOM",
            "RNE",
            "LS",
            "CIN",
            "PLACE",
            "PLACE_PROVIDER",
            "DEC",
            "REC",
            "REASON_PLACE_CHANGE",
            "HOME_POST",
            "PL_POST",
            "URN",
        ),
        optional=("CIN", "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"),
        dates=("DECOM", "DEC"),
        codes={
            "RNE": RNE_CODES,
            "LS": LEGAL_STATUS,
            "PLACE": PLACE_CODES,
            "PLACE_PROVIDER": PROVIDER_CODES,
            "REC": REC_CODES,
            "CIN": frozenset(f"N{i}" for i in range(1, 9)),
        },
        ids=("CHILD", "URN"),
    ),
    REVIEWS: TableSpec(
        REVIEWS,
        "Reviews",
        ("CHILD", "DOB", "REVIEW", "REVIEW_CODE"),
        optional=("DOB", "REVIEW_CODE"),
        dates=("DOB", "REVIEW"),
        codes={"REVIEW_CODE": frozenset(f"PN{i}" for i in range(8))},
    ),
    UASC: TableSpec(
        UASC,
        "UASC",
        ("CHILD", "SEX", "DOB", "DUC"),
        dates=("DOB", "DUC"),
        codes={"SEX": frozenset(SEX_CODES)},
        imported=False,
    ),
    OC2: TableSpec(
        OC2,
        "OC2",
        (
            "CHILD",
            "DOB",
            "SDQ_SCORE",
            "SDQ_REASON",
            "CONVICTED",
            "HEALTH_CHECK",
            "IMMUNISATIONS",
            "TEETH_CHECK",
            "HEALTH_ASSESSMENT",
            "SUBSTANCE_MISUSE",
            "INTERVENTION_RECEIVED",
            "INTERVENTION_OFFERED",
        ),
        optional=(
            "DOB",
            "SDQ_REASON",
            "CONVICTED",
            "HEALTH_CHECK",
            "IMMUNISATIONS",
            "TEETH_CHECK",
            "HEALTH_ASSESSMENT",
            "SUBSTANCE_MISUSE",
            "INTERVENTION_RECEIVED",
            "INTERVENTION_OFFERED",
        ),
        dates=("DOB",),
        codes={
            "SDQ_REASON": frozenset(f"SDQ{i}" for i in range(1, 6)),
            "CONVICTED": _ZERO_ONE,
            "HEALTH_CHECK": _ZERO_ONE,
            "IMMUNISATIONS": _ZERO_ONE,
            "TEETH_CHECK": _ZERO_ONE,
            "HEALTH_ASSESSMENT": _ZERO_ONE,
            "SUBSTANCE_MISUSE": _ZERO_ONE,
            "INTERVENTION_RECEIVED": _ZERO_ONE,
            "INTERVENTION_OFFERED": _ZERO_ONE,
        },
    ),
    OC3: TableSpec(
        OC3,
        "OC3",
        ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"),
        dates=("DOB",),
        codes={
            "IN_TOUCH": frozenset(("YES", "NO", "DIED", "REFU", "NREQ", "RHOM")),
            "ACTIV": frozenset(
                ("F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5", "G4", "G5", "G6", "0")
            ),
            "ACCOM": frozenset(
                (
                    "B1",
                    "B2",
                    "C1",
                    "C2",
                    "D1",
                    "D2",
                    "E1",
                    "E2",
                    "G1",
                    "G2",
                    "H1",
                    "H2",
                    "K1",
                    "K2",
                    "R1",
                    "R2",
                    "S2",
                    "T1",
                    "T2",
                    "U1",
                    "U2",
                    "V1",
                    "V2",
                    "W1",
                    "W2",
                    "X2",
                    "Y1",
                    "Y2",
                    "Z1",
                    "Z2",
                    "0",
                )
            ),
        },
        imported=False,
    ),
    AD1: TableSpec(
        AD1,
        "AD1",
        (
            "CHILD",
            "DOB",
            "DATE_INT",
            "DATE_MATCH",
            "FOSTER_CARE",
            "NB_ADOPTR",
            "SEX_ADOPTR",
            "LS_ADOPTR",
        ),
        dates=("DOB", "DATE_INT", "DATE_MATCH"),
        codes={"FOSTER_CARE": _ZERO_ONE},
        imported=False,
    ),
    PLACED_ADOPTION: TableSpec(
        PLACED_ADOPTION,
        "PlacedAdoption",
        ("CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"),
        dates=("DOB", "DATE_PLACED", "DATE_PLACED_CEASED"),
        codes={"REASON_PLACED_CEASED": frozenset(("RD1", "RD2", "RD3", "RD4"))},
        imported=False,
    ),
    PREV_PERM: TableSpec(
        PREV_PERM,
        "PrevPerm",
        ("CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"),
        dates=("DOB",),
        imported=False,
    ),
    MISSING: TableSpec(
        MISSING,
        "Missing",
        ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"),
        optional=("DOB",),
        dates=("DOB", "MIS_START", "MIS_END"),
        codes={"MISSING": frozenset(("M", "A"))},
    ),
    SW: TableSpec(
        SW,
        "SW_Episodes",
        ("CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"),
        dates=("DOB", "SW_DECOM", "SW_DEC"),
        ids=("CHILD", "SW_ID"),
        imported=False,
    ),
}

#: Columns dropped on reading and never passed on (postcodes, pupil number).
DROPPED_COLUMNS: frozenset[str] = frozenset(("HOME_POST", "PL_POST", "UPN"))


def recognise(headers: list[str] | set[str]) -> str | None:
    """The table whose column set these headers are, or None."""
    h = set(headers)
    for name, spec in TABLES.items():
        if spec.matches(h):
            return name
    return None


def closest_table(headers: list[str] | set[str]) -> tuple[str | None, float]:
    """The table whose columns overlap these headers most (Jaccard index)."""
    h = set(headers)
    best, score = None, 0.0
    for name, spec in TABLES.items():
        j = len(h & spec.allowed) / max(1, len(h | spec.required))
        if j > score:
            best, score = name, j
    return best, score


def normalise_header(name: str, *, upper: bool = True) -> str:
    h = str(name).replace("\ufeff", "").strip().strip('"').strip()
    return h.upper() if upper else h


# --------------------------------------------------------------------------
# Dates and collection years
# --------------------------------------------------------------------------

_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")
EARLIEST_DATE = pd.Timestamp("1900-01-01")
LATEST_DATE = pd.Timestamp("2100-12-31")


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dd/mm/YYYY (DfE) and ISO YYYY-MM-DD dates (with or without time).

    Blank stays NaT; impossible dates (31/02/2017) and anything else that is
    not a date become NaT too, so callers compare with the blank mask to find
    invalid values.
    """
    values = pd.Series(values, copy=False)
    # long extracts repeat few distinct dates: parse each once
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == len(values):
        return _parse_dates(values)
    parsed = _parse_dates(pd.Series(uniques, dtype="str")).to_numpy()
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = codes >= 0
    out[ok] = parsed[codes[ok]]
    return pd.Series(out, index=values.index)


def _parse_dates(values: pd.Series) -> pd.Series:
    s = values.astype("str").str.strip()
    out = pd.to_datetime(s, format="%d/%m/%Y", errors="coerce")
    todo = out.isna() & s.notna() & (s != "")
    if todo.any():
        iso = s[todo].str.match(_ISO)
        if iso.any():
            part = s[todo][iso].str.slice(0, 10).str.replace(r"[T ].*$", "", regex=True)
            out.loc[part.index] = pd.to_datetime(part, format="%Y-%m-%d", errors="coerce")
    out = out.astype("datetime64[ns]")
    return out.where((out >= EARLIEST_DATE) & (out <= LATEST_DATE))


_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d{2})(?:\s*[-_/ ]\s*(20\d{2}|\d{2}))?(?!\d)")


def year_from_name(name: str) -> int | None:
    """Collection year (the year of its 31 March end) named in a file/folder name.

    ``2017-18`` and ``2017_2018`` are the year ending 31 March 2018; a
    single year (``903_2018``) is the year ending 31 March of that year.
    Returns None when the name holds no year.
    """
    matches = list(_YEAR_IN_NAME.finditer(name))
    if not matches:
        return None
    m = matches[-1]  # the last year named in the name wins
    first, second = int(m.group(1)), m.group(2)
    if second is None:
        return first
    end = int(second) if len(second) == 4 else 2000 + int(second)
    return end if end == first + 1 else first


def year_end(year: int) -> pd.Timestamp:
    """31 March ending collection year ``year``."""
    return pd.Timestamp(year=year, month=3, day=31)


def year_of(dates: pd.Series) -> pd.Series:
    """The collection year (ending 31 March) each date falls in."""
    d = pd.Series(dates, copy=False)
    return (d.dt.year + (d.dt.month > 3).astype(int)).astype("Int64")


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


@dataclass
class RawTable:
    """One table as read: text columns with canonical names, plus provenance.

    ``frame`` has the table's columns (missing optional ones added blank)
    and ``__file`` / ``__row`` (row numbers as the import report gives them).
    """

    table: str
    frame: pd.DataFrame
    file: str
    path: Path
    encoding: str
    source: str
    year: int | None = None
    year_from: str = ""

    @property
    def spec(self) -> TableSpec:
        return TABLES[self.table]


@dataclass
class Source:
    """One input (a folder, CSV file or XML file) = one collection year."""

    path: Path
    label: str
    tables: list[RawTable] = field(default_factory=list)
    year: int | None = None
    year_from: str = ""
    files: dict[str, tuple[Path, str]] = field(default_factory=dict)  # label -> (path, enc)
    hint: str = ""  # the name that may say the year (folder, file or file group)


def decode_bytes(data: bytes, label: str) -> tuple[str, str]:
    """Decode a text file; returns (text, encoding). Fatal if it is not text.

    Order: byte-order marks; UTF-16 without BOM (NUL-byte pattern); UTF-8;
    UTF-8 with some Windows-1252 lines (see :func:`decode_text`);
    Windows-1252; then charset-normalizer's best guess.
    """
    text, enc, _ = decode_text(data, label)
    return text, enc


#: Encoding name given to files mixing UTF-8 and Windows-1252 lines.
MIXED_ENCODING = "utf-8 + cp1252"


def decode_text(data: bytes, label: str) -> tuple[str, str, list[int]]:
    """:func:`decode_bytes`, also returning the lines (0 = first) of a mixed file
    that were not UTF-8 and were read as Windows-1252."""
    if not data.strip(b" \t\r\n"):
        raise fatal(label, "file is empty")
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
        (codecs.BOM_UTF32_LE, "utf-32"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as err:
                if enc == "utf-8-sig":
                    mixed = _decode_mixed(data[len(bom) :])
                    if mixed is not None:
                        return check_text(mixed[0], label), MIXED_ENCODING, mixed[1]
                raise fatal(
                    label,
                    f"file starts with a {enc} byte-order mark but is not "
                    f"valid {enc} ({err.reason})",
                ) from err
            return check_text(text, label), enc, []
    head = data[:4096]
    if head.count(b"\x00") >= len(head) // 4:
        enc = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        try:
            return check_text(data.decode(enc), label), enc, []
        except UnicodeDecodeError as err:
            raise fatal(label, "not a text file (binary content)") from err
    if b"\x00" in data:
        raise fatal(label, "not a text file (binary content)")
    try:
        return check_text(data.decode("utf-8"), label), "utf-8", []
    except UnicodeDecodeError:
        pass
    mixed = _decode_mixed(data)
    if mixed is not None:
        return check_text(mixed[0], label), MIXED_ENCODING, mixed[1]
    try:
        return check_text(data.decode("cp1252"), label), "cp1252", []
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise fatal(label, "text encoding not recognised (not UTF-8, UTF-16 or Windows-1252)")
    return check_text(str(best), label), best.encoding, []


def _decode_mixed(data: bytes) -> tuple[str, list[int]] | None:
    """Lines decoded one by one when a file mixes UTF-8 and Windows-1252 lines
    (rows appended by different tools). None unless both kinds are present."""
    lines = data.split(b"\n")
    out, cp = [], []
    utf8_non_ascii = False
    for i, line in enumerate(lines):
        try:
            out.append(line.decode("utf-8"))
            utf8_non_ascii = utf8_non_ascii or not line.isascii()
        except UnicodeDecodeError:
            out.append(line.decode("cp1252", errors="replace"))
            cp.append(i)
    if not (utf8_non_ascii and cp):
        return None
    return "\n".join(out), cp


#: Control characters that do not occur in text files (all below 32 but tab,
#: line breaks and form feed); counted one character at a time, not per
#: character of the sample.
_CONTROL_CHARS = tuple(chr(i) for i in range(32) if chr(i) not in "\t\r\n\x0c")


def check_text(text: str, label: str) -> str:
    """``text`` if it reads as text; fatal when empty or binary data decoded by luck."""
    # Control characters other than tab/newline mean binary data decoded by luck.
    sample = text[:20000]
    bad = sum(sample.count(ch) for ch in _CONTROL_CHARS)
    if bad > max(2, len(sample) // 200):
        raise fatal(label, "not a text file (binary content)")
    if not text.strip():
        raise fatal(label, "file is empty")
    return text


def sniff_delimiter(first_line: str) -> str:
    """The delimiter of a CSV file from its header line (comma unless absent)."""
    if "," in first_line:
        return ","
    for d in ("\t", ";", "|"):
        if d in first_line:
            return d
    return ","


def read_csv_text(
    text: str, label: str, log: ProblemLog, *, upper: bool = True, utf8: bytes | None = None
) -> pd.DataFrame:
    """Parse CSV text into text columns with normalised headers plus ``__row``.

    Headers are stripped (and upper-cased unless ``upper=False``: council
    extracts keep their own column names). ``utf8`` may pass the file's own
    bytes when they are valid UTF-8, saving a re-encoding of large files.

    No row is lost silently. Line breaks may be LF, CRLF or CR alone (old
    Mac exports), even mixed; a carriage return inside a cell becomes a
    space (noted). A quote that opens a cell and is never closed (``"123``)
    would swallow the rest of the file: it is read as a literal character
    and removed, with a note. Rows with more values than the header are
    dropped; short rows are padded with blanks (noted), except a short last
    row without a line break, which is a file cut off mid-row (dropped).
    Blank lines are skipped (row numbers still count them). Fatal: no
    header, duplicate column names.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        utf8 = None
        if "\r" in text and "\n" not in text.rstrip("\r"):
            text = text.replace("\r", "\n")
            log.add(
                label,
                None,
                None,
                "line breaks are carriage returns only (old Mac format); read as line breaks",
                action="read",
                level=NOTE,
            )
    end = text.find("\n")
    first = text if end < 0 else text[:end]
    sep = sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=sep), [])
    headers = [normalise_header(h) if upper else normalise_header(h, upper=False) for h in header]
    if not any(headers):
        raise fatal(label, "no header row (the first line is blank)")
    dupes = sorted({h for h in headers if headers.count(h) > 1 and h})
    if dupes:
        raise fatal(label, f"duplicate column name(s) in the header: {', '.join(dupes)}")
    n = len(headers)
    body = None
    if len(text) > SMALL_TEXT and _fast_path_ok(text):
        # fast path (multi-threaded Arrow parser); it cannot number rows
        # around blank lines or report ragged rows, so those take the slow path
        try:
            body = pd.read_csv(
                io.BytesIO(
                    text.encode("utf-8")
                    if utf8 is None
                    else utf8[len(codecs.BOM_UTF8) :]
                    if utf8.startswith(codecs.BOM_UTF8)
                    else utf8
                ),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                engine="pyarrow",
            )
        except (pd.errors.ParserError, ValueError):
            body = None
        if body is not None and body.shape[1] != n:
            body = None
        if body is not None:
            body.columns = range(n)
            numbers = np.arange(1, len(body) + 1)
    if body is None:
        good, numbers_l = _parse_rows(text, sep, n, label, log)
        body = pd.DataFrame(good, columns=range(n), dtype="str")
        numbers = np.asarray(numbers_l, dtype=int)
    body.columns = headers
    # trailing empty header cells (a trailing comma) carry no data
    body = body.loc[:, [h for h in headers if h]]
    for c in body.columns:
        body[c] = strip_text(body[c])
    body["__row"] = numbers
    empty = (body.drop(columns="__row") == "").all(axis=1).to_numpy()
    if empty.any():  # copying a national extract only to drop nothing costs a gigabyte
        body = body.loc[~empty]
    return body.reset_index(drop=True)


#: Texts up to this many characters are parsed line by line: for small files
#: that is faster than starting the Arrow parser.
SMALL_TEXT = 100_000


def _fast_path_ok(text: str) -> bool:
    """Whether the Arrow parser can read ``text`` without losing or merging rows:
    no blank lines, no carriage return inside a line, every line's quotes balanced."""
    if "\n\n" in text or "\r" in text:
        return False
    # walk the quotes in pairs: a pair enclosing a line break is a cell running
    # over lines or a stray quote, and takes the slow path (national extracts
    # quote a few domain names on each of millions of lines: no split by line)
    pos = text.find('"')
    while pos >= 0:
        close = text.find('"', pos + 1)
        if close < 0 or text.find("\n", pos, close) >= 0:
            return False
        pos = text.find('"', close + 1)
    return True


#: A quoted cell may run over at most this many lines before its opening
#: quote is taken for a stray one.
MAX_CELL_LINES = 5


def _parse_rows(
    text: str, sep: str, n: int, label: str, log: ProblemLog
) -> tuple[list[list[str]], list[int]]:
    """Rows of ``text`` (after the header) parsed line by line; see :func:`read_csv_text`."""
    lines = text.split("\n")
    complete = text.endswith("\n")
    if complete:
        lines = lines[:-1]
    notes: dict[str, list[int]] = {}

    def note(rule: str, row: int) -> None:
        notes.setdefault(rule, []).append(row)

    # 1) carriage returns left inside lines: line breaks (when every piece is
    #    a whole row) or characters inside a cell (replaced by a space)
    phys: list[str] = []
    for line in lines[1:]:
        if "\r" in line:
            parts = line.split("\r")
            if all(
                not p.strip() or len(next(csv.reader([p], delimiter=sep), [])) == n for p in parts
            ):
                note(
                    "mixed line endings (carriage return alone); read as line breaks", len(phys) + 1
                )
                phys.extend(parts)
                continue
            note("carriage return inside a cell replaced by a space", len(phys) + 1)
            line = line.replace("\r", " ")
        phys.append(line)
    # 2) records: quotes that span lines are accepted only when they close
    #    within a few lines and give a whole row
    good, numbers = [], []
    i = 0
    last = len(phys)
    while i < last:
        row_no = i + 1
        line = phys[i]
        i += 1
        if not line.strip():
            continue
        if line.count('"') % 2:
            joined, j = line, i
            while joined.count('"') % 2 and j < last and j - i < MAX_CELL_LINES:
                joined += "\n" + phys[j]
                j += 1
            try:
                recs = list(csv.reader(io.StringIO(joined), delimiter=sep))
            except csv.Error:
                recs = []
            rec = recs[0] if len(recs) == 1 else []
            if not joined.count('"') % 2 and len(rec) == n:
                good.append(rec)
                numbers.append(row_no)
                i = j
                continue
            # a stray quote: read it as a character and drop it from the cell
            rec = [v.replace('"', "") for v in line.split(sep)]
            if len(rec) == n:
                note("stray quote (never closed) removed from a cell", row_no)
                good.append(rec)
                numbers.append(row_no)
            else:
                log.add(
                    label,
                    row_no,
                    None,
                    f"row has an unclosed quote and {len(rec)} values but the header has "
                    f"{n} columns",
                )
            continue
        try:
            r = next(csv.reader([line], delimiter=sep), [])
        except csv.Error:  # cannot happen for one line without NUL; never a traceback
            r = line.split(sep)
        if len(r) > n and any(v.strip() for v in r[n:]):
            log.add(label, row_no, None, f"row has {len(r)} values but the header has {n} columns")
        elif len(r) < n and i == last and not complete:
            log.add(
                label,
                row_no,
                None,
                f"last row is cut off ({len(r)} of {n} values and no line break at the end "
                "of the file: the file looks truncated)",
            )
        else:
            if len(r) < n:
                note(
                    "row has fewer values than the header has columns; the rest read as blank",
                    row_no,
                )
            good.append((r + [""] * n)[:n])
            numbers.append(row_no)
    for rule, rows in notes.items():
        log.add(label, rows, None, rule, action="repaired", level=NOTE)
    return good, numbers


def strip_text(values: pd.Series) -> pd.Series:
    """Text with surrounding spaces removed and missing as blank."""
    return values.astype("str").fillna("").str.strip()


def _conform(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    for c in spec.columns:
        if c not in frame:
            frame[c] = ""
    keep = [c for c in spec.columns if c not in DROPPED_COLUMNS] + ["__row"]
    out = frame.loc[:, keep].copy()
    upper = [c for c in spec.codes] + [c for c in ("PLACE_PROVIDER",) if c in out]
    for c in dict.fromkeys(upper):
        if c in out:
            out[c] = out[c].str.upper()
    return out


_DATA_LIKE = re.compile(r"^[\d\s/.:\-]*\d[\d\s/.:\-]*$")


def looks_like_data(headers: list[str]) -> bool:
    """Whether a "header" line is really a data row: a date or number among the
    cells, or cells that are mostly not names (SSDA903 headers are words)."""
    cells = [h for h in headers if h]
    if not cells:
        return False
    return any(_DATA_LIKE.match(h) for h in cells)


def check_regular_file(path: Path, label: str) -> None:
    """Fatal unless ``path`` is a regular file (not a device, pipe or socket,
    which could block or never end)."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise fatal(label, f"file cannot be read ({err.strerror or err})") from err
    if not stat.S_ISREG(mode):
        raise fatal(label, "not a regular file (a device, pipe or socket); give a saved file")


def read_csv_file(path: Path, label: str, source: str, log: ProblemLog) -> RawTable | None:
    """Read one CSV file and recognise its table.

    Returns None (with a note) for a file that is no SSDA903 table at all;
    a file whose headers nearly match a table is fatal, naming the missing
    and unexpected columns.
    """
    check_regular_file(path, label)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise fatal(label, f"file cannot be read ({err.strerror or err})") from err
    text, enc, cp_lines = decode_text(data, label)
    if cp_lines:
        log.add(
            label,
            cp_lines,
            None,
            "file mixes UTF-8 and Windows-1252 rows; these rows were read as Windows-1252",
            action="read",
            level=NOTE,
        )
    utf8 = data if enc in ("utf-8", "utf-8-sig") else None
    frame = read_csv_text(text, label, log, utf8=utf8)
    headers = [c for c in frame.columns if c != "__row"]
    name = recognise(headers)
    if name is None and looks_like_data(headers):
        raise fatal(
            label,
            f"the first line holds data, not column headers ({len(headers)} values): the "
            "header line is missing. Add the SSDA903 column names as the first line.",
        )
    if name is None:
        near, score = closest_table(headers)
        if near is not None and score >= 0.5:
            spec = TABLES[near]
            missing = sorted(spec.required - set(headers))
            extra = sorted(set(headers) - spec.allowed)
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise fatal(
                label,
                f"column headers do not match the SSDA903 {spec.label} table ({'; '.join(parts)})",
            )
        log.add(
            label,
            None,
            None,
            f"not an SSDA903 table ({len(headers)} columns, headers not recognised); file ignored",
            action="file ignored",
            level=NOTE,
        )
        return None
    spec = TABLES[name]
    frame = _conform(frame, spec)
    frame["__file"] = label
    return RawTable(name, frame, label, path, enc, source)


# -- XML -------------------------------------------------------------------

#: XML element -> table, for repeating groups inside <CHILD> or <HEADER>.
_XML_GROUPS = {
    "EPISODE": EPISODES,
    "AREVIEW": REVIEWS,
    "AMISSING": MISSING,
    "AD_PLACED": PLACED_ADOPTION,
    "PERMANENCE": PREV_PERM,
    "OC2": OC2,
}
_XML_RENAME = {"CHILDID": "CHILD", "PL": "PLACE"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].upper()


def read_xml_file(path: Path, label: str, source: str, log: ProblemLog) -> list[RawTable]:
    """Read a DfE SSDA903 XML file (root ``EXPSSDA903``) into tables."""
    check_regular_file(path, label)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise fatal(label, f"file cannot be read ({err.strerror or err})") from err
    if not data.strip():
        raise fatal(label, "file is empty")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        line, col = err.position
        raise fatal(label, f"not well-formed XML (line {line}, column {col})") from err
    if _local(root.tag) != "EXPSSDA903":
        raise fatal(
            label,
            f"not an SSDA903 XML file (root element <{_local(root.tag)}>, expected <EXPSSDA903>)",
        )
    rows: dict[str, list[dict]] = {t: [] for t in TABLES}
    unknown: set[str] = set()
    for n, child in enumerate(root, start=1):
        if _local(child.tag) != "CHILD":
            unknown.add(_local(child.tag))
            continue
        head: dict[str, str] = {}
        groups: list[tuple[str, dict]] = []
        for el in child:
            tag = _local(el.tag)
            if tag == "HEADER":
                for sub in el:
                    stag = _local(sub.tag)
                    if stag in _XML_GROUPS:
                        groups.append((_XML_GROUPS[stag], _fields(sub)))
                    elif len(sub):
                        unknown.add(f"HEADER/{stag}")
                    else:
                        head[_XML_RENAME.get(stag, stag)] = (sub.text or "").strip()
            elif tag in _XML_GROUPS:
                groups.append((_XML_GROUPS[tag], _fields(el)))
            else:
                unknown.add(tag)
        cid = head.get("CHILD", "")
        base = {"CHILD": cid, "DOB": head.get("DOB", ""), "__row": n}
        rows[HEADER].append({**head, "__row": n})
        if head.get("DUC"):
            rows[UASC].append({**base, "SEX": head.get("SEX", ""), "DUC": head["DUC"]})
        if any(head.get(k) for k in ("IN_TOUCH", "ACTIV", "ACCOM")):
            rows[OC3].append(
                {**base, **{k: head.get(k, "") for k in ("IN_TOUCH", "ACTIV", "ACCOM")}}
            )
        if head.get("DATE_INT") or head.get("DATE_MATCH"):
            rows[AD1].append({**base, **{k: head.get(k, "") for k in TABLES[AD1].columns[2:]}})
        for table, f in groups:
            rows[table].append({**base, **f})
    if unknown:
        log.add(
            label,
            None,
            None,
            "XML elements not part of the SSDA903 tables read; ignored",
            [", ".join(sorted(unknown))],
            action="ignored",
            level=NOTE,
        )
    out = []
    for table, recs in rows.items():
        if not recs:
            continue
        spec = TABLES[table]
        frame = pd.DataFrame.from_records(recs)
        for c in frame.columns:
            if c != "__row":
                frame[c] = frame[c].fillna("").astype("str").str.strip()
        frame = _conform(frame, spec)
        frame["__file"] = label
        out.append(RawTable(table, frame, label, path, "xml", source))
    if not out:
        raise fatal(label, "no <CHILD> records in the XML file")
    return out


def _fields(el: ET.Element) -> dict[str, str]:
    return {_XML_RENAME.get(_local(s.tag), _local(s.tag)): (s.text or "").strip() for s in el}


# -- sources -----------------------------------------------------------------


_INPUT_SUFFIXES = (".csv", ".xml")


def expand_inputs(paths: list[Path]) -> list[tuple[Path, list[Path], str]]:
    """Sources from command-line paths: (source path, its files, its name).

    A folder's own CSV/XML files are one source (one per year named in the
    file names, when they name several years), and each sub-folder holding
    such files is one more (one per year), so year folders are read even
    when files also sit at the top level. A file is its own source. The name
    is the folder or file name that may hint at the year. Fatal: a
    path that does not exist, is no regular file or folder, or holds nothing.
    """
    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise fatal(str(p), "SSDA903 input not found (--ssda903)")
        if p.is_file():
            check_regular_file(p, p.name)
            out.append((p, [p], p.stem))
            continue
        if not p.is_dir():
            raise fatal(str(p), "not a regular file or folder (--ssda903)")
        found = False
        files = _input_files(p)
        by_year: dict[int | None, list[Path]] = {}
        for f in files:
            by_year.setdefault(year_from_name(f.stem), []).append(f)
        if len([y for y in by_year if y is not None]) > 1:
            # year files side by side (903_2019_header.csv, 903_2020_header.csv)
            for y, group in sorted(by_year.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
                out.append((p, group, group[0].stem if y is not None else p.name))
            found = True
        elif files:
            out.append((p, files, p.name))
            found = True
        subs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
        for d in subs:
            sfiles = _input_files(d)
            if sfiles:
                out.append((d, sfiles, d.name))
                found = True
        if not found:
            raise fatal(str(p), "no CSV or XML files found in the SSDA903 folder")
    return out


def _input_files(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.iterdir()
        if f.suffix.lower() in _INPUT_SUFFIXES
        and not f.name.startswith((".", "~$"))
        and (f.is_file() or not f.is_dir())
    )


def read_sources(
    paths: list[Path],
    log: ProblemLog,
    *,
    progress: bool | None = None,
    today: pd.Timestamp | None = None,
) -> list[Source]:
    """Read every SSDA903 input into :class:`Source` objects (one per year).

    Fatal problems (unreadable file, no recognisable table at all) raise
    :class:`~vc_eval.ingest.problems.ImportFailed` before anything is written.
    """
    from vc_eval.core.progress import tqdm

    expanded = expand_inputs(paths)
    sources = []
    n_files = sum(len(f) for _, f, _ in expanded)
    bar = tqdm(
        total=n_files,
        desc="read SSDA903",
        unit="file",
        disable=None if progress is None else not progress,
    )
    labels_used: dict[str, int] = {}
    for src_path, files, hint in expanded:
        # labels name the folder and file only: reports show no local paths
        label = src_path.name
        if src_path.is_dir() and hint != src_path.name:
            label = f"{src_path.name} ({hint})"
        labels_used[label] = labels_used.get(label, 0) + 1
        if labels_used[label] > 1:
            label = f"{label} #{labels_used[label]}"
        src = Source(src_path, label, hint=hint)
        for f in files:
            flabel = f.name if src_path.is_file() else f"{src_path.name}/{f.name}"
            if f.suffix.lower() == ".xml":
                tables = read_xml_file(f, flabel, label, log)
                src.files[flabel] = (f, "xml")
            else:
                t = read_csv_file(f, flabel, label, log)
                tables = [t] if t is not None else []
                src.files[flabel] = (f, t.encoding if t is not None else "(not recognised)")
            src.tables.extend(tables)
            bar.update()
        sources.append(src)
    bar.close()
    labels = ", ".join(s.label for s in sources)
    if not any(s.tables for s in sources):
        raise fatal(labels, "no recognisable SSDA903 table (CSV headers or XML) found")
    found = {t.table for s in sources for t in s.tables}
    for need, why in (
        (HEADER, "sex, date of birth and ethnicity"),
        (EPISODES, "periods of care and placements"),
    ):
        if need not in found:
            raise fatal(labels, f"no SSDA903 {TABLES[need].label} table found (needed for {why})")
    for s in sources:
        assign_year(s, today=today)
    return sources


def assign_year(src: Source, *, today: pd.Timestamp | None = None) -> None:
    """Set the source's collection year from its dates; its name is only a hint.

    A return covers the year to 31 March: its reviews, episode ends and
    missing episodes fall in that year, so the year holding most of them is
    the return's year (robust to a few mistyped dates; dates after
    ``today`` are ignored). Without such dates, the 31 March on or after the
    99th percentile of episode starts; without dates at all, the name.

    The name agrees when it names the same year, or names the year the
    collection starts (a folder ``2017`` holding April 2017 to March 2018,
    as several tools name them). Any other disagreement is fatal: the
    importer cannot tell which is wrong.
    """
    name = src.hint or (src.path.stem if src.path.is_file() else src.path.name)
    named = year_from_name(name)
    single = named is not None and _single_year_name(name)
    data = _year_from_dates(src, today)
    if data is None:
        y = named
        how = "the name (no dates to read it from)" if named is not None else "unknown"
    elif named is None:
        y, how = data, "the dates (no year in the name)"
    elif named == data:
        y, how = data, "the dates (the name agrees)"
    elif single and named + 1 == data:
        y = data
        how = f"the dates (name '{named}' read as the year the collection starts)"
    else:
        raise fatal(
            src.label,
            f"the name says the collection year to 31 March {named} but the dates in its "
            f"files run to 31 March {data}; rename the folder or file, or check that the "
            "files belong together",
        )
    src.year, src.year_from = y, how
    for t in src.tables:
        t.year, t.year_from = src.year, src.year_from


def _single_year_name(name: str) -> bool:
    m = list(_YEAR_IN_NAME.finditer(name))
    return bool(m) and m[-1].group(2) is None


def _year_from_dates(src: Source, today: pd.Timestamp | None) -> int | None:
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    in_year = [
        parse_dates(t.frame[col])
        for table, col in ((REVIEWS, "REVIEW"), (EPISODES, "DEC"), (MISSING, "MIS_START"))
        for t in src.tables
        if t.table == table
    ]
    d = pd.concat(in_year or [pd.Series(dtype="datetime64[ns]")]).dropna()
    d = d[d <= today]
    if len(d):
        counts = year_of(d).value_counts()
        # the most common year; ties go to the later year
        best = counts[counts == counts.max()].index.max()
        return int(best)
    starts = pd.concat(
        [parse_dates(t.frame["DECOM"]) for t in src.tables if t.table == EPISODES]
        or [pd.Series(dtype="datetime64[ns]")]
    ).dropna()
    starts = starts[starts <= today]
    if len(starts):
        q = starts.sort_values().iloc[int(np.floor(0.99 * (len(starts) - 1)))]
        return int(q.year + (1 if q.month > 3 else 0))
    return None


__all__ = [
    "EPISODES",
    "ETHNIC_GROUPS",
    "HEADER",
    "MISSING",
    "OC2",
    "PLACE_GROUPS",
    "REVIEWS",
    "RawTable",
    "SEX_CODES",
    "SHORT_BREAK_LS",
    "Source",
    "TABLES",
    "TableSpec",
    "check_text",
    "decode_bytes",
    "decode_text",
    "ethnic_groups",
    "parse_dates",
    "placement_types",
    "read_sources",
    "recognise",
    "sniff_delimiter",
    "strip_text",
    "year_end",
    "year_from_name",
    "year_of",
]
