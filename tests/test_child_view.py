"""The child's own view: rater_role in the data model, generator truth, recovery of the bias."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from vc_eval.analysis.child_view import child_view_agreement
from vc_eval.core.dataset import conform
from vc_eval.core.schema import (
    ASSESSMENTS,
    DEFAULT_RATER_ROLE,
    Col,
    rater_roles,
    validate_table,
)
from vc_eval.synthetic.generator import SynthConfig, generate

#: Largest error (points) allowed on each domain's child-minus-practitioner bias.
#: With ~450 children per domain the standard error is about 0.55 points, and the
#: practitioners' own assessor effects (SD 3, about 20 assessors) shift every
#: domain together by about 0.7: 3 points is more than three SDs of both.
TOLERANCE = 3.0

CFG = SynthConfig(councils=1, seed=515, sizes=(300,), adopters=(False,), child_ratings=True)


@pytest.fixture(scope="module")
def with_child():
    return generate(CFG)


def test_bias_is_recovered(with_child):
    res = child_view_agreement(with_child.ratings, framework=with_child.framework)
    truth = with_child.truth["child_view"]["bias"]
    t = res.table.set_index("domain")
    assert set(t.index) == set(truth)
    err = (t["mean_diff"] - pd.Series(truth)).abs()
    assert (err < TOLERANCE).all(), err
    assert (t["n_pairs"] >= 300).all()
    # the noisier child's rating shows as agreement well below 1, but not none
    assert t["icc"].between(0.4, 0.9).all()
    s = res.summary()
    top = res.differs_most()
    assert abs(truth[top["domain"]]) >= 9  # risk-taking or behaviour, the large biases
    assert s.finding("child_view.differs_most").word == "lower"
    assert s.finding("child_view.children").counts[0].universe == "children_with_own_rating"


def test_null_and_flipped_bias():
    zero = {d: 0.0 for d in CFG.child_rating_bias}
    ds = generate(replace(CFG, seed=516, child_rating_bias=zero))
    res = child_view_agreement(ds.ratings, framework=ds.framework)
    assert (res.table["mean_diff"].abs() < TOLERANCE).all()
    up = {d: 10.0 for d in CFG.child_rating_bias}
    ds = generate(replace(CFG, seed=517, child_rating_bias=up))
    s = child_view_agreement(ds.ratings, framework=ds.framework).summary()
    assert s.finding("child_view.differs_most").word == "higher"


def test_child_ratings_are_opt_in_and_leave_practitioner_data_alone(with_child):
    plain = generate(replace(CFG, child_ratings=False))
    assert Col.rater_role not in plain.assessments
    assert "child_view" not in plain.truth
    prac = with_child.ratings[with_child.ratings[Col.rater_role] != "child"]
    cols = [Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain, Col.score]
    a = plain.assessments[cols].astype({Col.child_id: str, Col.assessor_id: str, Col.domain: str})
    b = prac[cols].astype({Col.child_id: str, Col.assessor_id: str, Col.domain: str})
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert with_child.validate() == []
    # children too young to rate do not
    own = with_child.ratings[with_child.ratings[Col.rater_role] == "child"]
    assert own[Col.age_at_assessment].min() >= CFG.child_rating_min_age


def test_rater_role_is_optional_and_checked():
    base = pd.DataFrame(
        {
            Col.child_id: ["A", "A"],
            Col.assessment_date: pd.to_datetime(["2024-01-01", "2024-01-01"]),
            Col.assessor_id: ["SW1", "SELF"],
            Col.domain: ["behaviour", "behaviour"],
            Col.score: [40.0, 30.0],
        }
    )
    assert validate_table(ASSESSMENTS, base) == []
    assert (rater_roles(base) == DEFAULT_RATER_ROLE).all()
    blank = base.assign(**{Col.rater_role: [None, "child"]})
    assert validate_table(ASSESSMENTS, blank) == []
    assert list(conform(ASSESSMENTS, blank)[Col.rater_role]) == [DEFAULT_RATER_ROLE, "child"]
    bad = base.assign(**{Col.rater_role: ["social_worker", "neighbour"]})
    v = validate_table(ASSESSMENTS, bad, file="assessments.csv")
    assert len(v) == 1 and v[0].column == Col.rater_role and v[0].row == 2


def test_no_child_ratings_says_so(bundled):
    # practitioners' scores only (the bundled data hold children's ratings too)
    res = child_view_agreement(bundled.assessments, framework=bundled.framework)
    s = res.summary()
    assert s.status == "insufficient"
    assert "Too few children" in s.finding("child_view.absent").text


def test_plot(with_child):
    res = child_view_agreement(with_child.ratings, framework=with_child.framework)
    ax = res.plot()
    assert len(ax.get_yticks()) == 12
    assert np.isfinite(res.to_frame()["icc"]).all()


def test_practitioner_analyses_do_not_see_the_childs_ratings(with_child):
    """``Dataset.assessments`` is practitioners' scores; ``ratings`` every row."""
    a, r = with_child.assessments, with_child.ratings
    assert (a[Col.rater_role] != "child").all()
    assert (r[Col.rater_role] == "child").any()
    assert len(r) - len(a) == int((r[Col.rater_role] == "child").sum())
    # subsets and cut-offs keep the child's ratings in the stored table
    c = with_child.council_names()[0]
    sub = with_child.subset(c).scores_until("2024-03-31")
    assert (sub.ratings[Col.rater_role] == "child").any()
    assert not (sub.assessments[Col.rater_role] == "child").any()
    # total need and the wide scores come from practitioners only
    assert "SELF" not in set(with_child.scores_wide()[Col.assessor_id].astype(str))
