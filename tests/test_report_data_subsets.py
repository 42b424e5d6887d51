"""A report on whatever a council has: SSDA903 only, a subset of domains, needs without costs.

Built from the bundled data: the assessments table emptied (what a 903-only
import holds), or only 4 of the 12 domains kept.
"""

from __future__ import annotations

import pandas as pd
import pytest
from _report_data import identifiers, ids_found, small_count_cells

from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import ASSESSMENTS, PLACEMENTS, Col
from vc_eval.reporting import sections as S

NEEDS_SECTIONS = (
    "needs_profile",
    "trajectories",
    "need_change",
    "cost_need",
    "outcomes",
    "agreement",
)
PLACEMENT_SECTIONS = ("population", "costs", "stability")


def _variant(ds: Dataset, *, assessments=None, placements=None) -> Dataset:
    tables = dict(ds.tables)
    if assessments is not None:
        tables[ASSESSMENTS] = assessments.reset_index(drop=True)
    if placements is not None:
        tables[PLACEMENTS] = placements.reset_index(drop=True)
    return Dataset(tables, metadata=ds.metadata, framework=ds.framework)


@pytest.fixture(scope="module")
def only_903(bundled, tmp_path_factory) -> Dataset:
    """One council, no needs scores, saved and loaded back as an import would be."""
    one = bundled.subset(bundled.council_names()[1])
    ds = _variant(one, assessments=one.assessments.iloc[0:0])
    folder = tmp_path_factory.mktemp("only903") / "data"
    ds.save(folder)
    return Dataset.load(folder)


@pytest.fixture(scope="module")
def four_domains(bundled) -> Dataset:
    keep = bundled.framework.domain_ids[:4]
    a = bundled.assessments
    return _variant(bundled, assessments=a[a[Col.domain].isin(keep)])


def _page_text(page) -> str:
    parts = []
    for s in page:
        parts += [s.to_html(), *(f.alt for f in s.figures)]
    return "\n".join(parts)


@pytest.mark.parametrize("period", [{}, {"period_start": "2023-04-01", "period_end": "2024-03-31"}])
def test_903_only_report_renders_with_placement_sections(only_903, period):
    council = only_903.council_names()[0]
    ctx = S.build_context(data=only_903, data_dir="x", council=council, **period)
    if period:
        assert str(ctx.period_end.date()) == period["period_end"]
    else:  # the period comes from the data's own dates (no assessments to take it from)
        last = max(
            only_903.placements[Col.start_date].max(), only_903.children[Col.entered_care].max()
        )
        assert ctx.period_end == last.normalize()
    page = S.page(ctx)
    by = {s.key: s for s in page}
    for key in PLACEMENT_SECTIONS:
        assert by[key].status == "ok", (key, by[key].to_text())
    assert sum(len(by[k].figures) for k in PLACEMENT_SECTIONS) >= 2
    for key in NEEDS_SECTIONS:
        s = by[key]
        assert s.status == "absent"
        assert len(s.findings) == 1 and "needs scores" in s.findings[0].text
        assert not s.tables and not s.figures
    html = _page_text(page)
    assert "Traceback" not in html and "KeyError" not in html and "ValueError" not in html
    assert ids_found(html, identifiers(only_903)) == []
    assert small_count_cells(html) == []
    summary = by["summary"]
    assert any("for want of needs scores" in c for c in summary.caveats)
    assert S.headline(ctx)["numbers"]["children_in_care_end"] is not None
    assert "needs scores: none in the data" in S.key_figures(ctx)
    for s in page:
        s.close()


def test_four_domains_report_uses_the_domains_it_has(four_domains):
    fw = four_domains.framework
    ctx = S.build_context(
        data=four_domains, data_dir="x", council=four_domains.council_names()[0], domains="all"
    )
    assert ctx.domains == ["total_need", *fw.domain_ids[:4]]
    page = S.page(ctx)
    by = {s.key: s for s in page}
    for key in ("needs_profile", "trajectories", "need_change", "agreement"):
        assert by[key].status == "ok", (key, by[key].to_text())
    prof = by["needs_profile"]
    assert any("4 of the framework's 12 domains" in c for c in prof.caveats)
    shown = set(prof.tables[0].frame["Domain"])
    assert shown == {fw.label(d) for d in fw.domain_ids[:4]}
    traj = by["trajectories"].tables[0].frame["Domain"].tolist()
    assert len(traj) == 5
    # labels, never raw ids, for the domains without scores
    dq = " ".join(by["data_quality"].caveats)
    assert fw.label(fw.domain_ids[5]) in dq and fw.domain_ids[5] not in dq
    # whatever the other sections do with 4 domains, the page is made
    assert all(s.status in ("ok", "insufficient", "absent") for s in page)
    for s in page:
        s.close()


def test_needs_without_recorded_costs(bundled):
    one = bundled.subset(bundled.council_names()[0])
    pl = one.placements.copy()
    pl[Col.cost_imputed] = True
    ctx = S.build_context(data=_variant(one, placements=pl), data_dir="x", domains="none")
    costs = S.section(ctx, "costs")
    assert costs.status == "ok"
    assert any("estimate" in c for c in costs.caveats)
    pl[Col.weekly_cost] = float("nan")
    ctx = S.build_context(data=_variant(one, placements=pl), data_dir="x", domains="none")
    assert S.section(ctx, "costs").status == "absent"


def test_no_dates_at_all_is_a_clear_error(only_903):
    empty = only_903.placements.iloc[0:0]
    kids = only_903.children.copy()
    kids[Col.entered_care] = pd.NaT
    tables = dict(only_903.tables)
    tables[PLACEMENTS] = empty
    tables["children"] = kids
    ds = Dataset(tables, metadata=only_903.metadata, framework=only_903.framework)
    with pytest.raises(S.ReportInputError, match="period_end"):
        S.build_context(data=ds, data_dir="x")


def test_903_only_import_without_window_has_a_series_period(only_903):
    """An imported 903-only dataset has no synthetic window: the episodes give the period."""
    from vc_eval.analysis.impact.series import period_grid

    meta = {k: v for k, v in only_903.metadata.items() if k != "window"}
    ds = Dataset(dict(only_903.tables), metadata=meta, framework=only_903.framework)
    grid = period_grid(ds, end="2024-03-31")
    assert grid[-1] == pd.Timestamp("2024-03-01")
    assert grid[0] >= only_903.children[Col.entered_care].min()
