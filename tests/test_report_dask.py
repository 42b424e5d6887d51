"""Report batches on Dask distributed (issue 14): a 2-worker LocalCluster gives the
serial run's files byte for byte, and a failing council stays one failed row."""

from __future__ import annotations

import tempfile

import pytest

from vc_eval.reporting import render as R

pytest.importorskip("distributed")

PARAMS = {"domains": "none", "period_end": "2025-01-31", "seed": 3}
MISSING = "Nowhere-on-the-map"


@pytest.fixture(scope="module")
def kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    return R.DEFAULT_KERNEL if R.DEFAULT_KERNEL in specs else "python3"


def test_dask_batch_equals_serial_batch(bundled_dir, bundled, kernel, tmp_path, monkeypatch):
    from vc_eval.reporting.batch import dask_client

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the workers' temporary folder
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # and this process's

    councils = bundled.council_names()[:2]  # two renders per run keep the test cheap
    cache = tmp_path / "cache"
    common = dict(
        data_dir=bundled_dir, kernel=kernel, parameters=PARAMS, progress=False, cache_dir=cache
    )
    serial = R.render_batch(councils, out_dir=tmp_path / "serial", workers=1, **common)
    assert serial.ok, serial.summary()
    with dask_client("local", workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        dist = R.render_batch(
            [*councils, MISSING], out_dir=tmp_path / "dask", client=client, **common
        )
    by_council = {r.council: r for r in dist.results}
    assert [r.council for r in dist.results] == [*councils, MISSING]  # the batch's order
    for c in councils:
        stem = R.report_stem(c, "impact_update")
        for ext in ("html", "json"):
            a = (tmp_path / "serial" / f"{stem}.{ext}").read_bytes()
            b = (tmp_path / "dask" / f"{stem}.{ext}").read_bytes()
            assert a == b, f"{c} {ext} differs between the serial and the Dask run"
        assert by_council[c].ok
    # failure isolation: the missing council failed alone, with its traceback file
    bad = by_council[MISSING]
    assert not bad.ok and bad.error_file.exists()
    assert not (tmp_path / "dask" / f"{R.report_stem(MISSING, 'impact_update')}.html").exists()
    index = (tmp_path / "dask" / "index.html").read_text()
    assert "1 failed" in index and bad.error_file.name in index
    # each worker kept one kernel for its councils, shut down (and its log removed) at the end
    assert list(scratch.glob("vc-eval-kernel-*")) == []
