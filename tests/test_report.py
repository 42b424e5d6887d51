"""Reports end to end: Papermill execution, HTML rendering, batches, the CLI.

Each rendered report starts a Jupyter kernel (a few seconds), so the tests
share a handful of renders through module-scoped fixtures and fit only total
need (``domains="total"``).
"""

from __future__ import annotations

import json

import nbformat
import pytest
from _report_data import (
    BROKEN,
    TINY,
    identifiers,
    ids_found,
    save,
    small_count_cells,
    tiny_dataset,
)
from bs4 import BeautifulSoup
from click.testing import CliRunner

from vc_eval.cli import cli
from vc_eval.reporting import render as R


@pytest.fixture(scope="module")
def kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    # `make setup` registers vc-eval; a bare venv still has python3 (same Python).
    return R.DEFAULT_KERNEL if R.DEFAULT_KERNEL in specs else "python3"


@pytest.fixture(scope="module")
def council(bundled) -> str:
    return bundled.council_names()[0]


@pytest.fixture(scope="module")
def rendered(bundled_dir, council, kernel, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    params = {
        "domains": "total",
        "period_end": "2025-01-31",
        "comparison": "all_councils",
        "seed": 3,
    }
    res = R.render_report(
        council,
        data_dir=bundled_dir,
        out_dir=out,
        kernel=kernel,
        parameters=params,
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    return res


@pytest.fixture(scope="module")
def tiny_dir(bundled, tmp_path_factory):
    return save(tiny_dataset(bundled, broken=True), tmp_path_factory.mktemp("tiny") / "data")


def _html(res) -> str:
    return res.html.read_text(encoding="utf-8")


def test_report_files_in_place(rendered, council):
    assert rendered.ok
    stem = R.report_stem(council, "impact_update")
    assert rendered.html.name == f"{stem}.html"
    assert rendered.ipynb.exists() and rendered.headline_json.exists()
    # nothing half-written is left beside the report
    leftovers = [p.name for p in rendered.html.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_parameters_reach_the_notebook(rendered):
    nb = nbformat.read(rendered.ipynb, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    src = injected[0].source
    assert 'period_end = "2025-01-31"' in src and 'comparison = "all_councils"' in src
    head = json.loads(rendered.headline_json.read_text())
    assert head["period_end"] == "2025-01-31"
    assert head["period_start"] == "2024-02-01"  # 12 months up to the given end
    assert head["comparison"] == "all_councils"
    assert "31 January 2025" in _html(rendered)
    assert "All councils (%)" in _html(rendered)  # the comparison column


def test_html_is_self_contained_with_code_hidden(rendered):
    html = _html(rendered)
    soup = BeautifulSoup(html, "html.parser")
    nb = nbformat.read(rendered.ipynb, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    text = soup.get_text()
    for src in code:
        first = src.strip().splitlines()[0]
        assert first not in text, first
    assert soup.find_all("script") == []
    assert not soup.find_all("link", href=True)
    imgs = soup.find_all("img")
    assert imgs and all(i["src"].startswith("data:image/png;base64,") for i in imgs)
    assert all(len(i.get("alt", "")) > 20 for i in imgs)
    assert soup.title.get_text().startswith("Impact update")
    # every section heading is there, filled in or saying plainly it is not
    for title in (
        "Executive summary",
        "The care population",
        "Need trajectories by age",
        "Data quality",
        "Methods, caveats and provenance",
    ):
        assert title in text


def test_report_html_is_the_page_nbconvert_writes(rendered):
    """The report's exporter skips HTMLExporter's last pass (BeautifulSoup re-parsing
    the page to add missing alt text and JupyterLab tabindexes): that pass must have
    nothing to change but whitespace and attribute order."""
    nb = nbformat.read(rendered.ipynb, as_version=4)
    title = R.report_title("impact_update", rendered.council)
    ours = R.render_html(nb, title=title)
    plain, _ = R._html_exporter(plain=True).from_notebook_node(
        R._published(nb, title), resources={"metadata": {"name": title}}
    )
    assert str(BeautifulSoup(ours, "html.parser")) == plain
    assert "No description has been provided" not in plain  # every figure had its own alt


def test_no_identifier_in_html_or_executed_notebook(rendered, bundled):
    ids = identifiers(bundled)
    assert len(ids) > 1000
    assert ids_found(_html(rendered), ids) == []
    assert ids_found(rendered.ipynb.read_text(), ids) == []


def test_no_unsuppressed_small_count_in_html_tables(rendered):
    html = _html(rendered)
    assert html.count('class="vc-table"') >= 5
    assert small_count_cells(html) == []


def test_provenance_in_report(rendered, bundled_dir):
    text = BeautifulSoup(_html(rendered), "html.parser").get_text(" ")
    from vc_eval.core.files import sha256_file

    assert sha256_file(bundled_dir / "children.parquet") in text
    assert "git_commit" in text and "pandas" in text and "illustrative" in text


@pytest.fixture(scope="module")
def batch(tiny_dir, kernel, tmp_path_factory):
    """``vc-eval report --all`` on a tiny council and a broken one, two workers."""
    out = tmp_path_factory.mktemp("batch")
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--all",
            "--data",
            str(tiny_dir),
            "--out",
            str(out),
            "--workers",
            "2",
            "--kernel",
            kernel,
            "--domains",
            "total",
            "--no-progress",
            "--cache-dir",
            str(tmp_path_factory.mktemp("cache")),
        ],
    )
    return result, out


def test_batch_isolates_a_broken_council(batch):
    result, out = batch
    assert result.exit_code == 1, result.output
    good = R.report_stem(TINY, "impact_update")
    bad = R.report_stem(BROKEN, "impact_update")
    assert (out / f"{good}.html").exists()
    assert not (out / f"{bad}.html").exists()  # no half report that looks finished
    err = (out / f"{bad}.error.txt").read_text()
    assert "has no children" in err
    index = (out / "index.html").read_text()
    assert f"{good}.html" in index and f"{bad}.error.txt" in index
    assert "1 failed" in index
    assert f"FAILED {BROKEN}" in result.output


def test_tiny_council_renders_with_suppressed_cells(batch):
    _, out = batch
    html = (out / f"{R.report_stem(TINY, 'impact_update')}.html").read_text()
    assert 'class="suppressed"' in html
    assert small_count_cells(html) == []


def test_rerun_gives_identical_headline_numbers(batch, tiny_dir, kernel, tmp_path):
    """A second run (here without the batch cache) gives the same headline numbers."""
    _, out = batch
    again = R.render_report(
        TINY, data_dir=tiny_dir, out_dir=tmp_path, kernel=kernel, parameters={"domains": "total"}
    )
    first = json.loads((out / f"{R.report_stem(TINY, 'impact_update')}.json").read_text())
    second = json.loads(again.headline_json.read_text())
    assert len(first["numbers"]) >= 8
    assert first == second


def test_unknown_or_mistyped_parameters_are_refused():
    with pytest.raises(R.ReportError, match="colour"):
        R.validate_parameters("impact_update", {"colour": "red"})
    with pytest.raises(R.ReportError, match="seed"):
        R.validate_parameters("impact_update", {"seed": "seven"})
    assert R.validate_parameters("impact_update", {"seed": "7"}) == {"seed": 7}


def test_cli_refuses_bad_options_before_running(bundled_dir):
    runner = CliRunner()
    res = runner.invoke(cli, ["report", "--council", "Atlantis", "--data", str(bundled_dir)])
    assert res.exit_code == 2 and "Atlantis" in res.output
    res = runner.invoke(cli, ["report", "--council", "x", "--param", "colour=red"])
    assert res.exit_code == 2 and "colour" in res.output
    res = runner.invoke(cli, ["report", "--data", str(bundled_dir)])
    assert res.exit_code == 2 and "--council" in res.output


def test_kernel_start_is_retried_once(monkeypatch, tmp_path):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("ZMQError: Address already in use (addr='tcp://127.0.0.1:5555')")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    R.execute_notebook(R.notebook_path("impact_update"), tmp_path / "x.ipynb", {})
    assert len(calls) == 2

    def failing_cell(*args, **kwargs):
        calls.append(1)
        raise PapermillExecutionError(3, 1, "boom", "ValueError", "boom", [])

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", failing_cell)
    with pytest.raises(PapermillExecutionError):
        R.execute_notebook(R.notebook_path("impact_update"), tmp_path / "y.ipynb", {})
    assert len(calls) == 1  # a failing cell is not a start-up race: no retry
