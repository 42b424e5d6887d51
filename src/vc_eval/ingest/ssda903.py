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


def decode_bytes(data: bytes, label: str) -> tuple[str, str]:
    """Decode a text file; returns (text, encoding). Fatal if it is not text.

    Order: byte-order marks; UTF-16 without BOM (NUL-byte pattern); UTF-8;
    Windows-1252; then charset-normalizer's best guess.
    """
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
                raise fatal(
                    label,
                    f"file starts with a {enc} byte-order mark but is not "
                    f"valid {enc} ({err.reason})",
                ) from err
            return _check_text(text, label), enc
    head = data[:4096]
    if head.count(b"\x00") >= len(head) // 4:
        enc = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        try:
            return _check_text(data.decode(enc), label), enc
        except UnicodeDecodeError as err:
            raise fatal(label, "not a text file (binary content)") from err
    if b"\x00" in data:
        raise fatal(label, "not a text file (binary content)")
    for enc in ("utf-8", "cp1252"):
        try:
            return _check_text(data.decode(enc), label), enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise fatal(label, "text encoding not recognised (not UTF-8, UTF-16 or Windows-1252)")
    return _check_text(str(best), label), best.encoding


def _check_text(text: str, label: str) -> str:
    # Control characters other than tab/newline mean binary data decoded by luck.
    sample = text[:20000]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\x0c")
    if bad > max(2, len(sample) // 200):
        raise fatal(label, "not a text file (binary content)")
    if not text.strip():
        raise fatal(label, "file is empty")
    return text


def _sniff_delimiter(first_line: str) -> str:
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

    Rows with more values than the header are dropped with a problem each;
    short rows are padded with blanks; blank lines are skipped (row numbers
    still count them). Fatal: no header, duplicate column names.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    end = text.find("\n")
    first = (text if end < 0 else text[:end]).rstrip("\r")
    sep = _sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=sep), [])
    headers = [normalise_header(h) if upper else normalise_header(h, upper=False) for h in header]
    if not any(headers):
        raise fatal(label, "no header row (the first line is blank)")
    dupes = sorted({h for h in headers if headers.count(h) > 1 and h})
    if dupes:
        raise fatal(label, f"duplicate column name(s) in the header: {', '.join(dupes)}")
    n = len(headers)
    body = None
    if "\n\n" not in text and "\n\r\n" not in text:
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
        rows = list(csv.reader(io.StringIO(text), delimiter=sep))
        good, numbers_l = [], []
        for i, r in enumerate(rows[1:], start=1):
            if len(r) > n and any(v.strip() for v in r[n:]):
                log.add(label, i, None, f"row has {len(r)} values but the header has {n} columns")
            elif r:
                good.append((r + [""] * n)[:n])
                numbers_l.append(i)
        body = pd.DataFrame(good, columns=range(n), dtype="str")
        numbers = np.asarray(numbers_l, dtype=int)
    body.columns = headers
    # trailing empty header cells (a trailing comma) carry no data
    body = body.loc[:, [h for h in headers if h]]
    for c in body.columns:
        body[c] = strip_text(body[c])
    body["__row"] = numbers
    empty = (body.drop(columns="__row") == "").all(axis=1)
    return body.loc[~empty.to_numpy()].reset_index(drop=True)


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


def read_csv_file(path: Path, label: str, source: str, log: ProblemLog) -> RawTable | None:
    """Read one CSV file and recognise its table.

    Returns None (with a note) for a file that is no SSDA903 table at all;
    a file whose headers nearly match a table is fatal, naming the missing
    and unexpected columns.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise fatal(label, f"file cannot be read ({err.strerror or err})") from err
    text, enc = decode_bytes(data, label)
    frame = read_csv_text(text, label, log, utf8=data if enc.startswith("utf-8") else None)
    headers = [c for c in frame.columns if c != "__row"]
    name = recognise(headers)
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
            "not an SSDA903 table (headers not recognised); file ignored",
            [", ".join(headers[:8])],
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


def expand_inputs(paths: list[Path]) -> list[tuple[Path, list[Path]]]:
    """Sources from command-line paths: (source path, its files).

    A folder holding CSV/XML files is one source; a folder holding only
    sub-folders gives one source per sub-folder (one per year); a file is
    its own source. Fatal: a path that does not exist or holds nothing.
    """
    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise fatal(str(p), "SSDA903 input not found (--ssda903)")
        if p.is_file():
            out.append((p, [p]))
            continue
        files = sorted(
            f for f in p.iterdir() if f.is_file() and f.suffix.lower() in _INPUT_SUFFIXES
        )
        if files:
            out.append((p, files))
            continue
        subs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
        found = False
        for d in subs:
            sfiles = sorted(
                f for f in d.iterdir() if f.is_file() and f.suffix.lower() in _INPUT_SUFFIXES
            )
            if sfiles:
                out.append((d, sfiles))
                found = True
        if not found:
            raise fatal(str(p), "no CSV or XML files found in the SSDA903 folder")
    return out


def read_sources(
    paths: list[Path], log: ProblemLog, *, progress: bool | None = None
) -> list[Source]:
    """Read every SSDA903 input into :class:`Source` objects (one per year).

    Fatal problems (unreadable file, no recognisable table at all) raise
    :class:`~vc_eval.ingest.problems.ImportFailed` before anything is written.
    """
    from tqdm.auto import tqdm

    expanded = expand_inputs(paths)
    sources = []
    n_files = sum(len(f) for _, f in expanded)
    bar = tqdm(
        total=n_files,
        desc="read SSDA903",
        unit="file",
        disable=None if progress is None else not progress,
    )
    for src_path, files in expanded:
        # labels name the folder and file only: reports show no local paths
        label = src_path.name
        src = Source(src_path, label)
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
        assign_year(s)
    return sources


def assign_year(src: Source) -> None:
    """Set the source's collection year: from its name, else from its dates.

    Inferred years are the 31 March on or after the 99th percentile of
    episode start dates (robust to a mistyped far-future date), else of
    review or missing dates.
    """
    y = year_from_name(src.path.stem if src.path.is_file() else src.path.name)
    how = "from the name"
    if y is None:
        how = "inferred from the dates"
        for table, col in ((EPISODES, "DECOM"), (REVIEWS, "REVIEW"), (MISSING, "MIS_START")):
            d = pd.concat(
                [parse_dates(t.frame[col]) for t in src.tables if t.table == table]
                or [pd.Series(dtype="datetime64[ns]")]
            ).dropna()
            if len(d):
                q = d.sort_values().iloc[int(np.floor(0.99 * (len(d) - 1)))]
                y = int(q.year + (1 if q.month > 3 else 0))
                break
    src.year, src.year_from = y, how if y is not None else "unknown"
    for t in src.tables:
        t.year, t.year_from = src.year, src.year_from


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
    "decode_bytes",
    "ethnic_groups",
    "parse_dates",
    "placement_types",
    "read_sources",
    "recognise",
    "year_end",
    "year_from_name",
    "year_of",
]
