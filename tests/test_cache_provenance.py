"""The report cache lives beside its dataset and is cleared by one command;
provenance never publishes an absolute local path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from _report_data import save, tiny_dataset
from click.testing import CliRunner

from vc_eval.cli import cli
from vc_eval.core import provenance as P
from vc_eval.reporting import cache as C


@pytest.fixture(scope="module")
def tiny_dir(bundled, tmp_path_factory) -> Path:
    return save(tiny_dataset(bundled, n_children=20), tmp_path_factory.mktemp("tiny") / "data")


def test_default_cache_is_beside_the_data(tmp_path, monkeypatch):
    monkeypatch.delenv(C.CACHE_ENV, raising=False)
    assert C.default_cache_dir(tmp_path) == tmp_path / C.CACHE_FOLDER
    monkeypatch.setenv(C.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert C.default_cache_dir(tmp_path) == tmp_path / "elsewhere"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_data_means_no_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(C.CACHE_ENV, raising=False)
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert C.default_cache_dir(tmp_path) is None
    finally:
        tmp_path.chmod(stat.S_IRWXU)


def test_cache_written_beside_data_not_home_and_cleared(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(C.CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    key = C.cache_key(tiny_dir)
    inputs = P.input_fingerprints(tiny_dir)
    folder = C.prepare_cache(tiny_dir, series=False)
    assert folder.parent == tiny_dir / C.CACHE_FOLDER
    assert not (tmp_path / "home").exists()
    # The cache is derived data, not an input: fingerprints and key unchanged.
    assert P.input_fingerprints(tiny_dir) == inputs
    assert C.cache_key(tiny_dir) == key
    # Something vc-eval did not write survives clearing.
    keep = tiny_dir / C.CACHE_FOLDER / "notes.txt"
    keep.write_text("mine")
    res = CliRunner().invoke(cli, ["cache", "info", "--data", str(tiny_dir)])
    assert res.exit_code == 0 and "1 entries" in res.output
    res = CliRunner().invoke(cli, ["cache", "clear", "--data", str(tiny_dir)])
    assert res.exit_code == 0, res.output
    assert "removed 1 cache entry" in res.output
    assert not folder.exists() and keep.read_text() == "mine"
    keep.unlink()
    res = CliRunner().invoke(cli, ["cache", "clear", "--data", str(tiny_dir)])
    assert "removed 0 cache entries" in res.output
    assert not (tiny_dir / C.CACHE_FOLDER).exists()


def test_clear_refuses_folders_it_did_not_make(tmp_path):
    foreign = tmp_path / "c" / ("a" * 64)
    (foreign / "councils").mkdir(parents=True)
    (foreign / "meta.json").write_text("{}")
    assert C.clear_cache(tmp_path / "c")["entries"] == 0  # no vc-eval tag: untouched
    assert foreign.exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{data}", "<data folder>"),
        ("{data}/framework.yaml", "<data folder>/framework.yaml"),
        ("/somewhere/private/frameworks/mine.yaml", "mine.yaml"),
        ("illustrative", "illustrative"),
        ("", ""),
        (3, 3),
    ],
)
def test_public_path(value, expected, tmp_path):
    if isinstance(value, str):
        value = value.format(data=tmp_path)
    assert P.public_path(value, tmp_path) == expected


def test_provenance_has_no_absolute_paths(tiny_dir, bundled):
    from vc_eval.core.dataset import Dataset

    ds = Dataset.load(tiny_dir)
    params = {
        "data_dir": str(tiny_dir.resolve()),
        "framework": str((tiny_dir / "framework.yaml").resolve()),
        "cache_dir": str(Path.home() / ".cache" / "x"),
        "council": "Tinyton",
    }
    frame = P.collect(params, data_dir=tiny_dir, dataset=ds).to_frame()
    text = frame.to_string()
    for root in {str(tiny_dir.resolve()), str(Path.home()), str(Path.cwd())}:
        assert root not in text
    assert (frame["value"] == "<data folder>").any()
    for value in frame["value"]:
        assert not str(value).startswith("/"), value


def test_input_fingerprints_are_every_visible_file_in_order(tmp_path):
    """Inputs: every file not hidden, in subfolders too, in path order; nothing from a
    hidden folder (the cache) or a hidden file; a symlinked folder is not followed."""
    from vc_eval.core.files import sha256_file

    (tmp_path / "b.csv").write_text("b")
    (tmp_path / "a.parquet").write_bytes(b"a")
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "c.txt").write_text("c")
    (tmp_path / "sub" / ".hidden.txt").write_text("h")
    (tmp_path / ".vc-eval-cache" / "entry").mkdir(parents=True)
    (tmp_path / ".vc-eval-cache" / "entry" / "page.pickle").write_bytes(b"p")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.csv").write_text("x")
    (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)
    got = P.input_fingerprints(tmp_path)
    assert list(got) == ["a.parquet", "b.csv", os.path.join("sub", "deeper", "c.txt")]
    assert got["b.csv"] == sha256_file(tmp_path / "b.csv")
