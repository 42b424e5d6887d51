"""Needs-matched scenario under the null: does its interval cover zero?

Run from the repository root::

    .venv/bin/python benchmarks/study_scenario_null.py --seeds 20 --first-seed 401

For each seed, generates four councils of 250 children with no programme
effect (``ProgrammeEffects.none()``): every council maps need to placement
type the same way, so no council's children are placed out of line with the
mix similar-need children receive elsewhere, and the true needs-matched
saving is zero. Each council in turn is the target and the other three the
comparison population (:func:`vc_eval.analysis.spend.needs_matched_scenario`,
default neighbourhood and 500 resamples), and for every definition of the
sensitivity table. Prints the share of (seed, council) runs whose 95% interval
covers zero, and the mean saving as a share of spend. Seeds 401+ are used by
no test. Results are recorded in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from vc_eval.analysis.spend import (
    SENSITIVITY_DEFINITIONS,
    needs_matched_scenario,
    snapshot_frame,
)
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=401)
    ap.add_argument("--councils", type=int, default=4)
    ap.add_argument("--size", type=int, default=250)
    ap.add_argument("--boot", type=int, default=500)
    args = ap.parse_args(argv)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        ds = generate(
            SynthConfig(
                councils=args.councils,
                sizes=(args.size,) * args.councils,
                seed=seed,
                programme=ProgrammeEffects.none(),
            )
        )
        snap = snapshot_frame(ds)
        doms = ds.framework.need_domains
        for c in ds.council_names():
            tgt = snap[snap["council"] == c] if "council" in snap else None
            if tgt is None:
                kids = set(ds.children.loc[ds.children["council"] == c, "child_id"].astype(str))
                is_t = snap["child_id"].astype(str).isin(kids)
                tgt, ref = snap[is_t], snap[~is_t]
            else:
                ref = snap[snap["council"] != c]
            for method, k, text in SENSITIVITY_DEFINITIONS:
                sc = needs_matched_scenario(
                    tgt, domains=doms, reference=ref, method=method, k=k, n_boot=args.boot, seed=0
                )
                rows.append(
                    {
                        "seed": seed,
                        "council": c,
                        "definition": text,
                        "saving_share": sc.share_of_spend,
                        "covers_zero": sc.interval_includes_zero,
                        "children": sc.n_children,
                        "matched": sc.n_matched,
                    }
                )
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    r = pd.DataFrame(rows)
    t = r.groupby("definition", sort=False).agg(
        runs=("covers_zero", "size"),
        covers_zero=("covers_zero", "mean"),
        mean_saving_share=("saving_share", "mean"),
        sd_saving_share=("saving_share", "std"),
        matched_share=("matched", "sum"),
        children=("children", "sum"),
    )
    t["matched_share"] = t["matched_share"] / t["children"]
    print("| definition | runs | interval covers 0 | mean saving / spend | SD | children matched |")
    print("|---|---:|---:|---:|---:|---:|")
    for d, x in t.iterrows():
        print(
            f"| {d} | {x.runs} | {x.covers_zero:.3f} | {100 * x.mean_saving_share:+.1f}% | "
            f"{100 * x.sd_saving_share:.1f}% | {x.matched_share:.2f} |"
        )
    _ = np
    return 0


if __name__ == "__main__":
    sys.exit(main())
