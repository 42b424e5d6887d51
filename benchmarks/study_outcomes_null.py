"""Spend -> outcomes and the programme's effect on outcomes under the null.

Run from the repository root::

    .venv/bin/python benchmarks/study_outcomes_null.py --seeds 20 --first-seed 501

In the generator, weekly spend has no effect on any outcome (newer
placements are dearer, and moves start new placements), and with
``ProgrammeEffects.none()`` the programme has none either. For each seed
(three councils of 400 children, seeds 501+ used by no test) this fits
:func:`vc_eval.analysis.outcomes.external_outcomes` (spend at the start of
the outcome's year, the default, and its negative control) and
:func:`vc_eval.analysis.outcomes.programme_outcomes`, and prints, per
outcome, the share of seeds whose 95% interval excludes zero. Results are
recorded in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

from vc_eval.analysis.outcomes import SPEND, external_outcomes, programme_outcomes
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

MEASURES = ("sdq_total", "placement_moves", "missing_episodes")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=501)
    ap.add_argument("--size", type=int, default=400)
    args = ap.parse_args(argv)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        ds = generate(
            SynthConfig(
                councils=3,
                sizes=(args.size,) * 3,
                seed=seed,
                programme=ProgrammeEffects.none(),
            )
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = external_outcomes(ds, measures=MEASURES, progress=False)
            old = external_outcomes(
                ds,
                measures=MEASURES,
                exposure_days=0,
                adjust_for_moves=True,
                negative_control=False,
                progress=False,
            )
            pg = programme_outcomes(ds, measures=MEASURES)
        c = ex.coefficients
        co = old.coefficients
        for m in MEASURES:
            for design, t in (
                ("spend at year start (default)", c[c["design"] == "main"]),
                ("negative control: spend after the year", c[c["design"] == "negative_control"]),
                ("spend on the outcome date, moves adjusted", co),
            ):
                r = t[(t["measure"] == m) & (t["term"] == SPEND)]
                if r.empty:
                    continue
                r = r.iloc[0]
                rows.append(
                    {
                        "seed": seed,
                        "analysis": design,
                        "measure": m,
                        "estimate": r["estimate"],
                        "excludes_zero": bool(r["ci_low"] > 0 or r["ci_high"] < 0),
                    }
                )
            p = pg.set_index("measure").loc[m]
            rows.append(
                {
                    "seed": seed,
                    "analysis": "programme total effect (no programme)",
                    "measure": m,
                    "estimate": p["estimate"],
                    "excludes_zero": bool(p["ci_low"] > 0 or p["ci_high"] < 0),
                }
            )
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    r = pd.DataFrame(rows)
    t = r.pivot_table(
        index="analysis", columns="measure", values="excludes_zero", aggfunc="mean", sort=False
    )
    anyx = (
        r.groupby(["analysis", "seed"], sort=False)["excludes_zero"]
        .any()
        .groupby("analysis", sort=False)
        .mean()
    )
    print("| analysis | " + " | ".join(t.columns) + " | any of the three |")
    print("|---" + "|---:" * (len(t.columns) + 1) + "|")
    for a, x in t.iterrows():
        print(f"| {a} | " + " | ".join(f"{v:.2f}" for v in x) + f" | {anyx[a]:.2f} |")
    print(f"\n{r['seed'].nunique()} seeds; cells: share of seeds whose 95% interval excludes 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
