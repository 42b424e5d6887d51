"""The care population: who is in care, when, and where they are placed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import DAYS_PER_YEAR, Col

#: Two scorings of a child by different assessors at most this many days apart are
#: scorings of the same review (the child's need has barely moved): the one rule used
#: by assessor agreement, the standard error of measurement, reliable change, the
#: latest need and the synthetic data's second opinions.
SECOND_SCORING_DAYS = 14

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


# --------------------------------------------------------------------------
# Scorings of the same review, and each child's latest need
# --------------------------------------------------------------------------


def _day_numbers(dates) -> np.ndarray:
    d = np.asarray(dates)
    if np.issubdtype(d.dtype, np.datetime64):
        return d.astype("datetime64[D]").astype(np.int64)
    return d.astype(np.int64)


def second_scorings(child, date, assessor, *, window_days: int = SECOND_SCORING_DAYS) -> np.ndarray:
    """Which scorings repeat the scoring just before them (the same review scored again).

    Parameters
    ----------
    child, date, assessor : array-like
        One entry per scoring (child x date x assessor), sorted by child, then
        date (then assessor, so same-day scorings come in a fixed order).
        ``date`` holds datetimes or whole day numbers.
    window_days : int
        Largest gap, in days, between two scorings of the same review.

    Returns
    -------
    ndarray of bool
        True where a scoring is of the same child as the one before it, by
        another assessor, at most ``window_days`` later.
    """
    c, a = np.asarray(child), np.asarray(assessor)
    gap = np.diff(_day_numbers(date))
    rep = (c[1:] == c[:-1]) & (a[1:] != a[:-1]) & (gap <= window_days) & (gap >= 0)
    return np.r_[False, rep]


def second_scoring_pairs(
    child, date, assessor, *, window_days: int = SECOND_SCORING_DAYS
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first and second scoring of each pair of scorings of one review.

    Sorted as for :func:`second_scorings`; a scoring repeating the one before
    it forms a pair with it, in date order, and a scoring is used in at most
    one pair (of A, B, A' within the window, only A-B is a pair), so the pairs
    are independent repeat measurements.
    """
    cand = np.flatnonzero(second_scorings(child, date, assessor, window_days=window_days)) - 1
    keep = np.ones(cand.size, dtype=bool)
    last_used = -1
    for k, i in enumerate(cand):
        if i <= last_used:
            keep[k] = False
        else:
            last_used = i + 1
    first = cand[keep]
    return first, first + 1


def latest_review(frame: pd.DataFrame, *, window_days: int = SECOND_SCORING_DAYS) -> pd.DataFrame:
    """The rows of each child's latest review: the one rule for a child's latest need.

    A review is a scoring and every scoring repeating it (:func:`second_scorings`:
    another assessor within ``window_days``), so two assessors scoring a child
    on the same day, or a second opinion a week later, are one review. A
    child's latest need is the mean of its latest review's scorings: no
    assessor is picked over another, and the result does not depend on the
    order of the rows.

    Parameters
    ----------
    frame : DataFrame
        Long (one row per domain score) or wide (one row per scoring) scores
        with ``child_id``, ``assessment_date`` and ``assessor_id``.

    Returns
    -------
    DataFrame
        The rows of ``frame`` in each child's latest review, in their original
        order (index kept).
    """
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    if frame.empty:
        return frame
    k = frame[keys].astype({Col.child_id: str, Col.assessor_id: str})
    scorings = k.drop_duplicates().sort_values(keys, kind="stable").reset_index(drop=True)
    review = np.cumsum(
        ~second_scorings(
            scorings[Col.child_id].to_numpy(),
            scorings[Col.assessment_date].to_numpy(),
            scorings[Col.assessor_id].to_numpy(),
            window_days=window_days,
        )
    )
    scorings["review"] = review
    last = scorings.groupby(Col.child_id, sort=False)["review"].transform("max")
    latest = scorings.loc[scorings["review"] == last, keys]
    hit = pd.MultiIndex.from_frame(k).isin(pd.MultiIndex.from_frame(latest))
    return frame[hit]
