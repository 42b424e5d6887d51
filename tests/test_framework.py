"""Needs frameworks load from YAML and bad ones are rejected with the rule broken."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from vc_eval.core.framework import FrameworkError, load_framework, parse_framework


@pytest.fixture
def spec():
    fw = load_framework()
    return yaml.safe_load(open(fw.source.replace("vc_eval/", _pkg_dir() + "/"), "rb"))


def _pkg_dir():
    import vc_eval

    return str(__import__("pathlib").Path(vc_eval.__file__).parent)


def test_default_framework_is_illustrative_12_domains_6_areas():
    fw = load_framework()
    assert fw.illustrative
    assert len(fw.need_domains) == 12 and len(fw.outcome_areas) == 6
    for area in fw.outcome_areas:
        doms = fw.domains_in_area(area)
        assert len([d for d in doms if d in fw.need_domains]) == 2
        # one strength per outcome area, higher is better (declared in the file)
        strengths = [d for d in doms if d in fw.strength_domains]
        assert len(strengths) == 1 and fw.better(strengths[0]) == "higher"
    assert all(fw.better(d) == "lower" for d in fw.need_domains)
    assert fw.band_labels(fw.strength_domains[0]) != fw.band_labels()
    assert len(fw.sha256) == 64


def test_direction_is_declared_once(spec):
    fw = parse_framework(spec)
    assert list(fw.improved(["behaviour", fw.strength_domains[0]], [-5, -5])) == [1, -1]
    rev = copy.deepcopy(spec)
    for d in rev["domains"]:
        if d.get("kind") == "strength":
            d["better"] = "lower"
    fw2 = parse_framework(rev)
    assert list(fw2.improved(["behaviour", fw2.strength_domains[0]], [-5, -5])) == [1, 1]


def test_bands():
    fw = load_framework()
    got = fw.band_of(np.array([0, 25, 25.5, 26, 50, 51, 75, 76, 100, np.nan]))
    np.testing.assert_array_equal(got[:-1], [1, 1, 2, 2, 2, 3, 3, 4, 4])
    assert np.isnan(got[-1])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s["bands"][1].update(min=20), "overlap"),
        (lambda s: s["bands"][1].update(min=30), "gap"),
        (lambda s: s["bands"][3].update(max=120), "outside 0-100"),
        (lambda s: s["bands"][0].update(min=5), "start at 0"),
        (lambda s: s["domains"].append(dict(s["domains"][0])), "duplicate domain ids"),
        (lambda s: s["domains"][0].update(outcome_area="nowhere"), "unknown outcome area"),
        (lambda s: s["domains"][0].pop("name"), "missing 'name'"),
        (lambda s: s["domains"][0].update(kind="hobby"), "need or strength"),
        (lambda s: s["domains"][0].update(better="up"), "better must be higher or lower"),
        (lambda s: s["strength_bands"][1].update(min=30), "gap"),
        (lambda s: s["strength_bands"].pop(), "last band must end at 100"),
        (lambda s: s.pop("bands"), "missing required key 'bands'"),
        (lambda s: s["outcome_areas"].append(dict(s["outcome_areas"][0])), "duplicate ids"),
    ],
)
def test_bad_frameworks_are_rejected(spec, mutate, message):
    bad = copy.deepcopy(spec)
    mutate(bad)
    with pytest.raises(FrameworkError, match=message):
        parse_framework(bad, source="council.yaml")


def test_framework_file_errors_name_the_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("id: x\nbands: [\n")
    with pytest.raises(FrameworkError, match="mine.yaml: not valid YAML"):
        load_framework(f)
    with pytest.raises(FrameworkError, match="not found"):
        load_framework(tmp_path / "absent.yaml")
