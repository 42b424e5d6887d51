"""Assessor agreement: ICC against published values, recovery and coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vc_eval.analysis.agreement import agreement, find_pairs, icc, icc_matrix, limits_of_agreement
from vc_eval.core.schema import DAYS_PER_YEAR, Col

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


def test_icc_matches_shrout_fleiss_and_r_psych():
    # Published: ICC(1,1) = .17, ICC(2,1) = .29; CIs as printed by R psych::ICC
    # (ICC1: -0.133 to 0.72, F = 1.8 on 5, 18; ICC2: 0.019 to 0.76, F = 11 on 5, 15).
    one = icc_matrix(SHROUT_FLEISS, model="oneway")
    assert one["icc"] == pytest.approx(0.166, abs=0.001)
    assert one["ci_lower"] == pytest.approx(-0.133, abs=0.001)
    assert one["ci_upper"] == pytest.approx(0.72, abs=0.005)
    assert one["F"] == pytest.approx(1.795, abs=0.001) and (one["df1"], one["df2"]) == (5, 18)
    assert one["p"] == pytest.approx(0.165, abs=0.001)
    two = icc_matrix(SHROUT_FLEISS, model="twoway")
    assert two["icc"] == pytest.approx(0.290, abs=0.001)
    assert two["ci_lower"] == pytest.approx(0.019, abs=0.001)
    assert two["ci_upper"] == pytest.approx(0.76, abs=0.005)
    assert two["F"] == pytest.approx(11.03, abs=0.01) and two["p"] == pytest.approx(
        1.3e-4, abs=1e-5
    )


def test_long_form_icc_equals_matrix_icc():
    long = pd.DataFrame(SHROUT_FLEISS).stack().rename("y").reset_index()
    long.columns = ["target", "judge", "y"]
    s = icc(long, targets="target", raters="judge", ratings="y", model="twoway")
    assert s["icc"] == pytest.approx(icc_matrix(SHROUT_FLEISS, model="twoway")["icc"])


def simulate_pairs(rng, n, sd_between, sd_error):
    true = rng.normal(50, sd_between, n)
    return true[:, None] + rng.normal(0, sd_error, (n, 2))


def test_icc_recovers_known_variance_components(rng):
    sd_b, sd_e = 10.0, 5.0
    truth = sd_b**2 / (sd_b**2 + sd_e**2)  # 0.8
    y = simulate_pairs(rng, 1000, sd_b, sd_e)
    res = icc_matrix(y)
    assert abs(res["icc"] - truth) < 0.03
    assert res["ci_lower"] < truth < res["ci_upper"]
    loa = limits_of_agreement(y[:, 0], y[:, 1])
    assert loa["sem"] == pytest.approx(sd_e, rel=0.06)
    assert abs(loa["mean_diff"]) < 0.6
    assert loa["loa_upper"] == pytest.approx(1.96 * np.sqrt(2) * sd_e, rel=0.08)


@pytest.mark.parametrize("model", ["oneway", "twoway"])
def test_icc_interval_coverage(model):
    """95% intervals cover the true ICC in about 95% of 400 small studies."""
    rng = np.random.default_rng(2024)
    sd_b, sd_e = 8.0, 6.0
    truth = sd_b**2 / (sd_b**2 + sd_e**2)
    covered = 0
    n_sim = 400
    for _ in range(n_sim):
        y = simulate_pairs(rng, 40, sd_b, sd_e)
        res = icc_matrix(y, model=model)
        covered += res["ci_lower"] <= truth <= res["ci_upper"]
    assert 0.91 <= covered / n_sim <= 0.985


def test_find_pairs_rules():
    d = pd.Timestamp("2024-01-01")
    rows = [
        ("A", 0, "X"),
        ("A", 10, "Y"),  # pair: different assessor within 14 days
        ("B", 0, "X"),
        ("B", 5, "X"),  # same assessor: not a pair
        ("C", 0, "X"),
        ("C", 20, "Y"),  # too far apart
        ("D", 0, "X"),
        ("D", 3, "Y"),
        ("D", 6, "Z"),  # each scoring in one pair only
        ("E", 0, "X"),
        ("E", 0, "Y"),  # same day counts
    ]
    recs = []
    for child, day, who in rows:
        for dom, score in (("dom1", 10.0 + day), ("dom2", 20.0)):
            recs.append((child, d + pd.Timedelta(days=day), who, dom, score))
    a = pd.DataFrame(
        recs, columns=[Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain, Col.score]
    )
    a = a[~((a[Col.child_id] == "E") & (a[Col.assessor_id] == "Y") & (a[Col.domain] == "dom2"))]
    p = find_pairs(a)
    got = sorted({(r[Col.child_id], r["assessor_1"], r["assessor_2"]) for _, r in p.iterrows()})
    assert got == [("A", "X", "Y"), ("D", "X", "Y"), ("E", "X", "Y")]
    assert len(p[p[Col.child_id] == "E"]) == 1  # dom2 not scored twice
    a_pair = p[(p[Col.child_id] == "A") & (p[Col.domain] == "dom1")].iloc[0]
    assert (a_pair["score_1"], a_pair["score_2"]) == (10.0, 20.0)
    assert find_pairs(a, window_days=25)[Col.child_id].nunique() == 4  # C joins


def simulate_assessments(rng, n_children=500, sd_b=(12.0, 6.0), sd_assessor=3.0, sd_noise=6.0):
    """Two domains; every child has a review and a second scoring 1-14 days later."""
    n_assessors = 60
    a_eff = rng.normal(0, sd_assessor, n_assessors)
    recs = []
    start = pd.Timestamp("2023-01-01")
    for i in range(n_children):
        true = rng.normal(40, sd_b)
        day = int(rng.integers(0, 300))
        who = rng.choice(n_assessors, 2, replace=False)
        for k, gap in enumerate((0, int(rng.integers(1, 15)))):
            for j, dom in enumerate(("d1", "d2")):
                score = true[j] + a_eff[who[k]] + rng.normal(0, sd_noise)
                recs.append(
                    (f"c{i}", start + pd.Timedelta(days=day + gap), f"a{who[k]}", dom, score)
                )
        # A later review (by the first assessor) is not part of any pair.
        for j, dom in enumerate(("d1", "d2")):
            recs.append((f"c{i}", start + pd.Timedelta(days=day + 200), f"a{who[0]}", dom, true[j]))
    return pd.DataFrame(
        recs, columns=[Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain, Col.score]
    )


def test_agreement_recovers_icc_and_sem_per_domain(rng):
    sd_b, sd_a, sd_e = (12.0, 6.0), 3.0, 6.0
    a = simulate_assessments(rng, sd_b=sd_b, sd_assessor=sd_a, sd_noise=sd_e)
    res = agreement(a)
    t = res.table.set_index("domain")
    assert list(t.index) == ["d1", "d2"]
    assert (t["n_pairs"] == 500).all()
    err = sd_a**2 + sd_e**2
    for dom, b in zip(("d1", "d2"), sd_b, strict=True):
        truth = b**2 / (b**2 + err)
        assert abs(t.loc[dom, "icc"] - truth) < 0.05, (dom, t.loc[dom, "icc"], truth)
        assert t.loc[dom, "ci_lower"] < truth < t.loc[dom, "ci_upper"]
        assert t.loc[dom, "sem"] == pytest.approx(np.sqrt(err), rel=0.08)
    assert "ICC(1,1)" in res.summary()


def test_agreement_table_is_safe_to_show(rng):
    a = simulate_assessments(rng, n_children=4)
    res = agreement(a)
    assert res.table["icc"].isna().all()  # too few pairs to estimate
    shown = res.safe_table().table
    assert (shown["n_pairs"] == "c").all() and (shown["icc"] == "c").all()
    assert "child_id" not in shown.columns


def test_bundled_icc_close_to_value_implied_by_truth(bundled):
    """ICC(1,1) per domain against sigma_between^2 / (sigma_between^2 + error^2).

    Between-child variance at the ages of the pairs comes from the generator's
    truth (mean curve spread plus random intercept and slope); error is
    assessor plus residual noise.
    """
    from vc_eval.synthetic.generator import true_curve

    truth = bundled.truth
    res = agreement(bundled.assessments, framework=bundled.framework)
    t = res.table.set_index("domain")
    pairs = res.pairs.drop_duplicates("pair")
    dob = pairs[Col.child_id].map(bundled.children.set_index(Col.child_id)[Col.date_of_birth])
    age = ((pairs["date_1"] - dob).dt.days / DAYS_PER_YEAR).to_numpy()
    centred = age - truth["age_centre"]
    covered = 0
    for d in truth["need_domains"]:
        p = truth["domains"][d]
        between = true_curve(truth, d, age).var() + np.mean(
            p["sd_intercept"] ** 2
            + (p["sd_slope"] * centred) ** 2
            + 2 * p["corr"] * p["sd_intercept"] * p["sd_slope"] * centred
        )
        error = p["noise_sd"] ** 2 + p["assessor_sd"] ** 2
        implied = between / (between + error)
        assert abs(t.loc[d, "icc"] - implied) < 0.06, (d, t.loc[d, "icc"], implied)
        covered += t.loc[d, "ci_lower"] <= implied <= t.loc[d, "ci_upper"]
        assert t.loc[d, "sem"] == pytest.approx(np.sqrt(error), rel=0.12)
    assert covered >= len(truth["need_domains"]) - 2
    assert t.loc["total_need", "n_pairs"] > 100
