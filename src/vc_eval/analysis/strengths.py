"""Strengths beside needs: levels by age, change first to latest, and the link with need.

Which way a domain is better is declared once, in the framework
(:meth:`~vc_eval.core.framework.Framework.better`): lower for needs,
higher for strengths. Every judgement here ("improved", "weaker") asks the
framework; no analysis flips a sign of its own, so a framework that scores a
strength the other way round (``better: lower``, scores reversed) reaches the
same conclusions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from vc_eval.core import display
from vc_eval.core.dataset import Dataset, total_need
from vc_eval.core.framework import TOTAL_NEED, Framework
from vc_eval.core.population import AGE_BAND_EDGES, AGE_BAND_LABELS
from vc_eval.core.privacy import MIN_N
from vc_eval.core.schema import PRACTITIONER_ROLES, Col, rater_roles
from vc_eval.core.summary import Count, Finding, Result, Summary, Table

#: Smallest change (points) first to latest that counts as a change for a child.
MIN_CHANGE = 10.0


@dataclass
class StrengthsResult(Result):
    """Strengths beside needs.

    Attributes
    ----------
    by_age : DataFrame
        domain, domain_name, kind, better, age_band, n_children, mean.
    change : DataFrame
        Per domain: domain, domain_name, kind, better, n_children, n_better,
        n_worse (children whose latest score is at least ``min_change``
        points better or worse than their first, "better" as the framework
        says), mean_change (points, raw).
    link : DataFrame
        Per strength domain: spearman_rho with each child's mean total need,
        n_children, p.
    """

    framework: Framework = field(repr=False)
    by_age: pd.DataFrame
    change: pd.DataFrame
    link: pd.DataFrame
    min_change: float = MIN_CHANGE
    caveats: list[str] = field(default_factory=list)

    _plot: ClassVar[str | None] = "strengths:plot_strengths_by_age"

    def to_frame(self) -> pd.DataFrame:
        return self.change.copy()

    def summary(self) -> Summary:
        """Findings on strengths' change (through the framework's direction) and link with need."""
        fw = self.framework
        title = "Strengths beside needs"
        ch = self.change[self.change["kind"] == "strength"]
        if ch.empty or ch["n_children"].sum() == 0:
            return Summary(
                title,
                findings=[
                    Finding(
                        "strengths.absent",
                        "No strength scores are recorded: the framework's strength domains "
                        "have no scores in the data.",
                    )
                ],
                status="absent",
                caveats=list(self.caveats),
            )
        findings = []
        ok = ch[ch["n_children"] >= MIN_N]
        up = ok[ok["n_better"] > ok["n_worse"]]
        word = (
            "more" if len(up) * 2 > len(ok) else ("fewer" if len(up) * 2 < len(ok) else "as many")
        )
        findings.append(
            Finding(
                "strengths.change",
                f"Between each child's first and latest assessment, strengths grew (by at least "
                f"{self.min_change:g} points) for more children than they shrank in "
                f"{len(up)} of {display.plural(len(ok), 'strength domain')}.",
                word=word,
            )
        )
        for rec in ok.itertuples(index=False):
            w = "improved" if rec.n_better > rec.n_worse else "worsened"
            if rec.n_better == rec.n_worse:
                w = "unchanged"
            findings.append(
                Finding(
                    f"strengths.change.{rec.domain}",
                    f"{rec.domain_name}: {display.count_text(rec.n_better)} of "
                    f"{display.count_text(rec.n_children)} children improved and "
                    f"{display.count_text(rec.n_worse)} worsened.",
                    word=w,
                    counts=(
                        Count(
                            int(rec.n_children),
                            "children_two_assessments",
                            (("domain", rec.domain),),
                        ),
                        Count(
                            int(rec.n_better),
                            "children_two_assessments",
                            (("domain", rec.domain), ("change", "better")),
                        ),
                        Count(
                            int(rec.n_worse),
                            "children_two_assessments",
                            (("domain", rec.domain), ("change", "worse")),
                        ),
                    ),
                )
            )
        link = self.link.dropna(subset=["spearman_rho"])
        if len(link):
            rho = float(link["spearman_rho"].median())
            # A strength "moves" with need by the sign of rho; the framework says
            # whether that move is better (stronger) or worse (weaker).
            d0 = str(link["domain"].iloc[0])
            better = fw.improved([d0], [np.sign(rho)])[0] > 0
            word = "stronger" if better else "weaker"
            findings.append(
                Finding(
                    "strengths.need_link",
                    f"Children with more need tend to have {word} strengths (median Spearman "
                    f"correlation with total need {rho:.2f} across strength domains).",
                    word=word,
                )
            )
        return Summary(title, findings=findings, tables=[self._table()], caveats=list(self.caveats))

    def _table(self) -> Table:
        from vc_eval.core.privacy import suppress_long

        t = self.change[["domain_name", "n_children", "n_better", "n_worse"]]
        long = t.melt(
            id_vars="domain_name",
            value_vars=["n_better", "n_worse"],
            var_name="change",
            value_name="n",
        )
        long["change"] = long["change"].map({"n_better": "better", "n_worse": "worse"})
        safe = suppress_long(
            long[["domain_name", "change", "n"]],
            count_col="n",
            within="domain_name",
            rows="change",
            totals="none",
        ).table
        order = {name: i for i, name in enumerate(self.change["domain_name"])}
        safe = safe.sort_values(
            ["domain_name", "change"], key=lambda c: c.map(order) if c.name == "domain_name" else c
        )
        return Table(
            f"Children whose latest score is at least {self.min_change:g} points better or worse "
            "than their first ('better' as the framework declares: lower need, higher strength)",
            safe.rename(columns={"domain_name": "Domain", "change": "Change", "n": "Children"}),
            kinds={"Domain": "label", "Change": "label", "Children": "count"},
        )


def _practitioner(assessments: pd.DataFrame) -> pd.DataFrame:
    return assessments[rater_roles(assessments).isin(PRACTITIONER_ROLES)]


def strengths_beside_needs(ds: Dataset, *, min_change: float = MIN_CHANGE) -> StrengthsResult:
    """Strength and need domains side by side, every judgement through the framework.

    Parameters
    ----------
    ds : Dataset
        Practitioners' scores are used (the child's own ratings are compared
        elsewhere, :mod:`vc_eval.analysis.child_view`).
    min_change : float
        Points of change first to latest that count as a change for a child.
    """
    fw = ds.framework
    a = _practitioner(ds.assessments)
    a = a[a[Col.domain].isin(fw.all_domain_ids)]
    # one score per child, date and domain (two assessors on a day averaged)
    s = a.groupby([Col.child_id, Col.assessment_date, Col.domain], observed=True, as_index=False)[
        [Col.score, Col.age_at_assessment]
    ].mean()
    s[Col.child_id] = s[Col.child_id].astype(str)
    s[Col.domain] = s[Col.domain].astype(str)
    s = s.sort_values([Col.child_id, Col.domain, Col.assessment_date])
    g = s.groupby([Col.child_id, Col.domain], sort=False)
    first, last = (
        g.head(1).set_index([Col.child_id, Col.domain]),
        g.tail(1).set_index([Col.child_id, Col.domain]),
    )
    two = g.size() >= 2
    delta = (last[Col.score] - first[Col.score])[two[two].index]
    dom = delta.index.get_level_values(Col.domain)
    direction = fw.improved(np.asarray(dom), delta.to_numpy())
    # rounded so 10.000000001 and 9.999999999 (float noise) count alike
    big = np.abs(np.round(delta.to_numpy(), 6)) >= min_change
    ch = pd.DataFrame(
        {
            Col.domain: dom,
            "better": (direction > 0) & big,
            "worse": (direction < 0) & big,
            "change": delta.to_numpy(),
        }
    )
    rows = []
    for d in fw.all_domain_ids:
        c = ch[ch[Col.domain] == d]
        rows.append(
            {
                "domain": d,
                "domain_name": fw.label(d),
                "kind": fw.domain(d).kind,
                "better": fw.better(d),
                "n_children": len(c),
                "n_better": int(c["better"].sum()),
                "n_worse": int(c["worse"].sum()),
                "mean_change": float(c["change"].mean()) if len(c) else np.nan,
            }
        )
    change = pd.DataFrame(rows)

    band = pd.cut(s[Col.age_at_assessment], AGE_BAND_EDGES, right=False, labels=AGE_BAND_LABELS)
    by_age = (
        s.assign(age_band=band)
        .groupby([Col.domain, "age_band"], observed=True)
        .agg(n_children=(Col.child_id, "nunique"), mean=(Col.score, "mean"))
        .reset_index()
    )
    by_age = by_age[by_age["n_children"] >= MIN_N]
    by_age["domain_name"] = by_age[Col.domain].map(fw.label)
    by_age["kind"] = by_age[Col.domain].map(lambda d: fw.domain(d).kind)
    by_age["better"] = by_age[Col.domain].map(fw.better)

    tn = total_need(a, fw).groupby(Col.child_id, observed=True)[Col.score].mean()
    tn.index = tn.index.astype(str)
    link_rows = []
    for d in fw.strength_domains:
        m = s[s[Col.domain] == d].groupby(Col.child_id)[Col.score].mean()
        both = pd.concat([m.rename("s"), tn.rename(TOTAL_NEED)], axis=1).dropna()
        rho, p = (np.nan, np.nan)
        if len(both) >= max(MIN_N, 10):
            rho, p = stats.spearmanr(both["s"], both[TOTAL_NEED])
        link_rows.append(
            {"domain": d, "spearman_rho": float(rho), "p": float(p), "n_children": len(both)}
        )
    return StrengthsResult(
        framework=fw,
        by_age=by_age.reset_index(drop=True),
        change=change,
        link=pd.DataFrame(link_rows, columns=["domain", "spearman_rho", "p", "n_children"]),
        min_change=min_change,
        caveats=[
            "Strengths and needs are scored by practitioners at the same reviews; a change "
            f"counts for a child when it is at least {min_change:g} points (about the size of "
            "the difference between two practitioners).",
        ],
    )


__all__ = ["MIN_CHANGE", "StrengthsResult", "strengths_beside_needs"]
