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

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vc_eval.core.factorized import to_number
from vc_eval.core.framework import SCORE_MAX, SCORE_MIN, Framework
from vc_eval.core.schema import CHILD_ROLE, DEFAULT_RATER_ROLE, RATER_ROLES
from vc_eval.ingest.problems import ERROR, NOTE, ProblemLog, fatal
from vc_eval.ingest.pseudonymise import normalise_ids
from vc_eval.ingest.ssda903 import (
    check_regular_file,
    decode_bytes,
    looks_like_data,
    parse_dates,
    read_csv_text,
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
    ``__row``. ``columns["rater_role"]`` is ``"(none)"`` without one.
    """

    frame: pd.DataFrame
    file: str
    encoding: str
    layout: str
    rows_read: int
    columns: dict[str, str]


def read_needs(
    path: Path, config: NeedsConfig, framework: Framework, log: ProblemLog
) -> NeedsExtract:
    """Read a needs extract (CSV or Excel, long or wide) and check each score.

    Row-level problems (blank child or date, invalid date, unknown domain,
    score missing, not a number or outside 0-100) are logged and the value
    dropped. Fatal: the file cannot be read or its columns cannot be found.
    """
    label = Path(path).name
    raw, enc = read_table_file(Path(path), label, log, sheet=config.sheet)
    cols = {_key(c): c for c in raw.columns if c != "__row"}
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
    names = {_key(d.name): d.id for d in framework.domains}
    ids = {_key(d): d for d in framework.all_domain_ids}
    lookup = {**names, **ids}

    # Ids and dates are parsed once per row of the file; a wide file is then
    # expanded to one entry per row x domain by index, and raw text is kept
    # only for the entries a problem is reported on (national extracts are
    # ~10 million scores).
    n = len(raw)
    child_w = normalise_ids(raw[child])
    date_w = parse_dates(raw[date])
    assessor_w = normalise_ids(raw[assessor]) if assessor else None
    role_w, role_unknown = _roles(raw[role_col] if role_col else None, n, config)
    if assessor:
        # a child's own rating needs no assessor
        own_blank = assessor_w.isna().to_numpy() & (role_w == CHILD_ROLE)
        if own_blank.any():
            assessor_w = assessor_w.copy()
            assessor_w[own_blank] = CHILD_ASSESSOR
    if config.wide or (not config.domain and _find(cols, None, ("domain",)) is None):
        layout = "wide"
        if config.wide:
            dom_cols = {}
            for col, dom in config.domains.items():
                c = cols.get(_key(col))
                if c is None:
                    raise fatal(label, f"needs extract: domain column '{col}' (config) not found")
                dom_cols[c] = dom
        else:
            dom_cols = {c: lookup[k] for k, c in cols.items() if k in lookup}
        if not dom_cols:
            raise fatal(
                label,
                "needs extract: no domain/score columns and no column named "
                f"after a domain of framework '{framework.id}'",
            )
        k = len(dom_cols)
        src = np.repeat(np.arange(n), k)  # entry -> row of the file (row-major)
        col_names = np.array(list(dom_cols), dtype=object)
        col_of = np.tile(np.arange(k), n)
        domain = pd.Series(np.tile(np.array(list(dom_cols.values()), dtype=object), n), dtype="str")
        parts = [raw[c].astype("str").fillna("") for c in dom_cols]
        score = np.column_stack([to_number(x).to_numpy() for x in parts]).ravel()
        blank_score = np.column_stack([(x.str.strip() == "").to_numpy() for x in parts]).ravel()
        where = col_names[col_of]  # the column each entry came from

        def raw_value(kind, idx):
            if kind == "score":
                return [parts[c].iloc[r] for r, c in zip(src[idx], col_of[idx], strict=True)]
            if kind == "domain":
                return where[idx]
            if kind == "role":
                return raw[role_col].iloc[src[idx]].to_numpy()
            return raw[date].iloc[src[idx]].to_numpy()

    else:
        layout = "long"
        dcol = _find(cols, config.domain, ("domain", "need_domain", "domain_id"))
        scol = _find(cols, config.score, ("score", "need_score", "value"))
        if dcol is None or scol is None:
            raise fatal(label, "needs extract: cannot find the domain and score columns")
        src = np.arange(n)
        recode = {_key(k): v for k, v in config.domain_values.items()}
        codes, uniques = pd.factorize(raw[dcol])
        mapped = np.array(
            [recode.get(_key(u), lookup.get(_key(u))) for u in uniques] + [None], dtype=object
        )
        domain = pd.Series(mapped[codes], dtype="str")
        score_text = raw[scol].astype("str").fillna("")
        score = to_number(score_text).to_numpy()
        blank_score = (score_text.str.strip() == "").to_numpy()
        del score_text  # 10 million strings nationally; raw_value reads ``raw``
        where = None

        def raw_value(kind, idx):
            c = {"score": scol, "domain": dcol, "date": date, "role": role_col}[kind]
            return raw[c].iloc[idx].to_numpy()

    wide = layout == "wide"
    entries = len(src)
    row_no = raw["__row"].to_numpy()[src]
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
        return np.asarray(mask_w, dtype=bool)[src]

    date_blank = (raw[date].astype("str").fillna("").str.strip() == "").to_numpy()
    flag(per_row(child_w.isna()), child, "child id is blank", hide=True)
    flag(per_row(date_blank), date, "date is blank")
    flag(per_row(date_w.isna()), date, "not a valid date (dd/mm/YYYY or YYYY-MM-DD)", value="date")
    if assessor:
        flag(per_row(assessor_w.isna()), assessor, "assessor id is blank")
    if role_col:
        known_roles = ", ".join(sorted(set(RATER_SPELLINGS.values())))
        flag(
            per_row(role_unknown),
            role_col,
            f"rater role not recognised (roles: {known_roles}; map other labels with "
            "rater_values in --needs-config)",
            value="role",
        )
    known = set(framework.all_domain_ids)
    flag(
        ~domain.isin(known).to_numpy(),
        None if wide else dcol,
        f"domain not in framework '{framework.id}'",
        value="domain",
    )
    score_col = None if wide else scol
    if wide:
        # a blank cell in a wide extract is a domain not scored at that review
        flag(blank_score, None, "no score (blank cell)", level=NOTE, action="nothing imported")
    else:
        flag(blank_score, scol, "score is missing")
    flag(np.isnan(score), score_col, "score is not a number", value="score")
    flag((score < SCORE_MIN) | (score > SCORE_MAX), score_col, "score outside 0-100", value="score")
    keep = ~bad
    ks = src[keep]
    # the file's text columns and their checked copies are done with: free them
    # before building the kept entries (national extracts: ~10 million rows)
    raw = blank_score = date_blank = None  # raw_value is not called after this
    frame = pd.DataFrame(
        {
            "child": child_w.take(ks).reset_index(drop=True),
            "date": date_w.to_numpy()[ks],
            "assessor": (assessor_w.take(ks).reset_index(drop=True) if assessor else "unrecorded"),
            "domain": domain[keep].reset_index(drop=True),
            "score": score[keep],
            "role": pd.Series(role_w[ks], dtype="str"),
            "__file": pd.Categorical.from_codes(np.zeros(int(keep.sum()), dtype=np.int8), [label]),
            "__row": row_no[keep],
        }
    )
    if not assessor:
        frame["assessor"] = frame["assessor"].astype("str")
    return NeedsExtract(
        frame,
        label,
        enc,
        layout,
        n,
        {
            "child": child,
            "date": date,
            "assessor": assessor or "(none)",
            "rater_role": role_col or "(none)",
        },
    )


def _roles(values: pd.Series | None, n: int, config: NeedsConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each row's rater role (schema id) and whether its label was not recognised.

    Blank or absent: :data:`DEFAULT_RATER_ROLE`. Labels are mapped by the
    config's ``rater_values`` first, then by :data:`RATER_SPELLINGS`.
    """
    if values is None:
        return np.full(n, DEFAULT_RATER_ROLE, dtype=object), np.zeros(n, dtype=bool)
    own = {role_key(k): v for k, v in config.rater_values.items()}
    codes, uniques = pd.factorize(values.astype("str").fillna(""), use_na_sentinel=False)
    mapped, unknown = [], []
    for u in uniques:
        k = role_key(u)
        role = DEFAULT_RATER_ROLE if k == "" else own.get(k, RATER_SPELLINGS.get(k))
        mapped.append(role or DEFAULT_RATER_ROLE)
        unknown.append(role is None)
    return (
        np.asarray(mapped, dtype=object)[codes],
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
    s = values.fillna("").astype("str").str.replace(r"(?i)gbp|£|\s", "", regex=True)
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
    "RATER_SPELLINGS",
    "ROLE_ALIASES",
    "CostsExtract",
    "NeedsConfig",
    "NeedsExtract",
    "MAX_WEEKLY_COST",
    "load_needs_config",
    "parse_money",
    "read_costs",
    "read_needs",
    "read_table_file",
    "role_key",
]
