"""The vc-eval data model: every table and column, written down once.

Every other module imports table and column names from here rather than
spelling them out. A dataset is five tables:

``councils``
    council, programme_start (nullable: never adopted the programme)
``children``
    child_id, council, sex, date_of_birth, ethnicity, entered_care, left_care
``assessments`` (long: one row per child x assessment x domain)
    child_id, assessment_date, assessor_id, domain, score, age_at_assessment,
    rater_role (optional: who scored; absent means ``social_worker``)
``placements``
    child_id, start_date, end_date, placement_type, provider_id, weekly_cost,
    cost_imputed
``outcomes`` (long)
    child_id, date, measure, value

plus an optional ``sub_needs`` table (the assessment columns and ``sub_need``).
Identifiers are strings (pseudonymised on import); dates are ``datetime64``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------
# Controlled vocabularies
# --------------------------------------------------------------------------

SEXES: tuple[str, ...] = ("male", "female")

#: DfE top-level ethnic groups (SSDA903 ETHNIC codes map onto these).
ETHNICITIES: tuple[str, ...] = (
    "White",
    "Mixed",
    "Asian",
    "Black",
    "Other",
    "Not recorded",
)

#: Placement types; each SSDA903 PLACE (+ PLACE_PROVIDER) code maps to one.
PLACEMENT_TYPES: tuple[str, ...] = (
    "in_house_foster",
    "ifa_foster",
    "kinship",
    "childrens_home",
    "supported_accommodation",
    "placed_with_parents",
    "secure",
    "other",
)

PLACEMENT_LABELS: dict[str, str] = {
    "in_house_foster": "In-house foster care",
    "ifa_foster": "IFA foster care",
    "kinship": "Kinship care",
    "childrens_home": "Children's home",
    "supported_accommodation": "Supported accommodation",
    "placed_with_parents": "Placed with parents",
    "secure": "Secure",
    "other": "Other",
}

#: Who gave a score (``rater_role`` of the assessments table). A score with no
#: role recorded is a social worker's (the default before roles were recorded).
RATER_ROLES: dict[str, str] = {
    "social_worker": "Social worker",
    "carer": "Carer",
    "child": "The child or young person",
    "iro": "Independent reviewing officer",
    "other": "Other practitioner",
}
DEFAULT_RATER_ROLE = "social_worker"
#: The role of a child's or young person's rating of their own needs.
CHILD_ROLE = "child"
#: Roles that score as practitioners (everyone but the child).
PRACTITIONER_ROLES: tuple[str, ...] = ("social_worker", "carer", "iro", "other")

#: Outcome measures the workbench knows how to read (others are allowed).
OUTCOME_MEASURES: dict[str, str] = {
    "sdq_total": "SDQ total difficulties (0-40), yearly for ages 5-16",
    "school_attendance": "School attendance, % of sessions in the year",
    "exclusion": "Exclusions in the year (count)",
    "missing_episodes": "Missing episodes in the year (count)",
    "placement_moves": "Placement moves in the year (count)",
    "offending": "Convicted or cautioned in the year (0/1)",
}

# --------------------------------------------------------------------------
# Table and column names
# --------------------------------------------------------------------------

COUNCILS = "councils"
CHILDREN = "children"
ASSESSMENTS = "assessments"
PLACEMENTS = "placements"
OUTCOMES = "outcomes"
SUB_NEEDS = "sub_needs"

TABLES: tuple[str, ...] = (COUNCILS, CHILDREN, ASSESSMENTS, PLACEMENTS, OUTCOMES)
OPTIONAL_TABLES: tuple[str, ...] = (SUB_NEEDS,)


class Col:
    """Column names, shared across tables where they mean the same thing."""

    council = "council"
    programme_start = "programme_start"
    child_id = "child_id"
    sex = "sex"
    date_of_birth = "date_of_birth"
    ethnicity = "ethnicity"
    entered_care = "entered_care"
    left_care = "left_care"
    assessment_date = "assessment_date"
    assessor_id = "assessor_id"
    domain = "domain"
    sub_need = "sub_need"
    score = "score"
    age_at_assessment = "age_at_assessment"
    rater_role = "rater_role"
    start_date = "start_date"
    end_date = "end_date"
    placement_type = "placement_type"
    provider_id = "provider_id"
    weekly_cost = "weekly_cost"
    cost_imputed = "cost_imputed"
    date = "date"
    measure = "measure"
    value = "value"


#: Columns of each table, in order.
COLUMNS: dict[str, tuple[str, ...]] = {
    COUNCILS: (Col.council, Col.programme_start),
    CHILDREN: (
        Col.child_id,
        Col.council,
        Col.sex,
        Col.date_of_birth,
        Col.ethnicity,
        Col.entered_care,
        Col.left_care,
    ),
    ASSESSMENTS: (
        Col.child_id,
        Col.assessment_date,
        Col.assessor_id,
        Col.domain,
        Col.score,
        Col.age_at_assessment,
        Col.rater_role,
    ),
    PLACEMENTS: (
        Col.child_id,
        Col.start_date,
        Col.end_date,
        Col.placement_type,
        Col.provider_id,
        Col.weekly_cost,
        Col.cost_imputed,
    ),
    OUTCOMES: (Col.child_id, Col.date, Col.measure, Col.value),
    SUB_NEEDS: (
        Col.child_id,
        Col.assessment_date,
        Col.assessor_id,
        Col.domain,
        Col.sub_need,
        Col.score,
    ),
}

#: Date columns of each table (parsed on load).
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    COUNCILS: (Col.programme_start,),
    CHILDREN: (Col.date_of_birth, Col.entered_care, Col.left_care),
    ASSESSMENTS: (Col.assessment_date,),
    PLACEMENTS: (Col.start_date, Col.end_date),
    OUTCOMES: (Col.date,),
    SUB_NEEDS: (Col.assessment_date,),
}

#: Identifier columns: never shown in a report.
IDENTIFIER_COLUMNS: tuple[str, ...] = (Col.child_id, Col.assessor_id, Col.provider_id)

DAYS_PER_YEAR = 365.25

# --------------------------------------------------------------------------
# Validation rules (pandera)
# --------------------------------------------------------------------------


DUPLICATE_KEY = "duplicate row (same key as another row)"


@functools.cache
def _without_keys() -> dict:
    """The schemas less their check that a key is unique (done on integer codes instead)."""
    out = {}
    for name, schema in schemas().items():
        out[name] = copy.deepcopy(schema)
        out[name].unique = None
    return out


@functools.cache
def schemas() -> dict:
    """The pandera schema of each table (built on first use: pandera is slow to import,
    and a report read from the cache never validates)."""
    import pandera.pandas as pa

    _ID = pa.Column(str, nullable=False, coerce=True)
    _DATE = pa.Column("datetime64[ns]", nullable=False, coerce=True)
    _DATE_OPT = pa.Column("datetime64[ns]", nullable=True, coerce=True)

    def _not_blank() -> pa.Check:
        return pa.Check(lambda s: s.str.strip().str.len() > 0, element_wise=False, name="not_blank")

    return {
        COUNCILS: pa.DataFrameSchema(
            {
                Col.council: pa.Column(str, checks=_not_blank(), unique=True, coerce=True),
                Col.programme_start: _DATE_OPT,
            },
            strict=True,
            name=COUNCILS,
        ),
        CHILDREN: pa.DataFrameSchema(
            {
                Col.child_id: pa.Column(str, checks=_not_blank(), unique=True, coerce=True),
                Col.council: pa.Column(str, checks=_not_blank(), coerce=True),
                Col.sex: pa.Column(str, checks=pa.Check.isin(SEXES), coerce=True),
                Col.date_of_birth: _DATE,
                Col.ethnicity: pa.Column(str, checks=pa.Check.isin(ETHNICITIES), coerce=True),
                Col.entered_care: _DATE,
                Col.left_care: _DATE_OPT,
            },
            strict=True,
            name=CHILDREN,
        ),
        ASSESSMENTS: pa.DataFrameSchema(
            {
                Col.child_id: pa.Column(str, checks=_not_blank(), coerce=True),
                Col.assessment_date: _DATE,
                Col.assessor_id: _ID,
                Col.domain: pa.Column(str, checks=_not_blank(), coerce=True),
                Col.score: pa.Column(float, checks=pa.Check.in_range(0, 100), coerce=True),
                Col.age_at_assessment: pa.Column(
                    float, checks=pa.Check.in_range(0, 26), coerce=True, required=False
                ),
                Col.rater_role: pa.Column(
                    str,
                    checks=pa.Check.isin(tuple(RATER_ROLES)),
                    coerce=True,
                    required=False,
                    nullable=True,  # blank: a social worker's score
                ),
            },
            unique=[Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain],
            strict=True,
            name=ASSESSMENTS,
        ),
        PLACEMENTS: pa.DataFrameSchema(
            {
                Col.child_id: pa.Column(str, checks=_not_blank(), coerce=True),
                Col.start_date: _DATE,
                Col.end_date: _DATE_OPT,
                Col.placement_type: pa.Column(
                    str, checks=pa.Check.isin(PLACEMENT_TYPES), coerce=True
                ),
                Col.provider_id: pa.Column(str, nullable=True, coerce=True),
                Col.weekly_cost: pa.Column(float, checks=pa.Check.ge(0), coerce=True),
                Col.cost_imputed: pa.Column(bool, coerce=True, required=False),
            },
            unique=[Col.child_id, Col.start_date],
            strict=True,
            name=PLACEMENTS,
        ),
        OUTCOMES: pa.DataFrameSchema(
            {
                Col.child_id: pa.Column(str, checks=_not_blank(), coerce=True),
                Col.date: _DATE,
                Col.measure: pa.Column(str, checks=_not_blank(), coerce=True),
                Col.value: pa.Column(float, coerce=True),
            },
            unique=[Col.child_id, Col.date, Col.measure],
            strict=True,
            name=OUTCOMES,
        ),
        SUB_NEEDS: pa.DataFrameSchema(
            {
                Col.child_id: pa.Column(str, coerce=True),
                Col.assessment_date: _DATE,
                Col.assessor_id: _ID,
                Col.domain: pa.Column(str, coerce=True),
                Col.sub_need: pa.Column(str, coerce=True),
                Col.score: pa.Column(float, checks=pa.Check.in_range(0, 100), coerce=True),
            },
            strict=True,
            name=SUB_NEEDS,
        ),
    }


def __getattr__(name: str):
    if name == "SCHEMAS":  # the name older code imports
        return schemas()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Rules across columns of one row: (table, column blamed, rule, earlier, later).
#: Each says ``later`` must not be before ``earlier`` where both are present.
DATE_ORDER_RULES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        CHILDREN,
        Col.entered_care,
        "entered care before date of birth",
        Col.date_of_birth,
        Col.entered_care,
    ),
    (CHILDREN, Col.left_care, "left care before entering care", Col.entered_care, Col.left_care),
    (PLACEMENTS, Col.end_date, "placement ends before it starts", Col.start_date, Col.end_date),
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: where it is and what rule it breaks.

    ``row`` is the 1-based data row in the file (the header is row 0), or
    ``None`` when the rule concerns a whole column or table.
    """

    file: str
    row: int | None
    column: str | None
    rule: str
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        got = f" (got {self.value!r})" if self.value is not None else ""
        return f"{where}: {self.rule}{got}"


def _rule_text(check: str, column: str | None) -> str:
    check = str(check)
    texts = {
        "not_nullable": "value is required (missing)",
        "column_in_schema": "unexpected column",
        "column_in_dataframe": "required column is missing",
        "field_uniqueness": "duplicate value where values must be unique",
        "multiple_fields_uniqueness": DUPLICATE_KEY,
        "not_blank": "value must not be blank",
    }
    for key, text in texts.items():
        if check.startswith(key):
            return text
    if check.startswith("coerce_dtype") or check.startswith("dtype"):
        return f"value cannot be read as {check.split('(')[-1].rstrip(')')}"
    if check.startswith("in_range"):
        return f"value out of range {check.removeprefix('in_range')}"
    if check.startswith("isin"):
        return "value is not one of the allowed codes"
    if check.startswith("greater_than_or_equal_to"):
        return f"value must be >= {check.split('(')[-1].rstrip(')')}"
    return check.replace("_", " ")


def validate_table(
    table: str, frame: pd.DataFrame, *, file: str | None = None, row_offset: int = 1
) -> list[Violation]:
    """Check one table against its schema and return every violation.

    Parameters
    ----------
    table : str
        Table name (a key of :func:`schemas`).
    frame : DataFrame
        The table as loaded.
    file : str, optional
        File name to report; defaults to the table name.
    row_offset : int
        Added to the 0-based positional index to give the reported row number
        (1 makes the first data row "row 1").
    """
    import pandera.pandas as pa

    keys = schemas()[table].unique
    fast = _keys_are_typed(frame, keys)
    schema = (_without_keys() if fast else schemas())[table]
    file = file or table
    try:
        schema.validate(frame.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as err:
        out: list[Violation] = []
        fc = err.failure_cases
        for rec in fc.to_dict("records"):
            idx = rec.get("index")
            col = rec.get("column")
            if col is not None and not isinstance(col, str):
                col = None
            row = None if idx is None or pd.isna(idx) else int(idx) + row_offset
            value = rec.get("failure_case")
            value = (
                None if value is None or (isinstance(value, float) and pd.isna(value)) else value
            )
            rule = _rule_text(rec.get("check"), col)
            if rule in ("unexpected column", "required column is missing"):
                # frame-level checks name the column in failure_case
                col, value = str(value), None
            out.append(Violation(file, row, col, rule, None if value is None else str(value)))
    else:
        out = []
    if fast:
        out.extend(_duplicate_key_violations(keys, frame, file, row_offset))
    out.extend(_date_order_violations(table, frame, file, row_offset))
    return sorted(
        set(out),
        key=lambda v: (v.row if v.row is not None else -1, v.column or "", v.rule),
    )


def _keys_are_typed(frame: pd.DataFrame, keys) -> bool:
    """True when the key columns need no coercion (a loaded, conformed table).

    Then the key check runs on integer codes (pandera's own check of several
    columns took 9 of the 15 CPU seconds of loading national data); otherwise
    pandera checks the coerced values, as it reports them.
    """
    if not keys or not set(keys) <= set(frame.columns):
        return False
    for col in keys:
        dt = frame[col].dtype
        if "date" in col:
            if not pd.api.types.is_datetime64_dtype(dt):
                return False
        elif not (pd.api.types.is_string_dtype(dt) and not pd.api.types.is_object_dtype(dt)):
            return False
    return True


def _duplicate_key_violations(keys, frame: pd.DataFrame, file: str, row_offset: int):
    """Rows sharing their key with another (missing is a value), once per key column
    with a value, as pandera words them."""
    from vc_eval.core.factorized import duplicated

    rows = np.flatnonzero(duplicated(frame, list(keys), keep=False))
    out = []
    for col in keys:
        values = frame[col].to_numpy()
        for i in rows:
            v = values[i]
            if pd.isna(v):
                continue
            shown = str(pd.Timestamp(v)) if isinstance(v, np.datetime64) else str(v)
            out.append(Violation(file, int(i) + row_offset, col, DUPLICATE_KEY, shown))
    return out


def _date_order_violations(
    table: str, frame: pd.DataFrame, file: str, row_offset: int
) -> list[Violation]:
    out = []
    for tab, blamed, rule, earlier, later in DATE_ORDER_RULES:
        if tab != table or earlier not in frame or later not in frame:
            continue
        a = pd.to_datetime(frame[earlier], errors="coerce").to_numpy()
        b = pd.to_datetime(frame[later], errors="coerce").to_numpy()
        bad = pd.notna(a) & pd.notna(b) & (b < a)
        for i in bad.nonzero()[0]:
            out.append(
                Violation(file, int(i) + row_offset, blamed, rule, str(frame[blamed].iloc[i]))
            )
    return out


def rater_roles(assessments: pd.DataFrame) -> pd.Series:
    """Who gave each score: the ``rater_role`` column, or social worker where absent."""
    if Col.rater_role not in assessments:
        return pd.Series(DEFAULT_RATER_ROLE, index=assessments.index, name=Col.rater_role)
    return assessments[Col.rater_role].fillna(DEFAULT_RATER_ROLE).rename(Col.rater_role)


class ValidationError(ValueError):
    """Raised when data break the data model; carries every violation."""

    def __init__(self, violations: list[Violation], context: str = "data"):
        self.violations = list(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations[:50])
        more = len(self.violations) - 50
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.violations)} problem(s) in {context}:\n{lines}{tail}")
