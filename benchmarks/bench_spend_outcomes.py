"""Cost against need and spend against outcomes: runtime by scale, and recovery over seeds.

Usage::

    .venv/bin/python benchmarks/bench_spend_outcomes.py scale [--councils 3 20 153]
    .venv/bin/python benchmarks/bench_spend_outcomes.py recovery [--seeds 8] [--size 800]

``scale`` generates synthetic populations of the given numbers of councils
(153: national scale) and times :func:`vc_eval.analysis.spend.spend` and
:func:`vc_eval.analysis.outcomes.outcomes` (all 12 need domains, total need and four
external outcomes) on each, with peak memory. ``recovery`` prints, per
seed, the estimates the tests check against ``truth.json``: the corrected
and naive cost-need link, price growth, the largest error of a type median,
the programme and spend effects on need change, and the SDQ and attendance
coefficients. Figures go to ``benchmarks/spend_outcomes.md`` by hand.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from vc_eval.analysis.outcomes import (
    MOVES,
    NEED,
    PROGRAMME,
    SPEND,
    external_outcomes,
    need_change,
    outcomes,
)
from vc_eval.analysis.spend import cost_need_link, need_cost_frame, need_error_variance, spend
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.synthetic.generator import SynthConfig, generate


def _markdown(df: pd.DataFrame) -> str:
    """A pipe table (no tabulate dependency)."""
    cells = [[str(c) for c in df.columns]] + [
        [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        for row in df.itertuples(index=False)
    ]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + " --- |" * len(df.columns))
    return "\n".join(lines)


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def scale(councils: list[int], n_boot: int) -> None:
    rows = []
    for n in councils:
        t0 = time.perf_counter()
        ds = generate(SynthConfig(councils=n, seed=1))
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        s = spend(ds, n_boot=n_boot, progress=False)
        t_spend = time.perf_counter() - t0
        t0 = time.perf_counter()
        outcomes(ds, progress=False)
        t_out = time.perf_counter() - t0
        rows.append(
            {
                "councils": n,
                "children": len(ds.children),
                "in care on snapshot": len(s.snapshot),
                "assessment rows": len(ds.assessments),
                "generate (s)": round(t_gen, 1),
                f"spend, {n_boot} resamples (s)": round(t_spend, 1),
                "outcomes (s)": round(t_out, 1),
                "peak RSS (GiB)": round(_peak_gib(), 2),
            }
        )
        print(pd.DataFrame(rows).tail(1).to_string(index=False), flush=True)
    print()
    print(_markdown(pd.DataFrame(rows)))


def recovery(seeds: int, size: int) -> None:
    rows = []
    for seed in range(1, seeds + 1):
        ds = generate(SynthConfig(councils=2, seed=seed, sizes=(size, size)))
        tr = ds.truth
        link = cost_need_link(need_cost_frame(ds), error_var=need_error_variance(ds))
        tm = link.type_medians.set_index("placement_type")
        uc = tr["cost_model"]["unit_costs"]
        err = [
            abs(tm.loc[t, "median_at_reference"] / uc[t]["median"] - 1)
            for t in tm.index
            if tm.loc[t, "placements"] >= 100
        ]
        nc = need_change(ds, domains=[], progress=False)
        ex = external_outcomes(ds, measures=["sdq_total", "school_attendance"], progress=False)
        term = nc.term
        rows.append(
            {
                "seed": seed,
                "link (0.04)": link.need_link,
                "link naive": link.need_link_naive,
                "reliability": link.reliability,
                "price growth (0.06)": link.price_growth,
                "growth after (0.03)": link.price_growth_after,
                "max type-median error": max(err),
                "programme (-1.0)": term(TOTAL_NEED, PROGRAMME)["estimate"],
                "spend (0)": term(TOTAL_NEED, SPEND)["estimate"],
                "spend naive": term(TOTAL_NEED, SPEND, corrected=False)["estimate"],
                "SDQ/need (0.25)": ex.term("sdq_total", NEED)["estimate"],
                "SDQ/need naive": ex.term("sdq_total", NEED, corrected=False)["estimate"],
                "SDQ/move (1.0)": ex.term("sdq_total", MOVES)["estimate"],
                "attend/edu (-0.12)": ex.term("school_attendance", NEED)["estimate"],
            }
        )
        print(f"seed {seed} done", flush=True)
    d = pd.DataFrame(rows)
    summ = d.drop(columns="seed").agg(["mean", "std", "min", "max"]).T
    print(_markdown(d.round(3)))
    print()
    print(_markdown(summ.round(4).reset_index(names="estimate")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", default="scale", choices=["scale", "recovery"])
    ap.add_argument("--councils", type=int, nargs="+", default=[3, 20, 153])
    ap.add_argument("--boot", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--size", type=int, default=800)
    a = ap.parse_args()
    np.set_printoptions(precision=4)
    if a.what == "scale":
        scale(a.councils, a.boot)
    else:
        recovery(a.seeds, a.size)


if __name__ == "__main__":
    main()
