"""The care population: who is in care, when, and where they are placed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import DAYS_PER_YEAR, Col

AGE_BAND_EDGES = (0, 1, 5, 10, 16, np.inf)
AGE_BAND_LABELS = ("under 1", "1-4", "5-9", "10-15", "16+")


def in_care_on(children: pd.DataFrame, date: str | pd.Timestamp) -> pd.DataFrame:
    """Children in care on ``date`` (entered on or before, not yet left)."""
    d = pd.Timestamp(date)
    c = children
    mask = (c[Col.entered_care] <= d) & (c[Col.left_care].isna() | (c[Col.left_care] > d))
    return c[mask]


def age_band(age_years: pd.Series | np.ndarray) -> pd.Categorical:
    """DfE age bands (under 1, 1-4, 5-9, 10-15, 16+)."""
    return pd.cut(
        np.asarray(age_years, dtype=float), AGE_BAND_EDGES, right=False, labels=AGE_BAND_LABELS
    )


def age_on(children: pd.DataFrame, date: str | pd.Timestamp) -> pd.Series:
    """Age in years on ``date``."""
    return (pd.Timestamp(date) - children[Col.date_of_birth]).dt.days / DAYS_PER_YEAR


def placements_on(placements: pd.DataFrame, date: str | pd.Timestamp) -> pd.DataFrame:
    """The placement active on ``date`` for each child who has one."""
    d = pd.Timestamp(date)
    p = placements
    active = p[(p[Col.start_date] <= d) & (p[Col.end_date].isna() | (p[Col.end_date] > d))]
    return active.sort_values(Col.start_date).drop_duplicates(Col.child_id, keep="last")


def snapshot_date(ds: Dataset) -> pd.Timestamp:
    """The latest date the data cover (last assessment, placement or outcome)."""
    dates = [
        ds.assessments[Col.assessment_date].max(),
        ds.placements[Col.start_date].max(),
        ds.children[Col.entered_care].max(),
    ]
    return max(pd.Timestamp(d) for d in dates if pd.notna(d))


def population_summary(ds: Dataset, *, at: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per council: children in care on a date and what the data hold.

    Columns: council, programme_start, in_care (on ``at``), children (ever
    in the data), assessments (child x date x assessor), placements,
    weekly_spend (total weekly cost of placements active on ``at``),
    median_weekly_cost.
    """
    at = pd.Timestamp(at) if at is not None else snapshot_date(ds)
    kids = ds.children
    now = in_care_on(kids, at)
    active = placements_on(ds.placements, at)
    active = active[active[Col.child_id].isin(now[Col.child_id])]
    active = active.merge(kids[[Col.child_id, Col.council]], on=Col.child_id)
    n_assess = (
        ds.assessments.drop_duplicates([Col.child_id, Col.assessment_date, Col.assessor_id])
        .merge(kids[[Col.child_id, Col.council]], on=Col.child_id)
        .groupby(Col.council)
        .size()
    )
    plc = ds.placements.merge(kids[[Col.child_id, Col.council]], on=Col.child_id)
    out = ds.councils.set_index(Col.council)[[Col.programme_start]].copy()
    out["in_care"] = now.groupby(Col.council).size()
    out["children"] = kids.groupby(Col.council).size()
    out["assessments"] = n_assess
    out["placements"] = plc.groupby(Col.council).size()
    out["weekly_spend"] = active.groupby(Col.council)[Col.weekly_cost].sum().round(0)
    out["median_weekly_cost"] = active.groupby(Col.council)[Col.weekly_cost].median().round(0)
    counts = ["in_care", "children", "assessments", "placements"]
    out[counts] = out[counts].fillna(0).astype(int)
    out.attrs["date"] = at
    return out.reset_index()


def mean_need_by_age(ds: Dataset, *, min_children: int = 6) -> pd.DataFrame:
    """Mean total need by whole year of age, dropping ages with few children.

    Columns: age (years), mean, sd, children, assessments.
    """
    from vc_eval.core.dataset import total_need

    t = total_need(ds.assessments, ds.framework)
    t["age"] = np.floor(t[Col.age_at_assessment]).astype(int)
    g = t.groupby("age")
    out = pd.DataFrame(
        {
            "mean": g[Col.score].mean(),
            "sd": g[Col.score].std(),
            "children": g[Col.child_id].nunique(),
            "assessments": g.size(),
        }
    ).reset_index()
    return out[out["children"] >= min_children].reset_index(drop=True)
