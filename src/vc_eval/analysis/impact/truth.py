"""True programme effects of a synthetic population, for recovery checks.

``truth["true_effects"][council]`` (see :mod:`vc_eval.synthetic.generator`) holds, for each
adopting council, factual minus counterfactual differences on the first day
of each month from the programme start. These helpers put them in the
series' column names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vc_eval.analysis.impact.series import (
    MEAN_TOTAL_NEED,
    MEAN_WEEKLY_COST,
    NEED_CHANGE,
    WEEKLY_SPEND,
    share_col,
)

#: truth key -> series column
TRUTH_COLUMNS: dict[str, str] = {
    "in_house_share": share_col("in_house_foster"),
    "mean_weekly_cost": MEAN_WEEKLY_COST,
    "weekly_spend": WEEKLY_SPEND,
}
#: truth key (under ``true_effects[council]["need"]["monthly"]``) -> series column
NEED_TRUTH_COLUMNS: dict[str, str] = {
    "mean_total_need": MEAN_TOTAL_NEED,
    "need_change_6m": NEED_CHANGE,
}


def true_effects_frame(truth: dict) -> pd.DataFrame:
    """Tidy true effects: council, month (event time in months), outcome, effect."""
    rows = []
    for council, eff in truth.get("true_effects", {}).items():
        m = eff["monthly"]
        n = len(m["month"])
        for key, col in TRUTH_COLUMNS.items():
            rows.append(
                pd.DataFrame(
                    {"council": council, "month": np.arange(n), "outcome": col, "effect": m[key]}
                )
            )
        need = eff.get("need", {}).get("monthly", {})
        for key, col in NEED_TRUTH_COLUMNS.items():
            if key in need:
                rows.append(
                    pd.DataFrame(
                        {
                            "council": council,
                            "month": np.arange(len(need[key])),
                            "outcome": col,
                            "effect": need[key],
                        }
                    )
                )
    if not rows:
        return pd.DataFrame(columns=["council", "month", "outcome", "effect"])
    return pd.concat(rows, ignore_index=True)


def true_effect(
    truth: dict,
    outcome: str,
    horizon: int,
    *,
    councils: list[str] | None = None,
    kind: str = "point",
) -> float:
    """Mean true effect over adopting councils observed ``horizon`` months after the start.

    Parameters
    ----------
    outcome : str
        A series column with a known truth (see :data:`TRUTH_COLUMNS`).
    councils : list of str, optional
        Average over these councils only (e.g. those an estimate used).
    kind : {"point", "average"}
        Effect at the horizon, or mean effect over months 0 to horizon - 1.
    """
    f = true_effects_frame(truth)
    f = f[f["outcome"] == outcome]
    if councils is not None:
        f = f[f["council"].isin(councils)]
    if kind == "point":
        vals = f[f["month"] == horizon].groupby("council")["effect"].mean()
    else:
        # Only councils observed at the horizon, so "average" matches the estimate.
        seen = set(f.loc[f["month"] == horizon - 1, "council"])
        g = f[(f["month"] < horizon) & f["council"].isin(seen)]
        vals = g.groupby("council")["effect"].mean()
    if vals.empty:
        raise KeyError(f"no true effect for {outcome} at {horizon} months")
    return float(vals.mean())


def true_outcome_effects(truth: dict) -> pd.DataFrame:
    """Tidy true effects on yearly outcomes: council, date (31 March), measure, effect."""
    rows = []
    for council, eff in truth.get("true_effects", {}).items():
        o = eff.get("outcomes")
        if not o:
            continue
        for measure, vals in o.items():
            if measure == "date":
                continue
            rows.append(
                pd.DataFrame(
                    {
                        "council": council,
                        "date": pd.to_datetime(o["date"]),
                        "measure": measure,
                        "effect": vals,
                    }
                )
            )
    if not rows:
        return pd.DataFrame(columns=["council", "date", "measure", "effect"])
    return pd.concat(rows, ignore_index=True)
