"""Spend -> outcomes and the programme's effect on outcomes under the null,
with a positive control.

Run from the repository root (seeds 601+ are used by no test)::

    nice .venv/bin/python benchmarks/study_outcomes_null.py --seeds 30 --first-seed 601 --out a.csv
    nice .venv/bin/python benchmarks/study_outcomes_null.py --seeds 30 --first-seed 631 --out b.csv
    .venv/bin/python benchmarks/study_outcomes_null.py --table a.csv b.csv

In the generator, weekly spend has no effect on any outcome (newer
placements are dearer, moves start new placements, and the child's general
need drives both cost and moves), and with ``ProgrammeEffects.none()`` the
programme has none either. For each seed (three councils of 400 children)
this fits :func:`vc_eval.analysis.outcomes.external_outcomes` with the
default within-child design (main estimate and negative control), the
pooled design it replaced, and
:func:`vc_eval.analysis.outcomes.programme_outcomes`; then, as a positive
control, it plants an effect of spend at the start of the year on each
outcome (``PLANTED`` per doubling of weekly spend, added to the recorded
values) and fits the default design again, to show it can find one. It
prints, per outcome and analysis, the share of seeds whose 95% interval
excludes zero, and each seed's wall time. Results are recorded in
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

from vc_eval.analysis.outcomes import (
    POOLED,
    SPEND,
    external_outcomes,
    outcome_frame,
    programme_outcomes,
)
from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import Col
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

MEASURES = ("sdq_total", "placement_moves", "missing_episodes")
#: Planted effect per doubling of weekly spend at the start of the year (the
#: outcomes' SDs are about 4-5 SDQ points, 0.5-1 moves and 0.3-1 episodes).
PLANTED = {"sdq_total": 0.5, "placement_moves": 0.1, "missing_episodes": 0.1}
NEEDS = {"sdq_total": ("emotional_health", "behaviour"), "missing_episodes": ("risk_taking",)}


def plant(ds: Dataset) -> Dataset:
    """``ds`` with ``PLANTED[m] * log2(weekly cost at the year's start / 1000)`` added."""
    o = ds.outcomes.copy()
    for m, b in PLANTED.items():
        doms = NEEDS.get(m, tuple(ds.framework.need_domains))
        f = outcome_frame(ds, m, doms, exposure_days=-365)
        cost = f.set_index([Col.child_id, Col.date])[Col.weekly_cost]
        cost = cost[~cost.index.duplicated()]
        sel = o[Col.measure] == m
        idx = pd.MultiIndex.from_frame(
            o.loc[sel, [Col.child_id, Col.date]].astype({Col.child_id: str})
        )
        c = cost.reindex(idx).to_numpy()
        bump = np.where(np.isfinite(c), b * np.log2(np.maximum(c, 1.0) / 1000.0), 0.0)
        o.loc[sel, Col.value] = o.loc[sel, Col.value].to_numpy() + bump
    return Dataset.from_frames(
        councils=ds.councils,
        children=ds.children,
        assessments=ds.assessments.drop(columns=[Col.age_at_assessment]),
        placements=ds.placements,
        outcomes=o,
    )


def _rows(seed: int, analysis: str, coefs: pd.DataFrame, design: str) -> list[dict]:
    out = []
    for m in MEASURES:
        r = coefs[(coefs["measure"] == m) & (coefs["term"] == SPEND) & (coefs["design"] == design)]
        if r.empty:
            continue
        r = r.iloc[0]
        out.append(
            {
                "seed": seed,
                "analysis": analysis,
                "measure": m,
                "estimate": r["estimate"],
                "se": r["se"],
                "excludes_zero": bool(r["ci_low"] > 0 or r["ci_high"] < 0),
            }
        )
    return out


def run(first: int, n: int, size: int) -> pd.DataFrame:
    rows = []
    for seed in range(first, first + n):
        t0 = time.time()
        ds = generate(
            SynthConfig(councils=3, sizes=(size,) * 3, seed=seed, programme=ProgrammeEffects.none())
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = external_outcomes(ds, measures=MEASURES, progress=False).coefficients
            rows += _rows(seed, "within child (default)", ex, "main")
            rows += _rows(seed, "negative control (default)", ex, "negative_control")
            old = external_outcomes(
                ds, measures=MEASURES, design=POOLED, negative_control=False, progress=False
            ).coefficients
            rows += _rows(seed, "pooled (previous default)", old, "main")
            pl = external_outcomes(plant(ds), measures=MEASURES, progress=False).coefficients
            rows += _rows(seed, "planted effect: within child", pl, "main")
            rows += _rows(seed, "planted effect: negative control", pl, "negative_control")
            pg = programme_outcomes(ds, measures=MEASURES).set_index("measure")
        for m in MEASURES:
            p = pg.loc[m]
            rows.append(
                {
                    "seed": seed,
                    "analysis": "programme total effect (no programme)",
                    "measure": m,
                    "estimate": p["estimate"],
                    "se": p["se"],
                    "excludes_zero": bool(p["ci_low"] > 0 or p["ci_high"] < 0),
                }
            )
        dt = time.time() - t0
        for r in rows:
            r.setdefault("seconds", dt)
        print(f"seed {seed} done in {dt:.1f} s", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def table(r: pd.DataFrame) -> str:
    t = r.pivot_table(
        index="analysis", columns="measure", values="excludes_zero", aggfunc="sum", sort=False
    )
    n = r.groupby("analysis", sort=False)["seed"].nunique()
    anyx = (
        r.groupby(["analysis", "seed"], sort=False)["excludes_zero"]
        .any()
        .groupby("analysis", sort=False)
        .sum()
    )
    cols = [m for m in MEASURES if m in t.columns]
    lines = ["| analysis | " + " | ".join(cols) + " | any of the three |"]
    lines.append("|---" + "|---:" * (len(cols) + 1) + "|")
    for a, x in t.iterrows():
        k = n[a]
        cells = [f"{x[m] / k:.3f} ({int(x[m])}/{k})" for m in cols]
        lines.append(f"| {a} | " + " | ".join(cells) + f" | {anyx[a] / k:.3f} |")
    sec = r.drop_duplicates("seed")["seconds"]
    lines.append(
        f"\n{r['seed'].nunique()} seeds ({r['seed'].min()}-{r['seed'].max()}); cells: share of "
        f"seeds whose 95% interval excludes 0; seconds a seed: median {sec.median():.0f}, "
        f"max {sec.max():.0f}"
    )
    z = r.assign(z=r["estimate"] / r["se"]).groupby(["analysis", "measure"], sort=False)["z"]
    lines.append("\nestimate / SE (mean, SD):")
    lines += [
        f"  {a} {m}: {v['mean']:.2f}, {v['std']:.2f}"
        for (a, m), v in z.agg(["mean", "std"]).iterrows()
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=601)
    ap.add_argument("--size", type=int, default=400)
    ap.add_argument("--out", help="write the per-seed rows to this CSV")
    ap.add_argument("--table", nargs="+", help="only print the table of these CSVs")
    args = ap.parse_args(argv)
    if args.table:
        r = pd.concat([pd.read_csv(p) for p in args.table], ignore_index=True)
    else:
        r = run(args.first_seed, args.seeds, args.size)
        if args.out:
            r.to_csv(args.out, index=False)
    print(table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
