"""How often does the default peak rule report a peak where the truth has none?

Run from the repository root::

    .venv/bin/python benchmarks/study_peak_rule.py --seeds 12 --first-seed 301

For each seed, generates a population with no programme effect (two councils
of 600 children, and separately the bundled data's three small councils
pooled, ``--small``), fits with the fast engine four domains whose true curve
has no interior peak (physical health, risk-taking, living skills,
adulthood) and total need (true peaks near 7 and 11), and records every
candidate peak of each fit with its prominence (as a share of the outcome
SD) and its share of plausible curves (1,000 draws). From these it prints,
for the default rule and a few alternatives: the share of no-peak fits that
report no peak, and for each true total-need peak the share of fits that
report it (a reported peak whose basin holds the truth) and the coverage of
its 95% interval. Seeds 301+ are used by no test. Results are recorded in
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import pandas as pd

from vc_eval.analysis.trajectories import fit_domains
from vc_eval.analysis.trajectories.peaks import PeakRule
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

NO_PEAK = ("physical_health", "risk_taking", "living_skills", "adulthood")
RULES = {
    "default (0.1 SD, 90%)": PeakRule(),
    "0.05 SD, 90%": PeakRule(rel_prominence=0.05),
    "0.15 SD, 90%": PeakRule(rel_prominence=0.15),
    "0.1 SD, 95%": PeakRule(min_share=0.95),
    "share 95% only (old)": PeakRule(rel_prominence=0.0, min_share=0.95),
}


def candidates(seed: int, small: bool) -> pd.DataFrame:
    if small:
        cfg = SynthConfig(seed=seed, programme=ProgrammeEffects.none())
    else:
        cfg = SynthConfig(
            councils=2, sizes=(600, 600), seed=seed, programme=ProgrammeEffects.none()
        )
    ds = generate(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd = fit_domains(
            ds, domains=NO_PEAK, include_total=True, areas=False, engine="fast", progress=False
        )
    rows = []
    for name, fit in fd.fits.items():
        sd = float(np.nanstd(fit.data[fit.outcome].to_numpy(dtype=float)))
        # every candidate, with share computed at each rule's floor
        for rname, rule in RULES.items():
            ps = fit.peaks(n=1000, seed=0, rule=rule)
            t = ps.candidates.copy()
            t["rule"] = rname
            t["name"] = name
            t["sd"] = sd
            t["seed"] = seed
            rows.append(t)
    return pd.concat(rows, ignore_index=True), ds.truth["total_need"]["peak_ages"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--first-seed", type=int, default=301)
    ap.add_argument("--small", action="store_true", help="bundled-size councils (520 children)")
    ap.add_argument("--out", default=None, help="CSV of every candidate peak")
    args = ap.parse_args(argv)
    allc, truths = [], {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        c, tp = candidates(seed, args.small)
        allc.append(c)
        truths[seed] = tp
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    c = pd.concat(allc, ignore_index=True)
    if args.out:
        c.to_csv(args.out, index=False)
    out = []
    for rname in RULES:
        r = c[(c["rule"] == rname) & c["reported"]]
        row = {"rule": rname}
        fits = [(s, d) for s in truths for d in NO_PEAK]
        none = [r[(r["seed"] == s) & (r["name"] == d)].empty for s, d in fits]
        row["no-peak fits reporting none"] = float(np.mean(none))
        for k, label in ((0, "peak 7"), (1, "peak 11")):
            found, cover = [], []
            for s, tp in truths.items():
                t = tp[k]
                rr = r[(r["seed"] == s) & (r["name"] == "total_need")]
                near = rr[(rr["age"] - t).abs() < 1.5]
                found.append(not near.empty)
                if not near.empty:
                    p = near.iloc[(near["age"] - t).abs().argmin()]
                    cover.append(p["lower"] <= t <= p["upper"])
                else:
                    cover.append(False)
            row[f"{label} found"] = float(np.mean(found))
            row[f"{label} coverage"] = float(np.mean(cover))
        spurious = r[(r["name"] == "total_need")]
        spurious = spurious[
            [
                all(abs(a - t) >= 1.5 for t in truths[s])
                for a, s in zip(spurious["age"], spurious["seed"], strict=True)
            ]
        ]
        row["total-need fits with a spurious peak"] = spurious["seed"].nunique() / len(truths)
        out.append(row)
    t = pd.DataFrame(out)
    print("| " + " | ".join(t.columns) + " |")
    print("|---" + "|---:" * (len(t.columns) - 1) + "|")
    for rec in t.itertuples(index=False):
        print("| " + rec[0] + " | " + " | ".join(f"{v:.2f}" for v in rec[1:]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
