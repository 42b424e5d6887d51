"""Strengths beside needs: levels by age, change first to latest, and the link with need.

Which way a domain is better is declared once, in the framework
(:meth:`~vc_eval.core.framework.Framework.better`): lower for needs,
higher for strengths. Every judgement here ("improved", "weaker") asks the
framework; no analysis flips a sign of its own, so a framework that scores a
strength the other way round (``better: lower``, scores reversed) reaches the
same conclusions.
"""

from __future__ import annotations

from collections.abc import Sequence
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
                        Count(int(rec.n_children), change_universe(rec.domain)),
                        Count(
                            int(rec.n_better), change_universe(rec.domain), (("change", "better"),)
                        ),
                        Count(
                            int(rec.n_worse), change_universe(rec.domain), (("change", "worse"),)
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
        # A child is in every domain they were scored twice in: each domain's rows
        # count a population of its own (the one its sentence states), by change.
        names = dict(zip(self.change["domain_name"], self.change["domain"], strict=True))
        return Table(
            f"Children whose latest score is at least {self.min_change:g} points better or worse "
            "than their first ('better' as the framework declares: lower need, higher strength)",
            safe.rename(columns={"domain_name": "Domain", "change": "Change", "n": "Children"}),
            kinds={"Domain": "label", "Change": "label", "Children": "count"},
            dims={"Change": "change"},
            cell_universes={(str(n), "Children"): change_universe(d) for n, d in names.items()},
        )


def change_universe(domain: str) -> str:
    """Universe of the children scored at least twice in ``domain`` (the change counts)."""
    return f"children_two_assessments in {domain}"


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


# --------------------------------------------------------------------------
# Does money follow strengths as well as need?
# --------------------------------------------------------------------------

#: Universe of the children the cost-against-strengths sentences count.
UNIVERSE_STRENGTH_COST = "strength_cost_children"
#: Fewest children for a correlation (and its interval) to be stated.
MIN_CHILDREN_COST = 20


@dataclass
class StrengthCostResult(Result):
    """Weekly placement cost against strength scores, beside cost against need.

    One row per child (means over the child's assessments in the period that
    fall in a placement with a cost), so resampling children gives honest
    intervals.

    Attributes
    ----------
    table : DataFrame
        One row per measure (total need, then each strength domain):
        measure, label, kind, better, spearman_rho, ci_low, ci_high (95%
        percentile bootstrap over children), partial_rho, partial_low,
        partial_high (strength domains: the rank correlation with cost among
        children of similar total need and age), children.
    """

    framework: Framework = field(repr=False)
    table: pd.DataFrame
    n_children: int
    n_boot: int
    level: float = 0.95
    caveats: list[str] = field(default_factory=list)

    _plot: ClassVar[str | None] = "strengths:plot_strength_cost"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def word(self, measure: str, *, partial: bool = False) -> str:
        """The judgement for one measure, through the framework's direction.

        Need: "rose" / "fell" / "no clear link" (cost against need). Strength:
        "stronger" / "weaker" (cost was higher for children with stronger /
        weaker strengths) or "no clear link", only when the interval excludes 0.
        """
        r = self.table.set_index("measure").loc[measure]
        cols = (
            ("partial_rho", "partial_low", "partial_high")
            if partial
            else (
                "spearman_rho",
                "ci_low",
                "ci_high",
            )
        )
        est, lo, hi = (float(r[c]) for c in cols)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
            return "no clear link"
        if measure == TOTAL_NEED:
            return "rose" if est > 0 else "fell"
        # cost higher where the score is higher: is a higher score better?
        return "stronger" if self.framework.improved([measure], [est])[0] > 0 else "weaker"

    def summary(self) -> Summary:
        """Cost against need, against each strength, and against strengths given need."""
        from vc_eval.analysis.spend import strength_word

        title = "Does money follow strengths as well as need?"
        t = self.table
        st = t[(t["kind"] == "strength") & t["ci_low"].notna()]
        if self.n_children < MIN_CHILDREN_COST or st.empty:
            if not (t["kind"] == "strength").any():
                why = "No strength scores are recorded: cost cannot be set against strengths."
            elif self.n_children == 0:
                why = "No weekly placement costs are recorded for children with strength scores."
            else:
                why = (
                    f"Fewer than {MIN_CHILDREN_COST} children have strength scores and a "
                    "placement cost: too few to relate cost to strengths."
                )
            return Summary.insufficient(title, why, key="strength_cost")
        n = self.n_children
        counts = (Count(n, UNIVERSE_STRENGTH_COST),)
        findings = []
        nd = t.set_index("measure")
        if TOTAL_NEED in nd.index and np.isfinite(nd.loc[TOTAL_NEED, "ci_low"]):
            r = nd.loc[TOTAL_NEED]
            w = self.word(TOTAL_NEED)
            how = (
                f"{w} {strength_word(r['spearman_rho'])} with total need"
                if w != "no clear link"
                else "showed no clear link with total need"
            )
            findings.append(
                Finding(
                    "strength_cost.need",
                    f"For the {display.count_text(n)} children with need and strength scores "
                    f"and a placement cost, weekly cost {how} (Spearman "
                    f"{display.estimate(*r[['spearman_rho', 'ci_low', 'ci_high']], decimals=2)}).",
                    word=w,
                    counts=counts,
                )
            )
        words = {m: self.word(m) for m in st["measure"]}
        k_str = sum(w == "stronger" for w in words.values())
        k_weak = sum(w == "weaker" for w in words.values())
        if k_str + k_weak == 0:
            overall = "no clear link"
        elif k_weak == 0:
            overall = "stronger"
        elif k_str == 0:
            overall = "weaker"
        else:
            overall = "mixed"
        lead = {
            "stronger": "Where weekly cost had a clear link with a strength, it was higher for "
            "children with stronger strengths",
            "weaker": "Where weekly cost had a clear link with a strength, it was higher for "
            "children with weaker strengths",
            "mixed": "The link between weekly cost and strengths differs by domain",
            "no clear link": "Weekly cost showed no clear link with strengths",
        }[overall]
        findings.append(
            Finding(
                "strength_cost.strengths",
                f"{lead}: cost was higher with stronger strengths in {k_str} and with weaker "
                f"strengths in {k_weak} of {display.plural(len(st), 'strength domain')} "
                f"(the rest: no clear link; {self.level:.0%} intervals from resampling "
                "children).",
                word=overall,
            )
        )
        pw = {m: self.word(m, partial=True) for m in st["measure"]}
        differ = [m for m, w in pw.items() if w != "no clear link"]
        k_beyond = len(differ)
        beyond = "beyond need" if k_beyond else "need only"
        text = (
            f"Among children of similar total need and age, cost still differed with strengths in "
            f"{k_beyond} of {display.plural(len(st), 'strength domain')}"
            + (
                f" ({display.labels(differ, self.framework)})."
                if k_beyond
                else ": no clear link beyond need and age."
            )
        )
        findings.append(Finding("strength_cost.beyond_need", text, word=beyond))
        return Summary(
            title,
            findings=findings,
            tables=[self._table()],
            caveats=list(self.caveats),
            key="strength_cost",
        )

    def _table(self) -> Table:
        from vc_eval.core.summary import stat_table

        t = self.table

        def judged(partial: bool) -> list[str]:
            col = "partial_low" if partial else "ci_low"
            return [
                self.word(m, partial=partial) if np.isfinite(lo) else ""
                for m, lo in zip(t["measure"], t[col], strict=True)
            ]

        f = pd.DataFrame(
            {
                "Measure": t["label"],
                "Children": t["children"],
                "Spearman": t["spearman_rho"],
                "Lower": t["ci_low"],
                "Upper": t["ci_high"],
                "Cost higher with": judged(False),
                "Given need": t["partial_rho"],
                "Given need lower": t["partial_low"],
                "Given need upper": t["partial_high"],
                "Given need, cost higher with": judged(True),
            }
        )
        tab = stat_table(
            f,
            caption="Spearman correlation of weekly placement cost with total need and with "
            "each strength, with 95% intervals ('given need': among children of similar total "
            "need and age; 'rose': cost rose with need; 'stronger' or 'weaker': cost was "
            "higher for children with stronger or weaker strengths)",
            n_col="Children",
            stat_cols=[
                "Spearman",
                "Lower",
                "Upper",
                "Given need",
                "Given need lower",
                "Given need upper",
            ],
            label_cols=["Measure", "Cost higher with", "Given need, cost higher with"],
            decimals=2,
        )
        # Every row counts the same children (complete cases over all measures), the
        # ones the sentences state; the judgement columns are words, not categories.
        tab.kinds.update(
            dict.fromkeys(["Cost higher with", "Given need, cost higher with"], "text")
        )
        tab.cell_universes = {(str(m), "Children"): UNIVERSE_STRENGTH_COST for m in f["Measure"]}
        return tab


def _rank_corr(r: np.ndarray) -> np.ndarray:
    """Correlation matrix of already-ranked columns."""
    return np.corrcoef(r, rowvar=False)


def _partial(c: np.ndarray, x: int, y: int, given: Sequence[int]) -> float:
    """Partial correlation of columns ``x`` and ``y`` given columns ``given``."""
    idx = [x, y, *given]
    try:
        p = np.linalg.inv(c[np.ix_(idx, idx)])
    except np.linalg.LinAlgError:
        return np.nan
    den = np.sqrt(p[0, 0] * p[1, 1])
    return float(-p[0, 1] / den) if den > 0 else np.nan


def strength_cost(
    ds: Dataset,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> StrengthCostResult:
    """Does weekly placement cost follow strengths as well as need?

    Each assessment in the period is joined to the placement active on its
    date (:func:`vc_eval.analysis.spend.need_cost_frame`); each child
    contributes one row (means of their scores and weekly costs), so the
    bootstrap resamples children. For each strength domain: the Spearman
    correlation of cost with the strength, and the partial rank correlation
    given total need and age (does money follow strengths *beyond* need? age
    is held too, since some strengths grow with age as costs do), each with
    a percentile interval. Direction words come from the framework.

    Parameters
    ----------
    ds : Dataset
    start, end : date, optional
        Assessments in this period (inclusive).
    n_boot : int
        Bootstrap resamples of children.
    level : float
        Interval level.
    seed : int
        Seed of the resampling.
    """
    from vc_eval.analysis.spend import need_cost_frame

    fw = ds.framework
    frame = need_cost_frame(ds, start=start, end=end)
    strengths = [d for d in fw.strength_domains if d in frame.columns]
    measures = [TOTAL_NEED, *strengths] if TOTAL_NEED in frame.columns else []
    cols = [*measures, Col.weekly_cost, Col.age_at_assessment]
    per_child = (
        frame[[Col.child_id, *cols]].groupby(Col.child_id)[cols].mean()
        if measures
        else pd.DataFrame(columns=cols)
    )
    rows = []
    n = 0
    if strengths:
        per_child = per_child.dropna(subset=[TOTAL_NEED, Col.weekly_cost])
        per_child = per_child.dropna(subset=strengths, how="all")
    n = len(per_child)
    alpha = 1 - level
    boot = None
    if strengths and n >= MIN_CHILDREN_COST:
        # complete cases per strength are nearly all children; ranks of all columns at once
        # columns: measures..., cost, age (age confounds: independence grows with age
        # and older children are in costlier placements)
        x = per_child[[*measures, Col.weekly_cost, Col.age_at_assessment]].to_numpy(float)
        ok = np.isfinite(x).all(axis=1)
        x = x[ok]
        n = len(x)
        ranks = np.column_stack([stats.rankdata(x[:, j]) for j in range(x.shape[1])])
        # age enters as its rank and a cubic (strengths and costs both curve with age)
        a = (x[:, -1] - x[:, -1].mean()) / max(float(x[:, -1].std()), 1e-9)
        ranks = np.column_stack([ranks, a**2, a**3])
        c = _rank_corr(ranks)
        rng = np.random.default_rng(seed)
        boot = np.empty((n_boot, len(measures), 2))
        for b in range(n_boot):
            idx = rng.integers(0, n, n)
            cb = _rank_corr(ranks[idx])
            yk = len(measures)
            given = (0, yk + 1, yk + 2, yk + 3)
            for j in range(len(measures)):
                boot[b, j, 0] = cb[j, yk]
                boot[b, j, 1] = _partial(cb, j, yk, given) if j else np.nan
    for j, m in enumerate(measures):
        row = {
            "measure": m,
            "label": fw.label(m),
            "kind": "need" if m == TOTAL_NEED else "strength",
            "better": fw.better(m),
            "spearman_rho": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "partial_rho": np.nan,
            "partial_low": np.nan,
            "partial_high": np.nan,
            "children": n,
        }
        if boot is not None:
            yk = len(measures)
            q = [alpha / 2, 1 - alpha / 2]
            row["spearman_rho"] = float(c[j, yk])
            row["ci_low"], row["ci_high"] = (float(v) for v in np.quantile(boot[:, j, 0], q))
            if j:
                row["partial_rho"] = _partial(c, j, yk, (0, yk + 1, yk + 2, yk + 3))
                pb = boot[:, j, 1][np.isfinite(boot[:, j, 1])]
                row["partial_low"], row["partial_high"] = (float(v) for v in np.quantile(pb, q))
        rows.append(row)
    cols_out = [
        "measure",
        "label",
        "kind",
        "better",
        "spearman_rho",
        "ci_low",
        "ci_high",
        "partial_rho",
        "partial_low",
        "partial_high",
        "children",
    ]
    return StrengthCostResult(
        framework=fw,
        table=pd.DataFrame(rows, columns=cols_out),
        n_children=n,
        n_boot=n_boot,
        level=level,
        caveats=[
            "Cost against strengths is observational: children with stronger strengths may "
            "differ in ways the data do not record, and need scores are measured with error, "
            "so a link 'given need' can be need that the scores miss.",
            "Each child counts once (the means of their scores and weekly costs over the "
            "period's assessments).",
        ],
    )


__all__ = [
    "MIN_CHANGE",
    "MIN_CHILDREN_COST",
    "UNIVERSE_STRENGTH_COST",
    "StrengthCostResult",
    "StrengthsResult",
    "change_universe",
    "strength_cost",
    "strengths_beside_needs",
]
