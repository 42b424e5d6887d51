"""Atomic writes: outputs appear complete or not at all."""

from __future__ import annotations

import pytest

from vc_eval.core.files import atomic_dir, atomic_file


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_previous_version_only_on_success(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "v1.txt").write_text("1")
    with pytest.raises(ValueError), atomic_dir(target) as tmp:
        (tmp / "v2.txt").write_text("2")
        raise ValueError
    # every output folder carries the manifest that marks it as vc-eval's
    assert sorted(p.name for p in target.iterdir()) == ["v1.txt", "vc-eval-manifest.json"]
    with atomic_dir(target) as tmp:
        (tmp / "v2.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["v2.txt", "vc-eval-manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_file(tmp_path):
    f = tmp_path / "a.txt"
    with pytest.raises(KeyError), atomic_file(f) as fh:
        fh.write("partial")
        raise KeyError
    assert not f.exists() and list(tmp_path.iterdir()) == []
    with atomic_file(f) as fh:
        fh.write("done")
    assert f.read_text() == "done"
    # the mode a file written in place gets (not mkstemp's private 0600)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert f.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    with atomic_file(f, private=True) as fh:
        fh.write("row-level")
    assert f.stat().st_mode & 0o777 == 0o600


def test_scores_until_leaves_out_later_scores_only(bundled):
    cut = bundled.assessments["assessment_date"].median()
    part = bundled.scores_until(cut)
    assert (part.assessments["assessment_date"] <= cut).all()
    assert len(part.assessments) == (bundled.assessments["assessment_date"] <= cut).sum()
    assert len(part.children) == len(bundled.children)  # nothing else changes
    assert bundled.scores_until("") is bundled
