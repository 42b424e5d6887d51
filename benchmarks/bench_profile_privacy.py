"""Needs profile, assessor agreement and disclosure control: runtime by scale.

Usage::

    .venv/bin/python benchmarks/bench_profile_privacy.py [privacy|profile|all] [--councils 3 20 153]

``privacy`` times :func:`vc_eval.core.privacy.suppress` on random two-way tables
of several sizes (counts drawn with many 1-5s, as in council tables) and on
a national long table (153 councils x 12 domains x 4 bands), and prints how
many cells secondary suppression hides per primary cell. ``profile``
generates synthetic populations (153 councils: national scale) and times
prevalence, complexity, clusters (k chosen in 2..6), change with reliable
change, and agreement, with peak memory. Figures go to
``benchmarks/profile_privacy.md`` by hand.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

VALUES = np.array([0, 1, 2, 3, 4, 5, 6, 10, 20, 50, 200])
PROBS = np.array([0.15, 0.1, 0.1, 0.1, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.05])


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def privacy() -> None:
    from vc_eval.core.privacy import suppress, suppress_long

    rng = np.random.default_rng(0)
    print("| table | tables | ms per table | primary cells | secondary cells |")
    print("| --- | --- | --- | --- | --- |")
    for r, c, n in ((3, 3, 300), (6, 6, 200), (12, 8, 50), (20, 12, 10)):
        tabs = [pd.DataFrame(rng.choice(VALUES, size=(r, c), p=PROBS)) for _ in range(n)]
        t0 = time.perf_counter()
        out = [suppress(t) for t in tabs]
        dt = (time.perf_counter() - t0) / n * 1000
        prim = sum(o.n_primary for o in out)
        sec = sum(o.n_secondary for o in out)
        print(f"| {r} x {c} | {n} | {dt:.1f} | {prim} | {sec} |")
    long = pd.DataFrame(
        [
            (f"council{k}", f"domain{d}", b, int(rng.choice(VALUES, p=PROBS)))
            for k in range(153)
            for d in range(12)
            for b in range(1, 5)
        ],
        columns=["council", "domain", "band", "n"],
    )
    t0 = time.perf_counter()
    st = suppress_long(long, count_col="n", within=["council", "domain"], rows="band")
    print(
        f"\nlong table 153 councils x 12 domains x 4 bands ({len(long)} rows): "
        f"{time.perf_counter() - t0:.1f} s, {st.n_primary} primary, {st.n_secondary} secondary"
    )


def profile(councils: list[int]) -> None:
    from vc_eval.analysis import profile as P
    from vc_eval.analysis.agreement import agreement
    from vc_eval.synthetic.generator import SynthConfig, generate

    print(
        "| councils | children in care | need-score rows | latest scores | prevalence |"
        " complexity | clusters | change (RCI) | agreement | peak RSS |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in councils:
        ds = generate(SynthConfig(councils=n, seed=1))
        times = {}
        t0 = time.perf_counter()
        snap = P.latest_scores(ds)
        times["latest"] = time.perf_counter() - t0
        for name, fn in (
            ("prevalence", P.prevalence),
            ("complexity", P.complexity),
            ("clusters", lambda d: P.clusters(d, seed=1)),
            ("change", P.need_change),
            ("agreement", lambda d: agreement(d.assessments, framework=d.framework)),
        ):
            t0 = time.perf_counter()
            fn(ds)
            times[name] = time.perf_counter() - t0
        print(
            f"| {n} | {snap.n_in_care:,} | {len(ds.assessments) / 1e6:.1f} M | "
            + " | ".join(
                f"{times[k]:.1f} s"
                for k in ("latest", "prevalence", "complexity", "clusters", "change", "agreement")
            )
            + f" | {_peak_gib():.1f} GiB |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", choices=["privacy", "profile", "all"], default="all")
    ap.add_argument("--councils", type=int, nargs="+", default=[3, 20, 153])
    args = ap.parse_args()
    if args.what in ("privacy", "all"):
        privacy()
    if args.what in ("profile", "all"):
        profile(args.councils)


if __name__ == "__main__":
    main()
