"""Every judgement word the needs-side sections make flips when the data flip.

The words (rose/fell, most, how well assessors agree, peaks, more/fewer) are
chosen by the results from their own numbers (``Finding.word``); each test
changes the data in the opposite direction and checks that the word follows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vc_eval.analysis import agreement as A
from vc_eval.analysis import care
from vc_eval.analysis import profile as P
from vc_eval.analysis.trajectories import PeakSummary, fit_growth
from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import ASSESSMENTS, Col
from vc_eval.core.summary import Summary


@pytest.fixture(scope="module")
def council(bundled) -> Dataset:
    return bundled.subset(bundled.council_names()[0])


def _with_scores(ds: Dataset, fn) -> Dataset:
    """The dataset with assessments changed by ``fn(frame) -> frame``."""
    tables = dict(ds.tables)
    tables[ASSESSMENTS] = fn(ds.assessments.copy())
    return Dataset(tables, metadata=ds.metadata, framework=ds.framework)


def _word(sm: Summary, key: str) -> str | None:
    return sm.finding(key).word


# -- need change: rose / fell, more improved / more deteriorated ----------------------


def _shift_latest(ds: Dataset, points: float) -> Dataset:
    """Each child's scores from their second assessment date on moved by ``points``."""

    def fn(a: pd.DataFrame) -> pd.DataFrame:
        first = a.groupby(Col.child_id)[Col.assessment_date].transform("min")
        later = a[Col.assessment_date] > first + pd.Timedelta(days=20)
        a.loc[later, Col.score] = (a.loc[later, Col.score] + points).clip(0, 100)
        return a

    return _with_scores(ds, fn)


@pytest.mark.parametrize(
    "points, word, more", [(15.0, "rose", "more deteriorated"), (-15.0, "fell", "more improved")]
)
def test_need_change_word_follows_the_data(council, points, word, more):
    ch = P.need_change(_shift_latest(council, points))
    sm = ch.summary()
    assert _word(sm, "change.mean") == word
    assert f"total need {word} by" in sm.finding("change.mean").text
    assert _word(sm, "change.reliable") == more


def test_no_change_says_so(council):
    def flat(a: pd.DataFrame) -> pd.DataFrame:
        a[Col.score] = 50.0
        return a

    sm = P.need_change(_with_scores(council, flat), sem=5.0).summary()
    assert _word(sm, "change.mean") == "no change"
    assert "did not change" in sm.finding("change.mean").text


# -- prevalence: which domain has "most" children with high need ------------------------


@pytest.mark.parametrize("domain", ["attachment", "adulthood"])
def test_most_names_the_domain_the_data_put_first(council, domain):
    def high(a: pd.DataFrame) -> pd.DataFrame:
        a.loc[a[Col.domain] == domain, Col.score] = 95.0
        return a

    sm = P.prevalence(_with_scores(council, high)).summary()
    f = sm.finding("prevalence.most")
    assert f.word == domain
    label = council.framework.label(domain).lower()
    assert f.text.index(label) < min(
        f.text.index(council.framework.label(d).lower())
        for d in council.framework.domain_ids
        if d != domain and council.framework.label(d).lower() in f.text
    )


def test_complexity_most_or_some(council):
    def all_high(a):
        a[Col.score] = 90.0
        return a

    def all_low(a):
        a[Col.score] = 10.0
        return a

    assert (
        _word(P.complexity(_with_scores(council, all_high)).summary(), "complexity.three_plus")
        == "most"
    )
    assert (
        _word(P.complexity(_with_scores(council, all_low)).summary(), "complexity.three_plus")
        == "none"
    )


def test_mean_total_need_higher_or_lower_than_the_reference(council):
    prof = P.needs_profile(council, with_clusters=False)
    mean = prof.mean_total()
    for ref, word in ((mean - 5, "higher"), (mean + 5, "lower"), (mean, "about the same")):
        prof.reference = ("in the previous period", ref)
        sm = prof.summary()
        assert _word(sm, "needs_profile.mean_total") == word


# -- agreement: how well two assessors agree -------------------------------------------


def _pairs(noise: float, n: int = 120, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    true = rng.uniform(10, 90, n)
    rows = []
    for i, t in enumerate(true):
        for j, day in enumerate((0, 5)):
            rows.append(
                {
                    Col.child_id: f"K{i}",
                    Col.assessment_date: pd.Timestamp("2024-01-01") + pd.Timedelta(days=day),
                    Col.assessor_id: f"A{j}",
                    Col.domain: "attachment",
                    Col.score: float(np.clip(t + rng.normal(0, noise), 0, 100)),
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("noise, word", [(1.0, "excellent"), (40.0, "poor")])
def test_agreement_word_follows_the_icc(noise, word):
    res = A.agreement(_pairs(noise), include_total=False)
    sm = res.summary()
    assert _word(sm, "agreement.range") == word
    assert f"({word})" in sm.finding("agreement.range").text


def test_icc_bands():
    assert [A.icc_word(x) for x in (0.3, 0.6, 0.8, 0.95)] == [
        "poor",
        "moderate",
        "good",
        "excellent",
    ]


# -- peaks -------------------------------------------------------------------------------


def _peaks(share: float) -> PeakSummary:
    frame = pd.DataFrame(
        {
            "peak": [1],
            "age": [7.2],
            "lower": [6.8],
            "upper": [7.7],
            "share_with_peak": [share],
            "height": [40.0],
            "prominence": [3.0],
        }
    )
    return PeakSummary(frame, pd.DataFrame(), pd.Series(dtype=float), "draws", 1000, 0.95)


def test_peak_named_only_when_most_curves_have_it():
    assert _word(_peaks(0.9).summary(), "peaks.ages") == "peaks"
    assert "7.2" in _peaks(0.9).summary().finding("peaks.ages").text
    assert _word(_peaks(0.2).summary(), "peaks.ages") == "no clear peak"


@pytest.mark.parametrize("hump, word", [(True, "peaks"), (False, "no clear peak")])
def test_fitted_peak_follows_the_curve(hump, word):
    rng = np.random.default_rng(3)
    rows = []
    for i in range(150):
        level = rng.normal(0, 4)
        for age in np.sort(rng.uniform(1, 17, 5)):
            mean = 30 + (20 * np.exp(-((age - 8) ** 2) / 6) if hump else 1.5 * age)
            rows.append({"id": i, "age": age, "y": mean + level + rng.normal(0, 3)})
    fit = fit_growth(pd.DataFrame(rows), outcome="y", time="age", group="id", basis="spline")
    assert _word(fit.peaks(n=200, seed=1).summary(), "peaks.ages") == word


# -- care population, costs and stability ----------------------------------------------


def test_population_more_or_fewer(council):
    end = council.children[Col.entered_care].max()
    pop = care.care_population(council, end - pd.DateOffset(years=1), end)
    f = pop.flows["values"]
    word = pop.summary().finding("population.in_care").word
    assert word == ("rose" if f["end"] > f["start"] else "fell")
    # swap the two dates' counts: the word flips
    pop.flows = {**pop.flows, "values": {**f, "start": f["end"], "end": f["start"]}}
    flipped = pop.summary().finding("population.in_care").word
    assert {word, flipped} == {"rose", "fell"}


def test_costs_rose_or_fell(council):
    end = council.children[Col.entered_care].max()
    res = care.placement_costs(council, end, start=end - pd.DateOffset(years=1))
    per_child = res.total / res.n_children
    res.start_total = 0.5 * per_child * res.start_children
    assert res.summary().finding("costs.total").word == "rose"
    res.start_total = 2.0 * per_child * res.start_children
    assert res.summary().finding("costs.total").word == "fell"


def test_stability_rose_or_fell():
    counts = pd.DataFrame(
        {"placements": ["1", "2", "3 or more"], "this": [60, 20, 20], "previous": [80, 10, 10]}
    )
    res = care.PlacementStability(pd.Timestamp("2025-03-31"), counts)
    assert res.summary().finding("stability.three_plus").word == "rose"
    res.counts = counts.rename(columns={"this": "previous", "previous": "this"})
    assert res.summary().finding("stability.three_plus").word == "fell"
