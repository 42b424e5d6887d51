"""Cost against need and spend against outcomes: runtime by scale, and recovery over seeds.

Usage::

    .venv/bin/python benchmarks/bench_spend_outcomes.py scale [--councils 3 20 153]
    .venv/bin/python benchmarks/bench_spend_outcomes.py scale --data /tmp/national \
        [--parts spend,outcomes,pooled] [--previous-rev 9861adb]
    .venv/bin/python benchmarks/bench_spend_outcomes.py recovery [--seeds 8] [--size 800]

``scale`` times :func:`vc_eval.analysis.spend.spend` (500 resamples),
:func:`vc_eval.analysis.outcomes.outcomes` (all 12 need domains, total need
and four external outcomes, as the reports run it) and the pooled outcome
models (``external_outcomes(design="pooled")``, council fixed effects), each
in a fresh process on either generated populations (``--councils``) or data
saved with ``vc-eval synth`` (``--data``), and prints wall and CPU seconds,
peak resident memory (including the loaded data) and the load average.
``--previous-rev`` runs the same parts with the code of that git revision
(exported with ``git archive``) side by side, so a quiet-machine comparison is
one command. ``recovery`` prints, per seed, the estimates the tests check
against ``truth.json``: the corrected and naive cost-need link, price growth,
the largest error of a type median, the programme and spend effects on need
change, and the SDQ and attendance coefficients. Figures go to
``benchmarks/spend_outcomes.md`` by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval.analysis.outcomes import (
    MOVES,
    NEED,
    POOLED,
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
    """Peak resident memory of this process (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        status = Path("/proc/self/status").read_text()
        hwm = next(ln for ln in status.splitlines() if ln.startswith("VmHWM:"))
        return int(hwm.split()[1]) / 2**20
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


PARTS = ("spend", "outcomes", "pooled")


def run_part(part: str, data: str | None, councils: int, n_boot: int) -> dict:
    """Run in a child process: load or generate the data, run one part, report its cost."""
    t0 = time.perf_counter()
    if data:
        from vc_eval.core.dataset import Dataset

        ds = Dataset.load(data)
    else:
        ds = generate(SynthConfig(councils=councils, seed=1))
    t_data = time.perf_counter() - t0
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _cpu()
    if part == "spend":
        spend(ds, n_boot=n_boot, progress=False)
    elif part == "outcomes":
        outcomes(ds, progress=False)
    else:
        external_outcomes(ds, design=POOLED, progress=False)
    return {
        "part": part,
        "children": len(ds.children),
        "assessment rows": len(ds.assessments),
        "data (s)": round(t_data, 1),
        "wall (s)": round(time.perf_counter() - t0, 1),
        "CPU (s)": round(_cpu() - c0, 1),
        "peak RSS (GiB)": round(_peak_gib(), 2),
        "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
    }


def _previous_src(rev: str, work: Path) -> Path:
    """The ``src`` tree of a git revision, exported under ``work``."""
    root = Path(__file__).resolve().parents[1]
    dest = work / f"rev-{rev}"
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def _in_child(part: str, a: argparse.Namespace, councils: int, src: Path | None) -> dict:
    cmd = [sys.executable, __file__, "--_part", part, "--boot", str(a.boot)]
    cmd += ["--data", a.data] if a.data else ["--councils", str(councils)]
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def scale(a: argparse.Namespace) -> None:
    parts = [p for p in a.parts.split(",") if p]
    revs: list[tuple[str, Path | None]] = [("this checkout", None)]
    if a.previous_rev:
        work = Path(tempfile.mkdtemp(prefix="vc-bench-spend-"))
        revs.append((a.previous_rev, _previous_src(a.previous_rev, work)))
    rows = []
    for n in [None] if a.data else a.councils:
        for part in parts:
            # interleaved: previous and this code back to back, part by part
            for label, src in revs:
                r = _in_child(part, a, n or 0, src)
                r = {"code": label, "councils": "data" if n is None else n, **r}
                rows.append(r)
                print(pd.DataFrame([r]).to_string(index=False), flush=True)
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
    ap.add_argument("--data", default=None, help="a saved dataset instead of generating")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--previous-rev", default=None, help="also time this git revision")
    ap.add_argument("--boot", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--_part", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    np.set_printoptions(precision=4)
    if a._part:
        n = a.councils[0] if a.councils else 3
        print(json.dumps(run_part(a._part, a.data, n, a.boot)))
    elif a.what == "scale":
        scale(a)
    else:
        recovery(a.seeds, a.size)


if __name__ == "__main__":
    main()
