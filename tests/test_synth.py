"""The synthetic population: deterministic, calibrated to DOMAIN.md, truth matches data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vc_eval.core.costs import DEFAULT_UNIT_COSTS
from vc_eval.core.dataset import Dataset
from vc_eval.core.files import sha256_file
from vc_eval.core.population import age_on, in_care_on, placements_on
from vc_eval.synthetic import generator as synth
from vc_eval.synthetic.generator import SynthConfig, generate, true_curve, write_synthetic

SNAPSHOT = pd.Timestamp("2024-03-31")


@pytest.fixture(scope="module")
def medium():
    # ~20k children: enough for marginals within a few percentage points
    return generate(SynthConfig(councils=40, seed=7))


def test_same_seed_gives_identical_files(tmp_path):
    cfg = SynthConfig(councils=2, seed=11, sizes=(150, 160))
    a = write_synthetic(generate(cfg), tmp_path / "a")
    b = write_synthetic(generate(cfg), tmp_path / "b")
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    for name in files:
        assert sha256_file(a / name) == sha256_file(b / name), name
    c = generate(SynthConfig(councils=2, seed=12, sizes=(150, 160)))
    assert c.fingerprint() != Dataset.load(a).fingerprint()


def test_generated_data_pass_the_data_model(medium):
    assert medium.validate() == []


def test_council_names_are_fictional_and_sizes_realistic(medium):
    names = medium.councils["council"]
    assert names.is_unique
    assert all(any(n.startswith(p) for p in synth.FICTIONAL_PREFIXES) for n in names)
    sizes = [c["size"] for c in medium.truth["councils"].values()]
    assert min(sizes) >= 150 and max(sizes) <= 2000


def _shares(values, edges):
    return np.histogram(values, edges)[0] / len(values)


def test_age_mix_in_care_matches_dfe(medium):
    kids = in_care_on(medium.children, SNAPSHOT)
    got = _shares(age_on(kids, SNAPSHOT), [0, 1, 5, 10, 16, 19])
    np.testing.assert_allclose(got, synth.SNAPSHOT_AGE_MIX, atol=0.04)


def test_age_at_entry_matches_dfe(medium):
    kids = medium.children[medium.children["entered_care"] >= "2021-04-01"]
    age = (kids["entered_care"] - kids["date_of_birth"]).dt.days / 365.25
    np.testing.assert_allclose(_shares(age, [0, 1, 5, 10, 16, 19]), synth.ENTRY_AGE_MIX, atol=0.03)


def test_sex_mix(medium):
    assert medium.children["sex"].eq("male").mean() == pytest.approx(0.57, abs=0.02)


def test_placement_mix_matches_survey(medium):
    kids = in_care_on(medium.children, SNAPSHOT)
    act = placements_on(medium.placements, SNAPSHOT)
    act = act[act["child_id"].isin(kids["child_id"])]
    got = act["placement_type"].value_counts(normalize=True)
    for ptype, want in synth.SNAPSHOT_PLACEMENT_MIX.items():
        assert got.get(ptype, 0.0) == pytest.approx(want, abs=0.03), ptype


def test_median_weekly_cost_by_type(medium):
    # Costs inflate at price_growth from the reference date (and slower after
    # adoption), and carry a weak need link: compare placements starting in
    # the first year of the window with the medians inflated by half a year.
    p = medium.placements
    first_year = p[(p["start_date"] >= "2021-04-01") & (p["start_date"] < "2022-04-01")]
    med = first_year.groupby("placement_type")["weekly_cost"].median()
    for ptype in ("in_house_foster", "ifa_foster", "childrens_home"):
        want = DEFAULT_UNIT_COSTS[ptype].median * 1.06**0.5
        assert med[ptype] == pytest.approx(want, rel=0.12), ptype
    # DOMAIN.md: children's homes GBP 3,800-6,100, heavy right tail
    ch = first_year[first_year["placement_type"] == "childrens_home"]["weekly_cost"]
    assert 3800 <= ch.median() <= 6100
    assert ch.quantile(0.99) > 2 * ch.median()


def test_stability_and_missing_near_published(medium):
    o = medium.outcomes
    missing = o[o["measure"] == "missing_episodes"]["value"]
    assert (missing > 0).mean() == pytest.approx(0.11, abs=0.03)


def test_reviews_follow_the_statutory_schedule(medium):
    a = medium.assessments.drop_duplicates(["child_id", "assessment_date"])
    kids = medium.children.set_index("child_id")
    first = a.groupby("child_id")["assessment_date"].min()
    entered = kids.loc[first.index, "entered_care"]
    recent = entered >= "2021-04-01"
    gap = (first[recent] - entered[recent]).dt.days
    assert gap.between(21, 28).mean() > 0.95  # 20 working days, held a little early
    later = a.sort_values(["child_id", "assessment_date"]).groupby("child_id")["assessment_date"]
    gaps = later.diff().dt.days.dropna()
    assert gaps.between(175, 200).mean() > 0.6  # mostly six-monthly after the second


def test_truth_matches_generated_tables(medium):
    t = medium.truth
    assert t["n_children"] == len(medium.children)
    assert t["n_assessment_rows"] == len(medium.assessments)
    starts = medium.councils.set_index("council")["programme_start"]
    for name, info in t["councils"].items():
        got = starts[name]
        assert (info["programme_start"] is None) == pd.isna(got)
        if info["programme_start"]:
            assert str(got.date()) == info["programme_start"]
    for ptype, cost in t["cost_model"]["unit_costs"].items():
        assert cost["median"] == DEFAULT_UNIT_COSTS[ptype].median
    assert set(t["domains"]) == set(medium.framework.need_domains)


def test_truth_peaks_are_the_curve_maxima():
    t = generate(SynthConfig(councils=1, seed=3, sizes=(150,))).truth
    ages = np.linspace(0, 18, 1801)
    for d, info in t["domains"].items():
        curve = true_curve(t, d, ages)
        for p in info["peak_ages"]:
            i = int(np.argmin(np.abs(ages - p)))
            assert curve[i] >= curve[max(i - 50, 0)] and curve[i] >= curve[min(i + 50, 1800)]
    assert t["total_need"]["peak_ages"] == pytest.approx([7.0, 11.0], abs=0.5)


def test_scores_follow_the_true_curve_on_average(medium):
    # mean score by age band tracks the generating curve (random effects average out)
    t = medium.truth
    a = medium.assessments[medium.assessments["domain"] == "emotional_health"]
    a = a[a["age_at_assessment"].between(4, 15)]
    band = np.floor(a["age_at_assessment"])
    got = a.groupby(band)["score"].mean()
    want = pd.Series(true_curve(t, "emotional_health", got.index.to_numpy() + 0.5), index=got.index)
    assert np.abs(got - want).max() < 3.0


def test_programme_effects_appear_in_truth_and_vanish_when_off():
    cfg = SynthConfig(
        councils=4,
        seed=5,
        sizes=(400, 400, 400, 400),
        adopters=(True, True, False, False),
        programme_starts=("2022-04-01", "2022-10-01", None, None),
    )
    on = generate(cfg).truth["true_effects"]
    assert set(on) == set(generate(cfg).councils["council"][:2])
    for eff in on.values():
        assert eff["24m"]["in_house_share"] > 0.02
        assert eff["24m"]["mean_weekly_cost"] < 0
    from dataclasses import replace

    off = generate(replace(cfg, programme=synth.ProgrammeEffects.none())).truth["true_effects"]
    for eff in off.values():
        assert eff["24m"]["in_house_share"] == 0
        assert eff["24m"]["mean_weekly_cost"] == pytest.approx(0, abs=1e-6)


def test_bundled_data_is_the_documented_config(bundled, bundled_dir):
    truth = json.loads((bundled_dir / "truth.json").read_text())
    assert truth["seed"] == synth.BUNDLED_CONFIG.seed
    assert len(bundled.councils) == 3
    assert 1200 <= len(bundled.children) <= 1800
    assert bundled.councils["programme_start"].isna().sum() == 1
    fresh = generate(synth.BUNDLED_CONFIG)
    assert fresh.fingerprint() == bundled.fingerprint(), "bundled data are stale: make data"


def test_no_score_after_leaving_care_or_the_window(medium):
    a = medium.assessments.merge(medium.children, on="child_id")
    assert (a["assessment_date"] <= medium.truth["window"]["end"]).all()
    left = a["left_care"].notna()
    assert (a.loc[left, "assessment_date"] <= a.loc[left, "left_care"]).all()
    assert (a["assessment_date"] >= a["entered_care"]).all()
