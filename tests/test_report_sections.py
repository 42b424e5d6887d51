"""Report sections computed without Papermill: privacy, parameters, provenance, determinism."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from _report_data import TINY, identifiers, ids_found, small_count_cells, tiny_dataset

from vc_eval.analysis.care import care_flows
from vc_eval.core import privacy
from vc_eval.core.provenance import collect, git_info, input_fingerprints
from vc_eval.core.schema import Col
from vc_eval.reporting import sections as S


@pytest.fixture(scope="module")
def ctx(bundled, bundled_dir):
    return S.build_context(
        data=bundled, data_dir=bundled_dir, council=bundled.council_names()[0], domains="total"
    )


@pytest.fixture(scope="module")
def tiny_ctx(bundled):
    return S.build_context(
        data=tiny_dataset(bundled), data_dir="tiny", council=TINY, domains="total"
    )


def _everything(ctx) -> list[S.Summary]:
    return S.page(ctx)


def _text_of(sections) -> str:
    parts = []
    for s in sections:
        parts.append(s.to_markdown())
        parts += [t.to_html() for t in s.tables]
        parts += [f.alt + " " + f.caption for f in s.figures]
        parts += s.caveats
    return "\n".join(parts)


def test_no_table_shows_a_count_of_1_to_5(ctx):
    secs = _everything(ctx)
    assert sum(len(s.tables) for s in secs) >= 5
    bad = [cell for s in secs for t in s.tables for cell in small_count_cells(t.to_html())]
    assert bad == []


def test_tiny_council_renders_with_small_cells_hidden(tiny_ctx):
    secs = _everything(tiny_ctx)
    html = "".join(t.to_html() for s in secs for t in s.tables)
    assert 'class="suppressed"' in html  # hidden cells are marked, not dropped
    assert small_count_cells(html) == []
    # children in care at the end are 1-5 per cell in this council: the count
    # by age and sex shows no inner cell
    pop = next(s for s in secs if s.key == "population")
    inner = pop.tables[0].frame.iloc[:-1, 1:-1].to_numpy().ravel()
    assert set(inner) <= {"c", "0"}


def test_tiny_council_flows_cannot_be_worked_out(tiny_ctx):
    f = care_flows(tiny_ctx.local.children, tiny_ctx.period_start, tiny_ctx.period_end)
    v, hidden = f["values"], f["hidden"]
    assert any(1 <= x <= 5 for x in v.values())  # the case this protects
    assert hidden["entered"] and hidden["left"]
    for k, x in v.items():
        assert hidden[k] or not 1 <= x <= 5
    pop = S.population(tiny_ctx)
    assert f"{v['left']} left" not in pop.to_text()


def test_no_identifier_reaches_any_section(ctx, bundled):
    ids = identifiers(bundled)
    assert len(ids) > 1000
    text = _text_of(_everything(ctx))
    assert ids_found(text, ids) == []


def test_tables_refuse_identifier_columns():
    frame = pd.DataFrame({Col.child_id: ["C1"], "n": [7]})
    with pytest.raises(privacy.DisclosureError):
        S.Table("t", frame)


def test_count_table_hides_small_counts_and_their_complements():
    counts = pd.DataFrame({"Girls": [3, 20, 30], "Boys": [12, 25, 40]}, index=["a", "b", "c"])
    t = S.count_table(counts, caption="x", label="Group")
    f = t.frame.set_index("Group")
    assert f.loc["a", "Girls"] == "c"
    # with row and column totals shown, one more cell in row a and column Girls must go
    assert f.loc["a", "Boys"] == "c" or f.loc["a", "Total"] == "c"
    assert (f["Girls"] == "c").sum() >= 2
    assert f.loc["Total", "Total"] == "130"
    html = t.to_html()
    assert 'data-kind="count"' in html and 'class="suppressed"' in html
    assert small_count_cells(html) == []


def test_no_module_dispatch_left():
    """The report calls its analyses directly: no importlib dispatch, no 'not yet available'."""
    import inspect

    src = inspect.getsource(S)
    assert "importlib" not in src and "unavailable" not in src
    assert not hasattr(S, "_module") and not hasattr(S, "MODULE_SECTIONS")


def test_headline_numbers_identical_on_rebuild(bundled):
    tiny = tiny_dataset(bundled, 40)

    def run():
        c = S.build_context(data=tiny, data_dir="tiny", council=TINY, domains="total", seed=7)
        return S.headline(c)

    a, b = run(), run()
    assert a == b
    assert a["numbers"]["children_in_care_end"] >= 6
    assert len(a["numbers"]) >= 8


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"council": "Atlantis"}, "council"),
        ({"comparison": "last_year"}, "comparison"),
        ({"engine": "lme4"}, "engine"),
        ({"period_end": "31/31/2024"}, "period_end"),
        ({"period_start": "2025-01-01", "period_end": "2024-01-01"}, "period_start"),
        ({"domains": "attachment,telepathy"}, "domains"),
    ],
)
def test_bad_parameters_are_named(bundled, kwargs, name):
    with pytest.raises(S.ReportInputError, match=name):
        S.build_context(data=bundled, data_dir="x", **kwargs)


def test_period_defaults_to_twelve_months_to_latest_date(ctx):
    last = max(
        ctx.data.assessments[Col.assessment_date].max(), ctx.data.placements[Col.start_date].max()
    )
    assert ctx.period_end == last.normalize()
    assert ctx.period_start == ctx.period_end - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    prev_start, prev_end = ctx.previous_period
    assert prev_end == ctx.period_start - pd.Timedelta(days=1)


def test_provenance_fingerprints_follow_file_content(bundled_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(bundled_dir, data)
    before = input_fingerprints(data)
    assert "children.parquet" in before and len(before["children.parquet"]) == 64
    with open(data / "outcomes.parquet", "ab") as fh:
        fh.write(b"\0")
    after = input_fingerprints(data)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"outcomes.parquet"}


def test_provenance_records_parameters_framework_packages(ctx):
    prov = collect(ctx.parameters, data_dir=ctx.data_dir, dataset=ctx.data)
    assert prov.parameters["council"] == ctx.council
    assert prov.framework["id"] == ctx.framework.id
    assert prov.framework["sha256"] == ctx.framework.sha256
    assert re.fullmatch(r"\d+\.\d+.*", prov.packages["pandas"])
    assert prov.dataset_fingerprint == ctx.data.fingerprint()
    frame = prov.to_frame()
    assert {"parameter", "input file (sha256)", "framework", "package", "code"} <= set(
        frame["group"]
    )


def test_git_info_outside_a_checkout(tmp_path):
    assert git_info(tmp_path)["git_commit"] is None


def test_trajectory_peaks_of_total_need_near_the_truth(ctx, bundled):
    """The report's peak ages of total need sit near the generator's (within 1 year)."""
    from vc_eval.core.framework import TOTAL_NEED
    from vc_eval.synthetic.generator import find_peaks, true_curve

    if bundled.truth is None:
        pytest.skip("bundled data without truth.json")
    ages = np.linspace(1, 17, 801)
    curves = [true_curve(bundled.truth, d, ages) for d in ctx.framework.need_domains]
    truth = find_peaks(ages, np.mean(curves, axis=0))
    sec = S.section(ctx, "trajectories")
    found = sec.headline["total_need_peak_ages"]
    for t in (x for x in truth if 5 <= x <= 13):
        assert min(abs(np.array(found) - t)) < 1.0, (truth, found)
    assert S.section(ctx, "trajectories").status == "ok"
    assert TOTAL_NEED in ctx.domains


def test_cache_gives_the_same_report_as_loading_everything(bundled_dir, tmp_path):
    from vc_eval.reporting.cache import CachedCouncils, prepare_cache

    data = tmp_path / "data"
    shutil.copytree(bundled_dir, data)
    cache = tmp_path / "cache"
    council = "Bitternmere"
    kw = {"council": council, "domains": "none", "comparison": "all_councils"}
    prepare_cache(data, cache_dir=cache, councils=[council])
    cached = S.build_context(data_dir=data, cache_dir=str(cache), **kw)
    assert isinstance(cached.all, CachedCouncils) and cached.data is None
    plain = S.build_context(data_dir=data, **kw)
    for key in ("population", "impact", "data_quality"):
        a, b = S.section(cached, key), S.section(plain, key)
        assert a.to_markdown() == b.to_markdown()
        assert [t.frame.to_dict() for t in a.tables] == [t.frame.to_dict() for t in b.tables]
    assert S._need_reference(cached) == S._need_reference(plain) is not None
    assert S.provenance(cached).to_dict() == S.provenance(plain).to_dict()
    # changed input data: the old cache entry is not used
    with open(data / "outcomes.parquet", "ab") as fh:
        fh.write(b"\0")
    assert CachedCouncils.open(cache, data) is None


def test_page_is_audited_as_a_whole(tiny_ctx):
    """The notebook shows the audited page: no count of 1-5 can be worked out from it."""
    page = S.page(tiny_ctx)
    assert S.page_audit(tiny_ctx).ok
    assert [s.key for s in page][:2] == ["title", "summary"] and page[-1].key == "methods"
    assert S.section(tiny_ctx, "population") is page[2]
    # the sections state their counts of children for the audit to see
    declared = [c for s in page for c in s.counts()]
    assert any(c.universe == "in_care_end" for c in declared)


def test_notebook_parameters_are_build_context_arguments():
    """The report notebook passes its parameters cell to build_context by these names."""
    import inspect
    import json
    from pathlib import Path

    kwargs = [p for p in inspect.signature(S.build_context).parameters if p != "data"]
    assert list(S.CONTEXT_PARAMETERS) == kwargs
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "impact_update.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    declared = [line.split(":")[0] for line in cell["source"] if ":" in line.split("#")[0]]
    assert declared == kwargs
