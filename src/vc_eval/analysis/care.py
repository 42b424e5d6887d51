"""The care population from episodes and placements alone (what SSDA903 holds).

Three results need no needs scores, so every council can have them:

* :class:`CarePopulation`: children in care at the start and end of a period,
  who entered and left, age and sex, placement mix (:func:`care_population`);
* :class:`PlacementCosts`: weekly spend on placements at the period end, by
  placement type (:func:`placement_costs`);
* :class:`PlacementStability`: how many placements children in care had during
  the period, the DfE "three or more placements" measure
  (:func:`placement_stability`).

Each derives from :class:`vc_eval.core.summary.Result`: every sentence is a
:class:`~vc_eval.core.summary.Finding` made here from the numbers, every count
of children it states is declared, and every table is disclosure-controlled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vc_eval.core import display, privacy
from vc_eval.core.dataset import Dataset
from vc_eval.core.options import COMPARISONS
from vc_eval.core.population import age_band, age_on, in_care_on, placements_on
from vc_eval.core.schema import PLACEMENT_LABELS, Col
from vc_eval.core.summary import Count, Result, Summary, Table, count_table, stat_table

MIN_N = privacy.MIN_N
#: Universes of the counts these summaries state (see :class:`~vc_eval.core.summary.Count`).
IN_CARE_END = "in_care_end"
IN_CARE_START = "in_care_start"
ENTERED = "entered_care"
LEFT = "left_care"
#: The same for the period before (the flows table's second column); the children in
#: care at the end of the period before are those at the start (:data:`IN_CARE_START`).
IN_CARE_START_PREVIOUS = "in_care_start_previous_period"
ENTERED_PREVIOUS = "entered_care_previous_period"
LEFT_PREVIOUS = "left_care_previous_period"
#: The four numbers of :func:`care_flows`, tied by start + entered - left = end.
FLOWS: tuple[str, ...] = ("start", "entered", "left", "end")
#: Children with no placement recorded on a date (a row of placement tables).
NO_PLACEMENT = "No placement recorded"
#: Changes smaller than this (relative) are "about the same".
SAME = 0.005
#: Comparisons a report can ask for.


def _date(d) -> str:
    return f"{pd.Timestamp(d):%-d %B %Y}"


def _in_period(frame: pd.DataFrame, col: str, start, end) -> pd.DataFrame:
    return frame[(frame[col] >= start) & (frame[col] <= end)]


def _change_word(new: float, old: float) -> str:
    """ "rose", "fell" or "about the same" (relative change below :data:`SAME`)."""
    if old == 0 or abs(new - old) / abs(old) < SAME:
        return "about the same"
    return "rose" if new > old else "fell"


def care_flows(children: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """Children in care at the start and end of a period, and entering and leaving in it.

    The four numbers are tied (start + entered - left = end, up to children
    entering and leaving on the same day), so one hidden number could be
    worked out from the other three. When any of them is 1-5, both flows
    (entered, left) are hidden, with whichever of start and end is itself
    1-5: then no hidden number can be pinned down.

    Returns
    -------
    dict
        ``values`` (the counts), ``hidden`` (bool per count) and ``shown``
        (strings, ``c`` where hidden), each keyed by :data:`FLOWS`.
    """
    c = children
    values = {
        "start": len(in_care_on(c, start - pd.Timedelta(days=1))),
        "entered": len(_in_period(c, Col.entered_care, start, end)),
        "left": int(c[Col.left_care].between(start, end).sum()),
        "end": len(in_care_on(c, end)),
    }
    lo, hi = privacy.THRESHOLD
    small = {k: lo <= v <= hi for k, v in values.items()}
    any_small = any(small.values())
    hidden = {k: small[k] or (any_small and k in ("entered", "left")) for k in FLOWS}
    shown = {k: privacy.format_count(values[k], hidden[k]) for k in FLOWS}
    return {"values": values, "hidden": hidden, "shown": shown}


def placement_counts(
    children: pd.DataFrame, placements: pd.DataFrame, date: pd.Timestamp
) -> pd.Series:
    """Children in care on ``date`` by placement type (labels, schema order; none recorded last)."""
    kids = in_care_on(children, date)
    active = placements_on(placements, date)
    active = active[active[Col.child_id].isin(kids[Col.child_id])]
    return mix_from_counts(
        active[Col.placement_type].value_counts().to_dict(), len(kids), len(active)
    )


def mix_from_counts(type_counts: dict, in_care: int, with_placement: int) -> pd.Series:
    """Placement-type counts (ids) as a labelled Series with every type and "no placement"."""
    counts = pd.Series({str(k): int(v) for k, v in type_counts.items()}, dtype=int)
    counts = counts.reindex(list(PLACEMENT_LABELS), fill_value=0).rename(index=PLACEMENT_LABELS)
    missing = in_care - with_placement
    if missing > 0:
        counts[NO_PLACEMENT] = missing
    return counts.astype(int)


# --------------------------------------------------------------------------
# The care population
# --------------------------------------------------------------------------


@dataclass
class CarePopulation(Result):
    """Who was in care in a period, who entered and left, and where they were placed.

    Attributes
    ----------
    start, end : Timestamp
        The period.
    flows : dict
        :func:`care_flows` of the period; ``previous_flows`` of the period before
        (or None).
    age_sex : DataFrame
        Children in care at the end by age band (rows) and sex (Girls, Boys).
    mix_end, mix_start : Series
        Children in care at the end / start by placement type (labels).
    monthly : DataFrame
        ``month``, ``children`` (in care on the first of the month; NaN under
        6), ``period`` ("This period" or "Previous period", shifted onto this
        period's months).
    comparison : str
        One of :data:`COMPARISONS`.
    all_mix : Series or None
        All councils' placement mix at the end (comparison "all_councils").
    """

    start: pd.Timestamp
    end: pd.Timestamp
    flows: dict
    previous_flows: dict | None
    age_sex: pd.DataFrame
    mix_end: pd.Series
    mix_start: pd.Series
    monthly: pd.DataFrame
    comparison: str = "previous_period"
    all_mix: pd.Series | None = None
    caveats: list[str] = field(default_factory=list)

    _plot = "population:plot_in_care"

    @property
    def n_end(self) -> int:
        return int(self.flows["values"]["end"])

    @property
    def n_start(self) -> int:
        return int(self.flows["values"]["start"])

    def to_frame(self) -> pd.DataFrame:
        """Placement mix at the end and start of the period (tidy, counts)."""
        return pd.DataFrame(
            {
                "placement_type": self.mix_end.index,
                "children_end": self.mix_end.to_numpy(),
                "children_start": self.mix_start.reindex(self.mix_end.index, fill_value=0),
            }
        ).reset_index(drop=True)

    def change_word(self) -> str | None:
        """ "rose", "fell", "about the same", or None when either count is under 6."""
        if self.n_start < MIN_N or self.n_end < MIN_N:
            return None
        return _change_word(self.n_end, self.n_start)

    def summary(self) -> Summary:
        sm = Summary("The care population", key="population", caveats=list(self.caveats))
        f = self.flows
        n_end, n_start = self.n_end, self.n_start
        word = self.change_word()
        change = ""
        if word is not None:
            pct = abs(n_end - n_start) / n_start
            change = (
                f", {display.percent(pct)} {'more' if word == 'rose' else 'fewer'} than at "
                "the start"
                if word != "about the same"
                else ", about the same as at the start"
            )
        sm.say(
            "in_care",
            f"On {_date(self.end)}, {display.count_text(n_end)} children were in care, against "
            f"{display.count_text(n_start)} at the start of the period{change}.",
            word=word,
            counts=[Count(n_end, IN_CARE_END), Count(n_start, IN_CARE_START)],
        )
        counts = [
            Count(f["values"][k], u)
            for k, u in (("entered", ENTERED), ("left", LEFT))
            if not f["hidden"][k]
        ]
        sm.say(
            "flows",
            f"During the period {_flow_text(f, 'entered')} children entered care and "
            f"{_flow_text(f, 'left')} left.",
            counts=counts,
        )
        sm.headline.update(
            {
                "children_in_care_end": display.safe_count(n_end),
                "children_in_care_start": display.safe_count(n_start),
                "entered_care": None if f["hidden"]["entered"] else f["values"]["entered"],
                "left_care": None if f["hidden"]["left"] else f["values"]["left"],
            }
        )
        if n_end == 0:
            sm.status = "insufficient"
            sm.say(
                "empty",
                "No child was in care at the end of the period, so there is no population "
                "to describe.",
            )
            return sm
        mix = self.mix_end.drop(NO_PLACEMENT, errors="ignore")
        top = str(mix.idxmax()) if mix.max() >= MIN_N else None
        if top is not None:
            share = mix[top] / max(n_end, 1)
            sm.say(
                "mix",
                f"The most common placement type at the end of the period was "
                f"{top.lower()} ({display.percent(share)} of children in care).",
                word=top,
                counts=[Count(int(mix[top]), IN_CARE_END, (("placement", top),))],
            )
        age_sex = count_table(
            self.age_sex,
            caption=f"Children in care on {_date(self.end)}, by age and sex",
            label="Age band",
            universe=IN_CARE_END,
        )
        age_sex.dims, age_sex.columns_dim = {"Age band": "age_band"}, "sex"
        placement = self._placement_table()
        sm.tables += [age_sex, *([placement] if placement is not None else []), self._flows_table()]
        return sm

    def shown_end(self) -> pd.Series:
        """Whether the placement table shows each type's count at the end (not ``c``),
        so the figure of the mix draws no share the table hides (with the total in
        care, a lone hidden type's count would follow); index as :attr:`mix_end`."""
        tab = self._placement_table()
        col = "At end of period"
        if tab is None or col not in tab.frame:
            return pd.Series(False, index=self.mix_end.index)
        t = tab.frame.set_index("Placement type")[col]
        return pd.Series(
            [bool(k in t.index and t[k] != privacy.SUPPRESSED) for k in self.mix_end.index],
            index=self.mix_end.index,
        )

    def _placement_table(self) -> Table | None:
        """Placement type at the end (and start) of the period; None if neither can be shown.

        A date with 1-5 children in care is left out: its types would be all ``c``
        or ``0``, and how many are ``c`` beside "fewer than 6" in care can pin them
        (five types of at least one child each, fewer than 6 children: one each).
        """
        frame = pd.DataFrame({"At end of period": self.mix_end})
        if self.comparison == "previous_period":
            frame = frame.reindex(frame.index.union(self.mix_start.index, sort=False), fill_value=0)
            frame["At start of period"] = self.mix_start.reindex(frame.index, fill_value=0)
        lo, hi = privacy.THRESHOLD
        small = [c for c in frame.columns if lo <= int(frame[c].sum()) <= hi]
        frame = frame.drop(columns=small)
        if frame.shape[1] == 0:
            return None
        # The columns are two dates: their row sums mean nothing, so only column
        # totals (children in care on each date) are shown and protected.
        tab = count_table(
            frame,
            caption=f"Placement type of children in care on {_date(self.end)}",
            label="Placement type",
            totals="columns",
            row_totals=False,
            percent_of="column",
            universe=IN_CARE_END,
        )
        tab.dims = {"Placement type": "placement"}
        # Two dates, two populations: each column in the universe its sentences use.
        universes = {"At end of period": IN_CARE_END, "At start of period": IN_CARE_START}
        if frame.shape[1] == 1:  # count_table names a lone column's count as it is
            tab.column_universes = {frame.columns[0]: universes[frame.columns[0]]}
        else:
            tab.column_universes = {c: universes[c] for c in frame.columns}
        if small:
            said = " and ".join(c.lower().removeprefix("at ") for c in small)
            tab.note = (
                f"{tab.note} Placement types at the {said} are not shown: fewer than 6 "
                "children were in care then."
            ).strip()
        if self.comparison == "all_councils" and self.all_mix is not None:
            allc = self.all_mix
            pct = (100 * allc / max(allc.sum(), 1)).reindex(tab.frame["Placement type"])
            n_all = allc.reindex(pct.index).fillna(0)
            lo, hi = privacy.THRESHOLD
            tab.frame["All councils (%)"] = [
                privacy.format_percent(v, lo <= n <= hi, count=n)
                for v, n in zip(pct.fillna(0), n_all, strict=True)
            ]
            tab.kinds["All councils (%)"] = "percent"
            tab.note = (
                tab.note + " All councils: every council in the data, "
                f"{display.count_text(int(allc.sum()))} children."
            ).strip()
        return tab

    def _flows_table(self) -> Table:
        cols = {"This period": self.flows}
        if self.previous_flows is not None:
            cols["Previous period"] = self.previous_flows
        rows = {
            "start": "In care at start",
            "entered": "Entered care",
            "left": "Left care",
            "end": "In care at end",
        }
        frame = pd.DataFrame({"Children": list(rows.values())})
        for name, f in cols.items():
            frame[name] = [f["shown"][k] for k in rows]
        hidden_any = any(any(f["hidden"].values()) for f in cols.values())
        note = (
            "Where any of the four numbers is 1-5, the numbers entering and leaving are hidden "
            "too, because the four numbers determine one another."
            if hidden_any
            else ""
        )
        kinds = {"Children": "label"} | dict.fromkeys(cols, "count")
        # Each cell is a population of its own, in the universe the sentences and
        # headline use (the end of the period before is its start: one universe).
        # The four numbers' tie (start + entered - left = end) is not one the audit
        # can state across universes; care_flows hides enough for it.
        universes = {
            "This period": (IN_CARE_START, ENTERED, LEFT, IN_CARE_END),
            "Previous period": (
                IN_CARE_START_PREVIOUS,
                ENTERED_PREVIOUS,
                LEFT_PREVIOUS,
                IN_CARE_START,
            ),
        }
        cells = {
            (label, col): uni
            for col in cols
            for label, uni in zip(rows.values(), universes[col], strict=True)
        }
        return Table("Children entering and leaving care", frame, kinds, note, cell_universes=cells)


def _flow_text(f: dict, key: str) -> str:
    return "an undisclosed number of" if f["hidden"][key] else display.count_text(f["values"][key])


def previous_period(start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period of the same length just before ``start``."""
    length = end - start
    prev_end = start - pd.Timedelta(days=1)
    return prev_end - length, prev_end


def care_population(
    ds: Dataset,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    comparison: str = "previous_period",
    all_mix: pd.Series | None = None,
) -> CarePopulation:
    """The care population of a dataset (usually one council) over a period.

    Parameters
    ----------
    ds : Dataset
    start, end : date
        The period.
    comparison : {"previous_period", "all_councils", "none"}
        What the end-of-period placement mix is set against.
    all_mix : Series, optional
        All councils' placement mix at ``end`` (labels -> children), for
        ``comparison="all_councils"``.
    """
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {', '.join(COMPARISONS)}")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    kids = ds.children
    flows = care_flows(kids, start, end)
    prev = previous_period(start, end)
    previous_flows = care_flows(kids, *prev) if comparison == "previous_period" else None
    now = in_care_on(kids, end)
    bands = age_band(age_on(now, end))
    tab = pd.crosstab(pd.Series(bands, name="Age band"), now[Col.sex].to_numpy())
    tab = tab.reindex(columns=["female", "male"], fill_value=0)
    tab.columns = ["Girls", "Boys"]
    periods = [("This period", start, end)]
    if comparison == "previous_period":
        periods.append(("Previous period", *prev))
    rows = []
    for label, a, b in periods:
        for m in pd.date_range(a, b, freq="MS"):
            n = len(in_care_on(kids, m))
            # Same months of the year on one axis: the previous period is shifted.
            rows.append(
                {
                    "month": m + (start - a),
                    "children": n if n >= MIN_N else np.nan,
                    "period": label,
                }
            )
    return CarePopulation(
        start=start,
        end=end,
        flows=flows,
        previous_flows=previous_flows,
        age_sex=tab,
        mix_end=placement_counts(kids, ds.placements, end),
        mix_start=placement_counts(kids, ds.placements, start - pd.Timedelta(days=1)),
        monthly=pd.DataFrame(rows, columns=["month", "children", "period"]),
        comparison=comparison,
        all_mix=all_mix,
    )


# --------------------------------------------------------------------------
# Placement costs
# --------------------------------------------------------------------------


@dataclass
class PlacementCosts(Result):
    """Weekly spend on the placements of children in care on a date, by placement type.

    Attributes
    ----------
    at : Timestamp
    by_type : DataFrame
        ``placement_type`` (label), ``children``, ``weekly_spend``,
        ``median_weekly_cost``, ``imputed`` (placements with an estimated cost).
    start_total, start_children : float, int
        Total weekly spend and children placed on the comparison date (the day
        before the period; NaN / 0 if not asked for).
    """

    at: pd.Timestamp
    by_type: pd.DataFrame
    start_total: float = float("nan")
    start_children: int = 0
    caveats: list[str] = field(default_factory=list)

    _plot = "population:plot_spend_by_type"

    @property
    def n_children(self) -> int:
        return int(self.by_type["children"].sum())

    @property
    def total(self) -> float:
        return float(self.by_type["weekly_spend"].sum())

    def to_frame(self) -> pd.DataFrame:
        return self.by_type.copy()

    def summary(self) -> Summary:
        title = "Placement costs"
        n = self.n_children
        if n < MIN_N:
            return Summary.insufficient(
                title,
                f"{display.count_text(n)} children in care had a placement on "
                f"{_date(self.at)}; at least {MIN_N} are needed to describe spend.",
                key="costs",
            )
        sm = Summary(title, key="costs", caveats=list(self.caveats))
        per_child = self.total / n
        text = (
            f"Placements of the {display.count_text(n)} children placed on {_date(self.at)} "
            f"cost {display.money(self.total)} a week in total, "
            f"{display.money(per_child)} per child on average"
        )
        word = None
        if self.start_children >= MIN_N and np.isfinite(self.start_total):
            before = self.start_total / self.start_children
            word = _change_word(per_child, before)
            text += (
                f"; the average per child {word} from {display.money(before)} at the start of "
                "the period"
                if word != "about the same"
                else f", about the same per child as at the start ({display.money(before)})"
            )
        sm.say("total", text + ".", word=word, counts=[Count(n, IN_CARE_END, (("placed", "yes"),))])
        shown = self.by_type[self.by_type["children"] >= MIN_N]
        if len(shown):
            top = shown.sort_values("weekly_spend", ascending=False).iloc[0]
            sm.say(
                "largest",
                f"{top['placement_type']} took the largest share of spend: "
                f"{display.percent(top['weekly_spend'] / self.total)} of weekly spend for "
                f"{display.percent(top['children'] / n)} of children placed.",
                word=str(top["placement_type"]),
                counts=[
                    Count(
                        int(top["children"]), IN_CARE_END, (("placement", top["placement_type"]),)
                    )
                ],
            )
        sm.headline["weekly_spend_end"] = round(self.total)
        sm.headline["weekly_cost_per_child_end"] = round(per_child)
        t = self.by_type.copy()
        t["share"] = 100 * t["weekly_spend"] / max(self.total, 1)
        table = stat_table(
            t.rename(
                columns={
                    "placement_type": "Placement type",
                    "children": "Children",
                    "weekly_spend": "Weekly spend (£)",
                    "share": "Share of spend (%)",
                    "median_weekly_cost": "Median weekly cost (£)",
                }
            ),
            caption=f"Weekly spend on placements by type, {_date(self.at)}",
            n_col="Children",
            stat_cols=["Weekly spend (£)", "Share of spend (%)", "Median weekly cost (£)"],
            label_cols=["Placement type"],
            decimals=0,
            note="Spend and costs are hidden for types with fewer than 6 children.",
            universe=IN_CARE_END,
        )
        table.dims = {"Placement type": "placement"}
        sm.tables.append(table)
        return sm


def placement_costs(
    ds: Dataset, at: str | pd.Timestamp, *, start: str | pd.Timestamp | None = None
) -> PlacementCosts:
    """Weekly spend on placements of children in care on ``at`` (and on ``start``, to compare)."""
    at = pd.Timestamp(at)
    kids = in_care_on(ds.children, at)
    active = placements_on(ds.placements, at)
    active = active[active[Col.child_id].isin(kids[Col.child_id])]
    active = active[active[Col.weekly_cost].notna()]
    g = active.groupby(Col.placement_type, observed=True)
    by = pd.DataFrame(
        {
            "children": g.size(),
            "weekly_spend": g[Col.weekly_cost].sum(),
            "median_weekly_cost": g[Col.weekly_cost].median(),
            "imputed": g[Col.cost_imputed].sum() if Col.cost_imputed in active else 0,
        }
    )
    by = by.reindex([t for t in PLACEMENT_LABELS if t in by.index])
    by.index = [PLACEMENT_LABELS[t] for t in by.index]
    by = by.rename_axis("placement_type").reset_index()
    caveats = []
    n_imp = int(by["imputed"].sum()) if len(by) else 0
    if n_imp and n_imp == len(active):
        caveats.append(
            "Every weekly cost is an estimate from typical costs by placement type (no costs "
            "were imported), so spend shows the placement mix, not what was paid."
        )
    elif n_imp:
        caveats.append(
            f"{display.percent(n_imp / max(len(active), 1))} of placements have an estimated "
            "weekly cost (typical cost for the placement type)."
        )
    start_total, start_children = float("nan"), 0
    if start is not None:
        s = pd.Timestamp(start) - pd.Timedelta(days=1)
        k0 = in_care_on(ds.children, s)
        a0 = placements_on(ds.placements, s)
        a0 = a0[a0[Col.child_id].isin(k0[Col.child_id]) & a0[Col.weekly_cost].notna()]
        start_total, start_children = float(a0[Col.weekly_cost].sum()), int(len(a0))
    return PlacementCosts(at, by, start_total, start_children, caveats)


# --------------------------------------------------------------------------
# Placement stability
# --------------------------------------------------------------------------


@dataclass
class PlacementStability(Result):
    """Placements during a period of the children in care at its end (DfE stability measure).

    Attributes
    ----------
    counts : DataFrame
        ``placements`` ("1", "2", "3 or more", and "none recorded"), ``this``
        (children, this period), ``previous`` (the period before, or absent).
    """

    end: pd.Timestamp
    counts: pd.DataFrame
    caveats: list[str] = field(default_factory=list)

    _plot = "population:plot_stability"

    def to_frame(self) -> pd.DataFrame:
        return self.counts.copy()

    def share_three_plus(self, col: str = "this") -> float:
        c = self.counts.set_index("placements")[col]
        n = c.sum()
        return float(c.get("3 or more", 0) / n) if n else float("nan")

    def shown(self) -> pd.DataFrame:
        """Whether the stability table shows each count (not ``c``), so a figure draws
        no bar the table hides; index: placements, columns: ``this`` (and ``previous``)."""
        t = self._table().frame.set_index("Placements in the period")
        names = {"this": "This period", "previous": "Previous period"}
        out = pd.DataFrame({k: t[v] != privacy.SUPPRESSED for k, v in names.items() if v in t})
        return out.drop(index=privacy.TOTAL)

    def summary(self) -> Summary:
        title = "Placement stability"
        c = self.counts.set_index("placements")["this"]
        n = int(c.sum())
        if n < MIN_N:
            return Summary.insufficient(
                title,
                f"{display.count_text(n)} children were in care at the end of the period; at "
                f"least {MIN_N} are needed.",
                key="stability",
            )
        sm = Summary(title, key="stability", caveats=list(self.caveats))
        tab = self._table()
        shown = tab.frame.set_index("Placements in the period")
        k = int(c.get("3 or more", 0))
        if shown.loc["3 or more", "This period"] != privacy.SUPPRESSED:
            share = k / n
            text = (
                f"{display.percent(share)} of the children in care at the end of the period had "
                "three or more placements during it"
            )
            word = None
            if "previous" in self.counts and "Previous period" in shown.columns:
                p = self.counts.set_index("placements")["previous"]
                if (
                    p.sum() >= MIN_N
                    and shown.loc["3 or more", "Previous period"] != privacy.SUPPRESSED
                ):
                    before = self.share_three_plus("previous")
                    word = (
                        "about the same"
                        if round(100 * share) == round(100 * before)
                        else ("rose" if share > before else "fell")
                    )
                    text += (
                        f"; the share {word} from {display.percent(before)} in the previous period"
                        if word != "about the same"
                        else ", about the same as in the previous period "
                        f"({display.percent(before)})"
                    )
            sm.say(
                "three_plus",
                text + ".",
                word=word,
                counts=[Count(k, IN_CARE_END, (("placements", "3 or more"),))],
            )
            sm.headline["share_3plus_placements"] = display.percent(share)
        else:
            sm.say(
                "three_plus",
                "The number of children with three or more placements in the period is too "
                "small to show.",
            )
        sm.tables.append(tab)
        return sm

    def _table(self) -> Table:
        frame = self.counts.set_index("placements").rename(
            columns={"this": "This period", "previous": "Previous period"}
        )
        tab = count_table(
            frame,
            caption="Children in care at the end of the period by placements during it",
            label="Placements in the period",
            totals="columns",
            row_totals=False,
            percent_of="column",
            universe=IN_CARE_END,
        )
        # The variable the sentence and figure use; the previous period's children are
        # those in care at its end, the day before this period: the start's universe.
        tab.dims = {"Placements in the period": "placements"}
        tab.column_universes = {"This period": IN_CARE_END}
        if "Previous period" in frame.columns:
            tab.column_universes["Previous period"] = IN_CARE_START
        return tab


def _placements_during(ds: Dataset, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    kids = in_care_on(ds.children, end)[Col.child_id]
    p = ds.placements
    p = p[
        p[Col.child_id].isin(kids)
        & (p[Col.start_date] <= end)
        & (p[Col.end_date].isna() | (p[Col.end_date] >= start))
    ]
    n = p.groupby(Col.child_id).size().reindex(kids, fill_value=0)
    cat = np.where(n >= 3, "3 or more", np.where(n == 0, "none recorded", n.astype(str)))
    order = ["1", "2", "3 or more", "none recorded"]
    out = pd.Series(cat).value_counts().reindex(order, fill_value=0)
    if out["none recorded"] == 0:
        out = out.drop("none recorded")
    return out


def placement_stability(
    ds: Dataset,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    previous: bool = True,
) -> PlacementStability:
    """How many placements the children in care at ``end`` had during the period.

    With ``previous`` the same is counted for the period of the same length
    just before, for comparison.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    this = _placements_during(ds, start, end)
    frame = pd.DataFrame({"placements": this.index, "this": this.to_numpy()})
    if previous:
        prev = _placements_during(ds, *previous_period(start, end))
        idx = list(dict.fromkeys([*this.index, *prev.index]))
        frame = pd.DataFrame(
            {
                "placements": idx,
                "this": this.reindex(idx, fill_value=0).to_numpy(),
                "previous": prev.reindex(idx, fill_value=0).to_numpy(),
            }
        )
    caveats = [
        "Placements are counted as recorded; a change of carer within one placement record "
        "is not a move here. The DfE measure counts children in care on 31 March."
    ]
    return PlacementStability(end, frame, caveats)


__all__ = [
    "COMPARISONS",
    "FLOWS",
    "NO_PLACEMENT",
    "CarePopulation",
    "PlacementCosts",
    "PlacementStability",
    "care_flows",
    "care_population",
    "mix_from_counts",
    "placement_costs",
    "placement_counts",
    "placement_stability",
    "previous_period",
]
