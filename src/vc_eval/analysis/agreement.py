"""Assessor agreement: how closely two practitioners score the same child.

Where a child was scored by two different assessors within a short window
(default 14 days, so the child's true need has barely moved), the two scores
are a pair. Per domain this module reports

* the intraclass correlation with a 95% confidence interval (F-distribution
  formulas of Shrout & Fleiss 1979 and McGraw & Wong 1996);
* the mean difference and Bland-Altman limits of agreement;
* the standard error of measurement ``SEM = sqrt(sum(d^2) / 2n)``, used by
  :mod:`vc_eval.analysis.profile` for the reliable-change criterion.

Which ICC
---------
The default is the one-way random-effects, single-measure ICC(1,1). In this
data each pair is scored by its own two assessors drawn from a council's pool
(assessors are not crossed with children), and which score is "first" is only
the order of the dates. A two-way model's column effect ("first rater" vs
"second rater") therefore has no meaning, and ICC(1,1) counts differences
between assessors as error, which is the absolute agreement we want: would
another practitioner give this child the same score? ``model="twoway"`` gives
ICC(2,1) (two-way random, absolute agreement) for designs where the same
two assessors score every child.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from vc_eval.core import display, privacy
from vc_eval.core.framework import TOTAL_NEED, Framework
from vc_eval.core.population import SECOND_SCORING_DAYS, second_scoring_pairs
from vc_eval.core.schema import Col
from vc_eval.core.summary import Count, Result, Summary, table_from

#: Default window (days) within which two scorings count as a pair (the one rule,
#: :data:`vc_eval.core.population.SECOND_SCORING_DAYS`).
WINDOW_DAYS = SECOND_SCORING_DAYS
#: Universe of the pair counts a summary states (pairs of scorings of one child).
PAIRS = "double_scored_pairs"
#: Strength of agreement by ICC (Koo & Li 2016): upper bound -> band.
ICC_WORDS: tuple[tuple[float, str], ...] = (
    (0.5, "poor"),
    (0.75, "moderate"),
    (0.9, "good"),
    (np.inf, "excellent"),
)
#: How two assessors agreed, per band.
ICC_ADVERBS: dict[str, str] = {
    "poor": "poorly",
    "moderate": "moderately",
    "good": "well",
    "excellent": "very well",
}


def _pairs_table(*args, **kwargs):
    """A table of pairs per domain, its ``Domain`` column the variable the findings use.

    The same pairs appear in every domain's row, so the pairs' total is never
    stated in the pairs' universe (it would not be the rows' sum).
    """
    t = table_from(*args, **kwargs)
    t.dims = {"Domain": "domain"}
    return t


#: Columns of an agreement table, per domain: the ICC and the limits of agreement.
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "domain",
    "domain_name",
    "n_pairs",
    "n_children",
    "icc",
    "ci_lower",
    "ci_upper",
    "mean_diff",
    "mean_diff_lower",
    "mean_diff_upper",
    "sd_diff",
    "loa_lower",
    "loa_upper",
    "sem",
)


def icc_word(icc: float) -> str:
    """The band of agreement of an ICC (Koo & Li 2016): poor, moderate, good, excellent."""
    for upper, word in ICC_WORDS:
        if icc < upper:
            return word
    return ICC_WORDS[-1][1]


Model = Literal["oneway", "twoway"]

MODEL_NOTES: dict[str, str] = {
    "oneway": (
        "ICC(1,1): one-way random effects, single measure. Each pair has its own two "
        "assessors, so differences between assessors count as disagreement (absolute "
        "agreement). A child scored twice at more than one review gives more than one "
        "pair; pairs are treated as independent."
    ),
    "twoway": (
        "ICC(2,1): two-way random effects, absolute agreement, single measure; assumes "
        "the same raters (first/second) across pairs."
    ),
}


# --------------------------------------------------------------------------
# ICC on a targets x raters matrix
# --------------------------------------------------------------------------


def icc_matrix(y: np.ndarray, *, model: Model = "oneway", alpha: float = 0.05) -> dict:
    """Single-measure ICC of an ``n x k`` matrix (targets x ratings), with CI.

    Parameters
    ----------
    y : array, shape (n, k)
        Complete ratings: one row per target (child), one column per rating.
    model : {"oneway", "twoway"}
        ICC(1,1) or ICC(2,1) (absolute agreement).
    alpha : float
        1 - confidence level.

    Returns
    -------
    dict
        ``icc``, ``ci_lower``, ``ci_upper``, ``F``, ``df1``, ``df2``, ``p``,
        ``n``, ``k``, and the mean squares.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] < 2:
        raise ValueError("ratings must be an n x k matrix with k >= 2")
    if np.isnan(y).any():
        raise ValueError("ratings must be complete (drop targets with missing ratings)")
    n, k = y.shape
    if n < 3:
        raise ValueError(f"need at least 3 targets for an ICC (got {n})")
    grand = y.mean()
    row_m = y.mean(axis=1)
    col_m = y.mean(axis=0)
    ss_rows = k * ((row_m - grand) ** 2).sum()
    ss_within = ((y - row_m[:, None]) ** 2).sum()
    ms_rows = ss_rows / (n - 1)
    q = 1 - alpha / 2
    if model == "oneway":
        ms_within = ss_within / (n * (k - 1))
        icc = (ms_rows - ms_within) / (ms_rows + (k - 1) * ms_within)
        f0 = ms_rows / ms_within if ms_within > 0 else np.inf
        df1, df2 = n - 1, n * (k - 1)
        fl = f0 / stats.f.ppf(q, df1, df2)
        fu = f0 * stats.f.ppf(q, df2, df1)
        lower = (fl - 1) / (fl + k - 1)
        upper = (fu - 1) / (fu + k - 1)
        extra = {"ms_rows": ms_rows, "ms_within": ms_within}
    elif model == "twoway":
        ss_cols = n * ((col_m - grand) ** 2).sum()
        ss_err = ss_within - ss_cols
        ms_cols = ss_cols / (k - 1)
        ms_err = ss_err / ((n - 1) * (k - 1))
        icc = (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err + k * (ms_cols - ms_err) / n)
        f0 = ms_rows / ms_err if ms_err > 0 else np.inf
        df1, df2 = n - 1, (n - 1) * (k - 1)
        # McGraw & Wong (1996), case 2A: Satterthwaite df for the denominator.
        a = k * icc / (n * (1 - icc))
        b = 1 + k * icc * (n - 1) / (n * (1 - icc))
        v = (a * ms_cols + b * ms_err) ** 2 / (
            (a * ms_cols) ** 2 / (k - 1) + (b * ms_err) ** 2 / ((n - 1) * (k - 1))
        )
        fu_, fl_ = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
        denom = k * ms_cols + (k * n - k - n) * ms_err
        lower = n * (ms_rows - fu_ * ms_err) / (fu_ * denom + n * ms_rows)
        upper = n * (fl_ * ms_rows - ms_err) / (denom + n * fl_ * ms_rows)
        extra = {"ms_rows": ms_rows, "ms_cols": ms_cols, "ms_err": ms_err}
    else:
        raise ValueError("model must be 'oneway' or 'twoway'")
    p = float(stats.f.sf(f0, df1, df2)) if np.isfinite(f0) else 0.0
    return {
        "icc": float(icc),
        "ci_lower": float(lower),
        "ci_upper": float(upper),
        "F": float(f0),
        "df1": float(df1),
        "df2": float(df2),
        "p": p,
        "n": n,
        "k": k,
        **{key: float(val) for key, val in extra.items()},
    }


def icc(
    data: pd.DataFrame,
    *,
    targets: str,
    raters: str,
    ratings: str,
    model: Model = "oneway",
    alpha: float = 0.05,
) -> pd.Series:
    """ICC from a long table (one row per target x rater), pingouin-style.

    Targets without a rating from every rater are dropped.

    Returns
    -------
    Series
        The fields of :func:`icc_matrix`.
    """
    wide = data.pivot_table(index=targets, columns=raters, values=ratings, aggfunc="mean")
    wide = wide.dropna()
    return pd.Series(icc_matrix(wide.to_numpy(), model=model, alpha=alpha))


def limits_of_agreement(first: np.ndarray, second: np.ndarray, *, alpha: float = 0.05) -> dict:
    """Bland-Altman summary of ``second - first``.

    Returns
    -------
    dict
        ``mean_diff`` with its CI (``mean_diff_lower``, ``mean_diff_upper``),
        ``sd_diff``, ``loa_lower``, ``loa_upper`` (mean +/- 1.96 SD) and
        ``sem`` (``sqrt(sum(d^2) / 2n)``, the error of one scoring).
    """
    d = np.asarray(second, dtype=float) - np.asarray(first, dtype=float)
    n = d.size
    mean = float(d.mean()) if n else np.nan
    sd = float(d.std(ddof=1)) if n > 1 else np.nan
    z = stats.norm.ppf(1 - alpha / 2)
    half = stats.t.ppf(1 - alpha / 2, n - 1) * sd / np.sqrt(n) if n > 1 else np.nan
    return {
        "mean_diff": mean,
        "mean_diff_lower": mean - half,
        "mean_diff_upper": mean + half,
        "sd_diff": sd,
        "loa_lower": mean - z * sd,
        "loa_upper": mean + z * sd,
        "sem": float(np.sqrt((d**2).sum() / (2 * n))) if n else np.nan,
    }


# --------------------------------------------------------------------------
# Finding pairs
# --------------------------------------------------------------------------


@dataclass
class ScoreMatrix:
    """Scorings (child x date x assessor) as rows, domains as columns.

    Rows are sorted by child, date and assessor. ``child`` holds integer
    codes into ``child_ids``; ``day`` is the date as days since the epoch.
    """

    child: np.ndarray
    day: np.ndarray
    assessor: np.ndarray
    scores: np.ndarray
    domains: list[str]
    child_ids: np.ndarray
    assessor_ids: np.ndarray

    @property
    def dates(self) -> np.ndarray:
        return self.day.astype("datetime64[D]").astype("datetime64[ns]")

    def column(self, domain: str) -> np.ndarray:
        return self.scores[:, self.domains.index(domain)]


def score_matrix(
    assessments: pd.DataFrame,
    *,
    framework: Framework | None = None,
    include_total: bool = False,
    child: str = Col.child_id,
    date: str = Col.assessment_date,
    assessor: str = Col.assessor_id,
    domain: str = Col.domain,
    score: str = Col.score,
) -> ScoreMatrix:
    """Pivot long assessments to one row per scoring, fast at national scale.

    With ``include_total`` (and a framework), adds ``total_need``: the mean
    of the need domains scored at that scoring.
    """
    child_c, child_u = pd.factorize(assessments[child], sort=True)
    ass_c, ass_u = pd.factorize(assessments[assessor], sort=True)
    dom_c, dom_u = pd.factorize(assessments[domain])
    day = assessments[date].to_numpy().astype("datetime64[D]").astype(np.int64)
    d0 = int(day.min()) if day.size else 0
    n_days = int(day.max()) - d0 + 1 if day.size else 1
    n_ass = max(len(ass_u), 1)
    key = (child_c.astype(np.int64) * n_days + (day - d0)) * n_ass + ass_c
    visits, inverse = np.unique(key, return_inverse=True)
    domains = [str(d) for d in dom_u]
    if framework is not None:
        order = [d for d in framework.domain_ids if d in domains]
        domains = order + [d for d in domains if d not in order]
    col = np.array([domains.index(str(d)) for d in dom_u], dtype=int)
    scores = np.full((visits.size, len(domains)), np.nan)
    scores[inverse, col[dom_c]] = assessments[score].to_numpy(dtype=float)
    if include_total and framework is not None:
        needs = [domains.index(d) for d in framework.need_domains if d in domains]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scorings with no need domain
            total = np.nanmean(scores[:, needs], axis=1) if needs else np.full(visits.size, np.nan)
        scores = np.column_stack([scores, total])
        domains = [*domains, TOTAL_NEED]
    return ScoreMatrix(
        child=(visits // (n_days * n_ass)).astype(np.int64),
        day=(visits // n_ass) % n_days + d0,
        assessor=(visits % n_ass).astype(np.int64),
        scores=scores,
        domains=domains,
        child_ids=np.asarray(child_u),
        assessor_ids=np.asarray(ass_u),
    )


def pair_rows(sm: ScoreMatrix, *, window_days: int = WINDOW_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the first and second scoring of each pair.

    Two consecutive scorings of a child by different assessors at most
    ``window_days`` apart form a pair; a scoring is used in at most one pair.
    """
    return second_scoring_pairs(sm.child, sm.day, sm.assessor, window_days=window_days)


def find_pairs(
    assessments: pd.DataFrame,
    *,
    window_days: int = WINDOW_DAYS,
    child: str = Col.child_id,
    date: str = Col.assessment_date,
    assessor: str = Col.assessor_id,
    domain: str = Col.domain,
    score: str = Col.score,
) -> pd.DataFrame:
    """Pairs of scorings of the same child by two assessors within a window.

    Scorings (child x date x assessor) are taken in date order per child;
    two consecutive scorings by different assessors at most ``window_days``
    apart form a pair, and a scoring is used in at most one pair.

    Returns
    -------
    DataFrame
        One row per pair and domain scored in both: ``pair``, ``child``
        column, ``domain``, ``date_1``, ``date_2``, ``assessor_1``,
        ``assessor_2``, ``score_1``, ``score_2`` (1 = the earlier scoring).
        Row-level: never show it.
    """
    sm = score_matrix(
        assessments, child=child, date=date, assessor=assessor, domain=domain, score=score
    )
    return _pairs_frame(sm, *pair_rows(sm, window_days=window_days), child=child, domain=domain)


def _pairs_frame(
    sm: ScoreMatrix,
    i1: np.ndarray,
    i2: np.ndarray,
    *,
    child: str = Col.child_id,
    domain: str = Col.domain,
) -> pd.DataFrame:
    nd = len(sm.domains)
    s1 = sm.scores[i1].ravel()
    s2 = sm.scores[i2].ravel()
    ok = ~np.isnan(s1) & ~np.isnan(s2)
    pair = np.repeat(np.arange(i1.size), nd)[ok]
    r1 = np.repeat(i1, nd)[ok]
    r2 = np.repeat(i2, nd)[ok]
    dates = sm.dates
    return pd.DataFrame(
        {
            "pair": pair,
            child: sm.child_ids[sm.child[r1]] if r1.size else np.array([], dtype=object),
            domain: np.tile(np.asarray(sm.domains, dtype=object), i1.size)[ok],
            "date_1": dates[r1],
            "date_2": dates[r2],
            "assessor_1": sm.assessor_ids[sm.assessor[r1]] if r1.size else [],
            "assessor_2": sm.assessor_ids[sm.assessor[r2]] if r2.size else [],
            "score_1": s1[ok],
            "score_2": s2[ok],
        }
    )


# --------------------------------------------------------------------------
# Agreement per domain
# --------------------------------------------------------------------------


def _name(framework: Framework | None, domain: str) -> str:
    if framework is None:
        return domain
    try:
        return framework.label(domain)
    except KeyError:
        return domain


@dataclass
class AgreementResult(Result):
    """Assessor agreement per domain.

    Attributes
    ----------
    table : DataFrame
        One row per domain: domain, domain_name, n_pairs, n_children, icc, ci_lower,
        ci_upper, mean_diff, mean_diff_lower, mean_diff_upper, sd_diff,
        loa_lower, loa_upper, sem. Statistics are NaN for fewer than
        ``min_pairs`` pairs.
    pairs : DataFrame
        The pairs (row-level, with identifiers): never show.
    model : str
        "oneway" (ICC(1,1)) or "twoway" (ICC(2,1)).
    window_days : int
        Largest gap between the two scorings of a pair.
    note : str
        What the ICC is and why this model.
    """

    table: pd.DataFrame
    pairs: pd.DataFrame = field(repr=False)
    model: str = "oneway"
    window_days: int = WINDOW_DAYS
    alpha: float = 0.05
    note: str = ""
    caveats: list[str] = field(default_factory=list)

    _plot = "agreement:plot_agreement"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        """How well two assessors agree (word from the ICC), range and limits of agreement."""
        title = "Assessor agreement"
        t = self.table.dropna(subset=["icc"])
        ok = t[t["n_pairs"] >= privacy.MIN_N]
        if ok.empty:
            return Summary.insufficient(
                title,
                "too few children were scored by two assessors within "
                f"{self.window_days} days to measure agreement.",
                key="agreement",
            )
        sm = Summary(title, key="agreement", caveats=[self.note, *self.caveats])
        lo, hi = float(ok["icc"].min()), float(ok["icc"].max())
        sm.say(
            "range",
            f"Where two assessors scored the same child within {self.window_days} days, "
            "agreement per domain is measured by the intraclass correlation (ICC: 1 = perfect "
            f"agreement). Across {display.plural(len(ok), 'domain')} ICCs ranged from "
            f"{lo:.2f} ({icc_word(lo)}) to {hi:.2f} ({icc_word(hi)}).",
            word=icc_word(lo),
        )
        tot = ok[ok["domain"] == TOTAL_NEED]
        if len(tot):
            r = tot.iloc[0]
            word = icc_word(float(r["icc"]))
            sm.say(
                "total",
                f"Two assessors scoring the same child agreed {ICC_ADVERBS[word]} on total "
                "need: ICC "
                f"{display.estimate(r['icc'], r['ci_lower'], r['ci_upper'], decimals=2)}, from "
                f"{display.plural(int(r['n_pairs']), 'pair')} of scorings. Their scores "
                f"differed by between {r['loa_lower']:.1f} and {r['loa_upper']:+.1f} points in "
                "95% of pairs (limits of agreement).",
                word=word,
                counts=[Count(int(r["n_pairs"]), PAIRS, (("domain", str(r["domain_name"])),))],
            )
            sm.headline["icc_total_need"] = round(float(r["icc"]), 2)
        sm.say(
            "supervision",
            "Large differences are a prompt for reflective supervision, not a finding about "
            "either assessor.",
        )
        st = self.safe_table()
        sm.tables.append(
            _pairs_table(
                st.table,
                "Agreement between two assessors scoring the same child",
                {
                    "domain_name": "label",
                    "n_pairs": "count",
                    "icc": "stat",
                    "ci_lower": "stat",
                    "ci_upper": "stat",
                    "mean_diff": "stat",
                    "loa_lower": "stat",
                    "loa_upper": "stat",
                    "sem": "stat",
                },
                rename={
                    "domain_name": "Domain",
                    "n_pairs": "Pairs",
                    "icc": "ICC",
                    "ci_lower": "ICC 95% interval from",
                    "ci_upper": "ICC 95% interval to",
                    "mean_diff": "Mean difference",
                    "loa_lower": "Limits of agreement from",
                    "loa_upper": "Limits of agreement to",
                    "sem": "SEM",
                },
                universe=PAIRS,
            )
        )
        return sm

    def safe_table(self, *, decimals: int = 2):
        """The table with counts of 1-5 hidden and statistics on < 6 pairs hidden."""
        from vc_eval.core.privacy import suppress_long

        stat_cols = [
            "icc",
            "ci_lower",
            "ci_upper",
            "mean_diff",
            "loa_lower",
            "loa_upper",
            "sem",
        ]
        cols = ["domain_name", "n_pairs", *stat_cols]
        return suppress_long(
            self.table[cols],
            count_col="n_pairs",
            totals="none",
            stat_cols=stat_cols,
            stat_decimals=decimals,
        )


def agreement(
    assessments: pd.DataFrame,
    *,
    framework: Framework | None = None,
    domains: Sequence[str] | None = None,
    window_days: int = WINDOW_DAYS,
    model: Model = "oneway",
    include_total: bool = True,
    min_pairs: int = 6,
    alpha: float = 0.05,
) -> AgreementResult:
    """ICC, limits of agreement and SEM per domain from double-scored children.

    Parameters
    ----------
    assessments : DataFrame
        Long assessments (child, date, assessor, domain, score).
    framework : Framework, optional
        Orders the domains and defines total need (mean of need domains).
    domains : sequence of str, optional
        Domains to report (default: the framework's, else all in the data).
    window_days : int
        Largest gap in days between the two scorings of a pair.
    model : {"oneway", "twoway"}
        ICC(1,1) (default; see the module docstring) or ICC(2,1).
    include_total : bool
        Add a ``total_need`` row (mean of need domains per scoring).
    min_pairs : int
        Fewest pairs for which statistics are computed.
    alpha : float
        1 - confidence level.
    """
    sm = score_matrix(assessments, framework=framework, include_total=include_total)
    i1, i2 = pair_rows(sm, window_days=window_days)
    pairs = _pairs_frame(sm, i1, i2)
    if domains is None:
        domains = [d for d in sm.domains if d != TOTAL_NEED or framework is not None]
    domains = list(domains)
    if include_total and framework is not None and TOTAL_NEED not in domains:
        domains.append(TOTAL_NEED)
    rows = []
    for d in domains:
        if d in sm.domains:
            col = sm.column(d)
            y = np.column_stack([col[i1], col[i2]])
            ok = ~np.isnan(y).any(axis=1)
            y = y[ok]
            kids = np.unique(sm.child[i1[ok]])
        else:
            y, kids = np.empty((0, 2)), np.array([])
        n = len(y)
        row = {
            "domain": d,
            "domain_name": _name(framework, d),
            "n_pairs": n,
            "n_children": int(kids.size),
        }
        if n >= max(min_pairs, 3):
            res = icc_matrix(y, model=model, alpha=alpha)
            row.update({k: res[k] for k in ("icc", "ci_lower", "ci_upper")})
            row.update(limits_of_agreement(y[:, 0], y[:, 1], alpha=alpha))
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=list(AGREEMENT_COLUMNS))
    return AgreementResult(
        table=table,
        pairs=pairs,
        model=model,
        window_days=window_days,
        alpha=alpha,
        note=MODEL_NOTES[model],
    )


__all__ = [
    "ICC_ADVERBS",
    "ICC_WORDS",
    "MODEL_NOTES",
    "WINDOW_DAYS",
    "AgreementResult",
    "ScoreMatrix",
    "agreement",
    "find_pairs",
    "pair_rows",
    "score_matrix",
    "icc",
    "icc_matrix",
    "icc_word",
    "limits_of_agreement",
]
