"""Page-level disclosure audit over every council of a synthetic run, without notebooks.

For each council: build the report context (``sections.build_context``, as the
notebook does, from a report cache prepared once), compute every section
(``sections.all_sections``), then the page with its audit (``sections.page``),
and record whether the audited page passes (``PageAudit.ok``: no count of 1-5
can be worked out from it), what the audit found before fixing, what it hid
or withheld, and the time of each step. Finished pages are not stored.

Run (data made once with ``vc-eval synth --councils N --seed 7 --out DIR``)::

    .venv/bin/python benchmarks/bench_page_audit_national.py --data DIR \
        [--sample K] [--domains total] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="synthetic dataset folder")
    ap.add_argument("--cache", type=Path, default=None, help="report cache (default: beside data)")
    ap.add_argument(
        "--sample", type=int, default=0, help="councils spread over size ranks (0: all)"
    )
    ap.add_argument("--domains", default="all", help="growth-model domains (report parameter)")
    ap.add_argument("--csv", type=Path, default=None, help="write one row per council here")
    args = ap.parse_args()

    from vc_eval.reporting import sections as S
    from vc_eval.reporting.cache import prepare_cache

    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t0, c0 = time.perf_counter(), time.process_time()
    folder = prepare_cache(args.data, cache_dir=args.cache)
    print(
        f"cache prepared: {time.perf_counter() - t0:.1f} s wall, "
        f"{time.process_time() - c0:.1f} s CPU"
    )
    cache_dir = folder.parent
    ctx0 = S.build_context(data_dir=args.data, cache_dir=str(cache_dir), domains="none")
    names = ctx0.all.council_names()
    if args.sample and args.sample < len(names):
        sizes = pd.Series({c: len(ctx0.all.local(c).children) for c in names}).sort_values()
        pick = np.unique(np.linspace(0, len(sizes) - 1, args.sample).round().astype(int))
        names = [sizes.index[i] for i in pick]
    rows = []
    for k, council in enumerate(names, 1):
        w0, p0 = time.perf_counter(), time.process_time()
        ctx = S.build_context(
            council=council, data_dir=args.data, cache_dir=str(cache_dir), domains=args.domains
        )
        ctx.page_store = None  # measure the computation; keep no pages
        S.all_sections(ctx)
        w1, p1 = time.perf_counter(), time.process_time()
        S.page(ctx)
        audit = S.page_audit(ctx)
        w2, p2 = time.perf_counter(), time.process_time()
        row = {
            "council": council,
            "children": len(ctx.local.children),
            "ok": audit.ok,
            "found": len(audit.violations),
            "remaining": len(audit.remaining),
            "cells_hidden": len(audit.hidden),
            "withheld": len(audit.withheld),
            "unaudited_tables": len(audit.unaudited),
            "sections_wall_s": round(w1 - w0, 2),
            "sections_cpu_s": round(p1 - p0, 2),
            "audit_wall_s": round(w2 - w1, 2),
            "audit_cpu_s": round(p2 - p1, 2),
            "load_1min": round(os.getloadavg()[0], 1),
        }
        rows.append(row)
        print(f"[{k}/{len(names)}] " + ", ".join(f"{a}={b}" for a, b in row.items()), flush=True)
        for s in S.page(ctx):
            s.close()
    out = pd.DataFrame(rows)
    if args.csv:
        out.to_csv(args.csv, index=False)
    print()
    print(
        f"councils: {len(out)}; audited page passes: {int(out['ok'].sum())}; "
        f"fails: {int((~out['ok']).sum())}"
    )
    print(
        f"found before fixing (councils with any): {int((out['found'] > 0).sum())}; "
        f"cells hidden by the audit: {int(out['cells_hidden'].sum())}; "
        f"sentences or headline counts withheld: {int(out['withheld'].sum())}"
    )
    for col in ("sections_wall_s", "sections_cpu_s", "audit_wall_s", "audit_cpu_s"):
        v = out[col]
        print(f"{col}: median {v.median():.2f}, max {v.max():.2f}, total {v.sum():.1f}")
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
