"""Page-level disclosure audit over every council of a synthetic run, without notebooks.

For each council: build the report context (``sections.build_context``, as the
notebook does, from a report cache prepared once), compute every section
(``sections.all_sections``), then the page with its audit (``sections.page``),
and record whether the audited page passes (``PageAudit.ok``: no count of 1-5
can be worked out from it), what the audit found before fixing, what it hid
or withheld (table cells, sentences, figures), and the time of each step.
Finished pages are not stored.

Councils run in ``--jobs`` worker processes; each council's row is appended
to ``--progress`` (JSON lines) as soon as it is done, with the code revision
it ran on, so a run cut short resumes where it stopped (councils already
recorded for the same revision are skipped) and a partial run can be
summarised honestly (``--summary``). Councils are taken in a fixed shuffled
order (``--order-seed``), so a partial run covers all sizes.

Run (data made once with ``vc-eval synth --councils N --seed 7 --out DIR``;
the report cache is written beside the data unless ``--cache`` says where)::

    nice -n 19 .venv/bin/python benchmarks/bench_page_audit_national.py --data DIR \
        [--cache DIR] [--jobs 2] [--progress runs.jsonl] [--sample K] [--domains total]
    .venv/bin/python benchmarks/bench_page_audit_national.py --data DIR \
        --progress runs.jsonl --summary
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

_STATE: dict = {}


def code_revision() -> str:
    """The git commit of the code under test (``+dirty`` with uncommitted changes)."""
    import vc_eval

    src = Path(vc_eval.__file__).resolve().parent
    rev = os.environ.get("VC_EVAL_REVISION", "")
    if rev:
        return rev
    try:
        head = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _init(data: str, cache_dir: str, domains: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _STATE.update(data=data, cache_dir=cache_dir, domains=domains)


def audit_council(council: str) -> dict:
    """One council's report page, audited: the row the benchmark records."""
    from threadpoolctl import threadpool_limits

    from vc_eval.reporting import sections as S

    with threadpool_limits(1):
        w0, p0 = time.perf_counter(), time.process_time()
        try:
            ctx = S.build_context(
                council=council,
                data_dir=_STATE["data"],
                cache_dir=_STATE["cache_dir"],
                domains=_STATE["domains"],
            )
            ctx.page_store = None  # measure the computation; keep no pages
            S.all_sections(ctx)
            w1, p1 = time.perf_counter(), time.process_time()
            S.page(ctx)
            audit = S.page_audit(ctx)
            w2, p2 = time.perf_counter(), time.process_time()
        except Exception as e:  # recorded, not hidden: a failing page is a result
            return {"council": council, "ok": False, "error": f"{type(e).__name__}: {e}"}
        figures = sum(len(s.figures) for s in S.all_sections(ctx))
        row = {
            "council": council,
            "children": len(ctx.local.children),
            "ok": audit.ok,
            "found": len(audit.violations),
            "remaining": len(audit.remaining),
            "cells_hidden": len(audit.hidden),
            "withheld": len(audit.withheld),
            "figures_withheld": len(getattr(audit, "figures_withheld", []) or []),
            "figures": figures,
            "figure_counts": len(getattr(audit, "figure_counts", []) or []),
            "figures_unchecked": len(getattr(audit, "figures_unchecked", []) or []),
            # what was found and done, by name (to check a finding without rerunning)
            "found_what": [
                f"{v['kind']}: {v['universe']} {v['where']} = {v['value']}"
                for v in audit.violations
            ],
            "hidden_what": list(audit.hidden),
            "figures_withheld_what": list(getattr(audit, "figures_withheld", []) or []),
            "unaudited_tables": len(audit.unaudited),
            "sections_wall_s": round(w1 - w0, 2),
            "sections_cpu_s": round(p1 - p0, 2),
            "audit_wall_s": round(w2 - w1, 2),
            "audit_cpu_s": round(p2 - p1, 2),
            "load_1min": round(os.getloadavg()[0], 1),
            "error": "",
        }
        for s in S.page(ctx):
            s.close()
        for s in S.all_sections(ctx):
            s.close()
        return row


def read_progress(path: Path | None) -> list[dict]:
    if path is None or not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: run again
                continue
    return rows


def summarise(rows: list[dict], total: int | None) -> None:
    if not rows:
        print("no councils recorded")
        return
    out = pd.DataFrame(rows)
    for rev, g in out.groupby("revision", sort=False):
        g = g.drop_duplicates("council", keep="last")
        err = g["error"].fillna("").astype(bool) if "error" in g else pd.Series(False, g.index)
        print(f"code {rev}: councils audited {len(g)}" + (f" of {total}" if total else ""))
        print(f"  audited page passes: {int(g['ok'].sum())} of {len(g)}; errors: {int(err.sum())}")
        ok = g[~err]
        if len(ok):
            print(
                f"  children per council {int(ok['children'].min()):,}-"
                f"{int(ok['children'].max()):,} (median {ok['children'].median():,.0f})"
            )
            print(
                f"  councils where the audit found something: {int((ok['found'] > 0).sum())}; "
                f"cells hidden: {int(ok['cells_hidden'].sum())}; sentences or headline counts "
                f"withheld: {int(ok['withheld'].sum())}; figures withheld: "
                f"{int(ok.get('figures_withheld', pd.Series(0)).sum())}"
            )
            for col in ("sections_cpu_s", "audit_cpu_s", "sections_wall_s", "audit_wall_s"):
                v = ok[col]
                print(f"  {col}: median {v.median():.2f}, max {v.max():.2f}")
            print(f"  load (1 min) seen: {ok['load_1min'].min()}-{ok['load_1min'].max()}")
        for r in g[err].itertuples():
            print(f"  ERROR {r.council}: {r.error}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="synthetic dataset folder")
    ap.add_argument("--cache", type=Path, default=None, help="report cache (default: beside data)")
    ap.add_argument(
        "--sample", type=int, default=0, help="councils spread over size ranks (0: all)"
    )
    ap.add_argument("--domains", default="all", help="growth-model domains (report parameter)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--progress", type=Path, default=None, help="JSON lines, one per council")
    ap.add_argument("--order-seed", type=int, default=0, help="shuffled order of councils")
    ap.add_argument("--limit", type=int, default=0, help="stop after this many new councils")
    ap.add_argument("--summary", action="store_true", help="only summarise --progress")
    ap.add_argument("--csv", type=Path, default=None, help="write one row per council here")
    args = ap.parse_args()

    rev = code_revision()
    done = read_progress(args.progress)
    if args.summary:
        summarise(done, None)
        return

    from vc_eval.reporting import sections as S
    from vc_eval.reporting.cache import prepare_cache

    print(f"code {rev}; load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t0, c0 = time.perf_counter(), time.process_time()
    folder = prepare_cache(args.data, cache_dir=args.cache, shared=True)
    print(
        f"cache prepared: {time.perf_counter() - t0:.1f} s wall, "
        f"{time.process_time() - c0:.1f} s CPU",
        flush=True,
    )
    cache_dir = folder.parent
    ctx0 = S.build_context(data_dir=args.data, cache_dir=str(cache_dir), domains="none")
    names = list(ctx0.all.council_names())
    if args.sample and args.sample < len(names):
        sizes = pd.Series({c: len(ctx0.all.local(c).children) for c in names}).sort_values()
        pick = np.unique(np.linspace(0, len(sizes) - 1, args.sample).round().astype(int))
        names = [sizes.index[i] for i in pick]
    total = len(names)
    names = [names[i] for i in np.random.default_rng(args.order_seed).permutation(total)]
    seen = {r["council"] for r in done if r.get("revision") == rev and not r.get("error")}
    todo = [c for c in names if c not in seen]
    if args.limit:
        todo = todo[: args.limit]
    print(f"councils: {total}; already recorded for {rev}: {len(seen)}; to run: {len(todo)}")
    del ctx0

    rows = [r for r in done if r.get("revision") == rev]

    def record(row: dict, k: int) -> None:
        row = {"revision": rev, **row}
        rows.append(row)
        if args.progress is not None:
            with args.progress.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
        print(f"[{k}/{len(todo)}] " + ", ".join(f"{a}={b}" for a, b in row.items()), flush=True)

    init = (str(args.data), str(cache_dir), args.domains)
    if args.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(args.jobs, _init, init, maxtasksperchild=4) as pool:
            for k, row in enumerate(pool.imap_unordered(audit_council, todo), 1):
                record(row, k)
    else:
        _init(*init)
        for k, council in enumerate(todo, 1):
            record(audit_council(council), k)
    print()
    summarise(rows, total)
    if args.csv:
        pd.DataFrame(rows).to_csv(args.csv, index=False)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
