"""Bad input on a clean multi-year SSDA903 sample: nothing lost, nothing leaked.

The sample is a small synthetic council exported with the exporter, as a
council keeps it: one folder per collection year, named ``2022-23`` or
``2022`` (the year the collection starts). Each test copies it, breaks one
thing, runs ``vc-eval import`` (or ``synth``) and checks the exit code, the
message, that there is no output or only a complete one, that the inputs
are unchanged, and that no raw identifier (child id, UPN, postcode, URN,
assessor id) appears in anything written or printed.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from _import_data import run_cli, tree_digest

from vc_eval.core import files as files_mod
from vc_eval.core.dataset import Dataset
from vc_eval.core.files import MANIFEST_FILE, read_manifest, recover_output_dir
from vc_eval.ingest.importer import PROBLEMS_FILE, REPORT_FILE
from vc_eval.ingest.pseudonymise import Pseudonymiser, key_fingerprint, load_key
from vc_eval.synthetic.generator import SynthConfig, generate
from vc_eval.synthetic.ssda903_export import FAKE_POSTCODE, export_dataset

KEY = "7d2a9f04c1e86b3f5a0d9c47e21b8f6a3c5e0d917b4f2a86e3c1d05b9f7a42e8"
COUNCIL = "Samplehampton"
YEARS = [2023, 2024]  # collection years to 31 March


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The clean sample (folders named both ways), its raw identifiers, and
    the counts a clean import gives."""
    root = tmp_path_factory.mktemp("clean")
    ds = generate(
        SynthConfig(
            councils=1, seed=11, sizes=(150,), window_start="2022-04-01", window_end="2024-03-31"
        ),
        progress=False,
    )
    export_dataset(ds, root / "range", years=YEARS, progress=False)
    export_dataset(ds, root / "start", years=YEARS, progress=False, year_folders="start")
    (root / "k.key").write_text(KEY + "\n")
    raw: set[str] = {FAKE_POSTCODE}
    for f in (root / "range" / "ssda903").rglob("*.csv"):
        t = pd.read_csv(f, dtype=str, keep_default_na=False)
        for c in ("CHILD", "UPN", "URN"):
            if c in t:
                raw |= {v for v in t[c] if v and v != "XXXXXXX"}
    needs = pd.read_csv(root / "range" / "needs_extract.csv", dtype=str)
    raw |= set(needs["Worker"])
    out = root / "baseline"
    res = run_cli(_args(root / "range" / "ssda903", root / "k.key", out))
    assert res.exit_code == 0, res.stderr
    base = Dataset.load(out)
    return {
        "root": root,
        "raw": raw,
        "children": len(base.children),
        "placements": len(base.placements),
        "stdout": res.stdout,
        "baseline": out,
    }


def _args(ssda903, key, out, *extra) -> list[str]:
    return [
        "import",
        "--council",
        COUNCIL,
        "--ssda903",
        str(ssda903),
        "--key-file",
        str(key),
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


class Case:
    """One copy of the sample in ``tmp``: mutate it, run, check."""

    def __init__(self, sample, tmp: Path, layout: str = "range"):
        self.sample = sample
        self.inp = tmp / "in"
        shutil.copytree(sample["root"] / layout, self.inp)
        shutil.copy(sample["root"] / "k.key", self.inp / "k.key")
        self.ssda = self.inp / "ssda903"
        self.key = self.inp / "k.key"
        self.out = tmp / "out"
        self.before: dict | None = None

    def year(self, i: int) -> Path:
        return sorted(p for p in self.ssda.iterdir() if p.is_dir())[i]

    def edit(self, rel: str, fn) -> None:
        p = self.ssda / rel if not rel.startswith("@") else self.inp / rel[1:]
        p.write_bytes(fn(p.read_bytes()))

    def run(self, *extra: str, ssda903=None, cmd: list[str] | None = None):
        self.before = tree_digest(self.inp)
        args = cmd or _args(ssda903 or self.ssda, self.key, self.out, *extra)
        self.res = run_cli(args)
        return self.res

    def check(self, exit_code: int, fragment: str | None, *, output: bool | None = None):
        res = self.res
        text = res.stdout + res.stderr
        assert res.exit_code == exit_code, text
        if fragment is not None:
            assert fragment in text, text
        assert "Traceback" not in text
        assert tree_digest(self.inp) == self.before  # inputs are only read
        if output is None:
            output = exit_code == 0
        if output:
            _complete(self.out)
        else:
            assert not self.out.exists() or _complete(self.out) is None
        leftovers = [p.name for p in self.out.parent.iterdir() if p.name.startswith(".out.")]
        assert not leftovers, leftovers
        _no_identifiers(self.sample["raw"], self.out, text)
        return text


def _complete(out: Path):
    """A complete dataset folder: loads, and its manifest lists every file."""
    ds = Dataset.load(out)
    man = read_manifest(out)
    assert man is not None
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert sorted([*man["files"], MANIFEST_FILE]) == files
    return ds


def _no_identifiers(raw: set[str], out: Path, printed: str) -> None:
    pat = re.compile("|".join(re.escape(v) for v in sorted(raw, key=len, reverse=True)))
    assert not pat.search(printed), pat.search(printed)
    if not out.exists():
        return
    for f in out.rglob("*"):
        if not f.is_file():
            continue
        if f.suffix == ".parquet":
            t = pd.read_parquet(f)
            for c in t.columns:
                if t[c].dtype == object or str(t[c].dtype) in ("string", "str"):
                    assert not set(t[c].dropna().astype(str)) & raw, (f.name, c)
        else:
            hit = pat.search(f.read_text(errors="replace"))
            assert not hit, (f.name, hit.group(0))


def _problems(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / PROBLEMS_FILE, dtype=str, keep_default_na=False)


def _csv_set(data: bytes, row: int, col: str, value: str) -> bytes:
    lines = data.decode().split("\n")
    cols = lines[0].split(",")
    cells = lines[row].split(",")
    cells[cols.index(col)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines).encode()


# --------------------------------------------------------------------------
# 1. The collection year comes from the data
# --------------------------------------------------------------------------


def test_clean_sample_imports_every_row(sample):
    assert "Rows kept: Header" in sample["stdout"]
    assert "Episodes 599 of 599" in sample["stdout"] or re.search(
        r"Episodes ([\d,]+) of \1\b", sample["stdout"]
    )
    assert "collection year 2022-23 (to 31 March 2023), from the dates" in sample["stdout"]


def test_folders_named_by_start_year_lose_no_rows(sample, tmp_path):
    c = Case(sample, tmp_path, layout="start")
    assert sorted(p.name for p in c.ssda.iterdir()) == ["2022", "2023"]
    c.run()
    text = c.check(0, "name '2022' read as the year the collection starts")
    ds = Dataset.load(c.out)
    assert len(ds.children) == sample["children"]
    assert len(ds.placements) == sample["placements"]
    assert re.search(r"Episodes ([\d,]+) of \1\b", text)
    assert ds.children[ds.children["left_care"].isna()].shape[0] > 0  # still in care


def test_year_folders_beside_top_level_year_files_are_all_read(sample, tmp_path):
    c = Case(sample, tmp_path)
    latest = c.year(1)
    for f in latest.iterdir():  # the latest year's files at the top level
        f.rename(c.ssda / f.name)
    latest.rmdir()
    c.run()
    c.check(0, "from the dates")
    ds = Dataset.load(c.out)
    assert len(ds.children) == sample["children"]
    assert len(ds.placements) == sample["placements"]


def test_flat_year_files_named_by_year_are_split_by_year(sample, tmp_path):
    c = Case(sample, tmp_path)
    for d in (c.year(0), c.year(1)):
        for f in d.iterdir():
            f.rename(c.ssda / f"903_{d.name}_{f.name}")
        d.rmdir()
    c.run()
    c.check(0, "to 31 March 2024")
    assert len(Dataset.load(c.out).children) == sample["children"]


def test_name_and_dates_disagreeing_is_fatal(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.year(1).rename(c.ssda / "2019-20")
    c.run()
    c.check(
        2,
        "the name says the collection year to 31 March 2020 but the dates in its files "
        "run to 31 March 2024",
    )


def test_more_than_one_percent_dropped_needs_accept_drops(sample, tmp_path):
    c = Case(sample, tmp_path)

    def shift(data: bytes) -> bytes:
        lines = data.decode().split("\n")
        for i in range(1, 40):  # push 39 reviews (5%) past the year end
            cells = lines[i].split(",")
            cells[2] = f"{i % 28 + 1:02d}/{6 + i // 28:02d}/2024"  # distinct dates
            lines[i] = ",".join(cells)
        return "\n".join(lines).encode()

    c.edit(f"{c.year(1).name}/reviews.csv", shift)
    c.run()
    c.check(3, "more than 1% of a table's rows would be dropped (Reviews: 39 of")
    c.run("--accept-drops")
    text = c.check(0, None)
    m = re.search(r"Reviews ([\d,]+) of ([\d,]+)", text)
    assert m and int(m.group(2).replace(",", "")) - int(m.group(1).replace(",", "")) == 39
    assert "review after the end of the collection year" in (c.out / REPORT_FILE).read_text()


# --------------------------------------------------------------------------
# 2. Parsing that cannot lose rows silently
# --------------------------------------------------------------------------


def test_stray_quote_in_urn_does_not_swallow_the_file(sample, tmp_path):
    c = Case(sample, tmp_path)
    # a URN cell opening a quote that never closes, early in the file
    c.edit(f"{c.year(0).name}/episodes.csv", lambda d: _csv_set(d, 5, "URN", '"SC1234'))
    c.run()
    text = c.check(0, None)
    assert len(Dataset.load(c.out).children) == sample["children"]
    p = _problems(c.out)
    assert (p["rule"] == "stray quote (never closed) removed from a cell").sum() == 1
    assert "SC1234" not in text + (c.out / REPORT_FILE).read_text()


def test_cr_only_line_endings(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.edit(f"{c.year(0).name}/episodes.csv", lambda d: d.replace(b"\n", b"\r"))
    c.run()
    c.check(0, None)
    assert len(Dataset.load(c.out).placements) == sample["placements"]
    assert "carriage returns only" in (c.out / REPORT_FILE).read_text()


def test_mixed_line_endings(sample, tmp_path):
    c = Case(sample, tmp_path)

    def mix(d: bytes) -> bytes:
        lines = d.split(b"\n")
        ends = [b"\r\n", b"\n", b"\r"]
        return b"".join(line + ends[i % 3] for i, line in enumerate(lines[:-1]))

    c.edit(f"{c.year(1).name}/reviews.csv", mix)
    c.edit(f"{c.year(1).name}/episodes.csv", mix)
    c.run()
    c.check(0, None)
    ds = Dataset.load(c.out)
    assert len(ds.placements) == sample["placements"]
    assert "mixed line endings" in (c.out / REPORT_FILE).read_text()


def test_bare_cr_inside_a_cell_is_repaired_not_a_traceback(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.edit(
        f"{c.year(0).name}/episodes.csv",
        lambda d: d.replace(b",CARPL,", b",CAR\rPL,", 1),
    )
    c.run()
    c.check(0, None)
    assert "carriage return inside a cell replaced by a space" in (c.out / REPORT_FILE).read_text()
    assert len(Dataset.load(c.out).placements) == sample["placements"]


def test_truncated_last_row_is_not_an_open_episode(sample, tmp_path):
    c = Case(sample, tmp_path)
    ep = f"{c.year(1).name}/episodes.csv"
    c.edit(ep, lambda d: d.rstrip(b"\n").rsplit(b",", 6)[0])  # cut mid-row, no newline
    c.run("--strict")
    c.check(3, "last row is cut off")
    c.run()
    c.check(0, None)
    p = _problems(c.out)
    hit = p[p["rule"].str.startswith("last row is cut off")]
    assert len(hit) == 1 and hit["level"].iloc[0] == "error"


def test_mixed_utf8_and_cp1252_rows_keep_every_child(sample, tmp_path):
    c = Case(sample, tmp_path)

    def mix(d: bytes) -> bytes:
        d = d.replace(b",CARPL,", ",CARPLÉ,".encode(), 1)  # a UTF-8 row
        return d.replace(b",CARPL,", ",CARPLÉ,".encode("cp1252"), 1)  # a cp1252 row

    c.edit(f"{c.year(0).name}/episodes.csv", mix)
    c.run()
    c.check(0, None)
    assert len(Dataset.load(c.out).placements) == sample["placements"]
    report = (c.out / REPORT_FILE).read_text()
    assert "mixes UTF-8 and Windows-1252 rows" in report


@pytest.mark.parametrize("device", ["/dev/urandom"])
def test_device_as_needs_fails_fast(sample, tmp_path, device):
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    c = Case(sample, tmp_path)
    c.run("--needs", device)
    c.check(2, "not a regular file")


def test_binary_needs_file_is_fatal(sample, tmp_path):
    c = Case(sample, tmp_path)
    (c.inp / "needs.csv").write_bytes(os.urandom(5000))
    c.run("--needs", str(c.inp / "needs.csv"))
    c.check(2, "not a text file")


# --------------------------------------------------------------------------
# 3. Problem logs never hold raw identifying values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["header.csv", "reviews.csv"])
def test_table_without_header_line_is_fatal_and_shows_no_row(sample, tmp_path, table):
    c = Case(sample, tmp_path)
    c.edit(f"{c.year(0).name}/{table}", lambda d: d.split(b"\n", 1)[1])
    c.run()
    c.check(2, "the first line holds data, not column headers")


def test_needs_extract_without_header_line_echoes_no_row(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.edit("@needs_extract.csv", lambda d: d.split(b"\n", 1)[1])
    c.run("--needs", str(c.inp / "needs_extract.csv"))
    c.check(2, "the first line holds data, not column headers")


def test_formula_cells_are_neutralised_and_long_cells_cut(sample, tmp_path):
    c = Case(sample, tmp_path)
    ep = f"{c.year(1).name}/episodes.csv"
    bad = ['=HYPERLINK("http://x")', "+cmd", "@SUM(A1)", "-2+3", "\tX9", "Z" * 1_000_000]
    for i, v in enumerate(bad, start=2):
        c.edit(ep, lambda d, i=i, v=v: _csv_set(d, i, "PLACE", v.replace('"', "")))
    c.run()
    c.check(3, "more than 1% of a table's rows would be dropped")
    c.run("--accept-drops")
    c.check(0, None)
    text = (c.out / PROBLEMS_FILE).read_text()
    assert "ZZZZ" * 20 not in text and "ZZZZ" * 20 not in (c.out / REPORT_FILE).read_text()
    p = _problems(c.out)
    vals = p.loc[p["column"] == "PLACE", "value"].tolist()
    assert len(vals) == len(bad)
    for v in vals:
        assert not v.startswith(("=", "+", "-", "@", "\t", "\r")), v
        assert len(v) <= 64
    assert "'=HYPERLINK(HTTP://X)" in vals  # code columns are read upper-case


def test_identifying_values_are_hidden_and_children_pseudonymised(sample, tmp_path):
    c = Case(sample, tmp_path)
    hd = f"{c.year(0).name}/header.csv"
    c.edit(hd, lambda d: _csv_set(d, 3, "DOB", "31/02/2010"))
    c.edit(hd, lambda d: _csv_set(d, 4, "MC_DOB", "99/99/1999"))
    c.edit(hd, lambda d: _csv_set(d, 5, "MOTHER", "X"))
    child = (c.ssda / hd).read_text().split("\n")[3].split(",")[0]
    c.run()
    c.check(0, None)
    p = _problems(c.out)
    for col in ("DOB", "MC_DOB", "MOTHER"):
        vals = set(p.loc[p["column"] == col, "value"])
        assert vals == {"<identifier hidden>"}, (col, vals)
    ps = Pseudonymiser(KEY.encode(), COUNCIL)
    dob_row = p[p["column"] == "DOB"].iloc[0]
    assert dob_row["child"] == ps.one(child, "child")
    assert "31/02/2010" not in (c.out / REPORT_FILE).read_text()


# --------------------------------------------------------------------------
# 4. Output folders: never delete what the tool did not write; recoverable swap
# --------------------------------------------------------------------------


def test_import_refuses_a_folder_with_user_files(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.out.mkdir()
    (c.out / "thesis.docx").write_text("precious")
    c.run()
    c.res_text = c.res.stdout + c.res.stderr
    assert c.res.exit_code == 2
    assert "holds files vc-eval did not write (thesis.docx)" in c.res.stderr
    assert (c.out / "thesis.docx").read_text() == "precious"
    assert tree_digest(c.inp) == c.before


def test_import_refuses_a_dataset_with_user_files_added(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.run()
    c.check(0, None)
    (c.out / "my_notes.txt").write_text("mine")
    (c.out / "report_final.html").write_text("mine too")
    before = tree_digest(c.out)
    c.run()
    assert c.res.exit_code == 2
    assert "my_notes.txt, report_final.html" in c.res.stderr
    assert tree_digest(c.out) == before


def test_import_replaces_its_own_dataset(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.run()
    c.check(0, None)
    c.run()
    c.check(0, None)


def test_synth_refuses_a_folder_with_user_files(tmp_path):
    out = tmp_path / "mydocs"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    (out / "notes.txt").write_text("notes")
    res = run_cli(["synth", "--councils", "1", "--out", str(out), "--no-progress"])
    assert res.exit_code == 2
    assert "holds files vc-eval did not write (notes.txt, thesis.docx)" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "thesis.docx"]


def _tiny_dataset(sample) -> Dataset:
    return Dataset.load(sample["baseline"])


STEPS = ["move old aside", "move new in", "remove old"]


@pytest.mark.parametrize("killed", [False, True], ids=["error", "killed"])
@pytest.mark.parametrize("step", range(len(STEPS)), ids=STEPS)
def test_crash_at_every_step_of_the_swap(sample, tmp_path, monkeypatch, step, killed):
    """A failure at step k leaves the old or the new dataset at --out; a process
    killed at step k (nothing after it runs) leaves leftovers the next run
    cleans up, saying so."""
    ds = _tiny_dataset(sample)
    out = tmp_path / "ds"
    ds.save(out, extra_files={"v.txt": "old"})
    calls = {"n": 0}
    real_replace, real_rmtree = os.replace, shutil.rmtree
    dead = {"yes": False}

    class Crash(BaseException):
        pass

    def op(real):
        def f(*a, **k):
            if dead["yes"]:
                raise Crash
            calls["n"] += 1
            if calls["n"] == step + 1:
                dead["yes"] = killed
                raise Crash
            return real(*a, **k)

        return f

    monkeypatch.setattr(files_mod.os, "replace", op(real_replace))
    monkeypatch.setattr(files_mod.shutil, "rmtree", op(real_rmtree))
    try:
        ds.save(out, extra_files={"v.txt": "new"})
    except Crash:
        pass
    monkeypatch.undo()
    if not killed:
        assert (out / "v.txt").read_text() in ("old", "new")
        _complete(out)
    # the next run finds what is left and restores or removes it
    msgs = recover_output_dir(out)
    assert (out / "v.txt").read_text() in ("old", "new")
    _complete(out)
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]
    if killed and step < 2:
        assert msgs and "interrupted" in msgs[0]
    if step == 0 or (step == 1 and not killed):
        assert (out / "v.txt").read_text() == "old"


def test_import_reports_leftovers_of_an_interrupted_run(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.run()
    c.check(0, None)
    # a run killed between moving the old dataset aside and moving the new one in
    os.replace(c.out, c.out.parent / ".out.old-x1")
    (c.out.parent / ".out.tmp-x2").mkdir()
    c.run()
    text = c.check(0, "restored")
    assert "removed .out.tmp-x2" in text


# --------------------------------------------------------------------------
# 5. Keys
# --------------------------------------------------------------------------


def _child_ids(out: Path) -> set:
    return set(Dataset.load(out).children["child_id"])


ENCODINGS = {
    "utf8-bom": lambda k: codecs.BOM_UTF8 + k.encode(),
    "utf16-bom": lambda k: codecs.BOM_UTF16_LE + (k + "\r\n").encode("utf-16-le"),
    "utf16-no-bom": lambda k: (k + "\r\n").encode("utf-16-le"),
    "whitespace": lambda k: ("  \t" + k + "  \r\n\r\n").encode(),
}


def test_key_file_encodings_give_the_same_key(tmp_path):
    for name, encode in ENCODINGS.items():
        f = tmp_path / f"{name}.key"
        f.write_bytes(encode(KEY))
        assert load_key(f) == KEY.encode(), name


def test_key_saved_by_powershell_gives_the_same_pseudonyms(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.key.write_bytes(ENCODINGS["utf16-bom"](KEY))
    c.run()
    c.check(0, None)
    assert _child_ids(c.out) == _child_ids(sample["baseline"])


@pytest.mark.parametrize(
    "key,fragment",
    [
        ("a" * 64, "key is too weak (only 1 distinct characters)"),
        ("0123456789abcdef" * 4, "16-character pattern repeated"),
        ("9f8e7d6c5b4a39281706f5e4d3c2b1", "key is too short (120 bits"),
        ("tiger\n", "key is too short"),
    ],
    ids=["repeated", "pattern", "short-hex", "password"],
)
def test_weak_keys_are_refused(sample, tmp_path, key, fragment):
    c = Case(sample, tmp_path)
    c.key.write_text(key)
    c.run()
    text = c.check(2, fragment)
    assert key.strip() not in text


def test_random_byte_keys_need_16_bytes(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.key.write_bytes(bytes(range(200, 215)))  # 15 bytes = 120 bits
    c.run()
    c.check(2, "key is too short (120 bits")
    c.key.write_bytes(bytes(range(200, 216)))
    c.run()
    c.check(0, None)


def test_reimport_with_another_key_needs_new_key(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.run()
    c.check(0, None)
    meta = Dataset.load(c.out).metadata["pseudonymisation"]
    assert meta["key_fingerprint"] == key_fingerprint(KEY.encode())
    assert KEY not in (c.out / "dataset.json").read_text()
    first = _child_ids(c.out)
    c.key.write_text("4b1f9e27c0d3a8f56e2b7c19d04a3f8e5c6b2d1a9f7e0c3b8d5a4e6f1c2b7a90")
    c.run()
    c.check(2, "made with a different key", output=True)
    assert _child_ids(c.out) == first  # the old dataset is untouched
    c.run("--new-key")
    c.check(0, "pseudonyms changed")
    assert not _child_ids(c.out) & first


# --------------------------------------------------------------------------
# 6. Value sanity
# --------------------------------------------------------------------------


def _costs_case(sample, tmp_path, values: list[str]):
    c = Case(sample, tmp_path)
    for i, v in enumerate(values, start=1):
        c.edit("@costs.csv", lambda d, i=i, v=v: _csv_set(d, i, "WEEKLY_COST", f'"{v}"'))
    return c


def test_european_money_format_is_read(sample, tmp_path):
    c = _costs_case(sample, tmp_path, ["1.200,50", "£1,200.50", "1200,5"])
    c.run("--costs", str(c.inp / "costs.csv"))
    c.check(0, None)
    costs = Dataset.load(c.out).placements["weekly_cost"]
    assert (costs.round(2) == 1200.50).sum() >= 1
    assert not (costs.round(4) == 1.2005).any()


COST_RULES = {
    "inf": "weekly cost is not a finite number",
    "1e12": "weekly cost is implausible",
    "250000": "weekly cost is implausible",
    "-5": "weekly cost is negative",
    "1.200": "weekly cost format is ambiguous",
}


def test_implausible_costs_are_row_problems(sample, tmp_path):
    c = _costs_case(sample, tmp_path, list(COST_RULES))
    c.run("--costs", str(c.inp / "costs.csv"), "--strict")
    text = c.check(3, None)
    for rule in COST_RULES.values():
        assert rule in text
    c.run("--costs", str(c.inp / "costs.csv"), "--accept-drops")
    c.check(0, None)
    assert Dataset.load(c.out).placements["weekly_cost"].max() <= 100_000
    p = _problems(c.out)
    got = p.loc[p["column"] == "WEEKLY_COST", "rule"].tolist()
    assert len(got) == len(COST_RULES)
    for rule in COST_RULES.values():
        assert any(g.startswith(rule) for g in got), rule


def test_far_future_episode_end_is_not_a_leaving_date(sample, tmp_path):
    c = Case(sample, tmp_path)
    ep = f"{c.year(1).name}/episodes.csv"
    lines = (c.ssda / ep).read_text().split("\n")
    row = next(i for i, line in enumerate(lines[1:], 1) if line.split(",")[7])
    c.edit(ep, lambda d: _csv_set(d, row, "DEC", "01/01/2099"))
    c.run("--strict")
    c.check(3, "episode ends after the end of the collection year")
    c.run()
    c.check(0, None)
    left = Dataset.load(c.out).children["left_care"].dropna()
    assert left.max() <= pd.Timestamp("2024-03-31")


def test_dob_giving_an_adult_at_entry(sample, tmp_path):
    c = Case(sample, tmp_path)
    for y in (0, 1):
        hd = f"{c.year(y).name}/header.csv"
        c.edit(hd, lambda d: _csv_set(d, 1, "DOB", "01/01/1970"))
    c.run("--strict")
    c.check(3, "child aged 18 or over at the episode start")
    assert "01/01/1970" not in c.res.stderr


def test_needs_and_reviews_dated_in_the_future(sample, tmp_path):
    c = Case(sample, tmp_path)
    c.edit("@needs_extract.csv", lambda d: _csv_set(d, 1, "Review date", "01/06/2030"))
    c.edit(f"{c.year(1).name}/reviews.csv", lambda d: _csv_set(d, 1, "REVIEW", "01/06/2030"))
    need = ["--needs", str(c.inp / "needs_extract.csv")]
    need += ["--needs-config", str(c.inp / "needs_mapping.yaml")]
    c.run(*need, "--strict")
    text = c.check(3, "assessment dated in the future")
    assert "review after the end of the collection year" in text


# --------------------------------------------------------------------------
# 7. Council names are escaped
# --------------------------------------------------------------------------


def test_council_name_is_escaped_in_the_report(sample, tmp_path):
    c = Case(sample, tmp_path)
    name = "<script>alert(1)</script>\n# Owned [x](javascript:y) | *bold*"
    args = _args(c.ssda, c.key, c.out)
    args[args.index(COUNCIL)] = name
    c.run(cmd=args)
    c.check(0, None)
    report = (c.out / REPORT_FILE).read_text()
    assert "<script>" not in report
    assert not any(line.startswith("# Owned") for line in report.splitlines())
    assert "[x](javascript" not in report
    assert report.splitlines()[0].startswith("# Import report: &lt;script&gt;")


def test_stray_quote_in_a_large_file_with_quoted_cells():
    """Large files (the Arrow path) with quoted cells on every line: a stray
    quote still takes the careful path, and a real multi-line cell stays one."""
    from vc_eval.ingest.problems import ProblemLog
    from vc_eval.ingest.ssda903 import read_csv_text

    rows = [f'A{i},01/01/2020,"x, y",{i}' for i in range(20000)]
    rows[100] = 'A100,01/01/2020,"SC1,100'
    log = ProblemLog()
    f = read_csv_text("CHILD,D,N,V\n" + "\n".join(rows) + "\n", "f", log)
    assert len(f) == 20000
    assert log.frame()["rule"].tolist() == ["stray quote (never closed) removed from a cell"]
    log = ProblemLog()
    f = read_csv_text('CHILD,D,N,V\nA1,x,"multi\nline",1\nA2,y,z,2\n', "f", log)
    assert f["N"].tolist() == ["multi\nline", "z"] and log.count() == 0


def test_903_only_import_gives_a_report_with_placement_sections(sample):
    """The clean 903-only import, end to end: population, costs and stability sections with
    figures, the needs sections absent (one line each), and no raw identifier on the page."""
    from vc_eval.reporting import sections as S

    ctx = S.build_context(council=COUNCIL, data_dir=sample["baseline"], cache_dir="")
    page = S.page(ctx)
    by = {s.key: s for s in page}
    for key in ("population", "costs", "stability"):
        assert by[key].status == "ok", (key, by[key].to_text())
    assert sum(len(by[k].figures) for k in ("population", "costs", "stability")) >= 2
    for key in ("needs_profile", "trajectories", "need_change", "cost_need"):
        assert by[key].status == "absent", key
        assert len(by[key].findings) == 1 and "needs" in by[key].findings[0].text.lower()
    html = "\n".join(s.to_html() for s in page)
    for s in page:
        s.close()
    leaked = sorted(v for v in sample["raw"] if len(v) > 3 and v in html)
    assert not leaked, leaked


def test_four_domain_needs_extract_import_gives_a_report(sample, tmp_path):
    """A council scoring 4 of the 12 domains: import, then a report that uses those four."""
    from vc_eval.reporting import sections as S

    c = Case(sample, tmp_path)
    four = [
        "Attachment and family relationships",
        "Emotional and mental health",
        "Behaviour and self-regulation",
        "Education and attendance",
    ]
    needs = pd.read_csv(c.inp / "needs_extract.csv", dtype=str, keep_default_na=False)
    needs[needs["Need domain"].isin(four)].to_csv(c.inp / "needs_extract.csv", index=False)
    c.run(
        "--needs",
        str(c.inp / "needs_extract.csv"),
        "--needs-config",
        str(c.inp / "needs_mapping.yaml"),
    )
    c.check(0, None)
    ctx = S.build_context(council=COUNCIL, data_dir=c.out, cache_dir="")
    by = {s.key: s for s in S.page(ctx)}
    assert set(ctx.domains) == {
        "total_need",
        "attachment",
        "emotional_health",
        "behaviour",
        "education",
    }
    for key in ("population", "costs", "needs_profile", "trajectories"):
        assert by[key].status == "ok", (key, by[key].to_text())
    html = "\n".join(s.to_html() for s in by.values())
    for s in by.values():
        s.close()
    assert not sorted(v for v in sample["raw"] if len(v) > 3 and v in html)
