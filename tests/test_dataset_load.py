"""Dataset.load's fast paths (issue 14): the link check and the assessment layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vc_eval.core import dataset as D
from vc_eval.core.factorized import isin
from vc_eval.core.schema import Col


@pytest.mark.parametrize("dtype", ["str", object, "category"])
def test_isin_equals_pandas_isin(dtype):
    """One isin for the package: pandas' answer, except that missing is never in."""
    values = pd.Series(["a", "b", None, "c", "d", "a"], dtype=dtype)
    for allowed in (["a", "c"], ["a", "c", None], [], ["z"]):
        expected = (values.isin(allowed) & values.notna()).tolist()
        for given in (
            pd.Series(allowed, dtype="str" if dtype == "str" else object),
            allowed,
            set(allowed),
            tuple(allowed),
            pd.Index(allowed, dtype=object),
        ):
            assert isin(values, given).tolist() == expected, (allowed, type(given))
    # the Arrow path falls back when an allowed value is not a string
    assert isin(pd.Series(["1", "2"], dtype="str"), [1, "2"]).tolist() == [False, True]


def test_check_links_names_the_row_of_an_unknown_child(bundled):
    a = bundled.ratings.copy()
    a.loc[7, Col.child_id] = "nobody"
    ds = D.Dataset(dict(bundled.tables), framework=bundled.framework)
    ds.tables["assessments"] = a
    bad = [v for v in ds.check_links() if v.rule == "child not in children table"]
    assert [(v.row, v.value) for v in bad] == [(8, "nobody")]


def test_conform_leaves_the_input_unchanged_and_converts_types():
    frame = pd.DataFrame({Col.council: ["x", "y"], "programme_start": ["2020-01-01", "2021-06-30"]})
    before = frame.copy()
    out = D.conform("councils", frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out["programme_start"].dtype == "datetime64[ns]"
    out.loc[0, Col.council] = "changed"
    assert frame.loc[0, Col.council] == "x"


def test_row_ids_equal_groupby_ngroup_in_any_row_order(bundled):
    from vc_eval.analysis.trajectories.domains import _row_ids

    keys = [Col.child_id, Col.assessment_date, Col.assessor_id, Col.age_at_assessment]
    a = bundled.assessments
    for frame in (a, a.sample(frac=1.0, random_state=3), a.iloc[::-1]):
        ref = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
        assert np.array_equal(_row_ids(frame, keys), ref)


def test_only_children_keeps_their_rows_and_renames_one_council(bundled):
    from vc_eval.core.schema import Col

    ds = bundled
    one = ds.subset(ds.council_names()[0])
    kids = sorted(one.children[Col.child_id])[:7]
    tiny = one.only_children(kids, council="Tiny")
    assert sorted(tiny.children[Col.child_id]) == kids
    for frame in (tiny.assessments, tiny.placements, tiny.outcomes):
        assert set(frame[Col.child_id]) <= set(kids)
    assert len(tiny.assessments) == one.assessments[Col.child_id].isin(kids).sum()
    assert set(tiny.children[Col.council]) == {"Tiny"} == set(tiny.councils[Col.council])
    assert tiny.validate() == []
    with pytest.raises(ValueError, match="one council"):
        ds.only_children(kids, council="Tiny")


def test_distinct_applied_equals_the_plain_function_row_for_row():
    import pandas as pd

    from vc_eval.core.factorized import distinct_applied

    values = pd.Series(["b", "a", None, "b", "c", None, "a"], index=[9, 8, 7, 6, 5, 4, 3])

    def same(got: np.ndarray, want: np.ndarray) -> None:  # missing values in the same rows
        pd.testing.assert_series_equal(pd.Series(got), pd.Series(want), check_dtype=False)

    codes, out = distinct_applied(values, lambda v: v.astype(str))
    same(out[codes], values.astype(str).to_numpy())
    assert len(out) == 4  # three strings and the missing value, each once
    types = {"a": 0, "b": 1}
    codes, out = distinct_applied(values, lambda v: v.map(types))
    same(out[codes], values.map(types).to_numpy())
