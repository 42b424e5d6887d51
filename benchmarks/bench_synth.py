"""Time and peak memory of the national-scale synthetic population.

    python benchmarks/bench_synth.py [--councils 153] [--seed 1]

Runs the generation in a child process so its peak RSS is measured alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, sys, time, resource, tempfile
from vc_eval.synthetic.generator import SynthConfig, generate, write_synthetic
t0 = time.perf_counter()
ds = generate(SynthConfig(councils={councils}, seed={seed}))
t1 = time.perf_counter()
write_synthetic(ds, tempfile.mkdtemp() + "/national")
t2 = time.perf_counter()
print(json.dumps({{"generate_s": t1 - t0, "write_s": t2 - t1,
    "children": len(ds.children), "assessment_rows": len(ds.assessments),
    "placements": len(ds.placements), "outcomes": len(ds.outcomes),
    "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--councils", type=int, default=153)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(**vars(args))],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    for k, v in res.items():
        print(f"{k:>16}: {v:,.2f}" if isinstance(v, float) else f"{k:>16}: {v:,}")


if __name__ == "__main__":
    main()
