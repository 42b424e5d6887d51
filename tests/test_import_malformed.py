"""Malformed inputs: each gives its message and exit code, and leaves no output.

Every case starts from the valid tiny council of ``_import_data`` and breaks
one thing. Fatal problems (exit 2) stop the import and write nothing.
Row-level problems are rejected under ``--strict`` (exit 3, nothing
written) and otherwise dropped and listed in the import report (exit 0).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _import_data import KEY, cli_args, run_cli, tree_digest, write_inputs

from vc_eval.ingest.importer import REPORT_FILE


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[dict[str, Path]], list[str] | None]
    exit_code: int  # 2 fatal, 3 row-level (checked with --strict)
    fragment: str


def edit(name: str, old: str, new: str, *, count: int = 1):
    def f(p):
        path = p["ssda903"] / name if not name.startswith("@") else p[name[1:]]
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, count))

    return f


def put(name: str, content: str | bytes):
    def f(p):
        path = p["ssda903"] / name if not name.startswith("@") else p[name[1:]]
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return f


def delete(name: str):
    def f(p):
        (p["ssda903"] / name).unlink()

    return f


def args(*extra: str, **replace: str):
    """Change command-line arguments: extra options, or paths replaced."""

    def f(p):
        for k, v in replace.items():
            p[k] = p["ssda903"].parent / v if not v.startswith("/") else Path(v)
        return list(extra)

    return f


def both(*fs):
    def f(p):
        out = []
        for g in fs:
            out += g(p) or []
        return out

    return f


ZIP_BYTES = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4
BINARY = bytes([0, 255, 17, 0, 3, 200, 0, 0, 9, 1] * 200)

CASES = [
    # -- fatal: files that cannot be read or recognised ------------------------------
    Case("empty-file", put("episodes.csv", ""), 2, "episodes.csv: file is empty"),
    Case("whitespace-file", put("header.csv", " \n\n \n"), 2, "header.csv: file is empty"),
    Case("binary-file", put("episodes.csv", BINARY), 2, "not a text file"),
    Case("zip-named-csv", put("reviews.csv", ZIP_BYTES), 2, "not a text file"),
    Case(
        "wrong-headers",
        edit("episodes.csv", "CHILD,DECOM,", "CHILD,DECOMM,"),
        2,
        "column headers do not match the SSDA903 Episodes table (missing DECOM; unexpected DECOMM)",
    ),
    Case(
        "duplicate-column",
        edit("header.csv", "CHILD,SEX,DOB", "CHILD,SEX,SEX"),
        2,
        "duplicate column name(s) in the header: SEX",
    ),
    Case("no-header-table", delete("header.csv"), 2, "no SSDA903 Header table found"),
    Case("no-episodes-table", delete("episodes.csv"), 2, "no SSDA903 Episodes table found"),
    Case(
        "no-recognisable-table",
        both(
            *(
                delete(n)
                for n in ("header.csv", "episodes.csv", "reviews.csv", "oc2.csv", "missing.csv")
            ),
            put("notes.csv", "a,b\n1,2\n"),
        ),
        2,
        "no recognisable SSDA903 table",
    ),
    Case("ssda903-not-found", args(ssda903="/nonexistent/903"), 2, "SSDA903 input not found"),
    Case(
        "xml-not-well-formed",
        both(
            *(
                delete(n)
                for n in ("header.csv", "episodes.csv", "reviews.csv", "oc2.csv", "missing.csv")
            ),
            put("903.xml", "<EXPSSDA903><CHILD></EXPSSDA903>"),
        ),
        2,
        "not well-formed XML",
    ),
    Case(
        "xml-wrong-root",
        put("903.xml", "<?xml version='1.0'?><Return></Return>"),
        2,
        "not an SSDA903 XML file (root element <RETURN>",
    ),
    Case("key-missing", args(key="/nonexistent/council.key"), 2, "key file not found"),
    Case("key-empty", put("@key", "\n"), 2, "key file is empty"),
    Case("key-too-short", put("@key", "secret\n"), 2, "key is too short"),
    Case("needs-missing", args(needs="/nonexistent/needs.csv"), 2, "file not found (--needs)"),
    Case("needs-empty", put("@needs", ""), 2, "needs.csv: file is empty"),
    Case(
        "needs-config-not-yaml", put("@needs_config", "child_id: [unclosed\n"), 2, "not valid YAML"
    ),
    Case(
        "needs-config-unknown-key",
        edit("@needs_config", "score: Score", "score: Score\nscores: x"),
        2,
        "unknown key(s) in needs-extract config: scores",
    ),
    Case(
        "needs-no-child-column",
        edit("@needs", "Child ID,", "Kid,"),
        2,
        "cannot find the child id column",
    ),
    Case(
        "costs-no-cost-column",
        edit("@costs", "WEEKLY_COST", "AMOUNT_DUE"),
        2,
        "cannot find the column(s) for cost",
    ),
    Case(
        "unit-costs-bad-type",
        both(put("../unit.yaml", "mansion: {median: 9}\n"), args("--unit-costs", "UNIT")),
        2,
        "unknown placement type 'mansion'",
    ),
    Case(
        "programme-start-invalid",
        args("--programme-start", "31/02/2021"),
        2,
        "--programme-start: not a valid date",
    ),
    Case(
        "framework-missing",
        args("--framework", "/nonexistent/fw.yaml"),
        2,
        "framework file not found",
    ),
    Case(
        "every-episode-invalid",
        edit("episodes.csv", "/20", "/xx", count=99),
        2,
        "no children could be imported",
    ),
    Case(
        "out-not-a-dataset",
        args(out="OUTDIR_NONEMPTY"),
        2,
        "holds files vc-eval did not write (precious.txt); refusing to replace it",
    ),
    Case("out-inside-input", args(out="2020-21/out"), 2, "must not be, contain or lie inside"),
    # -- row-level: dropped and reported, or rejected with --strict -------------------
    Case(
        "bad-date-format",
        edit("episodes.csv", "01/09/2020,P", "2020/09/01x,P"),
        3,
        "episodes.csv, row 2, column 'DECOM': not a valid date",
    ),
    Case(
        "impossible-date",
        edit("header.csv", "15/06/2012", "31/06/2012"),
        3,
        "header.csv, row 2, column 'DOB': not a valid date",
    ),
    Case(
        "review-before-birth",
        edit("reviews.csv", "06/11/2020,PN2", "06/11/2011,PN2"),
        3,
        "review before the date of birth",
    ),
    Case(
        "episode-ends-before-start",
        edit("episodes.csv", "01/09/2020,X1", "01/04/2020,X1"),
        3,
        "episode ends before it starts",
    ),
    Case(
        "unknown-place-code",
        edit("episodes.csv", ",H5,", ",X9,"),
        3,
        "column 'PLACE': not a valid PLACE code",
    ),
    Case("unknown-legal-status", edit("episodes.csv", ",C1,", ",Q7,"), 3, "not a valid LS code"),
    Case("unknown-sex-code", edit("header.csv", "A3,1,", "A3,9,"), 3, "not a valid SEX code"),
    Case("unknown-ethnic-code", edit("header.csv", "BAFR", "ZZZZ"), 3, "not a valid ETHNIC code"),
    Case(
        "duplicate-rows",
        edit(
            "reviews.csv",
            "A2,15/06/2012,06/11/2020,PN2",
            "A2,15/06/2012,06/11/2020,PN2\nA2,15/06/2012,06/11/2020,PN2",
        ),
        3,
        "reviews.csv, row 5: exact duplicate of an earlier row",
    ),
    Case(
        "episode-child-not-in-header",
        edit("episodes.csv", "A3,03/03/2021", "A9,03/03/2021"),
        3,
        "child not in the header table",
    ),
    Case(
        "overlapping-episodes",
        edit("episodes.csv", "01/09/2020,X1", "01/10/2020,X1"),
        3,
        "episode overlaps the next episode",
    ),
    Case(
        "same-start-twice",
        edit(
            "episodes.csv",
            "A3,03/03/2021,S,C1,N2,H5,PR5,,,,",
            "A3,03/03/2021,S,C1,N2,H5,PR5,,,,AB1 2CD,EF3 4GH,SC3\nA3,03/03/2021,S,C1,N2,U1,PR1,,,,",
        ),
        3,
        "two episodes of the same child start on the same day",
    ),
    Case(
        "episode-after-year-end",
        edit("episodes.csv", "A3,03/03/2021", "A3,03/05/2021"),
        3,
        "episode starts after the end of the collection year",
    ),
    Case(
        "too-many-values",
        edit("episodes.csv", "SC333333", "SC333333,extra"),
        3,
        "episodes.csv, row 5: row has 14 values but the header has 13 columns",
    ),
    Case(
        "sdq-out-of-range",
        edit("oc2.csv", "01/02/2010,15,", "01/02/2010,45,"),
        3,
        "SDQ_SCORE is not a whole number 0-40",
    ),
    Case("convicted-not-binary", edit("oc2.csv", ",,0,1,", ",,Y,1,"), 3, "CONVICTED is not 0 or 1"),
    Case(
        "missing-ends-before-start",
        edit("missing.csv", "12/01/2021,14/01/2021", "12/01/2021,11/01/2021"),
        3,
        "missing episode ends before it starts",
    ),
    Case(
        "missing-code-unknown",
        edit("missing.csv", "A1,01/02/2010,M,10/10/2020", "A1,01/02/2010,X,10/10/2020"),
        3,
        "not a valid MISSING code",
    ),
    Case("dob-blank", edit("header.csv", "A2,2,15/06/2012", "A2,2,"), 3, "date of birth is blank"),
    Case(
        "score-out-of-range",
        edit("@needs", "Behaviour and self-regulation,55", "Behaviour and self-regulation,150"),
        3,
        "needs.csv, row 2, column 'Score': score outside 0-100",
    ),
    Case(
        "score-missing",
        edit("@needs", "self-regulation,55", "self-regulation,"),
        3,
        "score is missing",
    ),
    Case(
        "score-not-a-number",
        edit("@needs", "self-regulation,55", "self-regulation,high"),
        3,
        "score is not a number",
    ),
    Case(
        "unknown-domain",
        edit("@needs", "Behaviour and self-regulation", "Juggling and acrobatics"),
        3,
        "domain not in framework",
    ),
    Case(
        "needs-child-not-in-903",
        edit("@needs", "A2,06/11/2020", "B7,06/11/2020"),
        3,
        "child not in the SSDA903 data",
    ),
    Case(
        "needs-bad-date",
        edit("@needs", "A2,06/11/2020", "A2,6th Nov"),
        3,
        "column 'Review date': not a valid date",
    ),
    Case(
        "needs-before-birth",
        edit("@needs", "A2,06/11/2020", "A2,06/11/2001"),
        3,
        "assessment before the date of birth",
    ),
    Case(
        "needs-conflicting-duplicate",
        edit(
            "@needs",
            "A1,30/08/2020,W2,attachment,45",
            "A1,30/08/2020,W2,attachment,45\nA1,30/08/2020,W2,attachment,47",
        ),
        3,
        "scored twice with different scores",
    ),
    Case(
        "cost-negative",
        edit("@costs", "A1,01/05/2020,600", "A1,01/05/2020,-600"),
        3,
        "weekly cost is negative",
    ),
    Case(
        "cost-matches-no-placement",
        edit("@costs", "A1,15/10/2020", "A1,15/10/2019"),
        3,
        "cost row matches no placement",
    ),
]


def _prepare(tmp_path: Path, case: Case) -> tuple[dict[str, Path], list[str], Path]:
    paths = write_inputs(tmp_path)
    out = tmp_path / "out"
    extra = case.mutate(paths) or []
    extra = [str(tmp_path / "in" / "unit.yaml") if e == "UNIT" else e for e in extra]
    if "out" in paths:
        out = paths.pop("out")
        if out.name == "OUTDIR_NONEMPTY":
            out.mkdir()
            (out / "precious.txt").write_text("not a dataset")
    return paths, extra, out


def _no_output(out: Path, before: dict | None = None) -> bool:
    if out.name == "OUTDIR_NONEMPTY":
        return sorted(p.name for p in out.iterdir()) == ["precious.txt"]
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return not out.exists() and not leftovers


def test_the_battery_is_big_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.exit_code == 2 for c in CASES) >= 15
    assert sum(c.exit_code == 3 for c in CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input(tmp_path, case):
    paths, extra, out = _prepare(tmp_path, case)
    before = tree_digest(tmp_path / "in")
    strict = ["--strict"] if case.exit_code == 3 else []
    res = run_cli(cli_args(paths, out, *extra, *strict))
    assert res.exit_code == case.exit_code, res.stdout + res.stderr
    assert case.fragment in res.stderr, res.stderr
    assert "Nothing was written" in res.stderr
    assert _no_output(out)
    assert tree_digest(tmp_path / "in") == before  # inputs untouched, even on failure
    assert KEY not in res.stderr
    if case.exit_code == 3:
        # without --strict the row is dropped, the import succeeds (a tiny council loses
        # more than 1% of a table to one row: that needs --accept-drops), the report says why
        res = run_cli(cli_args(paths, out, *extra, "--accept-drops"))
        assert res.exit_code == 0, res.stderr
        report = (out / REPORT_FILE).read_text()
        rule = case.fragment.split(": ", 1)[-1] if ": " in case.fragment else case.fragment
        assert rule in report


def test_unreadable_file_is_fatal(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    paths, _, out = _prepare(tmp_path, CASES[0])
    (paths["ssda903"] / "episodes.csv").chmod(0)
    res = run_cli(cli_args(paths, out))
    assert res.exit_code == 2 and "cannot be read" in res.stderr
    assert _no_output(out)


def test_strict_passes_clean_input(tmp_path):
    paths = write_inputs(tmp_path)
    res = run_cli(cli_args(paths, tmp_path / "out", "--strict"))
    assert res.exit_code == 0, res.stderr
