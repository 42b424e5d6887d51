"""National growth-model fits as the product runs them (issue 14), before and after.

Times what ``fit_domains``, ``vc-eval fit`` and the reports run, with their
defaults: the natural spline with knots every year of age (19 columns),
random intercept + slope, REML, everyone seen in the four-year window.
Run from the repository root after making national data once::

    vc-eval synth --councils 153 --seed 1 --out /tmp/national
    .venv/bin/python benchmarks/bench_national_fits.py --data /tmp/national \\
        --parts domains,incare,bootstrap --previous-rev 9861adb

Each part runs in its own process (so peak RSS is the part's own) and
prints one JSON line; the driver then prints one Markdown table with wall
and CPU seconds, peak RSS and the load average at the start and end of each
part. With ``--previous-rev REV`` (default 9861adb) the parts in
``--before-parts`` also run on that revision's ``src`` (exported with ``git
archive``) just before this one's, side by side, and the estimates are
compared: every fit of ``domains`` (largest relative differences of fixed
effects, standard errors, variances, residual variance; fixed effects also in
standard errors; llf absolute: the issue asks for 1e-6) and the first
``--before-boot-n`` bootstrap refits (same seed, same resamples).
``--workers N`` sets the threads (default: the product's,
``lmm_fast.default_workers``). Parts:

``one``
    One domain (attachment), cold: the fast engine on the arrays
    ``fit_growth`` builds, and the previous fast engine (``lmm_fast.py`` at
    ``--previous-rev``, from git) on the same arrays, with the largest
    relative differences (the issue asks for 1e-6).
``domains``
    ``Dataset.load`` (timed apart) then ``fit_domains(dataset)``: 12 domains,
    total need and 6 outcome areas.
``bootstrap``
    ``GrowthFit.peaks("bootstrap", n=200)`` for one domain through the public
    API (``--boot-n`` refits; the previous code is timed on
    ``--before-boot-n`` refits and scaled to 200).
``incare``
    Children in care on the snapshot date, one domain, ``fit_domains``.
``lme4``
    When ``Rscript`` with lme4 is on the PATH: the one-domain design exported
    and fitted by ``lmer`` (REML) at 10k children and nationally, time and
    differences. Skipped otherwise.

No assertions: figures for ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

DOMAIN = "attachment"
PARTS = ("one", "domains", "bootstrap", "incare", "lme4")
ROOT = Path(__file__).resolve().parent.parent


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def load(data: str):
    from vc_eval.core.dataset import Dataset

    with Clock() as c:
        ds = Dataset.load(data)
    return ds, c


def domain_arrays(ds):
    """The arrays ``fit_domains`` gives the engine for one domain (its design's)."""
    from vc_eval.analysis.trajectories import fit_domains

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_domains(ds, domains=[DOMAIN], include_total=False, areas=False)[DOMAIN]
    design = fit._engine_state[0]
    y = fit.data[fit.outcome].to_numpy(dtype=float)
    return {"y": y, "X": design.X, "Z": design.Z, "groups": design.codes}


def previous_engine(rev: str):
    src = subprocess.run(
        ["git", "show", f"{rev}:src/vc_eval/analysis/lmm_fast.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "lmm_fast_previous.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("lmm_fast_previous", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lmm_fast_previous"] = mod
    spec.loader.exec_module(mod)
    return mod


def part_one(args) -> dict:
    from vc_eval.analysis.lmm_fast import fit_lmm

    ds, _ = load(args.data)
    a = domain_arrays(ds)
    del ds
    out = {"children": int(len(np.unique(a["groups"]))), "rows": int(a["y"].size)}
    out["columns"] = int(a["X"].shape[1])
    with Clock() as c:
        new = fit_lmm(a["y"], a["X"], a["Z"], a["groups"])
    out.update(wall=c.wall, cpu=c.cpu, rss=rss_gib(), n_fev=new.n_fev)
    if args.previous_rev:
        old_mod = previous_engine(args.previous_rev)
        with Clock() as c:
            old = old_mod.fit_lmm(a["y"], a["X"], a["Z"], a["groups"])
        out.update(
            previous_wall=c.wall,
            previous_cpu=c.cpu,
            diff_fe=rel(new.fe_params, old.fe_params),
            diff_bse=rel(new.bse, old.bse),
            diff_cov_re=rel(np.diag(new.cov_re), np.diag(old.cov_re)),
            diff_scale=rel(new.scale, old.scale),
            diff_llf=abs(new.llf - old.llf),
        )
    return out


def estimates(fit) -> np.ndarray:
    """One fit's estimates as one vector: fixed effects, SEs, variances,
    covariance, residual variance, llf (for comparisons across revisions)."""
    p = len(fit.fe_params)
    c = fit.cov_re_design
    return np.concatenate(
        [fit.fe_params, np.sqrt(np.diag(fit.cov_fe)), np.diag(c), [c[0, -1], fit.scale, fit.llf]]
    ).reshape(2 * p + c.shape[0] + 3)


def compare(new_file: str, old_file: str) -> dict:
    """Largest differences between two dumps of ``estimates`` (relative; llf absolute)."""
    a, b = np.load(new_file), np.load(old_file)
    worst: dict[str, float] = {}
    for k in a.files:
        if k not in b.files:
            continue
        x, y = a[k], b[k]
        p = (len(x) - 3 - 2) // 2
        d = {
            "diff_fe": rel(x[:p], y[:p]),
            "diff_fe_in_se": float(np.max(np.abs(x[:p] - y[:p]) / y[p : 2 * p])),
            "diff_bse": rel(x[p : 2 * p], y[p : 2 * p]),
            "diff_var": rel(x[2 * p : 2 * p + 2], y[2 * p : 2 * p + 2]),
            "diff_scale": rel(x[-2], y[-2]),
            "diff_llf": abs(float(x[-1] - y[-1])),
        }
        for key, v in d.items():
            worst[key] = max(worst.get(key, 0.0), v)
    worst["compared"] = len([k for k in a.files if k in b.files])
    return worst


def part_domains(args) -> dict:
    from vc_eval.analysis.trajectories import fit_domains

    c0 = time.process_time()
    ds, c_load = load(args.data)
    load_cpu = time.process_time() - c0
    rss_loaded = rss_gib()
    kw = {} if args.before or args.workers is None else {"workers": args.workers}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Clock() as c:
            fits = fit_domains(ds, progress=False, **kw)
    if args.dump:
        np.savez(args.dump, **{k: estimates(f) for k, f in fits.fits.items()})
    n_fev = [
        getattr((f._engine_state or (None, None))[1], "n_fev", None) for f in fits.fits.values()
    ]
    return {
        "fits": len(fits),
        "skipped": len(fits.skipped),
        "converged": int(sum(f.converged for f in fits.fits.values())),
        "wall": c.wall,
        "cpu": c.cpu,
        "rss": rss_gib(),
        "rss_after_load": rss_loaded,
        "load_wall": c_load.wall,
        "load_cpu": load_cpu,
        "n_fev": n_fev,
        "workers": args.workers,
    }


def part_bootstrap(args) -> dict:
    from vc_eval.analysis.trajectories import fit_domains

    ds, _ = load(args.data)
    n = args.boot_n if not args.before else args.before_boot_n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = fit_domains(ds, domains=[DOMAIN], include_total=False, areas=False)
        del ds
        fit = fits[DOMAIN]
        with Clock() as c:
            if args.before or args.workers is None:
                ps = fit.peaks("bootstrap", n=n, seed=0, progress=False)
            else:
                from vc_eval.analysis import lmm_fast

                # the public call, on --workers threads
                old = lmm_fast.MAX_WORKERS
                lmm_fast.MAX_WORKERS = args.workers
                try:
                    ps = fit.peaks("bootstrap", n=n, seed=0, progress=False)
                finally:
                    lmm_fast.MAX_WORKERS = old
    out = {
        "refits": n,
        "curves": ps.n,
        "wall": c.wall,
        "cpu": c.cpu,
        "wall_200": c.wall * 200 / n,
        "cpu_200": c.cpu * 200 / n,
        "rss": rss_gib(),
        "workers": args.workers,
    }
    if args.dump:
        # the first refits' fixed effects (same seed, same resamples in every revision)
        betas, _ = fit.bootstrap_params(args.before_boot_n, rng=np.random.default_rng(0))
        np.save(args.dump, betas)
    return out


def part_incare(args) -> dict:
    from vc_eval.analysis.trajectories import fit_domains
    from vc_eval.core.dataset import Dataset
    from vc_eval.core.population import in_care_on, snapshot_date
    from vc_eval.core.schema import Col

    ds, _ = load(args.data)
    kids = in_care_on(ds.children, snapshot_date(ds))
    keep = ds.assessments[Col.child_id].isin(kids[Col.child_id])
    sub = Dataset.from_frames(
        councils=ds.councils,
        children=kids,
        assessments=ds.assessments[keep],
        placements=ds.placements[ds.placements[Col.child_id].isin(kids[Col.child_id])],
        outcomes=ds.outcomes[ds.outcomes[Col.child_id].isin(kids[Col.child_id])],
        framework=ds.framework,
    )
    del ds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Clock() as c:
            fits = fit_domains(sub, domains=[DOMAIN], include_total=False, areas=False)
    f = fits[DOMAIN]
    return {"children": f.n_groups, "rows": f.n_obs, "wall": c.wall, "cpu": c.cpu, "rss": rss_gib()}


LME4_SCRIPT = r"""
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
X <- as.matrix(d[, grep("^x", names(d))])
t0 <- proc.time()
m <- lmer(y ~ 0 + X + (1 + z | g), data = d, REML = TRUE)
el <- proc.time() - t0
vc <- as.data.frame(VarCorr(m))
cpu <- el[["user.self"]] + el[["sys.self"]]
cat(paste0('{"wall":', el[["elapsed"]], ',"cpu":', cpu,
  ',"fe":[', paste(format(fixef(m), digits = 17), collapse = ","), ']',
  ',"var":[', paste(format(vc$vcov[c(1, 2, 4)], digits = 17), collapse = ","), ']',
  ',"llf":', format(as.numeric(logLik(m)), digits = 17), '}'), "\n")
"""


def part_lme4(args) -> dict:
    if shutil.which("Rscript") is None:
        return {"skipped": "Rscript not on the PATH"}
    import pandas as pd

    from vc_eval.analysis.lmm_fast import fit_lmm

    ds, _ = load(args.data)
    a = domain_arrays(ds)
    del ds
    codes = pd.factorize(a["groups"], sort=True)[0]
    rows_out = {}
    tmp = Path(tempfile.mkdtemp())
    (tmp / "fit.R").write_text(LME4_SCRIPT)
    for label, n_children in (("10k", 10_000), ("national", None)):
        keep = np.ones(codes.size, bool) if n_children is None else codes < n_children
        y, X, Z, g = a["y"][keep], a["X"][keep], a["Z"][keep], codes[keep]
        frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(X.shape[1])])
        frame.insert(0, "y", y)
        frame["z"] = Z[:, 1]
        frame["g"] = g
        frame.to_csv(tmp / "d.csv", index=False, float_format="%.17g")
        with Clock() as c:
            fast = fit_lmm(y, X, Z, g)
        res = subprocess.run(
            ["Rscript", str(tmp / "fit.R"), str(tmp / "d.csv")], capture_output=True, text=True
        )
        if res.returncode != 0:
            rows_out[label] = {"error": res.stderr[-500:]}
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        fast_var = np.array([fast.cov_re[0, 0], fast.cov_re[1, 1], fast.scale])
        lme_var = np.array(r["var"])[[0, 1, 2]]
        rows_out[label] = {
            "children": int(np.unique(g).size),
            "fast_wall": c.wall,
            "fast_cpu": c.cpu,
            "lme4_wall": r["wall"],
            "lme4_cpu": r["cpu"],
            "diff_fe": rel(fast.fe_params, r["fe"]),
            "diff_var": rel(fast_var, lme_var),
            "diff_llf": abs(fast.llf - r["llf"]),
        }
    return rows_out


def run_part(name: str, args, src: str, dump: str | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=src)
    cmd = [sys.executable, __file__, "--data", args.data, "--child", name]
    cmd += ["--boot-n", str(args.boot_n), "--before-boot-n", str(args.before_boot_n)]
    cmd += ["--previous-rev", args.previous_rev or ""]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    if dump:
        cmd += ["--dump", dump]
    if src != str(ROOT / "src"):
        cmd.append("--before")
    load0 = os.getloadavg()[0]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    load1 = os.getloadavg()[0]
    if res.returncode != 0:
        return {"part": name, "error": res.stderr[-2000:]}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out.update(part=name, load=f"{load0:.1f}-{load1:.1f}", src=src)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--boot-n", type=int, default=200)
    ap.add_argument("--before-boot-n", type=int, default=3)
    ap.add_argument(
        "--previous-rev",
        default="9861adb",
        help="git revision of the previous code: its engine in part 'one', and (unless "
        "--before-src or --no-previous-run) its src tree for the --before-parts",
    )
    ap.add_argument("--no-previous-run", action="store_true", help="no previous-revision runs")
    ap.add_argument("--workers", type=int, default=None, help="threads (default: the product's)")
    ap.add_argument("--dump", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--before-src", default=None, help="src folder of the previous code")
    ap.add_argument(
        "--before-parts",
        default="domains,bootstrap,incare",
        help="parts also run on the previous code",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--before", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = {
            "one": part_one,
            "domains": part_domains,
            "bootstrap": part_bootstrap,
            "incare": part_incare,
            "lme4": part_lme4,
        }[args.child]
        print(json.dumps(fn(args)))
        return
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, data {args.data}")
    before_src = args.before_src
    if before_src is None and args.previous_rev and not args.no_previous_run:
        before_src = export_src(args.previous_rev)
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for name in args.parts.split(","):
        srcs = [str(ROOT / "src")]
        if before_src and name in args.before_parts.split(","):
            srcs.insert(0, before_src)
        dumps = {}
        for src in srcs:
            dump = None
            if name in ("domains", "bootstrap"):
                dump = str(tmp / f"{name}-{len(dumps)}.{'npz' if name == 'domains' else 'npy'}")
            res = run_part(name, args, src, dump)
            res["revision"] = "this" if src == str(ROOT / "src") else (args.previous_rev or src)
            if dump and Path(dump).exists():
                dumps[res["revision"]] = dump
            if len(dumps) == 2 and name == "domains":
                res.update(compare(dumps["this"], next(v for k, v in dumps.items() if k != "this")))
            if len(dumps) == 2 and name == "bootstrap":
                new, old = (
                    np.load(dumps["this"]),
                    np.load(next(v for k, v in dumps.items() if k != "this")),
                )
                res["diff_boot_fe"] = rel(new, old) if new.shape == old.shape else None
            print(json.dumps(res), flush=True)
            rows.append(res)
    print()
    print(table(rows))


def export_src(rev: str) -> str:
    """The ``src`` tree of git revision ``rev``, exported to a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix=f"vc-eval-{rev}-"))
    archive = subprocess.run(
        ["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return str(out / "src")


def _fmt(v, digits: int = 1) -> str:
    return "" if v is None else f"{v:,.{digits}f}"


def table(rows: list[dict]) -> str:
    """The Markdown table for benchmarks/README.md: every part, both revisions."""
    lines = [
        "| part | revision | wall s | CPU s | peak RSS GiB | load | notes |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['part']} | {r.get('revision', '')} | | | | | error |")
            continue
        if r["part"] == "lme4":
            for label, x in r.items():
                if isinstance(x, dict) and "fast_cpu" in x:
                    lines.append(
                        f"| lme4 {label} | fast / lme4 | {_fmt(x['fast_wall'])} / "
                        f"{_fmt(x['lme4_wall'])} | {_fmt(x['fast_cpu'], 2)} / "
                        f"{_fmt(x['lme4_cpu'])} | | {r['load']} | {x['children']:,} children; "
                        f"max rel. diff fixed {x['diff_fe']:.1e}, variances "
                        f"{x['diff_var']:.1e}; llf {x['diff_llf']:.1e} |"
                    )
            continue
        notes = []
        if r["part"] == "domains":
            notes.append(
                f"{r['fits']} fits, {r['converged']} converged; Dataset.load "
                f"{_fmt(r['load_wall'])} s wall, {_fmt(r.get('load_cpu'))} s CPU, "
                f"{_fmt(r['rss_after_load'], 2)} GiB after it"
            )
            if r.get("workers") is not None:
                notes.append(f"{r['workers']} workers")
        if r["part"] == "bootstrap":
            notes.append(
                f"{r['refits']} refits ({_fmt(r['cpu'] / r['refits'], 2)} s CPU each); "
                f"200 refits: {_fmt(r['wall_200'])} s wall, {_fmt(r['cpu_200'])} s CPU"
            )
        if r["part"] in ("one", "incare") and "children" in r:
            notes.append(f"{r['children']:,} children, {r['rows']:,} rows")
        diffs = {k: v for k, v in r.items() if k.startswith("diff_") and v is not None}
        if diffs:
            notes.append("vs previous: " + ", ".join(f"{k[5:]} {v:.1e}" for k, v in diffs.items()))
        lines.append(
            f"| {r['part']} | {r.get('revision', '')} | {_fmt(r.get('wall'))} | "
            f"{_fmt(r.get('cpu'))} | {_fmt(r.get('rss'), 2)} | {r.get('load', '')} | "
            f"{'; '.join(notes)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
