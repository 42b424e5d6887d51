"""Time impact-update reports as users run them: `vc-eval report` in a fresh process.

    python benchmarks/bench_report.py                              # bundled data only
    python benchmarks/bench_report.py --steps                      # + where the time goes
    python benchmarks/bench_report.py --national DATA --batch 6    # + national, 6-council batch
    python benchmarks/bench_report.py --national DATA --all        # + every council, 2 workers

Every timing is one ``vc-eval report`` command (``python -m vc_eval.cli``) run as
a child process, so it includes the command's start-up, the report cache, the
sections, the notebook's kernel and the HTML: what a user waits for. The data
are copied to a temporary folder first, so "first time" really is first time
(the report cache lives beside the data: no cache entry and no stored page);
"again" is the same command rerun (the page is read back from the cache).

National data: ``vc-eval synth --councils 153 --seed 1 --out DATA``. ``--batch N``
renders N councils spread evenly over the ranks of council size with
``--workers 2`` and extrapolates to all councils as
``cache preparation + councils x (batch time / N)``; ``--all`` renders every
council (the issue 14 row: under 15 minutes with 2 workers on a quiet 2-core
machine). Each row records wall seconds, CPU seconds (the command and every
process it started: helper, workers, kernels) and the load average before and
after (other work on the machine inflates wall time, not CPU time). Results are
printed as a Markdown table and written to ``benchmarks/out/report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "vc-eval" if "vc-eval" in KernelSpecManager().find_kernel_specs() else "python3"


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _children_cpu() -> float:
    """CPU seconds of every finished child process (and theirs, once waited for)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def vc_eval(rows: list[dict], what: str, *args: str, **extra) -> dict:
    """Run ``vc-eval ARGS`` in a child process and record wall, CPU and load."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    before = _load()
    t0, c0 = time.perf_counter(), _children_cpu()
    run = subprocess.run(
        [sys.executable, "-m", "vc_eval.cli", *args], capture_output=True, text=True, env=env
    )
    row = {
        "what": what,
        "seconds": time.perf_counter() - t0,
        "cpu": _children_cpu() - c0,
        "load": f"{before} / {_load()}",
        "exit": run.returncode,
        **extra,
    }
    if run.returncode != 0:
        print(run.stdout, run.stderr, file=sys.stderr)
    rows.append(row)
    print(_row_text(row), flush=True)
    return row


def copy_data(src: Path, tmp: Path, name: str) -> Path:
    """A copy of the dataset's files (no cache entry): a first run really is a first run."""
    dst = tmp / name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".vc-eval-cache"))
    return dst


def spread(data: Path, n: int) -> list[str]:
    """``n`` councils evenly spread over the ranks of council size."""
    kids = pd.read_parquet(data / "children.parquet", columns=["council"])
    sizes = kids.groupby("council").size().sort_values()
    idx = [round(i * (len(sizes) - 1) / max(n - 1, 1)) for i in range(n)]
    return [str(sizes.index[i]) for i in dict.fromkeys(idx)]


def one_council(rows, data: Path, council: str, label: str, kernel: str, out: Path) -> None:
    """The same council's report twice: first time (cold cache), then again."""
    common = ["--council", council, "--data", str(data), "--kernel", kernel]
    vc_eval(
        rows,
        f"{label}: one report ({council}), first time",
        "report",
        *common,
        "--out",
        str(out / "first"),
    )
    vc_eval(
        rows,
        f"{label}: the same report again ({council})",
        "report",
        *common,
        "--out",
        str(out / "again"),
    )


def steps(data: Path, council: str, out: Path) -> None:
    """``vc-eval report`` in this process with its stages timed and its log printed.

    Run in a child process (``--_steps``): where a first-time report's time goes,
    per process (the renderer, the helper, the kernel) in CPU and wall seconds,
    and the time of day of each step, so the critical path can be read off.
    The report's log (normally removed with its temporary folder) is printed.
    """
    from vc_eval.cli import main as cli_main
    from vc_eval.reporting import render

    t0 = time.perf_counter()
    logs: list[str] = []
    remove = render.shutil.rmtree

    def keep_log(path, *a, **kw):
        logs.extend(p.read_text(errors="replace") for p in Path(path).glob("*.log"))
        return remove(path, *a, **kw)

    def stage(line: str) -> None:
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"{time.strftime('%H:%M:%S')} +{time.perf_counter() - t0:6.2f} s wall, "
            f"renderer {cpu.ru_utime + cpu.ru_stime:6.2f} s CPU: {line}",
            flush=True,
        )

    render.shutil.rmtree = keep_log
    real = render.render_report
    render.render_report = lambda *a, **kw: real(*a, **{**kw, "stage": stage})
    stage("start")
    try:
        cli_main(["report", "--data", str(data), "--council", council, "--out", str(out)])
    except SystemExit:
        pass
    stage("done")
    print("\n".join(line for text in logs for line in text.splitlines() if " s CPU" in line))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_steps"]:
        steps(Path(argv[1]), argv[2], Path(argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundled", type=Path, default=ROOT / "data" / "synthetic")
    ap.add_argument("--national", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=0, help="councils in a timed 2-worker batch")
    ap.add_argument("--all", action="store_true", help="every national council, 2 workers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--council", default="Bitternmere", help="bundled council")
    ap.add_argument("--national-council", default=None, help="default: the median-size one")
    ap.add_argument("--no-bundled", action="store_true")
    ap.add_argument(
        "--steps",
        action="store_true",
        help="also a first-time bundled report with its steps timed (where the time goes)",
    )
    args = ap.parse_args(argv)
    kernel = _kernel()
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        if not args.no_bundled:
            data = copy_data(args.bundled, tmp, "bundled")
            one_council(rows, data, args.council, "bundled", kernel, tmp / "bundled-out")
        if args.steps:
            data = copy_data(args.bundled, tmp, "bundled-steps")
            env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
            print(f"\nsteps of a first-time report (load {_load()}):", flush=True)
            subprocess.run(
                [sys.executable, __file__, "--_steps", str(data), args.council, str(tmp / "s")],
                env=env,
                check=False,
            )
            print(f"load after: {_load()}", flush=True)
        if args.national:
            data = copy_data(args.national, tmp, "national")
            council = args.national_council or spread(data, 3)[1]
            one_council(rows, data, council, "national", kernel, tmp / "national-out")
            n_all = len(pd.read_parquet(data / "councils.parquet"))
            batch_args = [
                "--data",
                str(data),
                "--kernel",
                kernel,
                "--no-progress",
                "--workers",
                str(args.workers),
            ]
            if args.batch:
                chosen = spread(data, args.batch)
                row = vc_eval(
                    rows,
                    f"national: batch of {len(chosen)} councils, {args.workers} workers",
                    "report",
                    *[a for c in chosen for a in ("--council", c)],
                    *batch_args,
                    "--out",
                    str(tmp / "batch"),
                )
                # the cache entry is ready (the single report made it): per-council time only
                row["per_council"] = row["seconds"] / len(chosen)
                row["extrapolated_all"] = n_all * row["per_council"]
            if args.all:
                row = vc_eval(
                    rows,
                    f"national: all {n_all} councils, {args.workers} workers",
                    "report",
                    "--all",
                    *batch_args,
                    "--out",
                    str(tmp / "all"),
                )
                row["per_council"] = row["seconds"] / n_all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nkernel {kernel}; {os.cpu_count()} CPUs; load average (1, 5, 15 min) before / after")
    print("| what | wall s | CPU s | per council (wall s) | all councils (extrapolated) | load |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(_row_text(r))
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


def _row_text(r: dict) -> str:
    per = f"{r['per_council']:.1f}" if "per_council" in r else ""
    ext = f"{r['extrapolated_all'] / 60:.1f} min" if "extrapolated_all" in r else ""
    failed = "" if r["exit"] == 0 else f" (exit {r['exit']})"
    return (
        f"| {r['what']}{failed} | {r['seconds']:.1f} | {r['cpu']:.1f} | {per} | {ext} | "
        f"{r['load']} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
