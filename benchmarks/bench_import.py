"""Import at national scale: export the synthetic population, import it, time it.

Usage::

    .venv/bin/python benchmarks/bench_import.py [--councils 153] [--seed 1]
        [--layout long|wide|both] [--workdir DIR] [--keep]

Generates ``SynthConfig(councils, seed)``, exports every council as one
SSDA903 return set (one folder per collection year since the first
placement, episodes repeated in every year they are open), a needs extract
(long: one row per child x assessment x domain; wide: one column per
domain) and a costs file for 80% of placements, then runs ``import_council``
+ ``write_import`` on it in a fresh process (so its peak memory is its own)
and prints wall time, CPU time and peak resident memory per stage.

Wall time depends on what else the machine runs; CPU time is the steadier
figure. Results go to ``benchmarks/import.md`` by hand.
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


def _usage() -> tuple[float, float]:
    """CPU seconds so far and peak resident memory (GiB) of this process.

    The peak is read from /proc (VmHWM) where available: ``ru_maxrss`` of a
    child process on Linux includes the parent's size at fork, which would
    credit the generated population's memory to the import.
    """
    r = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r.ru_utime + r.ru_stime
    try:
        status = Path("/proc/self/status").read_text()
        hwm = next(ln for ln in status.splitlines() if ln.startswith("VmHWM:"))
        return cpu, int(hwm.split()[1]) / 1024**2
    except (OSError, StopIteration):
        return cpu, r.ru_maxrss / 1024**2


def _du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024**2


def import_only(export: Path, layout: str, out: Path) -> dict:
    """Run in a child process: import one export and report the cost."""
    from vc_eval.ingest.importer import import_council, write_import

    needs = export / "needs_extract.csv"
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _usage()[0]
    res = import_council(
        [export / "ssda903"],
        council="England (synthetic)",
        key=b"benchmark-key-not-a-secret-0123456789",
        needs=needs,
        needs_config=export / "needs_mapping.yaml",
        costs=export / "costs.csv",
        progress=False,
    )
    t1, c1 = time.perf_counter(), _usage()[0]
    peak_import = _usage()[1]
    write_import(res, out)
    t2, c2 = time.perf_counter(), _usage()[0]
    ds = res.dataset
    return {
        "layout": layout,
        "import_wall": t1 - t0,
        "import_cpu": c1 - c0,
        "write_wall": t2 - t1,
        "write_cpu": c2 - c1,
        "peak_import_gib": peak_import,
        "peak_gib": _usage()[1],
        "children": len(ds.children),
        "placements": len(ds.placements),
        "scores": len(ds.assessments),
        "outcomes": len(ds.outcomes),
        "episode_rows": res.stats["episodes"]["rows_read"],
        "row_problems": res.log.count("error"),
        "imputed_share": res.stats["costs"]["imputed_share"],
        # other jobs on the machine inflate wall time (and CPU time a little)
        "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--councils", type=int, default=153)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layout", choices=("long", "wide", "both"), default="both")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the exports and imports")
    ap.add_argument(
        "--_import-only", nargs=3, metavar=("EXPORT", "LAYOUT", "OUT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args._import_only:
        exp, layout, out = args._import_only
        print(json.dumps(import_only(Path(exp), layout, Path(out))))
        return

    from vc_eval.synthetic.generator import SynthConfig, generate
    from vc_eval.synthetic.ssda903_export import export_dataset

    work = args.workdir or Path(tempfile.mkdtemp(prefix="vc-bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()}")
    t0, c0 = time.perf_counter(), _usage()[0]
    ds = generate(SynthConfig(councils=args.councils, seed=args.seed))
    print(
        f"generate: {time.perf_counter() - t0:.1f} s wall, {_usage()[0] - c0:.1f} s CPU; "
        f"{len(ds.children):,} children ever in care, {len(ds.placements):,} placements, "
        f"{len(ds.assessments):,} score rows"
    )
    layouts = ("long", "wide") if args.layout == "both" else (args.layout,)
    rows = []
    for layout in layouts:
        exp = work / f"export-{layout}"
        if exp.exists():
            shutil.rmtree(exp)
        t0, c0 = time.perf_counter(), _usage()[0]
        res = export_dataset(ds, exp, needs_layout=layout, cost_share=0.8, seed=1)
        print(
            f"export ({layout}): {time.perf_counter() - t0:.1f} s wall, "
            f"{_usage()[0] - c0:.1f} s CPU; {res.summary()}"
        )
        print(
            f"  on disk: SSDA903 {_du(exp / 'ssda903'):,.0f} MiB, needs extract "
            f"{(exp / 'needs_extract.csv').stat().st_size / 1024**2:,.0f} MiB"
        )
        out = work / f"import-{layout}"
        proc = subprocess.run(
            [sys.executable, __file__, "--_import-only", str(exp), layout, str(out)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(
            f"import ({layout}): {r['import_wall']:.1f} s wall, {r['import_cpu']:.1f} s CPU; "
            f"write {r['write_wall']:.1f} s; peak {r['peak_import_gib']:.2f} GiB importing, "
            f"{r['peak_gib']:.2f} GiB with writing; "
            f"{r['children']:,} children, {r['placements']:,} placements, "
            f"{r['scores']:,} scores, {r['outcomes']:,} outcomes from {r['episode_rows']:,} "
            f"episode rows; {r['row_problems']} row-level problems; "
            f"{100 * r['imputed_share']:.1f}% costs imputed; load average "
            f"{r['load_average'][0]:.1f} -> {r['load_average'][1]:.1f}"
        )
        if not args.keep:
            shutil.rmtree(exp)
            shutil.rmtree(out, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()}")
    print(
        "\n| needs layout | import wall (s) | import CPU (s) | write (s) | peak RSS import "
        "(GiB) | peak RSS incl. write (GiB) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['layout']} | {r['import_wall']:.1f} | {r['import_cpu']:.1f} | "
            f"{r['write_wall']:.1f} | {r['peak_import_gib']:.2f} | {r['peak_gib']:.2f} |"
        )
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
