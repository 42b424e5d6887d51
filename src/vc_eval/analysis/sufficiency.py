"""Sufficiency planned from need: the care population projected by quarter.

Two models, estimated on the same data up to an origin date and simulated
forward by quarter (vectorised over children, one loop over simulations):

* **need-driven** (the default when need scores exist): each child's total
  need follows the fitted growth curve of total need by age plus the child's
  own random intercept and slope (drawn from their posterior given the
  child's scores); every quarter a child leaves care with a hazard by age
  band and band of age at entry to care (children who come into care young
  or as teenagers stay for different lengths of time), otherwise moves with
  a hazard by age band and need band, and a move (or an entry) draws the
  new placement type from the mix that children of that age band and need
  band received (or a target mix). Entries are
  Poisson, resampling recent entrants (age at entry and need at entry).
* **flow** (the baseline councils already use): a Markov chain of quarterly
  moves between placement types and out of care by age band, estimated from
  the placements table alone. Used alone when there are no need scores
  (SSDA903 data only).

Simulation intervals include parameter uncertainty: every simulation draws
its hazards (beta), mixes and transition rows (Dirichlet) and entry rate
(gamma) from their posteriors before simulating the population.

Example::

    from vc_eval.core.dataset import Dataset
    from vc_eval.analysis.sufficiency import sufficiency

    ds = Dataset.load("data/synthetic")
    res = sufficiency(ds, council="Bitternmere", years=3)
    res.summary()              # findings, tables, caveats
    res.by_type("children")    # mean and 90% interval by quarter and type
    res.baseline.by_type()     # the flow model on the same data
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from vc_eval.core import display
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.population import AGE_BAND_EDGES, AGE_BAND_LABELS
from vc_eval.core.schema import (
    ASSESSMENTS,
    CHILDREN,
    DAYS_PER_YEAR,
    PLACEMENT_LABELS,
    PLACEMENT_TYPES,
    PLACEMENTS,
    Col,
    ValidationError,
    Violation,
)
from vc_eval.core.summary import Count, Finding, Result, Summary, Table

QUARTER_DAYS = DAYS_PER_YEAR / 4
#: Children leave care at 18.
LEAVING_AGE = 18.0
#: Quarters of history the rates are estimated from (by default).
FIT_QUARTERS = 12
#: Strength (in child-quarters) of the age band's exit rate as the prior of
#: each age band x age-at-entry cell.
EXIT_PRIOR = 4.0
#: Interval level of projections (a planning range, not a test).
LEVEL = 0.90
NEED_MODEL = "need-driven"
FLOW_MODEL = "flow"
#: Universe of the children in care with a placement at the origin (the population as
#: it is, counted by placement type as ``placement`` = its label) that the sentences
#: and figures state.
UNIVERSE_ORIGIN = "in_care_origin"
#: Universe of the projected children (means of simulations, not counts of real
#: children), one per model (:func:`projected_universe`): the need-driven and flow
#: models project different numbers of the same children.
UNIVERSE_PROJECTED = "projected_in_care"


def projected_universe(model: str) -> str:
    """Universe of one model's projected children (see :data:`UNIVERSE_PROJECTED`)."""
    return f"{UNIVERSE_PROJECTED} ({model} model)"


_T = len(PLACEMENT_TYPES)
_A = len(AGE_BAND_LABELS)
_AGE_GRID = np.round(np.arange(0.0, 19.0001, 0.01), 2)


_AGE_EDGES = tuple(float(e) for e in AGE_BAND_EDGES[1:-1])
_GRID_STEP = 0.01


def _age_band(age: np.ndarray) -> np.ndarray:
    """Index of the DfE age band (0..4) of each age."""
    # a sum of comparisons: several times faster than searchsorted on 4 edges
    out = np.zeros(np.shape(age), dtype=np.intp)
    for e in _AGE_EDGES:
        out += age >= e
    return out


def _on_grid(values: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values`` (on :data:`_AGE_GRID`) at ``age``, by index."""
    x = np.clip(age, 0.0, _AGE_GRID[-1] - 1e-9) / _GRID_STEP
    i = x.astype(np.intp)
    f = x - i
    return values[i] * (1 - f) + values[i + 1] * f


# --------------------------------------------------------------------------
# Truncating a dataset at a date (what was known then)
# --------------------------------------------------------------------------


def as_of(ds: Dataset, date: str | pd.Timestamp) -> Dataset:
    """The dataset as it stood on ``date``: later entries, scores and placements
    removed, and leavings and placement ends after ``date`` not yet known."""
    d = pd.Timestamp(date)
    c = ds.children[ds.children[Col.entered_care] <= d].copy()
    c.loc[c[Col.left_care] > d, Col.left_care] = pd.NaT
    a = ds.assessments[ds.assessments[Col.assessment_date] <= d]
    p = ds.placements[ds.placements[Col.start_date] <= d].copy()
    p.loc[p[Col.end_date] > d, Col.end_date] = pd.NaT
    tables = dict(ds.tables)
    tables.update({CHILDREN: c, ASSESSMENTS: a, PLACEMENTS: p})
    return Dataset(tables, metadata=dict(ds.metadata), framework=ds.framework)


# --------------------------------------------------------------------------
# Latent need: the fitted curve plus each child's own effects
# --------------------------------------------------------------------------


@dataclass
class NeedModel:
    """Total need by age: population curve and each child's random effects.

    ``curve`` is the fitted mean on :data:`_AGE_GRID`; ``centre`` the age of
    the random intercept; ``cov_re`` the 2x2 covariance of (intercept, slope
    per year); ``mean`` and ``chol`` each child's posterior mean and Cholesky
    factor (lower: l11, l21, l22) of their random effects given their scores.
    """

    curve: np.ndarray
    centre: float
    cov_re: np.ndarray
    children: pd.Index
    mean: np.ndarray
    chol: np.ndarray
    bands: list[str]
    band_edges: np.ndarray

    def prior_chol(self) -> np.ndarray:
        return _chol2(self.cov_re[0, 0], self.cov_re[1, 0], self.cov_re[1, 1])

    def need(self, age: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Latent total need (0-100) at ``age`` for effects ``b`` (n, 2)."""
        mu = _on_grid(self.curve, age)
        return np.clip(mu + b[:, 0] + b[:, 1] * (age - self.centre), 0, 100)

    def band(self, need: np.ndarray) -> np.ndarray:
        """Band index (0..B-1), the framework's banding (a score on an upper edge is in
        the lower band, as :meth:`Framework.band_of`)."""
        out = np.zeros(np.shape(need), dtype=np.intp)
        for e in self.band_edges:
            out += need > e
        return out


def _chol2(a, b, c) -> np.ndarray:
    """Cholesky factors of 2x2 matrices [[a, b], [b, c]] (arrays), as (n, 3)."""
    a, b, c = (np.asarray(x, dtype=float) for x in (a, b, c))
    l11 = np.sqrt(np.clip(a, 1e-12, None))
    l21 = b / l11
    l22 = np.sqrt(np.clip(c - l21**2, 1e-12, None))
    return np.stack(np.broadcast_arrays(l11, l21, l22), axis=-1)


def fit_need_model(ds: Dataset) -> NeedModel:
    """Fit total need by age (the trajectories' growth model) and each child's effects.

    Raises
    ------
    ValueError
        If there are no need scores to fit.
    """
    from vc_eval.analysis.trajectories import fit_domains

    fits = fit_domains(ds, domains=[], include_total=True, areas=False, random="slope")
    if TOTAL_NEED not in fits:
        raise ValueError("total need could not be fitted: " + str(fits.skipped))
    fit = fits[TOTAL_NEED]
    curve = fit.curve(_AGE_GRID)["estimate"].to_numpy()
    cov = np.asarray(fit.cov_re, dtype=float)
    if cov.shape != (2, 2):
        cov = np.array([[cov[0, 0], 0.0], [0.0, 1e-6]])
    centre = float(fit.basis.centre)
    s2 = float(fit.scale)
    data = fit.data
    ages = data[Col.age_at_assessment].to_numpy(float)
    r = data[Col.score].to_numpy(float) - np.interp(ages, _AGE_GRID, curve)
    t = ages - centre
    codes, kids = pd.factorize(data[Col.child_id].astype(str))
    n = len(kids)

    def s(x):
        return np.bincount(codes, weights=x, minlength=n)

    zz = np.stack([s(np.ones_like(t)), s(t), s(t * t)], axis=1) / s2
    zr = np.stack([s(r), s(t * r)], axis=1) / s2
    dinv = np.linalg.inv(cov + np.eye(2) * 1e-9)
    pa, pb, pc = zz[:, 0] + dinv[0, 0], zz[:, 1] + dinv[0, 1], zz[:, 2] + dinv[1, 1]
    det = pa * pc - pb * pb
    va, vb, vc = pc / det, -pb / det, pa / det
    mean = np.stack([va * zr[:, 0] + vb * zr[:, 1], vb * zr[:, 0] + vc * zr[:, 1]], axis=1)
    fw = ds.framework
    return NeedModel(
        curve=curve,
        centre=centre,
        cov_re=cov,
        children=pd.Index(kids),
        mean=mean,
        chol=_chol2(va, vb, vc),
        bands=[str(b.band) for b in fw.bands],
        band_edges=np.array([b.max for b in fw.bands[:-1]], dtype=float),
    )


# --------------------------------------------------------------------------
# Estimation: a quarterly panel of the children in care before the origin
# --------------------------------------------------------------------------


@dataclass
class SufficiencyModel:
    """Rates and the starting population, estimated up to ``origin``.

    Counts are kept (not rates) so each simulation can draw the rates from
    their posteriors. Arrays are indexed [age band, need band, placement type]
    (need band only in the need-driven model).
    """

    origin: pd.Timestamp
    kind: str
    quarters_used: int
    # starting population (children in care on the origin with a placement)
    start_age: np.ndarray
    start_type: np.ndarray
    start_cost: np.ndarray
    start_b_mean: np.ndarray | None
    start_b_chol: np.ndarray | None
    # entrants (in care at the end of their entry quarter)
    n_entrants: int
    entry_age: np.ndarray
    entry_type: np.ndarray
    entry_b_mean: np.ndarray | None
    entry_b_chol: np.ndarray | None
    # need-driven counts
    # exits by age band and band of age at entry (A, A): how long children stay
    # depends on how old they were when they came into care
    exit_events: np.ndarray
    exit_exposure: np.ndarray
    move_events: np.ndarray | None  # (A, B)
    move_exposure: np.ndarray | None  # (A, B)
    mix_counts: np.ndarray | None  # (A, B, T)
    # flow counts: (A, T from, T + 1 to; last = left care)
    trans_counts: np.ndarray
    unit_cost: np.ndarray  # (T,) weekly cost of new placements
    need: NeedModel | None = None
    n_unplaced: int = 0
    fallback: str | None = None
    #: band of age at entry to care of each child of the starting population
    start_entry_band: np.ndarray | None = None

    @property
    def bands(self) -> list[str]:
        return self.need.bands if self.need is not None else ["all"]

    def as_flow(self) -> SufficiencyModel:
        """The flow model on the same panel (no need bands)."""
        from dataclasses import replace

        return replace(self, kind=FLOW_MODEL, need=None)


def _days(x) -> np.ndarray:
    """Dates as float days since 1970 (missing: +inf, i.e. not yet happened)."""
    v = pd.to_datetime(pd.Series(x)).to_numpy("datetime64[ns]")
    out = (v - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "D")
    return np.where(np.isnat(v), np.inf, out)


@dataclass
class _Arrays:
    """Children and placements as numpy arrays (days), for fast quarterly panels."""

    ids: np.ndarray
    dob: np.ndarray
    entry: np.ndarray
    left: np.ndarray
    p_child: np.ndarray
    p_start: np.ndarray
    p_end: np.ndarray
    p_type: np.ndarray
    p_cost: np.ndarray

    @classmethod
    def of(cls, ds: Dataset) -> _Arrays:
        c, p = ds.children, ds.placements
        ids = c[Col.child_id].astype(str).to_numpy()
        pos = pd.Index(ids).get_indexer(p[Col.child_id].astype(str))
        p_type = _type_index(p[Col.placement_type].astype(str))
        ok = (pos >= 0) & ~np.isnan(p_type)
        start = _days(p[Col.start_date])[ok]
        order = np.lexsort((start, pos[ok]))
        return cls(
            ids=ids,
            dob=_days(c[Col.date_of_birth]),
            entry=_days(c[Col.entered_care]),
            left=_days(c[Col.left_care]),
            p_child=pos[ok][order],
            p_start=start[order],
            p_end=_days(p[Col.end_date])[ok][order],
            p_type=p_type[ok][order].astype(int),
            p_cost=p[Col.weekly_cost].to_numpy(float)[ok][order],
        )

    def in_care(self, d: float) -> np.ndarray:
        return (self.entry <= d) & (self.left > d)

    def placement_on(self, d: float) -> tuple[np.ndarray, np.ndarray]:
        """Type index (NaN: none) and weekly cost of each child's placement on day ``d``."""
        rows = np.flatnonzero((self.p_start <= d) & (self.p_end > d))
        ch = self.p_child[rows]
        last = np.r_[ch[1:] != ch[:-1], True] if rows.size else np.zeros(0, bool)
        rows, ch = rows[last], ch[last]
        typ = np.full(self.ids.size, np.nan)
        cost = np.full(self.ids.size, np.nan)
        typ[ch] = self.p_type[rows]
        cost[ch] = self.p_cost[rows]
        return typ, cost


def _quarter_panel(
    arr: _Arrays, origin: pd.Timestamp, quarters: int
) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """Child-quarters in care before the origin, and the entrants of each quarter.

    Panel columns: child (row in ``arr``), age, type0 and type1 (type index at
    the quarter's start and end; NaN: none), left (left care in the
    quarter), moved (a placement started in the quarter). Entrants: child,
    age at entry and type1, for those still in care at the quarter's end.
    """
    o = float(_days([origin])[0])
    qs = [o - QUARTER_DAYS * k for k in range(quarters, 0, -1)]
    # Data often hold only the children in care at their start (a first return
    # lists no one who had already left), so before the first recorded leaving
    # exits would be missed: quarters start no earlier than that.
    left = arr.left[np.isfinite(arr.left)]
    start = max(arr.entry.min(), left.min() if left.size else -np.inf)
    qs = [q for q in qs if q >= start]
    rows, ents = [], []
    typ_next, _ = arr.placement_on(qs[0]) if qs else (None, None)
    for q in qs:
        q1 = q + QUARTER_DAYS
        typ0 = typ_next
        typ1, _ = arr.placement_on(q1)
        typ_next = typ1
        kids = np.flatnonzero(arr.in_care(q))
        left = arr.left[kids] <= q1
        st = (arr.p_start > q) & (arr.p_start <= q1)
        moved = np.zeros(arr.ids.size, bool)
        moved[arr.p_child[st]] = True
        rows.append(
            pd.DataFrame(
                {
                    "child": kids,
                    "age": (q - arr.dob[kids]) / DAYS_PER_YEAR,
                    "entry_age": (arr.entry[kids] - arr.dob[kids]) / DAYS_PER_YEAR,
                    "type0": typ0[kids],
                    "type1": typ1[kids],
                    "left": left,
                    "moved": moved[kids] & ~left,
                    # turns 18 in the quarter: the simulation ends their care itself
                    "ages_out": (q1 - arr.dob[kids]) / DAYS_PER_YEAR >= LEAVING_AGE,
                }
            )
        )
        new = np.flatnonzero((arr.entry > q) & (arr.entry <= q1) & (arr.left > q1))
        ents.append(
            pd.DataFrame(
                {
                    "child": new,
                    "age": (arr.entry[new] - arr.dob[new]) / DAYS_PER_YEAR,
                    "type1": typ1[new],
                }
            )
        )
    panel = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    entrants = pd.concat(ents, ignore_index=True) if ents else pd.DataFrame()
    return len(qs), panel, entrants


def _type_index(s: pd.Series) -> np.ndarray:
    idx = {t: i for i, t in enumerate(PLACEMENT_TYPES)}
    return s.map(idx).to_numpy(dtype=float)


def _child_effects(need: NeedModel, ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and Cholesky factor of each child's effects (prior if unscored)."""
    pos = need.children.get_indexer(ids.astype(str))
    mean = np.zeros((len(ids), 2))
    chol = np.tile(need.prior_chol(), (len(ids), 1))
    ok = pos >= 0
    mean[ok] = need.mean[pos[ok]]
    chol[ok] = need.chol[pos[ok]]
    return mean, chol


def estimate(
    ds: Dataset,
    *,
    origin: str | pd.Timestamp | None = None,
    quarters: int = FIT_QUARTERS,
    kind: str = "auto",
) -> SufficiencyModel:
    """Estimate a sufficiency model from the data up to ``origin``.

    Parameters
    ----------
    ds : Dataset
        One council's data (use ``Dataset.subset``); anything after
        ``origin`` is ignored.
    origin : date, optional
        Projection start (default: the latest date in the data).
    quarters : int
        Quarters of history the rates come from.
    kind : {"auto", "need-driven", "flow"}
        ``auto``: need-driven when there are need scores, else flow (and
        ``fallback`` says why).
    """
    from vc_eval.core.population import snapshot_date

    origin = pd.Timestamp(origin) if origin is not None else snapshot_date(ds)
    ds = as_of(ds, origin)
    if ds.children.empty:
        raise ValueError("no children in care before the projection origin")
    fallback = None
    need = None
    if kind in ("auto", NEED_MODEL):
        has_scores = ds.assessments[Col.domain].isin(ds.framework.need_domains).any()
        if not has_scores:
            fallback = "no need scores in the data (SSDA903 only): flow model used"
        else:
            try:
                need = fit_need_model(ds)
            except (ValueError, np.linalg.LinAlgError) as err:
                fallback = f"total need could not be fitted ({err}): flow model used"
        if need is None and kind == NEED_MODEL:
            raise ValueError(fallback)
    kind = NEED_MODEL if need is not None else FLOW_MODEL
    arr = _Arrays.of(ds)
    n_q, panel, entrants = _quarter_panel(arr, origin, quarters)
    if panel.empty:
        raise ValueError("no quarter of history before the projection origin")
    nb = len(need.bands) if need is not None else 1
    ids = pd.Series(arr.ids)

    # flow: transitions by age band from type at q to type (or left) at q + 1
    # quarters in which a child turns 18 are left out: leaving at 18 is not a rate
    pan = panel[panel["type0"].notna() & ~panel["ages_out"]]
    t0 = pan["type0"].to_numpy().astype(int)
    t1 = pan["type1"].to_numpy()
    t1 = np.where(np.isnan(t1), t0, t1).astype(int)  # no record at the end: no move seen
    left = pan["left"].to_numpy()
    to = np.where(left, _T, t1)
    ab = _age_band(pan["age"].to_numpy())
    trans = np.zeros((_A, _T, _T + 1))
    np.add.at(trans, (ab, t0, to), 1)

    eb = _age_band(pan["entry_age"].to_numpy())
    exit_ev = np.zeros((_A, _A))
    exit_exp = np.zeros((_A, _A))
    np.add.at(exit_ev, (ab, eb), left.astype(float))
    np.add.at(exit_exp, (ab, eb), 1.0)
    move_ev = move_exp = mix = None
    if need is not None:
        mean, _ = _child_effects(need, ids.iloc[pan["child"].to_numpy()])
        band = need.band(need.need(pan["age"].to_numpy(), mean))
        stay = ~left
        moved = pan["moved"].to_numpy()
        move_ev = np.zeros((_A, nb))
        move_exp = np.zeros((_A, nb))
        np.add.at(move_exp, (ab[stay], band[stay]), 1)
        np.add.at(move_ev, (ab[stay], band[stay]), moved[stay].astype(float))
        mix = np.zeros((_A, nb, _T))
        mv = stay & moved
        np.add.at(mix, (ab[mv], band[mv], t1[mv]), 1)
    ent = entrants[entrants["type1"].notna()] if len(entrants) else entrants
    e_age = ent["age"].to_numpy(float) if len(ent) else np.zeros(0)
    e_type = ent["type1"].to_numpy().astype(int) if len(ent) else np.zeros(0, int)
    e_mean = e_chol = None
    if need is not None and len(ent):
        e_mean, e_chol = _child_effects(need, ids.iloc[ent["child"].to_numpy()])
        e_band = need.band(need.need(e_age, e_mean))
        np.add.at(mix, (_age_band(e_age), e_band, e_type), 1)

    # the starting population
    o = float(_days([origin])[0])
    now = np.flatnonzero(arr.in_care(o))
    typ_o, cost_o = arr.placement_on(o)
    placed = ~np.isnan(typ_o[now])
    kids = now[placed]
    s_type = typ_o[kids].astype(int)
    s_age = (o - arr.dob[kids]) / DAYS_PER_YEAR
    s_entry_band = _age_band((arr.entry[kids] - arr.dob[kids]) / DAYS_PER_YEAR)
    s_cost = cost_o[kids]
    s_mean = s_chol = None
    if need is not None:
        s_mean, s_chol = _child_effects(need, ids.iloc[kids])

    # unit cost of new placements: mean weekly cost of recent starts by type
    unit = np.full(_T, np.nan)
    recent = arr.p_start > o - 2 * DAYS_PER_YEAR
    for t in range(_T):
        for sel in (recent & (arr.p_type == t), arr.p_type == t):
            if sel.any():
                unit[t] = arr.p_cost[sel].mean()
                break
    unit = np.where(np.isnan(unit), np.nanmean(unit) if np.isfinite(unit).any() else 0.0, unit)
    s_cost = np.where(np.isnan(s_cost), unit[s_type], s_cost)
    return SufficiencyModel(
        origin=origin,
        kind=kind,
        quarters_used=n_q,
        start_age=s_age,
        start_type=s_type,
        start_cost=s_cost,
        start_b_mean=s_mean,
        start_b_chol=s_chol,
        n_entrants=len(ent),
        entry_age=e_age,
        entry_type=e_type,
        entry_b_mean=e_mean,
        entry_b_chol=e_chol,
        exit_events=exit_ev,
        exit_exposure=exit_exp,
        move_events=move_ev,
        move_exposure=move_exp,
        mix_counts=mix,
        trans_counts=trans,
        unit_cost=unit,
        need=need,
        n_unplaced=int((~placed).sum()),
        fallback=fallback,
        start_entry_band=s_entry_band,
    )


# --------------------------------------------------------------------------
# Target mix and supply tables
# --------------------------------------------------------------------------


def _table_violations(frame: pd.DataFrame, source: str, value_col: str, bands: list[str] | None):
    out = []
    for col in (Col.placement_type, value_col):
        if col not in frame.columns:
            out.append(Violation(source, None, col, "required column is missing"))
    if out:
        return out
    for i, rec in enumerate(frame.itertuples(index=False), start=1):
        t = getattr(rec, Col.placement_type)
        if t not in PLACEMENT_TYPES:
            out.append(
                Violation(
                    source, i, Col.placement_type, "value is not one of the allowed codes", str(t)
                )
            )
        v = pd.to_numeric(pd.Series([getattr(rec, value_col)]), errors="coerce").iloc[0]
        if not (np.isfinite(v) and v >= 0):
            out.append(Violation(source, i, value_col, "value must be a number >= 0", str(v)))
        if bands is not None and "need_band" in frame.columns:
            b = str(rec.need_band)
            if b not in bands:
                out.append(Violation(source, i, "need_band", "not a band of the framework", b))
    return out


def check_target_mix(
    frame: pd.DataFrame, *, bands: list[str] | None = None, source: str = "target mix"
) -> pd.DataFrame:
    """Validate a target mix: ``placement_type``, ``share`` [, ``need_band``].

    Shares are normalised within each need band (or overall). Raises
    :class:`~vc_eval.core.schema.ValidationError` naming file, row, column and rule.
    """
    frame = frame.copy()
    if "need_band" in frame.columns:
        frame["need_band"] = frame["need_band"].astype(str)
    v = _table_violations(frame, source, "share", bands)
    if not v:
        frame["share"] = frame["share"].astype(float)
        key = ["need_band"] if "need_band" in frame.columns else []
        tot = frame.groupby(key)["share"].transform("sum") if key else frame["share"].sum()
        if (np.asarray(tot) <= 0).any():
            v.append(Violation(source, None, "share", "shares must not all be zero"))
        else:
            frame["share"] = frame["share"] / tot
    if v:
        raise ValidationError(v, context=source)
    return frame


def check_supply(frame: pd.DataFrame, *, source: str = "supply") -> pd.DataFrame:
    """Validate a supply table: ``placement_type``, ``places`` (one row per type)."""
    v = _table_violations(frame, source, "places", None)
    if not v:
        dup = frame[Col.placement_type].duplicated()
        for i in np.flatnonzero(dup.to_numpy()):
            v.append(
                Violation(
                    source,
                    int(i) + 1,
                    Col.placement_type,
                    "duplicate placement type",
                    str(frame[Col.placement_type].iloc[i]),
                )
            )
    if v:
        raise ValidationError(v, context=source)
    out = frame[[Col.placement_type, "places"]].copy()
    out["places"] = out["places"].astype(float)
    return out


def _mix_tilt(model: SufficiencyModel, target: pd.DataFrame | None) -> np.ndarray:
    """Weights (B, T) that move the current mix of new placements towards the target.

    Within need band b the current share of type t among new placements is
    s(b, t); the tilt is target(b, t) / s(b, t), applied to each age band's
    mix so ages keep the types open to them (no supported accommodation for
    babies).
    """
    nb = len(model.bands)
    tilt = np.ones((nb, _T))
    if target is None or model.mix_counts is None:
        return tilt
    cur = model.mix_counts.sum(axis=0) + 1e-9
    cur = cur / cur.sum(axis=1, keepdims=True)
    for b in range(nb):
        rows = target
        if "need_band" in target.columns:
            rows = target[target["need_band"] == model.bands[b]]
            if rows.empty:
                continue
        want = np.zeros(_T)
        for t, s in zip(rows[Col.placement_type], rows["share"], strict=True):
            want[PLACEMENT_TYPES.index(t)] += s
        tilt[b] = np.where(cur[b] > 1e-6, want / cur[b], 0.0)
    return tilt


# --------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    g = rng.gamma(alpha)
    return g / np.clip(g.sum(axis=-1, keepdims=True), 1e-300, None)


def _draw(rng: np.random.Generator, model: SufficiencyModel, tilt: np.ndarray) -> dict:
    """One draw of every rate from its posterior."""
    out = {}
    qn = max(model.quarters_used, 1)
    out["entry_rate"] = rng.gamma(model.n_entrants + 0.5, 1.0 / qn)
    if model.kind == NEED_MODEL:
        ev, ex = model.exit_events, model.exit_exposure
        # cells of few children borrow from their age band's rate (worth EXIT_PRIOR children)
        band_rate = (ev.sum(axis=1, keepdims=True) + 0.5) / (ex.sum(axis=1, keepdims=True) + 1.0)
        out["exit"] = rng.beta(ev + EXIT_PRIOR * band_rate, ex - ev + EXIT_PRIOR * (1 - band_rate))
        out["move"] = rng.beta(
            model.move_events + 0.5, model.move_exposure - model.move_events + 0.5
        )
        mix = model.mix_counts
        # a thin prior from the age band's mix over all needs, then all ages
        pooled_age = mix.sum(axis=1, keepdims=True)
        pooled_age = pooled_age / np.clip(pooled_age.sum(axis=-1, keepdims=True), 1e-9, None)
        alpha = mix + 1.0 * pooled_age + 1e-3
        p = _dirichlet(rng, alpha) * tilt[None, :, :]
        p = p / np.clip(p.sum(axis=-1, keepdims=True), 1e-300, None)
        out["mix_cum"] = np.cumsum(p, axis=-1)
    else:
        tr = model.trans_counts
        pooled = tr.sum(axis=0, keepdims=True)
        pooled = pooled / np.clip(pooled.sum(axis=-1, keepdims=True), 1e-9, None)
        stay = np.zeros_like(tr)
        for t in range(_T):
            stay[:, t, t] = 1.0
        prior = np.where(pooled.sum(axis=-1, keepdims=True) > 0, pooled, stay)
        p = _dirichlet(rng, tr + 0.5 * prior + 1e-4)
        out["trans_cum"] = np.cumsum(p, axis=-1)
    return out


def _pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category index from cumulative probabilities (rows) and uniforms."""
    k = (cum < u[:, None]).sum(axis=1)
    return np.minimum(k, cum.shape[1] - 1)


def simulate(
    model: SufficiencyModel,
    *,
    quarters: int,
    n_sims: int = 200,
    seed: int = 1,
    target_mix: pd.DataFrame | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the population; returns children and weekly spend, each (S, Q + 1, T, B).

    Index 0 of the quarter axis is the origin (the population as it is). Each
    simulation has its own random stream (spawned from ``seed``), so the
    numbers are the same whatever ``workers`` (processes) share the work.
    """
    seeds = np.random.SeedSequence(seed).spawn(n_sims)
    tilt = _mix_tilt(model, target_mix)
    workers = max(1, min(int(workers), n_sims))
    if workers == 1:
        return _simulate_chunk(model, quarters, seeds, tilt)
    from concurrent.futures import ProcessPoolExecutor

    chunks = [list(c) for c in np.array_split(np.arange(n_sims), workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(
            pool.map(
                _simulate_chunk,
                [model] * workers,
                [quarters] * workers,
                [[seeds[i] for i in c] for c in chunks],
                [tilt] * workers,
            )
        )
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
    )


def _simulate_chunk(
    model: SufficiencyModel, quarters: int, seeds: list, tilt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n_sims = len(seeds)
    nb = len(model.bands)
    need = model.need
    kids = np.zeros((n_sims, quarters + 1, _T * nb))
    spend = np.zeros_like(kids)
    step = QUARTER_DAYS / DAYS_PER_YEAR
    n_pool = model.entry_age.size
    for s in range(n_sims):
        rng = np.random.default_rng(seeds[s])
        par = _draw(rng, model, tilt)
        age = model.start_age.copy()
        typ = model.start_type.copy()
        cost = model.start_cost.copy()
        eb = model.start_entry_band.copy() if model.start_entry_band is not None else _age_band(age)
        b = None
        if need is not None:
            z = rng.standard_normal((age.size, 2))
            b = _effects(model.start_b_mean, model.start_b_chol, z)

        def record(k, age, typ, cost, b, s=s):
            band = need.band(need.need(age, b)) if need is not None else 0
            idx = typ * nb + band
            kids[s, k] = np.bincount(idx, minlength=_T * nb)
            spend[s, k] = np.bincount(idx, weights=cost, minlength=_T * nb)
            return band

        band = record(0, age, typ, cost, b)
        for k in range(1, quarters + 1):
            ab = _age_band(age)
            u = rng.random(age.size)
            if need is not None:
                # ``band`` is each child's need band as recorded at the end of last quarter
                gone = u < par["exit"][ab, eb]
                mv = ~gone & (rng.random(age.size) < par["move"][ab, band])
                new = _pick(par["mix_cum"][ab[mv], band[mv]], rng.random(int(mv.sum())))
            else:
                nxt = _pick(par["trans_cum"][ab, typ], u)
                gone = nxt == _T
                mv = ~gone & (nxt != typ)
                new = nxt[mv]
            typ[mv] = new
            cost[mv] = model.unit_cost[new]
            age = age + step
            keep = ~gone & (age < LEAVING_AGE)
            age, typ, cost, eb = age[keep], typ[keep], cost[keep], eb[keep]
            if b is not None:
                b = b[keep]
            m = rng.poisson(par["entry_rate"]) if n_pool else 0
            if m:
                pick = rng.integers(0, n_pool, m)
                e_age = model.entry_age[pick] + rng.random(m) * step
                if need is not None:
                    e_b = _effects(
                        model.entry_b_mean[pick],
                        model.entry_b_chol[pick],
                        rng.standard_normal((m, 2)),
                    )
                    e_band = need.band(need.need(e_age, e_b))
                    cum = par["mix_cum"][_age_band(e_age), e_band]
                    e_typ = _pick(cum, rng.random(m))
                    b = np.concatenate([b, e_b])
                else:
                    e_typ = model.entry_type[pick]
                age = np.concatenate([age, e_age])
                eb = np.concatenate([eb, _age_band(model.entry_age[pick])])
                typ = np.concatenate([typ, e_typ])
                cost = np.concatenate([cost, model.unit_cost[e_typ]])
            band = record(k, age, typ, cost, b)
    shape = (n_sims, quarters + 1, _T, nb)
    return kids.reshape(shape), spend.reshape(shape)


def _effects(mean: np.ndarray, chol: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            mean[:, 0] + chol[:, 0] * z[:, 0],
            mean[:, 1] + chol[:, 1] * z[:, 0] + chol[:, 2] * z[:, 1],
        ],
        axis=1,
    )


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------


@dataclass
class SufficiencyResult(Result):
    """A projection of children in care and weekly spend by placement type and need band.

    Attributes
    ----------
    council : str
    model : str
        ``"need-driven"`` or ``"flow"``.
    dates : DatetimeIndex
        Quarter ends; the first is the origin (the population as it is).
    children, spend : ndarray
        Simulated children and weekly spend, (simulations, dates, types, bands).
    bands : list of str
        Need bands (``["all"]`` for the flow model).
    supply : DataFrame or None
        ``placement_type``, ``places``.
    baseline : SufficiencyResult or None
        The flow model on the same data.
    fallback : str or None
        Why the need-driven model was not used, when it was not.
    """

    council: str
    model: str
    dates: pd.DatetimeIndex
    children: np.ndarray = field(repr=False)
    spend: np.ndarray = field(repr=False)
    bands: list[str]
    level: float = LEVEL
    supply: pd.DataFrame | None = None
    baseline: SufficiencyResult | None = None
    fallback: str | None = None
    target_mix: bool = False
    n_unplaced: int = 0
    caveats: list[str] = field(default_factory=list)

    _plot: ClassVar[str | None] = "sufficiency:plot_children"

    # -- numbers ------------------------------------------------------------
    def _q(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = (1 - self.level) / 2
        return x.mean(axis=0), np.quantile(x, a, axis=0), np.quantile(x, 1 - a, axis=0)

    def by_type(self, what: str = "children") -> pd.DataFrame:
        """Mean and interval per date and placement type (bands summed), plus a total."""
        x = (self.children if what == "children" else self.spend).sum(axis=3)
        x = np.concatenate([x, x.sum(axis=2, keepdims=True)], axis=2)
        mean, lo, hi = self._q(x)
        types = [*PLACEMENT_TYPES, "total"]
        return pd.DataFrame(
            {
                "date": np.repeat(self.dates, len(types)),
                Col.placement_type: np.tile(types, len(self.dates)),
                "mean": mean.ravel(),
                "lower": lo.ravel(),
                "upper": hi.ravel(),
            }
        )

    def origin_by_type(self) -> pd.Series:
        """Children in care with a placement at the origin, by placement type (labels).

        Real counts, not projections: every simulation starts from them.
        """
        n = self.children[0, 0].sum(axis=-1)
        return pd.Series(
            np.rint(n).astype(int), index=[PLACEMENT_LABELS[t] for t in PLACEMENT_TYPES]
        )

    def to_frame(self) -> pd.DataFrame:
        """Tidy projection: date, placement_type, need_band, measure, mean, lower, upper."""
        out = []
        for what, x in (("children", self.children), ("weekly_spend", self.spend)):
            mean, lo, hi = self._q(x)
            n_t, n_b = len(PLACEMENT_TYPES), len(self.bands)
            out.append(
                pd.DataFrame(
                    {
                        "date": np.repeat(self.dates, n_t * n_b),
                        Col.placement_type: np.tile(
                            np.repeat(PLACEMENT_TYPES, n_b), len(self.dates)
                        ),
                        "need_band": np.tile(self.bands, len(self.dates) * n_t),
                        "measure": what,
                        "mean": mean.ravel(),
                        "lower": lo.ravel(),
                        "upper": hi.ravel(),
                    }
                )
            )
        out = pd.concat(out, ignore_index=True)
        out["model"] = self.model
        return out

    def gap(self) -> pd.DataFrame | None:
        """Projected children minus places, per date and type with places (None without supply)."""
        if self.supply is None:
            return None
        x = self.children.sum(axis=3)
        rows = []
        for t, places in zip(self.supply[Col.placement_type], self.supply["places"], strict=True):
            g = x[:, :, PLACEMENT_TYPES.index(t)] - places
            mean, lo, hi = self._q(g)
            rows.append(
                pd.DataFrame(
                    {
                        "date": self.dates,
                        Col.placement_type: t,
                        "places": places,
                        "mean": mean,
                        "lower": lo,
                        "upper": hi,
                        "p_short": (g > 0).mean(axis=0),
                    }
                )
            )
        return pd.concat(rows, ignore_index=True)

    # -- words ----------------------------------------------------------------
    def _label(self) -> str:
        return f"{self.level:.0%} simulation interval"

    def summary(self) -> Summary:
        """Findings on the projected population, spend and (with supply) the gap."""
        kids = self.by_type("children")
        spend = self.by_type("spend")
        first, last = self.dates[0], self.dates[-1]
        tot = kids[kids[Col.placement_type] == "total"].set_index("date")
        n0, n1 = tot.loc[first, "mean"], tot.loc[last, "mean"]
        lo1, hi1 = tot.loc[last, "lower"], tot.loc[last, "upper"]
        horizon = f"{last:%B %Y}"
        findings = []
        if self.fallback:
            findings.append(Finding("sufficiency.fallback", f"Flow model only: {self.fallback}."))
        if lo1 > n0:
            word = "rise"
        elif hi1 < n0:
            word = "fall"
        else:
            word = "stay about the same"
        findings.append(
            Finding(
                "sufficiency.children",
                f"Children in care are projected to {word} from {display.count_text(n0)} "
                f"on {first:%d %B %Y} to {display.count_text(n1)} by {horizon} "
                f"({self._label()} {display.interval(lo1, hi1, decimals=0)}; {self.model} model).",
                word=word,
                counts=(
                    Count(int(round(n0)), UNIVERSE_ORIGIN),
                    Count(int(round(n1)), projected_universe(self.model)),
                ),
            )
        )
        change = (
            kids[kids["date"] == last].set_index(Col.placement_type)["mean"]
            - kids[kids["date"] == first].set_index(Col.placement_type)["mean"]
        )
        change = change.drop("total")
        big = change.abs().idxmax()
        word = "more" if change[big] > 0 else "fewer"
        findings.append(
            Finding(
                "sufficiency.largest_change",
                f"The largest change is in {PLACEMENT_LABELS[big].lower()}: "
                f"{abs(change[big]):.0f} {word} children by {horizon} than now (projected mean).",
                word=word,
            )
        )
        sp = spend[spend[Col.placement_type] == "total"].set_index("date")
        spend_range = display.interval(
            sp.loc[last, "lower"], sp.loc[last, "upper"], unit="£", decimals=0
        )
        findings.append(
            Finding(
                "sufficiency.spend",
                f"Weekly placement spend at today's prices goes from "
                f"{display.money(sp.loc[first, 'mean'])} to {display.money(sp.loc[last, 'mean'])} "
                f"by {horizon} ({self._label()} {spend_range}).",
            )
        )
        gap = self.gap()
        tables = [self._table()]
        if gap is not None:
            g = gap[gap["date"] == last]
            for rec in g.itertuples(index=False):
                t = getattr(rec, Col.placement_type)
                short = rec.lower > 0
                spare = rec.upper < 0
                word = "short" if short else ("spare" if spare else "uncertain")
                text = {
                    "short": f"more children than the {rec.places:.0f} places",
                    "spare": f"fewer children than the {rec.places:.0f} places",
                    "uncertain": f"about as many children as the {rec.places:.0f} places",
                }[word]
                findings.append(
                    Finding(
                        f"sufficiency.gap.{t}",
                        f"{PLACEMENT_LABELS[t]} by {horizon}: {text} "
                        f"(children minus places, {self._label()} "
                        f"{display.interval(rec.lower, rec.upper, decimals=0)}).",
                        word=word,
                    )
                )
            tables.append(self._gap_table(gap))
        if self.baseline is not None:
            b = self.baseline.by_type("children")
            bt = b[(b[Col.placement_type] == "total") & (b["date"] == last)].iloc[0]
            findings.append(
                Finding(
                    "sufficiency.baseline",
                    f"The flow model on the same data projects {display.count_text(bt['mean'])} "
                    f"children by {horizon} ({self._label()} "
                    f"{display.interval(bt['lower'], bt['upper'], decimals=0)}).",
                    counts=(
                        Count(int(round(bt["mean"])), projected_universe(self.baseline.model)),
                    ),
                )
            )
        return Summary(
            title=f"Sufficiency: children and spend by placement type, {self.council}",
            findings=findings,
            tables=tables,
            caveats=list(self.caveats),
            headline={
                "projected_children": display.safe_count(n1),
                "projection_end": str(last.date()),
                "model": self.model,
            },
        )

    def _yearly(self) -> list[pd.Timestamp]:
        return [d for i, d in enumerate(self.dates) if i > 0 and i % 4 == 0] or [self.dates[-1]]

    def _table(self) -> Table:
        kids = self.by_type("children")
        rows = []
        for t in [*PLACEMENT_TYPES, "total"]:
            r = {"Placement type": PLACEMENT_LABELS.get(t, "Total")}
            for d in self._yearly():
                rec = kids[(kids["date"] == d) & (kids[Col.placement_type] == t)].iloc[0]
                r[f"{d:%b %Y}"] = _projection_text(rec["mean"], rec["lower"], rec["upper"])
            rows.append(r)
        frame = pd.DataFrame(rows)
        return Table(
            f"Projected children in care by placement type (mean, {self._label()})",
            frame,
            kinds={c: ("label" if c == "Placement type" else "value") for c in frame.columns},
            note="Projections from simulation, not counts of children; "
            "means under 6 are shown as 'under 6'.",
        )

    def _gap_table(self, gap: pd.DataFrame) -> Table:
        rows = []
        for t, g in gap.groupby(Col.placement_type, sort=False):
            r = {"Placement type": PLACEMENT_LABELS[t], "Places": f"{g['places'].iloc[0]:.0f}"}
            for d in self._yearly():
                rec = g[g["date"] == d].iloc[0]
                rng = display.interval(rec["lower"], rec["upper"], decimals=0)
                r[f"{d:%b %Y}"] = f"{rec['mean']:+.0f} ({rng})"
            rows.append(r)
        frame = pd.DataFrame(rows)
        return Table(
            f"Children minus places (positive: more children than places; {self._label()})",
            frame,
            kinds={c: ("label" if c == "Placement type" else "value") for c in frame.columns},
        )


def _projection_text(mean: float, lo: float, hi: float) -> str:
    if mean < 6:
        return "under 6"
    return f"{mean:.0f} ({display.interval(lo, hi, decimals=0)})"


CAVEATS = {
    NEED_MODEL: [
        "Entry, leaving and move rates are those of the fitting period; a change in policy or "
        "demand after it is not foreseen.",
        "Each child's need follows the fitted curve of total need by age plus their own "
        "trajectory; placement types follow the mix children of that age and need band "
        "received (or the target mix) when they move or enter care.",
        "Spend is at today's prices: the latest placement costs, with no inflation.",
    ],
    FLOW_MODEL: [
        "The flow model moves children between placement types at the rates of the fitting "
        "period by age band; it knows nothing of their needs.",
        "Spend is at today's prices: the latest placement costs, with no inflation.",
    ],
}


def project(
    model: SufficiencyModel,
    *,
    years: int,
    council: str = "",
    n_sims: int = 200,
    seed: int = 1,
    target_mix: pd.DataFrame | None = None,
    supply: pd.DataFrame | None = None,
    level: float = LEVEL,
    workers: int = 1,
) -> SufficiencyResult:
    """Project a fitted model ``years`` ahead by quarter (1-5 years).

    ``workers`` processes share the simulations (same numbers whatever their number).
    """
    if not 1 <= years <= 5:
        raise ValueError(f"years must be 1 to 5; got {years}")
    q = 4 * years
    if target_mix is not None:
        target_mix = check_target_mix(target_mix, bands=model.bands)
    if supply is not None:
        supply = check_supply(supply)
    kids, spend = simulate(
        model, quarters=q, n_sims=n_sims, seed=seed, target_mix=target_mix, workers=workers
    )
    dates = pd.DatetimeIndex(
        [model.origin + pd.Timedelta(days=round(QUARTER_DAYS * k)) for k in range(q + 1)]
    )
    caveats = list(CAVEATS[model.kind])
    if target_mix is not None and model.kind == FLOW_MODEL:
        caveats.append("The target mix is not applied by the flow model (it has no need bands).")
    if model.n_unplaced:
        caveats.append(
            f"{display.count_text(model.n_unplaced)} children in care on the origin had no "
            "placement recorded and are left out of the projection."
        )
    return SufficiencyResult(
        council=council,
        model=model.kind,
        dates=dates,
        children=kids,
        spend=spend,
        bands=model.bands,
        level=level,
        supply=supply,
        fallback=model.fallback,
        target_mix=target_mix is not None and model.kind == NEED_MODEL,
        n_unplaced=model.n_unplaced,
        caveats=caveats,
    )


def sufficiency(
    ds: Dataset,
    *,
    council: str | None = None,
    years: int = 3,
    origin: str | pd.Timestamp | None = None,
    n_sims: int = 200,
    seed: int = 1,
    target_mix: pd.DataFrame | None = None,
    supply: pd.DataFrame | None = None,
    baseline: bool = True,
    quarters: int = FIT_QUARTERS,
    workers: int = 1,
) -> SufficiencyResult:
    """Project one council's care population ``years`` ahead (need-driven, flow as baseline).

    With no need scores the flow model is the projection and ``fallback`` says so.
    """
    if council is not None:
        ds = ds.subset(council)
    name = council or ", ".join(ds.council_names())
    model = estimate(ds, origin=origin, quarters=quarters)
    kw = dict(years=years, council=name, n_sims=n_sims, seed=seed, supply=supply, workers=workers)
    res = project(model, target_mix=target_mix, **kw)
    if baseline and model.kind == NEED_MODEL:
        res.baseline = project(model.as_flow(), **kw)
    return res


# --------------------------------------------------------------------------
# Backtest
# --------------------------------------------------------------------------


def actual_counts(ds: Dataset, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Children in care with a placement on each date, by placement type (rows: dates)."""
    arr = _Arrays.of(ds)
    out = []
    for d in _days(dates):
        typ, _ = arr.placement_on(d)
        typ = typ[arr.in_care(d) & ~np.isnan(typ)].astype(int)
        out.append(np.bincount(typ, minlength=_T))
    return pd.DataFrame(out, index=dates, columns=list(PLACEMENT_TYPES))


def backtest(
    ds: Dataset,
    *,
    origin: str | pd.Timestamp,
    years: int = 2,
    n_sims: int = 200,
    seed: int = 1,
    quarters: int = FIT_QUARTERS,
    models: tuple[str, ...] = (NEED_MODEL, FLOW_MODEL),
) -> pd.DataFrame:
    """Fit on data up to ``origin``, project, and compare with what happened.

    Returns one row per model, date (after the origin) and placement type
    (and ``total``): actual, mean, lower, upper, covered (actual within
    the interval), error (mean - actual).
    """
    rows = []
    fitted = estimate(ds, origin=origin, quarters=quarters, kind=models[0])
    act = None
    for kind in models:
        model = fitted if kind == fitted.kind else fitted.as_flow()
        res = project(model, years=years, n_sims=n_sims, seed=seed)
        if act is None:
            act = actual_counts(ds, res.dates[1:])
            act["total"] = act.sum(axis=1)
        bt = res.by_type("children")
        bt = bt[bt["date"] > res.dates[0]]
        a = act.stack()
        a.index.names = ["date", Col.placement_type]
        bt = bt.join(a.rename("actual"), on=["date", Col.placement_type])
        bt["model"] = kind
        rows.append(bt)
    out = pd.concat(rows, ignore_index=True)
    out["covered"] = (out["actual"] >= out["lower"]) & (out["actual"] <= out["upper"])
    out["error"] = out["mean"] - out["actual"]
    return out
