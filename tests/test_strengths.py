"""Strengths as first-class data: generator truth, recovery, direction from the framework only."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import yaml

from vc_eval.analysis.strengths import strengths_beside_needs
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import load_framework, parse_framework
from vc_eval.core.schema import ASSESSMENTS, Col
from vc_eval.synthetic.generator import SynthConfig, generate, true_curve

CFG = SynthConfig(councils=2, seed=808, sizes=(320, 320), adopters=(True, False), strengths=True)
#: Largest gap (points) between the fitted and the true mean strength curve at
#: ages 2-17 (about 600 children; the need-domain recovery tests use the same scale).
CURVE_TOLERANCE = 3.5


@pytest.fixture(scope="module")
def strong():
    return generate(CFG)


def test_strengths_are_opt_in():
    plain = generate(replace(CFG, strengths=False, councils=1, sizes=(150,), adopters=(False,)))
    fw = plain.framework
    assert not plain.assessments[Col.domain].isin(fw.strength_domains).any()
    assert "strengths" not in plain.truth


def test_truth_and_data_agree(strong):
    fw = strong.framework
    t = strong.truth
    assert t["strengths"]["domains"] == fw.strength_domains
    assert t["need_domains"] == fw.need_domains  # total need stays the needs' mean
    assert strong.validate() == []
    a = strong.assessments
    s = a[a[Col.domain].isin(fw.strength_domains)]
    n = a[a[Col.domain].isin(fw.need_domains)]
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    # every practitioner scoring of needs also scores every strength
    assert len(s) == len(n.drop_duplicates(keys)) * len(fw.strength_domains)


def test_strength_age_curves_are_recovered(strong):
    from vc_eval.analysis.trajectories import fit_domains

    doms = ["strength_wellbeing", "strength_independence"]
    fits = fit_domains(strong, domains=doms, include_total=False, areas=False)
    ages = np.arange(2.0, 17.01, 0.25)
    # the adopting council's strengths grow with exposure: compare where none yet
    for d in doms:
        got = fits[d].curve(ages)["estimate"].to_numpy()
        true = true_curve(strong.truth, d, ages)
        assert np.max(np.abs(got - true)) < CURVE_TOLERANCE + 3.0, d
        assert np.mean(np.abs(got - true)) < CURVE_TOLERANCE, d
    # independence rises through adolescence, as generated
    ind = fits["strength_independence"].curve([8.0, 16.0])["estimate"].to_numpy()
    assert ind[1] - ind[0] > 20


def test_link_with_need_follows_the_truth(strong):
    res = strengths_beside_needs(strong)
    assert (res.link["spearman_rho"] < -0.1).all() or (res.link["spearman_rho"].median() < -0.15)
    assert res.summary().finding("strengths.need_link").word == "weaker"
    flipped = generate(replace(CFG, seed=809, strength_need_corr=0.5))
    res = strengths_beside_needs(flipped)
    assert res.link["spearman_rho"].median() > 0.1
    assert res.summary().finding("strengths.need_link").word == "stronger"


def test_programme_grows_strengths(strong):
    """Adopting council: strengths change by about +1.5 points a year of exposure."""
    fw = strong.framework
    by_council = {}
    for c in strong.council_names():
        ch = strengths_beside_needs(strong.subset(c)).change
        ch = ch[ch["kind"] == "strength"]
        by_council[c] = (ch["n_better"] - ch["n_worse"]).sum() / ch["n_children"].sum()
    start = {c: v["programme_start"] for c, v in strong.truth["councils"].items()}
    adopter = next(c for c, s in start.items() if s)
    other = next(c for c, s in start.items() if not s)
    assert by_council[adopter] > by_council[other]
    assert fw.better("strength_health") == "higher"


def _reversed(ds: Dataset) -> Dataset:
    """The same data under a framework whose strengths are better lower, scores reversed."""
    fw = ds.framework
    spec = yaml.safe_load(open(_shipped(), "rb"))
    spec = copy.deepcopy(spec)
    for d in spec["domains"]:
        if d.get("kind") == "strength":
            d["better"] = "lower"
    fw2 = parse_framework(spec, source="reversed")
    a = ds.assessments.copy()
    s = a[Col.domain].astype(str).isin(fw.strength_domains)
    a.loc[s, Col.score] = 100.0 - a.loc[s, Col.score]
    tables = dict(ds.tables)
    tables[ASSESSMENTS] = a
    return Dataset(tables, metadata=ds.metadata, framework=fw2)


def _shipped() -> str:
    from importlib import resources

    return str(resources.files("vc_eval.core") / "frameworks" / "illustrative.yaml")


def test_reversed_framework_gives_the_same_conclusions(strong):
    a = strengths_beside_needs(strong)
    b = strengths_beside_needs(_reversed(strong))
    cols = ["domain", "n_children", "n_better", "n_worse"]
    assert a.change[cols].equals(b.change[cols])
    sa, sb = a.summary(), b.summary()
    assert [(f.key, f.word) for f in sa.findings] == [(f.key, f.word) for f in sb.findings]
    # the raw numbers do flip: only the framework's declaration reconciles them
    ra, rb = a.link["spearman_rho"].to_numpy(), b.link["spearman_rho"].to_numpy()
    assert np.allclose(ra, -rb, atol=1e-3)  # ties broken by float noise in means


def test_no_strength_scores_says_so(bundled):
    fw = bundled.framework
    a = bundled.ratings
    tables = dict(bundled.tables)
    tables[ASSESSMENTS] = a[~a[Col.domain].astype(str).isin(fw.strength_domains)]
    s = strengths_beside_needs(Dataset(tables, framework=fw)).summary()
    assert s.status == "absent"
    assert load_framework().strength_domains  # the framework has them; the data do not


def test_plot(strong):
    ax = strengths_beside_needs(strong).plot()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("strength (higher is better)" in t for t in labels)
    assert any("need (lower is better)" in t for t in labels)


def test_reliable_change_follows_the_declared_direction(strong):
    """need_change (reliable change) reaches the same categories under the reversed framework."""
    from vc_eval.analysis.profile import need_change

    a = need_change(strong, sem=5.0, include_total=False)
    b = need_change(_reversed(strong), sem=5.0, include_total=False)
    cols = ["domain", "category", "n"]
    assert a.summary_table[cols].equals(b.summary_table[cols])


# -- does money follow strengths as well as need? ---------------------------------


def test_strength_cost_words_follow_the_data(strong):
    """Strengths tied to low need cost less... and the word flips with the link."""
    from vc_eval.analysis.strengths import strength_cost

    res = strength_cost(strong, n_boot=200)
    assert res.word("total_need") == "rose"
    assert res.word("strength_health") == "weaker"  # generated: corr with need -0.5
    flipped = strength_cost(generate(replace(CFG, seed=809, strength_need_corr=0.5)), n_boot=200)
    assert flipped.word("strength_wellbeing") == "stronger"
    assert flipped.word("strength_learning") == "stronger"
    s = flipped.summary()
    assert s.finding("strength_cost.strengths").word == "stronger"
    assert s.finding("strength_cost.need").counts[0].value == flipped.n_children


def test_strength_cost_reversed_framework_gives_the_same_words(strong):
    from vc_eval.analysis.strengths import strength_cost

    a = strength_cost(strong, n_boot=200).summary()
    b = strength_cost(_reversed(strong), n_boot=200).summary()
    assert [(f.key, f.word) for f in a.findings] == [(f.key, f.word) for f in b.findings]


def test_strength_cost_null_claims_nothing_at_the_nominal_rate():
    """Strengths unrelated to need, age and cost: intervals exclude 0 about 5% of the time."""
    from vc_eval.analysis.strengths import strength_cost
    from vc_eval.synthetic.generator import DEFAULT_STRENGTHS, DomainTruth

    flat = {d: DomainTruth(50, 0.0, (0, 0), sd_intercept=12.0) for d in DEFAULT_STRENGTHS}
    marginal = partial = n = 0
    for seed in (611, 612, 613):
        cfg = SynthConfig(
            councils=2,
            seed=seed,
            sizes=(250, 250),
            adopters=(False, False),
            strengths=True,
            strength_need_corr=0.0,
            strength_domains=flat,
        )
        t = strength_cost(generate(cfg), n_boot=200, seed=seed).table
        t = t[t["kind"] == "strength"]
        marginal += int(((t["ci_low"] > 0) | (t["ci_high"] < 0)).sum())
        partial += int(((t["partial_low"] > 0) | (t["partial_high"] < 0)).sum())
        n += len(t)
    # 18 intervals each at 95%: P(4 or more exclusions) is about 1%
    assert marginal <= 3 and partial <= 3, (marginal, partial, n)


def test_strength_cost_without_strengths_says_so(bundled):
    from vc_eval.analysis.strengths import strength_cost

    fw = bundled.framework
    a = bundled.ratings
    tables = dict(bundled.tables)
    tables[ASSESSMENTS] = a[~a[Col.domain].astype(str).isin(fw.strength_domains)]
    s = strength_cost(Dataset(tables, framework=fw), n_boot=50).summary()
    assert s.status == "insufficient"
    assert "No strength scores" in s.findings[0].text
    # strengths but no costs: says which is missing
    pl = bundled.placements.assign(**{Col.weekly_cost: float("nan")})
    tables = dict(bundled.tables)
    tables["placements"] = pl
    s = strength_cost(Dataset(tables, framework=fw), n_boot=50).summary()
    assert s.status == "insufficient" and "No weekly placement costs" in s.findings[0].text


def test_strength_cost_plot(strong):
    from vc_eval.analysis.strengths import strength_cost

    ax = strength_cost(strong, n_boot=50).plot()
    assert len(ax.get_yticks()) == 7  # total need and six strengths
