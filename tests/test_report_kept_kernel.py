"""A batch worker keeps one kernel (``render.KeptKernel``): each notebook on it is the
notebook a new kernel gives, a failed notebook drops the kernel, and a batch leaves no
kernel (nor its log) behind."""

from __future__ import annotations

import threading

import nbformat
import pytest

from vc_eval.reporting import render as R

#: A notebook that fails if anything of an earlier run is left in the kernel's namespace.
CELLS = [
    'council: str = ""\ndata_dir: str = ""\nfail: bool = False',
    'assert "leftover" not in globals(), "an earlier notebook\'s variable is still here"\n'
    "leftover = council",
    "print(council, len(dir()))",
    'import os\nif fail:\n    os.write(2, b"KERNEL-STDERR-MARK\\n")\n    raise ValueError("boom")\n'
    "council.upper()",
]


@pytest.fixture(scope="module")
def kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    return R.DEFAULT_KERNEL if R.DEFAULT_KERNEL in specs else "python3"


@pytest.fixture
def probe(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def _kept(kernel: str):
    return R._kept.get((kernel, threading.get_ident()))


def _cells(path) -> list[tuple]:
    nb = nbformat.read(path, as_version=4)
    return [(c.get("execution_count"), c.get("outputs")) for c in nb.cells if c.cell_type == "code"]


def _render(name, probe, kernel, out, *, keep: bool, fail: bool = False):
    return R.render_report_safe(
        name,
        data_dir=out,
        out_dir=out,
        notebook=probe,
        kernel=kernel,
        parameters={"fail": fail},
        keep_kernel=keep,
    )


def test_kept_kernel_is_reset_as_new_and_dropped_after_a_failure(probe, kernel, tmp_path):
    R.close_kept_kernels()
    fresh = _render("Alpha", probe, kernel, tmp_path / "fresh", keep=False)
    assert fresh.ok, fresh.error
    assert _kept(kernel) is None  # a report on its own keeps nothing
    try:
        first = _render("Beta", probe, kernel, tmp_path / "kept", keep=True)
        kept = _kept(kernel)
        second = _render("Alpha", probe, kernel, tmp_path / "kept", keep=True)
        assert first.ok and second.ok, (first.error, second.error)
        assert _kept(kernel) is kept and kept.runs == 2  # the same kernel, run twice
        # the second notebook on the kept kernel: the same cells, outputs and counts
        assert _cells(second.ipynb) == _cells(fresh.ipynb)
        assert second.html.read_bytes() == fresh.html.read_bytes()

        broken = _render("Gamma", probe, kernel, tmp_path / "kept", keep=True, fail=True)
        text = broken.error_file.read_text()
        assert not broken.ok and "boom" in text
        assert "KERNEL-STDERR-MARK" in text  # the kernel's own output of the failed run
        assert _kept(kernel) is None and kept.km is None  # shut down, not reused
        assert not kept.log.exists()
        after = _render("Alpha", probe, kernel, tmp_path / "after", keep=True)
        assert after.ok and _kept(kernel) is not kept  # a new kernel for the next one
        assert _cells(after.ipynb) == _cells(fresh.ipynb)
    finally:
        R.close_kept_kernels()
    assert R._kept == {}


def test_batch_workers_shut_their_kernels_down(probe, kernel, tmp_path, monkeypatch):
    """Two worker processes, two councils each: every kept kernel's log is gone at the end
    (it is removed when the kernel is shut down, as the worker process ends)."""
    logs = tmp_path / "tmp"
    logs.mkdir()
    monkeypatch.setenv("TMPDIR", str(logs))  # the workers' temporary folder
    batch = R.render_batch(
        ["A", "B", "C", "D"],
        data_dir=tmp_path,
        out_dir=tmp_path / "out",
        notebook=probe,
        kernel=kernel,
        workers=2,
        progress=False,
    )
    assert batch.ok, batch.summary()
    for c in "ABCD":
        assert _cells(tmp_path / "out" / f"{R.report_stem(c, 'probe')}.ipynb")[1][0] == 2
    assert list(logs.glob("vc-eval-kernel-*")) == []


def test_a_cell_over_its_time_on_a_kept_kernel_is_not_run_again(monkeypatch, tmp_path):
    """A kept kernel that fails to answer is replaced and the notebook retried once; a
    cell over the time allowed is the notebook's failure: no second run."""
    import papermill
    from nbclient.exceptions import CellTimeoutError

    class Kept:
        kernel, km, closed = "k", object(), 0

        def fresh(self):
            return self.km

        def close(self, keep_log=False):
            self.closed += 1

    calls = []

    def slow(*args, **kwargs):
        calls.append(kwargs.get("km"))
        raise CellTimeoutError("A cell timed out while it was being executed")

    monkeypatch.setattr(papermill, "execute_notebook", slow)
    kept = Kept()
    with pytest.raises(CellTimeoutError):
        R.execute_notebook(R.notebook_path("impact_update"), tmp_path / "x.ipynb", {}, kept=kept)
    assert len(calls) == 1 and kept.closed == 1  # not run again; the kernel dropped

    calls.clear()

    def no_answer(*args, **kwargs):
        calls.append(kwargs.get("km"))
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")

    monkeypatch.setattr(papermill, "execute_notebook", no_answer)
    R.execute_notebook(R.notebook_path("impact_update"), tmp_path / "y.ipynb", {}, kept=Kept())
    assert len(calls) == 2 and calls[1] is None  # retried once, on a new kernel


def test_a_shipped_notebook_on_a_kept_kernel_is_the_new_kernels(
    bundled_dir, bundled, kernel, tmp_path
):
    """The sufficiency notebook (which imports the progress bars) for a council on a kernel
    already used for another council: the same cells, outputs, HTML and JSON as on a new one."""
    a, b = bundled.council_names()[:2]
    common = dict(data_dir=bundled_dir, notebook="sufficiency", kernel=kernel)
    fresh = R.render_report(a, out_dir=tmp_path / "fresh", **common)
    R.close_kept_kernels()
    try:
        R.render_report(b, out_dir=tmp_path / "kept", keep_kernel=True, **common)
        again = R.render_report(a, out_dir=tmp_path / "kept", keep_kernel=True, **common)
        assert _kept(kernel).runs == 2
    finally:
        R.close_kept_kernels()
    assert _cells(again.ipynb) == _cells(fresh.ipynb)
    assert again.html.read_bytes() == fresh.html.read_bytes()
    assert again.headline_json.read_bytes() == fresh.headline_json.read_bytes()
