"""A rendered report on hostile data: escaped, accessible, quiet on the console.

One report is rendered through the command line, in a child process (so the
console is the real one, kernel included), for a tiny council whose name is
markup, Markdown and a line break. The HTML must carry no tag from data, pass
axe-core in headless Chromium with no serious or critical violation, and keep
headings in order, table headers marked, ``lang`` set and alt text on every
figure. A cell timeout must end with one clean line and a non-zero exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _a11y import missing, run_axe
from _report_data import TINY, save, tiny_dataset
from bs4 import BeautifulSoup

from vc_eval.core.schema import Col
from vc_eval.reporting import render as R

HOSTILE = "<script>alert(1)</script> *Ms* [x](y)\n# Heading"
SRC = Path(__file__).resolve().parents[1] / "src"


def hostile_dataset(bundled):
    ds = tiny_dataset(bundled, n_children=30)
    for frame in ds.tables.values():
        if Col.council in frame:
            frame[Col.council] = frame[Col.council].replace({TINY: HOSTILE})
    return ds


@pytest.fixture(scope="module")
def kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return (
        R.DEFAULT_KERNEL
        if R.DEFAULT_KERNEL in KernelSpecManager().find_kernel_specs()
        else "python3"
    )


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONWARNINGS="default")
    return subprocess.run(
        [sys.executable, "-m", "vc_eval.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )


@pytest.fixture(scope="module")
def hostile(bundled, kernel, tmp_path_factory):
    data = save(hostile_dataset(bundled), tmp_path_factory.mktemp("hostile") / "data")
    out = tmp_path_factory.mktemp("out")
    run = cli(
        "report",
        "--council",
        HOSTILE,
        "--data",
        data,
        "--out",
        out,
        "--kernel",
        kernel,
        "--domains",
        "total",
        cwd=out,  # the default path: a cache beside the data, the page in two processes
    )
    return run, out, data


def test_report_renders_for_hostile_name(hostile):
    run, out, _ = hostile
    assert run.returncode == 0, run.stderr
    assert len(list(out.glob("*.html"))) == 1


def test_console_is_one_line_per_stage(hostile):
    run, _, _ = hostile
    err = run.stderr.strip().splitlines()
    assert all(line.startswith("[") for line in err), err  # stage lines only
    assert "TCP" not in run.stderr and "Traceback" not in run.stderr
    assert "IProgress" not in run.stderr + run.stdout


def test_no_markup_from_data_in_html(hostile):
    _, out, _ = hostile
    text = next(out.glob("*.html")).read_text(encoding="utf-8")
    soup = BeautifulSoup(text, "html.parser")
    assert not soup.find_all("script"), "a script tag in the report"
    assert "<script>alert" not in text
    assert not soup.find_all("a", href="y")
    # The name is there, as text, on one line.
    assert " ".join(HOSTILE.split()) in " ".join(soup.get_text(" ").split())


def test_report_structure_is_accessible(hostile):
    _, out, _ = hostile
    soup = BeautifulSoup(next(out.glob("*.html")).read_text(encoding="utf-8"), "html.parser")
    assert soup.html.get("lang") == "en"
    levels = [int(h.name[1]) for h in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6"])]
    assert levels and levels[0] == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    for th in soup.select("table.vc-table th"):
        assert th.get("scope") in ("col", "row"), th
    imgs = soup.find_all("img")
    assert imgs and all(len((img.get("alt") or "").strip()) > 20 for img in imgs)
    # Hidden cells say so in text, not by colour alone.
    for td in soup.select("td.suppressed"):
        assert td.get_text(strip=True) == "c" and td.get("title")


def test_axe_core_finds_no_serious_violation(hostile):
    why = missing()
    if why:
        pytest.skip(why)
    _, out, _ = hostile
    violations = run_axe(next(out.glob("*.html")))
    bad = [
        f"{v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, bad


def test_timeout_fails_with_one_clean_line(hostile, kernel, tmp_path):
    _, _, data = hostile
    run = cli(
        "report",
        "--council",
        HOSTILE,
        "--data",
        data,
        "--out",
        tmp_path,
        "--kernel",
        kernel,
        "--domains",
        "total",
        "--no-cache",
        "--timeout",
        "1",
        cwd=tmp_path,
    )
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if not line.startswith("[")]
    assert "Traceback" not in run.stderr and "TCP" not in run.stderr and "ZMQ" not in run.stderr
    assert errors[0].startswith("error: the report for") and "timed out" in errors[0]
    assert not list(tmp_path.glob("*.html"))
