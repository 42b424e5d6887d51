"""Page-level disclosure audit on real report pages of random tiny councils (5-30 children).

Each draw takes a random council of a dataset and a random 5-30 of its
children (with every row about them), renames it, and computes the report page
as the notebook does (``sections.build_context(data=...)``, ``sections.page``,
``sections.page_audit``), figures included. Records whether the audited page
passes, what the audit found before fixing and what it hid or withheld, and
checks what the tests check of every kept figure (no mark for 1-5 children).

Run::

    nice -n 19 .venv/bin/python benchmarks/bench_page_audit_tiny.py \
        [--data data/synthetic] [--draws 12] [--seed 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

TINY = "Tinyton"


def tiny(ds, council: str, n: int, rng: np.random.Generator):
    from vc_eval.core.schema import Col

    sub = ds.subset(council)
    ids = sub.children[Col.child_id].to_numpy()
    kids = rng.choice(ids, size=min(n, len(ids)), replace=False)
    return sub.only_children(kids, council=TINY)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/synthetic")
    ap.add_argument("--draws", type=int, default=12)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    from vc_eval.core.dataset import Dataset
    from vc_eval.reporting import sections as S

    ds = Dataset.load(args.data)
    rng = np.random.default_rng(args.seed)
    rows = []
    for k in range(args.draws):
        council = str(rng.choice(ds.council_names()))
        n = int(rng.integers(5, 31))
        c0 = time.process_time()
        ctx = S.build_context(
            data=tiny(ds, council, n, rng), data_dir="tiny", council=TINY, domains="total"
        )
        drawn = sum(len(s.figures) for s in S.all_sections(ctx))
        audit = S.page_audit(ctx)
        kept = [f for s in S.page(ctx) for f in s.figures]
        small_marks = sum(any(1 <= m <= 5 for m in (f.marks or ())) for f in kept)
        row = {
            "council": council,
            "children": n,
            "ok": audit.ok,
            "found": len(audit.violations),
            "cells_hidden": len(audit.hidden),
            "withheld": len(audit.withheld),
            "figures": drawn,
            "figures_withheld": len(audit.figures_withheld),
            "figures_unchecked": len(audit.figures_unchecked),
            "kept_figures_with_small_marks": small_marks,
            "cpu_s": round(time.process_time() - c0, 1),
        }
        rows.append(row)
        print(
            f"[{k + 1}/{args.draws}] " + ", ".join(f"{a}={b}" for a, b in row.items()), flush=True
        )
        for s in S.all_sections(ctx):
            s.close()
    out = pd.DataFrame(rows)
    print()
    print(
        f"tiny councils: {len(out)} ({out['children'].min()}-{out['children'].max()} children); "
        f"audited page passes: {int(out['ok'].sum())}; found something before fixing: "
        f"{int((out['found'] > 0).sum())}; cells hidden {int(out['cells_hidden'].sum())}, "
        f"sentences withheld {int(out['withheld'].sum())}, figures withheld "
        f"{int(out['figures_withheld'].sum())} of {int(out['figures'].sum())}; figures "
        f"unchecked {int(out['figures_unchecked'].sum())}; kept figures with a mark for 1-5 "
        f"children {int(out['kept_figures_with_small_marks'].sum())}; CPU s median "
        f"{out['cpu_s'].median():.1f}"
    )


if __name__ == "__main__":
    main()
