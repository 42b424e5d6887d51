"""Sufficiency projections: backtest (error and interval coverage) and national speed.

    python benchmarks/bench_sufficiency.py backtest [N]  # N seeds from 9101 (default 6; no test
                                                         # uses 9101-9150)
    python benchmarks/bench_sufficiency.py national   # 153 councils, 5 years, 200 simulations

Backtest: synthetic councils with no programme (so nothing changes after the
origin that the data could not show), fitted on data up to 31 March 2023,
projected two years by quarter and compared with the generated counts of
children by placement type. Results go in ``benchmarks/sufficiency.md``.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd

from vc_eval.analysis.sufficiency import backtest, estimate, project
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

SEEDS = tuple(range(9101, 9107))
ORIGIN = "2023-03-31"


def run_backtest(seeds=SEEDS, n_sims: int = 200) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        cfg = SynthConfig(
            councils=3, seed=seed, adopters=(False, False, False), programme=ProgrammeEffects.none()
        )
        ds = generate(cfg)
        for council in ds.council_names():
            bt = backtest(ds.subset(council), origin=ORIGIN, years=2, n_sims=n_sims, seed=seed)
            bt["seed"], bt["council"] = seed, council
            rows.append(bt)
            print(seed, council, bt.groupby("model")["covered"].mean().round(3).to_dict())
    return pd.concat(rows, ignore_index=True)


def report_backtest(bt: pd.DataFrame) -> str:
    seeds = sorted(bt["seed"].unique())
    out = [
        f"councils: {bt[['seed', 'council']].drop_duplicates().shape[0]}, "
        f"seeds {seeds[0]}-{seeds[-1]}"
    ]
    cov = bt.groupby("model")["covered"].mean()
    out.append("90% interval coverage, every type and total: " + cov.round(3).to_dict().__str__())
    big = bt[bt["actual"] >= 6]
    out.append(
        "coverage where actual >= 6: "
        + big.groupby("model")["covered"].mean().round(3).to_dict().__str__()
    )
    last = bt[bt["date"] == bt["date"].max()]
    mae = bt.groupby(["placement_type", "model"])["error"].apply(lambda e: e.abs().mean()).unstack()
    bias = bt.groupby(["placement_type", "model"])["error"].mean().unstack()
    share = last.groupby(["placement_type", "model"])["covered"].mean().unstack()
    table = pd.concat(
        {"MAE (children)": mae, "mean error": bias, "coverage at 2 years": share}, axis=1
    ).round(2)
    out.append(table.to_string())
    tot = bt[bt["placement_type"] == "total"].copy()
    tot["ape"] = (tot["error"].abs() / tot["actual"]).where(tot["actual"] > 0)
    out.append(
        "total, mean absolute % error: "
        + tot.groupby("model")["ape"].mean().mul(100).round(1).to_dict().__str__()
    )
    # calibration of the total by quarter: z = (actual - mean) / simulation sd
    # (the 90% interval is 5th-95th percentiles, so sd ~ (upper - lower) / 3.29)
    tot["z"] = (tot["actual"] - tot["mean"]) / ((tot["upper"] - tot["lower"]) / 3.29)
    by_q = tot.groupby(["model", "date"]).agg(
        coverage=("covered", "mean"), z_mean=("z", "mean"), z_sd=("z", "std")
    )
    out.append("total by quarter after the origin:\n" + by_q.round(2).to_string())
    return "\n".join(out)


def run_national(n_sims: int = 200, years: int = 5) -> str:
    t0 = time.perf_counter()
    ds = generate(SynthConfig(councils=153, seed=1))
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    c0 = time.process_time()
    model = estimate(ds)
    t_est, c_est = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    res = project(model, years=years, council="England", n_sims=n_sims, seed=1, workers=2)
    t_proj = time.perf_counter() - t0
    # CPU seconds per simulation in one process (what the wall time is on a quiet machine)
    c0 = time.process_time()
    project(model, years=years, council="England", n_sims=10, seed=2)
    c_sim = (time.process_time() - c0) / 10
    t0 = time.perf_counter()
    res_flow = project(
        model.as_flow(), years=years, council="England", n_sims=n_sims, seed=1, workers=2
    )
    t_flow = time.perf_counter() - t0
    n0 = res.children[0, 0].sum()
    tot = res.children.sum(axis=(2, 3))[:, -1]
    load = os.getloadavg()[0]
    return (
        f"children in care at origin {n0:,.0f}; projected at {years} years "
        f"{tot.mean():,.0f} (90% {np.quantile(tot, 0.05):,.0f} to {np.quantile(tot, 0.95):,.0f}); "
        f"flow {res_flow.children.sum(axis=(2, 3))[:, -1].mean():,.0f}\n"
        f"generate {t_gen:.1f} s; estimate (growth fit + panel) {t_est:.1f} s wall / "
        f"{c_est:.1f} s CPU; need-driven projection {years} y x {n_sims} sims, 2 workers: "
        f"{t_proj:.1f} s wall ({c_sim:.3f} s CPU per simulation in one process, "
        f"{c_sim * n_sims / 2:.1f} s CPU per core); flow projection, 2 workers: "
        f"{t_flow:.1f} s wall; load average {load:.1f}"
    )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "backtest"
    if what == "national":
        print(run_national())
    else:
        n = int(sys.argv[2]) if len(sys.argv) > 2 else len(SEEDS)
        t0, c0 = time.perf_counter(), time.process_time()
        bt = run_backtest(tuple(range(9101, 9101 + n)))
        print(report_backtest(bt))
        print(
            f"{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
