"""Every row of issue 14's table in one run, beside the figures it replaces.

Usage (from the repository root, after making national data once)::

    .venv/bin/vc-eval synth --councils 153 --seed 1 --out /tmp/national
    .venv/bin/python benchmarks/bench_issue14.py --data /tmp/national [--rows ROW,ROW]

Each row runs in its own process (so its peak memory is its own) with the
product's defaults, and prints one JSON line as it finishes; at the end a
Markdown table gives, per row, the issue's "before" figure, wall and CPU
seconds (CPU includes child processes: kernels, workers), peak resident memory
and the load average at the row's start and end, beside the goal. Rows:

``one``, ``domains``, ``bootstrap``, ``incare``, ``lme4``
    ``bench_national_fits.py``'s parts (one domain on the engine; all
    ``fit_domains`` fits; ``GrowthFit.peaks("bootstrap", n=200)``; the in-care
    subset; lme4 on the same design when ``Rscript`` is present).
``report_first``, ``report_again``
    ``vc-eval report`` for one council of the national data (a copy, since the
    report cache is written beside the data), first with an empty cache, then
    the same report again.
``import``
    ``import_council`` + ``write_import`` on the national SSDA903 export (long
    needs extract), made once under ``--work`` by ``bench_import.py``.
``batch``
    ``vc-eval report --all --workers 2`` over every council (long: tens of
    minutes).
``spend``, ``outcomes``
    ``spend(dataset)`` and ``outcomes(dataset)`` with their defaults.
``tests``
    ``make test``.

Figures go to ``benchmarks/README.md`` by hand. No assertions.
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

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PY = sys.executable
VC = str(Path(PY).with_name("vc-eval"))

#: What issue 14 measured before (its "now" column) and its goal.
ISSUE = {
    "one": ("one domain, fast engine", "24.5 s (lme4 66.6 s)", "part of `domains`"),
    "domains": ("all fits, `fit_domains`, national", "431 s, 4.1 GiB", "< 30 s, < 3 GiB"),
    "bootstrap": ("peak-age bootstrap, 200 refits", "~90 min", "< 2 min"),
    "incare": ("in-care subset, one domain", "8.6 s (lme4 53 s)", "< 2 s"),
    "report_first": ("one council's report, first run", "62 s", "(cache build)"),
    "report_again": ("one council's report, again", "23 s", "< 10 s"),
    "import": ("national import (long needs extract)", "78 s, 4.1 GiB", "< 40 s, < 3 GiB"),
    "batch": ("all councils' reports, 2 workers", "~35 min", "< 15 min"),
    "spend": ("spend models, national", "87 s", "< 30 s"),
    "outcomes": ("outcome models, national", "358 s", "< 60 s"),
    "tests": ("`make test`, 2 cores", "14 min", "< 8 min"),
    "lme4": ("lme4 side by side", "2.7x (one domain)", "> 25x per domain"),
}
ROWS = tuple(ISSUE)


def _measure(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run a command; wall, CPU of its process tree and the peak RSS of its largest process.

    ``os.wait4`` gives this command's own resource use (``RUSAGE_CHILDREN`` would
    carry the largest process of every earlier row).
    """
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=so, stderr=se, text=True)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        so.seek(0), se.seek(0)
        stdout, stderr = so.read(), se.read()
    rc = os.waitstatus_to_exitcode(status)
    out = {
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "rss": ru.ru_maxrss / 2**20,
        "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
        "rc": rc,
    }
    if rc:
        out["error"] = (stderr or stdout)[-1500:]
    out["stdout"] = stdout
    return out


def _fits_part(name: str, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cmd = [PY, str(HERE / "bench_national_fits.py"), "--data", str(args.data), "--child", name]
    cmd += ["--previous-rev", ""]
    m = _measure(cmd, env=env)
    if m["rc"]:
        return m
    inner = json.loads(m["stdout"].strip().splitlines()[-1])
    inner["process_wall"], inner["process_cpu"] = m["wall"], m["cpu"]
    inner["load"] = m["load"]
    return inner


def _data_copy(args) -> Path:
    copy = args.work / "national-copy"
    if not copy.exists():
        shutil.copytree(args.data, copy, ignore=shutil.ignore_patterns(".vc-eval-cache"))
    return copy


def _first_council(data: Path) -> str:
    import pandas as pd

    councils = pd.read_parquet(next(data.glob("councils.*")))
    return str(sorted(councils["council"])[len(councils) // 2])


def row_report(args, again: bool) -> dict:
    data = _data_copy(args)
    if not again:
        shutil.rmtree(data / ".vc-eval-cache", ignore_errors=True)
    out = args.work / "reports-one"
    cmd = [VC, "report", "--data", str(data), "--council", _first_council(data), "--out", str(out)]
    m = _measure(cmd)
    m.pop("stdout")
    return m


def row_batch(args) -> dict:
    data = _data_copy(args)
    shutil.rmtree(data / ".vc-eval-cache", ignore_errors=True)
    out = args.work / "reports-all"
    m = _measure([VC, "report", "--data", str(data), "--all", "--workers", "2", "--out", str(out)])
    m.pop("stdout")
    m["reports"] = len(list(out.glob("*.html"))) - 1  # less the index
    return m


def row_import(args) -> dict:
    export = args.work / "export-long"
    if not export.exists():
        subprocess.run(
            [PY, str(HERE / "bench_import.py"), "--layout", "long", "--workdir", str(args.work)]
            + ["--keep"],
            check=True,
        )
    out = args.work / "import-long"
    shutil.rmtree(out, ignore_errors=True)
    m = _measure(
        [PY, str(HERE / "bench_import.py"), "--_import-only", str(export), "long", str(out)]
    )
    if m["rc"]:
        return m
    inner = json.loads(m.pop("stdout").strip().splitlines()[-1])
    m.update(
        import_wall=inner["import_wall"], import_cpu=inner["import_cpu"], rss=inner["peak_gib"]
    )
    return m


def _child(name: str, args) -> dict:
    """Rows timed inside one process (after loading the data)."""
    import warnings

    from vc_eval.api import Dataset, outcomes, spend

    ds = Dataset.load(args.data)
    fn = {"spend": spend, "outcomes": outcomes}[name]
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(ds, progress=False)
    return {
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def row_child(name: str, args) -> dict:
    cmd = [PY, __file__, "--data", str(args.data), "--work", str(args.work), "--child", name]
    m = _measure(cmd)
    if m["rc"]:
        return m
    inner = json.loads(m.pop("stdout").strip().splitlines()[-1])
    inner["load"] = m["load"]
    return inner


def row_tests(args) -> dict:
    m = _measure(["make", "test"])
    tail = [ln for ln in m.pop("stdout").splitlines() if " passed" in ln]
    m["summary"] = tail[-1] if tail else ""
    return m


def run_row(name: str, args) -> dict:
    if name in ("one", "domains", "bootstrap", "incare", "lme4"):
        return _fits_part(name, args)
    if name in ("report_first", "report_again"):
        return row_report(args, again=name == "report_again")
    if name == "batch":
        return row_batch(args)
    if name == "import":
        return row_import(args)
    if name in ("spend", "outcomes"):
        return row_child(name, args)
    if name == "tests":
        return row_tests(args)
    raise SystemExit(f"unknown row {name!r}; rows: {', '.join(ROWS)}")


def _fmt(r: dict) -> tuple[str, str, str]:
    if r.get("error"):
        return "failed", "", ""
    wall, cpu = r.get("import_wall", r.get("wall")), r.get("import_cpu", r.get("cpu"))
    rss = r.get("rss")
    return (
        f"{wall:.1f}" if wall is not None else "",
        f"{cpu:.1f}" if cpu is not None else "",
        f"{rss:.2f}" if rss is not None else "",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="national data (vc-eval synth)")
    ap.add_argument(
        "--rows",
        default="one,domains,bootstrap,incare,report_first,report_again,import,spend,outcomes,lme4",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/vc-bench-issue14"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, data {args.data}")
    results = []
    for name in args.rows.split(","):
        r = run_row(name, args)
        r["row"] = name
        print(json.dumps(r), flush=True)
        results.append(r)
    print("\n| what | issue 14 (before) | wall s | CPU s | peak RSS GiB | load | goal |")
    print("|---|---|---:|---:|---:|---|---|")
    for r in results:
        what, before, goal = ISSUE[r["row"]]
        wall, cpu, rss = _fmt(r)
        print(f"| {what} | {before} | {wall} | {cpu} | {rss} | {r.get('load', '')} | {goal} |")


if __name__ == "__main__":
    main()
