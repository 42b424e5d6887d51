"""The report section on strengths and the child's own view (sections_strengths.py)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import ASSESSMENTS, Col
from vc_eval.reporting import sections as S
from vc_eval.reporting import sections_strengths as SS
from vc_eval.synthetic.generator import SynthConfig, generate

PERIOD = {"period_start": "2024-04-01", "period_end": "2025-03-31"}


def _ctx(ds: Dataset, **kw):
    return S.build_context(data=ds, data_dir="x", council=ds.council_names()[0], **PERIOD, **kw)


def _without(ds: Dataset, *, strengths: bool = False, child: bool = False) -> Dataset:
    a = ds.ratings
    keep = a[Col.domain].notna()
    if strengths:
        keep &= ~a[Col.domain].astype(str).isin(ds.framework.strength_domains)
    if child:
        keep &= a[Col.rater_role] != "child"
    tables = dict(ds.tables)
    tables[ASSESSMENTS] = a[keep].reset_index(drop=True)
    return Dataset(tables, metadata=ds.metadata, framework=ds.framework)


@pytest.fixture(scope="module")
def bundled_section(bundled):
    return SS.strengths(_ctx(bundled))


def test_section_on_the_bundled_data(bundled_section):
    sm = bundled_section
    assert sm.status == "ok" and sm.key == "strengths"
    keys = {f.key for f in sm.findings}
    for k in (
        "strengths.change",
        "strengths.need_link",
        "strength_cost.need",
        "strength_cost.strengths",
        "strength_cost.beyond_need",
        "child_view.children",
        "child_view.differs_most",
        "child_view.icc_range",
    ):
        assert k in keys, k
    assert len(sm.figures) == 3 and all(f.alt for f in sm.figures)
    # every sentence stating a count of children declares it
    for f in sm.findings:
        for n in re.findall(r"(\d[\d,]*) children", f.text):
            assert int(n.replace(",", "")) in {c.value for c in f.counts}, f.text
    # the bundled children rate risk-taking about 12 points lower than practitioners
    top = sm.finding("child_view.differs_most")
    assert top.word == "lower" and "Risk-taking" in top.text
    assert sm.finding("strengths.need_link").word == "weaker"
    sm.close()


def test_903_only_data_say_so_in_one_line(bundled):
    one = bundled.subset(bundled.council_names()[0])
    tables = dict(one.tables)
    tables[ASSESSMENTS] = one.ratings.iloc[0:0]
    sm = SS.strengths(_ctx(Dataset(tables, metadata=one.metadata, framework=one.framework)))
    assert sm.status == "absent"
    assert len(sm.findings) == 1 and not sm.tables and not sm.figures
    assert "strength" in sm.findings[0].text and "rater role" in sm.findings[0].text


def test_needs_only_data_say_so_for_each_part(bundled):
    sm = SS.strengths(_ctx(_without(bundled, strengths=True)))
    assert sm.status == "ok"
    assert sm.finding("strengths.absent").text.startswith("The data hold no strength scores")
    assert "child_view.differs_most" in {f.key for f in sm.findings}
    sm = SS.strengths(_ctx(_without(bundled, child=True)))
    assert sm.finding("child_view.absent").text.startswith("The data hold no ratings")
    assert not any(f.key.startswith("child_view.") and f.counts for f in sm.findings)
    sm = SS.strengths(_ctx(_without(bundled, strengths=True, child=True)))
    assert sm.status == "absent" and len(sm.findings) == 1


def test_words_flip_with_the_data():
    base = SynthConfig(
        councils=1, seed=4711, sizes=(260,), adopters=(False,), strengths=True, child_ratings=True
    )
    up = {d: 8.0 for d in base.child_rating_bias}
    a = SS.strengths(_ctx(generate(base)))
    b = SS.strengths(_ctx(generate(replace(base, child_rating_bias=up, strength_need_corr=0.5))))
    assert a.finding("child_view.differs_most").word == "lower"
    assert b.finding("child_view.differs_most").word == "higher"
    assert a.finding("strengths.need_link").word == "weaker"
    assert b.finding("strengths.need_link").word == "stronger"


def test_small_council_draws_no_mark_for_fewer_than_6_children(bundled):
    from _report_data import TINY, tiny_dataset

    tiny = tiny_dataset(bundled, 14)
    ctx = S.build_context(data=tiny, data_dir="tiny", council=TINY, **PERIOD)
    # registered in the report, and through the page-level disclosure audit
    assert "strengths" in S.SECTION_FUNCTIONS
    sm = S.section(ctx, "strengths")
    cv = SS.child_view_result(ctx)
    if (cv.table["n_pairs"] < 6).all():
        assert not any("views differ" in f.alt for f in sm.figures)
    # tables: counts of 1-5 shown as c
    for t in sm.tables:
        for c, kind in t.kinds.items():
            if kind == "count":
                for v in t.frame[c]:
                    assert str(v) in ("c", "", "0") or int(str(v).replace(",", "")) >= 6
    sm.close()
