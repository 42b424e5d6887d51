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
    assert len(fw.domains) == 12 and len(fw.outcome_areas) == 6
    for area in fw.outcome_areas:
        assert len(fw.domains_in_area(area)) == 2
    assert len(fw.sha256) == 64


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
