"""Coverage of the per-council impact intervals (issue 12), on seeds no test uses.

Usage::

    .venv/bin/python benchmarks/coverage_impact.py [--seeds 6] [--first-seed 901]

(``--configs B --outcomes share_in_house_foster --designs "comparison councils"
--effects null --no-few`` runs one cell, cheaply, while iterating.)

For each seed, three populations (150 children per council, small so the
study stays cheap on a shared machine; single process):

* ``A``: 40 councils, 20 adopting and 20 never (enough placebo councils for
  95% intervals);
* ``B``: 40 councils with the generator's default adoption (about 14 never:
  intervals at the level those allow, labelled so);
* ``C``: 3 councils (2 adopting): intervals must be valid or absent;

each with the default programme effects and with ``ProgrammeEffects.none()``
(the same seed: the exact counterfactual). For every adopting council,
outcome (in-house share, mean weekly cost, weekly spend) and horizon (12, 24
months, when observed) it runs the before/after design (``its``) and the
one-council comparison design (``council_did``) and records whether the
interval covers the council's truth (``truth["true_effects"]``), the
interval's stated level, and (null) whether it excludes zero. Then the
pooled comparison design (stacked event study) on parallel-trend (null) data
with 6, 12 and 30 councils: how often it gives intervals, their coverage of
zero, and the pre-trend test's rejection rate (its size). Prints Markdown
tables for ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from vc_eval.analysis.impact import council_series, event_study, its
from vc_eval.analysis.impact.council_did import council_did
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate

OUTCOMES = {
    "share_in_house_foster": "in_house_share",
    "mean_weekly_cost": "mean_weekly_cost",
    "weekly_spend": "weekly_spend",
    "mean_total_need": "need:mean_total_need",
}
HORIZONS = (12, 24)


def _config(kind: str, seed: int, programme: ProgrammeEffects) -> SynthConfig:
    if kind == "A":
        rng = np.random.default_rng(seed)
        adopt = np.zeros(40, bool)
        adopt[rng.choice(40, 20, replace=False)] = True
        return SynthConfig(
            councils=40, seed=seed, sizes=(150,) * 40, adopters=tuple(adopt), programme=programme
        )
    if kind == "B":
        return SynthConfig(councils=40, seed=seed, sizes=(150,) * 40, programme=programme)
    return SynthConfig(
        councils=3,
        seed=seed,
        sizes=(220, 165, 135),
        adopters=(True, True, False),
        programme=programme,
    )


def _truth_series(eff: dict, key: str) -> list[float]:
    if key.startswith("need:"):
        return eff["need"]["monthly"][key[5:]]
    return eff["monthly"][key]


def run(
    kind: str,
    seed: int,
    effect: bool,
    outcomes: tuple[str, ...],
    designs: tuple[str, ...] = ("before/after", "comparison councils"),
) -> list[dict]:
    prog = ProgrammeEffects() if effect else ProgrammeEffects.none()
    ds = generate(_config(kind, seed, prog))
    s = council_series(ds, progress=False)
    rows = []
    for council, eff in ds.truth["true_effects"].items():
        for outcome in outcomes:
            truth_path = _truth_series(eff, OUTCOMES[outcome])
            for design, fn in (
                ("before/after", lambda c=council, o=outcome: its(s, c, o, horizons=HORIZONS)),
                (
                    "comparison councils",
                    lambda c=council, o=outcome: council_did(s, c, o, horizons=HORIZONS),
                ),
            ):
                if design not in designs:
                    continue
                try:
                    r = fn()
                except ValueError:
                    continue
                e = r.effects[r.effects["kind"] == "point"]
                for _, row in e.iterrows():
                    h = int(row["horizon"])
                    if h >= len(truth_path) or not bool(row.get("within_data", True)):
                        continue
                    truth = float(truth_path[h])
                    has = np.isfinite(row["lower"])
                    rows.append(
                        {
                            "config": kind,
                            "seed": seed,
                            "effect": effect,
                            "council": council,
                            "outcome": outcome,
                            "design": design,
                            "horizon": h,
                            "truth": truth,
                            "estimate": row["estimate"],
                            "level": row["level"] if has else np.nan,
                            "has_interval": has,
                            "covers": bool(has and row["lower"] <= truth <= row["upper"]),
                            "excludes_zero": bool(has and (row["lower"] > 0 or row["upper"] < 0)),
                        }
                    )
    return rows


def few_rows(seed: int, councils: int) -> list[dict]:
    """Pooled event study on parallel-trend (null) data with few councils."""
    ds = generate(
        SynthConfig(
            councils=councils,
            seed=seed,
            sizes=(150,) * councils,
            programme=ProgrammeEffects.none(),
        )
    )
    s = council_series(ds, progress=False)
    out = []
    for outcome in ("share_in_house_foster", "mean_weekly_cost"):
        try:
            r = event_study(s, outcome, n_boot=499, seed=seed)
        except ValueError:
            continue
        for _, e in r.effects[r.effects["kind"] == "point"].iterrows():
            has = bool(np.isfinite(e["lower"]))
            out.append(
                {
                    "councils": councils,
                    "seed": seed,
                    "outcome": outcome,
                    "has_interval": has,
                    "covers_zero": bool(has and e["lower"] <= 0 <= e["upper"]),
                    "pretrend_tested": bool(np.isfinite(r.pretrend["p"])),
                    "pretrend_reject": bool(
                        np.isfinite(r.pretrend["p"]) and r.pretrend["p"] < 0.05
                    ),
                }
            )
    return out


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table (no tabulate dependency)."""

    def cell(v) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += [
        "| " + " | ".join(cell(v) for v in rec) + " |" for rec in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=901)
    ap.add_argument("--configs", default="ABC")
    ap.add_argument("--out", default="/tmp/coverage_impact.csv")
    ap.add_argument(
        "--outcomes",
        default="share_in_house_foster,mean_weekly_cost,weekly_spend",
        help=f"comma-separated, from {', '.join(OUTCOMES)}",
    )
    ap.add_argument("--no-few", action="store_true", help="skip the few-council study")
    ap.add_argument(
        "--designs",
        default="before/after,comparison councils",
        help="comma-separated: before/after, comparison councils",
    )
    ap.add_argument("--effects", default="on,null", help="comma-separated: on, null")
    args = ap.parse_args()
    designs = tuple(args.designs.split(","))
    effects = tuple(e == "on" for e in args.effects.split(","))
    warnings.filterwarnings("ignore")
    rows = []
    t0 = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for kind in args.configs:
            for effect in effects:
                rows += run(kind, seed, effect, tuple(args.outcomes.split(",")), designs)
        print(f"seed {seed} done, {time.perf_counter() - t0:.0f} s", flush=True)
    d = pd.DataFrame(rows)
    d.to_csv(args.out, index=False)
    g = d.groupby(["config", "design", "outcome", "effect"])
    tab = g.agg(
        n=("covers", "size"),
        with_interval=("has_interval", "mean"),
        level=("level", "mean"),
        coverage=("covers", lambda x: x[d.loc[x.index, "has_interval"]].mean()),
        excludes_zero=("excludes_zero", "mean"),
    ).reset_index()
    print(markdown(tab))
    by = d.groupby(["config", "design", "effect"]).agg(
        n=("covers", "size"),
        with_interval=("has_interval", "mean"),
        coverage=("covers", lambda x: x[d.loc[x.index, "has_interval"]].mean()),
        excludes_zero=("excludes_zero", "mean"),
    )
    print(markdown(by.reset_index()))
    if args.no_few:
        print(f"total {time.perf_counter() - t0:.0f} s")
        return
    few = []
    for councils in (6, 12, 30):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            few += few_rows(seed, councils)
    f = pd.DataFrame(few)
    print(
        markdown(
            f.groupby("councils")
            .agg(
                n=("has_interval", "size"),
                with_interval=("has_interval", "mean"),
                covers_zero=("covers_zero", lambda x: x[f.loc[x.index, "has_interval"]].mean()),
                pretrend_tested=("pretrend_tested", "mean"),
                pretrend_reject=("pretrend_reject", "mean"),
            )
            .reset_index()
        )
    )
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
