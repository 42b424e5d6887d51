"""Fast growth-model engine against statsmodels MixedLM (issue 8).

    python benchmarks/bench_fast_engine.py                 # everything (statsmodels: minutes)
    python benchmarks/bench_fast_engine.py --skip-slow-reference   # statsmodels up to 10k only
    python benchmarks/bench_fast_engine.py --sizes 2000 10000 --n-boot 20 --no-synth

Three parts, figures printed as markdown tables (copy them into
``benchmarks/fast_engine.md``):

1. One growth model per size (2k, 10k, 50k and national ~84k children, ~7
   assessments each, 1-30 per child, hinge spline in age with knots 4, 7, 11,
   14, random intercept + slope on age - 9, REML): fast engine vs
   ``MixedLM(...).fit(method=["lbfgs"])``, times, ratio and the largest
   relative differences.
2. All 12 domains of the national synthetic population
   (``vc_eval.synthetic.generator.generate(SynthConfig(councils=153, seed=1))``) with the
   fast engine, through ``vc_eval.analysis.trajectories.fit_growth(engine="fast")``
   and directly on arrays.
3. A bootstrap over children at national scale (``bootstrap_lmm``, 200
   refits by default), plus the time of one naive refit on resampled rows
   for comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings

import numpy as np

from vc_eval.analysis.lmm_fast import bootstrap_lmm, fit_lmm

KNOTS = (4.0, 7.0, 11.0, 14.0)
BETA = np.array([30.0, 3.0, -5.0, 4.0, -6.0, 3.0])


def children_data(n_children: int, seed: int = 1, mean_obs: float = 7.0):
    """Synthetic growth data: ~mean_obs assessments per child (1..30)."""
    rng = np.random.default_rng(seed)
    k = np.clip(rng.poisson(mean_obs - 1, size=n_children) + 1, 1, 30)
    child = np.repeat(np.arange(n_children), k)
    first = rng.uniform(0, 17, size=n_children)
    visit = np.arange(child.size) - np.repeat(np.cumsum(k) - k, k)
    age = np.minimum(first[child] + 0.5 * visit + rng.uniform(0, 0.2, child.size), 18.0)
    X = np.column_stack([np.ones_like(age), age] + [np.maximum(age - kn, 0) for kn in KNOTS])
    sd0, sd1, corr = 10.0, 1.5, -0.3
    cov = np.array([[sd0**2, corr * sd0 * sd1], [corr * sd0 * sd1, sd1**2]])
    b = rng.multivariate_normal([0, 0], cov, size=n_children)
    t = age - 9.0
    y = X @ BETA + b[child, 0] + b[child, 1] * t + rng.normal(0, 8.0, child.size)
    return y, X, np.column_stack([np.ones_like(t), t]), child


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


CPU: dict[str, float] = {}


def timed(fn, *args, **kwargs):
    """Wall time; the CPU time of the same call is left in ``CPU["last"]``
    (on a shared machine CPU time is the steadier figure)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    CPU["last"] = time.process_time() - c0
    return out, time.perf_counter() - t0


def part_sizes(sizes: list[int], reference_max: int) -> None:
    from statsmodels.regression.mixed_linear_model import MixedLM

    print("\n## 1. One model: fast engine vs statsmodels MixedLM (REML, lbfgs)\n")
    print(
        "| children | rows | fast wall (CPU) s | statsmodels wall (CPU) s | speed-up wall (CPU) "
        "| max rel diff fixed effects | SEs | variance components | llf (fast - sm) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        y, X, Z, g = children_data(n)
        fit_lmm(y[:2000], X[:2000], Z[:2000], g[:2000])  # warm-up (imports, caches)
        fast, t_fast = timed(fit_lmm, y, X, Z, g)
        c_fast = CPU["last"]
        row = f"| {n:,} | {y.size:,} | {t_fast:.2f} ({c_fast:.2f}) |"
        if n <= reference_max:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref, t_ref = timed(MixedLM(y, X, g, exog_re=Z).fit, reml=True, method=["lbfgs"])
            c_ref = CPU["last"]
            row += (
                f" {t_ref:.1f} ({c_ref:.1f}) | {t_ref / t_fast:.0f}x ({c_ref / c_fast:.0f}x)"
                f" | {rel(fast.fe_params, ref.fe_params):.1e}"
                f" | {rel(fast.bse, ref.bse_fe):.1e}"
                f" | {rel(np.diag(fast.cov_re), np.diag(ref.cov_re)):.1e}"
                f" | {fast.llf - ref.llf:.1e} |"
            )
        else:
            row += " (skipped) | | | | | |"
        print(row, flush=True)


def part_domains() -> None:
    from vc_eval.core.schema import Col
    from vc_eval.synthetic.generator import SynthConfig, generate

    print("\n## 2. All 12 domains, national synthetic population, fast engine\n")
    ds, t_gen = timed(generate, SynthConfig(councils=153, seed=1))
    a = ds.assessments
    domains = sorted(a[Col.domain].unique())
    print(
        f"generated {len(ds.children):,} children, {len(a):,} need-score rows "
        f"in {t_gen:.0f} s (not counted below)\n"
    )
    print("| domain | children | rows | fit_lmm (s) | fit_growth engine=fast (s) | converged |")
    print("| --- | --- | --- | --- | --- | --- |")
    total_arrays = total_growth = cpu_arrays = cpu_growth = 0.0
    try:
        from vc_eval.analysis.trajectories import fit_growth
    except ImportError:  # trajectories not there yet
        fit_growth = None
    for d in domains:
        sub = a[a[Col.domain] == d]
        age = sub[Col.age_at_assessment].to_numpy(float)
        X = np.column_stack(
            [np.ones_like(age), age - 9.0] + [np.maximum(age - k, 0) for k in (7, 11, 14)]
        )
        Z = X[:, :2]
        ids = sub[Col.child_id].to_numpy()
        res, t_arr = timed(fit_lmm, sub[Col.score].to_numpy(float), X, Z, ids)
        total_arrays += t_arr
        cpu_arrays += CPU["last"]
        t_growth = float("nan")
        if fit_growth is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, t_growth = timed(
                    fit_growth,
                    sub,
                    outcome=Col.score,
                    time=Col.age_at_assessment,
                    group=Col.child_id,
                    basis="hinge",
                    knots=(7.0, 11.0, 14.0),
                    engine="fast",
                )
            total_growth += t_growth
            cpu_growth += CPU["last"]
        print(
            f"| {d} | {res.n_groups:,} | {res.n_obs:,} | {t_arr:.2f} | {t_growth:.2f} "
            f"| {res.converged} |",
            flush=True,
        )
    print(
        f"| **all 12** wall (CPU) | | | **{total_arrays:.1f}** ({cpu_arrays:.1f}) "
        f"| **{total_growth:.1f}** ({cpu_growth:.1f}) | |"
    )


def part_bootstrap(n_children: int, n_boot: int) -> None:
    print(f"\n## 3. Bootstrap over children, {n_children:,} children, {n_boot} refits\n")
    y, X, Z, g = children_data(n_children)
    boot, t_boot = timed(bootstrap_lmm, y, X, Z, g, n_boot=n_boot, seed=1, progress=False)
    c_boot = CPU["last"]
    # one naive refit: resample rows, rebuild everything (what a generic loop does)
    rng = np.random.default_rng(2)
    order = np.argsort(g, kind="stable")
    starts = np.searchsorted(g[order], np.arange(n_children + 1))
    pick = rng.integers(0, n_children, n_children)
    rows = np.concatenate([order[starts[i] : starts[i + 1]] for i in pick])
    new_g = np.repeat(np.arange(n_children), np.diff(starts)[pick])
    _, t_naive = timed(fit_lmm, y[rows], X[rows], Z[rows], new_g)
    print(
        "| refits | total wall (CPU) s, incl. the full fit | per refit (s) | converged "
        "| naive refit on resampled rows (s) |"
    )
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {n_boot} | {t_boot:.1f} ({c_boot:.1f}) | {t_boot / n_boot:.2f} "
        f"| {boot.converged.sum()}/{n_boot} | {t_naive:.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000, 84000])
    ap.add_argument(
        "--skip-slow-reference",
        action="store_true",
        help="run statsmodels only up to 10,000 children (it takes minutes above)",
    )
    ap.add_argument("--no-synth", action="store_true", help="skip the 12-domain national part")
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap refits (0: skip)")
    args = ap.parse_args()
    print("# fast engine benchmark")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    t0 = time.perf_counter()
    part_sizes(args.sizes, 10_000 if args.skip_slow_reference else max(args.sizes))
    if not args.no_synth:
        part_domains()
    if args.n_boot > 0:
        part_bootstrap(max(args.sizes), args.n_boot)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"\ntotal {time.perf_counter() - t0:.0f} s; peak RSS {peak:.1f} GiB; load average at "
        f"end {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
