"""A finished page kept in the data's report cache is read back exactly, and only for
the same inputs, parameters and code."""

from __future__ import annotations

import pickle

import pytest
from _report_data import TINY, tiny_dataset

from vc_eval.reporting import cache as C
from vc_eval.reporting import sections as S


@pytest.fixture(scope="module")
def data(bundled, tmp_path_factory):
    """A small council written as a dataset folder (a page in a few seconds)."""
    d = tmp_path_factory.mktemp("store") / "data"
    tiny_dataset(bundled, 60).save(d)
    return d


def _ctx(data, cache, **kw):
    kw = {"council": TINY, "domains": "none", "figure_dpi": 40, **kw}
    return S.build_context(data_dir=data, cache_dir=str(cache), **kw)


def _render(ctx) -> tuple:
    page = S.page(ctx)
    return (
        [s.to_html() for s in page],
        [f.png(ctx.figure_dpi) for s in page for f in s.figures],
        S.headline(ctx),
        S.key_figures(ctx),
        S.page_audit(ctx).ok,
    )


#: Sections computed here (the store does not depend on which; the rest only cost time).
FEW = ("population", "stability", "needs_profile")


@pytest.fixture
def few_sections(monkeypatch):
    monkeypatch.setattr(S, "SECTION_FUNCTIONS", {k: S.SECTION_FUNCTIONS[k] for k in FEW})
    monkeypatch.setattr(S, "EXECUTIVE_FINDINGS", [f for f in S.EXECUTIVE_FINDINGS if f[0] in FEW])


def test_stored_page_is_read_back_byte_for_byte(data, tmp_path, monkeypatch, few_sections):
    cache = tmp_path / "cache"
    C.prepare_cache(data, cache_dir=cache)
    first = _ctx(data, cache)
    assert first.page_store is not None
    made = _render(first)
    stored = list((first.page_store / C.PAGES_FOLDER).glob("*.pickle"))
    assert len(stored) == 1
    # the figures travel as PNGs, never as matplotlib objects
    kept = pickle.loads(stored[0].read_bytes())
    assert all(f.figure is None for s in kept["page"] for f in s.figures)
    assert any(s.figures for s in kept["page"])

    def boom(ctx):
        raise AssertionError("the stored page should have been used")

    monkeypatch.setattr(S, "all_sections", boom)
    again = _ctx(data, cache)
    assert _render(again) == made
    # another parameter is another page: computed, not read back
    with pytest.raises(AssertionError, match="stored page"):
        S.page(_ctx(data, cache, seed=2))


def test_page_key_follows_parameters_and_code(monkeypatch):
    a = C.page_key({"council": "A", "seed": 1})
    assert a == C.page_key({"seed": 1, "council": "A"})
    assert a != C.page_key({"council": "A", "seed": 2})
    monkeypatch.setattr(C, "code_fingerprint", lambda: "other code")
    b = C.page_key({"council": "A", "seed": 1})
    assert a != b and a.split("-")[0] == b.split("-")[0]


def test_a_page_made_by_other_code_is_replaced(tmp_path):
    C.save_page(tmp_path, "p1-code1", {"x": 1})
    C.save_page(tmp_path, "p2-code1", {"x": 2})
    C.save_page(tmp_path, "p1-code2", {"x": 3})
    kept = sorted(f.name for f in (tmp_path / C.PAGES_FOLDER).iterdir())
    assert kept == ["p1-code2.pickle", "p2-code1.pickle"]
    assert C.load_page(tmp_path, "p1-code2") == {"x": 3}


def test_no_store_without_a_cache_and_a_damaged_entry_is_recomputed(data, tmp_path):
    plain = S.build_context(data_dir=data, council=TINY, domains="none")
    assert plain.page_store is None
    folder = tmp_path / "entry"
    (folder / C.PAGES_FOLDER).mkdir(parents=True)
    (folder / C.PAGES_FOLDER / "k.pickle").write_bytes(b"not a pickle")
    assert C.load_page(folder, "k") is None
