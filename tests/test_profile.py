"""Needs profile: prevalence, complexity, clusters and reliable change, by recovery."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from vc_eval.analysis import profile as P
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED, load_framework
from vc_eval.core.privacy import SUPPRESSED
from vc_eval.core.schema import Col
from vc_eval.plots import profile as plots

AT = pd.Timestamp("2024-03-31")
FW = load_framework()
BAND_RANGES = [(b.min, b.max) for b in FW.bands]


def make_dataset(children: pd.DataFrame, assessments: pd.DataFrame, placements=None) -> Dataset:
    """A dataset from the given frames, with the other tables minimal."""
    kids = children.copy()
    for col, default in (
        (Col.council, "Testmoor"),
        (Col.sex, "male"),
        (Col.ethnicity, "White"),
        (Col.entered_care, pd.Timestamp("2020-01-01")),
        (Col.left_care, pd.NaT),
        (Col.date_of_birth, pd.Timestamp("2012-06-01")),
    ):
        if col not in kids:
            kids[col] = default
    if placements is None:
        placements = pd.DataFrame(
            {
                Col.child_id: kids[Col.child_id],
                Col.start_date: kids[Col.entered_care],
                Col.end_date: pd.NaT,
                Col.placement_type: "in_house_foster",
                Col.provider_id: "P1",
                Col.weekly_cost: 600.0,
            }
        )
    a = assessments.copy()
    if Col.assessor_id not in a:
        a[Col.assessor_id] = "SW1"
    return Dataset.from_frames(
        councils=pd.DataFrame({Col.council: ["Testmoor"], Col.programme_start: [pd.NaT]}),
        children=kids,
        assessments=a,
        placements=placements,
        outcomes=pd.DataFrame(columns=[Col.child_id, Col.date, Col.measure, Col.value]),
        framework=FW,
    )


def scores_in_bands(rng, bands: np.ndarray) -> np.ndarray:
    """A score drawn uniformly inside each given band (1-based)."""
    lo = np.array([BAND_RANGES[b - 1][0] for b in bands])
    hi = np.array([BAND_RANGES[b - 1][1] for b in bands])
    return np.round(rng.uniform(lo, hi), 1)


# --------------------------------------------------------------------------
# Prevalence
# --------------------------------------------------------------------------

SHARES = {
    "attachment": [0.4, 0.3, 0.2, 0.1],
    "behaviour": [0.1, 0.2, 0.3, 0.4],
    "education": [0.25, 0.25, 0.25, 0.25],
}


@pytest.fixture(scope="module")
def prevalence_data():
    """1,000 children in care on AT with known band shares per domain.

    Each child also has an older assessment in the opposite band (must be
    ignored: the latest counts) and one after AT (ignored); 50 children who
    left care before AT are assessed too (not in the population).
    """
    rng = np.random.default_rng(1)
    n = 1000
    ids = [f"K{i:04d}" for i in range(n)]
    left = [f"L{i:03d}" for i in range(50)]
    recs = []
    drawn = {}
    latest_date = AT - pd.to_timedelta(rng.integers(0, 150, n), unit="D")
    for dom, p in SHARES.items():
        bands = rng.choice([1, 2, 3, 4], size=n, p=p)
        drawn[dom] = np.bincount(bands, minlength=5)[1:]
        latest = scores_in_bands(rng, bands)
        old = scores_in_bands(rng, 5 - bands)
        future = scores_in_bands(rng, np.full(n, 4))
        for i in range(n):
            recs.append((ids[i], latest_date[i], dom, latest[i]))
            recs.append((ids[i], pd.Timestamp("2022-01-01"), dom, old[i]))
            recs.append((ids[i], AT + pd.Timedelta(days=30), dom, future[i]))
        for k in left:
            recs.append((k, pd.Timestamp("2023-01-01"), dom, 95.0))
    a = pd.DataFrame(recs, columns=[Col.child_id, Col.assessment_date, Col.domain, Col.score])
    kids = pd.DataFrame({Col.child_id: ids + left})
    kids[Col.left_care] = [pd.NaT] * n + [pd.Timestamp("2023-06-01")] * len(left)
    return make_dataset(kids, a), drawn


def test_prevalence_recovers_known_band_shares(prevalence_data):
    ds, drawn = prevalence_data
    res = P.prevalence(ds, at=AT)
    assert res.snapshot.n_in_care == 1000 and res.snapshot.n_assessed == 1000
    t = res.table.set_index(["domain", "band"])
    for dom, p in SHARES.items():
        counts = t.loc[dom, "n"].to_numpy()
        # Exactly the bands drawn for the latest assessments...
        np.testing.assert_array_equal(counts, drawn[dom])
        # ...and within 5 points (about 3 binomial SEs) of the true shares.
        np.testing.assert_allclose(t.loc[dom, "percent"].to_numpy(), 100 * np.array(p), atol=5)
        assert t.loc[dom, "percent"].sum() == pytest.approx(100.0)


def test_prevalence_period_and_staleness(prevalence_data):
    ds, _ = prevalence_data
    # Over a period that contains only the future assessments, all are band 4.
    res = P.prevalence(ds, period=(AT + pd.Timedelta(days=1), AT + pd.Timedelta(days=60)))
    t = res.table
    assert (t.loc[t["band"] == 4, "percent"] == 100).all()
    # Ignoring assessments older than 1 day leaves (almost) nobody.
    stale = P.latest_scores(ds, at=AT, max_age_days=0)
    assert stale.n_assessed < 50


def test_prevalence_safe_table_hides_small_counts():
    rng = np.random.default_rng(5)
    n = 40
    bands = np.r_[[1] * 20, [2] * 15, [3] * 3, [4] * 2]
    a = pd.DataFrame(
        {
            Col.child_id: [f"K{i}" for i in range(n)],
            Col.assessment_date: AT,
            Col.domain: "attachment",
            Col.score: scores_in_bands(rng, bands),
        }
    )
    ds = make_dataset(pd.DataFrame({Col.child_id: a[Col.child_id]}), a)
    res = P.prevalence(ds, at=AT)
    shown = res.safe_table().table
    assert shown["n"].tolist() == ["20", "15", "c", "c"]
    assert shown["percent"].tolist() == ["50", "38", "c", "c"]
    ax = plots.plot_prevalence(res)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count(SUPPRESSED) == 2 and "50%" in texts
    assert not any(t in texts for t in ("8%", "5%"))  # 3/40 and 2/40 not drawn


# --------------------------------------------------------------------------
# Complexity
# --------------------------------------------------------------------------


def tiny_complexity_dataset() -> Dataset:
    doms = ["attachment", "behaviour", "education"]
    scores = {
        "A": (80, 60, 10),  # bands 4, 3, 1 -> 2
        "B": (50, 51, 75.5),  # bands 2, 3, 4 -> 2
        "C": (0, 25, 25.5),  # bands 1, 1, 2 -> 0
        "D": (100, 76, 51),  # bands 4, 4, 3 -> 3
    }
    recs = [
        (c, AT - pd.Timedelta(days=10), d, s)
        for c, vals in scores.items()
        for d, s in zip(doms, vals, strict=True)
    ]
    a = pd.DataFrame(recs, columns=[Col.child_id, Col.assessment_date, Col.domain, Col.score])
    kids = pd.DataFrame(
        {
            Col.child_id: list("ABCD"),
            Col.sex: ["female", "male", "male", "female"],
            Col.date_of_birth: [
                AT - pd.Timedelta(days=int(y * 365.25)) for y in (0.5, 4.9, 10.2, 17)
            ],
            Col.entered_care: pd.Timestamp("2023-01-01"),
        }
    )
    t = pd.Timestamp
    placements = pd.DataFrame(
        {
            Col.child_id: ["A", "B", "C", "D", "D"],
            Col.start_date: [
                t("2023-01-01"),
                t("2023-01-01"),
                t("2023-01-01"),
                t("2023-01-01"),
                t("2024-01-01"),
            ],
            Col.end_date: [pd.NaT, t("2024-01-01"), pd.NaT, t("2024-01-01"), pd.NaT],
            Col.placement_type: [
                "in_house_foster",
                "ifa_foster",
                "childrens_home",
                "childrens_home",
                "supported_accommodation",
            ],
            Col.provider_id: "P",
            Col.weekly_cost: 100.0,
        }
    )
    return make_dataset(kids, a, placements)


def test_complexity_counts_exact_on_tiny_example():
    res = P.complexity(tiny_complexity_dataset(), at=AT)
    per = res.per_child.set_index(Col.child_id)
    assert per["complexity"].to_dict() == {"A": 2, "B": 2, "C": 0, "D": 3}
    assert res.distribution["n"].tolist() == [1, 0, 2, 1]
    assert res.distribution["complexity"].tolist() == [0, 1, 2, 3]
    age = res.crosstab("age_group")
    assert list(age.index) == ["under 1", "1-4", "5-9", "10-15", "16+"]
    assert age.loc["under 1", "2"] == 1 and age.loc["16+", "3"] == 1 and age.loc["5-9"].sum() == 0
    place = res.by["placement_type"].query("n > 0").set_index("group")["complexity"].to_dict()
    assert place == {
        "in_house_foster": 2,
        "childrens_home": 0,
        "supported_accommodation": 3,
        P.NO_PLACEMENT: 2,
    }
    means = res.means["sex"].set_index("group")
    assert means.loc["female", "mean"] == 2.5 and means.loc["male", "n"] == 2
    # Shown: every count here is 1-5 or a true zero.
    shown = res.safe_table("sex").table
    assert set(shown.to_numpy().ravel()) <= {SUPPRESSED, "0"}
    assert (res.safe_means("sex").table["mean"] == SUPPRESSED).all()
    ax = plots.plot_complexity(res)
    assert [p.get_height() for p in ax.patches] == [0.0]  # only the true zero is drawn
    assert sum(t.get_text() == SUPPRESSED for t in ax.texts) == 3  # level 1 is a true zero


def test_complexity_top_code_merges_levels():
    res = P.complexity(tiny_complexity_dataset(), at=AT)
    tab = res.crosstab("sex", top_code=2)
    assert list(tab.columns) == ["0", "1", "2+"]
    assert tab.loc["female", "2+"] == 2


# --------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------


def separated_clusters(rng, sizes=(300, 200, 100)):
    doms = FW.need_domains
    centres = np.full((3, len(doms)), 35.0)
    centres[1, [2, 3]] = 75.0  # emotional health, behaviour
    centres[2, [10, 11]] = 80.0  # living skills, adulthood
    truth = np.repeat(np.arange(3), sizes)
    x = centres[truth] + rng.normal(0, 5, (truth.size, len(doms)))
    frame = pd.DataFrame(np.clip(x, 0, 100), columns=doms)
    frame[Col.child_id] = [f"K{i}" for i in range(truth.size)]
    return frame, truth


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_clusters_recovered_when_well_separated(rng, method):
    frame, truth = separated_clusters(rng)
    res = P.cluster_scores(frame, FW.need_domains, method=method, seed=3, framework=FW)
    assert res.k == 3
    assert adjusted_rand_score(truth, res.assignments["cluster"]) > 0.9
    assert res.sizes["n"].tolist() == [300, 200, 100]  # numbered by size
    assert "Emotional" in res.sizes.loc[1, "label"] and "Behaviour" in res.sizes.loc[1, "label"]
    assert "living skills" in res.sizes.loc[2, "label"].lower()
    again = P.cluster_scores(frame, FW.need_domains, method=method, seed=3, framework=FW)
    pd.testing.assert_frame_equal(res.assignments, again.assignments)
    prof = res.profiles.query("cluster == 2 and domain == 'behaviour'")["mean"].item()
    assert prof == pytest.approx(75, abs=1.5)


def test_clusters_given_k_and_small_clusters_hidden(rng):
    frame, _ = separated_clusters(rng, sizes=(200, 100, 4))
    res = P.cluster_scores(frame, FW.need_domains, k=3, seed=0, framework=FW)
    assert res.selection.empty and res.k == 3
    shown = res.safe_table().table
    assert shown["n"].iloc[-1] == SUPPRESSED
    prof = res.safe_profiles()
    assert (prof.iloc[-1, 1:] == SUPPRESSED).all() and prof.iloc[0, 1] != SUPPRESSED
    ax = plots.plot_cluster_profiles(res)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3  # two clusters drawn + all children; the cluster of 4 left out


# --------------------------------------------------------------------------
# Reliable change
# --------------------------------------------------------------------------


def test_reliable_change_criterion():
    sem = 5.0  # SE_diff = 7.07, threshold 13.86 points
    first = np.array([50.0, 50, 50, 50, 50])
    latest = np.array([36.0, 37, 64, 63, np.nan])
    rci, cat = P.reliable_change(first, latest, sem)
    assert rci[0] == pytest.approx(-14 / (np.sqrt(2) * 5))
    assert cat.tolist() == [
        "improved",
        "no reliable change",
        "deteriorated",
        "no reliable change",
        "",
    ]
    _, cat = P.reliable_change(first[:3], latest[:3], sem, higher_is_worse=False)
    assert cat.tolist() == ["deteriorated", "no reliable change", "improved"]


def test_need_change_classifies_constructed_change():
    """SEM estimated from double-scored pairs; known true changes classified."""
    rng = np.random.default_rng(8)
    sd_error = 5.0
    n = 600
    recs = []
    changed = np.arange(n) < n // 2  # first half: true change -30
    for i in range(n):
        cid = f"K{i}"
        true0 = rng.uniform(30, 70)
        true1 = true0 - 30 if changed[i] else true0
        d0 = pd.Timestamp("2022-01-01") + pd.Timedelta(days=int(rng.integers(0, 60)))
        # first review, scored twice (different assessors, 7 days apart)
        recs.append((cid, d0, "SW1", "attachment", true0 + rng.normal(0, sd_error)))
        recs.append(
            (cid, d0 + pd.Timedelta(days=7), "SW2", "attachment", true0 + rng.normal(0, sd_error))
        )
        recs.append(
            (cid, d0 + pd.Timedelta(days=400), "SW3", "attachment", true1 + rng.normal(0, sd_error))
        )
    a = pd.DataFrame(
        recs, columns=[Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain, Col.score]
    )
    a[Col.score] = a[Col.score].clip(0, 100)
    ds = make_dataset(pd.DataFrame({Col.child_id: [f"K{i}" for i in range(n)]}), a)
    res = P.need_change(ds, include_total=False)
    err = res.error.set_index("domain").loc["attachment"]
    assert err["n_pairs"] == n and err["method"] == "double-scored pairs"
    assert err["sem"] == pytest.approx(sd_error, rel=0.1)
    per = res.per_child.set_index(Col.child_id)
    cat = per.loc[[f"K{i}" for i in range(n)], "category"].to_numpy()
    assert (per["first_date"] < per["latest_date"]).all()
    # True change -30 against SE_diff ~7: almost all reliably improved.
    assert (cat[changed] == "improved").mean() > 0.95
    # No true change: about 95% "no reliable change" (5% false alarms).
    assert 0.90 < (cat[~changed] == "no reliable change").mean() < 0.99
    assert "pairs of scorings" in res.method_note
    shown = res.safe_table().table
    assert shown["n"].str.match(r"^(c|\d[\d,]*)$").all()


def test_need_change_uses_given_sem_without_pairs():
    recs = []
    for i in range(10):
        recs.append((f"K{i}", pd.Timestamp("2022-01-01"), "attachment", 60.0))
        recs.append((f"K{i}", pd.Timestamp("2023-01-01"), "attachment", 60.0 - 3 * i))
    a = pd.DataFrame(recs, columns=[Col.child_id, Col.assessment_date, Col.domain, Col.score])
    ds = make_dataset(pd.DataFrame({Col.child_id: [f"K{i}" for i in range(10)]}), a)
    no_sem = P.need_change(ds, include_total=False)
    assert (no_sem.per_child["category"] == "").all()
    assert "not assessed" in no_sem.method_note
    res = P.need_change(ds, sem=5.0, include_total=False)
    cats = res.per_child.set_index(Col.child_id)["category"]
    # threshold 13.86: changes of 15, 18, ... points are reliable improvements
    assert (cats[[f"K{i}" for i in range(5)]] == "no reliable change").all()
    assert (cats[[f"K{i}" for i in range(5, 10)]] == "improved").all()
    assert "supplied" in res.method_note


# --------------------------------------------------------------------------
# Bundled synthetic data
# --------------------------------------------------------------------------


def test_bundled_profile_smoke_and_sanity(bundled):
    prof = P.needs_profile(bundled, seed=1)
    prev = prof.prevalence.table
    sums = prev.groupby("domain")["percent"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 100.0)
    assert set(prev["domain"]) == set(bundled.framework.need_domains)
    n = prof.prevalence.snapshot.n_assessed
    assert 0.9 * prof.prevalence.snapshot.n_in_care <= n <= prof.prevalence.snapshot.n_in_care
    cx = prof.complexity
    assert cx.distribution["n"].sum() == n
    for g in ("age_group", "sex", "placement_type"):
        assert cx.crosstab(g).to_numpy().sum() == n
    assert prof.clusters is not None and 2 <= prof.clusters.k <= 6
    assert prof.clusters.sizes["n"].sum() + prof.clusters.n_excluded == n
    # Reliable change: SEM from double-scored pairs close to the generator's
    # error (assessor + residual noise) for each need domain.
    err = prof.change.error.set_index("domain")
    truth = bundled.truth["domains"]
    for d in bundled.framework.need_domains:
        expected = np.hypot(truth[d]["noise_sd"], truth[d]["assessor_sd"])
        assert err.loc[d, "sem"] == pytest.approx(expected, rel=0.12)
    assert err.loc[TOTAL_NEED, "sem"] < err["sem"].drop(TOTAL_NEED).min()
    # Every shown table: no count of 1-5, no identifiers.
    tables = [
        prof.prevalence.safe_table(),
        cx.safe_table(),
        cx.safe_table("placement_type"),
        prof.clusters.safe_table(),
        prof.change.safe_table(),
    ]
    for st in tables:
        frame = st.table
        assert "child_id" not in frame.columns
        raw = st.raw.to_numpy(dtype=float).ravel()
        vals = st.table[st.raw.columns].to_numpy().ravel()
        small = (raw >= 1) & (raw <= 5)
        assert (vals[small] == SUPPRESSED).all()
    for text in (prof.summary().to_text(), prof.change.summary().to_text()):
        assert "C0" not in text  # no child identifiers in summaries
    fig, axes = plt.subplots(2, 2)
    plots.plot_prevalence(prof.prevalence, ax=axes[0, 0])
    plots.plot_complexity(cx, ax=axes[0, 1])
    plots.plot_cluster_profiles(prof.clusters, ax=axes[1, 0])
    plots.plot_reliable_change(prof.change, ax=axes[1, 1])


def test_bundled_profile_is_deterministic(bundled):
    one = P.clusters(bundled, seed=4)
    two = P.clusters(bundled, seed=4)
    pd.testing.assert_frame_equal(one.sizes, two.sizes)
    pd.testing.assert_frame_equal(one.assignments, two.assignments)


def test_prevalence_counts_of_several_domains_never_contradict_the_total(bundled):
    """Each domain's band is its own variable: three domains' high-need counts may add up to
    more than the children assessed (the national audit found a council where they did)."""
    from dataclasses import replace

    from vc_eval.core import privacy
    from vc_eval.core.summary import Summary

    res = P.prevalence(bundled)
    sm = res.summary()
    most, assessed = sm.finding("prevalence.most"), sm.finding("prevalence.assessed")
    variables = [w[0] for c in most.counts for w in (*c.where, *c.any_of)]
    assert len(variables) == len(set(variables)) == len(most.counts) > 1
    n = assessed.counts[0].value
    # the same statements with counts adding up to more than n: no contradiction
    big = tuple(replace(c, value=n - 6) for c in most.counts)
    assert sum(c.value for c in big) > n
    page = Summary("x", findings=[assessed, replace(most, counts=big)])
    assert privacy.audit_page([page]).ok


def test_prevalence_sentence_is_linked_to_its_table_row(bundled):
    """The table's rows are variables (``row_variable``) named as the sentence's counts
    are: the high-need count of a domain is the sum of its row's two top cells."""
    from vc_eval.core import privacy

    res = P.prevalence(bundled)
    sm = res.summary()
    table = sm.tables[0]
    assert table.row_variable == P.BAND_VARIABLE and table.implied
    entries, _ = privacy._page_entries([sm], None)
    cells = {e.where: e.value for e in entries if e.source[0] == "table"}
    for c in sm.finding("prevalence.most").counts:
        ((var, values),) = c.any_of
        assert sum(cells[((var, v),)] for v in values) == c.value
    assert privacy.audit_page([sm], fix=False).ok
    # a sentence stating the top two bands of a domain whose top cell the table hid
    # would be caught: here, one that differs from the table's cells by 3
    c = sm.finding("prevalence.most").counts[0]
    from dataclasses import replace

    wrong = replace(sm.finding("prevalence.most"), counts=(replace(c, value=c.value + 3),))
    bad = replace(sm, findings=[wrong])
    with pytest.raises(privacy.DisclosureError):  # contradicts the row: the two are linked
        privacy.audit_page([bad], fix=False)
