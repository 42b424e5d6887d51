"""Time impact-update reports: one council, and batches with 1 and 2 worker processes.

    python benchmarks/bench_report.py                       # bundled data only
    python benchmarks/bench_report.py --national data/national --batch 6

``--national`` needs the national synthetic population
(``vc-eval synth --councils 153 --seed 1 --out data/national``). A full
national batch (153 reports) takes long on a 2-core machine, so ``--batch N``
renders N councils spread over the range of council sizes with 1 and with 2
workers and extrapolates to all councils:
``cache preparation + 153 x (batch time / N)``. Results are printed as a
Markdown table and written to ``benchmarks/out/report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from vc_eval.reporting.cache import prepare_cache
from vc_eval.reporting.render import render_batch, render_report

ROOT = Path(__file__).resolve().parents[1]


def _kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "vc-eval" if "vc-eval" in KernelSpecManager().find_kernel_specs() else "python3"


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu() -> float:
    """CPU seconds of this process and its finished children (workers, kernels)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(rows: list[dict], what: str, fn, **extra):
    t0, c0 = time.perf_counter(), _cpu()
    out = fn()
    row = {
        "what": what,
        "seconds": time.perf_counter() - t0,
        "cpu": _cpu() - c0,
        "load": _load(),
        **extra,
    }
    rows.append(row)
    return out, row


def one_report(data: Path, council: str, *, cache: Path | None, kernel: str, tmp: Path):
    def run():
        res = render_report(
            council, data_dir=data, out_dir=tmp / "one", kernel=kernel, cache_dir=cache
        )
        assert res.ok, res

    return run


def spread(data: Path, n: int) -> list[str]:
    """``n`` councils evenly spread over the ranks of council size."""
    kids = pd.read_parquet(data / "children.parquet", columns=["council"])
    sizes = kids.groupby("council").size().sort_values()
    idx = [round(i * (len(sizes) - 1) / max(n - 1, 1)) for i in range(n)]
    return [str(sizes.index[i]) for i in dict.fromkeys(idx)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundled", type=Path, default=ROOT / "data" / "synthetic")
    ap.add_argument("--national", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=6, help="councils in the timed batch")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--one-only", action="store_true", help="skip the batches")
    ap.add_argument(
        "--no-uncached",
        action="store_true",
        help="skip the single national report without the cache (slow)",
    )
    args = ap.parse_args(argv)
    kernel = _kernel()
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        cache = tmp / "cache"
        first = sorted(pd.read_parquet(args.bundled / "councils.parquet")["council"])[0]
        timed(
            rows,
            "bundled: prepare cache (3 councils)",
            lambda: prepare_cache(args.bundled, cache_dir=cache),
        )
        timed(
            rows,
            f"bundled: one report ({first}), first time",
            one_report(args.bundled, first, cache=cache, kernel=kernel, tmp=tmp),
        )
        # The same report again: its finished page is read back from the cache (when the
        # code keeps one; sections.page), as for a council's second run on the same data.
        timed(
            rows,
            f"bundled: the same report again ({first})",
            one_report(args.bundled, first, cache=cache, kernel=kernel, tmp=tmp),
        )
        if args.national:
            data = args.national
            n_all = len(pd.read_parquet(data / "councils.parquet"))
            _, prep = timed(
                rows,
                f"national: prepare cache ({n_all} councils)",
                lambda: prepare_cache(data, cache_dir=cache),
            )
            typical = spread(data, 3)[1]
            timed(
                rows,
                f"national: one report, median-size council ({typical}), cache ready",
                one_report(data, typical, cache=cache, kernel=kernel, tmp=tmp),
            )
            if not args.no_uncached:
                timed(
                    rows,
                    f"national: one report ({typical}), no cache (loads all)",
                    one_report(data, typical, cache=None, kernel=kernel, tmp=tmp),
                )
            chosen = spread(data, args.batch)
            for w in [] if args.one_only else args.workers:

                def run(w=w):
                    res = render_batch(
                        chosen,
                        data_dir=data,
                        out_dir=tmp / f"batch{w}",
                        kernel=kernel,
                        workers=w,
                        cache_dir=cache,
                        progress=False,
                    )
                    assert res.ok, [r.error for r in res.failed]

                _, row = timed(
                    rows, f"national: batch of {len(chosen)} councils, {w} worker(s)", run
                )
                row["per_council"] = row["seconds"] / len(chosen)
                row["extrapolated_all"] = prep["seconds"] + n_all * row["per_council"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"kernel {kernel}; {os.cpu_count()} CPUs; load average (1, 5, 15 min) after each step")
    print("| what | wall s | CPU s | per council (wall s) | all councils (extrapolated) | load |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        per = f"{r['per_council']:.1f}" if "per_council" in r else ""
        ext = f"{r['extrapolated_all'] / 60:.0f} min" if "extrapolated_all" in r else ""
        print(
            f"| {r['what']} | {r['seconds']:.1f} | {r['cpu']:.1f} | {per} | {ext} | {r['load']} |"
        )
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
