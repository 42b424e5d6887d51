"""Time need-trajectory fits at 1k, 10k and national scale.

Run from the repository root::

    .venv/bin/python benchmarks/bench_trajectories.py                 # all scales
    .venv/bin/python benchmarks/bench_trajectories.py --scales 1k,10k --engine fast

For each scale it generates a synthetic population (``vc_eval.synthetic.generator``), then
times (a) one domain (``attachment``: spline with knots every year, random
intercept and slope, REML), (b) 2,000-draw peak intervals for it, and (c)
every domain plus total need and the six outcome areas (19 fits) with
``fit_domains``. Fitting all domains at a scale whose one-domain fit takes
longer than ``--all-domains-limit`` seconds is not run but estimated as 19
times the one-domain time (and labelled "estimated"). It also times one
bootstrap refit (or, above the limit, takes the one-domain time), from which
a 200-sample bootstrap is estimated.

Prints a Markdown table; copy it into ``benchmarks/trajectories.md``. No
assertions: timings are for the record, not tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import warnings

from vc_eval.analysis.trajectories import fit_domains
from vc_eval.analysis.trajectories.domains import need_frame
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

#: Scale name -> generator settings (children in care on a typical date per
#: council; each child seen over the 4-year window adds ~2.5x distinct children).
SCALES: dict[str, dict] = {
    "1k": {"councils": 1, "sizes": (390,)},
    "10k": {"councils": 8, "sizes": (490,) * 8},
    "national": {"councils": 153},
}
DOMAIN = "attachment"
N_FITS_ALL = 19  # 12 domains + total need + 6 outcome areas


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_scale(name: str, engine: str, all_limit: float, seed: int) -> dict:
    cfg = SynthConfig(seed=seed, programme=ProgrammeEffects.none(), **SCALES[name])
    ds, t_gen = timed(lambda: generate(cfg))
    frame = need_frame(ds, DOMAIN)
    row = {
        "scale": name,
        "children": int(frame["child_id"].nunique()),
        "rows_per_domain": len(frame),
        "generate_s": t_gen,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one, t_one = timed(
            lambda: fit_domains(
                ds,
                domains=[DOMAIN],
                include_total=False,
                areas=False,
                engine=engine,
                progress=False,
            )
        )
        fit = one[DOMAIN]
        row.update(
            one_domain_s=t_one,
            n_fixed=len(fit.fe_params),
            converged=fit.converged,
            optimiser=fit.method,
        )
        _, row["peaks_draws_s"] = timed(lambda: fit.peaks(n=2000, seed=0))
        if t_one <= all_limit:
            _, t_boot = timed(lambda: fit.bootstrap_params(1, rng=0, progress=False))
        else:  # too slow to spend another fit on: one refit ~ one fit
            t_boot = t_one
        row["bootstrap_200_s"] = 200 * t_boot
        if t_one <= all_limit:
            allf, t_all = timed(lambda: fit_domains(ds, engine=engine, progress=False))
            row.update(all_domains_s=t_all, n_fits=len(allf), all_estimated=False)
        else:
            row.update(all_domains_s=N_FITS_ALL * t_one, n_fits=N_FITS_ALL, all_estimated=True)
    row["peak_rss_gib"] = rss_gib()
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scales",
        default="1k,10k,national",
        help="comma-separated subset of: " + ", ".join(SCALES),
    )
    ap.add_argument("--engine", default="statsmodels", choices=["statsmodels", "fast"])
    ap.add_argument(
        "--all-domains-limit",
        type=float,
        default=120.0,
        help="seconds: run all domains only if one domain fits within this",
    )
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(
        f"# trajectories benchmark: engine {args.engine}; {platform.processor() or '?'}; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    rows = []
    for name in args.scales.split(","):
        r = run_scale(name.strip(), args.engine, args.all_domains_limit, args.seed)
        rows.append(r)
        print(f"  {name}: {r}", flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}\n")
    print(
        "| scale | children | rows/domain | fixed effects | one domain (s) | peaks, 2,000 "
        "draws (s) | all 19 fits (s) | bootstrap 200 (s, est.) | peak RSS (GiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        allf = f"{r['all_domains_s']:.0f}" + (" (est.)" if r["all_estimated"] else "")
        print(
            f"| {r['scale']} | {r['children']:,} | {r['rows_per_domain']:,} | "
            f"{r['n_fixed']} | {r['one_domain_s']:.1f} | {r['peaks_draws_s']:.2f} | {allf} | "
            f"{r['bootstrap_200_s']:.0f} | {r['peak_rss_gib']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
