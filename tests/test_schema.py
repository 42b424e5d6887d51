"""The data model rejects each kind of bad row, naming table, row, column and rule."""

from __future__ import annotations

import pandas as pd
import pytest

from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import ValidationError, validate_table


def _children(**over):
    row = {
        "child_id": "A1",
        "council": "Kestrelmoor",
        "sex": "female",
        "date_of_birth": "2012-05-01",
        "ethnicity": "White",
        "entered_care": "2020-01-01",
        "left_care": None,
    }
    rows = [dict(row), dict(row, child_id="A2")]
    rows[1].update(over)
    return pd.DataFrame(rows)


GOOD = {
    "children": _children(),
    "assessments": pd.DataFrame(
        {
            "child_id": ["A1", "A1"],
            "assessment_date": ["2021-01-01", "2021-01-01"],
            "assessor_id": ["S1", "S1"],
            "domain": ["attachment", "behaviour"],
            "score": [40.0, 55.5],
        }
    ),
    "placements": pd.DataFrame(
        {
            "child_id": ["A1", "A2"],
            "start_date": ["2020-01-01", "2020-01-01"],
            "end_date": [None, "2021-01-01"],
            "placement_type": ["in_house_foster", "childrens_home"],
            "provider_id": ["P1", "P2"],
            "weekly_cost": [550.0, 4800.0],
        }
    ),
    "outcomes": pd.DataFrame(
        {"child_id": ["A1"], "date": ["2021-03-31"], "measure": ["sdq_total"], "value": [14.0]}
    ),
    "councils": pd.DataFrame({"council": ["Kestrelmoor"], "programme_start": ["2022-01-01"]}),
}


@pytest.mark.parametrize("table", list(GOOD))
def test_good_tables_pass(table):
    assert validate_table(table, GOOD[table]) == []


BAD_CASES = [
    ("children", {"sex": "girl"}, "sex", "allowed codes"),
    ("children", {"ethnicity": "Martian"}, "ethnicity", "allowed codes"),
    ("children", {"date_of_birth": "31/31/2012"}, "date_of_birth", "cannot be read"),
    ("children", {"child_id": "A1"}, "child_id", "duplicate"),
    ("children", {"council": ""}, "council", "blank"),
    ("children", {"entered_care": "2010-01-01"}, "entered_care", "before date of birth"),
    ("children", {"left_care": "2019-01-01"}, "left_care", "before entering care"),
    ("children", {"entered_care": None}, "entered_care", "required"),
    ("assessments", {"score": 101.0}, "score", "out of range"),
    ("assessments", {"score": -1.0}, "score", "out of range"),
    ("assessments", {"score": "high"}, "score", "cannot be read"),
    ("assessments", {"domain": "attachment"}, None, "duplicate row"),
    ("assessments", {"assessment_date": "not a date"}, "assessment_date", "cannot be read"),
    ("placements", {"placement_type": "castle"}, "placement_type", "allowed codes"),
    ("placements", {"weekly_cost": -5.0}, "weekly_cost", ">= 0"),
    ("placements", {"end_date": "2019-06-01"}, "end_date", "ends before it starts"),
    ("outcomes", {"value": "n/a"}, "value", "cannot be read"),
]


def _with_bad_last_row(table: str, change: dict) -> pd.DataFrame:
    frame = GOOD[table].copy()
    if table == "children":
        return _children(**change)
    last = frame.iloc[[-1]].copy()
    for k, v in change.items():
        last[k] = [v]
    return pd.concat([frame.iloc[:-1], last], ignore_index=True).astype(object)


@pytest.mark.parametrize(("table", "change", "column", "rule"), BAD_CASES)
def test_each_kind_of_bad_row_is_named(table, change, column, rule):
    frame = _with_bad_last_row(table, change)
    found = validate_table(table, frame, file=f"{table}.csv")
    assert found, f"no violation for {change}"
    row = len(frame)  # the bad row is the last one (1-based)
    hits = [v for v in found if rule in v.rule and (v.row == row or column is None)]
    assert hits, f"expected '{rule}' at row {row}, got {[str(v) for v in found]}"
    if column is not None:
        assert any(v.column == column for v in hits)
    text = str(hits[0])
    assert f"{table}.csv" in text and "row" in text


def test_missing_and_unexpected_columns():
    frame = GOOD["outcomes"].drop(columns=["value"]).assign(colour="red")
    rules = {(v.column, v.rule) for v in validate_table("outcomes", frame)}
    assert ("value", "required column is missing") in rules
    assert ("colour", "unexpected column") in rules


def _write_csv_dataset(folder, tables):
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)


def test_dataset_load_reports_every_violation_not_just_the_first(tmp_path):
    tables = {k: v.copy() for k, v in GOOD.items()}
    tables["children"] = _children(sex="x", ethnicity="y")
    tables["assessments"].loc[0, "score"] = 250
    _write_csv_dataset(tmp_path / "d", tables)
    with pytest.raises(ValidationError) as err:
        Dataset.load(tmp_path / "d")
    msg = str(err.value)
    assert len(err.value.violations) >= 3
    assert "children.csv, row 2, column 'sex'" in msg
    assert "children.csv, row 2, column 'ethnicity'" in msg
    assert "assessments.csv, row 1, column 'score'" in msg


def test_dataset_load_checks_links_and_framework(tmp_path):
    tables = {k: v.copy() for k, v in GOOD.items()}
    tables["placements"].loc[1, "child_id"] = "GHOST"
    tables["assessments"].loc[1, "domain"] = "telepathy"
    _write_csv_dataset(tmp_path / "d", tables)
    with pytest.raises(ValidationError) as err:
        Dataset.load(tmp_path / "d")
    rules = {(v.column, v.rule, v.row) for v in err.value.violations}
    assert ("child_id", "child not in children table", 2) in rules
    assert ("domain", "domain not in framework 'illustrative'", 2) in rules


def test_csv_dataset_round_trips_to_parquet(tmp_path):
    _write_csv_dataset(tmp_path / "d", GOOD)
    ds = Dataset.load(tmp_path / "d")
    assert ds.assessments["age_at_assessment"].round(2).tolist() == [8.67, 8.67]
    ds.save(tmp_path / "p")
    again = Dataset.load(tmp_path / "p")
    assert again.fingerprint() == ds.fingerprint()
    assert not list(tmp_path.glob(".p.tmp-*"))


def test_missing_table_is_a_clear_error(tmp_path):
    tables = {k: v for k, v in GOOD.items() if k != "outcomes"}
    _write_csv_dataset(tmp_path / "d", tables)
    with pytest.raises(FileNotFoundError, match="table 'outcomes' not found"):
        Dataset.load(tmp_path / "d")


def test_key_check_on_codes_reports_what_pandera_reports():
    """Loaded tables check their keys on integer codes; the violations equal pandera's own."""
    import numpy as np

    from vc_eval.core.schema import _keys_are_typed, schemas, validate_table

    rng = np.random.default_rng(7)
    for _ in range(30):
        n = int(rng.integers(2, 40))
        frame = pd.DataFrame(
            {
                "child_id": pd.array(rng.choice(["a", "b", None], n), dtype="str"),
                "assessment_date": pd.to_datetime(
                    rng.choice(["2020-01-01", "2020-02-01", None], n)
                ),
                "assessor_id": pd.array(rng.choice(["x", "y"], n), dtype="str"),
                "domain": pd.array(rng.choice(["d1", "d2"], n), dtype="str"),
                "score": rng.uniform(0, 100, n),
            }
        )
        assert _keys_are_typed(frame, schemas()["assessments"].unique)
        untyped = frame.astype({"child_id": object})  # pandera coerces: its own key check
        assert not _keys_are_typed(untyped, schemas()["assessments"].unique)
        fast = validate_table("assessments", frame)
        slow = validate_table("assessments", untyped)
        assert fast == slow
        assert any(v.rule.startswith("duplicate row") for v in fast) == bool(
            frame.duplicated(["child_id", "assessment_date", "assessor_id", "domain"]).any()
        )
