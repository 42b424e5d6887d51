"""Does money follow strengths? The null rate of ``strength_cost`` intervals.

    python benchmarks/study_strength_cost_null.py 9600 9620

Strengths with flat age curves, unrelated to need (``strength_need_corr=0``)
and so to cost; two councils of 250 children per seed, no programme. Counts
the 95% intervals (six strength domains per seed) that exclude 0: overall
and given total need and age. Seeds 9600-9619 are used by no test.
"""

from __future__ import annotations

import sys
import time

from vc_eval.analysis.strengths import strength_cost
from vc_eval.synthetic.generator import DEFAULT_STRENGTHS, DomainTruth, SynthConfig, generate


def main(first: int, last: int) -> str:
    flat = {d: DomainTruth(50, 0.0, (0, 0), sd_intercept=12.0, corr=0.0) for d in DEFAULT_STRENGTHS}
    t0 = time.perf_counter()
    partial = marginal = n = 0
    for seed in range(first, last):
        cfg = SynthConfig(
            councils=2,
            seed=seed,
            sizes=(250, 250),
            adopters=(False, False),
            strengths=True,
            strength_need_corr=0.0,
            strength_domains=flat,
        )
        t = strength_cost(generate(cfg), n_boot=200, seed=seed).table
        t = t[t["kind"] == "strength"]
        partial += int(((t["partial_low"] > 0) | (t["partial_high"] < 0)).sum())
        marginal += int(((t["ci_low"] > 0) | (t["ci_high"] < 0)).sum())
        n += len(t)
    return (
        f"seeds {first}-{last - 1}: intervals excluding 0, given need and age {partial} of {n}, "
        f"overall {marginal} of {n}; {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    lo, hi = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (9600, 9620)
    print(main(lo, hi))
