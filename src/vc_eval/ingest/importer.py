"""Import a council's own data: SSDA903 + needs extract + costs -> a dataset.

The pipeline (:func:`import_council`) reads every input, checks every row,
and builds the five tables of :mod:`vc_eval.core.schema`:

* **children** from the SSDA903 header and episodes: ``entered_care`` is the
  first episode's start (DECOM), ``left_care`` the last episode's end (DEC)
  when it is closed. Sex 1/2 -> male/female, ETHNIC -> DfE top-level group.
* **placements**: one row per run of consecutive episodes in the same
  placement (same PLACE, PLACE_PROVIDER and URN, joined without a gap, the
  later one starting only a change of legal status, RNE ``L``). PLACE +
  PLACE_PROVIDER map to our placement types (:func:`vc_eval.ingest.ssda903.placement_types`).
  Short-break episodes (legal status V3/V4) are left out unless asked for.
* **assessments** from the needs extract, each score linked to the child's
  nearest looked-after review (the distance is reported).
* **outcomes**: ``sdq_total``, ``offending`` (CONVICTED) and
  ``substance_misuse`` from OC2, dated 31 March of the collection year;
  ``missing_episodes`` (Missing table, MISSING = M) and ``placement_moves``
  (placement starts after the child's first) counted over each year ending
  31 March, for the children in care on that 31 March (zero included).
* **costs** from the finance extract, joined to placements by child and
  dates; placements without one get the unit cost of their type (median,
  times the provider factor) and ``cost_imputed = True``.

Several years are read at once (one source per folder or file): episodes
repeated in several years (same child and start date) are merged keeping the
latest year's record, and exact duplicates are removed. Identifiers are then
replaced by keyed pseudonyms (:mod:`vc_eval.ingest.pseudonymise`); postcodes and UPN
are never read into the dataset.

Every problem is logged with file, row, column and rule
(:class:`vc_eval.ingest.problems.ProblemLog`); :func:`write_import` writes the dataset
and ``import_report.md`` together, atomically.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval import __version__
from vc_eval.core import factorized as fz
from vc_eval.core.costs import DEFAULT_UNIT_COSTS, PROVIDER_FACTORS, UnitCost, load_unit_costs
from vc_eval.core.dataset import Dataset
from vc_eval.core.files import (
    OutputDirError,
    check_output_dir,
    recover_output_dir,
    safe_frame,
    sha256_file,
)
from vc_eval.core.framework import Framework, FrameworkError, load_framework
from vc_eval.core.schema import ASSESSMENTS, PLACEMENT_TYPES, Col, Violation, validate_table
from vc_eval.core.schema import OUTCOMES as OUTCOMES_T
from vc_eval.core.schema import PLACEMENTS as PLACEMENTS_T
from vc_eval.ingest.extracts import (
    CostsExtract,
    NeedsExtract,
    load_needs_config,
    read_costs,
    read_needs,
)
from vc_eval.ingest.problems import (
    ERROR,
    EXIT_STRICT,
    NOTE,
    ImportFailed,
    ProblemLog,
    fatal,
)
from vc_eval.ingest.pseudonymise import (
    ASSESSOR,
    CHILD,
    PROVIDER,
    Pseudonymiser,
    key_fingerprint,
    key_weakness,
    load_key,
    normalise_ids,
)
from vc_eval.ingest.ssda903 import (
    EPISODES,
    HEADER,
    MISSING,
    NO_URN,
    OC2,
    REVIEWS,
    RNE_SAME_PLACEMENT,
    SEX_CODES,
    SHORT_BREAK_LS,
    TABLES,
    Source,
    check_regular_file,
    ethnic_groups,
    parse_dates,
    placement_types,
    read_sources,
    year_end,
    year_of,
)

REPORT_FILE = "import_report.md"
PROBLEMS_FILE = "import_problems.csv"

INVALID_DATE = "not a valid date (dd/mm/YYYY or YYYY-MM-DD)"

#: Columns each imported table actually uses (others are only checked).
USED_COLUMNS: dict[str, tuple[str, ...]] = {
    HEADER: ("CHILD", "SEX", "DOB", "ETHNIC"),
    EPISODES: ("CHILD", "DECOM", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "DEC", "REC", "URN"),
    REVIEWS: ("CHILD", "REVIEW"),
    OC2: ("CHILD", "SDQ_SCORE", "CONVICTED", "SUBSTANCE_MISUSE"),
    MISSING: ("CHILD", "MISSING", "MIS_START", "MIS_END"),
}

#: OC2 columns turned into outcome measures.
OC2_MEASURES: dict[str, str] = {
    "SDQ_SCORE": "sdq_total",
    "CONVICTED": "offending",
    "SUBSTANCE_MISUSE": "substance_misuse",
}


@dataclass
class ImportResult:
    """What one import produced: the dataset, the problems, and the facts
    the import report is written from.

    Attributes
    ----------
    dataset : Dataset
        The imported, pseudonymised dataset (already validated).
    log : ProblemLog
        Every row-level problem and note.
    stats : dict
        Counts and tables for the report (inputs, mapping, merging, links).
    council : str
    """

    dataset: Dataset
    log: ProblemLog
    stats: dict = field(default_factory=dict)
    council: str = ""

    def summary(self) -> str:
        """A few lines for the terminal."""
        ds, s = self.dataset, self.stats
        lines = [
            f"Imported {self.council}: {len(ds.children):,} children, "
            f"{len(ds.placements):,} placements, {len(ds.assessments):,} scores, "
            f"{len(ds.outcomes):,} outcome values.",
            f"Costs imputed for {s['costs']['imputed']:,} of {len(ds.placements):,} placements "
            f"({_pct(s['costs']['imputed_share'])}).",
            f"Problems: {self.log.count(ERROR):,} row-level (dropped or changed), "
            f"{self.log.count(NOTE):,} notes; see {REPORT_FILE}.",
        ]
        kept = s.get("kept_rows") or []
        if kept:
            lines.append(
                "Rows kept: "
                + ", ".join(f"{k['table']} {k['kept']:,} of {k['read']:,}" for k in kept)
                + "."
            )
        for y in s.get("years", []):
            lines.append(f"  {y['source']}: {y['taken_as']}")
        return "\n".join(lines)

    def report(self) -> str:
        """The import report as markdown."""
        from vc_eval.ingest.import_report import render_report

        return render_report(self)


def _pct(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{100 * x:.1f}%"


# --------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------


def import_council(
    ssda903: list[str | Path] | str | Path,
    *,
    council: str,
    key_file: str | Path | None = None,
    key: bytes | None = None,
    needs: str | Path | None = None,
    needs_config: str | Path | None = None,
    costs: str | Path | None = None,
    unit_costs: str | Path | None = None,
    framework: Framework | str | Path | None = None,
    programme_start: str | pd.Timestamp | None = None,
    strict: bool = False,
    include_short_breaks: bool = False,
    progress: bool | None = None,
    accept_drops: bool = False,
    today: str | pd.Timestamp | None = None,
) -> ImportResult:
    """Read a council's SSDA903 returns and extracts into a validated dataset.

    Parameters
    ----------
    ssda903 : path or list of paths
        Folders of SSDA903 CSV files (one per year; a folder of year
        folders works too) and/or DfE XML files.
    council : str
        Council name (also scopes the pseudonyms).
    key_file, key
        The council's pseudonymisation key (a file, or the bytes).
    needs, needs_config
        Needs-score extract (CSV/Excel) and its column mapping (YAML).
    costs, unit_costs
        Weekly placement costs (CSV/Excel) and unit costs for imputation
        (YAML, see :func:`vc_eval.core.costs.load_unit_costs`).
    framework
        Needs framework (default: the shipped illustrative one).
    programme_start
        Date the council adopted the programme (blank: never/unknown).
    strict
        Reject the import (exit 3) if any row-level problem is found.
    include_short_breaks
        Keep short-break episodes (legal status V3/V4).
    accept_drops
        Import even when more than :data:`MAX_DROP_SHARE` of a table's rows
        are dropped (otherwise that is refused, exit 3).
    today
        The date dates are checked against (default: today); a fixed value
        makes tests reproducible.

    Raises
    ------
    ImportFailed
        On any fatal problem, or on row-level problems under ``strict``.
    """
    council = str(council).strip()
    if not council:
        raise fatal("--council", "council name is blank")
    if key is None:
        if key_file is None:
            raise fatal("--key-file", "a key file is required to pseudonymise identifiers")
        key = load_key(key_file)
    elif not key:
        raise fatal("key", "key is empty")
    else:
        weak = key_weakness(key)
        if weak:
            raise fatal("key", weak)
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    ps = Pseudonymiser(key, council)
    try:
        fw = framework if isinstance(framework, Framework) else load_framework(framework)
    except FrameworkError as err:
        raise fatal(str(framework), str(err)) from err
    start = None
    if programme_start not in (None, ""):
        start = parse_dates(pd.Series([str(programme_start)])).iloc[0]
        if pd.isna(start):
            raise fatal("--programme-start", INVALID_DATE, value=str(programme_start))
    for label, p in (
        ("--needs", needs),
        ("--costs", costs),
        ("--needs-config", needs_config),
        ("--unit-costs", unit_costs),
    ):
        if p is not None and not Path(p).exists():
            if label in ("--needs", "--costs"):
                raise fatal(str(p), f"file not found ({label})")
            continue  # the config readers say so in their own words
        if p is not None:
            # a device or pipe (/dev/urandom) would be read, or hashed, for ever
            check_regular_file(Path(p), str(p))
    unit = _load_unit_costs(unit_costs)
    paths = [Path(p) for p in ([ssda903] if isinstance(ssda903, (str, Path)) else ssda903)]
    if not paths:
        raise fatal("--ssda903", "no SSDA903 input given")
    needs_cfg = load_needs_config(Path(needs_config) if needs_config else None)

    log = ProblemLog()
    stats: dict = {
        "council": council,
        "options": {
            "strict": strict,
            "include_short_breaks": include_short_breaks,
            "framework": f"{fw.id} {fw.version}",
            "programme_start": None if start is None else str(start.date()),
        },
    }
    sources = read_sources(paths, log, progress=progress, today=today)
    stats["inputs"] = _input_stats(sources, needs, costs)
    stats["years"] = [
        {
            "source": s.label,
            "year": s.year,
            "taken_as": (
                f"collection year {s.year - 1}-{str(s.year)[-2:]} (to 31 March {s.year}), "
                f"from {s.year_from}"
                if s.year is not None
                else "collection year unknown"
            ),
        }
        for s in sources
    ]
    for s in sources:
        if s.year is None:
            log.add(
                s.label,
                None,
                None,
                "collection year unknown (no year in the name and "
                "no dates to infer it from); OC2 rows of this source cannot be dated",
                action="noted",
                level=NOTE,
            )
    for s in sources:
        for t in s.tables:
            _check_unused(t.frame, t.table, log)

    # The needs extract does not depend on the SSDA903 tables, so it is read in
    # a second thread while they are checked (most of the reading is Arrow's and
    # numpy's, outside the GIL: a national import overlaps about 10 s). Its
    # problems go to a log of their own, added after the SSDA903 ones as a read
    # in turn would have put them, and its errors are raised where they were.
    needs_log = ProblemLog()
    alongside = needs is not None and READ_NEEDS_ALONGSIDE
    reader = ThreadPoolExecutor(max_workers=1) if alongside else None
    try:
        pending = (
            reader.submit(read_needs, Path(needs), needs_cfg, fw, needs_log) if reader else None
        )
        header = _header(sources, log, stats)
        episodes = _episodes(sources, header, log, stats, include_short_breaks, today)
        if episodes.empty:
            raise fatal(
                ", ".join(s.label for s in sources),
                "no children could be imported: no valid looked-after episodes",
            )
        children, placements = _children_and_placements(episodes, header, log, stats)
        # a column, not a set: checked by Arrow without a Python object per child
        kids = children["CHILD"]
        reviews = _reviews(sources, header, kids, log, stats, today)
        outcomes = [
            _oc2(sources, kids, log, stats),
            _missing(sources, header, episodes, log, stats),
            _moves(sources, episodes, placements, stats),
        ]
        # the SSDA903 text tables and episodes are done with (national: ~0.7 GiB)
        years = sorted({s.year for s in sources if s.year is not None})
        del sources, episodes, header
        assessments = pd.DataFrame(columns=["child", "date", "assessor", "domain", "score", "role"])
        stats["needs"] = None
        if needs is not None:
            if pending is not None:
                ext = pending.result()  # its errors are raised here, as before
                pending = None  # (the future would keep the extract alive)
            else:
                ext = read_needs(Path(needs), needs_cfg, fw, needs_log)
            log.extend(needs_log)
            assessments = _assessments(ext, children, reviews, log, stats, today)
            # the extract as read (national: ~10 million rows) is no longer needed
            del ext
    except BaseException:
        if reader is not None:
            # the SSDA903 error (or an interrupt) is raised now, not after the read
            reader.shutdown(wait=False, cancel_futures=True)
        raise
    if reader is not None:
        reader.shutdown(wait=True)
    placements = _costs(placements, Path(costs) if costs else None, unit, log, stats)

    if strict and log.count(ERROR):
        raise ImportFailed(
            log.violations(ERROR),
            exit_code=EXIT_STRICT,
            headline=f"import rejected (--strict): {log.count(ERROR)} row-level problem(s)",
            # a few problems are listed one by one; many are grouped and counted
            grouped=log.grouped(ERROR) if log.count(ERROR) > STRICT_LIST_MAX else None,
        )

    kept = _kept_rows(stats)
    stats["kept_rows"] = kept
    over = [k for k in kept if k["share_dropped"] > MAX_DROP_SHARE]
    if over and not accept_drops:
        lines = "; ".join(
            f"{k['table']}: {k['dropped']:,} of {k['read']:,} rows dropped "
            f"({100 * k['share_dropped']:.1f}%)"
            for k in over
        )
        raise ImportFailed(
            log.violations(ERROR)[:STRICT_LIST_MAX],
            exit_code=EXIT_STRICT,
            headline=(
                f"import refused: more than {100 * MAX_DROP_SHARE:.0f}% of a table's rows would "
                f"be dropped ({lines}). Fix the inputs, or run with --accept-drops to import "
                "the rest"
            ),
            grouped=log.grouped(ERROR),
        )

    # handed over, not shared: _build_dataset frees each table once it has
    # copied what it needs (national imports: gigabytes)
    parts = {
        "children": children,
        "placements": placements,
        "assessments": assessments,
        "outcomes": outcomes,
    }
    del children, placements, assessments, outcomes, reviews
    ds = _build_dataset(council, start, parts, ps, fw, stats, years)
    bad = _self_check(ds)
    if bad:  # the checks above should make this impossible
        raise RuntimeError(
            "imported data break the data model (a bug in the importer):\n"
            + "\n".join(str(v) for v in bad[:20])
        )
    return ImportResult(ds, log, stats, council)


#: Read the needs extract in a second thread while the SSDA903 tables are
#: checked (False: after them, in turn; the result is the same).
READ_NEEDS_ALONGSIDE = True

#: Under ``--strict``, up to this many problems are listed one per line.
STRICT_LIST_MAX = 25

#: More than this share of any table's rows dropped refuses the import
#: unless ``accept_drops``: losing data must be a decision, not a surprise.
MAX_DROP_SHARE = 0.01

#: Oldest age at the start of a care episode (children are under 18).
MAX_AGE_AT_ENTRY = 18


def _kept_rows(stats: dict) -> list[dict]:
    """Rows read, dropped (row-level errors) and kept, per input table."""
    out = []
    for key, label in (
        ("header", "Header"),
        ("episodes", "Episodes"),
        ("reviews", "Reviews"),
        ("oc2", "OC2"),
        ("missing", "Missing"),
        ("needs", "needs scores"),
        ("costs", "costs"),
    ):
        info = stats.get(key)
        if not info or not info.get("rows_read"):
            continue
        read = int(info.get("read_all", info["rows_read"]))
        dropped = int(info.get("dropped", 0))
        out.append(
            {
                "table": label,
                "read": read,
                "dropped": dropped,
                "kept": read - dropped,
                "share_dropped": dropped / read if read else 0.0,
            }
        )
    return out


#: Above this many scores the (slow) schema check of the assessments table is
#: replaced by equivalent vectorised checks; the other tables are always
#: checked against the schema.
FULL_CHECK_MAX_SCORES = 1_000_000


def _self_check(ds: Dataset) -> list[Violation]:
    """The imported dataset against the data model (guards against importer bugs)."""
    if len(ds.assessments) <= FULL_CHECK_MAX_SCORES:
        return ds.validate()
    out: list[Violation] = []
    for name, frame in ds.tables.items():
        if name != ASSESSMENTS:
            out += validate_table(name, frame)
    a = ds.assessments
    # the ids as a column, not a set: a set of 240k ids is built, then turned
    # back into an Arrow array, for every table checked
    kids = ds.children[Col.child_id]
    checks = {
        "child not in children table": ~fz.isin(a[Col.child_id], kids),
        "domain not in framework": ~fz.isin(a[Col.domain], ds.framework.all_domain_ids),
        "score missing or outside 0-100": ~a[Col.score].between(0, 100).to_numpy(),
        "assessment date missing": a[Col.assessment_date].isna().to_numpy(),
        "assessor missing": a[Col.assessor_id].isna().to_numpy(),
        "duplicate row (same key as another row)": fz.duplicated(
            a, [Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain], keep=False
        ),
    }
    for rule, bad in checks.items():
        for i in np.flatnonzero(bad)[:20]:
            out.append(Violation(ASSESSMENTS, int(i) + 1, None, rule))
    for tab in (PLACEMENTS_T, OUTCOMES_T):
        known = fz.isin(ds.tables[tab][Col.child_id], kids)
        for i in np.flatnonzero(~known)[:20]:
            out.append(Violation(tab, int(i) + 1, Col.child_id, "child not in children table"))
    return out


def _load_unit_costs(path) -> dict[str, UnitCost]:
    if path is None:
        return dict(DEFAULT_UNIT_COSTS)
    p = Path(path)
    if not p.exists():
        raise fatal(str(p), "unit-costs file not found (--unit-costs)")
    try:
        return load_unit_costs(p)
    except Exception as err:  # YAML errors, bad keys, bad numbers
        raise fatal(p.name, f"unit-costs file cannot be used ({err})") from err


def _input_stats(sources: list[Source], needs, costs) -> list[dict]:
    rows = []
    for s in sources:
        for label, (path, enc) in s.files.items():
            digest = sha256_file(path)
            tables = [t for t in s.tables if t.file == label]
            for t in tables or [None]:
                rows.append(
                    {
                        "source": s.label,
                        "file": label,
                        "table": TABLES[t.table].label if t else "(not recognised)",
                        "rows": len(t.frame) if t else 0,
                        "encoding": enc,
                        "year": s.year,
                        "year_from": s.year_from,
                        "imported": bool(t and TABLES[t.table].imported),
                        "sha256": digest,
                    }
                )
    for label, p in (("needs extract", needs), ("costs", costs)):
        if p is not None:
            rows.append(
                {
                    "source": label,
                    "file": Path(p).name,
                    "table": label,
                    "rows": None,
                    "encoding": "",
                    "year": None,
                    "year_from": "",
                    "imported": True,
                    "sha256": sha256_file(p),
                }
            )
    return rows


# -- helpers -----------------------------------------------------------------


def _gather(sources: list[Source], table: str) -> pd.DataFrame:
    """All rows of one table across sources, with year and source order."""
    frames = []
    for i, s in enumerate(sources):
        for t in s.tables:
            if t.table == table:
                f = t.frame.copy()
                f["__year"] = pd.array([s.year] * len(f), dtype="Int64")
                f["__src"] = i
                f["__source"] = s.label
                frames.append(f)
    if not frames:
        cols = list(TABLES[table].columns) + ["__row", "__file", "__year", "__src", "__source"]
        return pd.DataFrame({c: pd.Series(dtype="str") for c in cols})
    out = pd.concat(frames, ignore_index=True)
    if "CHILD" in out:
        out["CHILD"] = normalise_ids(out["CHILD"])
    return out


def _data_cols(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("__") and not c.startswith("_")]


class _Dropper:
    """Flags rows of a frame one rule at a time; each row counted once."""

    def __init__(self, frame: pd.DataFrame, log: ProblemLog):
        self.frame = frame
        self.log = log
        self.bad = np.zeros(len(frame), dtype=bool)
        #: rows dropped for a row-level error (not notes or merged repeats)
        self.errors = np.zeros(len(frame), dtype=bool)

    def __call__(
        self, mask, column, rule, *, value_col=None, action="row dropped", level=ERROR, hide=False
    ) -> None:
        m = np.asarray(mask, dtype=bool) & ~self.bad
        if m.any():
            self.log.add_rows(
                self.frame,
                m,
                column,
                rule,
                value_col=value_col,
                action=action,
                level=level,
                hide_values=hide,
            )
            if action.startswith("row dropped") or action.endswith("dropped"):
                self.bad |= m
                if level == ERROR:
                    self.errors |= m

    def kept(self) -> pd.DataFrame:
        return self.frame.loc[~self.bad].reset_index(drop=True)


def _exact_duplicates(
    frame: pd.DataFrame, drop: _Dropper, stats_key: dict, name: str, *, across_years: bool = True
) -> None:
    """Exact duplicate rows: within one source a problem; across years merged.

    ``across_years=False`` for tables whose rows carry no date of their own
    (OC2): the same values in two years are two observations.
    """
    cols = _data_cols(frame)
    # each column coded once for both checks (national episodes: 13 columns)
    codes = [fz.value_codes(frame[c]) for c in cols] if len(frame) else []
    row_key = fz.combine(codes) if codes else np.zeros(0, dtype=np.int64)
    within = fz.duplicated_keys(fz.combine([row_key, fz.value_codes(frame["__src"])]))
    drop(
        within,
        None,
        "exact duplicate of an earlier row in the same file",
        action="row dropped (duplicate)",
    )
    if not across_years:
        stats_key[name] = 0
        return
    across = fz.duplicated_keys(row_key, keep="last") & ~within & ~drop.bad
    # rows repeated in a later year's return are the normal overlap between years
    drop.bad |= across
    stats_key[name] = int(across.sum())


def _year_ends(years: pd.Series) -> pd.Series:
    """31 March ending each row's collection year (NaT if unknown)."""
    ends = {y: year_end(int(y)) for y in years.dropna().unique()}
    return years.map(ends).astype("datetime64[ns]")


def _blank(frame: pd.DataFrame, col: str) -> np.ndarray:
    return (frame[col].fillna("") == "").to_numpy()


def _check_dates(
    frame, drop: _Dropper, col: str, *, required: bool, parsed: pd.Series, label: str | None = None
) -> None:
    blank = _blank(frame, col)
    if required:
        drop(blank, col, f"{label or col} is blank")
    drop(~blank & parsed.isna().to_numpy(), col, INVALID_DATE)


def _check_codes(
    frame, drop: _Dropper, table: str, col: str, *, required: bool, action="row dropped"
) -> None:
    allowed = TABLES[table].codes[col]
    blank = _blank(frame, col)
    if required:
        drop(blank, col, f"{col} is blank", action=action)
    drop(
        ~blank & ~frame[col].isin(allowed).to_numpy(), col, f"not a valid {col} code", action=action
    )


def _check_unused(frame: pd.DataFrame, table: str, log: ProblemLog) -> None:
    """Notes for invalid codes and dates in columns the import does not use."""
    spec = TABLES[table]
    used = set(USED_COLUMNS.get(table, ()))
    tag = "table not imported" if not spec.imported else "column not imported"
    for col, allowed in spec.codes.items():
        if col in used or col not in frame:
            continue
        bad = ~_blank(frame, col) & ~frame[col].isin(allowed).to_numpy()
        log.add_rows(frame, bad, col, f"not a valid {col} code ({tag})", action="noted", level=NOTE)
    for col in spec.dates:
        if col in used or col not in frame or (col == "DOB" and table != HEADER):
            continue
        bad = ~_blank(frame, col) & parse_dates(frame[col]).isna().to_numpy()
        log.add_rows(frame, bad, col, f"{INVALID_DATE} ({tag})", action="noted", level=NOTE)


def _dob_mismatch(frame: pd.DataFrame, header: pd.DataFrame, log: ProblemLog) -> None:
    if "DOB" not in frame or frame.empty:
        return
    dob = fz.lookup(frame["CHILD"], header.set_index("CHILD")["dob"])
    own = parse_dates(frame["DOB"])
    bad = (own.notna() & dob.notna() & (own != dob)).to_numpy()
    log.add_rows(
        frame,
        bad,
        "DOB",
        "date of birth differs from the header table (header used)",
        action="noted",
        level=NOTE,
    )


# -- header --------------------------------------------------------------------


def _header(sources, log: ProblemLog, stats: dict) -> pd.DataFrame:
    h = _gather(sources, HEADER)
    read = len(h)
    drop = _Dropper(h, log)
    drop(h["CHILD"].isna().to_numpy(), "CHILD", "child id is blank")
    merged: dict = {}
    _exact_duplicates(h, drop, merged, "header")
    h["dob"] = parse_dates(h["DOB"])
    _check_dates(h, drop, "DOB", required=True, parsed=h["dob"], label="date of birth")
    ye = _year_ends(h["__year"])
    drop((h["dob"] > ye).to_numpy(), "DOB", "date of birth after the end of the collection year")
    _check_codes(h, drop, HEADER, "SEX", required=True)
    blank_eth = _blank(h, "ETHNIC")
    bad_eth = ~blank_eth & ~h["ETHNIC"].isin(TABLES[HEADER].codes["ETHNIC"]).to_numpy()
    drop(blank_eth, "ETHNIC", "ETHNIC is blank", action="value replaced by 'Not recorded'")
    drop(bad_eth, "ETHNIC", "not a valid ETHNIC code", action="value replaced by 'Not recorded'")
    h = drop.kept()
    h["ethnicity"] = ethnic_groups(h["ETHNIC"]).fillna("Not recorded")
    h["sex"] = h["SEX"].map(SEX_CODES)
    # the same child twice in one year's return with different values
    key_src = fz.duplicated(h, ["CHILD", "__src"], keep="first")
    log.add_rows(
        h,
        key_src,
        "CHILD",
        "child appears twice in the header table with different values; the first row kept",
        hide_values=True,
    )
    h = h.loc[~key_src]
    dropped = int(drop.errors.sum() + key_src.sum())
    # across years the latest return wins; say where the years disagree
    h = h.sort_values(["CHILD", "__src"], kind="stable")
    last = h.drop_duplicates("CHILD", keep="last")
    for col, what in (("dob", "date of birth"), ("sex", "sex"), ("ethnicity", "ethnicity")):
        n_vals = h.groupby("CHILD")[col].nunique()
        differ = h["CHILD"].isin(n_vals.index[n_vals > 1]) & ~h.index.isin(last.index)
        log.add_rows(
            h,
            differ.to_numpy(),
            {"dob": "DOB", "sex": "SEX"}.get(col, "ETHNIC"),
            f"{what} differs between years; the latest year's value used",
            value_col={"dob": "DOB", "sex": "SEX"}.get(col, "ETHNIC"),
            action="noted",
            level=NOTE,
        )
    stats["header"] = {
        "rows_read": read,
        "dropped": dropped,
        "children": len(last),
        "repeated_in_later_years": merged["header"] + int(len(h) - len(last)),
    }
    return last.reset_index(drop=True)


# -- episodes ------------------------------------------------------------------


def _episodes(sources, header, log, stats, include_short_breaks, today) -> pd.DataFrame:
    e = _gather(sources, EPISODES)
    read = len(e)
    drop = _Dropper(e, log)
    drop(e["CHILD"].isna().to_numpy(), "CHILD", "child id is blank")
    merged: dict = {}
    _exact_duplicates(e, drop, merged, "episodes")
    e["decom"] = parse_dates(e["DECOM"])
    e["dec"] = parse_dates(e["DEC"])
    _check_dates(e, drop, "DECOM", required=True, parsed=e["decom"], label="episode start (DECOM)")
    _check_dates(e, drop, "DEC", required=False, parsed=e["dec"])
    drop(
        (e["dec"] < e["decom"]).to_numpy(),
        "DEC",
        "episode ends before it starts (DEC before DECOM)",
    )
    ye = _year_ends(e["__year"])
    late = (e["dec"] > ye).to_numpy() & ~drop.bad
    log.add_rows(
        e,
        late,
        "DEC",
        "episode ends after the end of the collection year (a return reports episodes "
        "open on 31 March with DEC blank)",
        action="DEC ignored: episode open at the year end",
    )
    e.loc[late, "dec"] = pd.NaT
    for col in ("LS", "PLACE", "RNE"):
        _check_codes(e, drop, EPISODES, col, required=True)
    _check_codes(e, drop, EPISODES, "PLACE_PROVIDER", required=False)
    closed = e["dec"].notna().to_numpy()
    rec_blank = _blank(e, "REC")
    rec_bad = ~rec_blank & ~e["REC"].isin(TABLES[EPISODES].codes["REC"]).to_numpy()
    drop(closed & rec_bad, "REC", "not a valid REC code")
    drop(closed & rec_blank, "REC", "REC is blank for a closed episode", action="noted", level=NOTE)
    drop(
        ~closed & ~rec_blank,
        "REC",
        "REC given for an episode with no end date (ignored)",
        action="noted",
        level=NOTE,
    )
    ye = _year_ends(e["__year"])
    drop(
        (e["decom"] > ye).to_numpy(), "DECOM", "episode starts after the end of the collection year"
    )
    drop(
        (e["decom"] > today).to_numpy() | (e["dec"] > today).to_numpy(),
        "DECOM",
        "episode dated in the future (after the date of the import)",
    )
    dob = fz.lookup(e["CHILD"], header.set_index("CHILD")["dob"])
    drop(
        dob.isna().to_numpy() & e["CHILD"].notna().to_numpy(),
        "CHILD",
        "child not in the header table",
        hide=True,
    )
    drop((e["decom"] < dob).to_numpy(), "DECOM", "episode starts before the date of birth")
    adult = (e["decom"] >= dob + pd.DateOffset(years=MAX_AGE_AT_ENTRY)).to_numpy()
    drop(
        adult,
        "DECOM",
        f"child aged {MAX_AGE_AT_ENTRY} or over at the episode start (check DOB and DECOM)",
    )
    errors = int(drop.errors.sum())
    e = drop.kept()
    # Same child and start: one episode. Within a file that is a conflict;
    # across years it is the same episode reported again (latest year wins).
    e = e.sort_values(["CHILD", "decom", "__src", "__row"], kind="stable")
    clash = fz.duplicated(e, ["CHILD", "decom", "__src"], keep="first")
    log.add_rows(
        e,
        clash,
        "DECOM",
        "two episodes of the same child start on the same day; the first row kept",
    )
    e = e.loc[~clash]
    errors += int(clash.sum())
    rep = fz.duplicated(e, ["CHILD", "decom"], keep="last")
    e = e.loc[~rep].reset_index(drop=True)
    short = e["LS"].isin(SHORT_BREAK_LS).to_numpy()
    # (ids are never missing here: blank ones were dropped)
    kids_all = e["CHILD"].nunique()
    if not include_short_breaks:
        e = e.loc[~short].reset_index(drop=True)
    only_short = kids_all - e["CHILD"].nunique()
    # overlaps: an episode running past the next one's start is cut there
    e = e.sort_values(["CHILD", "decom"], kind="stable").reset_index(drop=True)
    nxt = e.groupby("CHILD", sort=False)["decom"].shift(-1)
    over = (nxt.notna() & (e["dec"].isna() | (e["dec"] > nxt))).to_numpy()
    log.add_rows(
        e,
        over,
        "DEC",
        "episode overlaps the next episode of the same child (or is open while a later one starts)",
        value_col="DEC",
        action="end date set to the next episode's start",
    )
    e.loc[over, "dec"] = nxt[over]
    stats["episodes"] = {
        "rows_read": read,
        "dropped": errors,
        "exact_repeats_across_years": merged["episodes"],
        "merged_across_years": int(rep.sum()),
        "short_breaks_excluded": 0 if include_short_breaks else int(short.sum()),
        "short_break_only_children": 0 if include_short_breaks else only_short,
        "short_breaks_included": bool(include_short_breaks),
        "overlaps_cut": int(over.sum()),
        "kept": len(e),
        "years": sorted({int(y) for y in e["__year"].dropna().unique()}),
    }
    return e


def _children_and_placements(e: pd.DataFrame, header, log, stats):
    """Children (entry, exit) and placements (runs of episodes) from episodes."""
    e = e.sort_values(["CHILD", "decom"], kind="stable").reset_index(drop=True)
    e["PLACE_PROVIDER"] = e["PLACE_PROVIDER"].where(e["PLACE_PROVIDER"] != "", "PR0")
    # URNs (Ofsted registration numbers) are not case-sensitive
    urn = e["URN"].fillna("").str.upper()
    e["urn"] = urn.where(~urn.isin(NO_URN))
    g = e.groupby("CHILD", sort=False)
    same_child = e["CHILD"].eq(g["CHILD"].shift()).to_numpy()
    contiguous = e["decom"].eq(g["dec"].shift()).to_numpy()
    same = (
        same_child
        & contiguous
        & e["RNE"].isin(RNE_SAME_PLACEMENT).to_numpy()
        & e["PLACE"].eq(g["PLACE"].shift()).to_numpy()
        & e["PLACE_PROVIDER"].eq(g["PLACE_PROVIDER"].shift()).to_numpy()
        & e["urn"].fillna("").eq(g["urn"].shift().fillna("")).to_numpy()
    )
    run = np.cumsum(~same)
    e["__run"] = run
    rg = e.groupby("__run", sort=False)
    pl = pd.DataFrame(
        {
            "CHILD": rg["CHILD"].first(),
            "start": rg["decom"].first(),
            "end": rg["dec"].last(),
            "PLACE": rg["PLACE"].first(),
            "PLACE_PROVIDER": rg["PLACE_PROVIDER"].first(),
            "urn": rg["urn"].first(),
            "episodes": rg.size(),
        }
    ).reset_index(drop=True)
    pl["type"] = placement_types(pl["PLACE"], pl["PLACE_PROVIDER"])
    last = e.groupby("CHILD", sort=False).tail(1).set_index("CHILD")
    first = e.groupby("CHILD", sort=False).head(1).set_index("CHILD")
    kids = header.set_index("CHILD").loc[first.index]
    children = pd.DataFrame(
        {
            "CHILD": first.index,
            "sex": kids["sex"].to_numpy(),
            "dob": kids["dob"].to_numpy(),
            "ethnicity": kids["ethnicity"].to_numpy(),
            "entered": first["decom"].to_numpy(),
            "left": last["dec"].to_numpy(),
        }
    )
    x1_last = (last["dec"].notna() & (last["REC"] == "X1")).to_numpy()
    log.add_rows(
        last.reset_index(),
        x1_last,
        "REC",
        "last episode ends with X1 (a new "
        "episode starts) but none follows; treated as leaving care",
        action="noted",
        level=NOTE,
    )
    # by Arrow: pandas' isin makes a Python object of each of the children's ids
    no_eps = pd.Series(~fz.isin(header["CHILD"], children["CHILD"]), index=header.index)
    log.add_rows(
        header,
        no_eps.to_numpy(),
        "CHILD",
        "child has no looked-after episodes "
        "imported (e.g. a care leaver in OC3 only, short breaks only, or every "
        "episode dropped); child not imported",
        action="child not imported",
        level=NOTE,
        hide_values=True,
    )
    # what the mapping did, for the report
    mp = e.assign(type=placement_types(e["PLACE"], e["PLACE_PROVIDER"]))
    mapping = (
        mp.groupby(["PLACE", "PLACE_PROVIDER", "type"], dropna=False)
        .size()
        .rename("episodes")
        .reset_index()
    )
    runs = (
        pl.groupby(["PLACE", "PLACE_PROVIDER", "type"], dropna=False)
        .size()
        .rename("placements")
        .reset_index()
    )
    mapping = mapping.merge(runs, how="left", on=["PLACE", "PLACE_PROVIDER", "type"])
    mapping["placements"] = mapping["placements"].fillna(0).astype(int)
    foster_pr0 = int(
        (
            pl["PLACE"].isin(("U4", "U5", "U6"))
            & ~pl["PLACE_PROVIDER"].isin(("PR1", "PR2", "PR3", "PR4", "PR5"))
        ).sum()
    )
    eth = (
        header.loc[~no_eps].groupby(["ETHNIC", "ethnicity"]).size().rename("children").reset_index()
    )
    stats["children"] = {
        "children": len(children),
        "header_without_episodes": int(no_eps.sum()),
        "left_care": int(children["left"].notna().sum()),
        "sex": children["sex"].value_counts().to_dict(),
        "ethnicity_map": eth,
        "placement_map": mapping,
        "foster_without_provider": foster_pr0,
        "placements": len(pl),
        "episodes_per_placement": float(pl["episodes"].mean()),
    }
    return children, pl


# -- reviews, OC2, missing, moves -----------------------------------------------------


def _reviews(sources, header, kids: pd.Series, log, stats, today) -> pd.DataFrame:
    r = _gather(sources, REVIEWS)
    read = len(r)
    drop = _Dropper(r, log)
    drop(r["CHILD"].isna().to_numpy(), "CHILD", "child id is blank")
    merged: dict = {}
    _exact_duplicates(r, drop, merged, "reviews")
    r["date"] = parse_dates(r["REVIEW"])
    _check_dates(r, drop, "REVIEW", required=True, parsed=r["date"], label="review date")
    dob = fz.lookup(r["CHILD"], header.set_index("CHILD")["dob"])
    drop((r["date"] < dob).to_numpy(), "REVIEW", "review before the date of birth")
    ye = _year_ends(r["__year"])
    drop((r["date"] > ye).to_numpy(), "REVIEW", "review after the end of the collection year")
    drop((r["date"] > today).to_numpy(), "REVIEW", "review dated in the future")
    drop(
        ~fz.isin(r["CHILD"], kids),
        "CHILD",
        "child not imported (no looked-after episodes)",
        action="row dropped",
        level=NOTE,
        hide=True,
    )
    _dob_mismatch(r.loc[~drop.bad], header, log)
    r = drop.kept().drop_duplicates(["CHILD", "date"])
    stats["reviews"] = {
        "rows_read": read,
        "dropped": int(drop.errors.sum()),
        "kept": len(r),
        "repeated_in_later_years": merged["reviews"],
    }
    return r[["CHILD", "date"]]


def _oc2(sources, kids: pd.Series, log, stats) -> pd.DataFrame:
    o = _gather(sources, OC2)
    read = len(o)
    drop = _Dropper(o, log)
    drop(o["CHILD"].isna().to_numpy(), "CHILD", "child id is blank")
    merged: dict = {}
    _exact_duplicates(o, drop, merged, "oc2", across_years=False)
    drop(o["__year"].isna().to_numpy(), None, "collection year unknown: OC2 row cannot be dated")
    drop(
        ~fz.isin(o["CHILD"], kids),
        "CHILD",
        "child not imported (no looked-after episodes)",
        level=NOTE,
        hide=True,
    )
    o = drop.kept()
    clash = fz.duplicated(o, ["CHILD", "__src"], keep="first")
    log.add_rows(
        o,
        clash,
        "CHILD",
        "child appears twice in the OC2 table with different values; the first row kept",
        hide_values=True,
    )
    o = o.loc[~clash].sort_values("__src", kind="stable")
    oc2_dropped = int(drop.errors.sum() + clash.sum())
    o = o.drop_duplicates(["CHILD", "__year"], keep="last").reset_index(drop=True)
    rows = []
    for col, measure in OC2_MEASURES.items():
        v = o[col].fillna("").str.strip()
        num = pd.to_numeric(v, errors="coerce")
        if col == "SDQ_SCORE":
            ok = num.notna() & (num == num.round()) & (num >= 0) & (num <= 40)
            rule = "SDQ_SCORE is not a whole number 0-40"
        else:
            ok = v.isin(("0", "1"))
            rule = f"{col} is not 0 or 1"
        bad = (v != "") & ~ok
        log.add_rows(o, bad.to_numpy(), col, rule, action="value dropped")
        keep = (v != "") & ok
        rows.append(
            pd.DataFrame(
                {
                    "CHILD": o.loc[keep, "CHILD"].to_numpy(),
                    "date": _year_ends(o.loc[keep, "__year"]).to_numpy(),
                    "measure": measure,
                    "value": num[keep].astype(float).to_numpy(),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    stats["oc2"] = {
        "rows_read": read,
        "dropped": oc2_dropped,
        "values": out["measure"].value_counts().to_dict(),
    }
    return out


def _in_care_at(e: pd.DataFrame, r: pd.Timestamp) -> np.ndarray:
    """Children with an episode covering date ``r``."""
    cover = (e["decom"] <= r) & (e["dec"].isna() | (e["dec"] >= r))
    return e.loc[cover, "CHILD"].unique()


def _missing(sources, header, episodes, log, stats) -> pd.DataFrame:
    m = _gather(sources, MISSING)
    read = len(m)
    years = sorted(
        {
            s.year
            for s in sources
            if s.year is not None and any(t.table == MISSING for t in s.tables)
        }
    )
    drop = _Dropper(m, log)
    drop(m["CHILD"].isna().to_numpy(), "CHILD", "child id is blank")
    merged: dict = {}
    _exact_duplicates(m, drop, merged, "missing")
    _check_codes(m, drop, MISSING, "MISSING", required=True)
    m["start"] = parse_dates(m["MIS_START"])
    m["end"] = parse_dates(m["MIS_END"])
    _check_dates(
        m,
        drop,
        "MIS_START",
        required=True,
        parsed=m["start"],
        label="missing episode start (MIS_START)",
    )
    _check_dates(m, drop, "MIS_END", required=False, parsed=m["end"])
    drop((m["end"] < m["start"]).to_numpy(), "MIS_END", "missing episode ends before it starts")
    dob = fz.lookup(m["CHILD"], header.set_index("CHILD")["dob"])
    drop((m["start"] < dob).to_numpy(), "MIS_START", "missing episode before the date of birth")
    ye = _year_ends(m["__year"])
    drop(
        (m["start"] > ye).to_numpy(),
        "MIS_START",
        "missing episode starts after the end of the collection year",
    )
    drop(
        ~fz.isin(m["CHILD"], episodes["CHILD"]),
        "CHILD",
        "child not imported (no looked-after episodes)",
        level=NOTE,
        hide=True,
    )
    mis_dropped = int(drop.errors.sum())
    m = drop.kept()
    # An episode open at one year end is reported again, closed, the next
    # year: keep the latest return's rows for each child, start and kind.
    latest = m.groupby(["CHILD", "start", "MISSING"])["__src"].transform("max")
    m = m.loc[(m["__src"] == latest).to_numpy()]
    away = int((m["MISSING"] == "A").sum())
    m = m[m["MISSING"] == "M"]
    out = _yearly_counts(
        episodes, years, m["CHILD"], year_of(m["start"]).to_numpy(), "missing_episodes"
    )
    stats["missing"] = {
        "rows_read": read,
        "dropped": mis_dropped,
        "missing_episodes": len(m),
        "away_not_counted": away,
        "years": years,
        "values": len(out),
    }
    return out


def _yearly_counts(
    episodes: pd.DataFrame, years, children: pd.Series, row_years: np.ndarray, measure: str
) -> pd.DataFrame:
    """Per collection year, each child in care at its end with the count of their rows."""
    rows = []
    for yr in years:
        r = year_end(yr)
        kids = _in_care_at(episodes, r)
        counts = children[row_years == yr].value_counts()
        rows.append(
            pd.DataFrame(
                {
                    "CHILD": kids,
                    "date": r,
                    "measure": measure,
                    "value": counts.reindex(kids).fillna(0).to_numpy(float),
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=["CHILD", "date", "measure", "value"])
    return pd.concat(rows, ignore_index=True)


def _moves(sources, episodes, placements, stats) -> pd.DataFrame:
    years = sorted(
        {
            s.year
            for s in sources
            if s.year is not None and any(t.table == EPISODES for t in s.tables)
        }
    )
    pl = placements.sort_values(["CHILD", "start"], kind="stable")
    later = pl["CHILD"].eq(pl["CHILD"].shift()).to_numpy()
    y = year_of(pl["start"]).to_numpy()
    out = _yearly_counts(episodes, years, pl.loc[later, "CHILD"], y[later], "placement_moves")
    stats["moves"] = {"years": years, "values": len(out)}
    return out


# -- needs extract -----------------------------------------------------------------


def _errors_in(log: ProblemLog, file: str) -> int:
    f = log.frame(ERROR)
    return int((f["file"] == file).sum())


def _assessments(ext: NeedsExtract, children, reviews, log, stats, today) -> pd.DataFrame:
    a = ext.frame
    read_scores = len(a)
    drop = _Dropper(a, log)
    kids = children.set_index("CHILD")
    # factorise the key columns once: national extracts have ~10 million scores
    # (categorical columns are coded by their own codes; see fz.value_codes)
    cc, cu = pd.factorize(a["child"], use_na_sentinel=False)  # the ids themselves, once
    codes = {"child": cc} | {
        c: fz.value_codes(a[c]) for c in ("date", "assessor", "domain", "score", "role")
    }
    known = fz.isin(fz.as_str(pd.Series(cu)), kids.index)[cc]
    drop(
        ~known,
        ext.columns["child"],
        "child not in the SSDA903 data (no header row and looked-after episode)",
        value_col="child",
        action="score dropped",
        hide=True,
    )
    drop(
        a["date"].to_numpy() > np.datetime64(today, "ns"),
        ext.columns["date"],
        "assessment dated in the future",
        value_col="date",
        action="score dropped",
    )
    dob = kids["dob"].reindex(pd.Index(cu, dtype=kids.index.dtype)).to_numpy()[cc]
    drop(
        a["date"].to_numpy() < dob,
        ext.columns["date"],
        "assessment before the date of birth",
        value_col="date",
        action="score dropped",
    )
    entered = kids["entered"].reindex(pd.Index(cu, dtype=kids.index.dtype)).to_numpy()[cc]
    drop(
        a["date"].to_numpy() < entered - np.timedelta64(366, "D"),
        ext.columns["date"],
        "assessment more than a year before the child entered care",
        value_col="date",
        action="noted",
        level=NOTE,
    )
    # the child's own rating and a practitioner's of the same review are two scores
    key = fz.combine([codes[c] for c in ("child", "date", "assessor", "domain", "role")])
    exact = fz.combine([key, codes["score"]])
    drop(
        fz.duplicated_keys(exact),
        None,
        "exact duplicate of an earlier score",
        action="score dropped",
    )
    drop(
        fz.duplicated_keys(key),
        "domain",
        "the same child, date, assessor and domain scored twice with "
        "different scores; the first kept",
        value_col="domain",
        action="score dropped",
    )
    a = drop.kept()
    # link each assessment (child x date) to the nearest review
    visits = a[["child", "date"]]
    visits = visits.loc[~fz.duplicated(visits, ["child", "date"])].sort_values("date")
    # the extract's ids are categorical; the reviews' are text
    visits["child"] = visits["child"].astype("str")
    rv = reviews.rename(columns={"CHILD": "child", "date": "review"}).sort_values("review")
    if len(rv) and len(visits):
        linked = pd.merge_asof(
            visits, rv, left_on="date", right_on="review", by="child", direction="nearest"
        )
        dist = (linked["date"] - linked["review"]).dt.days.abs()
    else:
        dist = pd.Series(np.nan, index=visits.index)
    d = dist.dropna()
    stats["needs"] = {
        "file": ext.file,
        "layout": ext.layout,
        "encoding": ext.encoding,
        "rows_read": ext.rows_read,
        "scores_read": read_scores,
        "scores_kept": len(a),
        "read_all": len(a) + _errors_in(log, ext.file),
        "dropped": _errors_in(log, ext.file),
        "assessments": len(visits),
        "children": int(a["child"].nunique()),
        "columns": ext.columns,
        "link": {
            "linked": int(d.size),
            "no_review": int(dist.isna().sum()),
            "median_days": float(d.median()) if len(d) else np.nan,
            "p90_days": float(d.quantile(0.9)) if len(d) else np.nan,
            "max_days": float(d.max()) if len(d) else np.nan,
            "same_day": float((d == 0).mean()) if len(d) else np.nan,
            "within_14": float((d <= 14).mean()) if len(d) else np.nan,
            "within_30": float((d <= 30).mean()) if len(d) else np.nan,
        },
    }
    return a[["child", "date", "assessor", "domain", "score", "role"]]


# -- costs ---------------------------------------------------------------------------


def _costs(
    pl: pd.DataFrame, costs_path: Path | None, unit: dict[str, UnitCost], log, stats
) -> pd.DataFrame:
    pl = pl.copy()
    pl["cost"] = np.nan
    info: dict = {"file": None, "rows_read": 0, "matched_rows": 0, "from_file": 0}
    if costs_path is not None:
        ext: CostsExtract = read_costs(costs_path, log)
        info.update(
            file=ext.file, rows_read=ext.rows_read, columns=ext.columns, encoding=ext.encoding
        )
        c = ext.frame.reset_index(drop=True)
        c["__i"] = np.arange(len(c))
        pl["__p"] = np.arange(len(pl))
        # 1) exact: same child and start date
        exact = c.merge(
            pl[["CHILD", "start", "__p"]],
            left_on=["child", "start"],
            right_on=["CHILD", "start"],
            how="inner",
        )
        hit = pd.Series(-1, index=c.index)
        hit[exact["__i"].to_numpy()] = exact["__p"].to_numpy()
        # 2) otherwise: the placement whose dates contain the cost's start date
        rest = c.loc[hit.to_numpy() < 0].sort_values("start")
        if len(rest):
            ps = (
                pl[["CHILD", "start", "end", "__p"]]
                .rename(columns={"CHILD": "child", "start": "pstart", "end": "pend"})
                .sort_values("pstart")
            )
            within = pd.merge_asof(
                rest, ps, left_on="start", right_on="pstart", by="child", direction="backward"
            )
            inside = within["__p"].notna() & (
                within["pend"].isna() | (within["start"] < within["pend"])
            )
            hit[within.loc[inside, "__i"].to_numpy()] = (
                within.loc[inside, "__p"].astype(int).to_numpy()
            )
        unmatched = (hit < 0).to_numpy()
        log.add_rows(
            c,
            unmatched,
            ext.columns["start"],
            "cost row matches no placement of this child (by start date or dates)",
            value_col="__start_raw",
        )
        c["__p"] = hit.to_numpy()
        c = c.loc[~unmatched]
        multi = c.groupby("__p")["cost"].agg(["mean", "size"])
        pl.loc[multi.index, "cost"] = multi["mean"].to_numpy()
        info.update(
            matched_rows=int(len(c)),
            from_file=int(len(multi)),
            averaged=int((multi["size"] > 1).sum()),
        )
        pl = pl.drop(columns="__p")
    need = pl["cost"].isna()
    med = pl["type"].map({k: v.median for k, v in unit.items()})
    factor = pl["PLACE_PROVIDER"].map(PROVIDER_FACTORS).fillna(1.0)
    pl.loc[need, "cost"] = (med * factor)[need].round(2)
    pl["imputed"] = need
    by_type = (
        pl.assign(n=1)
        .groupby("type")
        .agg(placements=("n", "size"), imputed=("imputed", "sum"))
        .reindex(PLACEMENT_TYPES)
        .dropna()
        .astype(int)
        .reset_index()
    )
    by_type["unit_cost"] = by_type["type"].map({k: v.median for k, v in unit.items()})
    by_type["source"] = by_type["type"].map({k: v.source for k, v in unit.items()})
    if costs_path is not None:
        info["dropped"] = _errors_in(log, info["file"])
    info.update(
        imputed=int(need.sum()),
        imputed_share=float(need.mean()) if len(pl) else np.nan,
        by_type=by_type,
        provider_factors=dict(PROVIDER_FACTORS),
    )
    stats["costs"] = info
    return pl


# -- dataset -------------------------------------------------------------------------


def _build_dataset(
    council, start, parts: dict, ps: Pseudonymiser, fw, stats, years: list[int]
) -> Dataset:
    """The dataset from the checked tables in ``parts`` (emptied as they are used)."""
    children, pl = parts.pop("children"), parts.pop("placements")
    cid = ps.series(children["CHILD"], CHILD)
    cmap = pd.Series(cid.to_numpy(), index=children["CHILD"].to_numpy())
    councils = pd.DataFrame({Col.council: [council], Col.programme_start: [start]})
    kids = pd.DataFrame(
        {
            Col.child_id: cid,
            Col.council: council,
            Col.sex: children["sex"],
            Col.date_of_birth: children["dob"],
            Col.ethnicity: children["ethnicity"],
            Col.entered_care: children["entered"],
            Col.left_care: children["left"],
        }
    )
    place = pd.DataFrame(
        {
            Col.child_id: fz.lookup(pl["CHILD"], cmap),
            Col.start_date: pl["start"],
            Col.end_date: pl["end"],
            Col.placement_type: pl["type"],
            Col.provider_id: ps.series(pl["urn"], PROVIDER),
            Col.weekly_cost: pl["cost"],
            Col.cost_imputed: pl["imputed"].astype(bool),
        }
    )
    del pl
    a = parts.pop("assessments")
    ass = pd.DataFrame(
        {
            Col.child_id: fz.lookup(a["child"], cmap),
            Col.assessment_date: a["date"],
            Col.assessor_id: ps.series(a["assessor"], ASSESSOR),
            Col.domain: fz.as_str(a["domain"]),
            Col.score: a["score"].astype(float),
        }
    )
    roles = (stats.get("needs") or {}).get("columns", {}).get("rater_role", "(none)")
    if roles != "(none)":
        # who scored, only when the extract said so (absent: a social worker's)
        ass[Col.rater_role] = fz.as_str(a["role"])
    del a
    outcomes = parts.pop("outcomes")
    out = pd.concat([o for o in outcomes if len(o)] or [outcomes[0]], ignore_index=True)
    outc = pd.DataFrame(
        {
            Col.child_id: fz.lookup(out["CHILD"], cmap),
            Col.date: pd.to_datetime(out["date"]),
            Col.measure: out["measure"],
            Col.value: out["value"].astype(float),
        }
    ).sort_values([Col.measure, Col.date, Col.child_id], kind="stable")
    meta = {
        "source": "import",
        "importer": "vc_eval.ingest.importer",
        "vc_eval_version": __version__,
        "council": council,
        "collection_years": years,
        "inputs": [
            {"file": r["file"], "table": r["table"], "sha256": r["sha256"]} for r in stats["inputs"]
        ],
        "pseudonymisation": {
            "method": "HMAC-SHA256(key, council|kind|id)",
            "length": ps.length,
            "key_id": ps.key_id,
            "key_fingerprint": key_fingerprint(ps.key),
        },
        "options": stats["options"],
        "framework": {"path": fw.id if fw.source.startswith("vc_eval/") else "framework.yaml"},
    }
    stats["pseudonymisation"] = meta["pseudonymisation"]
    stats["_pseudonymiser"] = ps  # for the problems file; never written out
    ds = Dataset.from_frames(
        councils=councils,
        children=kids,
        assessments=ass,
        placements=place,
        outcomes=outc.reset_index(drop=True),
        framework=fw,
        metadata=meta,
    )
    stats["output"] = {name: len(t) for name, t in ds.tables.items()}
    return ds


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def check_output_path(out: str | Path, inputs: list[str | Path | None]) -> Path:
    """Refuse outputs that would replace something vc-eval did not write or
    touch an input. Fatal problems are raised before anything is written."""
    out_p = Path(out)
    try:
        check_output_dir(out_p)
    except OutputDirError as err:
        raise fatal(str(out_p), str(err).split(": ", 1)[-1]) from err
    out = out_p.resolve()
    for p in inputs:
        if p is None:
            continue
        p = Path(p).resolve()
        if out == p or out in p.parents or p in out.parents:
            raise fatal(str(out), f"--out must not be, contain or lie inside an input ({p})")
    return out


def check_same_key(out: str | Path, key: bytes, *, new_key: bool = False) -> str | None:
    """Refuse to replace a dataset made with another key (unless ``new_key``).

    Pseudonyms made with another key share nothing with the old ones, so
    analyses linking the two would silently lose every child. Returns a
    warning line when ``new_key`` lets the replacement go ahead, else None.
    """
    meta_file = Path(out) / "dataset.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ps = meta.get("pseudonymisation") or {}
    old = ps.get("key_fingerprint")
    same = (
        old == key_fingerprint(key)
        if old
        else (ps.get("key_id") in (None, Pseudonymiser(key, "x").key_id))
    )
    if same:
        return None
    if not new_key:
        raise fatal(
            str(out),
            "the dataset at --out was made with a different key: its pseudonyms would all "
            "change. Use the same key file, choose another --out, or pass --new-key to "
            "replace it on purpose",
        )
    return f"note: {out} was made with a different key; replaced (--new-key): pseudonyms changed"


def write_import(result: ImportResult, out: str | Path) -> Path:
    """Write the dataset, ``import_report.md`` and ``import_problems.csv``
    into ``out`` in one atomic step (all or nothing).

    The problems file names each row's child by its pseudonym (never the raw
    id) and its cells are made safe to open in a spreadsheet.
    """
    ds = result.dataset
    ps = result.stats.get("_pseudonymiser")
    problems = result.log.frame(
        pseudonymise=(lambda v: ps.series(v, CHILD)) if ps is not None else None
    )
    extra: dict[str, str | bytes] = {
        REPORT_FILE: result.report(),
        PROBLEMS_FILE: safe_frame(problems).to_csv(index=False),
    }
    fw = ds.framework
    if not fw.source.startswith("vc_eval/"):
        extra["framework.yaml"] = Path(fw.source).read_bytes()
    return ds.save(out, extra_files=extra)


def run_import(
    out: str | Path, ssda903, *, new_key: bool = False, messages: list[str] | None = None, **kwargs
) -> ImportResult:
    """:func:`import_council` then :func:`write_import`; nothing is written on failure.

    Leftovers of an interrupted earlier run beside ``out`` are recovered
    first (what was done is appended to ``messages``); ``out`` must be
    empty, absent or a vc-eval folder; a dataset made with another key is
    replaced only with ``new_key``.
    """
    paths = [ssda903] if isinstance(ssda903, (str, Path)) else list(ssda903)
    try:
        recovered = recover_output_dir(Path(out))
    except OSError as err:
        raise fatal(str(out), f"cannot clean up after an interrupted run ({err})") from err
    if messages is not None:
        messages.extend(recovered)
    check_output_path(
        out, [*paths, kwargs.get("needs"), kwargs.get("costs"), kwargs.get("key_file")]
    )
    result = import_council(paths, **kwargs)
    warn = check_same_key(out, result.stats["_pseudonymiser"].key, new_key=new_key)
    if warn and messages is not None:
        messages.append(warn)
    try:
        write_import(result, out)
    except OutputDirError as err:
        raise fatal(str(out), str(err).split(": ", 1)[-1]) from err
    return result


__all__ = [
    "ImportResult",
    "PROBLEMS_FILE",
    "REPORT_FILE",
    "check_output_path",
    "check_same_key",
    "import_council",
    "run_import",
    "write_import",
]
