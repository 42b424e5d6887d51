"""Needs extracts read block by block (how national extracts are read) give
what a whole-file read gives: the same scores, problems and row numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _import_data import import_args, write_inputs
from pandas.testing import assert_frame_equal

from vc_eval.core.framework import load_framework
from vc_eval.ingest import extracts
from vc_eval.ingest.extracts import NeedsConfig, read_coded_csv, read_needs
from vc_eval.ingest.importer import import_council
from vc_eval.ingest.problems import ProblemLog

DOMAINS = ["attachment", "behaviour", "education"]
LONG = NeedsConfig(
    child_id="Child ID", date="Review date", assessor="Worker", domain="Domain", score="Score"
)
WIDE = NeedsConfig(
    child_id="Child ID", date="Review date", assessor="Worker", domains={d: d for d in DOMAINS}
)
BLOCK = 200  # bytes: about five lines, so a 60-line extract is read in a dozen blocks


def _long_rows() -> list[list[str]]:
    rows = []
    for i in range(20):
        for j, d in enumerate(DOMAINS):
            rows.append(
                [f"C{i % 4 + 1}", f"{i + 1:02d}/03/2021", f"SW{i % 3}", d, f"{(7 * i + j) % 90}.5"]
            )
    # data rows are numbered from 1 (the line after the header)
    rows[12][1] = "31/02/2021"  # row 13: no such date
    rows[29] = [""] * 5  # row 30: blank, skipped but still counted
    rows[40][0] = "  C2 "  # row 41: spaces around an id are not part of it
    rows[44][4] = "abc"  # row 45: in a late block
    rows[57][4] = "101"  # row 58: in the last block
    return rows


def _write(path: Path, header: list[str], rows: list[list[str]], newline: str = "\n") -> Path:
    path.write_text(newline.join(",".join(r) for r in [header, *rows]) + newline)
    return path


def _read(path: Path, config: NeedsConfig, monkeypatch, *, blocks: bool):
    """read_needs with block reading forced (tiny blocks) or turned off."""
    monkeypatch.setattr(extracts, "STREAM_MIN_BYTES", 0 if blocks else 10**15)
    monkeypatch.setattr(extracts, "STREAM_BLOCK_BYTES", BLOCK)
    log = ProblemLog()
    ext = read_needs(path, config, load_framework(), log)
    frame = ext.frame.assign(
        **{c: ext.frame[c].astype("str") for c in ("child", "assessor", "domain", "role")}
    )
    return frame, log.frame(), (ext.layout, ext.rows_read, ext.encoding, ext.columns)


def _problems(log: pd.DataFrame) -> list[tuple]:
    return list(log[["row", "column", "rule", "value"]].itertuples(index=False, name=None))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_block_read_equals_whole_read_and_keeps_row_numbers(tmp_path, monkeypatch, newline):
    path = _write(
        tmp_path / "needs.csv",
        ["Child ID", "Review date", "Worker", "Domain", "Score"],
        _long_rows(),
        newline,
    )
    assert path.stat().st_size > 8 * BLOCK
    # the block reader takes this file (it does not fall back to a whole read)
    assert read_coded_csv(path, path.name, lambda names: names, block_bytes=BLOCK) is not None
    whole = _read(path, LONG, monkeypatch, blocks=False)
    block = _read(path, LONG, monkeypatch, blocks=True)
    assert_frame_equal(block[0], whole[0])
    assert_frame_equal(block[1], whole[1])
    assert block[2] == whole[2]
    assert block[2][1] == 59  # 60 data lines, one blank
    assert _problems(block[1]) == [
        (13, "Review date", "not a valid date (dd/mm/YYYY or YYYY-MM-DD)", "31/02/2021"),
        (45, "Score", "score is not a number", "abc"),
        (58, "Score", "score outside 0-100", "101"),
    ]
    f = block[0]
    assert len(f) == 56
    assert f.loc[f["__row"] == 41, "child"].tolist() == ["C2"]
    assert 30 not in set(f["__row"])
    assert f.loc[f["__row"] == 60, ["child", "domain", "score"]].values.tolist() == [
        ["C4", "education", 45.5]
    ]


def test_wide_block_read_names_the_cell_of_a_late_bad_score(tmp_path, monkeypatch):
    rows = [
        [f"C{i % 4 + 1}", f"{i % 28 + 1:02d}/03/2021", f"SW{i % 3}"]
        + [f"{(3 * i + j) % 90}" for j in range(3)]
        for i in range(40)
    ]
    rows[33][4] = "n/a"  # row 34, column behaviour
    rows[38][5] = ""  # row 39: education not scored (a note, nothing imported)
    path = _write(tmp_path / "wide.csv", ["Child ID", "Review date", "Worker", *DOMAINS], rows)
    whole = _read(path, WIDE, monkeypatch, blocks=False)
    block = _read(path, WIDE, monkeypatch, blocks=True)
    assert_frame_equal(block[0], whole[0])
    assert_frame_equal(block[1], whole[1])
    assert block[2] == whole[2]
    assert _problems(block[1]) == [
        (39, "education", "no score (blank cell)", None),
        (34, "behaviour", "score is not a number", "n/a"),
    ]
    assert len(block[0]) == 40 * 3 - 2


@pytest.mark.parametrize(
    "damage",
    ["blank line", "ragged row", "stray quote", "cp1252"],
)
def test_files_the_block_reader_cannot_take_are_read_whole(tmp_path, monkeypatch, damage):
    header = ["Child ID", "Review date", "Worker", "Domain", "Score"]
    rows = _long_rows()
    path = _write(tmp_path / "needs.csv", header, rows)
    text = path.read_text()
    lines = text.split("\n")
    if damage == "blank line":
        lines.insert(50, "")  # after data row 49: later rows are numbered one higher
    elif damage == "ragged row":
        lines[47] += ",extra"
    elif damage == "stray quote":
        lines[47] = lines[47].replace("SW", '"SW')
    path.write_bytes(
        "\n".join(lines).encode("cp1252" if damage == "cp1252" else "utf-8")
        if damage != "cp1252"
        else "\n".join(lines).replace("SW0", "Zoé").encode("cp1252")
    )
    assert read_coded_csv(path, path.name, lambda names: names, block_bytes=BLOCK) is None
    whole = _read(path, LONG, monkeypatch, blocks=False)
    block = _read(path, LONG, monkeypatch, blocks=True)
    assert_frame_equal(block[0], whole[0])
    assert_frame_equal(block[1], whole[1])
    if damage == "blank line":
        assert (59, "Score", "score outside 0-100", "101") in _problems(block[1])


def test_import_with_block_read_gives_the_same_dataset(tmp_path, monkeypatch):
    paths = write_inputs(tmp_path)
    args = import_args(paths)
    monkeypatch.setattr(extracts, "STREAM_MIN_BYTES", 10**15)
    whole = import_council([paths["ssda903"]], **args)
    monkeypatch.setattr(extracts, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(extracts, "STREAM_BLOCK_BYTES", 64)
    block = import_council([paths["ssda903"]], **args)
    for name, table in whole.dataset.tables.items():
        assert_frame_equal(block.dataset.tables[name], table)
    assert_frame_equal(block.log.frame(), whole.log.frame())
    assert len(whole.dataset.assessments) > 0
