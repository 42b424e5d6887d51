"""``vc-eval import``: SSDA903 + needs extract + costs -> a validated dataset.

The tiny council of ``_import_data`` has a known answer, spelt out here; the
SSDA903 samples (copied into ``tests/data/ssda903``) check the importer on
the DfE layouts (CSV and XML) and that the report lists their deliberately
invalid values.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _import_data import FILES, KEY, YEAR_DIR, cli_args, run_cli, tree_digest, write_inputs

from vc_eval.core.costs import DEFAULT_UNIT_COSTS, PROVIDER_FACTORS
from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import Col
from vc_eval.core.summary import escape_md
from vc_eval.ingest.importer import PROBLEMS_FILE, REPORT_FILE, import_council
from vc_eval.ingest.pseudonymise import Pseudonymiser
from vc_eval.ingest.ssda903 import (
    ETHNIC_GROUPS,
    PLACE_GROUPS,
    TABLES,
    parse_dates,
    placement_types,
    recognise,
    year_from_name,
)

DATA = Path(__file__).parent / "data" / "ssda903"
SAMPLE_CSV = DATA / "csv"
SAMPLE_XML = DATA / "xml" / "fake_903.xml"
COUNCIL = "Testshire"


@pytest.fixture
def tiny(tmp_path):
    return write_inputs(tmp_path)


def _ps(council=COUNCIL) -> Pseudonymiser:
    return Pseudonymiser(KEY.encode(), council)


def _import_tiny(paths, **kw):
    args = dict(
        council=COUNCIL,
        key_file=paths["key"],
        needs=paths["needs"],
        needs_config=paths["needs_config"],
        costs=paths["costs"],
        progress=False,
    )
    args.update(kw)
    return import_council([paths["ssda903"]], **args)


# --------------------------------------------------------------------------
# The tiny council: every table has a known answer
# --------------------------------------------------------------------------


def test_tiny_council_imports_to_the_expected_tables(tiny, tmp_path):
    out = tmp_path / "out"
    res = run_cli(cli_args(tiny, out))
    assert res.exit_code == 0, res.stderr
    assert "3 children" in res.stdout
    ds = Dataset.load(out)  # validates every table and link
    ps = _ps()
    cid = {c: ps.one(c, "child") for c in ("A1", "A2", "A3")}

    kids = ds.children.set_index(Col.child_id)
    assert set(kids.index) == set(cid.values())
    a1, a2, a3 = (kids.loc[cid[c]] for c in ("A1", "A2", "A3"))
    assert (a1[Col.sex], a2[Col.sex], a3[Col.sex]) == ("male", "female", "male")
    assert (a1[Col.ethnicity], a2[Col.ethnicity], a3[Col.ethnicity]) == ("White", "Mixed", "Black")
    assert a1[Col.date_of_birth] == pd.Timestamp("2010-02-01")
    assert a1[Col.entered_care] == pd.Timestamp("2020-05-01") and pd.isna(a1[Col.left_care])
    # A2's two episodes (RNE L: legal status only) are one placement; it left care
    assert a2[Col.entered_care] == pd.Timestamp("2020-10-10")
    assert a2[Col.left_care] == pd.Timestamp("2021-02-15")

    pl = ds.placements.assign(
        child=lambda d: d[Col.child_id].map({v: k for k, v in cid.items()})
    ).sort_values(["child", Col.start_date])
    assert pl["child"].tolist() == ["A1", "A1", "A2", "A3"]
    assert pl[Col.placement_type].tolist() == [
        "in_house_foster",
        "childrens_home",
        "kinship",
        "supported_accommodation",
    ]
    ends = pl[Col.end_date].tolist()
    assert ends[0] == pd.Timestamp("2020-09-01") and pd.isna(ends[1]) and pd.isna(ends[3])
    assert ends[2] == pd.Timestamp("2021-02-15")
    # costs: A1's first by start date, its second by a date inside it; the rest imputed
    assert pl[Col.weekly_cost].tolist() == [
        600.0,
        5000.0,
        DEFAULT_UNIT_COSTS["kinship"].median * PROVIDER_FACTORS["PR1"],
        round(DEFAULT_UNIT_COSTS["supported_accommodation"].median * PROVIDER_FACTORS["PR5"], 2),
    ]
    assert pl[Col.cost_imputed].tolist() == [False, False, True, True]
    # provider ids are pseudonymised URNs; "XXXXXXX" means none
    assert pl[Col.provider_id].iloc[0] == ps.one("SC111111", "provider")
    assert pd.isna(pl[Col.provider_id].iloc[2])

    a = ds.assessments.sort_values([Col.assessment_date, Col.domain])
    assert len(a) == 4
    assert set(a[Col.domain]) == {"attachment", "behaviour"}
    assert a[Col.score].tolist() == [40.0, 55.0, 45.0, 30.0]
    assert a[Col.assessor_id].iloc[0] == ps.one("W1", "assessor")

    o = ds.outcomes.assign(child=lambda d: d[Col.child_id].map({v: k for k, v in cid.items()}))
    got = {(r.child, r.measure): r.value for r in o.itertuples()}
    assert got == {
        ("A1", "sdq_total"): 15.0,
        ("A1", "offending"): 0.0,
        ("A1", "substance_misuse"): 0.0,
        # two M episodes counted, the A (away) one not; A3 in care on 31 March: zero
        ("A1", "missing_episodes"): 2.0,
        ("A3", "missing_episodes"): 0.0,
        ("A1", "placement_moves"): 1.0,
        ("A3", "placement_moves"): 0.0,
    }
    assert set(o[Col.date]) == {pd.Timestamp("2021-03-31")}
    assert ds.metadata["collection_years"] == [2021]

    report = (out / REPORT_FILE).read_text()
    assert "2 placements (50.0%)" in report  # share of imputed costs
    assert "same day 66.7%" in report and "maximum 2" in report  # link to nearest review


def test_inputs_are_never_modified(tiny, tmp_path):
    before = tree_digest(tmp_path / "in")
    assert run_cli(cli_args(tiny, tmp_path / "out")).exit_code == 0
    assert tree_digest(tmp_path / "in") == before


def test_no_identifier_key_or_postcode_in_the_output(tiny, tmp_path):
    out = tmp_path / "out"
    assert run_cli(cli_args(tiny, out)).exit_code == 0
    blobs = b"".join(f.read_bytes() for f in sorted(out.rglob("*")) if f.is_file())
    ds = Dataset.load(out)
    text = "".join(
        ds.tables[t][c].astype(str).str.cat(sep="|")
        for t in ds.tables
        for c in ds.tables[t].columns
    )
    for secret in (KEY, KEY.encode().hex()):
        assert secret.encode() not in blobs
    for raw in ("A123456789012", "AB1 2CD", "EF3 4GH", "SC111111", "SC222222", "W1|", "|A1|"):
        assert raw.encode() not in blobs and raw not in text
    assert ds.children[Col.child_id].str.fullmatch(r"[0-9a-f]{16}").all()


def test_same_key_links_years_other_key_or_council_does_not(tiny):
    r1 = _import_tiny(tiny)
    r2 = _import_tiny(tiny)
    ids = sorted(r1.dataset.children[Col.child_id])
    assert ids == sorted(r2.dataset.children[Col.child_id])
    r3 = _import_tiny(tiny, key_file=None, key=b"another-key-of-32-bytes-at-least!")
    assert not set(ids) & set(r3.dataset.children[Col.child_id])
    r4 = _import_tiny(tiny, council="Otherborough")
    assert not set(ids) & set(r4.dataset.children[Col.child_id])


def test_key_file_whitespace_is_ignored(tiny, tmp_path):
    k2 = tmp_path / "k2.key"
    k2.write_text("  " + KEY + "\r\n\n")
    a = _import_tiny(tiny).dataset.children[Col.child_id]
    b = _import_tiny(tiny, key_file=k2).dataset.children[Col.child_id]
    assert a.tolist() == b.tolist()


def test_several_years_merge_repeated_and_open_episodes(tmp_path):
    """Year 1 reports A1's second episode open; year 2 reports it closed."""
    y1 = tmp_path / "in" / "2019-20"
    y2 = tmp_path / "in" / "2020-21"
    for d in (y1, y2):
        d.mkdir(parents=True)
        (d / "header.csv").write_text(FILES["header.csv"].split("A2,")[0])
    (y1 / "episodes.csv").write_text(
        "CHILD,DECOM,RNE,LS,PLACE,PLACE_PROVIDER,DEC,REC\n"
        "A1,01/05/2019,S,C2,U4,PR1,01/09/2019,X1\n"
        "A1,01/09/2019,P,C2,K2,PR4,,\n"
    )
    (y2 / "episodes.csv").write_text(
        "CHILD,DECOM,RNE,LS,PLACE,PLACE_PROVIDER,DEC,REC\n"
        "A1,01/09/2019,P,C2,K2,PR4,10/10/2020,X1\n"
        "A1,10/10/2020,P,C2,U1,PR1,,\n"
    )
    key = tmp_path / "k.key"
    key.write_text(KEY)
    res = import_council([tmp_path / "in"], council=COUNCIL, key_file=key, progress=False)
    pl = res.dataset.placements.sort_values(Col.start_date)
    assert pl[Col.start_date].tolist() == [
        pd.Timestamp(d) for d in ("2019-05-01", "2019-09-01", "2020-10-10")
    ]
    assert pl[Col.end_date].iloc[1] == pd.Timestamp("2020-10-10")  # the later year's end
    assert res.stats["episodes"]["merged_across_years"] == 1
    assert res.log.count("error") == 0
    moves = res.dataset.outcomes.query("measure == 'placement_moves'")
    assert dict(zip(moves[Col.date].dt.year, moves[Col.value], strict=True)) == {
        2020: 1.0,
        2021: 1.0,
    }
    # the same two years given as two --ssda903 paths give the same dataset
    res2 = import_council([y2, y1], council=COUNCIL, key_file=key, progress=False)
    assert res2.dataset.fingerprint() == res.dataset.fingerprint()


def test_exact_duplicate_rows_across_years_are_merged_silently(tiny, tmp_path):
    # the same return again (a resubmission): its dates say 2020-21 as well
    y2 = tmp_path / "resubmitted"
    shutil.copytree(tiny["ssda903"], y2)
    one = _import_tiny(tiny, needs=None, costs=None)
    res = import_council(
        [tiny["ssda903"], y2], council=COUNCIL, key_file=tiny["key"], progress=False
    )
    assert res.log.count("error") == 0
    assert res.stats["header"]["repeated_in_later_years"] == 3
    for t in ("children", "placements"):
        pd.testing.assert_frame_equal(res.dataset.tables[t], one.dataset.tables[t])
    # OC2 carries no date of its own: one value per child and collection year
    sdq = res.dataset.outcomes.query("measure == 'sdq_total'")
    assert sorted(sdq[Col.date].dt.year) == [2021]


def test_overlapping_episodes_are_cut_at_the_next_start(tiny):
    ep = tiny["ssda903"] / "episodes.csv"
    ep.write_text(
        ep.read_text().replace(
            "A1,01/05/2020,S,C2,N1,U4,PR1,01/09/2020", "A1,01/05/2020,S,C2,N1,U4,PR1,01/11/2020"
        )
    )
    res = _import_tiny(tiny)
    first = res.dataset.placements.sort_values(Col.start_date).iloc[0]
    assert first[Col.end_date] == pd.Timestamp("2020-09-01")
    g = res.log.grouped("error")
    assert g["rule"].str.contains("overlaps the next episode").any()


def test_short_breaks_excluded_by_default(tiny):
    ep = tiny["ssda903"] / "episodes.csv"
    ep.write_text(ep.read_text() + "A3,01/06/2020,S,V3,N1,U4,PR1,03/06/2020,E15,,,,\n")
    default = _import_tiny(tiny)
    assert len(default.dataset.placements) == 4
    assert default.stats["episodes"]["short_breaks_excluded"] == 1
    kept = _import_tiny(tiny, include_short_breaks=True)
    assert len(kept.dataset.placements) == 5
    a3 = kept.dataset.children.set_index(Col.child_id).loc[_ps().one("A3", "child")]
    assert a3[Col.entered_care] == pd.Timestamp("2020-06-01")


def test_programme_start_and_framework_file(tiny, tmp_path):
    from vc_eval.core.framework import load_framework

    fw_file = tmp_path / "fw.yaml"
    src = load_framework().source
    from importlib import resources

    fw_file.write_bytes((resources.files("vc_eval") / src.removeprefix("vc_eval/")).read_bytes())
    out = tmp_path / "out"
    r = run_cli(cli_args(tiny, out, "--programme-start", "01/07/2020", "--framework", str(fw_file)))
    assert r.exit_code == 0, r.stderr
    ds = Dataset.load(out)
    assert ds.councils[Col.programme_start].iloc[0] == pd.Timestamp("2020-07-01")
    assert (out / "framework.yaml").exists()


def test_out_replaces_an_earlier_import_atomically(tiny, tmp_path):
    out = tmp_path / "out"
    assert run_cli(cli_args(tiny, out)).exit_code == 0
    first = json.loads((out / "dataset.json").read_text())
    assert run_cli(cli_args(tiny, out, "--programme-start", "2020-07-01")).exit_code == 0
    assert json.loads((out / "dataset.json").read_text()) != first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- encodings, dates, spaces and case -----------------------------------------------


def _reencode(path: Path, encoding: str, *, bom: bytes = b"", crlf=False) -> None:
    text = path.read_text()
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes(bom + text.encode(encoding))


@pytest.mark.parametrize(
    "change",
    [
        "utf8-bom",
        "utf16-bom",
        "utf16le-no-bom",
        "cp1252-crlf",
        "iso-dates",
        "spaces-and-case",
        "semicolons",
        "blank-lines",
        "columns-reordered",
    ],
)
def test_encodings_dates_spaces_and_case_give_the_same_dataset(tiny, change):
    ref = _import_tiny(tiny).dataset.fingerprint()
    folder = tiny["ssda903"]
    for f in folder.glob("*.csv"):
        if change == "utf8-bom":
            _reencode(f, "utf-8", bom=codecs.BOM_UTF8)
        elif change == "utf16-bom":
            _reencode(f, "utf-16")
        elif change == "utf16le-no-bom":
            _reencode(f, "utf-16-le")
        elif change == "cp1252-crlf":
            _reencode(f, "cp1252", crlf=True)
        elif change == "iso-dates":
            t = f.read_text()
            dates = set(pd.Series(t.split()).str.extractall(r"(\d\d/\d\d/\d{4})")[0])
            for d in dates:
                t = t.replace(
                    d, pd.Timestamp(parse_dates(pd.Series([d])).iloc[0]).strftime("%Y-%m-%d")
                )
            f.write_text(t)
        elif change == "spaces-and-case":
            lines = f.read_text().splitlines()
            head = ", ".join(h.lower() for h in lines[0].split(","))
            body = [
                ",".join(
                    f" {v.lower() if v[:1].isalpha() and v[:1] != 'A' else v} "
                    for v in ln.split(",")
                )
                for ln in lines[1:]
            ]
            f.write_text("\n".join([head, *body]) + "\n")
        elif change == "semicolons":
            f.write_text(f.read_text().replace(",", ";"))
        elif change == "blank-lines":
            f.write_text(f.read_text().replace("\n", "\n\n", 2))
        elif change == "columns-reordered":
            frame = pd.read_csv(f, dtype=str, keep_default_na=False)
            frame[frame.columns[::-1]].to_csv(f, index=False)
    assert _import_tiny(tiny).dataset.fingerprint() == ref


def test_cp1252_text_with_non_ascii_is_decoded(tiny):
    # a pound sign in a column the importer does not use must not break reading
    f = tiny["ssda903"] / "episodes.csv"
    text = f.read_text().replace("CARPL", "CARPL £")
    f.write_bytes(text.encode("cp1252"))
    res = _import_tiny(tiny)
    assert any(r["encoding"] == "cp1252" for r in res.stats["inputs"])
    assert len(res.dataset.placements) == 4


# -- needs extract forms ---------------------------------------------------------------


def _wide_needs(tmp_path) -> tuple[Path, Path]:
    wide = tmp_path / "wide.csv"
    wide.write_text(
        "child_id,date,assessor_id,attachment,behaviour\n"
        "A1,29/05/2020,W1,40,55\nA1,30/08/2020,W2,45,\nA2,06/11/2020,W1,30,\n"
    )
    return wide, None


def test_needs_extract_long_wide_csv_and_excel_agree(tiny, tmp_path):
    ref = _import_tiny(tiny).dataset.assessments
    wide, _ = _wide_needs(tmp_path)
    got_wide = _import_tiny(tiny, needs=wide, needs_config=None)
    # blank cells in a wide extract are domains not scored: noted, not problems
    assert got_wide.log.count("error") == 0
    assert got_wide.log.grouped("note")["rule"].tolist() == ["no score (blank cell)"]
    pd.testing.assert_frame_equal(
        got_wide.dataset.assessments.sort_values([Col.assessment_date, Col.domain]).reset_index(
            drop=True
        ),
        ref.sort_values([Col.assessment_date, Col.domain]).reset_index(drop=True),
    )
    xlsx = tmp_path / "needs.xlsx"
    long = pd.read_csv(tiny["needs"], dtype=str)
    long["Review date"] = pd.to_datetime(long["Review date"], format="%d/%m/%Y")
    long["Score"] = long["Score"].astype(float)
    long.to_excel(xlsx, index=False, sheet_name="Scores")
    cfg = tmp_path / "x.yaml"
    cfg.write_text(tiny["needs_config"].read_text() + "sheet: Scores\n")
    got_x = _import_tiny(tiny, needs=xlsx, needs_config=cfg)
    assert got_x.log.count("error") == 0
    pd.testing.assert_frame_equal(got_x.dataset.assessments, ref)


def test_needs_config_recodes_domain_labels(tiny, tmp_path):
    needs = tmp_path / "n.csv"
    needs.write_text("kid,when,who,area,value\nA1,29/05/2020,W1,ATT,40\nA1,29/05/2020,W1,B,55\n")
    cfg = tmp_path / "n.yaml"
    cfg.write_text(
        "child_id: kid\ndate: when\nassessor: who\ndomain: area\nscore: value\n"
        "domain_values: {ATT: attachment, B: behaviour}\n"
    )
    res = _import_tiny(tiny, needs=needs, needs_config=cfg)
    assert sorted(res.dataset.assessments[Col.domain]) == ["attachment", "behaviour"]


# --------------------------------------------------------------------------
# The SSDA903 samples (DfE layouts with deliberately invalid values)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_import(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    key = root / "k.key"
    key.write_text(KEY)
    before = tree_digest(DATA)
    out = root / "out"
    res = run_cli(
        [
            "import",
            "--council",
            "Sample",
            "--ssda903",
            str(SAMPLE_CSV),
            "--key-file",
            str(key),
            "--out",
            str(out),
            "--no-progress",
            # the sample's reviews run years past its episodes' collection year:
            # 40% of them are dropped, which needs saying so
            "--accept-drops",
        ]
    )
    return res, out, before


def test_sample_csv_imports_with_costs_imputed(sample_import):
    res, out, before = sample_import
    assert res.exit_code == 0, res.stderr
    assert tree_digest(DATA) == before  # the samples are only read
    ds = Dataset.load(out)
    eps = pd.read_csv(SAMPLE_CSV / "episodes.csv", dtype=str, keep_default_na=False)
    # every sample episode is valid apart from overlaps, so the children are exactly
    # those with an episode that is not a short break (legal status V3/V4)
    expected = eps.loc[~eps["LS"].isin(["V3", "V4"]), "CHILD"].unique()
    assert len(ds.children) == len(expected)
    ps = Pseudonymiser(KEY.encode(), "Sample")
    assert set(ds.children[Col.child_id]) == {ps.one(c, "child") for c in expected}
    assert ds.placements[Col.cost_imputed].all()
    med = ds.placements[Col.placement_type].map(
        {k: v.median for k, v in DEFAULT_UNIT_COSTS.items()}
    )
    ratio = (ds.placements[Col.weekly_cost] / med).round(4)
    assert set(ratio) <= {round(f, 4) for f in PROVIDER_FACTORS.values()}
    assert "100.0% of placements" in (out / REPORT_FILE).read_text()


def test_sample_placement_types_follow_the_mapping(sample_import):
    _, out, _ = sample_import
    ds = Dataset.load(out)
    eps = pd.read_csv(SAMPLE_CSV / "episodes.csv", dtype=str, keep_default_na=False)
    eps = eps[~eps["LS"].isin(["V3", "V4"])]
    single = eps.groupby("CHILD").filter(lambda g: len(g) == 1)
    ps = Pseudonymiser(KEY.encode(), "Sample")
    want = pd.Series(
        placement_types(single["PLACE"], single["PLACE_PROVIDER"]).to_numpy(),
        index=[ps.one(c, "child") for c in single["CHILD"]],
    )
    got = ds.placements.set_index(Col.child_id)[Col.placement_type]
    assert (got.loc[want.index] == want).all()
    assert len(want) > 300


def test_sample_report_lists_the_deliberately_invalid_values(sample_import):
    _, out, _ = sample_import
    report = (out / REPORT_FILE).read_text()
    problems = pd.read_csv(out / PROBLEMS_FILE, dtype=str)
    for file, column, value in (
        ("csv/oc3.csv", "ACCOM", "01"),
        ("csv/oc3.csv", "ACCOM", "02"),
        ("csv/placed_for_adoption.csv", "REASON_PLACED_CEASED", "XXX"),
        ("csv/header.csv", "MOTHER", "<identifier hidden>"),
        ("csv/reviews.csv", "REVIEW", "29/07/2018"),
    ):
        hit = problems[
            (problems["file"] == file)
            & (problems["column"] == column)
            & (problems["value"] == value)
        ]
        assert len(hit), (file, column, value)
        assert escape_md(repr(value)) in report  # text from the data is escaped
    assert "not a valid ACCOM code (table not imported)" in report
    assert "exact duplicate of an earlier row in the same file" in report
    assert "9825, 12073" in report  # the two duplicated review rows
    assert "review after the end of the collection year" in report
    # grouped and counted: one line per rule, with its count
    g = problems.groupby(["file", "column", "rule"]).size()
    assert (
        g.loc[
            (
                "csv/placed_for_adoption.csv",
                "REASON_PLACED_CEASED",
                "not a valid REASON_PLACED_CEASED code (table not imported)",
            )
        ]
        == 29
    )


def test_sample_report_shows_no_child_ids(sample_import):
    _, out, _ = sample_import
    ids = set(pd.read_csv(SAMPLE_CSV / "header.csv", dtype=str)["CHILD"])
    problems = pd.read_csv(out / PROBLEMS_FILE, dtype=str)
    assert not ids & set(problems["value"].dropna())
    report = (out / REPORT_FILE).read_text()
    tokens = set(report.replace("|", " ").replace(",", " ").replace("'", " ").split())
    assert not ids & tokens


def test_sample_xml_imports(tmp_path):
    key = tmp_path / "k.key"
    key.write_text(KEY)
    res = import_council(
        [SAMPLE_XML], council="Sample", key_file=key, progress=False, accept_drops=True
    )
    import xml.etree.ElementTree as ET

    root = ET.parse(SAMPLE_XML).getroot()
    expected = {
        c.find("HEADER/CHILDID").text
        for c in root
        if any(e.findtext("LS") not in ("V3", "V4") for e in c.findall("EPISODE"))
    }
    ps = Pseudonymiser(KEY.encode(), "Sample")
    assert set(res.dataset.children[Col.child_id]) == {ps.one(c, "child") for c in expected}
    assert not res.dataset.validate()
    g = res.log.grouped()
    assert ((g["column"] == "REASON_PLACED_CEASED") & g["values"].str.contains("XXX")).any()
    assert ((g["column"] == "ACCOM") & g["values"].str.contains("'01'")).any()


def test_xml_and_csv_forms_give_the_same_dataset(tiny, tmp_path):
    """The tiny council written as DfE XML imports to the same tables."""
    tabs = {n: pd.read_csv(tiny["ssda903"] / n, dtype=str, keep_default_na=False) for n in FILES}
    xml = ["<?xml version='1.0' encoding='utf-8'?>", "<EXPSSDA903>"]

    def el(tag, v):
        return f"<{tag}>{v}</{tag}>" if v else f"<{tag} />"

    for _, h in tabs["header.csv"].iterrows():
        c = h["CHILD"]
        parts = [el("CHILDID", c)] + [el(k, h[k]) for k in ("UPN", "SEX", "DOB", "ETHNIC")]
        for _, r in tabs["reviews.csv"][tabs["reviews.csv"]["CHILD"] == c].iterrows():
            parts.append(
                f"<AREVIEW>{el('REVIEW', r['REVIEW'])}"
                f"{el('REVIEW_CODE', r['REVIEW_CODE'])}</AREVIEW>"
            )
        for _, r in tabs["missing.csv"][tabs["missing.csv"]["CHILD"] == c].iterrows():
            parts.append(
                "<AMISSING>"
                + "".join(el(k, r[k]) for k in ("MISSING", "MIS_START", "MIS_END"))
                + "</AMISSING>"
            )
        for _, r in tabs["oc2.csv"][tabs["oc2.csv"]["CHILD"] == c].iterrows():
            parts.append(
                "<OC2>" + "".join(el(k, r[k]) for k in TABLES["oc2"].columns[2:]) + "</OC2>"
            )
        eps = ""
        for _, r in tabs["episodes.csv"][tabs["episodes.csv"]["CHILD"] == c].iterrows():
            eps += (
                "<EPISODE>"
                + "".join(
                    el("PL" if k == "PLACE" else k, r[k]) for k in TABLES["episodes"].columns[1:]
                )
                + "</EPISODE>"
            )
        xml.append(f"<CHILD><HEADER>{''.join(parts)}</HEADER>{eps}</CHILD>")
    xml.append("</EXPSSDA903>")
    xfile = tmp_path / f"903_{YEAR_DIR}.xml"
    xfile.write_text("".join(xml))
    from_csv = _import_tiny(tiny).dataset
    from_xml = _import_tiny({**tiny, "ssda903": xfile}).dataset
    assert from_xml.fingerprint() == from_csv.fingerprint()


# --------------------------------------------------------------------------
# Units: recognition, codes, dates, years, pseudonyms
# --------------------------------------------------------------------------


def test_every_table_is_recognised_by_its_headers_only():
    for name, spec in TABLES.items():
        assert recognise(list(spec.columns)) == name
        assert recognise(list(spec.required)) == name
        assert recognise([*spec.columns, "EXTRA"]) is None
    assert recognise(["CHILD", "DOB"]) is None


def test_code_mappings_cover_the_vocabularies():
    from vc_eval.core.schema import ETHNICITIES, PLACEMENT_TYPES

    assert set(ETHNIC_GROUPS.values()) == set(ETHNICITIES)
    types = set(
        placement_types(
            pd.Series(list(PLACE_GROUPS) * 2),
            pd.Series(["PR1"] * len(PLACE_GROUPS) + ["PR4"] * len(PLACE_GROUPS)),
        )
    )
    assert types == set(PLACEMENT_TYPES)
    t = placement_types(
        pd.Series(["U4", "U5", "U6", "U4", "U1"]), pd.Series(["PR1", "PR4", "PR5", "PR0", "PR4"])
    )
    assert t.tolist() == [
        "in_house_foster",
        "ifa_foster",
        "ifa_foster",
        "in_house_foster",
        "kinship",
    ]


def test_parse_dates_reads_dfe_and_iso_and_rejects_the_impossible():
    got = parse_dates(
        pd.Series(
            [
                "01/02/2017",
                "1/2/2017",
                "2017-02-01",
                "2017-02-01 00:00:00",
                "31/02/2017",
                "2017-13-01",
                "",
                "soon",
                "01/02/1850",
            ]
        )
    )
    want = [pd.Timestamp("2017-02-01")] * 4 + [pd.NaT] * 5
    assert got.tolist() == want
    many = pd.Series(["05/06/2020"] * 6000 + ["bad"])  # the factorised path
    assert parse_dates(many).iloc[0] == pd.Timestamp("2020-06-05")
    assert pd.isna(parse_dates(many).iloc[-1])


@pytest.mark.parametrize(
    "name,year",
    [
        ("2017-18", 2018),
        ("903_2017_2018", 2018),
        ("ssda903_2019", 2019),
        ("2021-22", 2022),
        ("samples", None),
        ("data20180331", None),
    ],
)
def test_collection_year_from_names(name, year):
    assert year_from_name(name) == year


def test_pseudonyms_are_hmac_sha256_of_the_scoped_id():
    import hmac

    ps = Pseudonymiser(b"k" * 32, " Testshire ")
    want = hmac.new(b"k" * 32, b"testshire|child|A1", hashlib.sha256).hexdigest()[:16]
    assert ps.one("A1", "child") == want
    s = ps.series(pd.Series(["A1", " A1 ", "A1.0", None, "12.0"]), "child")
    assert s.iloc[0] == s.iloc[1] == want and pd.isna(s.iloc[3])
    assert s.iloc[4] == ps.one("12", "child")
    # 64-bit pseudonyms: no collision among 200k ids
    many = ps.series(pd.Series(np.arange(200_000).astype(str)), "child")
    assert many.nunique() == 200_000
    assert "k" * 32 not in repr(ps)
