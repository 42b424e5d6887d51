"""Programme impact: recovery, interval coverage and national-scale runtime.

Usage::

    .venv/bin/python benchmarks/bench_impact.py coverage [--seeds 20] [--councils 30]
    .venv/bin/python benchmarks/bench_impact.py null [--seeds 20]
    .venv/bin/python benchmarks/bench_impact.py national [--councils 153]

``coverage`` generates synthetic populations with the default programme
effects, estimates the effects on in-house share, mean weekly cost per child
and weekly spend with the stacked event study (wild bootstrap and clustered
errors) and the interrupted time series (placebo-calibrated and plain), and
prints the bias, error and coverage of the 95% intervals against
``truth["true_effects"]``. ``null`` does the same with
``ProgrammeEffects.none()`` (the truth is zero). ``national`` times every
step on the national synthetic population. Figures go to
``benchmarks/impact.md`` by hand.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from vc_eval.analysis.impact import (
    council_series,
    event_study,
    its_all,
    placement_mix,
    savings,
    true_effect,
)
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

OUTCOMES = ("share_in_house_foster", "mean_weekly_cost", "weekly_spend")
HORIZONS = (12, 24)


def _population(seed: int, councils: int, size: int | None, programme: ProgrammeEffects):
    sizes = None if size is None else (size,) * councils
    ds = generate(SynthConfig(councils=councils, seed=seed, sizes=sizes, programme=programme))
    return ds, council_series(ds, progress=False)


def recovery(
    seeds: int, councils: int, size: int | None, programme: ProgrammeEffects, with_its: bool = True
) -> pd.DataFrame:
    """One row per seed x design x outcome x horizon: estimate, interval, truth."""
    rows = []
    for seed in range(1, seeds + 1):
        t0 = time.perf_counter()
        ds, s = _population(seed, councils, size, programme)
        for outcome in OUTCOMES:
            for inference in ("wild", "cluster"):
                r = event_study(s, outcome, inference=inference, seed=seed)
                for h in HORIZONS:
                    if h not in r.treated_at:
                        continue
                    e = r.effect(h)
                    truth = true_effect(ds.truth, outcome, h, councils=r.treated_at[h])
                    rows.append(
                        {
                            "seed": seed,
                            "design": f"event study ({inference})",
                            "outcome": outcome,
                            "horizon": h,
                            "estimate": e["estimate"],
                            "lower": e["lower"],
                            "upper": e["upper"],
                            "truth": truth,
                            "pretrend_p": r.pretrend["p"],
                        }
                    )
            if not with_its:
                continue
            for calibration, errors, label in (
                ("auto", "prewhitened", "ITS (prewhitened, placebo-calibrated)"),
                ("none", "prewhitened", "ITS (prewhitened)"),
                ("none", "newey-west", "ITS (Newey-West)"),
            ):
                table, _ = its_all(
                    s, outcome, calibration=calibration, errors=errors, progress=False
                )
                pt = table[(table["kind"] == "point") & table["within_data"]]
                for _, e in pt.iterrows():
                    truth = true_effect(
                        ds.truth, outcome, int(e["horizon"]), councils=[e["council"]]
                    )
                    rows.append(
                        {
                            "seed": seed,
                            "design": label + " per council",
                            "outcome": outcome,
                            "horizon": int(e["horizon"]),
                            "estimate": e["estimate"],
                            "lower": e["lower"],
                            "upper": e["upper"],
                            "truth": truth,
                            "pretrend_p": np.nan,
                        }
                    )
        print(f"seed {seed}: {time.perf_counter() - t0:.1f} s", flush=True)
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.assign(
        err=rows["estimate"] - rows["truth"],
        covered=(rows["lower"] <= rows["truth"]) & (rows["truth"] <= rows["upper"]),
        width=rows["upper"] - rows["lower"],
    )
    g = rows.groupby(["design", "outcome", "horizon"], sort=False)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "mean truth": g["truth"].mean(),
            "bias": g["err"].mean(),
            "rmse": g["err"].apply(lambda e: float(np.sqrt(np.mean(e**2)))),
            "mean width": g["width"].mean(),
            "coverage": g["covered"].mean(),
        }
    )
    return out.reset_index()


def _markdown(df: pd.DataFrame) -> str:
    """A markdown table (without needing the tabulate package)."""

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def national(councils: int, seed: int) -> None:
    timings = {}
    t = time.perf_counter()
    ds = generate(SynthConfig(councils=councils, seed=seed))
    timings["generate (vc_eval.synthetic.generator, not this module)"] = time.perf_counter() - t
    t = time.perf_counter()
    s = council_series(ds, progress=False)
    timings[f"council_series ({len(s):,} council-months)"] = time.perf_counter() - t
    recovered = []
    for outcome in OUTCOMES[:2]:
        t = time.perf_counter()
        r = event_study(s, outcome)
        timings[f"event_study {outcome} ({r.inference})"] = time.perf_counter() - t
        for h in HORIZONS:
            e = r.effect(h)
            truth = true_effect(ds.truth, outcome, h, councils=r.treated_at[h])
            recovered.append(
                f"| {outcome} | {h} | {e['n_treated']} | {truth:.4g} | "
                f"{e['estimate']:.4g} | {e['lower']:.4g} to {e['upper']:.4g} |"
            )
        t = time.perf_counter()
        r = event_study(s, outcome, inference="wild")
        timings[f"event_study {outcome} (wild, 999 draws)"] = time.perf_counter() - t
        t = time.perf_counter()
        table, skipped = its_all(s, outcome, progress=False)
        n = table["council"].nunique()
        timings[f"its_all {outcome} ({n} councils, placebo-calibrated)"] = time.perf_counter() - t
    t = time.perf_counter()
    sv = savings(s)
    timings["savings, comparison design (4 event studies)"] = time.perf_counter() - t
    c = sorted(ds.truth["true_effects"])[0]
    t = time.perf_counter()
    savings(s, council=c)
    timings["savings, one council (4 ITS)"] = time.perf_counter() - t
    t = time.perf_counter()
    placement_mix(s)
    timings["placement_mix (pooled)"] = time.perf_counter() - t
    print(
        f"\nNational population: {councils} councils, seed {seed}, "
        f"{len(ds.children):,} children, {len(ds.placements):,} placements"
    )
    for k, v in timings.items():
        print(f"| {k} | {v:.1f} s |")
    total = sum(v for k, v in timings.items() if not k.startswith("generate"))
    print(f"| total impact analysis (excluding generation) | {total:.1f} s |")
    print("\n| outcome | months | adopters | truth | estimate | 95% interval |")
    print("|---|---|---|---|---|---|")
    print("\n".join(recovered))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("\n" + sv.summary())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["coverage", "null", "national"])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--councils", type=int, default=None)
    ap.add_argument(
        "--size",
        type=int,
        default=300,
        help="children per council (0: the generator's lognormal sizes)",
    )
    ap.add_argument("--no-its", action="store_true")
    ap.add_argument("--csv", default=None, help="also write the per-seed rows here")
    a = ap.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    if a.what == "national":
        national(a.councils or 153, 1)
        return
    programme = ProgrammeEffects() if a.what == "coverage" else ProgrammeEffects.none()
    rows = recovery(a.seeds, a.councils or 30, a.size or None, programme, not a.no_its)
    if a.csv:
        rows.to_csv(a.csv, index=False)
    print(_markdown(summarise(rows)))
    pt = rows.drop_duplicates(["seed", "outcome", "design"]).dropna(subset=["pretrend_p"])
    print(
        "\npre-trend test p < 0.05 in "
        f"{(pt['pretrend_p'] < 0.05).mean():.0%} of {len(pt)} event studies"
    )


if __name__ == "__main__":
    main()
