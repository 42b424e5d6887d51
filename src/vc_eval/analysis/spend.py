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

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from tqdm.auto import tqdm

from vc_eval.analysis.measurement_error import (
    ErrorVariance,
    composite_scores,
    eiv_ols,
    error_variance,
    single_thread_blas,
)
from vc_eval.core import privacy
from vc_eval.core.costs import REFERENCE_DATE
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED, Framework
from vc_eval.core.population import age_band, in_care_on, placements_on, snapshot_date
from vc_eval.core.schema import DAYS_PER_YEAR, PLACEMENT_LABELS, PLACEMENT_TYPES, Col

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
    lookback_days: int = 365,
    repeat_window_days: int = 14,
    wide: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per child in care on ``at``: current placement and latest need profile.

    The need profile is the child's latest review in the ``lookback_days``
    before ``at`` (scores of the same review by two practitioners within
    ``repeat_window_days`` are averaged). Children with no placement on
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
    last = recent.groupby(Col.child_id)[Col.assessment_date].transform("max")
    recent = recent[recent[Col.assessment_date] >= last - pd.Timedelta(days=repeat_window_days)]
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
    ds: Dataset, domains: Sequence[str] | None = None, *, window_days: int = 14
) -> ErrorVariance:
    """Measurement-error variance of total need (or the mean of ``domains``).

    Estimated from reviews scored twice by different practitioners (see
    :mod:`vc_eval.analysis.measurement_error`).
    """
    doms = list(domains) if domains is not None else ds.framework.need_domains
    return error_variance(composite_scores(ds.assessments, doms), window_days=window_days)


# --------------------------------------------------------------------------
# Correlation and variance explained
# --------------------------------------------------------------------------


def _rank_sums(x: np.ndarray, y: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-child sums (n, rx, ry, rx^2, ry^2, rx*ry) of the full-sample ranks."""
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    cols = (np.ones_like(rx), rx, ry, rx * rx, ry * ry, rx * ry)
    return np.column_stack([np.bincount(codes, weights=c, minlength=n_groups) for c in cols])


def _spearman_boot(
    sums: list[np.ndarray], n_groups: int, n_boot: int, seed: int, chunk: int = 50
) -> list[np.ndarray]:
    """Bootstrap Spearman correlations for several measures from per-child rank sums.

    Each resample draws ``n_groups`` children with replacement, shared by
    every measure; resamples are drawn in chunks to bound memory.
    """
    rng = np.random.default_rng(seed)
    totals: list[list[np.ndarray]] = [[] for _ in sums]
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n_groups, (b, n_groups))
        w = np.stack([np.bincount(d, minlength=n_groups) for d in draws]).astype(float)
        with single_thread_blas():
            for k, sm_ in enumerate(sums):
                totals[k].append(w @ sm_)
    out = []
    for parts in totals:
        t = np.concatenate(parts) if parts else np.empty((0, 6))
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
    for m in tqdm(
        measures, desc="correlations", disable=None if progress is None else not progress
    ):
        ok = frame[m].notna() & frame[cost].notna()
        x = frame.loc[ok, m].to_numpy(dtype=float)
        y = frame.loc[ok, cost].to_numpy(dtype=float)
        grp = g_codes[ok.to_numpy()]
        n_children = int(np.unique(grp).size)
        rho, lo, hi = np.nan, np.nan, np.nan
        if x.size >= 3 and n_children >= 4:
            rho = float(stats.spearmanr(x, y).statistic)
            if method == "fisher":
                se = np.sqrt((1 + rho**2 / 2) / (n_children - 3))
                z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
                q = stats.norm.ppf(1 - alpha / 2)
                lo, hi = float(np.tanh(z - q * se)), float(np.tanh(z + q * se))
            else:
                sums.append(_rank_sums(x, y, grp, len(g_uniq)))
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
            res = sm.OLS(yv, sm.add_constant(x.to_numpy(), has_constant="add")).fit()
        return float(res.rsquared), float(res.rsquared_adj)

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
    x = sm.add_constant(d[need].to_numpy(dtype=float))
    res = sm.OLS(yv, x).fit()
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
class NeedsMatchedScenario:
    """What the population would cost with each child in the type typical for their needs.

    Attributes
    ----------
    per_child : DataFrame
        Analyst use only (holds child ids): ``child_id, age_band,
        placement_type, typical_type, weekly_cost, scenario_cost, saving``.
    type_costs : Series
        Median weekly cost of each placement type on the date (the price
        used when a child's typical type differs from their current one).
    weekly_saving : float
        Net: current total weekly cost minus scenario total (negative means
        the scenario costs more).
    weekly_ci : tuple of float
        Bootstrap interval (resampling children).
    gross_down, gross_up : float
        Weekly saving from children whose typical type is cheaper, and the
        extra cost of those whose typical type is dearer.
    residential_to_foster : tuple of int
        Children in children's homes, and of those, how many have foster care
        as the typical type for their needs.
    method, k, level : str, int, float
    caveats : list of str
    """

    per_child: pd.DataFrame = field(repr=False)
    type_costs: pd.Series
    weekly_saving: float
    weekly_ci: tuple[float, float]
    gross_down: float
    gross_up: float
    n_children: int
    n_changed: int
    residential_to_foster: tuple[int, int]
    method: str
    k: int
    level: float
    boot: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    caveats: list[str] = field(default_factory=list)

    @property
    def annual_saving(self) -> float:
        return self.weekly_saving * WEEKS_PER_YEAR

    @property
    def annual_ci(self) -> tuple[float, float]:
        return (self.weekly_ci[0] * WEEKS_PER_YEAR, self.weekly_ci[1] * WEEKS_PER_YEAR)

    def transitions(self) -> pd.DataFrame:
        """Children by current type (rows) and typical type for their needs (columns)."""
        pc = self.per_child
        t = pd.crosstab(pc[Col.placement_type], pc["typical_type"])
        order = [x for x in PLACEMENT_TYPES if x in set(t.index) | set(t.columns)]
        return t.reindex(index=order, columns=order).fillna(0).astype(int)

    def by_type(self, *, min_n: int = privacy.MIN_N) -> pd.DataFrame:
        """Current and scenario weekly cost by current type (types of ``min_n``+ children).

        Returns
        -------
        DataFrame
            ``placement_type, label, children, current_weekly_cost,
            scenario_weekly_cost, saving``.
        """
        g = self.per_child.groupby(Col.placement_type)
        t = pd.DataFrame(
            {
                "children": g.size(),
                "current_weekly_cost": g[Col.weekly_cost].sum(),
                "scenario_weekly_cost": g["scenario_cost"].sum(),
                "saving": g["saving"].sum(),
            }
        )
        t = t.reindex([x for x in PLACEMENT_TYPES if x in t.index])
        t = t[t["children"] >= min_n].rename_axis(Col.placement_type).reset_index()
        t.insert(1, "label", t[Col.placement_type].map(PLACEMENT_LABELS))
        return t

    def summary(self) -> str:
        lo, hi = self.annual_ci
        n_res, n_res_foster = self.residential_to_foster
        res = (
            f" Of the {_count(n_res)} children in children's homes, {_count(n_res_foster)} "
            "have foster care as the most common placement for children with similar needs."
            if n_res
            else ""
        )
        if self.n_children < privacy.MIN_N:
            return (
                f"Needs-matched scenario: too few children ({_count(self.n_children)}) to describe."
            )
        direction = "saving" if self.weekly_saving >= 0 else "extra cost"
        return (
            f"Needs-matched scenario ({_count(self.n_children)} children): if each child were in "
            "the placement type most common for children of the same age band with a "
            f"similar need profile, the net weekly {direction} would be about "
            f"{_money(abs(self.weekly_saving))} ({_money(abs(self.annual_saving))} a year; "
            f"{self.level:.0%} interval {_money(lo)} to {_money(hi)} a year). "
            f"{_count(self.n_changed)} children's typical type differs from their current one."
            + res
        )

    def report_tables(self) -> dict[str, pd.DataFrame]:
        """Headline figures and the transitions table, after disclosure control."""
        lo, hi = self.weekly_ci
        a_lo, a_hi = self.annual_ci
        n = self.n_children
        head = pd.DataFrame(
            {
                "figure": [
                    "Net weekly saving (GBP)",
                    "Net annual saving (GBP)",
                    "Weekly saving from cheaper typical types (GBP)",
                    "Weekly extra cost of dearer typical types (GBP)",
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
        head = privacy.suppress_stats(
            head, n_col="children", stat_cols=["estimate", "ci_low", "ci_high"], decimals=0
        ).drop(columns=["children"])
        t = self.transitions()
        t.index = [PLACEMENT_LABELS.get(i, i) for i in t.index]
        t.columns = [PLACEMENT_LABELS.get(c, c) for c in t.columns]
        t.index.name = "Current placement type"
        t[privacy.TOTAL] = t.sum(axis=1)
        t.loc[privacy.TOTAL] = t.sum()
        return {"scenario": head, "scenario_transitions": privacy.suppress(t).table}


def _modal(counts: np.ndarray, own: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Modal type per row of ``counts``; ties go to the child's own type, then the cheapest."""
    top = counts.max(axis=1, keepdims=True)
    tied = (counts == top) & (top > 0)
    rows = np.arange(counts.shape[0])
    own_ok = (own >= 0) & tied[rows, np.maximum(own, 0)]
    # cheapest among ties: rank by price, NaN last
    order = np.argsort(np.where(np.isfinite(price), price, np.inf), kind="stable")
    tied_sorted = tied[:, order]
    cheapest = order[np.argmax(tied_sorted, axis=1)]
    out = np.where(own_ok, own, cheapest)
    return np.where(top[:, 0] > 0, out, own)


def needs_matched_scenario(
    snapshot: pd.DataFrame,
    *,
    domains: Sequence[str],
    method: str = "knn",
    k: int = 15,
    scenario_types: Sequence[str] = SCENARIO_TYPES,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    min_pool: int = 6,
) -> NeedsMatchedScenario:
    """Cost of each child's typical placement type for their needs, summed into a saving.

    For each child in a ``scenario_types`` placement, the typical type is the
    most common type among the ``k`` children (in ``scenario_types``
    placements, same DfE age band, excluding the child) nearest in need
    profile (``method="knn"``: Euclidean distance over the domain scores), or
    among the children in the same total-need band and age band
    (``method="bands"``). Where it differs from the child's current type, the
    scenario cost is that type's median weekly cost on the date; otherwise
    the child's own cost is kept. Children in other placement types (kinship,
    with parents, secure, other) keep their placement and cost.

    Parameters
    ----------
    snapshot : DataFrame
        One row per child (:func:`snapshot_frame`).
    domains : sequence of str
        Domain columns of the need profile (``knn``).
    method : {"knn", "bands"}
    k : int
        Neighbours (``knn``).
    scenario_types : sequence of str
        Types the scenario may assign and move children out of.
    n_boot : int
        Bootstrap resamples of children for the interval. Each resample
        recomputes the type medians; each child's typical type is held fixed.
    level : float
    seed : int
    min_pool : int
        Smallest comparison group (children in the age band) for a child to be
        matched; children in smaller groups keep their placement.

    Returns
    -------
    NeedsMatchedScenario
    """
    if method not in ("knn", "bands"):
        raise ValueError("method must be 'knn' or 'bands'")
    types = list(PLACEMENT_TYPES)
    tidx = {t: i for i, t in enumerate(types)}
    snap = snapshot.reset_index(drop=True)
    if snap.empty:
        raise ValueError("no children in care with a placement and a recent review")
    cur = snap[Col.placement_type].map(tidx).to_numpy()
    cost = snap[Col.weekly_cost].to_numpy(dtype=float)
    price = np.array(
        [np.median(cost[cur == i]) if (cur == i).any() else np.nan for i in range(len(types))]
    )
    allowed = np.isin(snap[Col.placement_type].to_numpy(), list(scenario_types))
    prof = snap[list(domains)].to_numpy(dtype=float) if method == "knn" else None
    if prof is not None:
        # a missing domain score counts as the mean of that child's other scores
        row_mean = np.nanmean(prof, axis=1, keepdims=True)
        prof = np.where(np.isnan(prof), row_mean, prof)
    typical = cur.copy()
    bands = snap[AGE_BAND].astype(str).to_numpy()
    for band in np.unique(bands):
        in_band = np.flatnonzero((bands == band) & allowed)
        if in_band.size < min_pool:
            continue
        if method == "knn":
            from sklearn.neighbors import NearestNeighbors

            kk = min(k + 1, in_band.size)
            nn = NearestNeighbors(n_neighbors=kk).fit(prof[in_band])
            _, idx = nn.kneighbors(prof[in_band])
            neigh = in_band[idx]
            not_self = neigh != in_band[:, None]
            counts = np.zeros((in_band.size, len(types)))
            for col in range(kk):
                sel = not_self[:, col] & (np.cumsum(not_self, axis=1)[:, col] <= k)
                np.add.at(counts, (np.flatnonzero(sel), cur[neigh[sel, col]]), 1)
        else:
            need_band = snap[NEED_BAND].to_numpy()[in_band]
            counts = np.zeros((in_band.size, len(types)))
            for nb in np.unique(need_band):
                rows = np.flatnonzero(need_band == nb)
                c = np.bincount(cur[in_band[rows]], minlength=len(types)).astype(float)
                counts[rows] = c
            counts[np.arange(in_band.size), cur[in_band]] -= 1  # exclude the child
        typical[in_band] = _modal(counts, cur[in_band], price)
    changed = typical != cur
    scen = np.where(changed, price[typical], cost)
    saving = cost - scen
    rng = np.random.default_rng(seed)
    n = len(snap)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        ix = rng.integers(0, n, n)
        cb, tb, ch, ty = cost[ix], cur[ix], changed[ix], typical[ix]
        pb = np.array(
            [np.median(cb[tb == i]) if (tb == i).any() else np.nan for i in range(len(types))]
        )
        pt = pb[ty]
        # a type absent from the resample keeps its full-sample price
        pt = np.where(np.isfinite(pt), pt, price[ty])
        boot[b] = float(np.sum(np.where(ch, cb - pt, 0.0)))
    alpha = 1 - level
    ci = (
        tuple(float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
        if n_boot
        else (np.nan, np.nan)
    )
    per_child = pd.DataFrame(
        {
            Col.child_id: snap[Col.child_id].to_numpy(),
            AGE_BAND: bands,
            Col.placement_type: snap[Col.placement_type].to_numpy(),
            "typical_type": np.asarray(types)[typical],
            Col.weekly_cost: cost,
            "scenario_cost": scen,
            "saving": saving,
        }
    )
    res = cur == tidx[RESIDENTIAL_TYPE]
    to_foster = res & np.isin(typical, [tidx[t] for t in FOSTER_TYPES])
    caveats = [
        "The typical placement type is what is most common now for children of the same age "
        "band with similar need scores; it is not an assessment of what any child needs, and "
        "current practice may itself be shaped by cost and by which placements were available.",
        "The scenario prices a move at the type's median weekly cost; it ignores the cost of "
        "finding and supporting carers, one-off costs of moving, and whether enough foster "
        "carers exist.",
        "Moving a child has costs to the child (disruption, broken relationships) that no "
        "weekly figure shows; wishes, siblings, legal status and safety are not in the data.",
        "Kinship care, placement with parents, secure and other placements are left as they are.",
        "Need scores are measured with error; a child near the boundary between groups may be "
        "matched to the wrong one. The interval reflects which children are in care and the "
        "price of each type, not uncertainty in which type suits each child.",
        OBSERVATIONAL,
    ]
    return NeedsMatchedScenario(
        per_child=per_child,
        type_costs=pd.Series(price, index=types, name="median_weekly_cost"),
        weekly_saving=float(saving.sum()),
        weekly_ci=ci,
        gross_down=float(saving[saving > 0].sum()),
        gross_up=float(-saving[saving < 0].sum()),
        n_children=n,
        n_changed=int(changed.sum()),
        residential_to_foster=(int(res.sum()), int(to_foster.sum())),
        method=method,
        k=k,
        level=level,
        boot=boot,
        caveats=caveats,
    )


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
        groups=d[Col.child_id].to_numpy(),
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
class SpendResult:
    """Cost against need for a dataset (see :func:`spend`).

    ``frame``, ``snapshot``, ``flags.flagged`` and ``scenario.per_child``
    hold child identifiers: analyst use only. Use :meth:`report_tables`,
    :meth:`summary` and the figure data (``bins``, ``lines``) for reports.
    """

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

    def summary(self) -> str:
        """Headline findings in plain language (no identifiers, no small counts)."""
        tot = self.correlations.set_index("measure").loc[TOTAL_NEED]
        v = self.variance.set_index("model")["r2"]
        n_kids = int(tot["children"])
        if n_kids < privacy.MIN_N or not np.isfinite(tot["spearman_rho"]):
            parts = [
                f"Too few children ({_count(n_kids)}) with need scores and placement costs to "
                "describe how cost relates to need."
            ]
        else:
            parts = [
                f"Across {_count(n_kids)} children and {_count(int(tot['assessments']))} "
                f"assessments, weekly cost rose {_strength(tot['spearman_rho'])} with total "
                f"need (Spearman rho {tot['spearman_rho']:.2f}, 95% CI {tot['ci_low']:.2f} to "
                f"{tot['ci_high']:.2f})."
            ]
        if np.isfinite(v["type"]):
            parts.append(
                f"Placement type explained {v['type']:.0%} of the variation in (log) weekly "
                f"cost; total need alone explained {v['need']:.0%}, and "
                f"{v['need given type']:.1%} more once type was known."
            )
        if self.link is not None:
            parts.append(self.link.summary())
        parts.append(self.scenario.summary())
        parts.append(self.flags.summary())
        return " ".join(parts)

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
        var["r2"] = [f"{100 * r:.1f}%" if np.isfinite(r) else "x" for r in var["r2"]]
        out = {
            "correlations": privacy.safe_frame(corr),
            "variance_explained": privacy.safe_frame(var),
            "flags": self.flags.report_table(),
        }
        out.update(self.scenario.report_tables())
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
    lookback_days: int = 365,
    scenario_method: str = "knn",
    k: int = 15,
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
    scenario_method, k : see :func:`needs_matched_scenario`.
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
    wide = ds.scores_wide()
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
    scen = needs_matched_scenario(
        snap, domains=needs, method=scenario_method, k=k, n_boot=n_boot, seed=seed
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
            ev = need_error_variance(ds)
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
    )


# --------------------------------------------------------------------------
# Wording helpers
# --------------------------------------------------------------------------


def _count(n: int) -> str:
    """A count for running text: 1-5 shown as 'fewer than 6'."""
    lo, hi = privacy.THRESHOLD
    return "fewer than 6" if lo <= n <= hi else f"{n:,}"


def _money(x: float) -> str:
    if not np.isfinite(x):
        return "not available"
    sign = "-" if x < 0 else ""
    x = abs(x)
    if x >= 1e6:
        return f"{sign}GBP {x / 1e6:,.1f}m"
    if x >= 1e4:
        return f"{sign}GBP {x / 1e3:,.0f}k"
    return f"{sign}GBP {x:,.0f}"


def _strength(rho: float) -> str:
    a = abs(rho)
    if a < 0.1:
        word = "very weakly"
    elif a < 0.3:
        word = "weakly"
    elif a < 0.5:
        word = "moderately"
    else:
        word = "strongly"
    return word if rho >= 0 else f"{word} (negatively)"
