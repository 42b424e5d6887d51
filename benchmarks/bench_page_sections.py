"""CPU seconds of each section of one council's report page, in one process.

Run on a dataset whose cache already holds the shared cross-council results
(``prepare_cache(..., shared=True)``), so what is timed is a report of a batch
(or any report after the first)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_page_sections.py \\
        --data /tmp/national --council Heronmere --prepare

Sections are timed in the page's order with ``time.process_time`` (CPU of this
process: the machine may be shared), each after the ones before it (the first
section pays the plotting imports); finished pages are not read back from the
cache (``page_store`` off). Results are in benchmarks/README.md ("Shared
cross-council results").
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import matplotlib

matplotlib.use("Agg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="dataset folder")
    ap.add_argument("--council", required=True)
    ap.add_argument("--cache-dir", default="", help="default: <data>/.vc-eval-cache")
    ap.add_argument(
        "--prepare", action="store_true", help="prepare the cache (shared results) first"
    )
    args = ap.parse_args()
    from vc_eval.reporting import sections as S
    from vc_eval.reporting.cache import prepare_cache

    cache = args.cache_dir or os.path.join(args.data, ".vc-eval-cache")
    if args.prepare:
        t = time.process_time()
        prepare_cache(args.data, cache_dir=cache, shared=True)
        print(f"prepare_cache(shared=True): {time.process_time() - t:.1f} s CPU")
    load = os.getloadavg()[0]
    t = time.process_time()
    ctx = S.build_context(council=args.council, data_dir=args.data, cache_dir=cache)
    ctx.page_store = None
    print(f"{'context':<14}{time.process_time() - t:6.2f}")
    total = time.process_time() - t
    for key in S.SECTION_FUNCTIONS:
        t = time.process_time()
        S.computed(ctx, key)
        dt = time.process_time() - t
        total += dt
        print(f"{key:<14}{dt:6.2f}", flush=True)
    t = time.process_time()
    S.page_audit(ctx)
    dt = time.process_time() - t
    print(f"{'page audit':<14}{dt:6.2f}")
    print(f"{'total':<14}{total + dt:6.2f}  (load average at start {load:.1f})")


if __name__ == "__main__":
    main()
