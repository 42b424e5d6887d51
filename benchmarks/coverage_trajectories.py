"""How often do peak-age intervals cover the truth? A small simulation study.

Run from the repository root::

    .venv/bin/python benchmarks/coverage_trajectories.py --seeds 20

For each seed, generates the population used by the recovery tests
(``SynthConfig(councils=2, sizes=(600, 600), programme=none)``, about 3,200
children), fits four domains with the domain view's defaults, and records,
for each true peak, the error of the nearest estimated peak and whether its
95% interval (2,000 draws) covers the truth; and the relative error of the
variance components. Prints per-peak coverage and error summaries. Results
are recorded in ``benchmarks/trajectories.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

from vc_eval.analysis.trajectories import fit_domains
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

DOMAINS = ("attachment", "emotional_health", "behaviour", "education")


def max_abs(x: pd.Series) -> float:
    return float(x.abs().max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--engine", default="statsmodels", choices=["statsmodels", "fast"])
    args = ap.parse_args(argv)
    peaks, vcs = [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        cfg = SynthConfig(
            councils=2, sizes=(600, 600), seed=seed, programme=ProgrammeEffects.none()
        )
        ds = generate(cfg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fd = fit_domains(
                ds,
                domains=DOMAINS,
                include_total=False,
                areas=False,
                engine=args.engine,
                progress=False,
            )
        table = fd.peaks_table(n=2000, seed=0)
        for dom in DOMAINS:
            truth = ds.truth["domains"][dom]
            vc = fd[dom].variance_components
            vcs.append(
                {
                    "seed": seed,
                    "domain": dom,
                    "sd_intercept": vc["sd_intercept"] / truth["sd_intercept"] - 1,
                    "sd_slope": vc["sd_slope"] / truth["sd_slope"] - 1,
                    "corr": vc["corr"] - truth["corr"],
                    "sd_residual": vc["sd_residual"] / truth["sd_residual"] - 1,
                }
            )
            est = table[table["name"] == dom]
            for k, t in enumerate(truth["peak_ages"], start=1):
                r = est.loc[(est["age"] - t).abs().idxmin()]
                peaks.append(
                    {
                        "seed": seed,
                        "domain": dom,
                        "peak": k,
                        "true": t,
                        "error": r.age - t,
                        "covered": r.lower <= t <= r.upper,
                        "width": r.upper - r.lower,
                    }
                )
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    p, v = pd.DataFrame(peaks), pd.DataFrame(vcs)
    by = p.groupby(["domain", "peak"]).agg(
        true=("true", "first"),
        coverage=("covered", "mean"),
        mean_error=("error", "mean"),
        sd_error=("error", "std"),
        max_abs_error=("error", max_abs),
        mean_width=("width", "mean"),
    )
    print(
        f"engine {args.engine}, {args.seeds} seeds; overall coverage {p['covered'].mean():.3f}; "
        f"share of peaks within 0.75 years {(p['error'].abs() < 0.75).mean():.3f}"
    )
    print(by.round(3).to_string())
    print("\nVariance components (relative error; corr: absolute error)")
    print(v.drop(columns="seed").groupby("domain").agg(["mean", max_abs]).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
