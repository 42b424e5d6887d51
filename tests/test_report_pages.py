"""A page computed before the notebook runs (reporting.pages) is the page the notebook
would compute itself, whether in one process or two, and the notebook reads it back."""

from __future__ import annotations

import pytest
from _report_data import TINY, tiny_dataset

from vc_eval.reporting import cache as C
from vc_eval.reporting import pages as P
from vc_eval.reporting import sections as S

#: Sections computed here: two shared with the helper process, two for this one.
FEW = ("population", "needs_profile", "trajectories", "strengths")


@pytest.fixture(scope="module")
def data(bundled, tmp_path_factory):
    d = tmp_path_factory.mktemp("pages") / "data"
    tiny_dataset(bundled, 60).save(d)
    return d


@pytest.fixture
def few_sections(monkeypatch):
    monkeypatch.setattr(S, "SECTION_FUNCTIONS", {k: S.SECTION_FUNCTIONS[k] for k in FEW})
    monkeypatch.setattr(S, "EXECUTIVE_FINDINGS", [f for f in S.EXECUTIVE_FINDINGS if f[0] in FEW])


def _params(data, cache) -> dict:
    return {
        "council": TINY,
        "data_dir": str(data),
        "domains": "total",
        "figure_dpi": 40,
        "seed": 2,
        "cache_dir": str(cache),
    }


def _shown(page) -> tuple:
    return [s.to_html() for s in page], [f.png(40) for s in page for f in s.figures]


def test_prepared_page_is_the_notebooks_page(data, tmp_path, few_sections):
    # what the notebook computes itself, with no cache
    plain = S.build_context(council=TINY, data_dir=data, domains="total", figure_dpi=40, seed=2)
    assert plain.page_store is None
    expected = _shown(S.page(plain))
    # one process; two (each shared section to whichever is free); two with the helper
    # taking every shared section (the renderer claims none)
    for how in ("one", "two", "helper takes all"):
        helper = None if how == "one" else P.PageHelper()
        if how == "helper takes all":
            helper.claim = lambda: None
        cache = tmp_path / how.replace(" ", "-")
        C.prepare_cache(data, cache_dir=cache)
        try:
            assert P.prepare_page(_params(data, cache), helper=helper)
        finally:
            if helper is not None:
                helper.close()
        # the notebook's cell: the same parameters find the stored page
        ctx = S.build_context(**_params(data, cache))
        assert S.page_is_stored(ctx)
        assert _shown(S.page(ctx)) == expected


def test_shared_sections_are_each_claimed_once_from_either_end():
    import multiprocessing

    claims = multiprocessing.get_context("spawn").Array("i", [0, 5])
    taken = [P._claim(claims, front=True), P._claim(claims, front=False)]
    taken += [P._claim(claims, front=i % 2 == 0) for i in range(5)]
    assert taken[:2] == [0, 4]  # the helper from the front, the renderer from the back
    assert sorted(t for t in taken if t is not None) == [0, 1, 2, 3, 4]
    assert taken[-2:] == [None, None]  # nothing left, nothing claimed twice


def test_no_page_prepared_without_a_cache_or_with_bad_parameters(data, tmp_path):
    params = _params(data, tmp_path / "cache")
    assert not P.prepare_page({**params, "cache_dir": ""})  # no cache: the notebook computes
    C.prepare_cache(data, cache_dir=tmp_path / "cache")
    log = tmp_path / "log.txt"
    # a council not in the data: nothing raised here; the notebook fails with its own message
    assert not P.prepare_page({**params, "council": "Atlantis"}, log_path=log)
    assert "Atlantis" in log.read_text()


def test_a_stored_page_stops_the_helper_at_once(data, tmp_path, few_sections):
    cache = tmp_path / "cache"
    C.prepare_cache(data, cache_dir=cache)
    assert P.prepare_page(_params(data, cache))
    helper = P.PageHelper()
    assert P.prepare_page(_params(data, cache), helper=helper)  # read, not computed
    helper.close()
    assert not helper.process.is_alive()


@pytest.fixture(scope="module")
def kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    return "vc-eval" if "vc-eval" in specs else "python3"


def test_a_warm_kernel_runs_a_notebook_as_a_fresh_one_does(kernel, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from vc_eval.reporting import render as R

    nb = new_notebook(
        cells=[
            new_code_cell("n = 1", metadata={"tags": ["parameters"]}),
            new_code_cell("import vc_eval.reporting.sections as S\nprint(S.__name__, n)"),
            new_code_cell("from IPython.display import HTML\nHTML(f'<b>{n + 1}</b>')"),
            new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, n])\nplt.show()"),
        ],
        metadata={"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}},
    )
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    out = {}
    for how in ("fresh", "warm"):
        log = tmp_path / f"{how}.log"
        warm = R.WarmKernel(kernel, log, R.NOTEBOOK_IMPORTS) if how == "warm" else None
        km = warm.km if warm is not None else None
        try:
            R.execute_notebook(
                path, tmp_path / f"{how}.ipynb", {"n": 3}, kernel=kernel, log_path=log, warm=warm
            )
        finally:
            if warm is not None:
                assert warm.km is None  # taken by the notebook run
                warm.close()
                assert not km.has_kernel  # stopped and cleaned up
        done = nbformat.read(tmp_path / f"{how}.ipynb", as_version=4)
        out[how] = (
            [c.get("execution_count") for c in done.cells],
            R.render_html(done, title="t"),
        )
    assert out["warm"] == out["fresh"]
    assert out["warm"][0] == [1, 2, 3, 4, 5]  # injected parameters cell included
    assert "<b>4</b>" in out["warm"][1] and "image/png" in out["warm"][1]
