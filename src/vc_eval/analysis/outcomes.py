"""Spend against outcomes: what do placements and money go with?

Two families of models, both observational:

* **Need as an outcome**: for each need domain (and total need), the change
  in score between consecutive reviews, per 6 months, against weekly spend
  (per doubling) and placement type at the start of the interval, adjusted
  for the baseline score, age (natural spline), time in care, council and,
  where a council adopted the programme, the share of the interval after its
  start.
* **External outcomes** (SDQ, placement moves, missing episodes, school
  attendance, ...): each yearly value against weekly spend at the start of
  the year, within each child (years in which the same child's placement
  cost more against years in which it cost less: child fixed effects), with
  the placement's start date, age, time in care and the need score most
  relevant to the outcome (e.g. emotional health and behaviour for SDQ)
  measured around that date; a negative control adds spend just after the
  year. A pooled model (children compared with each other, adjusted for
  placement type, council and need corrected for measurement error) is kept
  for the structural question of how outcomes depend on need and moves.
* **Total programme effect** on SDQ, placement moves and missing episodes
  (difference in differences, no mediator adjusted for).

Plus **cost per point of need reduced** by placement type.

Why cluster-robust least squares with a measurement-error correction, not a
mixed model: a noisy baseline score biases the comparison of placement types
through regression to the mean (children in children's homes have higher
true need than their observed score suggests, so they appear to "improve"
less), and a noisy need adjustment leaves confounding that shows up as an
association with spend. Both biases are removed by the method-of-moments
correction in :mod:`vc_eval.analysis.measurement_error`, which is exact for linear
least squares but has no simple counterpart in a random-intercept model. The
questions are about population averages (how does the average change differ
by type), for which least squares with standard errors clustered by child is
valid whatever the within-child correlation, and it is fast enough for every
domain at national scale. The uncorrected estimates are kept for comparison.

Count and yes/no outcomes are modelled on their own scale (linear), so
coefficients are differences in the mean count or probability.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import patsy

from vc_eval.analysis.absorb import absorbed_columns, demean, group_codes
from vc_eval.analysis.measurement_error import (
    REPEAT_WINDOW_DAYS,
    EIVFit,
    composite_scores,
    eiv_ols,
    error_variance,
    error_variance_from_differences,
    review_scores,
    single_thread_blas,
    wide_scores,
)
from vc_eval.core import display, privacy
from vc_eval.core.costs import REFERENCE_DATE
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.population import second_scoring_pairs, second_scorings
from vc_eval.core.progress import tqdm
from vc_eval.core.schema import DAYS_PER_YEAR, PLACEMENT_LABELS, PLACEMENT_TYPES, Col
from vc_eval.core.summary import Count, Finding, Result, Summary, Table

HALF_YEAR_DAYS = DAYS_PER_YEAR / 2
WEEKS_PER_HALF_YEAR = HALF_YEAR_DAYS / 7
REFERENCE_TYPE = "in_house_foster"

#: External outcomes modelled by default.
DEFAULT_MEASURES: tuple[str, ...] = (
    "sdq_total",
    "placement_moves",
    "missing_episodes",
    "school_attendance",
)
#: The need domains each outcome is adjusted for (their mean, measured around
#: the outcome date). Names follow the illustrative framework; for another
#: framework, or an outcome not listed, total need (all need domains) is used.
DEFAULT_OUTCOME_NEEDS: dict[str, tuple[str, ...]] = {
    "sdq_total": ("emotional_health", "behaviour"),
    "school_attendance": ("education",),
    "exclusion": ("behaviour",),
    "missing_episodes": ("risk_taking",),
    "offending": ("risk_taking",),
}
MOVES = "placement_moves"
#: Measures of the total programme effect (no mediator adjusted for).
PROGRAMME_MEASURES: tuple[str, ...] = ("sdq_total", "placement_moves", "missing_episodes")
EXPOSURE_DATE = "exposure_date"
PLACEMENT_START = "placement_start"
START_YEARS = "placement_start_years"
PRIOR_MOVES = "prior_moves_per_year"
#: Spend is measured this many days from the outcome date: the start of the year
#: the outcome covers, so the year's moves cannot have set it.
EXPOSURE_DAYS = -365
#: The negative control measures spend just after the outcome's year.
NEGATIVE_CONTROL_DAYS = 1
#: Designs of the spend -> outcome comparison (see :func:`external_outcomes`).
WITHIN, POOLED = "within_child", "pooled"
#: In the negative control, spend at the start of the year (kept in the model).
SPEND_AT_START = "spend_at_year_start"
START_YEARS_AFTER = "placement_start_years_after"

# Design column names (terms reported).
NEED = "need"
BASELINE = "baseline"
SPEND = "spend_per_doubling"
TIME_IN_CARE = "log_years_in_care"
PROGRAMME = "programme"
INTERCEPT = "intercept"
CHANGE = "change_per_6_months"

OBSERVATIONAL = (
    "These comparisons are observational. Children are placed where they are because of "
    "their needs and circumstances, and what the data do not record (the reasons for a "
    "placement, risks known to the social worker) can differ between placement types and "
    "levels of spend. The results describe associations after adjustment; they cannot show "
    "that spending more, or moving a child to another type of placement, would change "
    "their need or outcomes."
)


def type_term(t: str) -> str:
    """Name of the design term for placement type ``t`` (vs the reference type)."""
    return f"type[{t}]"


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------


def _placement_on(
    pl: pd.DataFrame, keys: pd.DataFrame, date_col: str, cache: dict | None = None
) -> pd.DataFrame:
    """The placement active on each row's date (type, cost), by merge_asof per child.

    ``cache`` keeps the placements prepared for the merge between calls on the
    same placements.
    """
    left = keys[[Col.child_id, date_col]].reset_index().sort_values(date_col)
    cache = {} if cache is None else cache
    if "placements_by_start" not in cache:
        cache["placements_by_start"] = (
            pl[[Col.child_id, Col.start_date, Col.end_date, Col.placement_type, Col.weekly_cost]]
            .astype({Col.child_id: str})
            .sort_values(Col.start_date)
        )
    right = cache["placements_by_start"]
    m = pd.merge_asof(
        left,
        right,
        left_on=date_col,
        right_on=Col.start_date,
        by=Col.child_id,
        direction="backward",
    )
    ok = m[Col.start_date].notna() & (m[Col.end_date].isna() | (m[Col.end_date] > m[date_col]))
    m.loc[~ok, [Col.placement_type, Col.weekly_cost]] = np.nan
    m[PLACEMENT_START] = m[Col.start_date].where(ok)
    cols = [Col.placement_type, Col.weekly_cost, PLACEMENT_START]
    return m.set_index("index")[cols].reindex(keys.index)


def _prior_move_rate(ds: Dataset, o: pd.DataFrame) -> np.ndarray:
    """Moves a year in care before each row's exposure date (placements started, less one).

    A child's history of moves, before the spend is measured, stands in for how
    unsettled the child is: without it, anything that goes with both spend
    and instability (the child's needs beyond their scores) would show as an
    effect of spend.
    """
    pl = ds.placements[[Col.child_id, Col.start_date]].astype({Col.child_id: str})
    m = o[[Col.child_id, EXPOSURE_DATE]].reset_index().merge(pl, on=Col.child_id)
    before = m[m[Col.start_date] <= m[EXPOSURE_DATE]]
    n = before.groupby("index").size().reindex(o.index).fillna(0).to_numpy(dtype=float)
    years = np.maximum(o["years_in_care_at_exposure"].to_numpy(dtype=float), 0.25)
    return np.maximum(n - 1, 0) / years


def _child_info(ds: Dataset) -> pd.DataFrame:
    kids = ds.children[[Col.child_id, Col.council, Col.date_of_birth, Col.entered_care]]
    kids = kids.astype({Col.child_id: str}).merge(
        ds.councils[[Col.council, Col.programme_start]], on=Col.council, how="left"
    )
    return kids.set_index(Col.child_id)


def need_change_frame(
    ds: Dataset,
    domains: Sequence[str],
    *,
    min_days: int = 120,
    max_days: int = 400,
    repeat_window_days: int = REPEAT_WINDOW_DAYS,
    scores: pd.DataFrame | None = None,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Change in a need score between consecutive reviews, with covariates.

    Parameters
    ----------
    ds : Dataset
    domains : sequence of str
        Domains averaged into the score (one domain, or all need domains for
        total need).
    min_days, max_days : int
        Intervals between reviews kept. Short intervals are left out because
        scaling their change to 6 months multiplies measurement noise.
    scores : DataFrame, optional
        ``wide_scores(ds.assessments)``, to avoid pivoting again per domain.
    cache : dict, optional
        Shared by calls on the same ``ds`` and ``scores`` (wide) to build the
        reviews, intervals and covariates once for every set of domains
        scored at the same assessments; only the scores differ. The frame is
        the same as without it.

    Returns
    -------
    DataFrame
        One row per interval: ``child_id, council, date, date_end, days,
        baseline, score_end, n_scores`` (practitioners averaged at the
        baseline review), ``change_per_6_months, age, years_in_care,
        programme`` (share of the interval after the council's programme
        start), ``placement_type, weekly_cost`` (at baseline). Holds
        identifiers: analyst use only.
    """
    src = ds.assessments if scores is None else scores
    if cache is None or Col.domain in src.columns:
        rev = review_scores(composite_scores(src, domains), window_days=repeat_window_days)
        return _intervals(ds, rev, min_days, max_days)[0]
    vals = _mean_over(src, domains)
    reviews = _shared_reviews(src, np.isfinite(vals), repeat_window_days, cache)
    score = reviews.scores(vals)
    key = ("intervals", reviews.key, min_days, max_days)
    if key not in cache:
        rev = reviews.frame.copy()
        rev.insert(2, Col.score, score)
        cache[key] = _intervals(ds, rev, min_days, max_days)
    iv, r = cache[key]
    iv = iv.copy()
    iv[BASELINE] = score[r]
    iv["score_end"] = score[r + 1]
    iv[CHANGE] = (iv["score_end"] - iv[BASELINE]) * HALF_YEAR_DAYS / iv["days"]
    return iv


def _mean_over(wide: pd.DataFrame, domains: Sequence[str]) -> np.ndarray:
    """Each wide row's mean over ``domains`` (NaN where none is scored), as
    :func:`composite_scores` computes it."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with none of the domains
        return np.nanmean(np.ascontiguousarray(wide[list(domains)].to_numpy(dtype=float)), axis=1)


@dataclass(frozen=True)
class _Reviews:
    """Scorings of the wide scores grouped into reviews, as :func:`review_scores` does.

    ``pos`` are the wide rows in the order :func:`composite_scores` then
    :func:`review_scores` sort them, ``review`` each one's review, ``frame``
    the per-review columns but the score, and ``pairs`` the positions (in
    that order) of the repeat scorings :func:`error_variance` pairs.
    """

    key: tuple
    pos: np.ndarray
    review: np.ndarray
    frame: pd.DataFrame
    pairs: tuple[np.ndarray, np.ndarray]

    def scores(self, vals: np.ndarray) -> np.ndarray:
        """Mean score of each review (``vals``: one per wide row)."""
        return pd.Series(vals[self.pos]).groupby(self.review).mean().to_numpy()

    def error_variance(self, vals: np.ndarray, window_days: int):
        v = vals[self.pos]
        i1, i2 = self.pairs
        return error_variance_from_differences(v[i2] - v[i1], window_days=window_days)


def _shared_reviews(
    wide: pd.DataFrame, mask: np.ndarray, window_days: int, cache: dict
) -> _Reviews:
    """The reviews of the wide rows in ``mask`` (cached by the rows and the window)."""
    key = ("reviews", window_days, hashlib.blake2b(mask.tobytes(), digest_size=16).digest())
    if key in cache:
        return cache[key]
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    if Col.age_at_assessment in wide:
        keys.append(Col.age_at_assessment)
    # the steps of composite_scores and review_scores, with each row's position kept
    out = wide.loc[mask, keys].copy()
    out["_pos"] = np.flatnonzero(mask)
    for c in (Col.child_id, Col.assessor_id):
        out[c] = out[c].astype(str)
    out = out.sort_values([Col.child_id, Col.assessment_date], kind="stable")
    s = out.reset_index(drop=True).sort_values(
        [Col.child_id, Col.assessment_date, Col.assessor_id], kind="stable"
    )
    s = s.reset_index(drop=True)
    child = s[Col.child_id].to_numpy()
    date = s[Col.assessment_date].to_numpy()
    assessor = s[Col.assessor_id].to_numpy()
    review = np.cumsum(~second_scorings(child, date, assessor, window_days=window_days))
    agg = {
        Col.child_id: (Col.child_id, "first"),
        Col.assessment_date: (Col.assessment_date, "first"),
        "n_scores": (Col.child_id, "size"),
    }
    if Col.age_at_assessment in s:
        agg[Col.age_at_assessment] = (Col.age_at_assessment, "first")
    frame = s.groupby(review).agg(**agg).reset_index(drop=True)
    pairs = second_scoring_pairs(child, date, assessor, window_days=window_days)
    cache[key] = _Reviews(key, s["_pos"].to_numpy(), review, frame, pairs)
    return cache[key]


def _intervals(
    ds: Dataset, rev: pd.DataFrame, min_days: int, max_days: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`need_change_frame` from the reviews, and the review each interval starts at."""
    rev = rev.assign(_r=np.arange(len(rev)))
    nxt = rev.groupby(Col.child_id).shift(-1)
    iv = rev.assign(date_end=nxt[Col.assessment_date], score_end=nxt[Col.score]).dropna(
        subset=["date_end"]
    )
    iv = iv.rename(columns={Col.assessment_date: Col.date, Col.score: BASELINE})
    iv["days"] = (iv["date_end"] - iv[Col.date]).dt.days.astype(float)
    iv = iv[(iv["days"] >= min_days) & (iv["days"] <= max_days)].copy()
    iv[CHANGE] = (iv["score_end"] - iv[BASELINE]) * HALF_YEAR_DAYS / iv["days"]
    info = _child_info(ds)
    c = info.reindex(iv[Col.child_id])
    iv[Col.council] = c[Col.council].to_numpy()
    iv["age"] = (iv[Col.date] - c[Col.date_of_birth].to_numpy()).dt.days / DAYS_PER_YEAR
    iv["years_in_care"] = np.clip(
        (iv[Col.date] - c[Col.entered_care].to_numpy()).dt.days / DAYS_PER_YEAR, 0, None
    )
    ps = pd.Series(c[Col.programme_start].to_numpy(), index=iv.index)
    after = np.clip((iv["date_end"] - ps).dt.days, 0, None) - np.clip(
        (iv[Col.date] - ps).dt.days, 0, None
    )
    iv[PROGRAMME] = (after / iv["days"]).fillna(0.0).clip(0, 1)
    pl = _placement_on(ds.placements, iv, Col.date)
    iv[Col.placement_type] = pl[Col.placement_type]
    iv[Col.weekly_cost] = pl[Col.weekly_cost].astype(float)
    iv = iv.dropna(subset=[Col.placement_type]).reset_index(drop=True)
    return iv.drop(columns="_r"), iv["_r"].to_numpy()


def outcome_frame(
    ds: Dataset,
    measure: str,
    need_domains: Sequence[str],
    *,
    window_days: int = 183,
    scores: pd.DataFrame | None = None,
    exposure_days: int = 0,
    cache: dict | None = None,
) -> pd.DataFrame:
    """One row per child x date of an outcome, with need around the date and covariates.

    ``exposure_days`` moves the date at which placement, spend and need are
    measured relative to the outcome date: ``-365`` measures them at the start
    of the year the outcome covers (before the moves and episodes it counts),
    ``+1`` just after it (a negative control: spend then cannot cause them).

    Need is the mean over ``need_domains`` of every score in the
    ``window_days`` either side of the outcome date (``n_scores`` of them; its
    measurement-error variance is the single-score variance divided by that,
    treating scores by different practitioners as independent).

    ``cache`` (a dict shared by calls on the same ``ds`` and ``scores``) keeps
    the children's details and each set of domains' mean scores between calls.

    Returns
    -------
    DataFrame
        ``child_id, council, date, value, need, n_scores, placement_moves``
        (the year's moves, where recorded), ``age, years_in_care, programme``
        (1 if the council's programme had started), ``placement_type,
        weekly_cost``. Holds identifiers: analyst use only.
    """
    o = ds.outcomes
    o = o[o[Col.measure] == measure][[Col.child_id, Col.date, Col.value]]
    o = o.astype({Col.child_id: str}).reset_index(drop=True)
    mv = ds.outcomes[ds.outcomes[Col.measure] == MOVES][[Col.child_id, Col.date, Col.value]]
    mv = mv.astype({Col.child_id: str}).rename(columns={Col.value: MOVES})
    o = o.merge(mv, on=[Col.child_id, Col.date], how="left")
    o[EXPOSURE_DATE] = o[Col.date] + pd.Timedelta(days=int(exposure_days))
    src = ds.assessments if scores is None else scores
    cache = {} if cache is None else cache
    key = ("composite", tuple(need_domains))
    if key not in cache:
        cache[key] = composite_scores(src, need_domains)[
            [Col.child_id, Col.assessment_date, Col.score]
        ]
    sc = cache[key]
    m = o[[Col.child_id, EXPOSURE_DATE]].reset_index().merge(sc, on=Col.child_id)
    near = (m[Col.assessment_date] - m[EXPOSURE_DATE]).dt.days.abs() <= window_days
    g = m[near].groupby("index")[Col.score]
    o[NEED] = g.mean().reindex(o.index)
    o["n_scores"] = g.size().reindex(o.index).fillna(0).astype(int)
    o = o[o["n_scores"] > 0].copy()
    if "child_info" not in cache:
        cache["child_info"] = _child_info(ds)
    c = cache["child_info"].reindex(o[Col.child_id])
    o[Col.council] = c[Col.council].to_numpy()
    o["age"] = (o[Col.date] - c[Col.date_of_birth].to_numpy()).dt.days / DAYS_PER_YEAR
    o["years_in_care"] = np.clip(
        (o[Col.date] - c[Col.entered_care].to_numpy()).dt.days / DAYS_PER_YEAR, 0, None
    )
    ps = c[Col.programme_start].to_numpy()
    o[PROGRAMME] = (pd.notna(ps) & (o[Col.date].to_numpy() >= ps)).astype(float)
    o["years_in_care_at_exposure"] = (
        o[EXPOSURE_DATE] - c[Col.entered_care].to_numpy()
    ).dt.days / DAYS_PER_YEAR
    o[PRIOR_MOVES] = _prior_move_rate(ds, o)
    pl = _placement_on(ds.placements, o, EXPOSURE_DATE, cache)
    o[Col.placement_type] = pl[Col.placement_type]
    o[Col.weekly_cost] = pl[Col.weekly_cost].astype(float)
    # placements are priced when they start, so their start date carries price growth
    o[START_YEARS] = (
        pd.to_datetime(pl[PLACEMENT_START]) - pd.Timestamp(REFERENCE_DATE)
    ).dt.days / DAYS_PER_YEAR
    return o.dropna(subset=[Col.placement_type, Col.value]).reset_index(drop=True)


# --------------------------------------------------------------------------
# Design and fit
# --------------------------------------------------------------------------


#: The last few age splines built (keyed by the ages' bytes): the need-change
#: models of every domain share their intervals, hence their ages.
_SPLINES: dict[tuple, dict[str, np.ndarray]] = {}


def _age_columns(age: np.ndarray, age_df: int) -> dict[str, np.ndarray]:
    """Age as a centred natural spline, or linear when too few rows or ages support one."""
    if len(age) >= 40 * age_df and np.unique(np.round(age, 1)).size > 3 * age_df:
        age = np.ascontiguousarray(age, dtype=float)
        key = (age_df, len(age), hashlib.blake2b(age.tobytes(), digest_size=16).digest())
        if key not in _SPLINES:
            spl = np.asarray(
                patsy.dmatrix(f"cr(a, df={age_df}, constraints='center') - 1", {"a": age})
            )
            if len(_SPLINES) >= 4:
                _SPLINES.pop(next(iter(_SPLINES)))
            _SPLINES[key] = {f"age_spline_{k}": spl[:, k] for k in range(spl.shape[1])}
        # copies: callers may change their columns
        return {k: v.copy() for k, v in _SPLINES[key].items()}
    return {"age": age}


def _drop_collinear(x: pd.DataFrame, keep: set[str]) -> pd.DataFrame:
    """Drop columns that add nothing to the rank, from the end (``keep`` never)."""
    while True:
        rank = _rank(x)
        if rank == x.shape[1]:
            break
        for c in reversed(list(x.columns)):
            if c not in keep and _rank(x.drop(columns=[c])) == rank:
                x = x.drop(columns=[c])
                break
        else:  # pragma: no cover - a kept column itself is collinear
            break
    return x


@dataclass(frozen=True)
class _Councils:
    """Council fixed effects absorbed (within-council transformation, mean kept).

    ``absorbed`` is the number of council dummy columns they replace (councils
    less one), for the small-sample factor of the covariance.
    """

    codes: np.ndarray
    n_groups: int

    @property
    def absorbed(self) -> int:
        return self.n_groups - 1

    def within(self, values) -> np.ndarray:
        return demean(values, self.codes, self.n_groups, add_mean=True)


def _absorb_councils(
    cols: dict[str, np.ndarray], council, index: pd.Index
) -> tuple[pd.DataFrame, _Councils]:
    """Intercept plus ``cols`` within councils (overall mean kept), councils absorbed.

    Columns constant within every council are dropped (a dummy regression
    would find them collinear with the councils). See
    :mod:`vc_eval.analysis.absorb` for why the estimates and cluster-robust
    covariance of every other term equal the dummy regression's.
    """
    codes, n_groups = group_codes(council)
    fe = _Councils(codes, n_groups)
    out: dict[str, np.ndarray] = {INTERCEPT: np.ones(len(index))}
    for name, raw in cols.items():
        # column by column: contiguous arrays, no n x k copies
        within = demean(raw, codes, n_groups)
        if not absorbed_columns(raw[:, None], within[:, None])[0]:
            out[name] = within + raw.mean()
    return pd.DataFrame(out, index=index), fe


def _design(
    d: pd.DataFrame,
    *,
    noisy: str,
    extra: Sequence[str] = (),
    reference: str = REFERENCE_TYPE,
    age_df: int = 5,
    absorb_councils: bool = True,
) -> tuple[pd.DataFrame, str, _Councils | None]:
    """Design matrix: intercept, noisy need, spend, type, age spline, time in care, ...

    With ``absorb_councils`` (the default) council fixed effects are absorbed
    (the returned :class:`_Councils` transforms the outcome the same way;
    no ``council[...]`` terms, and the intercept is the average council's
    level); without, one dummy column per council but the first.
    """
    cols: dict[str, np.ndarray] = {INTERCEPT: np.ones(len(d))}
    cols[noisy] = d[noisy].to_numpy(dtype=float)
    for col in extra:
        cols[col] = d[col].to_numpy(dtype=float)
    cols[SPEND] = np.log2(np.maximum(d[Col.weekly_cost].to_numpy(dtype=float), 1.0))
    # one factorisation, then integer comparisons (not string ones per type)
    pcode, plevels = pd.factorize(d[Col.placement_type])
    level = {str(v): k for k, v in enumerate(plevels)}
    present = [t for t in PLACEMENT_TYPES if t in level]
    ref = reference if reference in present else d[Col.placement_type].mode().iloc[0]
    for t in present:
        if t != ref:
            cols[type_term(t)] = (pcode == level[t]).astype(float)
    cols.update(_age_columns(d["age"].to_numpy(dtype=float), age_df))
    cols[TIME_IN_CARE] = np.log1p(d["years_in_care"].to_numpy(dtype=float))
    council = d[Col.council]
    # one council: nothing to absorb (and the columns stay exactly as they are)
    absorb_councils = absorb_councils and council.nunique() > 1
    if not absorb_councils:
        council = council.to_numpy().astype(str)
        # columns are collected first and the frame built once (hundreds of
        # council columns at national scale)
        for cn in sorted(set(council))[1:]:
            cols[f"council[{cn}]"] = (council == cn).astype(float)
    cols[PROGRAMME] = d[PROGRAMME].to_numpy(dtype=float)
    # drop columns that do not vary (a term the data cannot estimate)
    cols = {c: v for c, v in cols.items() if c == INTERCEPT or pd.Series(v).std() > 0}
    fe = None
    if absorb_councils:
        del cols[INTERCEPT]
        x, fe = _absorb_councils(cols, council, d.index)
    else:
        x = pd.DataFrame(cols, index=d.index)
    # and any column that adds nothing (e.g. a council wholly before its programme)
    return _drop_collinear(x, {INTERCEPT, noisy}), ref, fe


def _rank(x: pd.DataFrame) -> int:
    """Rank of a tall design from its small cross-product (columns scaled to unit norm)."""
    v = x.to_numpy(dtype=float)
    v = v / np.maximum(np.linalg.norm(v, axis=0), 1e-300)
    with single_thread_blas():
        ev = np.linalg.eigvalsh(v.T @ v)
    return int((ev > 1e-10 * ev.max()).sum())


def _within_design(
    d: pd.DataFrame,
    *,
    noisy: str | None,
    extra: Sequence[str] = (),
    age_df: int = 4,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Child fixed effects: every column minus its mean over the child's rows.

    Columns: the noisy need score (if any), spend, ``extra``, an age spline, log
    time in care, programme and calendar year; no placement type (within a
    child, most changes in spend are changes of type, and type has no separate
    meaning here) and no council (constant within a child). Rows of children
    seen once carry no within-child information and must be dropped first.
    Returns the demeaned design and each row's number of rows for its child.
    """
    child = d[Col.child_id].to_numpy()
    cols: dict[str, np.ndarray] = {}
    if noisy is not None:
        cols[noisy] = d[noisy].to_numpy(dtype=float)
    cols[SPEND] = np.log2(np.maximum(d[Col.weekly_cost].to_numpy(dtype=float), 1.0))
    for col in extra:
        cols[col] = d[col].to_numpy(dtype=float)
    cols.update(_age_columns(d["age"].to_numpy(dtype=float), age_df))
    cols[TIME_IN_CARE] = np.log1p(d["years_in_care"].to_numpy(dtype=float))
    cols[PROGRAMME] = d[PROGRAMME].to_numpy(dtype=float)
    year = d[Col.date].dt.year.to_numpy()
    for yv in sorted(set(year))[1:]:
        cols[f"year[{yv}]"] = (year == yv).astype(float)
    x = pd.DataFrame(cols, index=d.index)
    x = x - x.groupby(child).transform("mean")
    x = x[[c for c in x.columns if x[c].std() > 1e-9 or c == SPEND]]
    # age, time in care and calendar year move together within a child: drop
    # what adds nothing (from the end: years first)
    x = _drop_collinear(x, {SPEND} | ({noisy} if noisy else set()))
    size = d.groupby(child)[Col.child_id].transform("size").to_numpy()
    return x, size


def _within_error_var(v: np.ndarray, child: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Error variance of a demeaned noisy score (errors independent across rows)."""
    total = pd.Series(v).groupby(child).transform("sum").to_numpy()
    return v * (1 - 2 / size) + total / size**2


def _labelled(fit: EIVFit, corrected: bool, **cols) -> pd.DataFrame:
    t = fit.table(corrected=corrected)
    for k, v in reversed(list(cols.items())):
        t.insert(0, k, v)
    t["corrected"] = corrected and fit.noisy is not None and not fit.warnings
    return t


# --------------------------------------------------------------------------
# Need as an outcome
# --------------------------------------------------------------------------


def _term_row(table: pd.DataFrame, by: str, key: str, term: str) -> pd.Series:
    """The row of ``term`` for ``key`` (a domain or measure) in a coefficient table."""
    row = table[(table[by] == key) & (table["term"] == term)]
    if row.empty:
        raise KeyError(f"no term {term!r} for {key!r}")
    return row.iloc[0]


@dataclass
class NeedChangeResult:
    """Change in need per 6 months against spend and placement type.

    Attributes
    ----------
    coefficients : DataFrame
        ``domain, label, term, estimate, se, ci_low, ci_high, p_value,
        corrected``. Terms: ``baseline``, ``spend_per_doubling`` (points per 6
        months per doubling of weekly cost), ``type[...]`` (vs the
        reference type), ``programme`` (per 6 months wholly after the
        programme start), age spline, ``log_years_in_care``, councils.
    naive : DataFrame
        The same without the measurement-error correction.
    by_type : DataFrame
        ``domain, placement_type, label, children, intervals,
        mean_weekly_cost, raw_change, adjusted_change, ci_low, ci_high,
        cost_per_point``: the average change per 6 months standardised to
        the whole population's covariates (as if everyone were in that type),
        and the weekly cost over 6 months divided by the adjusted fall in need
        (NaN where need did not fall).
    reference_type : str
    reliability, error_variance : dict
        Per domain.
    """

    coefficients: pd.DataFrame
    naive: pd.DataFrame
    by_type: pd.DataFrame
    reference_type: str
    reliability: dict[str, float]
    error_variance: dict[str, float]
    n: dict[str, tuple[int, int]]
    warnings: list[str] = field(default_factory=list)

    def term(self, domain: str, term: str, *, corrected: bool = True) -> pd.Series:
        """One coefficient row (estimate, se, ci_low, ci_high, ...)."""
        return _term_row(self.coefficients if corrected else self.naive, "domain", domain, term)


def _error_var_for(
    scores: pd.DataFrame, domains: Sequence[str], window: int, cache: dict | None = None
) -> float | None:
    try:
        if cache is None or Col.domain in scores.columns:
            return error_variance(composite_scores(scores, domains), window_days=window).variance
        # the same pairs of scorings as error_variance finds, found once per set of rows
        vals = _mean_over(scores, domains)
        reviews = _shared_reviews(scores, np.isfinite(vals), window, cache)
        return reviews.error_variance(vals, window).variance
    except ValueError:
        return None


def need_change(
    ds: Dataset,
    *,
    domains: Sequence[str] | None = None,
    include_total: bool = True,
    correct_measurement_error: bool = True,
    min_days: int = 120,
    max_days: int = 400,
    reference_type: str = REFERENCE_TYPE,
    repeat_window_days: int = REPEAT_WINDOW_DAYS,
    min_children: int = privacy.MIN_N,
    progress: bool | None = None,
    scores: pd.DataFrame | None = None,
    absorb_councils: bool = True,
) -> NeedChangeResult:
    """Model change in need per 6 months for each domain (and total need).

    Model, per domain, one row per interval between consecutive reviews,
    standard errors clustered by child::

        change per 6 months = a + b0 * baseline + b1 * log2(weekly cost)
                              + type + spline(age) + log(1 + years in care)
                              + council + programme share + e

    The baseline score is measured with error, which both attenuates ``b0``
    and, because the same error enters the change with the opposite sign,
    produces regression to the mean; both are corrected with the error
    variance from repeat assessments (set ``correct_measurement_error=False``
    for the plain least-squares fit).

    Parameters
    ----------
    ds : Dataset
    domains : sequence of str, optional
        Domains modelled (default: every need domain of the framework).
    include_total : bool
        Also model total need (mean of the need domains).
    min_days, max_days : int
        Intervals between reviews used (:func:`need_change_frame`).
    reference_type : str
        Placement type the others are compared with.
    min_children : int
        Placement types with fewer children get no standardised change.
    scores : DataFrame, optional
        ``wide_scores(ds.assessments)``, if already computed.
    absorb_councils : bool
        Absorb the council fixed effects (within-council transformation) rather
        than fit a dummy column per council: the same estimates and standard
        errors for every other term (tested), far faster with many councils,
        but no ``council[...]`` terms and the ``intercept`` is the average
        council's level.
    """
    fw = ds.framework
    doms = list(domains) if domains is not None else list(fw.need_domains)
    targets: list[tuple[str, list[str]]] = [(d, [d]) for d in doms]
    if include_total:
        targets.insert(0, (TOTAL_NEED, list(fw.need_domains)))
    coefs, naive, by_type, warns = [], [], [], []
    rel: dict[str, float] = {}
    evs: dict[str, float] = {}
    ns: dict[str, tuple[int, int]] = {}
    ref_used = reference_type
    wide = wide_scores(ds.assessments) if scores is None else scores
    # reviews, intervals and covariates built once for domains scored together
    cache: dict = {}
    for name, ds_doms in tqdm(
        targets, desc="need change", disable=None if progress is None else not progress
    ):
        f = need_change_frame(
            ds,
            ds_doms,
            min_days=min_days,
            max_days=max_days,
            repeat_window_days=repeat_window_days,
            scores=wide,
            cache=cache,
        )
        if f[Col.child_id].nunique() < 20:
            warns.append(f"{fw.label(name)}: fewer than 20 children with two reviews; not modelled")
            continue
        x, ref_used, fe = _design(
            f, noisy=BASELINE, reference=reference_type, absorb_councils=absorb_councils
        )
        y = f[CHANGE].to_numpy(dtype=float)
        ev = (
            _error_var_for(wide, ds_doms, repeat_window_days, cache)
            if correct_measurement_error
            else None
        )
        if correct_measurement_error and ev is None:
            warns.append(f"{fw.label(name)}: too few repeat assessments; not corrected")
        scale = HALF_YEAR_DAYS / f["days"].to_numpy()
        v = (ev or 0.0) / f["n_scores"].to_numpy()
        fit = eiv_ols(
            x,
            y if fe is None else fe.within(y),
            noisy=BASELINE if ev else None,
            error_var=v,
            error_cov_y=-scale * v,
            groups=f[Col.child_id],
            absorbed=0 if fe is None else fe.absorbed,
        )
        warns += [f"{fw.label(name)}: {w}" for w in fit.warnings]
        label = fw.label(name)
        coefs.append(_labelled(fit, True, domain=name, label=label))
        naive.append(_labelled(fit, False, domain=name, label=label))
        rel[name] = fit.reliability
        evs[name] = float(ev) if ev else float("nan")
        ns[name] = (fit.n, fit.n_clusters)
        by_type.append(_by_type(f, x, fit, name, label, ref_used, min_children))
    return NeedChangeResult(
        coefficients=pd.concat(coefs, ignore_index=True) if coefs else pd.DataFrame(),
        naive=pd.concat(naive, ignore_index=True) if naive else pd.DataFrame(),
        by_type=pd.concat(by_type, ignore_index=True) if by_type else pd.DataFrame(),
        reference_type=ref_used,
        reliability=rel,
        error_variance=evs,
        n=ns,
        warnings=warns,
    )


def _by_type(
    f: pd.DataFrame,
    x: pd.DataFrame,
    fit: EIVFit,
    domain: str,
    label: str,
    ref: str,
    min_children: int,
) -> pd.DataFrame:
    """Raw and standardised change per 6 months, and cost per point, by placement type."""
    b = fit.params.to_numpy()
    cov = fit.cov.to_numpy()
    type_cols = [c for c in x.columns if c.startswith("type[")]
    means = x.mean()
    # arrays once, then one boolean mask per type (no frame copies per type)
    ptype = f[Col.placement_type].to_numpy()
    child = pd.factorize(f[Col.child_id])[0]  # codes: counting distinct children is cheap
    cost = f[Col.weekly_cost]
    change = f[CHANGE]
    log_cost = np.log2(np.maximum(cost.to_numpy(dtype=float), 1.0))
    rows = []
    for t in PLACEMENT_TYPES:
        mask = ptype == t
        if not mask.any():
            continue
        kids = int(np.unique(child[mask]).size)
        adj, lo, hi = np.nan, np.nan, np.nan
        term = type_term(t)
        if kids >= min_children and (t == ref or term in x.columns):
            # average design with everyone in type t (standardisation)
            mvec = means.copy()
            mvec[type_cols] = 0.0
            if t != ref:
                mvec[term] = 1.0
            # spend and type move together: use the type's own typical cost
            # (from the data: the design's column may be within councils)
            if SPEND in mvec:
                mvec[SPEND] = float(np.median(log_cost[mask]))
            mvec = mvec.to_numpy()
            adj = float(mvec @ b)
            se = float(np.sqrt(max(mvec @ cov @ mvec, 0.0)))
            lo, hi = adj - 1.96 * se, adj + 1.96 * se
        mean_cost = float(cost[mask].mean())
        cost6 = mean_cost * WEEKS_PER_HALF_YEAR
        rows.append(
            {
                "domain": domain,
                "domain_label": label,
                Col.placement_type: t,
                "label": PLACEMENT_LABELS[t],
                "children": kids,
                "intervals": int(mask.sum()),
                "mean_weekly_cost": mean_cost,
                "raw_change": float(change[mask].mean()),
                "adjusted_change": adj,
                "ci_low": lo,
                "ci_high": hi,
                "cost_per_point": cost6 / -adj if np.isfinite(adj) and adj < 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# External outcomes
# --------------------------------------------------------------------------


@dataclass
class ExternalOutcomesResult:
    """Yearly outcomes against spend, adjusted for need (see :func:`external_outcomes`).

    Attributes
    ----------
    coefficients, naive : DataFrame
        ``measure, need_domains, term, estimate, se, ci_low, ci_high,
        p_value, corrected, design`` (``main`` or ``negative_control``).
        ``need`` is per point of the adjusting need score,
        ``placement_moves`` per move in the year, ``spend_per_doubling`` per
        doubling of weekly cost.
    n : dict
        (rows, children) per measure, of the main model.
    design : str
        ``within_child`` or ``pooled``.
    reliability, error_variance : dict
        Of the need score used, per measure.
    """

    coefficients: pd.DataFrame
    naive: pd.DataFrame
    n: dict[str, tuple[int, int]]
    reliability: dict[str, float]
    error_variance: dict[str, float]
    need_domains: dict[str, tuple[str, ...]]
    reference_type: str
    design: str = POOLED
    warnings: list[str] = field(default_factory=list)

    def term(
        self, measure: str, term: str, *, corrected: bool = True, design: str = "main"
    ) -> pd.Series:
        """One coefficient row (estimate, se, ci_low, ci_high, ...) of the main
        model (``design="negative_control"`` for the control's)."""
        t = self.coefficients if corrected else self.naive
        if "design" in t:
            t = t[t["design"] == design]
        return _term_row(t, "measure", measure, term)


def _needs_for(measure: str, mapping: Mapping[str, Sequence[str]], need_domains: list[str]):
    doms = tuple(mapping.get(measure, ()))
    if doms and all(d in need_domains for d in doms):
        return doms
    return tuple(need_domains)


def external_outcomes(
    ds: Dataset,
    *,
    measures: Sequence[str] = DEFAULT_MEASURES,
    outcome_needs: Mapping[str, Sequence[str]] | None = None,
    design: str = WITHIN,
    adjust_for_moves: bool = False,
    exposure_days: int = EXPOSURE_DAYS,
    negative_control: bool = True,
    window_days: int = 183,
    correct_measurement_error: bool = True,
    reference_type: str = REFERENCE_TYPE,
    repeat_window_days: int = REPEAT_WINDOW_DAYS,
    progress: bool | None = None,
    scores: pd.DataFrame | None = None,
    absorb_councils: bool = True,
) -> ExternalOutcomesResult:
    """Model each yearly outcome against spend, adjusted for need.

    Two designs, one row per child x date, errors clustered by child.

    ``design="within_child"`` (the default) compares each child with
    themselves: years in which the same child's placement cost more against
    years in which it cost less (child fixed effects)::

        value - child mean = b_spend * log2(weekly cost) + b_need * need
                             + b_start * placement start (years)
                             + spline(age) + log(1 + years in care)
                             + programme + calendar year   (all less their child means)

    Everything about a child that does not change (their general level of
    need and unsettledness, which drives both the cost of their placements
    and how often they move) cancels out. The pooled design compared
    children with each other and, even after adjusting for measured need and
    earlier moves, found spend "raising" moves in 10% of seeds on data where
    spend has no effect (benchmarks/README.md); the within-child design is
    calibrated there and still detects a planted effect. Within a child the
    need score changes little next to its measurement error (for total need
    the within-child reliability is near zero), so need is adjusted for
    without the measurement-error correction (which would only add noise).
    Placement type is not adjusted for: within a child most changes in spend
    are changes of type.

    ``design="pooled"`` compares children with each other::

        value = a + b_need * need + b_spend * log2(weekly cost) + type
                + b_start * placement start (years) + b_prior * moves a year before
                + spline(age) + log(1 + years in care) + council + programme + e

    with ``need`` corrected for measurement error; it is the structural model
    (how outcomes depend on need and moves) and is kept for that. Its council
    fixed effects are absorbed (``absorb_councils=False``: a dummy column per
    council, the same estimates of every other term, much slower nationally).

    In both, placement, weekly cost and need are measured ``exposure_days``
    from the outcome date: by default at the start of the year the outcome
    covers, so that a move during the year (which starts a newer, dearer
    placement) cannot set the spend it is compared with. Placements are priced
    when they start, so the placement's start date is adjusted for. ``need``
    is the mean of the outcome's need domains (``outcome_needs``, default
    :data:`DEFAULT_OUTCOME_NEEDS`) over the scores within ``window_days`` of
    the exposure date. Placement moves are not adjusted for by default: they
    are themselves an outcome, and may lie on the path from spend to the
    others.

    ``negative_control`` fits a second model with spend measured just after
    the outcome's year (which cannot have caused it), beside spend at the
    start of the year (its term ``spend_at_year_start``) and both placements'
    start dates: with a real effect of spend the later spend adds nothing,
    while a later-spend association points to confounding the design has not
    removed. It is reported (term ``spend_per_doubling``, design
    ``negative_control``) beside the main estimate.
    """
    if design not in (WITHIN, POOLED):
        raise ValueError(f"design must be {WITHIN!r} or {POOLED!r}, not {design!r}")
    fw = ds.framework
    mapping = dict(DEFAULT_OUTCOME_NEEDS if outcome_needs is None else outcome_needs)
    coefs, naive, warns = [], [], []
    ns: dict[str, tuple[int, int]] = {}
    rel: dict[str, float] = {}
    evs: dict[str, float] = {}
    used: dict[str, tuple[str, ...]] = {}
    ref_used = reference_type
    known = set(ds.outcomes[Col.measure].unique())
    wide = wide_scores(ds.assessments) if scores is None else scores
    cache: dict = {}
    for measure in tqdm(
        measures, desc="outcomes", disable=None if progress is None else not progress
    ):
        if measure not in known:
            warns.append(f"{measure}: not in the data")
            continue
        doms = _needs_for(measure, mapping, list(fw.need_domains))
        correct = correct_measurement_error and design == POOLED
        ev = _error_var_for(wide, doms, repeat_window_days, cache) if correct else None
        if correct and ev is None:
            warns.append(f"{measure}: too few repeat assessments; need not corrected")
        f = outcome_frame(
            ds,
            measure,
            doms,
            window_days=window_days,
            scores=wide,
            exposure_days=exposure_days,
            cache=cache,
        ).dropna(subset=[START_YEARS])
        fits = [("main", f, [START_YEARS])]
        if negative_control:
            after = outcome_frame(
                ds,
                measure,
                doms,
                window_days=window_days,
                scores=wide,
                exposure_days=NEGATIVE_CONTROL_DAYS,
                cache=cache,
            )
            key = [Col.child_id, Col.date]
            after = after[[*key, Col.weekly_cost, START_YEARS]].rename(
                columns={Col.weekly_cost: "cost_after", START_YEARS: START_YEARS_AFTER}
            )
            fc = f.merge(after, on=key, how="inner").dropna(subset=["cost_after"])
            # the later spend takes the spend column; spend at the start stays in
            fc[SPEND_AT_START] = np.log2(np.maximum(fc[Col.weekly_cost].to_numpy(float), 1.0))
            fc[Col.weekly_cost] = fc.pop("cost_after")
            fits.append(("negative_control", fc, [SPEND_AT_START, START_YEARS, START_YEARS_AFTER]))
        for name, g, extra in fits:
            extra = list(extra)
            if design == POOLED:
                extra.append(PRIOR_MOVES)
            if adjust_for_moves and measure != MOVES and MOVES in g and g[MOVES].notna().any():
                g = g.dropna(subset=[MOVES])
                extra.append(MOVES)
            if design == WITHIN:
                # children seen once say nothing about change within a child
                g = g[g.groupby(Col.child_id)[Col.child_id].transform("size") >= 2]
            if g[Col.child_id].nunique() < 20:
                if name == "main":
                    warns.append(
                        f"{measure}: fewer than 20 children with the outcome and need"
                        + (" in two or more years" if design == WITHIN else "")
                        + "; not modelled"
                    )
                break
            if design == WITHIN:
                x, _ = _within_design(g, noisy=NEED, extra=extra)
                y = g[Col.value] - g.groupby(Col.child_id)[Col.value].transform("mean")
                fit = eiv_ols(x, y, noisy=None, groups=g[Col.child_id])
            else:
                x, ref_used, fe = _design(
                    g,
                    noisy=NEED,
                    extra=extra,
                    reference=reference_type,
                    absorb_councils=absorb_councils,
                )
                y = g[Col.value].to_numpy(dtype=float)
                fit = eiv_ols(
                    x,
                    y if fe is None else fe.within(y),
                    noisy=NEED if ev else None,
                    error_var=(ev or 0.0) / g["n_scores"].to_numpy(),
                    groups=g[Col.child_id],
                    absorbed=0 if fe is None else fe.absorbed,
                )
            nd = ", ".join(doms) if len(doms) < len(fw.need_domains) else TOTAL_NEED
            c = _labelled(fit, True, measure=measure, need_domains=nd)
            nv = _labelled(fit, False, measure=measure, need_domains=nd)
            c["design"] = name
            nv["design"] = name
            coefs.append(c)
            naive.append(nv)
            if name == "main":
                warns += [f"{measure}: {w}" for w in fit.warnings]
                ns[measure] = (fit.n, fit.n_clusters)
                rel[measure] = fit.reliability
                evs[measure] = float(ev) if ev else float("nan")
                used[measure] = doms
    return ExternalOutcomesResult(
        coefficients=pd.concat(coefs, ignore_index=True) if coefs else pd.DataFrame(),
        naive=pd.concat(naive, ignore_index=True) if naive else pd.DataFrame(),
        n=ns,
        reliability=rel,
        error_variance=evs,
        need_domains=used,
        reference_type=ref_used,
        design=design,
        warnings=warns,
    )


# --------------------------------------------------------------------------
# Total programme effect on outcomes
# --------------------------------------------------------------------------


def programme_rows(
    ds: Dataset, measures: Sequence[str] = PROGRAMME_MEASURES
) -> dict[str, pd.DataFrame]:
    """The rows :func:`programme_outcomes` models, per measure: one per child x year.

    ``child_id, date, value, council, age, programme`` (index from 0; rows
    missing a council or an age still in). Row by row, so the rows of two
    datasets put one after the other are the rows of the two together: a
    batch of reports makes the comparison councils' rows once
    (``comparison=`` of :func:`programme_outcomes`).
    """
    info = _child_info(ds)
    out = {}
    for measure in measures:
        o = ds.outcomes[ds.outcomes[Col.measure] == measure][[Col.child_id, Col.date, Col.value]]
        o = o.astype({Col.child_id: str}).dropna().reset_index(drop=True)
        c = info.reindex(o[Col.child_id])
        o[Col.council] = c[Col.council].to_numpy()
        o["age"] = (o[Col.date] - c[Col.date_of_birth].to_numpy()).dt.days / DAYS_PER_YEAR
        ps = c[Col.programme_start].to_numpy()
        o[PROGRAMME] = (pd.notna(ps) & (o[Col.date].to_numpy() >= ps)).astype(float)
        out[measure] = o
    return out


def programme_outcomes(
    ds: Dataset,
    *,
    measures: Sequence[str] = PROGRAMME_MEASURES,
    level: float = 0.95,
    age_df: int = 5,
    absorb_councils: bool = True,
    comparison: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Total effect of the programme on yearly outcomes (difference in differences).

    Model, per measure, one row per child x year, errors clustered by child::

        value = programme (council adopted and year after its start)
                + council + year + spline(age) + e

    Nothing the programme may change (need, placement moves, placement type,
    spend) is adjusted for, so the estimate is the total effect, including
    the part that works through lower need and fewer moves. It needs at least
    one adopting council observed before and after its start and at least one
    council to compare with (a council that never adopted, or adopted later);
    otherwise the row says why and gives no estimate. The council fixed
    effects are absorbed (``absorb_councils=False``: one dummy column per
    council; the same estimate and standard error).

    Returns
    -------
    DataFrame
        ``measure, estimate, se, ci_low, ci_high, rows, children, councils,
        adopting_councils, note``. The estimate is the average difference in
        the outcome's units (SDQ points, moves or episodes a year).

    Other Parameters
    ----------------
    comparison : mapping of measure to DataFrame, optional
        :func:`programme_rows` of other councils, modelled after ``ds``'s own
        rows: the same estimates as ``concat([ds, others])`` without
        rebuilding the others' rows (a batch makes them once).
    """
    own = programme_rows(ds, measures)
    rows = []
    for measure in measures:
        o = own[measure]
        if comparison is not None:
            o = pd.concat([o, comparison[measure]], ignore_index=True)
        o = o.dropna(subset=[Col.council, "age"])
        out = {
            "measure": measure,
            "estimate": np.nan,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "rows": len(o),
            "children": int(o[Col.child_id].nunique()),
            "councils": int(o[Col.council].nunique()),
            "adopting_councils": int(o.loc[o[PROGRAMME] > 0, Col.council].nunique()),
            "note": "",
        }
        # the design needs treated and not-yet-treated rows in the same years
        by_year = o.groupby(o[Col.date].dt.year)[PROGRAMME].agg(["min", "max"])
        if o.empty or o[Col.child_id].nunique() < 20:
            out["note"] = "too few children with this outcome"
        elif out["adopting_councils"] == 0:
            out["note"] = "no council's programme had started in the years observed"
        elif not ((by_year["min"] == 0) & (by_year["max"] == 1)).any():
            out["note"] = (
                "no council to compare with in the years after the start: the programme "
                "cannot be told apart from changes over time"
            )
        else:
            cols: dict[str, np.ndarray] = {
                INTERCEPT: np.ones(len(o)),
                PROGRAMME: o[PROGRAMME].to_numpy(dtype=float),
            }
            council = o[Col.council].astype(str).to_numpy()
            absorb = absorb_councils and out["councils"] > 1
            if not absorb:
                for cn in sorted(set(council))[1:]:
                    cols[f"council[{cn}]"] = (council == cn).astype(float)
            year = o[Col.date].dt.year.to_numpy()
            for yv in sorted(set(year))[1:]:
                cols[f"year[{yv}]"] = (year == yv).astype(float)
            cols.update(_age_columns(o["age"].to_numpy(dtype=float), age_df))
            cols = {c: v for c, v in cols.items() if c == INTERCEPT or pd.Series(v).std() > 0}
            y = o[Col.value].to_numpy(dtype=float)
            if absorb:
                del cols[INTERCEPT]
                x, fe = _absorb_councils(cols, council, o.index)
                y, absorbed = fe.within(y), fe.absorbed
            else:
                x, absorbed = pd.DataFrame(cols, index=o.index), 0
            fit = eiv_ols(x, y, noisy=None, groups=o[Col.child_id], absorbed=absorbed)
            t = fit.table(level=level).set_index("term")
            if PROGRAMME in t.index:
                r = t.loc[PROGRAMME]
                out.update(
                    estimate=float(r["estimate"]),
                    se=float(r["se"]),
                    ci_low=float(r["ci_low"]),
                    ci_high=float(r["ci_high"]),
                )
            else:
                out["note"] = (
                    "the programme is constant within each council over the years observed: "
                    "it cannot be told apart from the councils' own levels"
                )
        rows.append(out)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# Everything together
# --------------------------------------------------------------------------


#: Readable names of outcome measures.
MEASURE_LABELS: dict[str, str] = {
    "sdq_total": "SDQ total difficulties score",
    "school_attendance": "School attendance (%)",
    "exclusion": "Exclusions",
    "missing_episodes": "Missing episodes a year",
    "placement_moves": "Placement moves a year",
    "offending": "Offending (share)",
}
UNIVERSE_NEED_CHANGE = "children_with_two_reviews"


def change_word(
    est: float, lo: float, hi: float, *, up: str = "higher", down: str = "lower"
) -> str:
    """``up``/``down`` when the interval excludes zero, else "no clear difference"."""
    return display.direction_word(est, lo, hi, up=up, down=down, neither="no clear difference")


def _measure_label(m: str) -> str:
    return MEASURE_LABELS.get(m, m.replace("_", " ").capitalize())


def _in_sentence(label: str) -> str:
    """A measure label inside a sentence ("placement moves a year"; "SDQ ..." kept)."""
    return label if label[:2].isupper() else label[0].lower() + label[1:]


@dataclass
class OutcomesResult(Result):
    """Spend against outcome domains, and the programme's total effect (see :func:`outcomes`).

    ``programme`` is :func:`programme_outcomes` (None if not asked for).
    """

    _plot: ClassVar[str] = "outcomes:plot_change_by_type"

    need_change: NeedChangeResult
    external: ExternalOutcomesResult
    caveats: list[str] = field(default_factory=list)
    programme: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        """Spend terms of every model (need change and outcomes), tidy."""
        parts = []
        nc = self.need_change.coefficients
        if not nc.empty:
            t = nc[nc["term"] == SPEND].assign(model="need_change", design="main")
            parts.append(t.rename(columns={"domain": "measure"}))
        ex = self.external.coefficients
        if not ex.empty:
            parts.append(ex[ex["term"] == SPEND].assign(model="outcome"))
        cols = ["model", "measure", "design", "estimate", "se", "ci_low", "ci_high", "p_value"]
        return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)

    # -- words, from the numbers, in one place ---------------------------------
    def words(self) -> dict[str, str]:
        """Judgement words keyed like the findings (``spend.<measure>``,
        ``control.<measure>``, ``programme.<measure>``, ``need_change.spend``)."""
        w: dict[str, str] = {}
        nc = self.need_change
        if TOTAL_NEED in nc.n:
            s = nc.term(TOTAL_NEED, SPEND)
            w["need_change.spend"] = change_word(
                s["estimate"], s["ci_low"], s["ci_high"], up="rose", down="fell"
            )
        ex = self.external
        for m in ex.n:
            s = self._term(m, "main")
            w[f"spend.{m}"] = change_word(s["estimate"], s["ci_low"], s["ci_high"])
            ctl = self._term(m, "negative_control")
            if ctl is not None:
                w[f"control.{m}"] = (
                    "passed"
                    if change_word(ctl["estimate"], ctl["ci_low"], ctl["ci_high"])
                    == "no clear difference"
                    else "failed"
                )
        if self.programme is not None:
            for r in self.programme.itertuples():
                w[f"programme.{r.measure}"] = (
                    change_word(r.estimate, r.ci_low, r.ci_high)
                    if np.isfinite(r.estimate)
                    else "not estimable"
                )
        return w

    def _term(self, measure: str, design: str) -> pd.Series | None:
        t = self.external.coefficients
        if t.empty:
            return None
        row = t[(t["measure"] == measure) & (t["term"] == SPEND) & (t["design"] == design)]
        return None if row.empty else row.iloc[0]

    def summary(self) -> Summary:
        """Findings (words from :meth:`words`), protected tables and caveats."""
        out = Summary(title="Spend against outcomes, and the programme's effect on them")
        out.caveats = list(self.caveats)
        w = self.words()
        nc = self.need_change
        if TOTAL_NEED in nc.n and nc.n[TOTAL_NEED][1] >= privacy.MIN_N:
            rows, kids = nc.n[TOTAL_NEED]
            s = nc.term(TOTAL_NEED, SPEND)
            word = w["need_change.spend"]
            est = display.estimate(s["estimate"], s["ci_low"], s["ci_high"], decimals=2)
            how = (
                f"need {word} by {display.estimate(abs(s['estimate']), decimals=2)} points per 6 "
                "months for each doubling of weekly spend"
                if word in ("rose", "fell")
                else "change in need was not clearly related to weekly spend"
            )
            out.findings.append(
                Finding(
                    "need_change.spend",
                    f"Using every pair of consecutive reviews ({display.count_text(rows)} "
                    f"intervals, {display.count_text(kids)} children), {how} (points per 6 "
                    f"months per doubling: {est}), after adjusting for baseline need, age, time "
                    "in care and placement type.",
                    word=word,
                    counts=tuple(
                        Count(int(n), UNIVERSE_NEED_CHANGE)
                        for n in (kids,)
                        if not privacy.THRESHOLD[0] <= n <= privacy.THRESHOLD[1]
                    ),
                )
            )
        for m in self.external.n:
            s = self._term(m, "main")
            word = w[f"spend.{m}"]
            est = display.estimate(s["estimate"], s["ci_low"], s["ci_high"], decimals=2)
            label = _measure_label(m)
            within = self.external.design == WITHIN
            if word == "no clear difference":
                text = (
                    f"{label}: {'within the same child, ' if within else ''}no clear "
                    "association with weekly spend at the start of the year (difference per "
                    f"doubling of spend {est})."
                )
            else:
                text = (
                    f"{label}: {word} in years when "
                    f"{'the same child' if within else 'a child'}'s weekly spend at the start "
                    f"of the year was higher (difference per doubling of spend {est})."
                )
            ctl = w.get(f"control.{m}")
            if ctl == "failed":
                text += (
                    " But spend measured after the year, which cannot have caused it, shows an "
                    "association too: the comparison is confounded, so neither figure is a "
                    "guide to what spending more would do."
                )
            out.findings.append(Finding(f"spend.{m}", text, word=word))
        if self.programme is not None:
            for r in self.programme.itertuples():
                label = _measure_label(r.measure)
                word = w[f"programme.{r.measure}"]
                if word == "not estimable":
                    text = f"Programme effect on {_in_sentence(label)}: not estimated ({r.note})."
                else:
                    est = display.estimate(r.estimate, r.ci_low, r.ci_high, decimals=2)
                    text = (
                        f"Programme effect on {_in_sentence(label)} (total effect, including what "
                        f"works through need and placement moves): {est}; "
                        + (
                            "the interval includes zero, so no effect can be claimed."
                            if word == "no clear difference"
                            else f"{word} after the programme started than in the comparison."
                        )
                    )
                out.findings.append(Finding(f"programme.{r.measure}", text, word=word))
        out.tables = self._tables()
        out.headline = {
            k: v
            for k, v in {
                "need_change_per_spend_doubling": (
                    round(float(nc.term(TOTAL_NEED, SPEND)["estimate"]), 2)
                    if TOTAL_NEED in nc.n
                    else None
                ),
            }.items()
            if v is not None
        }
        return out

    def _tables(self) -> list[Table]:
        tabs = self.report_tables()
        out = []
        if "need_change_spend" in tabs:
            out.append(
                Table(
                    "Change in need per 6 months for each doubling of weekly spend (adjusted)",
                    tabs["need_change_spend"].rename(
                        columns={
                            "label": "Need",
                            "estimate": "Points per 6 months",
                            "ci_low": "95% interval from",
                            "ci_high": "to",
                        }
                    ),
                    {
                        "Need": "label",
                        "Points per 6 months": "stat",
                        "95% interval from": "stat",
                        "to": "stat",
                    },
                )
            )
        if "external_outcomes" in tabs:
            ext = tabs["external_outcomes"].copy()
            ext["measure"] = ext["measure"].map(_measure_label)
            ext["design"] = ext["design"].map(
                {
                    "main": "Spend at the start of the year",
                    "negative_control": "Spend after the year (negative control)",
                }
            )
            out.append(
                Table(
                    "Outcomes per doubling of weekly spend (adjusted associations)",
                    ext.rename(
                        columns={
                            "measure": "Outcome",
                            "design": "Spend measured",
                            "estimate": "Difference",
                            "ci_low": "95% interval from",
                            "ci_high": "to",
                        }
                    ),
                    {
                        "Outcome": "label",
                        "Spend measured": "label",
                        "Difference": "stat",
                        "95% interval from": "stat",
                        "to": "stat",
                    },
                )
            )
        if "programme_outcomes" in tabs:
            out.append(
                Table(
                    "Total programme effect on outcomes (difference in differences)",
                    tabs["programme_outcomes"],
                    {
                        "Outcome": "label",
                        "Effect": "stat",
                        "95% interval from": "stat",
                        "to": "stat",
                        "Note": "text",
                    },
                )
            )
        return out

    def report_tables(self, *, min_n: int = privacy.MIN_N) -> dict[str, pd.DataFrame]:
        """Tables for reports, after disclosure control (no identifiers, no small cells)."""
        out: dict[str, pd.DataFrame] = {}
        nc = self.need_change
        if not nc.coefficients.empty:
            sp = nc.coefficients[nc.coefficients["term"] == SPEND][
                ["domain", "label", "estimate", "ci_low", "ci_high"]
            ].copy()
            sp["children"] = [nc.n[d][1] for d in sp["domain"]]
            sp = privacy.suppress_stats(
                sp,
                n_col="children",
                stat_cols=["estimate", "ci_low", "ci_high"],
                decimals=2,
                min_n=min_n,
            )
            out["need_change_spend"] = sp.drop(columns=["domain", "children"])
            bt = nc.by_type.copy()
            shown = []
            for _, grp in bt.groupby("domain", sort=False):
                g = grp.drop(columns=["domain", Col.placement_type]).copy()
                g = privacy.suppress_long(
                    g,
                    count_col="children",
                    rows="label",
                    totals="columns",
                    stat_cols=[
                        "mean_weekly_cost",
                        "raw_change",
                        "adjusted_change",
                        "ci_low",
                        "ci_high",
                        "cost_per_point",
                    ],
                    stat_decimals=1,
                    min_n=min_n,
                ).table
                g["intervals"] = [
                    privacy.SUPPRESSED if c == privacy.SUPPRESSED else f"{int(v):,}"
                    for c, v in zip(g["children"], grp["intervals"], strict=True)
                ]
                shown.append(g)
            out["need_change_by_type"] = pd.concat(shown, ignore_index=True)
        ex = self.external
        if not ex.coefficients.empty:
            keep = (ex.coefficients["term"] == SPEND) & ex.coefficients["measure"].isin(list(ex.n))
            t = ex.coefficients[keep][["measure", "design", "estimate", "ci_low", "ci_high"]].copy()
            t["children"] = [ex.n[m][1] for m in t["measure"]]
            out["external_outcomes"] = privacy.suppress_stats(
                t,
                n_col="children",
                stat_cols=["estimate", "ci_low", "ci_high"],
                decimals=3,
                min_n=min_n,
            ).drop(columns=["children"])
        if self.programme is not None and not self.programme.empty:
            pg = self.programme
            fmt = [
                (
                    display.estimate(e, decimals=2),
                    display.estimate(lo, decimals=2),
                    display.estimate(hi, decimals=2),
                )
                if np.isfinite(e) and c >= min_n
                else ("", "", "")
                for e, lo, hi, c in zip(
                    pg["estimate"], pg["ci_low"], pg["ci_high"], pg["children"], strict=True
                )
            ]
            out["programme_outcomes"] = pd.DataFrame(
                {
                    "Outcome": pg["measure"].map(_measure_label),
                    "Effect": [f[0] for f in fmt],
                    "95% interval from": [f[1] for f in fmt],
                    "to": [f[2] for f in fmt],
                    "Note": pg["note"],
                }
            )
        return {k: privacy.safe_frame(v) for k, v in out.items()}


def outcomes(
    ds: Dataset,
    *,
    domains: Sequence[str] | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    outcome_needs: Mapping[str, Sequence[str]] | None = None,
    correct_measurement_error: bool = True,
    programme: bool = True,
    progress: bool | None = None,
) -> OutcomesResult:
    """Spend against outcome domains (need change and external outcomes), and
    the programme's total effect on outcomes.

    See :func:`need_change`, :func:`external_outcomes` and
    :func:`programme_outcomes` for the models.
    """
    wide = wide_scores(ds.assessments)
    nc = need_change(
        ds,
        scores=wide,
        domains=domains,
        correct_measurement_error=correct_measurement_error,
        progress=progress,
    )
    ex = external_outcomes(
        ds,
        scores=wide,
        measures=measures,
        outcome_needs=outcome_needs,
        correct_measurement_error=correct_measurement_error,
        progress=progress,
    )
    caveats = [
        OBSERVATIONAL,
        "Need scores are measured with error; the change-in-need estimates are corrected for "
        "it using reviews scored by two practitioners, assuming the errors of different "
        "practitioners are independent and unrelated to the child's true need. The "
        "comparison of outcomes within each child adjusts for need without that correction: "
        "a child's score changes little from year to year next to its measurement error.",
        "Children leave care (most at 18) and enter it at different ages; those followed for "
        "longer are not a random sample, so the averages describe the children observed.",
        "Outcomes are recorded yearly and only for some children (SDQ for ages 5-16 in care "
        "for a year or more; attendance for school-age children).",
        "Counts (moves, missing episodes) and yes/no outcomes are modelled as differences in "
        "averages, which is simple to read but ignores their skew.",
        "Cost per point of need reduced divides the cost of six months in a placement type by "
        "the average fall in need in that type; it is not the return on spending, as need "
        "changes with age and time for reasons that have nothing to do with the placement.",
        "Spend is measured at the start of each outcome's year and compared within each child "
        "(years when the same child's placement cost more against years when it cost less), "
        "allowing for the placement's start date (placements are priced when they start), "
        "so that what does not change about a child (such as how unsettled they are) cannot "
        "make spend look effective or harmful; children seen in only one year do not count. "
        "A second model adds spend just after the year, which cannot have caused it, as a "
        "negative control. What changes within a child and is not measured (a crisis that "
        "leads to a dearer placement) can still confound the comparison.",
        *nc.warnings,
        *ex.warnings,
    ]
    prog = None
    if programme:
        prog = programme_outcomes(ds)
        if prog["estimate"].notna().any():
            caveats.append(
                "Programme effects on outcomes compare adopting councils before and after "
                "their start with the other councils in the same years; intervals allow for "
                "repeated outcomes of the same child but not for council-wide shocks, so with "
                "few councils they may be too narrow."
            )
    return OutcomesResult(nc, ex, caveats, prog)
