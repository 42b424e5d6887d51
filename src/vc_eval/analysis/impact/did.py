"""Comparison councils: a stacked event study (difference-in-differences).

With councils adopting at different dates and some never, a plain two-way
fixed-effects regression compares late adopters with councils that had
already adopted, and its estimate can have the wrong sign. This module uses
the stacked design (Cengiz, Dube, Lindner and Zipperer 2019; Wing, Freedman
and Hollingsworth 2024):

* one sub-experiment (stack) per adoption cohort: the councils adopting in
  that period, and as comparisons only the *clean* councils that had not
  adopted by the end of the event window (never-adopters and
  not-yet-adopters);
* the stacks are appended and one regression is fitted with council x stack
  and period x stack fixed effects and a dummy for each event time of the
  adopting councils (reference: the period before adoption);
* comparison councils are weighted so that each stack counts in proportion
  to its adopting councils (Wing et al.'s corrective weights), so every
  adopting council counts equally in the average effect;
* errors are clustered by council (a council appears in many stacks); with
  fewer councils a wild cluster bootstrap-t (Rademacher, or Webb's six-point
  weights under 12 councils) gives the intervals;
* an interval (and p-value) is given only for event times and horizons with
  at least ``MIN_ARM`` (16) adopting councils observed that long after
  adoption and as many comparison councils beside them, and the pre-trend
  test only with that many of each overall: with fewer, intervals covered
  the truth less often than they claimed (benchmarks/README.md).

The fixed effects are absorbed by weighted alternating projections, so the
regression has one column per event time whatever the number of councils.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from vc_eval.analysis.absorb import demean_many
from vc_eval.analysis.impact.effects import HorizonEffects
from vc_eval.analysis.impact.series import COHORT, FREQS, PERIOD, ordinal_start, period_ordinal
from vc_eval.analysis.impact.text import DID_CAN, DID_CANNOT, fmt_value, label
from vc_eval.core.schema import Col
from vc_eval.core.summary import Result

#: Below this many councils the default inference is the wild cluster bootstrap.
WILD_BELOW = 50
#: Fewest adopting councils observed at an event time (and fewest comparison
#: councils beside them) for an interval there; the pre-trend test needs this many
#: adopting and comparison councils overall. On parallel-trend data with the rule
#: lifted (benchmarks/study_min_arm.py, benchmarks/README.md), 4 a side covered
#: 0.66 and 8-12 a side 0.82-0.90, the pre-trend test rejecting 14-25%; with 16-20
#: a side 12-month intervals covered in all 32 runs and 24-month ones (10-12
#: adopters observed that long) 0.88-0.94. So the floor is 16, counted among the
#: adopters observed at each event time, not over the whole study.
MIN_ARM = 16


@dataclass
class EventStudyResult(HorizonEffects, Result):
    """A stacked event study for one outcome.

    Attributes
    ----------
    coefficients : DataFrame
        event_time (periods), months, estimate, se, lower, upper, p,
        n_treated (adopting councils observed at that event time),
        n_controls (comparison councils observed beside them); the
        reference period is a row with estimate 0 and no interval. lower,
        upper and p are NaN where either count is below ``MIN_ARM``.
    effects : DataFrame
        horizon (months), kind ("point": effect at the horizon; "average":
        mean effect over event times 0 to horizon - 1), estimate, se, lower,
        upper, p, n_treated, n_controls (for "average", the fewest over the
        event times averaged); lower, upper and p are NaN where either count
        is below ``MIN_ARM`` (the caveats say why, per horizon).
    pretrend : dict
        Joint test that the pre-adoption coefficients are zero: statistic,
        df, p, method, restrictions.
    stacks : DataFrame
        cohort, treated, controls, periods (one row per stack).
    treated_at : dict
        Event time (periods) -> adopting councils observed then.
    """

    outcome: str
    freq: str
    coefficients: pd.DataFrame
    effects: pd.DataFrame
    pretrend: dict
    stacks: pd.DataFrame
    treated_at: dict[int, list[str]]
    n_councils: int
    n_treated: int
    n_controls: int
    inference: str
    alpha: float
    scale_by: str | None = None
    scale: dict[int, float] = field(default_factory=dict)
    no_interval: str = ""
    statements: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The effects table with the outcome column."""
        return self.effects.assign(outcome=self.outcome)

    _plot = "impact:plot_event_study"

    def summary(self):
        """Findings, the effects table and caveats (a Summary)."""
        from vc_eval.analysis.impact.words import event_study_summary

        return event_study_summary(self)


def _cohorts(series: pd.DataFrame, freq: str) -> pd.Series:
    """Adoption period ordinal per council (NaN: never)."""
    c = series.drop_duplicates(Col.council).set_index(Col.council)[COHORT]
    out = pd.Series(np.nan, index=c.index)
    has = c.notna()
    out[has] = period_ordinal(c[has], freq)
    return out


def build_stacks(
    series: pd.DataFrame,
    outcome: str,
    *,
    pre: int,
    post: int,
    treated: list[str] | None = None,
    scale_by: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stacked data: one sub-experiment per adoption cohort.

    ``pre`` and ``post`` are in periods. Returns the stacked rows (council,
    stack, period ordinal, event_time (NaN for comparisons), y, weight) and
    one row per stack (cohort, treated, controls, periods, or the reason it
    was skipped).
    """
    freq = series.attrs.get("freq", "MS")
    cohort = _cohorts(series, freq)
    d = series[[Col.council, PERIOD, outcome] + ([scale_by] if scale_by else [])].copy()
    d["_p"] = period_ordinal(d[PERIOD], freq)
    d = d[d[outcome].notna()]
    p_first, p_last = int(d["_p"].min()), int(d["_p"].max())
    adopters = cohort.dropna()
    if treated is not None:
        unknown = set(treated) - set(cohort.index)
        if unknown:
            raise ValueError(f"council(s) not in the series: {', '.join(sorted(unknown))}")
        adopters = adopters[adopters.index.isin(treated)]
    rows, info = [], []
    for g in sorted(adopters.unique()):
        g = int(g)
        lo, hi = max(g - pre, p_first), min(g + post, p_last)
        label = ordinal_start(g, freq)
        tr = sorted(adopters.index[adopters == g])
        if g - 1 < p_first or g > p_last:
            info.append(
                {
                    "cohort": label,
                    "treated": len(tr),
                    "controls": 0,
                    "periods": 0,
                    "skipped": "no period before adoption or none after it in the data",
                }
            )
            continue
        clean = cohort.isna() | (cohort > hi)
        ctrl = sorted(cohort.index[clean])
        if not ctrl:
            info.append(
                {
                    "cohort": label,
                    "treated": len(tr),
                    "controls": 0,
                    "periods": 0,
                    "skipped": "no clean comparison council",
                }
            )
            continue
        s = d[d[Col.council].isin(tr + ctrl) & (d["_p"] >= lo) & (d["_p"] <= hi)].copy()
        s["stack"] = g
        is_tr = s[Col.council].isin(tr).to_numpy()
        s["event_time"] = np.where(is_tr, s["_p"] - g, np.nan)
        s["_treated"] = is_tr
        info.append(
            {
                "cohort": label,
                "treated": len(tr),
                "controls": len(ctrl),
                "periods": hi - lo + 1,
                "skipped": "",
            }
        )
        rows.append(s)
    stacks = pd.DataFrame(info, columns=["cohort", "treated", "controls", "periods", "skipped"])
    if not rows:
        raise ValueError(
            f"{outcome}: no adoption cohort has both a period before adoption and a "
            "clean comparison council; the comparison design cannot be used"
        )
    data = pd.concat(rows, ignore_index=True)
    data["y"] = data[outcome].astype(float)
    if scale_by:
        # Divide by the unit's mean of scale_by before adoption (within its stack).
        base = data[data["_p"] < data["stack"]].groupby(["stack", Col.council])[scale_by].mean()
        sc = data.set_index(["stack", Col.council]).index.map(base)
        data["_scale"] = np.asarray(sc, dtype=float)
        data["y"] = data["y"] / data["_scale"]
        data = data[np.isfinite(data["y"])]
    # Wing et al.: each stack's comparisons weighted to its share of adopting units.
    units = data.drop_duplicates(["stack", Col.council])
    nd = units[units["_treated"]].groupby("stack").size()
    nc = units[~units["_treated"]].groupby("stack").size()
    wc = (nd / nd.sum()) / (nc / nc.sum())
    data["weight"] = np.where(data["_treated"], 1.0, data["stack"].map(wc).to_numpy())
    return data.reset_index(drop=True), stacks


def _wild_weights(rng: np.random.Generator, n_boot: int, g: int) -> np.ndarray:
    if g < 12:
        vals = np.array([-np.sqrt(1.5), -1, -np.sqrt(0.5), np.sqrt(0.5), 1, np.sqrt(1.5)])
        return vals[rng.integers(0, 6, size=(n_boot, g))]
    return rng.choice(np.array([-1.0, 1.0]), size=(n_boot, g))


def event_study(
    series: pd.DataFrame,
    outcome: str,
    *,
    pre: int = 12,
    post: int = 24,
    horizons: tuple[int, ...] = (12, 24),
    treated: list[str] | None = None,
    scale_by: str | None = None,
    inference: str = "auto",
    n_boot: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
) -> EventStudyResult:
    """Stacked event study of ``outcome`` around each council's adoption.

    Parameters
    ----------
    series : DataFrame
        From :func:`vc_eval.analysis.impact.council_series` (several councils).
    outcome : str
        Column to analyse.
    pre, post : int
        Months before and after adoption in each event window.
    horizons : tuple of int
        Months after adoption at which to report the effect.
    treated : list of str, optional
        Only these adopting councils are treated units (other adopters can
        still be comparisons before they adopt).
    scale_by : str, optional
        Divide each council's outcome by its mean of this column before
        adoption (e.g. ``"placed"`` to compare spend per child at baseline;
        the result's ``scale`` gives the mean baseline of adopting councils
        per event time, to turn effects back into totals).
    inference : {"auto", "cluster", "wild"}
        Council-clustered errors with t(G - 1) intervals, or a wild cluster
        bootstrap-t; "auto" uses the bootstrap below 50 councils.
    n_boot, seed : int
        Bootstrap draws and seed. The pre-trend test uses the bootstrap
        whatever ``inference`` is (0: a clustered F test instead).
    alpha : float
        1 - confidence level.

    Notes
    -----
    Intervals are withheld (NaN) for each coefficient and horizon effect with
    fewer than ``MIN_ARM`` adopting councils observed at its event time(s) or
    fewer comparison councils beside them, and everywhere, with no pre-trend
    test, when the study has fewer than ``MIN_ARM`` of either overall.
    """
    freq = series.attrs.get("freq", "MS")
    step = FREQS[freq]
    if outcome not in series.columns:
        raise ValueError(f"outcome {outcome!r} is not a column of the series")
    pre_p, post_p = int(np.ceil(pre / step)), int(np.floor(post / step))
    ref = -1
    data, stacks = build_stacks(
        series, outcome, pre=pre_p, post=post_p, treated=treated, scale_by=scale_by
    )
    et = data["event_time"].to_numpy()
    times = [e for e in range(-pre_p, post_p + 1) if e != ref and np.any(et == e)]
    if not any(e >= 0 for e in times):
        raise ValueError(f"{outcome}: no adopting council is observed after adoption")
    D = np.column_stack([(et == e).astype(float) for e in times])
    unit = pd.factorize(data["stack"].astype(str) + "|" + data[Col.council])[0]
    tcode = pd.factorize(data["stack"].astype(str) + "|" + data["_p"].astype(str))[0]
    w = data["weight"].to_numpy()
    Z = demean_many(np.column_stack([data["y"].to_numpy(), D]), [unit, tcode], w)
    y_dm, X = Z[:, 0], Z[:, 1:]
    clusters, names = pd.factorize(data[Col.council])
    G = len(names)
    ols = _cluster_wls(X, y_dm, w, clusters, G)
    beta, V = ols["beta"], ols["cov"]
    K = len(times)
    if inference == "auto":
        inference = "wild" if G < WILD_BELOW else "cluster"
    if inference not in ("cluster", "wild"):
        raise ValueError("inference must be 'auto', 'cluster' or 'wild'")

    # Contrasts: every coefficient, then the horizon effects.
    idx = {e: k for k, e in enumerate(times)}
    C_rows, labels = [], []
    for e in times:
        c = np.zeros(K)
        c[idx[e]] = 1
        C_rows.append(c)
        labels.append(("coef", e))
    for h in horizons:
        hp = int(round(h / step))
        if hp in idx:
            c = np.zeros(K)
            c[idx[hp]] = 1
            C_rows.append(c)
            labels.append(("point", h))
        span = list(range(0, hp))
        if hp >= 1 and all(e in idx for e in span):
            c = np.zeros(K)
            c[[idx[e] for e in span]] = 1 / len(span)
            C_rows.append(c)
            labels.append(("average", h))
    C = np.vstack(C_rows)
    est = C @ beta
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", C, V, C), 0, None))
    pre_idx = [idx[e] for e in times if e < ref]
    R, pre_method = _pretrend_restrictions(pre_idx, K, G, [e for e in times if e < ref])

    # The pre-trend test always uses the bootstrap when it can: a clustered F test
    # of ~11 restrictions rejects far too often (30-65% at the 5% level with 30
    # councils in benchmarks/impact.md), the wild bootstrap test does not.
    if n_boot > 0:
        q_w, p_w, pretrend = _wild(ols, G, C, R, n_boot, seed, alpha, pre_method)
    else:
        pretrend = _wald(R, beta, V, G, pre_method)
    if inference == "cluster":
        q = np.full(len(est), stats.t.ppf(1 - alpha / 2, G - 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            pvals = 2 * stats.t.sf(np.abs(est / se), G - 1)
    elif n_boot > 0:
        q, pvals = q_w, p_w
    else:
        raise ValueError("inference='wild' needs n_boot > 0")
    lower, upper = est - q * se, est + q * se
    units0 = data.drop_duplicates(["stack", Col.council])
    n_tr0 = int(units0.loc[units0["_treated"], Col.council].nunique())
    n_ctrl0 = int(units0.loc[~units0["_treated"], Col.council].nunique())
    # Adopting councils observed at each event time, and the comparison councils
    # observed beside them (same stack, same period): the intervals rest on these,
    # not on every council of the study.
    n_at = {e: sorted(data.loc[et == e, Col.council].unique()) for e in range(-pre_p, post_p + 1)}
    trd = data[data["_treated"]]
    ctl = data[~data["_treated"]].set_index(["stack", "_p"])[Col.council]
    ctrl_at = {}
    for e in range(-pre_p, post_p + 1):
        keys = trd.loc[trd["event_time"] == e, ["stack", "_p"]].drop_duplicates()
        idx_e = pd.MultiIndex.from_frame(keys)
        ctrl_at[e] = int(ctl[ctl.index.isin(idx_e)].nunique()) if len(keys) else 0
    # Each contrast involves some event times; it is as weak as the thinnest of them.
    arm_tr = np.array([min(len(n_at[times[k]]) for k in np.flatnonzero(c)) for c in C])
    arm_ct = np.array([min(ctrl_at[times[k]] for k in np.flatnonzero(c)) for c in C])
    thin = (arm_tr < MIN_ARM) | (arm_ct < MIN_ARM)
    lower[thin], upper[thin], pvals = np.nan, np.nan, np.where(thin, np.nan, pvals)
    no_interval = ""
    if n_tr0 < MIN_ARM or n_ctrl0 < MIN_ARM:
        # Neither clustered errors nor the wild bootstrap hold with so few
        # councils on one side: no interval, no pre-trend verdict.
        no_interval = (
            f"No interval and no pre-trend test: {n_tr0} adopting and {n_ctrl0} comparison "
            f"councils; with fewer than {MIN_ARM} on either side, intervals from this design "
            "cover the truth less often than they claim (one adopting council: almost "
            "never), so the estimates are descriptive only. For one council, see the "
            "one-council comparison design (council_did) and before/after."
        )
        lower = np.full_like(est, np.nan)
        upper = np.full_like(est, np.nan)
        pvals = np.full_like(est, np.nan)
        pretrend = {
            "statistic": np.nan,
            "df": 0,
            "p": np.nan,
            "method": "not tested: too few councils",
        }

    coef_rows, eff_rows = [], []
    for i, (kind, key) in enumerate(labels):
        row = {"estimate": est[i], "se": se[i], "lower": lower[i], "upper": upper[i], "p": pvals[i]}
        arms = {"n_treated": int(arm_tr[i]), "n_controls": int(arm_ct[i])}
        if kind == "coef":
            coef_rows.append({"event_time": key, "months": key * step, **row, **arms})
        else:
            eff_rows.append({"horizon": key, "kind": kind, **row, **arms})
    coef_rows.append(
        {
            "event_time": ref,
            "months": ref * step,
            "estimate": 0.0,
            "se": 0.0,
            "lower": np.nan,
            "upper": np.nan,
            "p": np.nan,
            "n_treated": len(n_at.get(ref, [])),
            "n_controls": ctrl_at.get(ref, 0),
        }
    )
    coefs = pd.DataFrame(coef_rows).sort_values("event_time").reset_index(drop=True)
    effects = pd.DataFrame(
        eff_rows,
        columns=[
            "horizon",
            "kind",
            "estimate",
            "se",
            "lower",
            "upper",
            "p",
            "n_treated",
            "n_controls",
        ],
    )
    units = data.drop_duplicates(["stack", Col.council])
    n_tr = int(units.loc[units["_treated"], Col.council].nunique())
    n_ctrl = int(units.loc[~units["_treated"], Col.council].nunique())
    scale = {}
    if scale_by:
        tr = data[data["_treated"]]
        for e in range(-pre_p, post_p + 1):
            s = tr.loc[tr["event_time"] == e, "_scale"]
            if len(s):
                scale[e] = float(s.mean())
    res = EventStudyResult(
        outcome=outcome,
        freq=freq,
        coefficients=coefs,
        effects=effects,
        pretrend=pretrend,
        stacks=stacks,
        treated_at={e: v for e, v in n_at.items() if v},
        n_councils=G,
        n_treated=n_tr,
        n_controls=n_ctrl,
        inference=inference,
        alpha=alpha,
        scale_by=scale_by,
        scale=scale,
        no_interval=no_interval,
    )
    res.statements, res.caveats = _did_text(res)
    return res


def _pretrend_restrictions(pre_idx, K, G, pre_times):
    """Restriction matrix for the pre-trend test (joint, or mean and slope)."""
    if not pre_idx:
        return np.zeros((0, K)), "none"
    if len(pre_idx) <= G - 2:
        R = np.zeros((len(pre_idx), K))
        R[np.arange(len(pre_idx)), pre_idx] = 1
        return R, "joint"
    # Too many restrictions for the clustered covariance: test level and slope.
    t = np.asarray(pre_times, dtype=float)
    R = np.zeros((2, K))
    R[0, pre_idx] = 1 / len(pre_idx)
    R[1, pre_idx] = (t - t.mean()) / np.sum((t - t.mean()) ** 2)
    return R, "mean and slope"


def _wald(R, beta, V, G, method) -> dict:
    if R.shape[0] == 0:
        return {"statistic": np.nan, "df": 0, "p": np.nan, "method": method}
    r = R @ beta
    W = float(r @ np.linalg.pinv(R @ V @ R.T) @ r)
    q = R.shape[0]
    F = W / q
    return {
        "statistic": F,
        "df": (q, G - 1),
        "p": float(stats.f.sf(F, q, G - 1)),
        "method": f"{method} F test, clustered errors",
        "restrictions": q,
    }


def _cluster_wls(X, y, w, clusters, G) -> dict:
    """Weighted least squares with council-clustered (CR1) covariance.

    The same estimator as statsmodels' ``WLS(...).fit(cov_type="cluster")``
    with its small-sample correction G / (G - 1) * (n - 1) / (n - k), written
    out because the per-cluster pieces are reused by the wild bootstrap.
    """
    n, K = X.shape
    Xw = X * w[:, None]
    A = np.linalg.inv(X.T @ Xw)
    beta = A @ (Xw.T @ y)
    u = y - X @ beta
    order = np.argsort(clusters, kind="stable")
    bounds = np.searchsorted(clusters[order], np.arange(G + 1))
    S = np.zeros((G, K))
    M = np.zeros((G, K, K))
    for g in range(G):
        idx = order[bounds[g] : bounds[g + 1]]
        S[g] = Xw[idx].T @ u[idx]
        M[g] = Xw[idx].T @ X[idx]
    corr = G / (G - 1) * (n - 1) / (n - K)
    cov = corr * A @ (S.T @ S) @ A
    return {"beta": beta, "cov": cov, "A": A, "S": S, "M": M, "corr": corr}


def _wild(ols, G, C, R, n_boot, seed, alpha, pre_method):
    """Wild cluster bootstrap-t (unrestricted residuals) for contrasts and the pre-trend test."""
    rng = np.random.default_rng(seed)
    A, S, M, corr, beta, V = (ols[k] for k in ("A", "S", "M", "corr", "beta", "cov"))
    v = _wild_weights(rng, n_boot, G)
    delta = (v @ S) @ A.T  # (B, K): beta* - beta

    def boot_scores(Cm):
        CA = Cm @ A
        U = S @ CA.T  # (G, m)
        P = np.einsum("mk,gkj->gmj", CA, M)  # (G, m, K)
        return v[:, :, None] * U[None] - (P @ delta.T).transpose(2, 0, 1)  # (B, G, m)

    Tb = boot_scores(C)
    se_b = np.sqrt(corr * (Tb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        t_b = (delta @ C.T) / se_b
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", C, V, C), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        t0 = (C @ beta) / se
    q = np.quantile(np.abs(t_b), 1 - alpha, axis=0)
    p = (np.abs(t_b) >= np.abs(t0)[None]).mean(axis=0)
    if R.shape[0] == 0:
        pre = {"statistic": np.nan, "df": 0, "p": np.nan, "method": "none"}
    else:
        r = R @ beta
        W0 = float(r @ np.linalg.pinv(R @ V @ R.T) @ r)
        Tr = boot_scores(R)
        Vb = corr * np.einsum("bgi,bgj->bij", Tr, Tr)
        rb = delta @ R.T
        Wb = np.einsum("bi,bi->b", rb, np.einsum("bij,bj->bi", np.linalg.pinv(Vb), rb))
        pre = {
            "statistic": W0 / R.shape[0],
            "df": (R.shape[0], G - 1),
            "p": float((Wb >= W0).mean()),
            "method": f"{pre_method} Wald test, wild cluster bootstrap ({n_boot} draws)",
            "restrictions": R.shape[0],
        }
    return q, p, pre


def _did_text(res: EventStudyResult) -> tuple[list[str], list[str]]:
    level = int(round(100 * (1 - res.alpha)))
    o = res.outcome
    per = " per child at baseline" if res.scale_by else ""
    out = [
        f"{label(o).capitalize()}{per}: {res.n_treated} adopting councils compared with "
        f"{res.n_controls} councils "
        f"that had not adopted (never, or not by the end of each comparison window)."
    ]
    for _, r in res.effects[res.effects["kind"] == "point"].iterrows():
        iv = (
            f"{level}% interval {fmt_value(o, r['lower'])} to {fmt_value(o, r['upper'])}"
            if np.isfinite(r["lower"])
            else f"no interval: {_too_few(r)}"
        )
        out.append(
            f"At {r['horizon']} months after adoption ({r['n_treated']} adopting councils "
            f"observed), {label(o)} was {fmt_value(o, r['estimate'], signed=True)}{per} "
            f"against the comparison councils ({iv})."
        )
    pt = res.pretrend
    if np.isfinite(pt.get("p", np.nan)):
        if pt["p"] < 0.05:
            out.append(
                f"Warning: before adoption, adopting and comparison councils did not move in "
                f"parallel (pre-trend test p = {pt['p']:.3f}); the estimates above are doubtful."
            )
        else:
            out.append(
                f"Before adoption, adopting and comparison councils moved in parallel as far as "
                f"the data can tell (pre-trend test p = {pt['p']:.2f}); this supports, but cannot "
                f"prove, the parallel-trends assumption."
            )
    out.append(DID_CAN)
    cav = list(DID_CANNOT)
    if res.no_interval:
        cav.append(res.no_interval)
    else:
        cav += _withheld_text(res)
        cav.append(
            f"Only {res.n_councils} councils: intervals come from a wild cluster "
            "bootstrap, which stays reliable with fewer councils than clustered "
            "standard errors do."
            if res.inference == "wild"
            else f"Errors are clustered by council ({res.n_councils} councils)."
        )
    skipped = res.stacks[res.stacks["skipped"] != ""]
    if len(skipped):
        cav.append(
            f"{int(skipped['treated'].sum())} adopting council(s) left out: "
            + "; ".join(sorted(set(skipped["skipped"])))
            + "."
        )
    return out, cav


def _too_few(r) -> str:
    """Why one effect row has no interval: the thinner arm at its event times."""
    if r["n_treated"] < MIN_ARM:
        return (
            f"only {int(r['n_treated'])} adopting councils observed this long, fewer than {MIN_ARM}"
        )
    return f"only {int(r['n_controls'])} comparison councils beside them, fewer than {MIN_ARM}"


def _withheld_text(res: EventStudyResult) -> list[str]:
    """One caveat per horizon whose interval is withheld, and one for event times."""
    out = []
    e = res.effects
    gone = e[e["lower"].isna()]
    what = {"point": "the effect at", "average": "the average effect over the first"}
    for h, g in gone.groupby("horizon", sort=True):
        r = g.sort_values(["n_treated", "n_controls"]).iloc[0]
        kinds = " and ".join(f"{what[k]} {int(h)} months" for k in g["kind"])
        out.append(
            f"No interval for {kinds}: {int(r['n_treated'])} adopting councils are observed "
            f"that long after adoption, beside {int(r['n_controls'])} comparison councils; with "
            f"fewer than {MIN_ARM} on either side, intervals from this design cover the truth "
            "less often than they claim (benchmarks/README.md), so this estimate is "
            "descriptive only."
        )
    c = res.coefficients
    thin = c[(c["se"] > 0) & c["lower"].isna()]
    if len(thin):
        out.append(
            f"Event times with fewer than {MIN_ARM} adopting or comparison councils observed "
            f"have no interval ({_spans(thin['months'])} after adoption)."
        )
    return out


def _spans(months) -> str:
    """``"months -12 to -10, 14 to 24"``: runs of consecutive event months."""
    m = sorted(int(x) for x in months)
    step = min((b - a for a, b in zip(m, m[1:], strict=False)), default=1)
    runs, start = [], m[0]
    for a, b in zip(m, m[1:] + [None], strict=True):
        if b is None or b - a != step:
            runs.append(f"{start}" if start == a else f"{start} to {a}")
            start = b
    return ("month " if len(m) == 1 else "months ") + ", ".join(runs)
