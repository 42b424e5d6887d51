"""The child's own view beside the practitioner's, per domain.

A score may come from the child or young person (``rater_role == "child"``)
as well as from a practitioner. Each child's own rating is paired with the
practitioner's score of the same child and domain nearest in time (within 14
days), and per domain this module reports, with the ICC machinery of
:mod:`vc_eval.analysis.agreement`:

* ICC(2,1) (two-way random, absolute agreement: the two roles, child and
  practitioner, are the same for every child) with its 95% interval;
* the mean difference (child minus practitioner) with its interval, and the
  Bland-Altman limits of agreement;
* where the two views differ most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from vc_eval.analysis.agreement import (
    AGREEMENT_COLUMNS,
    WINDOW_DAYS,
    icc_matrix,
    limits_of_agreement,
)
from vc_eval.core.framework import Framework
from vc_eval.core.schema import PRACTITIONER_ROLES, Col, rater_roles
from vc_eval.core.summary import Count, Finding, Result, Summary

#: Universe of the children who rated their own needs beside a practitioner's score.
UNIVERSE = "children_with_own_rating"


def _name(framework: Framework | None, domain: str) -> str:
    return framework.label(domain) if framework is not None else domain


@dataclass
class ChildViewResult(Result):
    """How the child's own rating compares with a practitioner's, per domain.

    Attributes
    ----------
    table : DataFrame
        One row per domain: domain, domain_name, n_pairs (one pair per
        child: their latest), icc, ci_lower, ci_upper (ICC(2,1), absolute
        agreement: the two roles are crossed with children), mean_diff
        (child minus practitioner) with its interval, sd_diff, loa_lower,
        loa_upper. Statistics are NaN below ``min_pairs``.
    pairs : DataFrame
        Row-level pairs (with identifiers): never show.
    """

    table: pd.DataFrame
    pairs: pd.DataFrame = field(repr=False)
    window_days: int = WINDOW_DAYS
    alpha: float = 0.05
    min_pairs: int = 6
    caveats: list[str] = field(default_factory=list)

    _plot: ClassVar[str | None] = "child_view:plot_child_view"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def differs_most(self) -> pd.Series | None:
        """The domain where the two views differ most (largest absolute mean difference)."""
        t = self.table.dropna(subset=["mean_diff"])
        if t.empty:
            return None
        return t.loc[t["mean_diff"].abs().idxmax()]

    def summary(self) -> Summary:
        """Findings: where the child's view differs most, and the range of agreement."""
        from vc_eval.core import display

        title = "The child's own view beside the practitioner's"
        t = self.table.dropna(subset=["icc"])
        if t.empty:
            return Summary(
                title,
                findings=[
                    Finding(
                        "child_view.absent",
                        "Too few children rated their own needs beside a practitioner's "
                        f"score (within {self.window_days} days) to compare the two views.",
                    )
                ],
                status="insufficient",
                caveats=list(self.caveats),
            )
        findings = []
        n = int(self.pairs[Col.child_id].nunique()) if len(self.pairs) else 0
        findings.append(
            Finding(
                "child_view.children",
                f"{display.count_text(n)} children rated their own needs within "
                f"{self.window_days} days of a practitioner's score.",
                counts=(Count(n, UNIVERSE),),
            )
        )
        top = self.differs_most()
        lo, hi = top["mean_diff_lower"], top["mean_diff_upper"]
        if lo > 0:
            word = "higher"
        elif hi < 0:
            word = "lower"
        else:
            word = "about the same as"
        size = abs(top["mean_diff"])
        how = f"{size:.1f} points {word}" if word != "about the same as" else word
        findings.append(
            Finding(
                "child_view.differs_most",
                f"The views differ most in {top['domain_name']}: children rated their need "
                f"{how} than practitioners did (mean difference "
                f"{display.estimate(top['mean_diff'], lo, hi, decimals=1)}).",
                word=word,
            )
        )
        findings.append(
            Finding(
                "child_view.icc_range",
                f"Agreement between the two views (ICC) ranges from {t['icc'].min():.2f} "
                f"to {t['icc'].max():.2f} across {display.plural(len(t), 'domain')}.",
            )
        )
        return Summary(
            title,
            findings=findings,
            tables=[self._table()],
            caveats=list(self.caveats),
            headline={"child_view_children": display.safe_count(n)},
        )

    def _table(self):
        from vc_eval.core.privacy import suppress_long
        from vc_eval.core.summary import Table

        stat_cols = ["icc", "ci_lower", "ci_upper", "mean_diff", "loa_lower", "loa_upper"]
        cols = ["domain_name", "n_pairs", *stat_cols]
        safe = suppress_long(
            self.table[cols],
            count_col="n_pairs",
            totals="none",
            stat_cols=stat_cols,
            stat_decimals=2,
        ).table
        safe = safe.rename(
            columns={
                "domain_name": "Domain",
                "n_pairs": "Children",
                "icc": "ICC",
                "ci_lower": "ICC lower",
                "ci_upper": "ICC upper",
                "mean_diff": "Child minus practitioner",
                "loa_lower": "Limit of agreement (lower)",
                "loa_upper": "Limit of agreement (upper)",
            }
        )
        kinds = {c: "stat" for c in safe.columns}
        kinds.update({"Domain": "label", "Children": "count"})
        # A child gives a pair in every domain they rated: each domain's children are a
        # population of their own (among those the sentence counts; no sentence or other
        # table counts them by domain).
        return Table(
            "Child's and practitioner's scores of the same child, per domain "
            "(ICC(2,1) with 95% interval; mean difference and limits of agreement in points)",
            safe,
            kinds=kinds,
            cell_universes={(str(d), "Children"): f"{UNIVERSE} in {d}" for d in safe["Domain"]},
        )


CHILD_VIEW_CAVEATS = [
    "A difference between the child's and the practitioner's view is not an error in "
    "either: it is a prompt for a conversation with the child.",
    "Each child gives one pair (their latest rating and the nearest practitioner's score "
    "within the window).",
]


def child_view_agreement(
    assessments: pd.DataFrame,
    *,
    framework: Framework | None = None,
    domains: Sequence[str] | None = None,
    window_days: int = WINDOW_DAYS,
    min_pairs: int = 6,
    alpha: float = 0.05,
) -> ChildViewResult:
    """Agreement between the child's own rating and a practitioner's, per domain.

    Pairs each child's rating (``rater_role == "child"``) with the
    practitioner's score of the same child and domain nearest in time within
    ``window_days``, keeping each child's latest pair, then applies
    :func:`icc_matrix` (two-way, absolute agreement: the two roles are the
    same for every child) and :func:`limits_of_agreement` (child minus
    practitioner).

    Parameters
    ----------
    assessments : DataFrame
        Long assessments with a ``rater_role`` column (absent: no child ratings).
    framework : Framework, optional
        Orders and names the domains.
    """
    role = rater_roles(assessments)
    keep = [Col.child_id, Col.assessment_date, Col.domain, Col.score]
    own = assessments.loc[role == "child", keep]
    prac = assessments.loc[role.isin(PRACTITIONER_ROLES), keep]
    for f in (own, prac):
        f[Col.child_id] = f[Col.child_id].astype(str)
        f[Col.domain] = f[Col.domain].astype(str)
    own = own.sort_values(Col.assessment_date)
    prac = prac.rename(columns={Col.score: "practitioner", Col.assessment_date: "prac_date"})
    prac = prac.sort_values("prac_date")
    pairs = pd.merge_asof(
        own,
        prac,
        left_on=Col.assessment_date,
        right_on="prac_date",
        by=[Col.child_id, Col.domain],
        direction="nearest",
        tolerance=pd.Timedelta(days=window_days),
    ).dropna(subset=["practitioner"])
    pairs = pairs.rename(columns={Col.score: "child"})
    pairs = pairs.sort_values(Col.assessment_date).drop_duplicates(
        [Col.child_id, Col.domain], keep="last"
    )
    if domains is None:
        present = set(pairs[Col.domain]) | set(own[Col.domain])
        order = framework.all_domain_ids if framework is not None else sorted(present)
        domains = [d for d in order if d in present]
    rows = []
    for d in domains:
        y = pairs.loc[pairs[Col.domain] == d, ["practitioner", "child"]].to_numpy(float)
        row = {"domain": d, "domain_name": _name(framework, d), "n_pairs": len(y)}
        if len(y) >= max(min_pairs, 3):
            res = icc_matrix(y, model="twoway", alpha=alpha)
            row.update({k: res[k] for k in ("icc", "ci_lower", "ci_upper")})
            row.update(limits_of_agreement(y[:, 0], y[:, 1], alpha=alpha))
        rows.append(row)
    # the agreement table's columns, without the practitioner-only ones
    cols = [c for c in AGREEMENT_COLUMNS if c not in ("n_children", "sem")]
    return ChildViewResult(
        table=pd.DataFrame(rows).reindex(columns=cols),
        pairs=pairs.reset_index(drop=True),
        window_days=window_days,
        alpha=alpha,
        min_pairs=min_pairs,
        caveats=list(CHILD_VIEW_CAVEATS),
    )


__all__ = ["CHILD_VIEW_CAVEATS", "UNIVERSE", "ChildViewResult", "child_view_agreement"]
