"""Needs profile of the care population: prevalence, complexity, clusters, change.

Everything is computed from each child's *latest* assessment:

* at a date: among children in care on that date, the latest assessment on
  or before it (optionally no older than ``max_age_days``);
* over a period ``(start, end)``: among children in care at any time in the
  period, the latest assessment dated within it.

Results hold counts (so :mod:`vc_eval.core.privacy` can protect them) and tidy
frames; each has ``to_frame()``, ``summary()`` and ``safe_table()`` (the
disclosure-controlled table a report may show). Row-level frames inside
results (``per_child``, ``assignments``) carry identifiers and are never for
display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from vc_eval.analysis.agreement import WINDOW_DAYS, ScoreMatrix, pair_rows, score_matrix
from vc_eval.analysis.measurement_error import sem_from_differences
from vc_eval.core import display, privacy
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED, Framework
from vc_eval.core.population import (
    AGE_BAND_LABELS,
    age_band,
    in_care_on,
    latest_review,
    second_scorings,
    snapshot_date,
)
from vc_eval.core.schema import DAYS_PER_YEAR, PLACEMENT_TYPES, SEXES, Col
from vc_eval.core.summary import Count, Result, Summary, Table, table_from

Period = tuple[str | pd.Timestamp, str | pd.Timestamp]
#: Group label for children with no placement recorded on the reference date.
NO_PLACEMENT = "none recorded"
#: Grouping variables for complexity tables.
GROUPINGS = ("age_group", "sex", "placement_type")
#: Reliable-change categories, in display order.
CHANGE_CATEGORIES = ("improved", "no reliable change", "deteriorated")
#: Universe of the counts a needs summary states: children in care with an
#: assessment used (each child's latest), see :class:`vc_eval.core.summary.Count`.
ASSESSED = "assessed"
#: Universe of the change counts: children with a first and a latest assessment.
REASSESSED = "reassessed"
#: The page audit's variable for a domain's band of need: one per domain (a
#: child has a band in every domain), ``{}`` the domain's name.
BAND_VARIABLE = "band in {}"
#: The page audit's variable for the number of domains of high need.
COMPLEXITY_VARIABLE = "high_need_domains"
#: Mean changes smaller than this (points) are said to be no change.
NO_CHANGE = 0.05
MIN_N = privacy.MIN_N


# --------------------------------------------------------------------------
# Latest assessment per child
# --------------------------------------------------------------------------


@dataclass
class Snapshot:
    """Each child's latest scores, with who they are on the reference date.

    Attributes
    ----------
    scores : DataFrame
        One row per child (row-level, with identifiers: never show):
        child_id, council, sex, assessment_date, ref_date, age, age_group,
        placement_type, one column per domain scored, and ``total_need``.
    domains : list of str
        Domain columns, in framework order.
    at : Timestamp or None
        The date (date mode).
    period : (Timestamp, Timestamp) or None
        The period (period mode).
    n_in_care : int
        Children in care on the date / during the period.
    """

    scores: pd.DataFrame = field(repr=False)
    domains: list[str]
    at: pd.Timestamp | None
    period: tuple[pd.Timestamp, pd.Timestamp] | None
    n_in_care: int

    @property
    def n_assessed(self) -> int:
        return len(self.scores)

    def describe(self) -> str:
        when = (
            f"on {self.at.date()}"
            if self.at is not None
            else f"between {self.period[0].date()} and {self.period[1].date()}"
        )
        return (
            f"{self.n_in_care:,} children in care {when}; {self.n_assessed:,} with an "
            "assessment used (each child's latest)"
        )


def _when(
    ds: Dataset, at: str | pd.Timestamp | None, period: Period | None
) -> tuple[pd.Timestamp | None, tuple[pd.Timestamp, pd.Timestamp] | None]:
    if at is not None and period is not None:
        raise ValueError("give either at= (a date) or period= (start, end), not both")
    if period is not None:
        start, end = (pd.Timestamp(x) for x in period)
        if end < start:
            raise ValueError(f"period ends ({end.date()}) before it starts ({start.date()})")
        return None, (start, end)
    return (pd.Timestamp(at) if at is not None else snapshot_date(ds)), None


def _placement_on(placements: pd.DataFrame, keys: pd.DataFrame) -> pd.Series:
    """Placement type active on each row's ``ref_date`` (NO_PLACEMENT if none)."""
    left = keys[[Col.child_id, "ref_date"]].reset_index().sort_values("ref_date")
    right = placements[[Col.child_id, Col.start_date, Col.end_date, Col.placement_type]]
    right = right.sort_values(Col.start_date)
    left[Col.child_id] = left[Col.child_id].astype(str)
    left["ref_date"] = left["ref_date"].astype("datetime64[ns]")
    right = right.assign(
        **{
            Col.child_id: right[Col.child_id].astype(str),
            Col.start_date: right[Col.start_date].astype("datetime64[ns]"),
            Col.end_date: right[Col.end_date].astype("datetime64[ns]"),
        }
    )
    m = pd.merge_asof(
        left,
        right,
        left_on="ref_date",
        right_on=Col.start_date,
        by=Col.child_id,
        direction="backward",
    )
    active = m[Col.end_date].isna() | (m[Col.end_date] > m["ref_date"])
    out = m[Col.placement_type].where(active & m[Col.placement_type].notna(), NO_PLACEMENT)
    return pd.Series(out.to_numpy(), index=m["index"].to_numpy()).reindex(keys.index)


def latest_scores(
    ds: Dataset,
    *,
    at: str | pd.Timestamp | None = None,
    period: Period | None = None,
    max_age_days: int | None = None,
) -> Snapshot:
    """Each child's latest assessment at a date or in a period.

    Parameters
    ----------
    ds : Dataset
    at : date, optional
        Reference date (default: the latest date in the data).
    period : (start, end), optional
        Use the latest assessment within the period instead.
    max_age_days : int, optional
        Date mode only: ignore assessments older than this.

    A child's latest assessment is their latest review
    (:func:`vc_eval.core.population.latest_review`): scorings by several
    assessors on the same day, or a second scoring by another assessor within
    14 days, are averaged per domain; ``assessment_date`` is the review's last date.
    """
    at, period = _when(ds, at, period)
    kids = ds.children
    if period is None:
        pop = in_care_on(kids, at)
        hi = at
        lo = at - pd.Timedelta(days=max_age_days) if max_age_days is not None else None
    else:
        lo, hi = period
        pop = kids[
            (kids[Col.entered_care] <= hi)
            & (kids[Col.left_care].isna() | (kids[Col.left_care] >= lo))
        ]
    a = ds.assessments
    keep = a[Col.child_id].isin(pop[Col.child_id]) & (a[Col.assessment_date] <= hi)
    if lo is not None:
        keep &= a[Col.assessment_date] >= lo
    a = a.loc[keep, [Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain, Col.score]]
    a = latest_review(a)
    when = a.groupby(Col.child_id, observed=True)[Col.assessment_date].max()
    when.index = when.index.astype(str)
    wide = a.pivot_table(
        index=Col.child_id,
        columns=Col.domain,
        values=Col.score,
        aggfunc="mean",
        observed=True,
    )
    wide.columns = [str(c) for c in wide.columns]
    fw = ds.framework
    domains = [d for d in fw.domain_ids if d in wide.columns]
    # strength domains are not needs: shown beside needs in analysis.strengths
    extra = sorted(c for c in wide.columns if c not in fw.all_domain_ids)
    domains += extra
    wide = wide[domains].reset_index()
    wide[Col.child_id] = wide[Col.child_id].astype(str)
    wide.insert(1, Col.assessment_date, wide[Col.child_id].map(when).astype("datetime64[ns]"))
    needs = [d for d in fw.need_domains if d in domains] or domains
    wide[TOTAL_NEED] = wide[needs].mean(axis=1)
    ref = pd.Series(at, index=wide.index) if period is None else wide[Col.assessment_date]
    wide["ref_date"] = ref.astype("datetime64[ns]")
    info = kids[[Col.child_id, Col.council, Col.sex, Col.date_of_birth]].assign(
        **{Col.child_id: kids[Col.child_id].astype(str)}
    )
    wide = wide.merge(info, on=Col.child_id, how="left", validate="one_to_one")
    wide["age"] = (wide["ref_date"] - wide[Col.date_of_birth]).dt.days / DAYS_PER_YEAR
    wide["age_group"] = age_band(wide["age"])
    wide[Col.placement_type] = _placement_on(ds.placements, wide)
    lead = [
        Col.child_id,
        Col.council,
        Col.sex,
        Col.assessment_date,
        "ref_date",
        "age",
        "age_group",
        Col.placement_type,
    ]
    wide = wide[lead + domains + [TOTAL_NEED]]
    return Snapshot(wide, domains, at, period, int(len(pop)))


# --------------------------------------------------------------------------
# Prevalence by domain and band
# --------------------------------------------------------------------------


def _with_dims(frame, caption, kinds, *, dims: dict[str, str], **kw) -> Table:
    """:func:`table_from` with the variable names the page audit relates sentences by."""
    t = table_from(frame, caption, kinds, **kw)
    t.dims = dims
    return t


def _when_text(snap: Snapshot) -> str:
    if snap.at is not None:
        return f"by {snap.at:%-d %B %Y}"
    return f"between {snap.period[0]:%-d %B %Y} and {snap.period[1]:%-d %B %Y}"


def _wide(
    st, index: str, columns: str, value_cols: Sequence[str], names: Mapping | None = None
) -> pd.DataFrame:
    """Pivot a protected long table to wide, keeping the shown strings.

    ``names`` shortens the column categories (e.g. band labels to "Band 1").
    """
    t = st.table.copy()
    if names:
        t[columns] = t[columns].map(lambda x: names.get(x, x))
    parts = []
    for v in value_cols:
        w = t.pivot(index=index, columns=columns, values=v)
        w = w.loc[list(dict.fromkeys(t[index])), list(dict.fromkeys(t[columns]))]
        w.columns = [f"{c} ({'n' if v == 'n' else '%'})" for c in w.columns]
        parts.append(w)
    out = pd.concat(parts, axis=1)
    order = [c for pair in zip(*[p.columns for p in parts], strict=True) for c in pair]
    return out[order].reset_index()


@dataclass
class PrevalenceResult(Result):
    """Children in each band of each domain.

    Attributes
    ----------
    table : DataFrame
        One row per domain x band: domain, domain_name, band, band_label, n,
        n_assessed (children scored in the domain), percent (of n_assessed).
    snapshot : Snapshot
        The latest scores used (row-level: never show).
    """

    table: pd.DataFrame
    snapshot: Snapshot = field(repr=False)
    framework: Framework | None = field(default=None, repr=False)
    caveats: list[str] = field(default_factory=list)

    _plot = "profile:plot_prevalence"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def wide(self, value: str = "percent") -> pd.DataFrame:
        """Domain x band matrix of ``value`` ("n" or "percent")."""
        out = self.table.pivot(index="domain", columns="band", values=value)
        order = list(dict.fromkeys(self.table["domain"]))
        return out.loc[order]

    def high_need(self) -> pd.DataFrame:
        """Per domain: children in the top two bands (n_high), assessed, percent; highest first."""
        t = self.table
        if t.empty:
            return pd.DataFrame(
                columns=["domain", "domain_name", "n_high", "n_assessed", "percent"]
            )
        top = int(t["band"].max())
        hi = t[t["band"] >= top - 1]
        g = hi.groupby(["domain", "domain_name"], sort=False)
        out = g.agg(n_high=("n", "sum"), n_assessed=("n_assessed", "first")).reset_index()
        out["percent"] = 100.0 * out["n_high"] / out["n_assessed"].clip(lower=1)
        out = out[out["domain"] != TOTAL_NEED]
        return out.sort_values("percent", ascending=False, kind="stable").reset_index(drop=True)

    def summary(self) -> Summary:
        """Which domains have most children with high need (words from the numbers)."""
        sm = Summary("Prevalence of need by domain and band", key="prevalence")
        sm.caveats = list(self.caveats)
        n = self.snapshot.n_assessed
        if n < MIN_N:
            return Summary.insufficient(
                sm.title,
                f"{display.count_text(n)} children were assessed; at least {MIN_N} are "
                "needed to describe their needs.",
                key="prevalence",
            )
        fw = self.framework
        sm.say(
            "assessed",
            f"{display.count_text(n)} children in care were assessed "
            f"{_when_text(self.snapshot)}; each child's latest assessment is used.",
            counts=[Count(n, ASSESSED)],
        )
        hi = self.high_need()
        st = self.safe_table()
        shown = st.table.assign(band=self.table["band"].to_numpy(), hidden=st.mask["n"].to_numpy())
        top = int(self.table["band"].max())
        parts, counts = [], []
        top_two = (self.band_value(top - 1), self.band_value(top))
        for r in hi.head(3).itertuples():
            cells = shown[(shown["domain_name"] == r.domain_name) & (shown["band"] >= top - 1)]
            # A share of the two top bands is the sum of two table cells: state it only
            # when both cells are shown, so it cannot pin down a hidden one.
            if not cells["hidden"].any() and not (1 <= r.n_high <= 5):
                parts.append(f"{r.domain_name.lower()} ({display.percent(r.percent / 100)})")
                # A child has a band in every domain, so each domain's band is its own
                # variable (as in the table, ``row_variable``): values of one variable are
                # disjoint groups to the page audit, and three domains' counts may add up
                # to more than the children assessed. The count is the table's two top
                # cells of the domain's row.
                counts.append(
                    Count(
                        int(r.n_high),
                        ASSESSED,
                        any_of=((self.band_variable(r.domain_name), top_two),),
                    )
                )
            else:
                parts.append(r.domain_name.lower())
        if parts:
            lo = fw.bands[-2].min if fw is not None and len(fw.bands) >= 2 else None
            rng = f" ({lo:g}-100)" if lo is not None else ""
            sm.say(
                "most",
                "A domain is of high need for a child when its score is in the top two bands"
                f"{rng}. The domains where most children had high need were "
                f"{display.and_list(parts)}.",
                word=str(hi["domain"].iloc[0]),
                counts=counts,
            )
        sm.tables.append(self.report_table())
        sm.headline["children_assessed"] = display.safe_count(n)
        sm.headline["top_high_need_domain"] = str(hi["domain_name"].iloc[0]) if len(hi) else None
        return sm

    def band_variable(self, domain_name: str) -> str:
        """The page audit's variable for a domain's band (one per domain: see ``report_table``)."""
        return BAND_VARIABLE.format(" ".join(str(domain_name).split()))

    def band_value(self, band: int) -> str:
        """A band as the report table's columns name it (``"Band 3"``)."""
        fw = self.framework
        if fw is not None:
            return f"Band {int(band)}"
        t = self.table
        return str(t.loc[t["band"] == band, "band_label"].iloc[0])

    def cell_counts(self) -> tuple[tuple[Count, ...], tuple[Count, ...]]:
        """The counts the report table and figure show, for the page audit.

        Returns the shown cells (domain x band, hidden cells left out) and the
        row totals (children scored in each domain), which a shown count and
        its percentage give away.
        """
        st = self.safe_table()
        hidden = st.mask["n"].to_numpy()
        t = self.table
        cells, totals = [], []
        for dom, g in t.groupby("domain_name", sort=False):
            var = self.band_variable(dom)
            shown_any = False
            for i in g.index:
                k = t.index.get_loc(i)
                if hidden[k]:
                    continue
                shown_any = True
                cells.append(
                    Count(int(t.at[i, "n"]), ASSESSED, ((var, self.band_value(t.at[i, "band"])),))
                )
            if shown_any:
                values = tuple(self.band_value(b) for b in g["band"])
                totals.append(
                    Count(int(g["n_assessed"].iloc[0]), ASSESSED, any_of=((var, values),))
                )
        return tuple(cells), tuple(totals)

    def report_table(self) -> Table:
        """Domain x band counts and percentages, disclosure-controlled, one row per domain.

        Every child is in every domain's row, so each row is its own variable
        to the page audit (``Table.row_variable``); the row totals, which a
        shown count and its percentage give away, are declared as implied.
        """
        st = self.safe_table()
        fw = self.framework
        short = {lab: f"Band {b}" for b, lab in fw.band_labels().items()} if fw else {}
        wide = _wide(st, "domain_name", "band_label", ["n", "percent"], short)
        kinds = {"domain_name": "label"}
        for col in wide.columns[1:]:
            kinds[col] = "count" if col.endswith("(n)") else "percent"
        note = ""
        if fw is not None:
            note = (
                "Bands: "
                + "; ".join(
                    f"{b.band} = {b.descriptor.lower()} ({b.min:g}-{b.max:g})" for b in fw.bands
                )
                + "."
            )
        if st.n_suppressed:
            note += f" {st.summary()}."
        t = table_from(
            wide,
            "Children by band of need in each domain (each child's latest assessment)",
            kinds,
            rename={"domain_name": "Domain"},
            note=note.strip(),
            universe=ASSESSED,
        )
        t.row_variable = BAND_VARIABLE
        t.implied = self.cell_counts()[1]
        return t

    def safe_table(self):
        """Counts and percentages with disclosure control (per domain)."""
        from vc_eval.core.privacy import suppress_long

        cols = ["domain_name", "band_label", "n", "percent"]
        return suppress_long(
            self.table[cols],
            count_col="n",
            within="domain_name",
            rows="band_label",
            percent_cols=["percent"],
        )


def prevalence_from_scores(
    scores: pd.DataFrame, domains: Sequence[str], framework: Framework
) -> pd.DataFrame:
    """Tidy band counts from a wide table of scores (one column per domain).

    Returns
    -------
    DataFrame
        domain, domain_name, band, band_label, n, n_assessed, percent.
    """
    bands = [b.band for b in framework.bands]
    labels = framework.band_labels()
    rows = []
    for d in domains:
        s = scores[d].dropna().to_numpy(dtype=float)
        b = framework.band_of(s)
        counts = pd.Series(b).value_counts().reindex(bands, fill_value=0)
        n = int(s.size)
        for band, c in counts.items():
            rows.append(
                {
                    "domain": d,
                    "domain_name": _label(framework, d),
                    "band": int(band),
                    "band_label": labels[int(band)],
                    "n": int(c),
                    "n_assessed": n,
                    "percent": 100.0 * c / n if n else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _label(fw: Framework, domain: str) -> str:
    try:
        return fw.label(domain)
    except KeyError:
        return domain


def _given_or_latest(snapshot: Snapshot | None, ds: Dataset, at, period, max_age_days) -> Snapshot:
    """``snapshot`` if given (selected already, e.g. once for the whole needs profile),
    else :func:`latest_scores` at ``at`` / in ``period``."""
    if snapshot is not None:
        return snapshot
    return latest_scores(ds, at=at, period=period, max_age_days=max_age_days)


def prevalence(
    ds: Dataset,
    *,
    at: str | pd.Timestamp | None = None,
    period: Period | None = None,
    max_age_days: int | None = None,
    snapshot: Snapshot | None = None,
    include_total: bool = False,
) -> PrevalenceResult:
    """Prevalence of need by domain and band across the care population.

    Parameters
    ----------
    ds : Dataset
    at, period, max_age_days
        See :func:`latest_scores`.
    snapshot : Snapshot, optional
        :func:`latest_scores` already selected with these ``at``, ``period``
        and ``max_age_days`` (the needs profile shares one).
    include_total : bool
        Add total need (mean of need domains) as a row group.
    """
    snap = _given_or_latest(snapshot, ds, at, period, max_age_days)
    doms = list(snap.domains) + ([TOTAL_NEED] if include_total else [])
    table = prevalence_from_scores(snap.scores, doms, ds.framework)
    return PrevalenceResult(table, snap, ds.framework)


# --------------------------------------------------------------------------
# Complexity: number of domains in the top two bands
# --------------------------------------------------------------------------


def complexity_scores(
    scores: pd.DataFrame, domains: Sequence[str], framework: Framework, *, top_bands: int = 2
) -> pd.DataFrame:
    """Per child: need domains scored and how many are in the top ``top_bands`` bands.

    Returns a frame aligned with ``scores`` with columns ``n_domains`` and
    ``complexity``.
    """
    bands = sorted(b.band for b in framework.bands)
    cut = bands[-top_bands]
    vals = scores[list(domains)].to_numpy(dtype=float)
    b = framework.band_of(vals.ravel()).reshape(vals.shape)
    high = np.where(np.isnan(b), False, b >= cut)
    return pd.DataFrame(
        {
            "n_domains": (~np.isnan(vals)).sum(axis=1),
            "complexity": high.sum(axis=1),
        },
        index=scores.index,
    )


@dataclass
class ComplexityResult(Result):
    """How many need domains each child has in the top two bands.

    Attributes
    ----------
    per_child : DataFrame
        Row-level (identifiers: never show): child_id, age_group, sex,
        placement_type, n_domains, complexity.
    distribution : DataFrame
        complexity, n, percent.
    by : dict of DataFrame
        For each of age_group, sex, placement_type: group, complexity, n,
        n_group, percent (of the group).
    means : dict of DataFrame
        For each grouping: group, n, mean, median complexity.
    top_bands : int
        How many top bands count as "high need".
    n_domains : int
        Need domains in the framework present in the data.
    """

    per_child: pd.DataFrame = field(repr=False)
    distribution: pd.DataFrame
    by: dict[str, pd.DataFrame]
    means: dict[str, pd.DataFrame]
    top_bands: int
    n_domains: int
    snapshot: Snapshot = field(repr=False)
    caveats: list[str] = field(default_factory=list)

    _plot = "profile:plot_complexity"
    #: Levels at or above this are shown together in report tables ("6+").
    TOP_CODE = 6

    def to_frame(self) -> pd.DataFrame:
        return self.distribution.copy()

    def summary(self) -> Summary:
        """How many children have high need in three or more domains."""
        title = "Complexity of need"
        c = self.per_child["complexity"]
        n = len(c)
        if n < MIN_N:
            return Summary.insufficient(
                title,
                f"{display.count_text(n)} children were assessed; at least {MIN_N} are needed.",
                key="complexity",
            )
        sm = Summary(title, key="complexity", caveats=list(self.caveats))
        n3 = int((c >= 3).sum())
        st = self.safe_table(top_code=self.TOP_CODE)
        levels = st.table["complexity"].astype(str)
        hidden = st.mask["n"].to_numpy()
        three_up = np.array([_level(x) >= 3 for x in levels])
        # "3+" sums table cells: state it only when one side of the split is fully
        # shown (then it adds nothing a reader could not already work out), never
        # when it would be a 1-5 count or leave one.
        one_side_shown = not hidden[three_up].any() or not hidden[~three_up].any()
        if one_side_shown and not (1 <= n3 <= 5) and not (1 <= n - n3 <= 5):
            share = n3 / n
            word = "most" if share > 0.5 else ("some" if n3 else "none")
            sm.say(
                "three_plus",
                f"{display.percent(share)} of children assessed had high need in three or "
                f"more domains (median {c.median():.0f} of {self.n_domains} domains).",
                word=word,
                # the table's rows of 3 or more domains (their sum)
                counts=[
                    Count(
                        n3,
                        ASSESSED,
                        any_of=(
                            (
                                COMPLEXITY_VARIABLE,
                                tuple(str(x) for x, up in zip(levels, three_up, strict=True) if up),
                            ),
                        ),
                    )
                ],
            )
            sm.headline["share_3plus_high_need_domains"] = display.percent(share)
        else:
            sm.say(
                "median",
                f"Children assessed had high need in a median of {c.median():.0f} of "
                f"{self.n_domains} domains.",
            )
        t = table_from(
            st.table,
            f"Children by number of domains of high need (top {self.top_bands} bands)",
            {"complexity": "label", "n": "count", "percent": "percent"},
            rename={"complexity": "Domains of high need", "n": "Children", "percent": "%"},
            note=st.summary() if st.n_suppressed else "",
            universe=ASSESSED,
        )
        t.dims = {"Domains of high need": COMPLEXITY_VARIABLE}
        sm.tables.append(t)
        by_age = self.safe_table("age_group", top_code=4)
        t = table_from(
            by_age.table,
            "Children by age group and number of domains of high need",
            {"age_group": "label", **{str(k): "count" for k in by_age.table.columns}},
            rename={"age_group": "Age group"},
            note=by_age.summary() if by_age.n_suppressed else "",
            universe=ASSESSED,
        )
        sm.tables.append(t)
        return sm

    def crosstab(self, by: str, *, top_code: int | None = None) -> pd.DataFrame:
        """Group x complexity counts (every group and level, zeros kept).

        ``top_code`` merges levels at or above it into one column ``"k+"``.
        """
        t = self.by[by]
        tab = t.pivot(index="group", columns="complexity", values="n").fillna(0).astype(int)
        tab = tab.reindex(pd.unique(t["group"]))
        if top_code is not None:
            hi = [c for c in tab.columns if c >= top_code]
            merged = tab[hi].sum(axis=1)
            tab = tab[[c for c in tab.columns if c < top_code]]
            tab[f"{top_code}+"] = merged
        tab.columns = [str(c) for c in tab.columns]
        tab.index.name = by
        tab.columns.name = "complexity"
        return tab

    def safe_table(self, by: str | None = None, *, top_code: int | None = None):
        """Disclosure-controlled counts: the distribution, or a group x level table."""
        from vc_eval.core.privacy import suppress, suppress_long

        if by is None:
            d = self.distribution.copy()
            if top_code is not None:
                low = d[d["complexity"] < top_code]
                hi = d[d["complexity"] >= top_code][["n", "percent"]].sum()
                d = pd.concat(
                    [
                        low.assign(complexity=low["complexity"].astype(str)),
                        pd.DataFrame(
                            [{"complexity": f"{top_code}+", "n": hi["n"], "percent": hi["percent"]}]
                        ),
                    ],
                    ignore_index=True,
                )
            return suppress_long(d, count_col="n", rows="complexity", percent_cols=["percent"])
        return suppress(self.crosstab(by, top_code=top_code), totals="both")

    def safe_means(self, by: str):
        """Mean and median complexity per group; statistics on < 6 children hidden."""
        from vc_eval.core.privacy import suppress_long

        return suppress_long(
            self.means[by], count_col="n", rows="group", stat_cols=["mean", "median"]
        )


def _level(text: str) -> int:
    """A complexity level as shown ("3", "6+") as a number."""
    return int(str(text).rstrip("+"))


def _group_levels(by: str, values: pd.Series) -> list:
    if by == "age_group":
        return list(AGE_BAND_LABELS)
    if by == "sex":
        return list(SEXES) + sorted(set(values.dropna().astype(str)) - set(SEXES))
    if by == Col.placement_type:
        present = set(values.dropna().astype(str))
        return [t for t in PLACEMENT_TYPES if t in present] + (
            [NO_PLACEMENT] if NO_PLACEMENT in present else []
        )
    return sorted(values.dropna().unique())


def complexity(
    ds: Dataset,
    *,
    at: str | pd.Timestamp | None = None,
    period: Period | None = None,
    max_age_days: int | None = None,
    snapshot: Snapshot | None = None,
    top_bands: int = 2,
) -> ComplexityResult:
    """Complexity of need: need domains in the top ``top_bands`` bands per child.

    Groups use each child's age, sex and placement type on the reference
    date (the date, or in period mode the date of the child's latest
    assessment); ages in DfE bands (under 1, 1-4, 5-9, 10-15, 16+).

    ``snapshot``: :func:`latest_scores` already selected with these ``at``,
    ``period`` and ``max_age_days`` (the needs profile shares one).
    """
    snap = _given_or_latest(snapshot, ds, at, period, max_age_days)
    fw = ds.framework
    needs = [d for d in fw.need_domains if d in snap.domains]
    s = snap.scores
    cx = complexity_scores(s, needs, fw, top_bands=top_bands)
    per_child = pd.concat([s[[Col.child_id, "age_group", Col.sex, Col.placement_type]], cx], axis=1)
    per_child = per_child[per_child["n_domains"] > 0].reset_index(drop=True)
    levels = list(range(0, len(needs) + 1))
    dist = per_child["complexity"].value_counts().reindex(levels, fill_value=0)
    top = int(per_child["complexity"].max()) if len(per_child) else 0
    dist = dist.loc[: max(top, 0)]
    n = int(dist.sum())
    distribution = pd.DataFrame(
        {
            "complexity": dist.index.astype(int),
            "n": dist.to_numpy(dtype=int),
            "percent": 100.0 * dist.to_numpy() / n if n else np.nan,
        }
    )
    by: dict[str, pd.DataFrame] = {}
    means: dict[str, pd.DataFrame] = {}
    for g in GROUPINGS:
        col = g if g != "placement_type" else Col.placement_type
        vals = per_child[col].astype(str).where(per_child[col].notna())
        groups = _group_levels(g, vals)
        tab = (
            pd.crosstab(vals, per_child["complexity"])
            .reindex(index=groups, columns=distribution["complexity"], fill_value=0)
            .fillna(0)
            .astype(int)
        )
        long = tab.stack().rename("n").reset_index()
        long.columns = ["group", "complexity", "n"]
        long["n_group"] = long.groupby("group")["n"].transform("sum")
        long["percent"] = np.where(
            long["n_group"] > 0, 100.0 * long["n"] / long["n_group"].clip(lower=1), np.nan
        )
        by[g] = long
        stats = per_child.groupby(vals, observed=True)["complexity"].agg(["size", "mean", "median"])
        stats = stats.reindex(groups)
        means[g] = pd.DataFrame(
            {
                "group": groups,
                "n": stats["size"].fillna(0).astype(int).to_numpy(),
                "mean": stats["mean"].to_numpy(),
                "median": stats["median"].to_numpy(),
            }
        )
    return ComplexityResult(per_child, distribution, by, means, top_bands, len(needs), snap)


# --------------------------------------------------------------------------
# Need clusters
# --------------------------------------------------------------------------


@dataclass
class ClusterResult(Result):
    """Profiles of need found by clustering children's domain scores.

    Attributes
    ----------
    k : int
        Number of clusters.
    method : str
        "kmeans" (k chosen by silhouette) or "gmm" (k chosen by BIC).
    selection : DataFrame
        k and the criterion for each k tried (empty if ``k`` was given).
    sizes : DataFrame
        cluster (1 = largest), label, n, percent.
    profiles : DataFrame
        cluster, label, domain, domain_name, mean (cluster mean score),
        overall (mean over all children), difference.
    assignments : DataFrame
        Row-level (identifiers: never show): child_id, cluster.
    n_excluded : int
        Children left out for missing domain scores.
    seed : int
    """

    k: int
    method: str
    selection: pd.DataFrame
    sizes: pd.DataFrame
    profiles: pd.DataFrame
    assignments: pd.DataFrame = field(repr=False)
    n_excluded: int = 0
    seed: int = 0
    caveats: list[str] = field(default_factory=list)

    _plot = "profile:plot_cluster_profiles"

    def to_frame(self) -> pd.DataFrame:
        return self.sizes.copy()

    def summary(self) -> Summary:
        """The profiles of need found, with the share of children in each (where shown)."""
        sm = Summary("Profiles of need", key="clusters", caveats=list(self.caveats))
        st = self.safe_table()
        hidden = st.mask["n"].to_numpy()
        how = "silhouette" if self.method == "kmeans" else "BIC"
        parts, counts = [], []
        for r, h in zip(self.sizes.itertuples(), hidden, strict=True):
            if h:
                parts.append(r.label.lower())
            else:
                parts.append(f"{r.label.lower()} ({display.percent(r.percent / 100)})")
                counts.append(Count(int(r.n), ASSESSED, (("profile", str(r.cluster)),)))
        sm.say(
            "groups",
            "Grouping children by their pattern of scores "
            f"({self.method}, {display.plural(self.k, 'group')}, chosen by {how}) gives: "
            + "; ".join(parts)
            + ".",
            counts=counts,
        )
        sm.tables.append(
            _with_dims(
                st.table,
                "Profiles of need (clusters of children with similar scores)",
                {"cluster": "label", "label": "text", "n": "count", "percent": "percent"},
                rename={
                    "cluster": "Profile",
                    "label": "Description",
                    "n": "Children",
                    "percent": "%",
                },
                note=st.summary() if st.n_suppressed else "",
                universe=ASSESSED,
                dims={"Profile": "profile"},
            )
        )
        return sm

    def safe_table(self):
        """Cluster sizes with disclosure control."""
        from vc_eval.core.privacy import suppress_long

        return suppress_long(
            self.sizes[["cluster", "label", "n", "percent"]],
            count_col="n",
            rows="cluster",
            percent_cols=["percent"],
        )

    def safe_profiles(self, decimals: int = 0):
        """Cluster x domain mean scores; clusters of fewer than 6 children hidden."""
        from vc_eval.core.privacy import MIN_N, SUPPRESSED

        wide = self.profiles.pivot(index="cluster", columns="domain_name", values="mean")
        order = list(dict.fromkeys(self.profiles["domain_name"]))
        wide = wide[order]
        n = self.sizes.set_index("cluster")["n"]
        out = wide.map(lambda v: f"{v:.{decimals}f}").astype(object)
        out[n.reindex(out.index).to_numpy() < MIN_N] = SUPPRESSED
        out.insert(0, "label", self.sizes.set_index("cluster")["label"].reindex(out.index))
        return out


def _describe_cluster(diff: pd.Series, names: Mapping[str, str], sd: pd.Series) -> str:
    z = diff / sd.replace(0, np.nan)
    if (z < 0).all():
        return "Lower need across domains"
    top = z.sort_values(ascending=False)
    lead = [names[d] for d in top.index[:2] if top[d] > 0.25]
    if (z > 0).mean() >= 0.75:
        return "Higher need across domains" + (f" (most: {', '.join(lead)})" if lead else "")
    if not lead:
        return "Close to average need"
    return "Higher need: " + ", ".join(lead)


def _fit_clusters(x: np.ndarray, k: int, method: str, seed: int) -> tuple[np.ndarray, object]:
    from threadpoolctl import threadpool_limits

    # One thread: OpenMP spin-waiting makes small fits 100x slower on a busy
    # machine, and a fixed thread count keeps results reproducible.
    with threadpool_limits(1):
        return _fit_clusters_1(x, k, method, seed)


def _fit_clusters_1(x: np.ndarray, k: int, method: str, seed: int) -> tuple[np.ndarray, object]:
    if method == "kmeans":
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        return model.labels_, model
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(
        n_components=k, covariance_type="full", n_init=3, random_state=seed
    ).fit(x)
    return model.predict(x), model


def cluster_scores(
    scores: pd.DataFrame,
    domains: Sequence[str],
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 6),
    method: Literal["kmeans", "gmm"] = "kmeans",
    seed: int = 0,
    framework: Framework | None = None,
    id_col: str = Col.child_id,
    progress: bool | None = None,
) -> ClusterResult:
    """Cluster children on their domain scores (generic: any wide table).

    Parameters
    ----------
    scores : DataFrame
        One row per child, one column per domain.
    domains : sequence of str
        Columns to cluster on (scores on a common 0-100 scale, not rescaled).
    k : int, optional
        Number of clusters; default chosen within ``k_range`` by silhouette
        (k-means) or BIC (Gaussian mixture).
    method : {"kmeans", "gmm"}
    seed : int
        Random seed: the same data and seed give the same clusters.
    framework : Framework, optional
        For domain names in labels.
    id_col : str
        Identifier column carried into ``assignments``.
    progress : bool, optional
        Progress bar over the k tried.
    """
    from vc_eval.core.progress import tqdm

    if method not in ("kmeans", "gmm"):
        raise ValueError("method must be 'kmeans' or 'gmm'")
    domains = list(domains)
    complete = scores[domains].notna().all(axis=1)
    data = scores.loc[complete]
    x = data[domains].to_numpy(dtype=float)
    n = len(x)
    lo, hi = k_range
    if k is None and n < hi + 1:
        raise ValueError(f"too few children with complete scores ({n}) to choose k")
    if k is not None and n < k:
        raise ValueError(f"too few children with complete scores ({n}) for k={k}")
    rows = []
    if k is None:
        from sklearn.metrics import silhouette_score

        best = None
        for kk in tqdm(
            range(lo, hi + 1), desc="clusters", disable=None if progress is None else not progress
        ):
            labels, model = _fit_clusters(x, kk, method, seed)
            if method == "kmeans":
                crit = float(
                    silhouette_score(x, labels, sample_size=min(n, 5000), random_state=seed)
                )
                better = best is None or crit > best[1] + 1e-12
            else:
                crit = float(model.bic(x))
                better = best is None or crit < best[1] - 1e-9
            rows.append({"k": kk, "silhouette" if method == "kmeans" else "bic": crit})
            if better:
                best = (kk, crit, labels)
        k, labels = best[0], best[2]
    else:
        labels, _ = _fit_clusters(x, k, method, seed)
    selection = pd.DataFrame(rows)
    # Number clusters by size (1 = largest), ties by mean score, so labels
    # do not depend on the algorithm's arbitrary numbering.
    sizes = np.bincount(labels, minlength=k)
    means = np.array([x[labels == j].mean() if sizes[j] else np.nan for j in range(k)])
    order = sorted(range(k), key=lambda j: (-sizes[j], -means[j]))
    relabel = np.empty(k, dtype=int)
    relabel[order] = np.arange(1, k + 1)
    cl = relabel[labels]
    names = {d: (_label(framework, d) if framework is not None else d) for d in domains}
    overall = pd.Series(x.mean(axis=0), index=domains)
    sd = pd.Series(x.std(axis=0), index=domains)
    prof_rows, size_rows = [], []
    for c in range(1, k + 1):
        sel = cl == c
        m = pd.Series(x[sel].mean(axis=0), index=domains)
        label = _describe_cluster(m - overall, names, sd)
        size_rows.append({"cluster": c, "label": label, "n": int(sel.sum())})
        for d in domains:
            prof_rows.append(
                {
                    "cluster": c,
                    "label": label,
                    "domain": d,
                    "domain_name": names[d],
                    "mean": float(m[d]),
                    "overall": float(overall[d]),
                    "difference": float(m[d] - overall[d]),
                }
            )
    sizes_df = pd.DataFrame(size_rows)
    sizes_df["percent"] = 100.0 * sizes_df["n"] / max(n, 1)
    assign = pd.DataFrame(
        {id_col: data[id_col].to_numpy() if id_col in data else data.index, "cluster": cl}
    )
    return ClusterResult(
        k=int(k),
        method=method,
        selection=selection,
        sizes=sizes_df,
        profiles=pd.DataFrame(prof_rows),
        assignments=assign,
        n_excluded=int((~complete).sum()),
        seed=seed,
    )


def clusters(
    ds: Dataset,
    *,
    at: str | pd.Timestamp | None = None,
    period: Period | None = None,
    max_age_days: int | None = None,
    snapshot: Snapshot | None = None,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 6),
    method: Literal["kmeans", "gmm"] = "kmeans",
    seed: int = 0,
    progress: bool | None = None,
) -> ClusterResult:
    """Need clusters of the care population from each child's latest scores.

    Clusters on the need domains (children missing any are left out and
    counted in ``n_excluded``). See :func:`cluster_scores`.

    ``snapshot``: :func:`latest_scores` already selected with these ``at``,
    ``period`` and ``max_age_days`` (the needs profile shares one).
    """
    snap = _given_or_latest(snapshot, ds, at, period, max_age_days)
    needs = [d for d in ds.framework.need_domains if d in snap.domains]
    return cluster_scores(
        snap.scores,
        needs,
        k=k,
        k_range=k_range,
        method=method,
        seed=seed,
        framework=ds.framework,
        progress=progress,
    )


# --------------------------------------------------------------------------
# Change between first and latest assessment, with reliable change
# --------------------------------------------------------------------------


def measurement_error(
    assessments: pd.DataFrame,
    *,
    domains: Sequence[str] | None = None,
    window_days: int = WINDOW_DAYS,
    min_pairs: int = 20,
    sem: float | Mapping[str, float] | None = None,
    framework: Framework | None = None,
    include_total: bool = False,
) -> pd.DataFrame:
    """Standard error of measurement (SEM) per domain.

    From pairs of scorings of the same child by two different assessors
    within ``window_days`` (so true need has barely changed):
    ``SEM = sqrt(sum(d^2) / 2n)``, which counts both assessor differences
    and day-to-day noise as error. Where a domain has fewer than
    ``min_pairs`` pairs, a value from ``sem`` (one number, or per domain)
    is used instead; without one, the domain's SEM is NaN. A single number
    for ``sem`` is used for every domain.

    Returns
    -------
    DataFrame
        domain, sem, n_pairs, method ("double-scored pairs", "given" or
        "not estimated").
    """
    sm = score_matrix(assessments, framework=framework, include_total=include_total)
    return _measurement_error(sm, domains, window_days, min_pairs, sem)


def _measurement_error(
    sm: ScoreMatrix,
    domains: Sequence[str] | None,
    window_days: int,
    min_pairs: int,
    sem: float | Mapping[str, float] | None,
) -> pd.DataFrame:
    i1, i2 = pair_rows(sm, window_days=window_days)
    rows = []
    for d in sm.domains if domains is None else domains:
        if d in sm.domains:
            col = sm.column(d)
            diff = col[i2] - col[i1]
            diff = diff[~np.isnan(diff)]
        else:
            diff = np.array([])
        n = int(diff.size)
        given = sem.get(d) if isinstance(sem, Mapping) else sem
        if given is not None and (n < min_pairs or not isinstance(sem, Mapping)):
            rows.append({"domain": d, "sem": float(given), "n_pairs": n, "method": "given"})
        elif n >= min_pairs:
            s = sem_from_differences(diff)
            rows.append({"domain": d, "sem": s, "n_pairs": n, "method": "double-scored pairs"})
        else:
            rows.append({"domain": d, "sem": np.nan, "n_pairs": n, "method": "not estimated"})
    return pd.DataFrame(rows, columns=["domain", "sem", "n_pairs", "method"])


def reliable_change(
    first: np.ndarray,
    latest: np.ndarray,
    sem: np.ndarray | float,
    *,
    higher_is_worse: bool | np.ndarray = True,
    z: float = 1.96,
) -> tuple[np.ndarray, np.ndarray]:
    """Jacobson-Truax reliable change index and category.

    ``RCI = (latest - first) / SE_diff`` with ``SE_diff = sqrt(2) * SEM``;
    |RCI| > ``z`` is a reliable change. For need scores (higher is worse) a
    fall is an improvement.

    Returns
    -------
    (rci, category)
        Arrays; category is one of :data:`CHANGE_CATEGORIES` (or "" where
        the SEM is unknown).
    """
    first = np.asarray(first, dtype=float)
    latest = np.asarray(latest, dtype=float)
    se_diff = np.sqrt(2.0) * np.broadcast_to(np.asarray(sem, dtype=float), first.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        rci = (latest - first) / se_diff
    worse = np.broadcast_to(np.asarray(higher_is_worse, dtype=bool), first.shape)
    signed = np.where(worse, rci, -rci)  # > 0 means things got worse
    cat = np.where(
        signed < -z,
        CHANGE_CATEGORIES[0],
        np.where(signed > z, CHANGE_CATEGORIES[2], CHANGE_CATEGORIES[1]),
    ).astype(object)
    cat[~np.isfinite(rci)] = ""
    return rci, cat


@dataclass
class ChangeResult(Result):
    """Change in need between each child's first and latest assessment.

    Attributes
    ----------
    per_child : DataFrame
        Row-level (identifiers: never show): child_id, domain, first_date,
        latest_date, years, first, latest, change, rci, category.
    error : DataFrame
        Per domain: sem, se_diff, threshold (smallest reliable change, in
        points), n_pairs, method.
    summary_table : DataFrame
        Per domain x category: domain, domain_name, category, n, n_children,
        percent; plus mean_change per domain.
    method_note : str
        How the measurement error was estimated.
    """

    per_child: pd.DataFrame = field(repr=False)
    error: pd.DataFrame
    summary_table: pd.DataFrame
    method_note: str
    z: float = 1.96
    framework: Framework | None = field(default=None, repr=False)
    caveats: list[str] = field(default_factory=list)

    _plot = "profile:plot_reliable_change"

    def to_frame(self) -> pd.DataFrame:
        return self.summary_table.copy()

    def _total(self) -> tuple[str, pd.DataFrame]:
        """The domain the headline speaks of (total need if there) and its rows."""
        t = self.summary_table
        dom = TOTAL_NEED if (t["domain"] == TOTAL_NEED).any() else None
        if dom is None and len(t):
            dom = str(t.groupby("domain", sort=False)["n_children"].max().idxmax())
        return dom, t[t["domain"] == dom]

    def summary(self) -> Summary:
        """Whether need rose or fell, and how many changed reliably (words from the numbers)."""
        title = "Change in need over the period"
        dom, tot = self._total()
        n = int(tot["n_children"].max()) if len(tot) else 0
        if n < MIN_N:
            return Summary.insufficient(
                title,
                f"{display.count_text(n)} children had two assessments far enough apart to "
                f"compare; at least {MIN_N} are needed.",
                key="change",
            )
        sm = Summary(title, key="change", caveats=[self.method_note, *self.caveats])
        name = display.label(dom, self.framework)
        mean = float(tot["mean_change"].iloc[0])
        if abs(mean) < NO_CHANGE:
            word, how = "no change", "did not change on average"
        else:
            word = "rose" if mean > 0 else "fell"
            how = f"{word} by {display.points(abs(mean))} on average"
        better = (
            "a fall is an improvement"
            if _worse_when_higher(dom, self.framework)
            else ("a rise is an improvement")
        )
        sm.say(
            "mean",
            f"{display.count_text(n)} children had a first and a latest assessment at least "
            f"two weeks apart. Their {name.lower()} {how} ({better}).",
            word=word,
            counts=[Count(n, REASSESSED, (("domain", name),))],
        )
        sm.headline["mean_total_need_change"] = round(mean, 1)
        st = self.safe_table()
        rows = st.table.assign(
            domain=self.summary_table["domain"].to_numpy(), hidden=st.mask["n"].to_numpy()
        )
        rows = rows[rows["domain"] == dom].set_index("category")
        by = tot.set_index("category")["n"]
        err = self.error.set_index("domain")
        thr = float(err.loc[dom, "threshold"]) if dom in err.index else np.nan
        if np.isfinite(thr):
            parts, counts = [], []
            shown = {}
            for cat, verb in (
                ("improved", "reliably improved"),
                ("deteriorated", "reliably deteriorated"),
            ):
                k = int(by.get(cat, 0))
                # Only shares the table itself shows: a share of a hidden cell (or one
                # that would leave a 1-5 remainder) could be differenced against it.
                if cat in rows.index and not bool(rows.loc[cat, "hidden"]):
                    shown[cat] = k
                    parts.append(f"{display.percent(k / n)} {verb}")
                    counts.append(Count(k, REASSESSED, (("domain", name), ("change", cat))))
                    sm.headline[f"share_reliably_{cat}"] = display.percent(k / n)
            text = (
                f"A change counts as reliable when it is larger than {thr:.1f} points, the "
                "difference two assessors commonly give the same child; "
            )
            text += (
                display.and_list(parts) + "."
                if parts
                else "the numbers reliably improving or deteriorating are too small to show."
            )
            word2 = None
            if len(shown) == 2:
                imp, det = shown["improved"], shown["deteriorated"]
                word2 = (
                    "more improved"
                    if imp > det
                    else ("more deteriorated" if det > imp else "as many")
                )
                text += {
                    "more improved": " More children reliably improved than deteriorated.",
                    "more deteriorated": " More children reliably deteriorated than improved.",
                    "as many": " As many children reliably improved as deteriorated.",
                }[word2]
            sm.say("reliable", text, word=word2, counts=counts)
        sm.tables.append(self.report_table())
        return sm

    def report_table(self) -> Table:
        """Reliable change per domain (counts and %, disclosure-controlled) with mean change."""
        st = self.safe_table()
        t = self.summary_table
        wide = _wide(st, "domain_name", "category", ["n", "percent"])
        means = t.drop_duplicates("domain")
        stats = privacy.suppress_stats(
            means, n_col="n_children", stat_cols=["mean_change"], decimals=1
        ).set_index("domain_name")["mean_change"]
        wide["Mean change (points)"] = wide["domain_name"].map(stats).to_numpy()
        kinds = {"domain_name": "label", "Mean change (points)": "stat"}
        for col in wide.columns[1:-1]:
            kinds[col] = "count" if col.endswith("(n)") else "percent"
        # Rows are domains and the count columns the change categories, the variables the
        # findings' counts use, so the page audit relates "k children reliably improved"
        # to the row it comes from. (A child is in every domain's row: no count of all
        # reassessed children is stated in this universe, so no row sum is implied.)
        t = _with_dims(
            wide,
            "Reliable change between each child's first and latest assessment",
            kinds,
            rename={"domain_name": "Domain"},
            note=st.summary() if st.n_suppressed else "",
            universe=REASSESSED,
            dims={"Domain": "domain"},
        )
        t.columns_dim = "change"
        return t

    def safe_table(self):
        """Counts per domain and category, with disclosure control per domain."""
        from vc_eval.core.privacy import suppress_long

        cols = ["domain_name", "category", "n", "percent"]
        return suppress_long(
            self.summary_table[cols],
            count_col="n",
            within="domain_name",
            rows="category",
            percent_cols=["percent"],
        )


def _pairs_range(n_pairs: pd.Series) -> str:
    lo, hi = int(n_pairs.min()), int(n_pairs.max())
    return display.plural(lo, "pair") if lo == hi else f"{lo:,} to {hi:,} pairs"


def _worse_when_higher(domain: str, fw: Framework | None) -> bool:
    """Is a higher score worse? As the framework declares (``better``), once."""
    if fw is None or domain == TOTAL_NEED:
        return True
    try:
        return fw.better(domain) == "lower"
    except KeyError:
        return True


def first_and_latest(
    assessments: pd.DataFrame,
    *,
    min_gap_days: int = WINDOW_DAYS + 1,
    framework: Framework | None = None,
    include_total: bool = False,
) -> pd.DataFrame:
    """Each child's first and latest score per domain (dates at least ``min_gap_days`` apart).

    Several assessors on the same date are averaged.

    Returns
    -------
    DataFrame
        child_id, domain, first_date, latest_date, years, first, latest, change.
    """
    sm = score_matrix(assessments, framework=framework, include_total=include_total)
    return _first_and_latest(sm, min_gap_days)


def _first_and_latest(
    sm: ScoreMatrix, min_gap_days: int, window_days: int = WINDOW_DAYS
) -> pd.DataFrame:
    cols = [Col.child_id, Col.domain, "first_date", "latest_date", "years", "first", "latest"]
    if sm.child.size == 0:
        return pd.DataFrame(columns=[*cols, "change"])
    # Rows are sorted by child, date, assessor: average each review (a scoring and the
    # scorings repeating it: same day, or another assessor within SECOND_SCORING_DAYS),
    # the rule of a child's latest need everywhere (core.population.latest_review).
    starts = np.flatnonzero(
        ~second_scorings(sm.child, sm.day, sm.assessor, window_days=window_days)
    )
    valid = ~np.isnan(sm.scores)
    sums = np.add.reduceat(np.where(valid, sm.scores, 0.0), starts, axis=0)
    counts = np.add.reduceat(valid.astype(int), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    g_child, g_day = sm.child[starts], sm.day[starts]
    frames = []
    for j, d in enumerate(sm.domains):
        ok = counts[:, j] > 0
        c, day, v = g_child[ok], g_day[ok], mean[ok, j]
        if c.size == 0:
            continue
        first = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        last = np.r_[first[1:] - 1, c.size - 1]
        gap = day[last] - day[first]
        keep = gap >= min_gap_days
        f, la = first[keep], last[keep]
        frames.append(
            pd.DataFrame(
                {
                    Col.child_id: sm.child_ids[c[f]].astype(str),
                    Col.domain: d,
                    "first_date": day[f].astype("datetime64[D]").astype("datetime64[ns]"),
                    "latest_date": day[la].astype("datetime64[D]").astype("datetime64[ns]"),
                    "years": gap[keep] / DAYS_PER_YEAR,
                    "first": v[f],
                    "latest": v[la],
                    "change": v[la] - v[f],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=[*cols, "change"])
    return pd.concat(frames, ignore_index=True)


def need_change(
    ds: Dataset,
    *,
    period: Period | None = None,
    sem: float | Mapping[str, float] | None = None,
    window_days: int = WINDOW_DAYS,
    min_pairs: int = 20,
    min_gap_days: int | None = None,
    include_total: bool = True,
    z: float = 1.96,
) -> ChangeResult:
    """Change between each child's first and latest assessment, with reliable change.

    Parameters
    ----------
    ds : Dataset
    period : (start, end), optional
        Use only assessments dated within the period.
    sem : float or mapping, optional
        Standard error of measurement to use where there are fewer than
        ``min_pairs`` double-scored pairs (or everywhere, if a single number).
    window_days : int
        Largest gap (days) between two scorings that count as a pair.
    min_pairs : int
        Fewest pairs needed to estimate a domain's SEM from the data.
    min_gap_days : int, optional
        Smallest gap between first and latest assessment (default:
        ``window_days + 1``, so a double-scoring is not counted as change).
    include_total : bool
        Add total need (mean of need domains per assessment).
    z : float
        Reliable-change criterion: |change| > z * SE_diff (1.96: 95%).
    """
    fw = ds.framework
    a = ds.assessments
    if period is not None:
        lo, hi = (pd.Timestamp(x) for x in period)
        a = a[(a[Col.assessment_date] >= lo) & (a[Col.assessment_date] <= hi)]
    sm = score_matrix(a, framework=fw, include_total=include_total)
    domains = [d for d in fw.domain_ids if d in sm.domains]
    if include_total and TOTAL_NEED in sm.domains:
        domains.append(TOTAL_NEED)
    err = _measurement_error(sm, domains, window_days, min_pairs, sem)
    err["se_diff"] = np.sqrt(2.0) * err["sem"]
    err["threshold"] = z * err["se_diff"]
    err = err[["domain", "sem", "se_diff", "threshold", "n_pairs", "method"]]
    gap = window_days + 1 if min_gap_days is None else min_gap_days
    fl = _first_and_latest(sm, gap, window_days)
    fl = fl[fl[Col.domain].isin(domains)].reset_index(drop=True)
    sem_of = err.set_index("domain")["sem"]
    # which way is better is the framework's declaration, not a rule of this module
    worse = ~fw.higher_is_better(fl[Col.domain].to_numpy())
    rci, cat = reliable_change(
        fl["first"],
        fl["latest"],
        fl[Col.domain].map(sem_of).to_numpy(dtype=float),
        higher_is_worse=worse,
        z=z,
    )
    fl["rci"] = rci
    fl["category"] = cat
    rated = fl[fl["category"] != ""]
    counts = rated.groupby([Col.domain, "category"]).size()
    n_dom = rated.groupby(Col.domain).size()
    mean_change = rated.groupby(Col.domain)["change"].mean()
    rows = []
    for d in domains:
        n = int(n_dom.get(d, 0))
        for c in CHANGE_CATEGORIES:
            k = int(counts.get((d, c), 0))
            rows.append(
                {
                    "domain": d,
                    "domain_name": _label(fw, d),
                    "category": c,
                    "n": k,
                    "n_children": n,
                    "percent": 100.0 * k / n if n else np.nan,
                    "mean_change": float(mean_change.get(d, np.nan)),
                }
            )
    summary = pd.DataFrame(rows)
    used = err[err["method"] == "double-scored pairs"]
    given = err[err["method"] == "given"]
    missing = err[err["method"] == "not estimated"]
    note = (
        f"Reliable change (Jacobson-Truax): a change larger than {z:g} x SE_diff, where "
        "SE_diff = sqrt(2) x SEM. "
    )
    if len(used):
        note += (
            f"SEM estimated for {len(used)} domain(s) from pairs of scorings of the same child "
            f"by two different assessors within {window_days} days "
            f"({_pairs_range(used['n_pairs'])} per domain), "
            "as sqrt(sum of squared differences / 2n): it counts both differences between "
            "assessors and day-to-day variation as error. "
        )
    if len(given):
        note += f"SEM supplied by the user for {len(given)} domain(s). "
    if len(missing):
        note += (
            f"{len(missing)} domain(s) had fewer than {min_pairs} pairs and no SEM was given, "
            "so reliable change was not assessed there."
        )
    return ChangeResult(fl, err, summary, note.strip(), z, fw)


# --------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------


@dataclass
class NeedsProfile(Result):
    """Prevalence, complexity, clusters and change, computed together."""

    prevalence: PrevalenceResult
    complexity: ComplexityResult
    clusters: ClusterResult | None
    change: ChangeResult
    caveats: list[str] = field(default_factory=list)
    #: What the mean total need is set against: (what, mean), e.g.
    #: ("in the previous period", 41.2); None for no comparison.
    reference: tuple[str, float] | None = None

    _plot = "profile:plot_prevalence"

    def mean_total(self) -> float:
        """Mean of each assessed child's latest total need (NaN with no child)."""
        s = self.prevalence.snapshot.scores
        return float(s[TOTAL_NEED].mean()) if len(s) else float("nan")

    def _mean_finding(self, sm: Summary) -> None:
        fw = self.prevalence.framework
        mean = self.mean_total()
        if not np.isfinite(mean) or fw is None:
            return
        b = fw.band_of(np.array([mean]))[0]  # band_of fails on a scalar
        band = next((x for x in fw.bands if x.band == b), None)
        if band is None:
            return
        text = (
            "At their latest assessment, children's average total need was "
            f"{mean:.1f} out of 100 (band {band.band}: {band.descriptor.lower()})"
        )
        word = None
        if self.reference is not None and np.isfinite(self.reference[1]):
            what, ref = self.reference
            diff = round(mean, 1) - round(ref, 1)
            word = "about the same" if abs(diff) < 0.05 else ("higher" if diff > 0 else "lower")
            text += (
                f", {word} than {ref:.1f} {what}"
                if word != "about the same"
                else f", about the same as {what} ({ref:.1f})"
            )
        sm.say("mean_total", text + ".", word=word)
        sm.headline["mean_total_need_latest"] = round(mean, 1)

    def to_frame(self) -> pd.DataFrame:
        return self.prevalence.to_frame()

    def plot(self, ax=None, **kwargs):
        return self.prevalence.plot(ax=ax, **kwargs)

    def summary(self) -> Summary:
        """Prevalence, complexity and profiles of need as one summary (change is separate)."""
        title = "Needs profile and complexity"
        prev = self.prevalence.summary()
        if prev.status != "ok":
            prev.title, prev.key = title, "needs_profile"
            return prev
        sm = Summary(title, key="needs_profile", caveats=list(self.caveats))
        parts = [prev, self.complexity.summary()]
        if self.clusters is not None and len(self.clusters.sizes):
            parts.append(self.clusters.summary())
        for i, p in enumerate(parts):
            if p.status != "ok":
                continue
            sm.findings += p.findings
            if i == 0:
                self._mean_finding(sm)
            sm.tables += p.tables
            sm.caveats += [c for c in p.caveats if c not in sm.caveats]
            sm.headline.update(p.headline)
        return sm


def needs_profile(
    ds: Dataset,
    *,
    at: str | pd.Timestamp | None = None,
    period: Period | None = None,
    k: int | None = None,
    seed: int = 0,
    sem: float | Mapping[str, float] | None = None,
    with_clusters: bool = True,
    progress: bool | None = False,
) -> NeedsProfile:
    """The whole needs profile of a dataset (one or more councils)."""
    # every part reads the same latest scores: selected once
    snap = latest_scores(ds, at=at, period=period)
    prev = prevalence(ds, at=at, period=period, snapshot=snap)
    cx = complexity(ds, at=at, period=period, snapshot=snap)
    cl = None
    if with_clusters:
        try:
            cl = clusters(
                ds, at=at, period=period, k=k, seed=seed, progress=progress, snapshot=snap
            )
        except ValueError:
            cl = None  # too few children to cluster
    ch = need_change(ds, period=period, sem=sem)
    return NeedsProfile(prev, cx, cl, ch)


__all__ = [
    "CHANGE_CATEGORIES",
    "NO_PLACEMENT",
    "ChangeResult",
    "ClusterResult",
    "ComplexityResult",
    "NeedsProfile",
    "PrevalenceResult",
    "Snapshot",
    "cluster_scores",
    "clusters",
    "complexity",
    "complexity_scores",
    "first_and_latest",
    "latest_scores",
    "measurement_error",
    "need_change",
    "needs_profile",
    "prevalence",
    "prevalence_from_scores",
    "reliable_change",
]
