"""Cost against need: does money follow need?

Joins each assessment to the placement active on its date and asks how
weekly cost relates to need: rank correlations with intervals, how much of
the variance in (log) cost need explains next to placement type, which
children cost much more (or much less) than children of similar need, a
needs-matched scenario (what the care population would cost if each child
were in the placement type most common for children with a similar profile
of need), the placement mix and cost by need band, and the within-type link
between cost and need.

Everything here is descriptive and observational: it shows how money and
need line up in the data, not what would happen if placements changed.

Analyst-facing results (``.frame``, ``.snapshot``, ``.flags.flagged``,
``.scenario.per_child``) hold child identifiers and must never be shown in a
report; :meth:`SpendResult.report_tables` gives the tables that may be, after
disclosure control (:mod:`vc_eval.core.privacy`).

Main entry point: :func:`spend`. Building blocks: :func:`need_cost_frame`,
:func:`snapshot_frame`, :func:`cost_need_correlation`,
:func:`variance_explained`, :func:`flag_cost_need`,
:func:`needs_matched_scenario`, :func:`mix_by_need_band`,
:func:`cost_need_link`, :func:`cost_need_bins`, :func:`fit_lines`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from vc_eval.analysis.measurement_error import (
    ErrorVariance,
    composite_scores,
    eiv_ols,
    error_variance,
    single_thread_blas,
    wide_scores,
)
from vc_eval.core import display, privacy
from vc_eval.core.costs import REFERENCE_DATE
from vc_eval.core.dataset import Dataset
from vc_eval.core.factorized import distinct_applied, isin
from vc_eval.core.framework import TOTAL_NEED, Framework
from vc_eval.core.population import (
    SECOND_SCORING_DAYS,
    age_band,
    in_care_on,
    latest_review,
    placements_on,
    snapshot_date,
)
from vc_eval.core.progress import tqdm
from vc_eval.core.schema import DAYS_PER_YEAR, PLACEMENT_LABELS, PLACEMENT_TYPES, Col
from vc_eval.core.summary import Count, Finding, Result, Summary, Table

WEEKS_PER_YEAR = DAYS_PER_YEAR / 7
#: Placement types the needs-matched scenario may assign, and move children between.
#: Kinship care, placement with parents, secure and "other" placements are
#: decided by family circumstances or courts, so children in them are left as
#: they are and they are never proposed.
SCENARIO_TYPES: tuple[str, ...] = (
    "in_house_foster",
    "ifa_foster",
    "childrens_home",
    "supported_accommodation",
)
FOSTER_TYPES: tuple[str, ...] = ("in_house_foster", "ifa_foster")
RESIDENTIAL_TYPE = "childrens_home"
#: Need (total, 0-100) at which the cost-need link is centred, as in the generator.
NEED_CENTRE = 40.0
#: Fewest children (or rows) for a model-based figure; fewer give NaN and a note.
MIN_CHILDREN_MODEL = 10

# Derived column names (not table columns, so not in schema.Col).
PLACEMENT_START = "placement_start"
LOG_COST = "log_weekly_cost"
AGE = "age"
AGE_BAND = "age_band"
NEED_BAND = "need_band"
N_SCORES = "n_scores"
RESIDUAL = "residual"
FLAG = "flag"
HIGH_COST = "cost high for need"
HIGH_NEED = "need high for cost"

OBSERVATIONAL = (
    "These figures are observational: they describe how cost and need line up in the "
    "data, not what would happen if a child's placement changed."
)


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------

#: A child's need profile on a date is their latest review in this many days before it.
LOOKBACK_DAYS = 365


def scores_wide(ds: Dataset) -> pd.DataFrame:
    """``ds.scores_wide()`` (one column per domain and ``total_need``), built faster.

    The same frame, from :func:`vc_eval.analysis.measurement_error.wide_scores`
    (one grouping of the keys instead of a pivot table).
    """
    wide = wide_scores(ds.assessments).reset_index(drop=True)
    needs = [d for d in ds.framework.need_domains if d in wide.columns]
    if needs:
        # row means of a row-contiguous array: what the pivot's frame gives, to the bit
        v = np.ascontiguousarray(wide[needs].to_numpy(dtype=float))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # rows with no need scored
            wide[TOTAL_NEED] = np.nanmean(v, axis=1)
    return wide


def need_cost_frame(
    ds: Dataset,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    wide: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each assessment joined to the placement active on its date.

    Parameters
    ----------
    ds : Dataset
    start, end : date, optional
        Keep assessments in this period (inclusive).
    wide : DataFrame, optional
        ``ds.scores_wide()``, if already computed.

    Returns
    -------
    DataFrame
        One row per child x assessment date x assessor with an active
        placement: ``child_id, council, programme_start, assessment_date,
        assessor_id, age_at_assessment``, one column per domain,
        ``total_need``, ``placement_type, weekly_cost, placement_start,
        log_weekly_cost``. Holds identifiers: analyst use only.
    """
    wide = ds.scores_wide() if wide is None else wide
    if start is not None:
        wide = wide[wide[Col.assessment_date] >= pd.Timestamp(start)]
    if end is not None:
        wide = wide[wide[Col.assessment_date] <= pd.Timestamp(end)]
    wide = wide.assign(**{Col.child_id: wide[Col.child_id].astype(str)})
    pl = ds.placements[
        [Col.child_id, Col.start_date, Col.end_date, Col.placement_type, Col.weekly_cost]
    ].rename(columns={Col.start_date: PLACEMENT_START})
    pl = pl.assign(**{Col.child_id: pl[Col.child_id].astype(str)}).sort_values(PLACEMENT_START)
    m = pd.merge_asof(
        wide.sort_values(Col.assessment_date),
        pl,
        left_on=Col.assessment_date,
        right_on=PLACEMENT_START,
        by=Col.child_id,
        direction="backward",
    )
    active = m[PLACEMENT_START].notna() & (
        m[Col.end_date].isna() | (m[Col.end_date] > m[Col.assessment_date])
    )
    m = m[active].drop(columns=[Col.end_date])
    kids = ds.children[[Col.child_id, Col.council]].astype({Col.child_id: str})
    m = m.merge(kids, on=Col.child_id, how="left").merge(
        ds.councils[[Col.council, Col.programme_start]], on=Col.council, how="left"
    )
    m[LOG_COST] = np.log(np.maximum(m[Col.weekly_cost].to_numpy(dtype=float), 1.0))
    return m.sort_values([Col.child_id, Col.assessment_date], kind="stable").reset_index(drop=True)


def snapshot_frame(
    ds: Dataset,
    *,
    at: str | pd.Timestamp | None = None,
    lookback_days: int = LOOKBACK_DAYS,
    repeat_window_days: int = SECOND_SCORING_DAYS,
    wide: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per child in care on ``at``: current placement and latest need profile.

    The need profile is the child's latest review in the ``lookback_days``
    before ``at`` (:func:`vc_eval.core.population.latest_review`: scorings of
    the same review by different practitioners within ``repeat_window_days``
    are averaged). Children with no placement on
    ``at`` or no review in the window are left out. ``wide`` is
    ``ds.scores_wide()``, if already computed.

    Returns
    -------
    DataFrame
        ``child_id, council, age, age_band, placement_type, weekly_cost,
        assessment_date, n_scores``, one column per domain, ``total_need``,
        ``need_band``. Holds identifiers: analyst use only.
    """
    at = pd.Timestamp(at) if at is not None else snapshot_date(ds)
    kids = in_care_on(ds.children, at).astype({Col.child_id: str})
    active = placements_on(ds.placements, at)[
        [Col.child_id, Col.placement_type, Col.weekly_cost]
    ].astype({Col.child_id: str})
    wide = ds.scores_wide() if wide is None else wide
    wide = wide.assign(**{Col.child_id: wide[Col.child_id].astype(str)})
    recent = wide[
        (wide[Col.assessment_date] <= at)
        & (wide[Col.assessment_date] > at - pd.Timedelta(days=lookback_days))
    ]
    recent = latest_review(recent, window_days=repeat_window_days)
    score_cols = [c for c in recent.columns if c in ds.framework.domain_ids or c == TOTAL_NEED]
    prof = recent.groupby(Col.child_id).agg(
        **{c: (c, "mean") for c in score_cols},
        **{Col.assessment_date: (Col.assessment_date, "max"), N_SCORES: (Col.assessor_id, "size")},
    )
    out = (
        kids[[Col.child_id, Col.council, Col.date_of_birth]]
        .merge(active, on=Col.child_id)
        .merge(prof.reset_index(), on=Col.child_id)
    )
    out[AGE] = (at - out[Col.date_of_birth]).dt.days / DAYS_PER_YEAR
    out[AGE_BAND] = age_band(out[AGE]).astype(str)
    out[NEED_BAND] = ds.framework.band_of(out[TOTAL_NEED]).astype(int)
    out = out.drop(columns=[Col.date_of_birth])
    out.attrs["at"] = at
    return out.sort_values(Col.child_id).reset_index(drop=True)


def need_error_variance(
    ds: Dataset,
    domains: Sequence[str] | None = None,
    *,
    window_days: int = SECOND_SCORING_DAYS,
    wide: pd.DataFrame | None = None,
) -> ErrorVariance:
    """Measurement-error variance of total need (or the mean of ``domains``).

    Estimated from reviews scored twice by different practitioners (see
    :mod:`vc_eval.analysis.measurement_error`). ``wide`` is
    ``ds.scores_wide()``, if already computed (averaging its columns is far
    cheaper than grouping the long table).
    """
    doms = list(domains) if domains is not None else ds.framework.need_domains
    src = ds.assessments if wide is None else wide
    return error_variance(composite_scores(src, doms), window_days=window_days)


# --------------------------------------------------------------------------
# Correlation and variance explained
# --------------------------------------------------------------------------


def _rank_sums(rx: np.ndarray, ry: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-child sums (n, rx, ry, rx^2, ry^2, rx*ry) of the full-sample ranks."""
    cols = (np.ones_like(rx), rx, ry, rx * rx, ry * ry, rx * ry)
    return np.column_stack([np.bincount(codes, weights=c, minlength=n_groups) for c in cols])


def _spearman(x: np.ndarray, y: np.ndarray, rx: np.ndarray, ry: np.ndarray) -> float:
    """Spearman's rho from ranks already computed (as ``scipy.stats.spearmanr``)."""
    if (x[0] == x).all() or (y[0] == y).all():
        # scipy's own answer (NaN, with its warning about a constant input)
        return float(stats.spearmanr(x, y).statistic)
    return float(np.corrcoef(np.column_stack((rx, ry)), rowvar=False)[1, 0])


def _spearman_boot(
    sums: list[np.ndarray], n_groups: int, n_boot: int, seed: int, chunk: int = 50
) -> list[np.ndarray]:
    """Bootstrap Spearman correlations for several measures from per-child rank sums.

    Each resample draws ``n_groups`` children with replacement, shared by
    every measure; resamples are drawn in chunks to bound memory.
    """
    rng = np.random.default_rng(seed)
    # every measure's sums side by side: one product per chunk of resamples
    allsums = np.hstack(sums) if sums else np.empty((n_groups, 0))
    parts: list[np.ndarray] = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n_groups, (b, n_groups))
        # bincount of every row at once (offset codes per resample)
        w = np.bincount(
            (draws + (np.arange(b) * n_groups)[:, None]).ravel(), minlength=b * n_groups
        ).reshape(b, n_groups)
        with single_thread_blas():
            parts.append(w.astype(float) @ allsums)
    every = np.concatenate(parts) if parts else np.empty((0, allsums.shape[1]))
    out = []
    for k in range(len(sums)):
        t = every[:, 6 * k : 6 * k + 6]
        n, sx, sy, sxx, syy, sxy = t.T
        num = n * sxy - sx * sy
        den = np.sqrt(np.clip(n * sxx - sx**2, 0, None) * np.clip(n * syy - sy**2, 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(num / den)
    return out


def cost_need_correlation(
    frame: pd.DataFrame,
    *,
    measures: Sequence[str],
    cost: str = Col.weekly_cost,
    group: str = Col.child_id,
    method: str = "bootstrap",
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
    labels: dict[str, str] | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Spearman correlation of weekly cost with each need measure, with intervals.

    Parameters
    ----------
    frame : DataFrame
        Rows of need and cost (e.g. :func:`need_cost_frame`), several per child.
    measures : sequence of str
        Need columns (total need and domains).
    cost, group : str
        Cost and cluster (child) columns.
    method : {"bootstrap", "fisher"}
        ``bootstrap``: percentile interval from resampling children (the
        correlation of the full-sample ranks in each resample, a fast and
        close approximation to re-ranking). ``fisher``: Fisher z with the
        Bonett-Wright variance and the number of *children* as n, which
        allows roughly for repeated assessments of the same child.
    n_boot : int
        Bootstrap resamples.
    level : float
        Interval level.
    seed : int
        Seed of the resampling.

    Returns
    -------
    DataFrame
        ``measure, label, spearman_rho, ci_low, ci_high, children,
        assessments, method``.
    """
    if method not in ("bootstrap", "fisher"):
        raise ValueError("method must be 'bootstrap' or 'fisher'")
    labels = labels or {}
    groups_all = frame[group].to_numpy()
    g_codes, g_uniq = pd.factorize(groups_all)
    alpha = 1 - level
    rows, sums, boot_rows = [], [], []
    cost_all = frame[cost].to_numpy(dtype=float, na_value=np.nan)
    cost_ok = ~np.isnan(cost_all)
    ranked: tuple[np.ndarray, np.ndarray] | None = None  # (rows, ranks) of cost, reused
    for m in tqdm(
        measures, desc="correlations", disable=None if progress is None else not progress
    ):
        xm = frame[m].to_numpy(dtype=float, na_value=np.nan)
        ok = cost_ok & ~np.isnan(xm)
        x = xm[ok]
        y = cost_all[ok]
        grp = g_codes[ok]
        # distinct children, by counting codes (a hash-based unique of 850k rows per measure)
        n_children = (
            int(np.count_nonzero(np.bincount(grp, minlength=len(g_uniq))))
            if not (grp < 0).any()
            else int(np.unique(grp).size)  # missing ids count once, as before
        )
        rho, lo, hi = np.nan, np.nan, np.nan
        if x.size >= 3 and n_children >= 4:
            # the cost's ranks are the same for every measure scored on the same rows
            if ranked is None or not np.array_equal(ranked[0], ok):
                ranked = (ok, stats.rankdata(y))
            rx, ry = stats.rankdata(x), ranked[1]
            rho = _spearman(x, y, rx, ry)
            if method == "fisher":
                se = np.sqrt((1 + rho**2 / 2) / (n_children - 3))
                z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
                q = stats.norm.ppf(1 - alpha / 2)
                lo, hi = float(np.tanh(z - q * se)), float(np.tanh(z + q * se))
            else:
                sums.append(_rank_sums(rx, ry, grp, len(g_uniq)))
                boot_rows.append(len(rows))
        rows.append(
            {
                "measure": m,
                "label": labels.get(m, m),
                "spearman_rho": rho,
                "ci_low": lo,
                "ci_high": hi,
                "children": n_children,
                "assessments": int(x.size),
                "method": method,
            }
        )
    # one set of resampled children for all measures
    for r, bs in zip(boot_rows, _spearman_boot(sums, len(g_uniq), n_boot, seed), strict=True):
        bs = bs[np.isfinite(bs)]
        rows[r]["ci_low"], rows[r]["ci_high"] = (
            float(v) for v in np.quantile(bs, [alpha / 2, 1 - alpha / 2])
        )
    return pd.DataFrame(rows)


def _r2(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """R-squared and adjusted R-squared of least squares of ``y`` on a constant and ``x``.

    The same figures as ``statsmodels`` OLS (minimum-norm solution, rank from
    the singular values), from a QR decomposition of the tall design with
    ``y`` appended instead of a pseudo-inverse of the design (an SVD of a
    million rows).
    """
    xc = np.column_stack([np.ones(len(y)), x])
    p = xc.shape[1]
    r = np.linalg.qr(np.column_stack([xc, y]), mode="r")
    rank = int(np.linalg.matrix_rank(np.diag(np.linalg.svd(r[:p, :p], compute_uv=False))))
    b = np.linalg.lstsq(r[:p, :p], r[:p, p], rcond=None)[0]
    resid = y - xc @ b
    ssr = float(resid @ resid)
    centred = y - y.mean()
    r2 = 1 - ssr / float(centred @ centred)
    return r2, float(1 - (len(y) - 1) / (len(y) - rank) * (1 - r2))


def variance_explained(
    frame: pd.DataFrame,
    *,
    need: str = TOTAL_NEED,
    domains: Sequence[str] = (),
    y: str = LOG_COST,
) -> pd.DataFrame:
    """Share of the variance in log weekly cost explained by need and by placement type.

    Nested ordinary least-squares models: need alone, placement type alone,
    both, and (if ``domains`` are given) type plus every domain. The
    increments say how much each adds once the other is known.

    Returns
    -------
    DataFrame
        ``model, description, r2, adj_r2, n`` with rows ``need``, ``type``,
        ``type + need``, ``type + domains`` (optional), ``need given type``
        and ``type given need`` (the increments, adj_r2 empty).
    """
    cols = [y, need, Col.placement_type, *domains]
    d = frame[cols].dropna()
    if len(d) < MIN_CHILDREN_MODEL + len(domains) + d[Col.placement_type].nunique():
        rows = ["need", "type", "type + need"] + (["type + domains"] if domains else [])
        rows += ["need given type", "type given need"]
        out = pd.DataFrame({"model": rows, "description": rows, "r2": np.nan, "adj_r2": np.nan})
        out["n"] = len(d)
        return out
    yv = d[y].to_numpy(dtype=float)
    types = pd.get_dummies(d[Col.placement_type], drop_first=True, dtype=float)
    need_x = d[[need]].astype(float)

    def fit(x: pd.DataFrame) -> tuple[float, float]:
        with single_thread_blas():
            return _r2(yv, x.to_numpy(dtype=float))

    r_need = fit(need_x)
    r_type = fit(types)
    r_both = fit(pd.concat([types, need_x], axis=1))
    rows = [
        ("need", "Total need only", *r_need),
        ("type", "Placement type only", *r_type),
        ("type + need", "Placement type and total need", *r_both),
    ]
    if domains:
        r_dom = fit(pd.concat([types, d[list(domains)].astype(float)], axis=1))
        rows.append(("type + domains", "Placement type and every need domain", *r_dom))
    rows += [
        (
            "need given type",
            "Added by total need once type is known",
            r_both[0] - r_type[0],
            np.nan,
        ),
        (
            "type given need",
            "Added by type once total need is known",
            r_both[0] - r_need[0],
            np.nan,
        ),
    ]
    out = pd.DataFrame(rows, columns=["model", "description", "r2", "adj_r2"])
    out["n"] = len(d)
    return out


# --------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------


@dataclass
class CostNeedFlags:
    """Children whose cost is high (or low) for their need.

    Attributes
    ----------
    flagged : DataFrame
        Analyst use only (holds child ids): ``child_id, placement_type,
        total_need, weekly_cost, residual, flag``.
    counts : DataFrame
        Children flagged by placement type (rows) and flag (columns).
    quantile : float
        Share of children flagged in each tail.
    slope_per_10 : float
        Fitted change in log weekly cost per 10 points of total need.
    n_children : int
    """

    flagged: pd.DataFrame = field(repr=False)
    counts: pd.DataFrame
    quantile: float
    slope_per_10: float
    n_children: int

    @property
    def n_high_cost(self) -> int:
        return int((self.flagged[FLAG] == HIGH_COST).sum())

    @property
    def n_high_need(self) -> int:
        return int((self.flagged[FLAG] == HIGH_NEED).sum())

    def report_table(self) -> pd.DataFrame:
        """Counts by placement type and flag, suppressed (no identifiers)."""
        t = self.counts.copy()
        t.index = [PLACEMENT_LABELS.get(i, i) for i in t.index]
        t.index.name = "Placement type"
        t[privacy.TOTAL] = t.sum(axis=1)
        t.loc[privacy.TOTAL] = t.sum()
        return privacy.suppress(t).table

    def finding(self) -> Finding:
        """The flags as one sentence, with the counts it states declared."""
        counts = stated_counts(UNIVERSE_SNAPSHOT, [(self.n_children, ())])
        if np.isfinite(self.slope_per_10):
            counts += stated_counts(
                UNIVERSE_FLAGGED,
                [
                    (self.n_high_cost, ((FLAG, HIGH_COST),)),
                    (self.n_high_need, ((FLAG, HIGH_NEED),)),
                ],
            )
        return Finding("flags.counts", self.summary(), counts=counts)

    def summary(self) -> str:
        if not np.isfinite(self.slope_per_10):
            return (
                f"Too few children ({_count(self.n_children)}) with need and cost to flag "
                "any as costing more or less than others of similar need."
            )
        return (
            f"Of {_count(self.n_children)} children, those in the top {self.quantile:.0%} of cost "
            f"relative to need ({_count(self.n_high_cost)}) and the bottom {self.quantile:.0%} "
            f"({_count(self.n_high_need)}) are flagged for review; the flags come from a simple "
            "model of cost on total need and say nothing about whether a placement is right."
        )


def flag_cost_need(
    snapshot: pd.DataFrame,
    *,
    need: str = TOTAL_NEED,
    quantile: float = 0.1,
) -> CostNeedFlags:
    """Flag children whose weekly cost is far above or below that of similar need.

    Fits log weekly cost on total need (one row per child) and flags the
    children whose residual is in the top ``quantile`` ("cost high for
    need") or bottom ``quantile`` ("need high for cost").
    """
    if not 0 < quantile < 0.5:
        raise ValueError("quantile must be between 0 and 0.5")
    d = snapshot[[Col.child_id, Col.placement_type, need, Col.weekly_cost]].dropna()
    if len(d) < MIN_CHILDREN_MODEL:
        # too few children for a model: nobody is flagged (and the result says so)
        empty = d.assign(**{RESIDUAL: np.nan, FLAG: ""}).iloc[:0]
        counts = pd.DataFrame(0, index=list(PLACEMENT_TYPES), columns=[HIGH_COST, HIGH_NEED])
        return CostNeedFlags(empty, counts, quantile, np.nan, len(d))
    yv = np.log(np.maximum(d[Col.weekly_cost].to_numpy(dtype=float), 1.0))
    x = add_constant(d[need].to_numpy(dtype=float))
    res = OLS(yv, x).fit()
    r = res.resid
    hi, lo = np.quantile(r, [1 - quantile, quantile])
    flag = np.where(r >= hi, HIGH_COST, np.where(r <= lo, HIGH_NEED, ""))
    d = d.assign(**{RESIDUAL: r, FLAG: flag})
    flagged = d[d[FLAG] != ""].sort_values(RESIDUAL, ascending=False).reset_index(drop=True)
    counts = (
        pd.crosstab(flagged[Col.placement_type], flagged[FLAG])
        .reindex(index=[t for t in PLACEMENT_TYPES], columns=[HIGH_COST, HIGH_NEED])
        .fillna(0)
        .astype(int)
    )
    return CostNeedFlags(flagged, counts, quantile, float(res.params[1] * 10), len(d))


# --------------------------------------------------------------------------
# Needs-matched scenario
# --------------------------------------------------------------------------


@dataclass
class NeedsMatchedScenario(Result):
    """What children would cost under the placement mix similar-need children receive.

    The comparator is an *expected cost*: for each child, the mix of placement
    types among comparison children with similar needs (the ``reference``
    population; see :func:`needs_matched_scenario`), priced at this
    population's own mean weekly cost of each type. The net saving is the
    current total minus the expected total; it equals
    ``sum over types of (current children - expected children) x price``.

    Attributes
    ----------
    per_child : DataFrame
        Analyst use only (holds child ids): ``child_id, age_band,
        placement_type, weekly_cost, expected_cost, saving, own_type_share``
        (share of the comparison children with similar needs in the child's
        own type), ``matched``.
    by_type_table : DataFrame
        ``placement_type, label, children, expected_children, mean_weekly_cost,
        weekly_saving``.
    type_costs : Series
        Mean weekly cost of each type (the prices of the comparator).
    weekly_saving : float
        Net: current minus expected weekly cost (negative: the mix that
        similar-need children receive would cost more).
    weekly_ci : tuple of float
        Bootstrap interval (resampling children of this population and of the
        comparison population independently).
    gross_down, gross_up : float
        Sum of the per-child savings that are positive (children costing more
        than the expected cost for their needs) and minus those negative.
    n_children, n_matched : int
        Children in the scenario's placement types, and those with enough
        comparison children of similar need.
    method : str
        Neighbourhood definition (``"groups"``, ``"bands"``, ``"knn"``).
    k : int
        Neighbours (``knn``) or need groups (``groups``).
    in_sample : bool
        True when the comparison children are the same children: the net
        saving is then zero by construction (nothing to compare with).
    n_reference : int
        Comparison children.
    """

    _plot: ClassVar[str] = "spend:plot_scenario"

    per_child: pd.DataFrame = field(repr=False)
    by_type_table: pd.DataFrame
    type_costs: pd.Series
    weekly_saving: float
    weekly_ci: tuple[float, float]
    gross_down: float
    gross_up: float
    n_children: int
    n_matched: int
    method: str
    k: int
    level: float
    in_sample: bool
    n_reference: int
    boot: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    caveats: list[str] = field(default_factory=list)

    @property
    def annual_saving(self) -> float:
        return self.weekly_saving * WEEKS_PER_YEAR

    @property
    def annual_ci(self) -> tuple[float, float]:
        return (self.weekly_ci[0] * WEEKS_PER_YEAR, self.weekly_ci[1] * WEEKS_PER_YEAR)

    @property
    def interval_includes_zero(self) -> bool:
        lo, hi = self.weekly_ci
        return not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi

    @property
    def share_of_spend(self) -> float:
        """Net saving as a share of the current weekly cost of the children in scope."""
        total = float(self.per_child[Col.weekly_cost].sum())
        return self.weekly_saving / total if total > 0 else np.nan

    def word(self) -> str:
        """ "save", "cost an extra", "no clear change" (interval includes zero) or
        "not estimable" (no comparison population, or fewer than 6 children)."""
        if self.in_sample or self.n_children < privacy.MIN_N or not np.isfinite(self.weekly_ci[0]):
            return "not estimable"
        if self.interval_includes_zero:
            return "no clear change"
        return "save" if self.weekly_saving > 0 else "cost an extra"

    def finding(self) -> Finding:
        """The scenario in one sentence; never a saving without saying when its interval
        includes zero."""
        sc = self
        word = self.word()
        n = sc.n_children
        # only sentences that state the number declare it
        counts = stated_counts(UNIVERSE_SCENARIO, [(n, ())])
        if sc.n_children < privacy.MIN_N:
            text = (
                f"Needs-matched scenario: too few children ({display.count_text(n)}) in foster, "
                "children's home or supported placements to describe."
            )
        elif sc.in_sample:
            counts = ()
            text = (
                "Needs-matched scenario: not estimated. Without comparison councils, the "
                "children with similar needs are this council's own children, so the "
                "expected cost equals the current cost by construction."
            )
        else:
            lo, hi = sc.annual_ci
            ival = display.interval(lo, hi, unit="£", decimals=0)
            who = (
                f"If the {display.count_text(n)} children in foster, children's home or "
                "supported placements were placed in the mix that children of the same age "
                "band with similar needs receive in the comparison population, priced at "
                "this population's own costs, "
            )
            if word == "no clear change":
                text = (
                    who + f"spend would change by about {display.money(-sc.annual_saving)} a "
                    f"year (95% interval for the saving {ival}); the interval includes zero, "
                    "so neither a saving nor an extra cost can be claimed."
                )
            else:
                text = who + (
                    f"placements would {word} about {display.money(abs(sc.annual_saving))} a "
                    f"year (95% interval for the saving {ival})."
                )
        return Finding("scenario.saving", text, word=word, counts=counts)

    def to_frame(self) -> pd.DataFrame:
        """Children now and expected for their needs, by placement type (no identifiers)."""
        return self.by_type_table.copy()

    def summary(self) -> Summary:
        """The scenario's finding, its protected tables and caveats."""
        tabs = self.report_tables()
        return Summary(
            title="Needs-matched scenario",
            findings=[self.finding()],
            tables=[
                Table("Needs-matched scenario (GBP)", tabs["scenario"], {"figure": "label"}),
                Table(
                    "Children by placement type now and expected for their needs",
                    tabs["scenario_by_type"].reset_index(),
                    {"Placement type": "label", "Children now": "count"},
                    universe=UNIVERSE_SCENARIO,
                    dims={"Placement type": "placement_type"},
                ),
            ],
            caveats=list(self.caveats),
            status="insufficient" if self.word() == "not estimable" else "ok",
        )

    def by_type(self, *, min_n: int = privacy.MIN_N) -> pd.DataFrame:
        """Current and expected weekly cost by type (types of ``min_n``+ children).

        Returns
        -------
        DataFrame
            ``placement_type, label, children, current_weekly_cost,
            scenario_weekly_cost, saving``: current cost of the children in
            each type, and the cost of the expected number of children in it.
        """
        t = self.by_type_table.copy()
        t["current_weekly_cost"] = t["children"] * t["mean_weekly_cost"]
        t["scenario_weekly_cost"] = t["expected_children"] * t["mean_weekly_cost"]
        t["saving"] = t["weekly_saving"]
        t = t[t["children"] >= min_n]
        cols = [Col.placement_type, "label", "children", "current_weekly_cost"]
        return t[cols + ["scenario_weekly_cost", "saving"]].reset_index(drop=True)

    def report_tables(self) -> dict[str, pd.DataFrame]:
        """Headline figures and children by type (current and expected), protected."""
        lo, hi = self.weekly_ci
        a_lo, a_hi = self.annual_ci
        n = self.n_children
        head = pd.DataFrame(
            {
                "figure": [
                    "Net weekly saving (GBP)",
                    "Net annual saving (GBP)",
                    "Weekly cost above the expected cost for need (GBP)",
                    "Weekly cost below the expected cost for need (GBP)",
                ],
                "estimate": [
                    self.weekly_saving,
                    self.annual_saving,
                    self.gross_down,
                    self.gross_up,
                ],
                "ci_low": [lo, a_lo, np.nan, np.nan],
                "ci_high": [hi, a_hi, np.nan, np.nan],
                "children": [n, n, n, n],
            }
        )
        no_ci = head["ci_low"].isna().to_numpy()
        head = privacy.suppress_stats(
            head, n_col="children", stat_cols=["estimate", "ci_low", "ci_high"], decimals=0
        ).drop(columns=["children"])
        # figures with no interval show an empty cell, not a hidden one
        head.loc[no_ci & (head["estimate"] != privacy.SUPPRESSED), ["ci_low", "ci_high"]] = ""
        bt = self.by_type_table.copy()
        counts = bt.set_index("label")[["children"]].rename(columns={"children": "Children now"})
        counts.index.name = "Placement type"
        counts.loc[privacy.TOTAL] = counts.sum()
        shown = privacy.suppress(counts).table
        hidden = shown["Children now"] == privacy.SUPPRESSED
        exp = pd.concat(
            [
                bt.set_index("label")["expected_children"],
                pd.Series({privacy.TOTAL: bt["expected_children"].sum()}),
            ]
        )
        shown["Expected for their needs"] = [
            privacy.SUPPRESSED if h else f"{v:,.0f}"
            for h, v in zip(hidden, exp.reindex(shown.index), strict=True)
        ]
        return {"scenario": head, "scenario_by_type": shown}


def _groups(values: np.ndarray, ref_values: np.ndarray, n_groups: int) -> tuple:
    """Group index of ``values`` and ``ref_values`` by quantiles of ``ref_values``."""
    edges = np.unique(np.quantile(ref_values, np.linspace(0, 1, n_groups + 1)[1:-1]))
    return np.searchsorted(edges, values, side="right"), np.searchsorted(
        edges, ref_values, side="right"
    )


def _cells(cells_t: np.ndarray, cells_r: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Cell index (0..C-1) of each target and reference child, and C."""
    uniq, inv = np.unique(np.concatenate([cells_t, cells_r]), return_inverse=True)
    return inv[: cells_t.size], inv[cells_t.size :], int(uniq.size)


def _cell_shares(ct, cr, n_cells, type_r, w_r, n_types, min_pool):
    """Weighted type shares of each reference cell (C x types); rows of NaN if too few.

    ``ct``, ``cr`` and ``n_cells`` are from :func:`_cells` (the same in every
    resample); a target child's shares are row ``ct`` of the result.
    """
    counts = np.bincount(cr * n_types + type_r, weights=w_r, minlength=n_cells * n_types)
    sizes = np.bincount(cr, minlength=n_cells).astype(float)  # children, unweighted
    return _shares_of_counts(counts.reshape(n_cells, n_types), sizes, min_pool)


def _shares_of_counts(counts: np.ndarray, sizes: np.ndarray, min_pool: int) -> np.ndarray:
    """:func:`_cell_shares` from the cells' weighted type counts (C x types) and sizes."""
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / tot
    share[(sizes < min_pool) | (tot[:, 0] <= 0)] = np.nan
    return share


def needs_matched_scenario(
    snapshot: pd.DataFrame,
    *,
    domains: Sequence[str],
    reference: pd.DataFrame | None = None,
    method: str = "groups",
    k: int | None = None,
    scenario_types: Sequence[str] = SCENARIO_TYPES,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    min_pool: int = 6,
) -> NeedsMatchedScenario:
    """Weekly cost now against the expected cost under the mix similar-need children receive.

    For each child in a ``scenario_types`` placement, the comparison children
    with similar needs are the ``reference`` children (in ``scenario_types``
    placements, same DfE age band) in the same fifth of total need
    (``method="groups"``, ``k`` groups, default 5, cut at the reference's
    quantiles), the same framework need band (``"bands"``) or the ``k``
    (default 30) nearest in need profile over ``domains`` (``"knn"``). The
    child's *expected cost* is the mix of their types, priced at this
    population's mean weekly cost of each type; the net saving is the
    current total minus the expected total. Children in other placement
    types (kinship, with parents, secure, other) are left out, as are
    children with fewer than ``min_pool`` comparison children (they keep
    their cost).

    Parameters
    ----------
    snapshot : DataFrame
        One row per child (:func:`snapshot_frame`) of the population described
        (e.g. one council).
    domains : sequence of str
        Domain columns of the need profile (``knn``).
    reference : DataFrame, optional
        One row per child of the comparison population (e.g. the other
        councils, :func:`snapshot_frame` on the same date). None: the same
        children, leave-one-out for ``knn``; the net saving is then zero by
        construction for ``groups`` and ``bands`` (each cell's mix is its own
        mix) and the result says so.
    method : {"groups", "bands", "knn"}
    k : int, optional
        Need groups (``groups``, default 5) or neighbours (``knn``, default 30).
    n_boot : int
        Bootstrap resamples: children of the population and of the reference
        are resampled independently (together when they are the same), and
        the comparison mixes and the prices recomputed.
    level : float
    seed : int
    min_pool : int
        Fewest comparison children for a child to be matched.

    Returns
    -------
    NeedsMatchedScenario
    """
    if method not in ("groups", "bands", "knn"):
        raise ValueError("method must be 'groups', 'bands' or 'knn'")
    k = int(k if k is not None else (30 if method == "knn" else 5))
    types = list(PLACEMENT_TYPES)
    tidx = {t: i for i, t in enumerate(types)}
    snap = snapshot.reset_index(drop=True)
    if snap.empty:
        raise ValueError("no children in care with a placement and a recent review")
    in_sample = reference is None
    allowed = snap[Col.placement_type].isin(list(scenario_types)).to_numpy()
    tgt = snap[allowed].reset_index(drop=True)
    ref = tgt if in_sample else reference.reset_index(drop=True)
    ref = ref[ref[Col.placement_type].isin(list(scenario_types))].reset_index(drop=True)
    n_types = len(types)
    cur_t = tgt[Col.placement_type].map(tidx).to_numpy()
    # the reference may be every other council's children: work on its few distinct
    # types and age bands, not on a Python string per child
    type_codes, type_values = distinct_applied(ref[Col.placement_type], lambda v: v.map(tidx))
    cur_r = type_values[type_codes]
    cost_t = tgt[Col.weekly_cost].to_numpy(dtype=float)
    cost_r = ref[Col.weekly_cost].to_numpy(dtype=float)
    band_t = tgt[AGE_BAND].astype(str).to_numpy()
    band_codes, band_values = distinct_applied(ref[AGE_BAND], lambda v: v.astype(str))
    bands = np.unique(np.concatenate([band_t, band_values]))
    bcode_t = np.searchsorted(bands, band_t)
    bcode_r = np.searchsorted(bands, band_values)[band_codes]
    neigh = None
    if method == "knn":
        from scipy.spatial import cKDTree

        def profile(d: pd.DataFrame) -> np.ndarray:
            p = d[list(domains)].to_numpy(dtype=float)
            # a missing domain score counts as the mean of that child's other scores
            return np.where(np.isnan(p), np.nanmean(p, axis=1, keepdims=True), p)

        pt, pr = profile(tgt), profile(ref)
        neigh = np.full((len(tgt), k), -1)
        for b in range(bands.size):
            it, ir = np.flatnonzero(bcode_t == b), np.flatnonzero(bcode_r == b)
            extra = 1 if in_sample else 0
            if it.size == 0 or ir.size - extra < max(min_pool, 1):
                continue
            kk = min(k + extra, ir.size)
            _, idx = cKDTree(pr[ir]).query(pt[it], k=kk)
            idx = np.asarray(idx).reshape(it.size, kk)
            nb = ir[idx]
            if in_sample:  # leave the child out of their own comparison
                keep = nb != it[:, None]
                nb = np.array([row[m][: kk - 1] for row, m in zip(nb, keep, strict=True)])
            neigh[it, : nb.shape[1]] = nb
    else:
        if method == "groups":
            g_t, g_r = _groups(tgt[TOTAL_NEED].to_numpy(float), ref[TOTAL_NEED].to_numpy(float), k)
        else:
            g_t, g_r = tgt[NEED_BAND].to_numpy(int), ref[NEED_BAND].to_numpy(int)
        ct, cr, n_cells = _cells(bcode_t * 1000 + g_t, bcode_r * 1000 + g_r)

    if neigh is not None:  # the same in every resample
        ok = neigh >= 0
        nb = np.where(ok, neigh, 0)
        # each neighbour's (target child, type) cell of the target x type table
        cell_nb = (np.arange(len(tgt))[:, None] * n_types + cur_r[nb]).ravel()
        few = ok.sum(axis=1) < min_pool

    def shares(w_r: np.ndarray, per_cell: bool = False) -> np.ndarray:
        """Type shares per target child (or, ``per_cell``, per cell for ``groups``/``bands``)."""
        if neigh is None:
            sh = _cell_shares(ct, cr, n_cells, cur_r, w_r, n_types, min_pool)
            return sh if per_cell else sh[ct]
        w = np.where(ok, w_r[nb], 0.0)
        # bincount adds in the same order as np.add.at did, many times faster
        out = np.bincount(cell_nb, weights=w.ravel(), minlength=len(tgt) * n_types)
        out = out.reshape(len(tgt), n_types)
        tot = out.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out / tot
        out[few | (tot[:, 0] <= 0)] = np.nan
        return out

    def prices(w_t: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
        num = np.bincount(cur_t, weights=w_t * cost_t, minlength=n_types)
        den = np.bincount(cur_t, weights=w_t, minlength=n_types)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = num / den
        if fallback is not None:
            p = np.where(np.isfinite(p), p, fallback)
        return p

    def expected(share: np.ndarray, price: np.ndarray, rows=None) -> np.ndarray:
        """Expected cost per target child; ``share`` per child, or per cell with ``rows``."""
        matched = np.isfinite(share).all(axis=1)
        e = np.nan_to_num(share) @ np.nan_to_num(price)
        if rows is not None:  # computed once per cell, then per child
            matched, e = matched[rows], e[rows]
        e = np.where(matched, e, cost_t)
        # a type this population never uses has no price here: the reference's mean
        return e, matched

    ref_price = np.bincount(cur_r, weights=cost_r, minlength=n_types) / np.maximum(
        np.bincount(cur_r, minlength=n_types), 1
    )
    ones_t, ones_r = np.ones(len(tgt)), np.ones(len(ref))
    price = prices(ones_t, ref_price)
    share = shares(ones_r)
    exp_cost, matched = expected(share, price)
    saving = cost_t - exp_cost
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    # A resample of the reference (tens of thousands of children for a national
    # comparison) only matters through how many draws land in each cell and type
    # (or on each child some target child is matched to): those counts are drawn
    # directly, as one multinomial draw over the cells and types (or the matched
    # children, and one slot for all the others), which is exactly how the counts
    # of n draws with replacement are distributed, without drawing every child.
    # Counts of draws are whole numbers, so the shares are those of weighted sums.
    if neigh is None:
        key_r = cr * n_types + cur_r
        sizes_r = np.bincount(cr, minlength=n_cells).astype(float)
        p_r = np.bincount(key_r, minlength=n_cells * n_types) / max(len(ref), 1)
    else:
        used_r = np.unique(neigh[neigh >= 0])
        # the matched children, then one slot for every other reference child
        p_r = np.append(np.ones(used_r.size), len(ref) - used_r.size) / max(len(ref), 1)
    for b in range(n_boot):
        w_t = np.bincount(rng.integers(0, len(tgt), len(tgt)), minlength=len(tgt)).astype(float)
        counts = None if in_sample else rng.multinomial(len(ref), p_r)
        if neigh is None:
            if counts is None:
                sh = shares(w_t, per_cell=True)
            else:
                counts = counts.astype(float).reshape(n_cells, n_types)
                sh = _shares_of_counts(counts, sizes_r, min_pool)
            e_b, _ = expected(sh, prices(w_t, price), ct)
        else:
            if counts is None:
                w_r = w_t
            else:
                w_r = np.zeros(len(ref))
                w_r[used_r] = counts[:-1]
            e_b, _ = expected(shares(w_r), prices(w_t, price))
        boot[b] = float(np.sum(w_t * (cost_t - e_b)))
    alpha = 1 - level
    ci = (
        tuple(float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
        if n_boot and len(tgt)
        else (np.nan, np.nan)
    )
    own = np.where(matched, np.nan_to_num(share)[np.arange(len(tgt)), cur_t], np.nan)
    per_child = pd.DataFrame(
        {
            Col.child_id: tgt[Col.child_id].to_numpy(),
            AGE_BAND: band_t,
            Col.placement_type: tgt[Col.placement_type].to_numpy(),
            Col.weekly_cost: cost_t,
            "expected_cost": exp_cost,
            "saving": saving,
            "own_type_share": own,
            "matched": matched,
        }
    )
    exp_children = np.where(matched[:, None], np.nan_to_num(share), np.eye(n_types)[cur_t]).sum(0)
    n_now = np.bincount(cur_t, minlength=n_types)
    used = [i for i, t in enumerate(types) if t in scenario_types]
    by_type = pd.DataFrame(
        {
            Col.placement_type: [types[i] for i in used],
            "label": [PLACEMENT_LABELS[types[i]] for i in used],
            "children": n_now[used],
            "expected_children": exp_children[used],
            "mean_weekly_cost": price[used],
            "weekly_saving": (n_now[used] - exp_children[used]) * np.nan_to_num(price[used]),
        }
    )
    caveats = [
        "The comparator is the mix of placement types that children of the same age band with "
        "similar need scores receive in the comparison population; it is not an assessment of "
        "what any child needs, and that mix may itself be shaped by cost and by which "
        "placements were available.",
        "Each type is priced at this population's mean weekly cost; the scenario ignores the "
        "cost of finding and supporting carers, one-off costs of moving, and whether enough "
        "foster carers exist.",
        "Moving a child has costs to the child (disruption, broken relationships) that no "
        "weekly figure shows; wishes, siblings, legal status and safety are not in the data.",
        "Kinship care, placement with parents, secure and other placements are left out.",
        "How similar needs are defined changes the figure; see the sensitivity table.",
        OBSERVATIONAL,
    ]
    if in_sample:
        caveats.insert(
            0,
            "The comparison children are the same children, so the net saving is zero by "
            "construction (up to leave-one-out matching): a needs-matched saving needs a "
            "comparison population, such as other councils.",
        )
    return NeedsMatchedScenario(
        per_child=per_child,
        by_type_table=by_type,
        type_costs=pd.Series(price, index=types, name="mean_weekly_cost"),
        weekly_saving=float(saving.sum()),
        weekly_ci=ci,
        gross_down=float(saving[saving > 0].sum()),
        gross_up=float(-saving[saving < 0].sum()),
        n_children=len(tgt),
        n_matched=int(matched.sum()),
        method=method,
        k=k,
        level=level,
        in_sample=in_sample,
        n_reference=len(ref),
        boot=boot,
        caveats=caveats,
    )


#: Neighbourhood definitions of the scenario's sensitivity table.
SENSITIVITY_DEFINITIONS: tuple[tuple[str, int | None, str], ...] = (
    ("groups", 5, "Same age band, same fifth of total need (default)"),
    ("groups", 10, "Same age band, same tenth of total need"),
    ("groups", 20, "Same age band, same twentieth of total need"),
    ("bands", None, "Same age band, same framework need band"),
    ("knn", 15, "Same age band, 15 nearest need profiles"),
    ("knn", 50, "Same age band, 50 nearest need profiles"),
)


def scenario_sensitivity(
    snapshot: pd.DataFrame,
    *,
    domains: Sequence[str],
    reference: pd.DataFrame | None = None,
    definitions: Sequence[tuple[str, int | None, str]] = SENSITIVITY_DEFINITIONS,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The needs-matched saving under each definition of "similar needs".

    Returns
    -------
    DataFrame
        ``method, k, definition, weekly_saving, ci_low, ci_high,
        annual_saving, share_of_spend, children, matched``.
    """
    rows = []
    for method, k, text in definitions:
        sc = needs_matched_scenario(
            snapshot,
            domains=domains,
            reference=reference,
            method=method,
            k=k,
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
        rows.append(
            {
                "method": method,
                "k": sc.k,
                "definition": text,
                "weekly_saving": sc.weekly_saving,
                "ci_low": sc.weekly_ci[0],
                "ci_high": sc.weekly_ci[1],
                "annual_saving": sc.annual_saving,
                "share_of_spend": sc.share_of_spend,
                "children": sc.n_children,
                "matched": sc.n_matched,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# Placement mix and cost by need band
# --------------------------------------------------------------------------


@dataclass
class MixByNeedBand:
    """Placement-type mix and weekly cost by band of total need on a date.

    Attributes
    ----------
    counts : DataFrame
        Children by placement type (rows, in model order) and need band
        (columns 1..n).
    cost_by_band : DataFrame
        ``need_band, band_label, children, median_weekly_cost,
        lower_quartile, upper_quartile, total_weekly_cost``.
    cost_by_type : DataFrame
        ``placement_type, label, children, median_weekly_cost, lower_quartile,
        upper_quartile, total_weekly_cost``.
    band_labels : dict
    """

    counts: pd.DataFrame
    cost_by_band: pd.DataFrame
    cost_by_type: pd.DataFrame
    band_labels: dict[int, str]

    def report_tables(self) -> dict[str, pd.DataFrame]:
        """The three tables, with small counts and statistics suppressed."""
        t = self.counts.copy()
        t.index = [PLACEMENT_LABELS.get(i, i) for i in t.index]
        t.columns = [self.band_labels.get(int(c), str(c)) for c in t.columns]
        t.index.name = "Placement type"
        t[privacy.TOTAL] = t.sum(axis=1)
        t.loc[privacy.TOTAL] = t.sum()
        mix = privacy.suppress(t).table
        stat = ["median_weekly_cost", "lower_quartile", "upper_quartile"]
        # counts per band are shown (protected) in the mix table's totals row,
        # so they are left out here rather than protected a second, different way
        band = privacy.suppress_stats(
            self.cost_by_band, n_col="children", stat_cols=stat, decimals=0
        ).drop(columns=["children", "total_weekly_cost", NEED_BAND])
        typ = privacy.suppress_stats(
            self.cost_by_type, n_col="children", stat_cols=stat, decimals=0
        ).drop(columns=["children", "total_weekly_cost", Col.placement_type])
        return {"mix_by_need_band": mix, "cost_by_need_band": band, "cost_by_type": typ}


def _cost_stats(d: pd.DataFrame, by: str) -> pd.DataFrame:
    g = d.groupby(by, observed=True)[Col.weekly_cost]
    return pd.DataFrame(
        {
            "children": g.size(),
            "median_weekly_cost": g.median(),
            "lower_quartile": g.quantile(0.25),
            "upper_quartile": g.quantile(0.75),
            "total_weekly_cost": g.sum(),
        }
    )


def mix_by_need_band(snapshot: pd.DataFrame, framework: Framework) -> MixByNeedBand:
    """Placement mix and weekly cost by band of total need (one row per child)."""
    bands = [b.band for b in framework.bands]
    labels = {b.band: f"Band {b.band} ({b.min:g}-{b.max:g})" for b in framework.bands}
    counts = (
        pd.crosstab(snapshot[Col.placement_type], snapshot[NEED_BAND])
        .reindex(index=list(PLACEMENT_TYPES), columns=bands)
        .fillna(0)
        .astype(int)
    )
    counts.columns.name = NEED_BAND
    by_band = _cost_stats(snapshot, NEED_BAND).reindex(bands)
    by_band["children"] = by_band["children"].fillna(0).astype(int)
    by_band = by_band.rename_axis(NEED_BAND).reset_index()
    by_band.insert(1, "band_label", by_band[NEED_BAND].map(labels))
    by_type = _cost_stats(snapshot, Col.placement_type).reindex(list(PLACEMENT_TYPES))
    by_type["children"] = by_type["children"].fillna(0).astype(int)
    by_type = by_type.rename_axis(Col.placement_type).reset_index()
    by_type.insert(1, "label", by_type[Col.placement_type].map(PLACEMENT_LABELS))
    return MixByNeedBand(counts, by_band, by_type, labels)


# --------------------------------------------------------------------------
# The cost-need link within placement type
# --------------------------------------------------------------------------


@dataclass
class CostNeedLink:
    """Log weekly cost ~ placement type + total need + price change over time.

    Attributes
    ----------
    coefficients : DataFrame
        Corrected estimates (term, estimate, se, ci_low, ci_high, p_value):
        one ``type[...]`` term per placement type (log median weekly cost at
        the reference date and ``need_centre``), ``need_per_10`` (log cost
        per 10 points of total need), ``price_years`` (log price growth per
        year of placement start) and, if any council adopted the programme,
        ``price_years_after_programme``.
    naive : DataFrame
        The same without the measurement-error correction.
    need_link, need_link_ci : float, tuple
        Within-type change in log weekly cost per 10 points of total need,
        corrected for measurement error in need scores.
    need_link_naive, need_link_naive_ci : float, tuple
        Uncorrected (attenuated towards zero).
    reliability : float
        Share of the variance of observed total need (within type and start
        year) that is true signal.
    error_variance : float
        Measurement-error variance of total need used for the correction.
    price_growth : float
        Estimated yearly price growth (placements starting a year later
        cost this much more), with ``price_growth_after`` after a council's
        programme start (NaN if no council adopted).
    type_medians : DataFrame
        ``placement_type, median_at_reference, ci_low, ci_high, placements,
        children``: median weekly cost at ``reference_date`` prices and
        ``need_centre`` total need, from the corrected fit.
    """

    coefficients: pd.DataFrame
    naive: pd.DataFrame
    need_link: float
    need_link_ci: tuple[float, float]
    need_link_naive: float
    need_link_naive_ci: tuple[float, float]
    reliability: float
    error_variance: float
    price_growth: float
    price_growth_after: float
    type_medians: pd.DataFrame
    reference_date: str
    need_centre: float
    n: int
    n_children: int
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lo, hi = self.need_link_ci
        pct = 100 * (np.exp(self.need_link) - 1)
        return (
            f"Within a placement type, weekly cost was {pct:+.1f}% higher per 10 points of "
            f"total need (95% CI {100 * (np.exp(lo) - 1):+.1f}% to "
            f"{100 * (np.exp(hi) - 1):+.1f}%), after allowing for measurement error in need "
            f"scores (reliability {self.reliability:.2f}) and for price rises by placement "
            f"start date ({100 * self.price_growth:.1f}% a year)."
        )


def _price_years(
    frame: pd.DataFrame, reference_date: str | pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Years from the reference date to placement start, split at the programme start."""
    ref = pd.Timestamp(reference_date)
    yrs = (frame[PLACEMENT_START] - ref).dt.days.to_numpy(dtype=float) / DAYS_PER_YEAR
    prog = frame[Col.programme_start]
    yp = (prog - ref).dt.days.to_numpy(dtype=float) / DAYS_PER_YEAR
    yp = np.where(np.isfinite(yp), yp, np.inf)
    return np.minimum(yrs, yp), np.clip(yrs - yp, 0, None)


def cost_need_link(
    frame: pd.DataFrame,
    *,
    error_var: ErrorVariance | float | None,
    need: str = TOTAL_NEED,
    reference_date: str = REFERENCE_DATE,
    need_centre: float = NEED_CENTRE,
    level: float = 0.95,
    min_children: int = 6,
) -> CostNeedLink:
    """Estimate how weekly cost rises with need within placement type.

    Model (one row per assessment joined to its placement, children as
    clusters)::

        log(weekly cost) = type_t + b * (need - centre) / 10
                           + g1 * years_to_start + g2 * years_after_programme + e

    Costs are fixed when a placement starts, so the start date, not the
    assessment date, carries price growth; ``years_after_programme`` lets
    growth differ after a council's programme start. Observed need is a
    noisy measure of the child's true need, so ``b`` is corrected with the
    measurement-error variance ``error_var`` (estimated from repeat
    assessments, :func:`need_error_variance`); the naive estimate is
    attenuated by the reliability, typically 0.75-0.85 for total need.

    Parameters
    ----------
    frame : DataFrame
        :func:`need_cost_frame` rows.
    error_var : ErrorVariance, float or None
        Error variance of one assessment's total need (None: no correction).
    reference_date : str
        Date at which type medians are reported (prices of placements
        starting then).
    need_centre : float
        Total need at which type medians are reported.
    min_children : int
        Placement types with fewer children are left out of the model.
    """
    d = frame.dropna(subset=[need, LOG_COST, PLACEMENT_START])
    kids = d.groupby(Col.placement_type)[Col.child_id].nunique()
    keep = [t for t in PLACEMENT_TYPES if kids.get(t, 0) >= min_children]
    d = d[d[Col.placement_type].isin(keep)]
    if not keep or d[Col.child_id].nunique() < MIN_CHILDREN_MODEL:
        raise ValueError(f"too few children (fewer than {min_children} in every placement type)")
    pre, post = _price_years(d, reference_date)
    x = pd.get_dummies(d[Col.placement_type], dtype=float).reindex(columns=keep, fill_value=0.0)
    x.columns = [f"type[{t}]" for t in keep]
    x["need_per_10"] = (d[need].to_numpy(dtype=float) - need_centre) / 10
    x["price_years"] = pre
    has_prog = bool(np.any(post > 0))
    if has_prog:
        x["price_years_after_programme"] = post
    x.index = d.index
    ev = error_var.variance if isinstance(error_var, ErrorVariance) else error_var
    fit = eiv_ols(
        x,
        d[LOG_COST],
        noisy="need_per_10" if ev else None,
        error_var=(ev or 0.0) / 100,
        groups=d[Col.child_id],
    )
    coef = fit.table(level=level)
    naive = fit.table(level=level, corrected=False)
    c = coef.set_index("term")
    nv = naive.set_index("term")
    med_rows = []
    for t in keep:
        r = c.loc[f"type[{t}]"]
        sub = d[d[Col.placement_type] == t]
        med_rows.append(
            {
                Col.placement_type: t,
                "median_at_reference": float(np.exp(r["estimate"])),
                "ci_low": float(np.exp(r["ci_low"])),
                "ci_high": float(np.exp(r["ci_high"])),
                "placements": int(sub[[Col.child_id, PLACEMENT_START]].drop_duplicates().shape[0]),
                "children": int(sub[Col.child_id].nunique()),
            }
        )
    growth_after = (
        float(np.exp(c.loc["price_years_after_programme", "estimate"]) - 1) if has_prog else np.nan
    )
    return CostNeedLink(
        coefficients=coef,
        naive=naive,
        need_link=float(c.loc["need_per_10", "estimate"]),
        need_link_ci=(
            float(c.loc["need_per_10", "ci_low"]),
            float(c.loc["need_per_10", "ci_high"]),
        ),
        need_link_naive=float(nv.loc["need_per_10", "estimate"]),
        need_link_naive_ci=(
            float(nv.loc["need_per_10", "ci_low"]),
            float(nv.loc["need_per_10", "ci_high"]),
        ),
        reliability=fit.reliability,
        error_variance=float(ev or 0.0),
        price_growth=float(np.exp(c.loc["price_years", "estimate"]) - 1),
        price_growth_after=growth_after,
        type_medians=pd.DataFrame(med_rows),
        reference_date=str(reference_date),
        need_centre=need_centre,
        n=fit.n,
        n_children=fit.n_clusters,
        warnings=fit.warnings,
    )


# --------------------------------------------------------------------------
# Figure data (aggregates only)
# --------------------------------------------------------------------------

#: Weekly-cost bin edges (GBP): half-octaves from 50 to ~100k.
COST_EDGES = tuple(float(50 * 2 ** (k / 2)) for k in range(23))


def cost_need_bins(
    frame: pd.DataFrame,
    *,
    need: str = TOTAL_NEED,
    need_width: float = 10.0,
    cost_edges: Sequence[float] = COST_EDGES,
    min_children: int = privacy.MIN_N,
) -> pd.DataFrame:
    """Children and assessments per (need bin x cost bin), dropping cells of few children.

    Returns
    -------
    DataFrame
        ``need_low, need_high, cost_low, cost_high, children, assessments``;
        only cells with at least ``min_children`` distinct children, so a
        figure drawn from it has no mark for fewer. ``attrs["hidden_cells"]``
        counts cells dropped.
    """
    d = frame[[Col.child_id, need, Col.weekly_cost]].dropna()
    n_edges = np.arange(0.0, 100.0 + need_width, need_width)
    ni = np.clip(
        np.searchsorted(n_edges, d[need].to_numpy(), side="right") - 1, 0, len(n_edges) - 2
    )
    ce = np.asarray(cost_edges, dtype=float)
    ci = np.clip(
        np.searchsorted(ce, d[Col.weekly_cost].to_numpy(), side="right") - 1, 0, len(ce) - 2
    )
    t = pd.DataFrame({"ni": ni, "ci": ci, Col.child_id: d[Col.child_id].to_numpy()})
    g = t.groupby(["ni", "ci"])
    out = pd.DataFrame({"children": g[Col.child_id].nunique(), "assessments": g.size()})
    out = out.reset_index()
    hidden = int((out["children"] < min_children).sum())
    out = out[out["children"] >= min_children]
    res = pd.DataFrame(
        {
            "need_low": n_edges[out["ni"]],
            "need_high": n_edges[out["ni"] + 1],
            "cost_low": ce[out["ci"]],
            "cost_high": ce[out["ci"] + 1],
            "children": out["children"].to_numpy(),
            "assessments": out["assessments"].to_numpy(),
        }
    ).reset_index(drop=True)
    res.attrs["hidden_cells"] = hidden
    return res


def fit_lines(
    frame: pd.DataFrame,
    *,
    need: str = TOTAL_NEED,
    min_children: int = 20,
    points: int = 25,
) -> pd.DataFrame:
    """Fitted weekly cost against need within each placement type (for plotting).

    Log weekly cost is regressed on need separately by type; each line runs
    between the type's 10th and 90th percentiles of need and is drawn only
    for types with at least ``min_children`` children.

    Returns
    -------
    DataFrame
        ``placement_type, label, need, weekly_cost, slope_per_10, children``.
    """
    rows = []
    for t in PLACEMENT_TYPES:
        sub = frame[frame[Col.placement_type] == t].dropna(subset=[need, LOG_COST])
        n_kids = sub[Col.child_id].nunique()
        if n_kids < min_children:
            continue
        x = sub[need].to_numpy(dtype=float)
        b = np.polyfit(x, sub[LOG_COST].to_numpy(dtype=float), 1)
        grid = np.linspace(*np.quantile(x, [0.1, 0.9]), points)
        rows.append(
            pd.DataFrame(
                {
                    Col.placement_type: t,
                    "label": PLACEMENT_LABELS[t],
                    "need": grid,
                    Col.weekly_cost: np.exp(np.polyval(b, grid)),
                    "slope_per_10": b[0] * 10,
                    "children": n_kids,
                }
            )
        )
    cols = [Col.placement_type, "label", "need", Col.weekly_cost, "slope_per_10", "children"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


# --------------------------------------------------------------------------
# Everything together
# --------------------------------------------------------------------------


@dataclass
class SpendResult(Result):
    """Cost against need for a dataset (see :func:`spend`).

    ``frame``, ``snapshot``, ``flags.flagged`` and ``scenario.per_child``
    hold child identifiers: analyst use only. Use :meth:`summary` (findings,
    protected tables, caveats), :meth:`report_tables` and the figure data
    (``bins``, ``lines``) for reports.
    """

    _plot: ClassVar[str] = "spend:plot_cost_vs_need"

    at: pd.Timestamp
    frame: pd.DataFrame = field(repr=False)
    snapshot: pd.DataFrame = field(repr=False)
    correlations: pd.DataFrame
    variance: pd.DataFrame
    flags: CostNeedFlags
    scenario: NeedsMatchedScenario
    mix: MixByNeedBand
    link: CostNeedLink | None
    bins: pd.DataFrame
    lines: pd.DataFrame
    caveats: list[str] = field(default_factory=list)
    sensitivity: pd.DataFrame | None = None
    need_label: str = "total need"

    def to_frame(self) -> pd.DataFrame:
        """Correlations of weekly cost with each need measure (tidy; no identifiers)."""
        return self.correlations.copy()

    # -- words, from the numbers, in one place ---------------------------------
    def words(self) -> dict[str, str]:
        """Every judgement word the summary uses, chosen from this result's numbers.

        ``strength`` (of the rank correlation: "barely", "weakly",
        "moderately", "strongly"), ``direction`` ("rose", "fell", or "did not
        clearly rise or fall"), ``leader`` (which explained more of the
        variation in log weekly cost: "type" or "need"), ``share`` ("most" if
        the leader explained more than half, else "more"), ``scenario``
        ("save", "cost an extra", "no clear change" or "not estimable").
        """
        tot = self.correlations.set_index("measure").loc[TOTAL_NEED]
        rho, lo, hi = (float(tot[c]) for c in ("spearman_rho", "ci_low", "ci_high"))
        v = self.variance.set_index("model")["r2"]
        r_type, r_need = float(v["type"]), float(v["need"])
        w = {"strength": strength_word(rho), "direction": direction_word(rho, lo, hi)}
        leader = "type" if r_type >= r_need else "need"
        top = max(r_type, r_need)
        w["leader"] = leader
        w["share"] = "most" if top > 0.5 else "more"
        w["scenario"] = self.scenario.word()
        return w

    def summary(self) -> Summary:
        """Findings, protected tables and caveats (see :meth:`words` for the judgements)."""
        out = Summary(title="Cost against need and the needs-matched scenario")
        out.caveats = list(self.caveats)
        tot = self.correlations.set_index("measure").loc[TOTAL_NEED]
        n_kids = int(tot["children"])
        if n_kids < privacy.MIN_N or not np.isfinite(tot["spearman_rho"]):
            out.status = "insufficient"
            out.findings.append(
                Finding(
                    "cost_need.too_few",
                    f"Too few children ({display.count_text(n_kids)}) with need scores and "
                    "placement costs to describe how cost relates to need.",
                    counts=stated_counts(UNIVERSE_ASSESSED, [(n_kids, ())]),
                )
            )
            out.tables = self._tables()
            return out
        w = self.words()
        rho, lo, hi = (float(tot[c]) for c in ("spearman_rho", "ci_low", "ci_high"))
        corr = (
            f"Spearman correlation {rho:.2f}, 95% interval {display.interval(lo, hi, decimals=2)}"
        )
        if w["direction"] in ("rose", "fell"):
            text = f"weekly cost {w['direction']} {w['strength']} with {self.need_label} ({corr})."
        else:
            text = (
                f"weekly cost did not clearly rise or fall with {self.need_label} ({corr}; the "
                "interval includes zero)."
            )
        out.findings.append(
            Finding(
                "cost_need.strength",
                f"Across {display.count_text(n_kids)} children and "
                f"{display.count_text(int(tot['assessments']))} assessments, " + text,
                word=w["strength"],
                counts=stated_counts(UNIVERSE_ASSESSED, [(n_kids, ())]),
            )
        )
        v = self.variance.set_index("model")["r2"]
        if np.isfinite(v["type"]) and np.isfinite(v["need"]):
            r_type, r_need = display.percent(v["type"]), display.percent(v["need"])
            lead, other = (
                ("Placement type", self.need_label)
                if w["leader"] == "type"
                else (self.need_label.capitalize(), "placement type")
            )
            shares = (
                f"({r_type} against {r_need})"
                if w["leader"] == "type"
                else f"({r_need} against {r_type})"
            )
            if w["share"] == "most":
                text = (
                    f"{lead}, more than {other}, explained most of the variation in weekly "
                    f"cost {shares}."
                )
            else:
                text = (
                    f"{lead} explained more of the variation in weekly cost than {other} "
                    f"{shares}, though neither explained most of it."
                )
            out.findings.append(Finding("cost_need.variance", text, word=w["share"]))
        if self.link is not None:
            out.findings.append(self._link_finding())
        out.findings.append(self._scenario_finding(w["scenario"]))
        out.findings.append(self.flags.finding())
        out.tables = self._tables()
        out.headline = self._headline(w)
        return out

    def _link_finding(self) -> Finding:
        lk = self.link
        lo, hi = lk.need_link_ci
        pct = [100 * (np.exp(x) - 1) for x in (lk.need_link, lo, hi)]
        word = direction_word(lk.need_link, lo, hi, up="higher", down="lower")
        how = (
            f"{display.percent(abs(pct[0]) / 100, decimals=1)} {word}"
            if word in ("higher", "lower")
            else "not clearly different"
        )
        return Finding(
            "cost_need.link",
            f"Within a placement type, weekly cost was {how} per 10 points of total need "
            f"(95% interval {display.interval(pct[1], pct[2], unit='%')}), after allowing "
            f"for measurement error in need scores (reliability {lk.reliability:.2f}) and for "
            f"price rises by placement start date "
            f"({display.percent(lk.price_growth, decimals=1)} a year).",
            word=word,
        )

    def _scenario_finding(self, word: str) -> Finding:
        return self.scenario.finding()

    def _headline(self, w: dict[str, str]) -> dict:
        tot = self.correlations.set_index("measure").loc[TOTAL_NEED]
        v = self.variance.set_index("model")["r2"]
        sc = self.scenario
        h = {
            "cost_need_spearman_total": round(float(tot["spearman_rho"]), 2),
            "cost_need_r2_type": round(float(v["type"]), 3),
            "cost_need_r2_need": round(float(v["need"]), 3),
        }
        if w["scenario"] != "not estimable":
            lo, hi = sc.annual_ci
            # shown as text, so no headline can state the saving without its interval
            h["needs_matched_annual_saving"] = (
                f"{display.money(sc.annual_saving)} (95% interval "
                f"{display.interval(lo, hi, unit='£', decimals=0)}"
                + (
                    "; includes zero, so no saving can be claimed)"
                    if sc.interval_includes_zero
                    else ")"
                )
            )
            h["needs_matched_annual_saving_gbp"] = round(sc.annual_saving, 0)
            h["needs_matched_annual_saving_interval"] = [round(lo, 0), round(hi, 0)]
            h["needs_matched_interval_includes_zero"] = bool(sc.interval_includes_zero)
        return h

    def _tables(self) -> list[Table]:
        tabs = self.report_tables()
        out = [
            Table(
                "Needs-matched scenario (GBP; interval by resampling children)",
                tabs["scenario"].rename(
                    columns={
                        "figure": "Figure",
                        "estimate": "Estimate",
                        "ci_low": "95% interval from",
                        "ci_high": "to",
                    }
                ),
                {"Figure": "label", "Estimate": "stat", "95% interval from": "stat", "to": "stat"},
            ),
            Table(
                "Children by placement type now, and the number expected from the mix that "
                "children with similar needs receive",
                tabs["scenario_by_type"].reset_index(),
                {
                    "Placement type": "label",
                    "Children now": "count",
                    "Expected for their needs": "value",
                },
                universe=UNIVERSE_SCENARIO,
                dims={"Placement type": "placement_type"},
            ),
        ]
        if "scenario_sensitivity" in tabs:
            out.append(
                Table(
                    "Needs-matched saving a year under other definitions of similar needs (GBP)",
                    tabs["scenario_sensitivity"],
                    {
                        "Similar needs": "label",
                        "Saving a year": "stat",
                        "95% interval from": "stat",
                        "to": "stat",
                    },
                )
            )
        mix = tabs["mix_by_need_band"].reset_index()
        out.append(
            Table(
                f"Placement type by band of total need, {self.at:%-d %B %Y}",
                mix,
                {"Placement type": "label", **{c: "count" for c in mix.columns[1:]}},
                universe=UNIVERSE_SNAPSHOT,
                dims={"Placement type": "placement_type"},
                columns_dim="need_band",
            )
        )
        out.append(
            Table(
                "Weekly cost by placement type (GBP)",
                tabs["cost_by_type"].rename(
                    columns={
                        "label": "Placement type",
                        "median_weekly_cost": "Median",
                        "lower_quartile": "Lower quartile",
                        "upper_quartile": "Upper quartile",
                    }
                ),
                {
                    "Placement type": "label",
                    "Median": "stat",
                    "Lower quartile": "stat",
                    "Upper quartile": "stat",
                },
            )
        )
        corr = tabs["correlations"].rename(
            columns={
                "label": "Need",
                "spearman_rho": "Correlation",
                "ci_low": "from",
                "ci_high": "to",
                "children": "Children",
                "assessments": "Assessments",
            }
        )
        out.append(
            Table(
                "Correlation of weekly cost with need (Spearman, 95% interval)",
                corr,
                {
                    "Need": "label",
                    "Correlation": "stat",
                    "from": "stat",
                    "to": "stat",
                    "Children": "count",
                    "Assessments": "count",
                },
                # each row counts its own children: those with a cost and that need scored
                cell_universes=self._correlation_universes(corr["Need"]),
            )
        )
        var = tabs["variance_explained"].rename(
            columns={"description": "Model", "r2": "Share of variation in log weekly cost"}
        )
        out.append(
            Table(
                "Variation in (log) weekly cost explained by placement type and need",
                var,
                {"Model": "label", "Share of variation in log weekly cost": "percent"},
            )
        )
        flags = tabs["flags"].reset_index()
        out.append(
            Table(
                f"Children flagged for review: cost high or low for their need (top and bottom "
                f"{display.percent(self.flags.quantile)}); children are never named here",
                flags,
                {"Placement type": "label", **{c: "count" for c in flags.columns[1:]}},
                universe=UNIVERSE_FLAGGED,
                dims={"Placement type": "placement_type"},
                columns_dim=FLAG,
            )
        )
        return out

    def _correlation_universes(self, labels: pd.Series) -> dict[tuple[str, str], str]:
        """The population each row of the correlation table counts (rows as in
        :attr:`correlations`)."""
        out: dict[tuple[str, str], str] = {}
        for label, m in zip(labels, self.correlations["measure"], strict=True):
            row = str(label)
            scored = "" if m == TOTAL_NEED else f" scored in {m}"
            out[(row, "Children")] = f"{UNIVERSE_ASSESSED}{scored}"
            out[(row, "Assessments")] = f"cost_need_assessments{scored}"
        return out

    def report_tables(self) -> dict[str, pd.DataFrame]:
        """Every table meant for a report, after disclosure control."""
        corr = self.correlations.drop(columns=["measure", "method"])
        corr = privacy.suppress_stats(
            corr, n_col="children", stat_cols=["spearman_rho", "ci_low", "ci_high"], decimals=2
        )
        corr = privacy.suppress_long(corr, count_col="children", totals="none").table
        corr["assessments"] = [
            privacy.format_count(v, h)
            for v, h in zip(
                self.correlations["assessments"],
                corr["children"] == privacy.SUPPRESSED,
                strict=True,
            )
        ]
        var = self.variance[["description", "r2"]].copy()
        var["r2"] = [display.percent(r, decimals=1) if np.isfinite(r) else "" for r in var["r2"]]
        out = {
            "correlations": privacy.safe_frame(corr),
            "variance_explained": privacy.safe_frame(var),
            "flags": self.flags.report_table(),
        }
        out.update(self.scenario.report_tables())
        if self.sensitivity is not None and not self.scenario.in_sample:
            s = self.sensitivity
            small = s["children"] < privacy.MIN_N
            out["scenario_sensitivity"] = pd.DataFrame(
                {
                    "Similar needs": s["definition"],
                    "Saving a year": [
                        privacy.SUPPRESSED if h else display.money(v * WEEKS_PER_YEAR)
                        for v, h in zip(s["weekly_saving"], small, strict=True)
                    ],
                    "95% interval from": [
                        privacy.SUPPRESSED if h else display.money(v * WEEKS_PER_YEAR)
                        for v, h in zip(s["ci_low"], small, strict=True)
                    ],
                    "to": [
                        privacy.SUPPRESSED if h else display.money(v * WEEKS_PER_YEAR)
                        for v, h in zip(s["ci_high"], small, strict=True)
                    ],
                }
            )
        out.update(self.mix.report_tables())
        if self.link is not None:
            tm = self.link.type_medians.copy()
            tm.insert(0, "label", tm[Col.placement_type].map(PLACEMENT_LABELS))
            tm = privacy.suppress_stats(
                tm,
                n_col="children",
                stat_cols=["median_at_reference", "ci_low", "ci_high"],
                decimals=0,
            ).drop(columns=[Col.placement_type, "placements", "children"])
            out["type_medians_at_reference"] = tm
        return {k: privacy.safe_frame(v) for k, v in out.items()}


def spend(
    ds: Dataset,
    *,
    at: str | pd.Timestamp | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    lookback_days: int = LOOKBACK_DAYS,
    reference: Dataset | pd.DataFrame | None = None,
    scenario_method: str = "groups",
    k: int | None = None,
    sensitivity: bool = True,
    flag_quantile: float = 0.1,
    correlation_method: str = "bootstrap",
    n_boot: int = 500,
    seed: int = 0,
    correct_measurement_error: bool = True,
    progress: bool | None = None,
) -> SpendResult:
    """Cost against need for every child in ``ds``.

    Parameters
    ----------
    ds : Dataset
    at : date, optional
        Date of the snapshot used for flags, the scenario and the mix
        (default: the latest date in the data).
    start, end : date, optional
        Period of the assessments used for correlations, variance explained
        and the cost-need link (default: all).
    lookback_days : int
        A child's need profile on ``at`` is their latest review in this many
        days before it.
    reference : Dataset or DataFrame, optional
        The comparison population of the needs-matched scenario (e.g. the
        other councils; children also in ``ds`` are left out of it), or its
        :func:`snapshot_frame` on ``at`` with ``lookback_days`` already made
        (a batch of reports makes every council's once). None: no
        comparison, and the scenario says it cannot be estimated.
    scenario_method, k : see :func:`needs_matched_scenario`.
    sensitivity : bool
        Also compute the scenario under other definitions of similar needs
        (:func:`scenario_sensitivity`, at most 100 resamples each).
    flag_quantile : float
        Share flagged in each tail (:func:`flag_cost_need`).
    correlation_method, n_boot : see :func:`cost_need_correlation`; ``n_boot``
        also sets the scenario's resamples.
    seed : int
    correct_measurement_error : bool
        Correct the cost-need link for error in need scores (needs repeat
        assessments by different practitioners).

    Raises
    ------
    ValueError
        If no assessment falls within a placement, or no child is in care on
        ``at`` with a placement and a recent review (nothing to describe).
        Small numbers of children do not raise: figures about fewer than 6
        are hidden by :meth:`SpendResult.report_tables` and worded in
        :meth:`SpendResult.summary`.
    """
    fw = ds.framework
    wide = scores_wide(ds)
    frame = need_cost_frame(ds, start=start, end=end, wide=wide)
    if frame.empty:
        raise ValueError("no assessment falls within a placement: nothing to compare")
    domains = [d for d in fw.domain_ids if d in frame.columns]
    needs = [d for d in fw.need_domains if d in frame.columns]
    labels = {TOTAL_NEED: fw.label(TOTAL_NEED), **{d: fw.label(d) for d in domains}}
    corr = cost_need_correlation(
        frame,
        measures=[TOTAL_NEED, *domains],
        method=correlation_method,
        n_boot=n_boot,
        seed=seed,
        labels=labels,
        progress=progress,
    )
    var = variance_explained(frame, domains=needs)
    snap = snapshot_frame(ds, at=at, lookback_days=lookback_days, wide=wide)
    if snap.empty:
        raise ValueError(
            f"no child was in care on {pd.Timestamp(snap.attrs['at']):%d %B %Y} with a "
            f"placement and a review in the {lookback_days} days before"
        )
    flags = flag_cost_need(snap, quantile=flag_quantile)
    ref_snap = None
    if reference is not None:
        ref_snap = (
            reference
            if isinstance(reference, pd.DataFrame)
            else snapshot_frame(reference, at=snap.attrs["at"], lookback_days=lookback_days)
        )
        ref_snap = ref_snap[~isin(ref_snap[Col.child_id], snap[Col.child_id])]
        if ref_snap.empty:
            ref_snap = None
    scen = needs_matched_scenario(
        snap,
        domains=needs,
        reference=ref_snap,
        method=scenario_method,
        k=k,
        n_boot=n_boot,
        seed=seed,
    )
    sens = (
        scenario_sensitivity(
            snap, domains=needs, reference=ref_snap, n_boot=min(n_boot, 100), seed=seed
        )
        if sensitivity and ref_snap is not None
        else None
    )
    mix = mix_by_need_band(snap, fw)
    caveats = [
        OBSERVATIONAL,
        "Weekly costs are those recorded for each placement; differences in price between "
        "placements starting in different years are part of the variation need does not "
        "explain.",
        "Need scores are measured with error (two practitioners rarely give the same "
        "score), which weakens every correlation with need; the within-type cost-need link "
        "is corrected for this, the correlations are not.",
        "Children who cost much more or less than others of similar need are flagged for "
        "review only; a flag is not a finding that a placement is wrong.",
    ]
    link = None
    ev: ErrorVariance | None = None
    if correct_measurement_error:
        try:
            ev = need_error_variance(ds, wide=wide)
        except ValueError as err:
            caveats.append(f"The cost-need link is not corrected for measurement error: {err}.")
    try:
        link = cost_need_link(frame, error_var=ev)
        caveats += link.warnings
    except (ValueError, np.linalg.LinAlgError, KeyError) as err:
        caveats.append(f"The within-type cost-need link could not be estimated: {err}.")
    return SpendResult(
        at=pd.Timestamp(snap.attrs["at"]),
        frame=frame,
        snapshot=snap,
        correlations=corr,
        variance=var,
        flags=flags,
        scenario=scen,
        mix=mix,
        link=link,
        bins=cost_need_bins(frame),
        lines=fit_lines(frame),
        caveats=caveats + [c for c in scen.caveats if c not in caveats],
        sensitivity=sens,
    )


# --------------------------------------------------------------------------
# Wording: every judgement word, from the numbers, here
# --------------------------------------------------------------------------

#: Universes of the counts the summary states (see :class:`vc_eval.core.summary.Count`).
UNIVERSE_ASSESSED = "cost_need_assessed_children"
UNIVERSE_SNAPSHOT = "in_care_with_placement_and_review"
#: Children of the snapshot in foster, children's home or supported placements.
UNIVERSE_SCENARIO = "needs_matched_scenario_children"
#: Children of the snapshot flagged as costing more or less than others of similar need.
UNIVERSE_FLAGGED = "cost_need_flagged_children"
#: Edges of |Spearman rho| for "barely", "weakly", "moderately", "strongly".
STRENGTH_EDGES = (0.1, 0.3, 0.5)


def strength_word(rho: float) -> str:
    """ "barely", "weakly", "moderately" or "strongly", from |rho|."""
    a = abs(float(rho))
    if not np.isfinite(a):
        return "unknown"
    return ("barely", "weakly", "moderately", "strongly")[
        int(np.searchsorted(STRENGTH_EDGES, a, side="right"))
    ]


def direction_word(
    est: float, lo: float, hi: float, *, up: str = "rose", down: str = "fell"
) -> str:
    """``up`` or ``down`` when the interval excludes zero, else "did not clearly change"."""
    return display.direction_word(est, lo, hi, up=up, down=down, neither="did not clearly change")


def _count(n: int) -> str:
    return display.count_text(n)


def stated_counts(universe: str, pairs) -> tuple[Count, ...]:
    """:class:`Count` declarations for the counts a sentence states as numbers.

    ``pairs`` is ``(n, where)``; counts of 1-5 are worded "fewer than 6" by
    :func:`vc_eval.core.display.count_text`, so state no number and are left out.
    """
    lo, hi = privacy.THRESHOLD
    return tuple(Count(int(n), universe, tuple(w)) for n, w in pairs if not lo <= int(n) <= hi)
