"""What a batch of reports computes once from every council gives each report the same numbers.

The needs-matched scenario's reference (every other council's children in care
with their need profile), the impact breakdowns by age and need band, and the
never-adopters of the programme's outcome comparison are made once from every
council's tables and kept in the cache entry; each report filters them. These
tests check that this changes nothing a report says, on data the feature was
not built with (a synthetic set of four councils, two adopting).
"""

from __future__ import annotations

import pandas as pd
import pytest

from vc_eval.analysis.outcomes import programme_outcomes, programme_rows
from vc_eval.analysis.spend import LOOKBACK_DAYS, snapshot_frame
from vc_eval.core.dataset import Dataset, concat
from vc_eval.core.population import snapshot_date
from vc_eval.reporting import cache as C
from vc_eval.reporting import sections as S
from vc_eval.synthetic.generator import SynthConfig, generate, write_synthetic

CFG = SynthConfig(councils=4, seed=919, sizes=(90, 60, 80, 70), adopters=(True, True, False, False))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("shared") / "data"
    write_synthetic(generate(CFG), out)
    return out


@pytest.fixture(scope="module")
def prepared(data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("shared-cache")
    C.prepare_cache(data_dir, cache_dir=cache, shared=True)
    return cache


def _fresh_process():
    """Forget what this process kept, so the next answer is read from the cache entry."""
    C._EVERYONE.clear()


def test_everyone_folder_holds_the_councils_folders_in_name_order(data_dir, prepared):
    allc = C.CachedCouncils.open(prepared, data_dir)
    _fresh_process()
    whole = allc._everyone()
    parts = concat([allc.local(c) for c in allc.council_names()])
    assert (allc.folder / C.EVERYONE / "children.parquet").exists()
    for name in parts.tables:
        pd.testing.assert_frame_equal(whole.tables[name], parts.tables[name])


def test_reference_snapshot_is_the_other_councils_own(data_dir, prepared):
    ds = Dataset.load(data_dir)
    at = snapshot_date(ds).normalize()
    plain = C.AllCouncils(ds)
    cached = C.CachedCouncils.open(prepared, data_dir)
    for council in ds.council_names():
        expected = snapshot_frame(plain.others(council), at=at, lookback_days=LOOKBACK_DAYS)
        assert len(expected) > 0
        for allc in (plain, cached):
            _fresh_process()  # read back from the entry's Parquet, not this process's copy
            got = allc.others_snapshot(council, at, LOOKBACK_DAYS)
            pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))
    one = C.AllCouncils(ds.subset(ds.council_names()[0]))
    assert one.others_snapshot(ds.council_names()[0], at, LOOKBACK_DAYS) is None


@pytest.mark.parametrize("council", ["first adopter", "never adopter"])
def test_sections_from_shared_results_equal_those_from_the_data(data_dir, prepared, council):
    ds = Dataset.load(data_dir)
    cs = ds.councils
    name = cs.loc[cs["programme_start"].notna() == (council == "first adopter"), "council"]
    kw = {"council": sorted(name)[0], "domains": "none", "data_dir": data_dir}
    plain = S.build_context(**kw)
    _fresh_process()
    cached = S.build_context(cache_dir=str(prepared), **kw)
    assert isinstance(cached.all, C.CachedCouncils)
    for key in ("cost_need", "outcomes", "impact"):
        a, b = S.computed(cached, key), S.computed(plain, key)
        assert a.status == b.status
        assert a.to_markdown() == b.to_markdown(), key
        assert [t.frame.to_dict() for t in a.tables] == [t.frame.to_dict() for t in b.tables]
    if council == "first adopter":
        assert S.computed(plain, "impact").status == "ok"


def test_shared_results_are_made_once_and_kept(data_dir, prepared, tmp_path):
    """A batch makes them before its workers start; a single report, when first needed."""
    at = snapshot_date(Dataset.load(data_dir)).normalize()
    for root, shared in ((prepared, True), (tmp_path / "single", False)):
        folder = C.prepare_cache(data_dir, cache_dir=root, shared=shared)
        kept = sorted(p.stem for p in folder.rglob("derived/*/*.pickle"))
        if not shared:
            assert kept == []
            _fresh_process()
            allc = C.CachedCouncils.open(root, data_dir)
            allc.others_snapshot("Godwitholt", at, LOOKBACK_DAYS)
            allc.impact_groups()
            allc.never_adopters()
            allc.programme_comparison()
            kept = sorted(p.stem for p in folder.rglob("derived/*/*.pickle"))
        assert kept == [
            "impact_groups",
            "never_adopters",
            "programme_comparison",
            f"snapshot_{at.date()}_{LOOKBACK_DAYS}",
        ]


def test_never_adopters_rows_are_those_of_the_council_and_them_together(data_dir, prepared):
    """The programme's outcome comparison from the shared never-adopters' rows gives
    exactly the estimates of the council and the never-adopters put together."""
    ds = Dataset.load(data_dir)
    never = C.never_adopters(ds)
    adopters = [c for c in ds.council_names() if c not in never]
    assert never and adopters
    plain = C.AllCouncils(ds)
    cached = C.CachedCouncils.open(prepared, data_dir)
    for allc in (plain, cached):
        _fresh_process()  # read back from the entry, not this process's copy
        assert allc.never_adopters() == never
        shared = allc.programme_comparison()
        # what the outcomes section put together before: the never-adopters as
        # ``allc.subset`` gives them (the cache's name order, or the data's order)
        direct = programme_rows(allc.subset(never))
        assert set(shared) == set(direct)
        for measure, rows in direct.items():
            assert len(rows) > 0
            pd.testing.assert_frame_equal(shared[measure], rows)
        for council in adopters:
            local = allc.local(council)
            got = programme_outcomes(local, comparison=allc.programme_comparison())
            expected = programme_outcomes(concat([local, allc.subset(never)]))
            assert got["estimate"].notna().any()
            pd.testing.assert_frame_equal(got, expected)
    # every council adopted: no comparison rows
    assert C.AllCouncils(ds.subset(adopters)).programme_comparison() is None


def test_never_adopters_rows_from_a_cache_of_some_councils(data_dir, tmp_path):
    """A cache holding only some councils' tables gives the rows the section used to
    put together itself (the never-adopters as the cache gives them)."""
    ds = Dataset.load(data_dir)
    never = C.never_adopters(ds)
    adopter = next(c for c in ds.council_names() if c not in never)
    C.prepare_cache(data_dir, cache_dir=tmp_path, councils=[adopter, never[-1]])
    _fresh_process()
    allc = C.CachedCouncils.open(tmp_path, data_dir)
    assert not allc._all_cached()
    local = allc.local(adopter)
    got = programme_outcomes(local, comparison=allc.programme_comparison())
    expected = programme_outcomes(concat([local, allc.subset(never)]))
    pd.testing.assert_frame_equal(got, expected)
