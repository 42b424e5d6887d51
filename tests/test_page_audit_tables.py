"""Every count table on a report page says what it counts, so the page audit relates it.

A table of counts with no universe is checked alone by per-table suppression,
never against the sentences, figures and other tables about the same
children. Tables whose columns are two populations (children in care at the
end and at the start of a period) say so per column
(``Table.column_universes``); tables whose rows are populations of their own
(children entering care, leaving, in care at the start ...) per cell
(``Table.cell_universes``).
"""

from __future__ import annotations

import pandas as pd
import pytest

from vc_eval.analysis import care
from vc_eval.core import privacy
from vc_eval.core.summary import Count, Finding, Summary
from vc_eval.plots import population as pop

#: Count tables still without a universe (none now: a table added without one fails).
KNOWN: set[str] = set()


def column_has_universe(table, col: str) -> bool:
    if table.universe or col in table.column_universes:
        return True
    labels = [c for c, k in table.kinds.items() if k == "label"]
    if not labels or not table.cell_universes:
        return False
    rows = [privacy.label_key(v) for v in table.frame[labels[0]]]
    keys = {(privacy.label_key(r), c) for r, c in table.cell_universes}
    return all((r, col) in keys for r in rows)


def test_strength_cost_table_counts_the_children_its_sentence_states(bundled):
    from vc_eval.analysis.strengths import UNIVERSE_STRENGTH_COST, strength_cost

    res = strength_cost(bundled.subset(bundled.council_names()[0]), n_boot=20)
    sm = res.summary()
    (t,) = sm.tables
    assert all(column_has_universe(t, c) for c, k in t.kinds.items() if k == "count")
    assert set(t.cell_universes.values()) == {UNIVERSE_STRENGTH_COST}
    assert privacy.audit_page([sm], fix=False).ok
    # a sentence stating another number of the same children contradicts the table
    wrong = Finding("x", "x", counts=(Count(res.n_children + 7, UNIVERSE_STRENGTH_COST),))
    with pytest.raises(privacy.DisclosureError):
        privacy.audit_page([sm, Summary("x", findings=[wrong])])


# --------------------------------------------------------------------------
# The placement tables' two columns (dates, periods) and the flows table
# --------------------------------------------------------------------------

END, START = pd.Timestamp("2025-03-31"), pd.Timestamp("2024-04-01")
LABELS = ["In-house foster care", "IFA foster care", "Children's home"]


def _mix(*ns: int) -> dict:
    return dict(zip(LABELS, ns, strict=True))


def _population(mix_end: dict, mix_start: dict, flows: dict | None = None):
    def as_flows(v):  # as care.care_flows hides them
        lo, hi = privacy.THRESHOLD
        small = {k: lo <= n <= hi for k, n in v.items()}
        hidden = {k: small[k] or (any(small.values()) and k in ("entered", "left")) for k in v}
        shown = {k: privacy.format_count(n, hidden[k]) for k, n in v.items()}
        return {"values": v, "hidden": hidden, "shown": shown}

    v = flows or {"start": 30, "entered": 20, "left": 7, "end": 43}
    return care.CarePopulation(
        start=START,
        end=END,
        flows=as_flows(v),
        previous_flows=as_flows({"start": 25, "entered": 12, "left": 7, "end": v["start"]}),
        age_sex=pd.DataFrame({"Girls": [20], "Boys": [23]}, index=["10-15"]),
        mix_end=pd.Series(mix_end),
        mix_start=pd.Series(mix_start),
        monthly=pd.DataFrame(columns=["month", "children", "period"]),
    )


def test_start_column_of_the_placement_table_is_linked_to_sentences_about_the_start():
    # At the start: 20 foster, 7 IFA, 3 in homes (total 30). The table hides the 3
    # and the 7 that protects it; a sentence stating the 7 gives the 3 away.
    res = _population(_mix(25, 10, 8), _mix(20, 7, 3))
    table = res._placement_table()
    start = table.frame.set_index("Placement type")["At start of period"]
    assert start["Children's home"] == "c" and start["IFA foster care"] == "c"
    said = Finding(
        "ifa",
        "7 children were in IFA foster care at the start.",
        counts=(Count(7, care.IN_CARE_START, (("placement", "IFA foster care"),)),),
    )
    audit = privacy.audit_page([Summary("P", findings=[said], tables=[table])], fix=False)
    hit = {(v["universe"], v["where"], v["value"]) for v in audit.violations}
    assert (care.IN_CARE_START, (("placement", "Children's home"),), 3) in hit
    # a count at the end is about another population: nothing to see
    ifa = (("placement", "IFA foster care"),)
    at_end = Finding("e", "10", counts=(Count(10, care.IN_CARE_END, ifa),))
    assert privacy.audit_page([Summary("P", findings=[at_end], tables=[table])], fix=False).ok
    fixed = privacy.audit_page([Summary("P", findings=[said], tables=[table])])
    assert fixed.ok and (fixed.withheld or fixed.hidden)


def test_a_date_with_fewer_than_six_in_care_shows_no_placement_types():
    # Five types of one child each at the start: five c's beside "fewer than 6 in
    # care" would pin every one to 1 (the tiny-council audit found this once the
    # column was linked to the sentence); the column is left out instead.
    labels = ["In-house foster care", "IFA foster care", "Kinship care", "Children's home"]
    start = {**dict.fromkeys(labels, 1), "Other": 1}
    res = _population(_mix(25, 10, 8), start, {"start": 5, "entered": 40, "left": 2, "end": 43})
    sm = res.summary()
    table = next(t for t in sm.tables if t.caption.startswith("Placement type"))
    assert "At start of period" not in table.frame.columns
    assert "start of period are not shown" in table.note
    assert table.column_universes == {"At end of period": care.IN_CARE_END}
    audit = privacy.audit_page([sm], fix=False)
    assert audit.ok and not audit.violations


def test_flows_table_cells_are_the_universes_of_the_sentences_and_headline():
    res = _population(_mix(25, 10, 8), _mix(20, 7, 3))
    sm = res.summary()
    flows = next(t for t in sm.tables if t.caption == "Children entering and leaving care")
    unis = set(flows.cell_universes.values())
    assert {care.IN_CARE_START, care.ENTERED, care.LEFT, care.IN_CARE_END} <= unis
    # the previous period's end is this period's start: one universe, one number
    assert flows.cell_universes[("In care at end", "Previous period")] == care.IN_CARE_START
    assert privacy.audit_page([sm], fix=False).ok
    wrong = Finding("x", "x", counts=(Count(21, care.ENTERED),))  # the table shows 20
    with pytest.raises(privacy.DisclosureError):
        privacy.audit_page([sm, Summary("x", findings=[wrong])])


def test_stability_bars_are_linked_to_the_table_and_none_the_table_hides_is_drawn():
    # Previous period: 20 children with one placement, 6 with two, 1 with three or
    # more (27 in care at its end, the day before this period). The table hides the 1
    # and the 6; a bar for the 6 (22% of 27) would give the 1 away.
    from vc_eval.core.summary import FigureOut

    counts = pd.DataFrame(
        {"placements": ["1", "2", "3 or more"], "this": [30, 8, 7], "previous": [20, 6, 1]}
    )
    res = care.PlacementStability(END, counts)
    sm = res.summary()
    table = sm.tables[0]
    assert table.column_universes == {
        "This period": care.IN_CARE_END,
        "Previous period": care.IN_CARE_START,
    }
    prev = table.frame.set_index("Placements in the period")["Previous period"]
    assert prev["2"] == "c" and prev["3 or more"] == "c"
    assert not res.shown().at["2", "previous"]
    fig = pop.stability_figure(res)
    try:
        assert 6 not in fig.marks  # the hidden 6 is not drawn
        page = [Summary(sm.title, sm.findings, sm.tables, [fig])]
        audit = privacy.audit_page(page)
        assert audit.ok and not audit.violations and audit.summaries[0].figures == [fig]
    finally:
        fig.close()
    # a figure drawing it (as before) is read with the table and withheld
    drew = FigureOut(
        None,
        "bars",
        "Drew the hidden 6",
        counts=(
            Count(20, care.IN_CARE_START, (("placements", "1"),)),
            Count(6, care.IN_CARE_START, (("placements", "2"),)),
            Count(1, care.IN_CARE_START, (("placements", "3 or more"),)),
        ),
        marks=(20, 6),
    )
    page = [Summary(sm.title, sm.findings, sm.tables, [drew])]
    audit = privacy.audit_page(page, fix=False)
    hit = {(v["universe"], v["where"], v["value"]) for v in audit.violations}
    assert (care.IN_CARE_START, (("placements", "3 or more"),), 1) in hit
    assert privacy.audit_page(page).figures_withheld == ["Drew the hidden 6"]


def test_mix_figure_draws_no_type_the_placement_table_hides():
    # At the end: 30 foster, 10 IFA, 3 in homes (43). The table hides the 3 and the 10
    # that protects it; a bar for the 10 (23% of the 43 in care the page states) would
    # give the 3 away, as national pages showed (a lone Secure placement of 2 or 3).
    res = _population(_mix(30, 10, 3), _mix(20, 7, 3))
    shown = res.shown_end()
    assert shown.to_dict() == {
        "In-house foster care": True,
        "IFA foster care": False,
        "Children's home": False,
    }
    fig = pop.care_population_figure(res)
    assert 10 not in fig.marks and 30 in fig.marks
    drawn = [c for c in fig.counts if c.universe == care.IN_CARE_END and c.value >= 6]
    assert [c.where for c in drawn] == [(("placement", "In-house foster care"),)]
    audit = privacy.audit_page([res.summary(), Summary("F", figures=[fig])], fix=False)
    assert audit.ok, audit.violations
    # with nothing hidden in the table every type of 6 or more is drawn again
    full = _population(_mix(25, 10, 8), _mix(20, 7, 3))
    assert full.shown_end().all() and {25, 10, 8} <= set(pop.care_population_figure(full).marks)
