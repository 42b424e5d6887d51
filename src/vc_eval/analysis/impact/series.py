"""Council-level time series: the input of every impact design.

One row per council and period (the first day of each month, or of each
quarter), with stocks measured on that day and flows counted over the
period that starts on it:

* stocks on the day: children in care, children placed, children and
  weekly spend by placement type, their shares, mean weekly cost;
* flows in the period: placement moves (a placement starting that is not
  the child's first), mean total need and mean need change per 6 months
  among children assessed, and the mean of each outcome measure recorded.

The programme timing is carried along: ``cohort`` (the first period start on
or after the council's programme start), ``event_time`` (periods since
``cohort``; missing for councils that never adopted) and ``post``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vc_eval.core.dataset import Dataset, total_need
from vc_eval.core.schema import DAYS_PER_YEAR, PLACEMENT_TYPES, Col

#: Months per period for the supported frequencies (period starts).
FREQS: dict[str, int] = {"MS": 1, "QS": 3}
#: Need change is expressed per this many days (6 months).
HALF_YEAR_DAYS = DAYS_PER_YEAR / 2
WEEKS_PER_YEAR = DAYS_PER_YEAR / 7

# Column names of the series (one place, as schema.Col does for tables).
PERIOD = "period"
COHORT = "cohort"
EVENT_TIME = "event_time"
POST = "post"
CHILDREN = "children"
PLACED = "placed"
WEEKLY_SPEND = "weekly_spend"
MEAN_WEEKLY_COST = "mean_weekly_cost"
MOVES = "moves"
MOVES_PER_100 = "moves_per_100"
NEED_CHILDREN = "need_children"
MEAN_TOTAL_NEED = "mean_total_need"
NEED_CHANGE = "need_change_6m"
NEED_CHANGE_CHILDREN = "need_change_children"


def n_col(placement_type: str) -> str:
    """Column of the number of children placed in ``placement_type``."""
    return f"n_{placement_type}"


def share_col(placement_type: str) -> str:
    """Column of the share of placed children in ``placement_type``."""
    return f"share_{placement_type}"


def spend_col(placement_type: str) -> str:
    """Column of the weekly spend on ``placement_type``."""
    return f"spend_{placement_type}"


def outcome_col(measure: str) -> str:
    """Column of the mean of an outcome measure recorded in the period."""
    return f"outcome_{measure}"


def outcome_n_col(measure: str) -> str:
    """Column of the number of children with the outcome recorded."""
    return f"outcome_{measure}_children"


#: Which count column says how many children a column's value describes
#: (used to hide plotted marks about fewer than 6 children).
def count_column(outcome: str) -> str:
    """The column giving the number of children behind ``outcome``."""
    if outcome in (NEED_CHILDREN, MEAN_TOTAL_NEED):
        return NEED_CHILDREN
    if outcome == NEED_CHANGE:
        return NEED_CHANGE_CHILDREN
    if outcome.startswith("outcome_") and not outcome.endswith("_children"):
        return outcome + "_children"
    if outcome == CHILDREN:
        return CHILDREN
    return PLACED


def period_grid(
    dataset: Dataset,
    freq: str = "MS",
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DatetimeIndex:
    """Period start dates covered by the data.

    The default span is the dataset's observation window (``metadata["window"]``,
    set for synthetic data) or else from the first to the last assessment:
    stocks before the first assessment are usually incomplete, because
    extracts list only children in care during the years they cover.
    """
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {sorted(FREQS)}, got {freq!r}")
    window = dataset.metadata.get("window") or [None, None]
    a = dataset.assessments[Col.assessment_date]
    if a.isna().all():
        # No needs scores (a council with SSDA903 returns only): the episodes' dates.
        a = pd.concat([dataset.placements[Col.start_date], dataset.children[Col.entered_care]])
    lo = pd.Timestamp(start or window[0] or a.min())
    hi = pd.Timestamp(end or window[1] or a.max())
    if pd.isna(lo) or pd.isna(hi):
        raise ValueError("cannot tell the period the data cover: pass start= and end=")
    first = _ceil_period(lo, freq)
    grid = pd.date_range(first, hi, freq=freq)
    if len(grid) == 0:
        raise ValueError(f"no {freq} period starts between {lo.date()} and {hi.date()}")
    return grid


def _period_code(freq: str) -> str:
    return "M" if freq == "MS" else "Q"


def _ceil_period(ts: pd.Timestamp, freq: str) -> pd.Timestamp:
    p = ts.to_period(_period_code(freq))
    first = p.start_time
    return first if first == ts.normalize() else (p + 1).start_time


def period_ordinal(dates: pd.Series | pd.DatetimeIndex, freq: str = "MS") -> np.ndarray:
    """Integer count of periods (months or quarters) since year 0, for arithmetic."""
    d = pd.DatetimeIndex(dates)
    months = d.year.to_numpy() * 12 + d.month.to_numpy() - 1
    return months // FREQS[freq]


def ordinal_start(ordinal: int, freq: str = "MS") -> pd.Timestamp:
    """First day of the period with :func:`period_ordinal` ``ordinal`` (its inverse)."""
    months = int(ordinal) * FREQS[freq]
    return pd.Timestamp(year=months // 12, month=months % 12 + 1, day=1)


def _days(values) -> np.ndarray:
    """Dates as int64 days since 1970; missing dates become a far-future day."""
    s = pd.to_datetime(pd.Series(values)).astype("datetime64[ns]")
    out = s.to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.where(s.isna().to_numpy(), np.iinfo(np.int64).max // 4, out)


def council_series(
    dataset: Dataset,
    freq: str = "MS",
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    min_gap_days: int = 60,
    max_gap_days: int = 548,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Council x period series of the care population, spend, need and outcomes.

    Parameters
    ----------
    dataset : Dataset
        Any number of councils.
    freq : {"MS", "QS"}
        Period starts: first day of each month, or of each quarter.
    start, end : date, optional
        Span of the series (default: see :func:`period_grid`).
    min_gap_days, max_gap_days : int
        Need change uses each assessment's latest earlier assessment of the
        same child at least ``min_gap_days`` and at most ``max_gap_days``
        before it (second scorings within days of a review are skipped).
    progress : bool, optional
        Progress bar over councils (default: only on a terminal).

    Returns
    -------
    DataFrame
        One row per council and period. Columns: council, period,
        programme_start, cohort, event_time, post, children (in care on the
        day), placed (with an active placement), ``n_<type>``,
        ``share_<type>`` and ``spend_<type>`` for each placement type,
        weekly_spend, mean_weekly_cost, moves, moves_per_100, need_children,
        mean_total_need, need_change_6m, need_change_children, and
        ``outcome_<measure>`` / ``outcome_<measure>_children`` for each
        outcome measure in the data. ``attrs`` holds ``freq``.
    """
    from vc_eval.core.progress import tqdm

    grid = period_grid(dataset, freq, start=start, end=end)
    step = FREQS[freq]
    edges = grid.append(pd.DatetimeIndex([grid[-1] + pd.DateOffset(months=step)]))
    edge_days = _days(edges)
    day = edge_days[:-1]
    n_per = len(grid)

    kids = dataset.children
    council_of = kids.set_index(Col.child_id)[Col.council]
    pl = dataset.placements
    pl_council = pl[Col.child_id].map(council_of).to_numpy()
    pl_start = _days(pl[Col.start_date])
    pl_end = _days(pl[Col.end_date])
    pl_type = pd.Categorical(pl[Col.placement_type], categories=PLACEMENT_TYPES).codes
    pl_cost = pl[Col.weekly_cost].to_numpy(dtype=float)
    first_start = pl.groupby(Col.child_id)[Col.start_date].transform("min")
    is_move = (pl[Col.start_date] > first_start).to_numpy()

    need = _need_per_child_period(dataset, edges, council_of, min_gap_days, max_gap_days)
    outs = _outcomes_per_period(dataset, edges, council_of)

    kid_groups = kids.groupby(Col.council, sort=True).indices
    pl_groups = pd.Series(np.arange(len(pl))).groupby(pl_council, sort=True).indices
    ent_all = _days(kids[Col.entered_care])
    left_all = _days(kids[Col.left_care])
    starts = dataset.councils.set_index(Col.council)[Col.programme_start]

    frames = []
    names = sorted(dataset.councils[Col.council])
    for council in tqdm(
        names,
        desc="council series",
        disable=progress is False if progress is not None else None,
        unit="council",
    ):
        ki = kid_groups.get(council, np.array([], dtype=int))
        children = _stock(ent_all[ki], left_all[ki], None, day)[0]
        pi = pl_groups.get(council, np.array([], dtype=int))
        s, e, t, c = pl_start[pi], pl_end[pi], pl_type[pi], pl_cost[pi]
        n_type = np.zeros((len(PLACEMENT_TYPES), n_per), dtype=int)
        spend_type = np.zeros((len(PLACEMENT_TYPES), n_per))
        for k in range(len(PLACEMENT_TYPES)):
            m = t == k
            if m.any():
                n_type[k], spend_type[k] = _stock(s[m], e[m], c[m], day)
        placed = n_type.sum(axis=0)
        spend = spend_type.sum(axis=0)
        mv = s[is_move[pi]]
        moves = np.histogram(mv, bins=edge_days)[0] if mv.size else np.zeros(n_per, dtype=int)
        cols: dict[str, object] = {
            Col.council: council,
            PERIOD: grid,
            CHILDREN: children,
            PLACED: placed,
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            for k, ptype in enumerate(PLACEMENT_TYPES):
                cols[n_col(ptype)] = n_type[k]
                cols[share_col(ptype)] = np.where(placed > 0, n_type[k] / placed, np.nan)
                cols[spend_col(ptype)] = spend_type[k]
            cols[WEEKLY_SPEND] = spend
            cols[MEAN_WEEKLY_COST] = np.where(placed > 0, spend / placed, np.nan)
            cols[MOVES] = moves.astype(int)
            cols[MOVES_PER_100] = np.where(children > 0, 100 * moves / children, np.nan)
        out = pd.DataFrame(cols)
        frames.append(out)
    series = pd.concat(frames, ignore_index=True)
    series = series.merge(need, on=[Col.council, PERIOD], how="left")
    series = series.merge(outs, on=[Col.council, PERIOD], how="left")
    for col in (NEED_CHILDREN, NEED_CHANGE_CHILDREN):
        series[col] = series[col].fillna(0).astype(int)
    for col in series.columns:
        if col.startswith("outcome_") and col.endswith("_children"):
            series[col] = series[col].fillna(0).astype(int)
    series = add_programme_timing(series, starts, freq)
    series.attrs["freq"] = freq
    return series


def _stock(start: np.ndarray, end: np.ndarray, weight: np.ndarray | None, day: np.ndarray):
    """Number (and weight sum) of intervals [start, end) containing each day.

    Sorted cumulative counts instead of an intervals x days matrix: linear
    memory, and no BLAS call for a small product.
    """
    so, eo = np.argsort(start, kind="stable"), np.argsort(end, kind="stable")
    i_s = np.searchsorted(start[so], day, side="right")
    i_e = np.searchsorted(end[eo], day, side="right")
    count = i_s - i_e
    if weight is None:
        return count, None
    cs = np.concatenate([[0.0], np.cumsum(weight[so])])
    ce = np.concatenate([[0.0], np.cumsum(weight[eo])])
    total = cs[i_s] - ce[i_e]
    # Cancellation leaves rounding dust where nothing is active.
    return count, np.where(count > 0, total, 0.0)


def add_programme_timing(series: pd.DataFrame, starts: pd.Series, freq: str) -> pd.DataFrame:
    """Add programme_start, cohort, event_time and post to a council series.

    ``cohort`` is the first period start on or after the programme start
    (the first day on which the programme could show in a stock measured on
    period starts); ``event_time`` counts periods from it.
    """
    out = series.drop(columns=[Col.programme_start, COHORT, EVENT_TIME, POST], errors="ignore")
    ps = pd.to_datetime(out[Col.council].map(starts)).astype("datetime64[ns]")
    # once per distinct start (a council's start repeats on each of its periods)
    firsts = {x: _ceil_period(x, freq) for x in ps.dropna().unique()}
    cohort = pd.Series(
        [firsts[x] if pd.notna(x) else pd.NaT for x in ps],
        index=out.index,
        dtype="datetime64[ns]",
    )
    et = np.where(
        cohort.notna(),
        period_ordinal(out[PERIOD], freq) - period_ordinal(cohort.fillna(out[PERIOD]), freq),
        np.nan,
    )
    cols = list(out.columns)
    out.insert(2, Col.programme_start, ps)
    out.insert(3, COHORT, cohort)
    out.insert(4, EVENT_TIME, et)
    out.insert(5, POST, et >= 0)
    return out[[*cols[:2], Col.programme_start, COHORT, EVENT_TIME, POST, *cols[2:]]]


def _period_index(dates: pd.Series, edges_days: np.ndarray) -> np.ndarray:
    """Index of the period each date falls in (-1 outside the series)."""
    d = _days(dates)
    idx = np.searchsorted(edges_days, d, side="right") - 1
    return np.where((idx >= 0) & (idx < edges_days.size - 1), idx, -1)


def _need_per_child_period(dataset, edges, council_of, min_gap, max_gap) -> pd.DataFrame:
    """Mean total need and need change per 6 months, children assessed per period."""
    cols = [Col.council, PERIOD, NEED_CHILDREN, MEAN_TOTAL_NEED, NEED_CHANGE, NEED_CHANGE_CHILDREN]
    a = dataset.assessments
    if a.empty or not dataset.framework.need_domains:
        return pd.DataFrame(columns=cols).astype({PERIOD: "datetime64[ns]"})
    tn = total_need(a, dataset.framework)[[Col.child_id, Col.assessment_date, Col.score]]
    tn[Col.child_id] = tn[Col.child_id].astype(str)
    tn = tn.sort_values([Col.assessment_date, Col.child_id]).reset_index(drop=True)
    # Previous assessment of the same child at least min_gap days earlier.
    left = tn.assign(_key=tn[Col.assessment_date] - pd.Timedelta(days=min_gap))
    left = left.sort_values("_key")
    right = tn.rename(columns={Col.assessment_date: "_prev_date", Col.score: "_prev"})
    right = right.sort_values("_prev_date")
    m = pd.merge_asof(
        left, right, left_on="_key", right_on="_prev_date", by=Col.child_id, direction="backward"
    )
    gap = (m[Col.assessment_date] - m["_prev_date"]).dt.days
    ok = gap.notna() & (gap <= max_gap)
    m["_change"] = np.where(ok, (m[Col.score] - m["_prev"]) * HALF_YEAR_DAYS / gap, np.nan)
    edge_days = _days(edges)
    m["_p"] = _period_index(m[Col.assessment_date], edge_days)
    m = m[m["_p"] >= 0]
    m[Col.council] = m[Col.child_id].map(council_of)
    # Each child counts once per period (a second scoring days later is averaged in).
    per_child = m.groupby([Col.council, "_p", Col.child_id], observed=True).agg(
        need=(Col.score, "mean"), change=("_change", "mean")
    )
    g = per_child.groupby(level=[0, 1])
    out = pd.DataFrame(
        {
            NEED_CHILDREN: g["need"].size(),
            MEAN_TOTAL_NEED: g["need"].mean(),
            NEED_CHANGE: g["change"].mean(),
            NEED_CHANGE_CHILDREN: g["change"].count(),
        }
    ).reset_index()
    out[PERIOD] = edges[:-1][out["_p"].to_numpy()]
    return out[cols]


def _outcomes_per_period(dataset, edges, council_of) -> pd.DataFrame:
    o = dataset.outcomes
    if o.empty:
        return pd.DataFrame(columns=[Col.council, PERIOD]).astype({PERIOD: "datetime64[ns]"})
    p = _period_index(o[Col.date], _days(edges))
    keep = p >= 0
    d = pd.DataFrame(
        {
            Col.council: o[Col.child_id].map(council_of).to_numpy()[keep],
            "_p": p[keep],
            Col.measure: o[Col.measure].astype(str).to_numpy()[keep],
            Col.value: o[Col.value].to_numpy(dtype=float)[keep],
        }
    )
    g = d.groupby([Col.council, "_p", Col.measure])[Col.value]
    wide = pd.concat({"mean": g.mean(), "n": g.count()}, axis=1).unstack(Col.measure)
    wide.columns = [
        outcome_col(m) if stat == "mean" else outcome_n_col(m) for stat, m in wide.columns
    ]
    wide = wide.reset_index()
    wide[PERIOD] = edges[:-1][wide["_p"].to_numpy()]
    return wide.drop(columns="_p")
