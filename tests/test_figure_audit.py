"""Figures in the page-level disclosure audit, and tables whose rows are variables.

A figure declares the counts of children it shows (``FigureOut.counts``) and
the children behind each mark (``FigureOut.marks``); the audit reads them with
the tables and sentences, withholds a figure that would reveal a count of 1-5
or has a mark for fewer than 6 children, and says so. The prevalence table
(one row per domain, bands as columns: every child in every row) declares
each row as its own variable (``Table.row_variable``), so a sentence about a
domain's band count is linked to that row's cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_page_audit import PLACE, U, crosstab_table, pinned_small_cells, truth

from vc_eval.core import display, privacy
from vc_eval.core.summary import Count, FigureOut, Finding, Summary, Table


def mix_table(counts: dict[str, int], *, universe: str = U) -> Table:
    """A one-way table by placement with its Total, suppressed as a report does."""
    frame = pd.DataFrame({"Placement": list(counts), "Children": list(counts.values())})
    frame.loc[len(frame)] = [privacy.TOTAL, sum(counts.values())]
    st = privacy.suppress_long(frame, count_col="Children", rows="Placement")
    return Table(
        "Children by placement", st.table, {"Placement": "label", "Children": "count"}, universe=U
    )


def mix_figure(counts: dict[str, int]) -> FigureOut:
    """A bar chart of shares that draws every type of 6 or more children (as
    ``plots.population`` does), declaring what it shows."""
    drawn = {k: v for k, v in counts.items() if v >= privacy.MIN_N}
    return FigureOut(
        None,
        "Share of children by placement type.",
        "Placement mix",
        counts=tuple(Count(v, U, (("Placement", k),)) for k, v in counts.items() if v >= 1),
        marks=tuple(drawn.values()),
    )


MIX = {"Foster": 40, "Children's home": 8, "Other": 3}


def test_table_alone_hides_the_small_cell_and_its_protector():
    t = mix_table(MIX)
    shown = dict(zip(t.frame["Placement"], t.frame["Children"], strict=True))
    assert shown["Other"] == "c" and shown["Children's home"] == "c"
    assert privacy.audit_page([Summary("t", tables=[t])], fix=False).ok


def test_figure_count_with_table_reveals_hidden_cell_and_figure_is_withheld():
    # The figure draws the 8 the table hid to protect the 3; with the table's
    # total (51) and Foster (40) a reader works out Other = 3.
    page = [Summary("Population", tables=[mix_table(MIX)], figures=[mix_figure(MIX)])]
    audit = privacy.audit_page(page, fix=False)
    assert not audit.ok
    assert ((("Placement", "Other"),), 3) in {(v["where"], v["value"]) for v in audit.violations}
    fixed = privacy.audit_page(page, fix=True)
    assert fixed.ok
    assert fixed.summaries[0].figures == []  # the figure, not more of the table
    assert fixed.figures_withheld == ["Placement mix"]
    assert any("figure" in c and "withheld" in c for c in fixed.summaries[0].caveats)
    assert any("figure(s) withheld" in n for n in fixed.notes)
    assert page[0].figures  # the input is not modified
    assert privacy.audit_page(fixed.summaries, fix=False).ok


def test_figure_that_draws_only_what_the_table_shows_passes():
    safe = {"Foster": 40, "Children's home": 18, "Other": 13}
    page = [Summary("Population", tables=[mix_table(safe)], figures=[mix_figure(safe)])]
    audit = privacy.audit_page(page)
    assert audit.ok and not audit.violations and page[0].figures == audit.summaries[0].figures
    assert audit.figure_counts  # the audit read the figure's counts


def test_mark_for_fewer_than_six_children_withholds_the_figure():
    fig = FigureOut(None, "Dots by age.", "By age", marks=(12, 9, 4))
    page = [Summary("Ages", figures=[fig, FigureOut(None, "Fine.", "Fine", marks=(6, 0))])]
    audit = privacy.audit_page(page, fix=False)
    assert [v["kind"] for v in audit.violations] == ["mark"]
    fixed = privacy.audit_page(page)
    assert fixed.ok and fixed.figures_withheld == ["By age"]
    assert [f.caption for f in fixed.summaries[0].figures] == ["Fine"]


def test_figures_without_marks_are_listed_as_unchecked():
    audit = privacy.audit_page([Summary("x", figures=[FigureOut(None, "a", "Undeclared")])])
    assert audit.ok and audit.figures_unchecked == ["Undeclared"]


def test_figure_counts_that_contradict_the_page_withhold_the_figure_not_the_report():
    t = mix_table({"Foster": 40, "Children's home": 18, "Other": 13})
    wrong = FigureOut(None, "a", "Wrong", counts=(Count(90, U, (("Placement", "Foster"),)),))
    audit = privacy.audit_page([Summary("x", tables=[t], figures=[wrong])])
    assert audit.ok and audit.figures_withheld == ["Wrong"]
    with pytest.raises(privacy.DisclosureError):  # without figures it is refused, as before
        privacy.audit_page(
            [
                Summary(
                    "x",
                    tables=[t],
                    findings=[
                        Finding("f", "90", counts=(Count(90, U, (("Placement", "Foster"),)),))
                    ],
                )
            ]
        )


# --------------------------------------------------------------------------
# Random small councils with a figure
# --------------------------------------------------------------------------


def test_random_small_councils_with_a_figure_nothing_small_can_be_worked_out():
    rng = np.random.default_rng(23)
    caught = 0
    for _ in range(10):
        n = int(rng.integers(5, 31))
        place = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
        typical = np.where(rng.random(n) < 0.6, place, rng.choice(3, size=n))
        grid = np.zeros((3, 3), dtype=int)
        np.add.at(grid, (place, typical), 1)
        counts = {p: int((place == i).sum()) for i, p in enumerate(PLACE)}
        page = [
            Summary(
                "Council",
                findings=[
                    Finding("n", f"{display.count_text(n)} children.", counts=(Count(n, U, ()),))
                ],
                tables=[crosstab_table(grid, PLACE, PLACE)],
                figures=[mix_figure(counts)],
            )
        ]
        data = {"Placement": place, "Typical": typical, "Age": place}
        labels = {"Placement": PLACE, "Typical": PLACE, "Age": PLACE}
        audit = privacy.audit_page(page, fix=False)
        caught += not audit.ok
        for v in audit.violations:
            if v["kind"] in ("hidden", "derived"):
                assert v["value"] == truth(data, labels, v["where"])
        fixed = privacy.audit_page(page)
        assert fixed.ok
        assert privacy.audit_page(fixed.summaries, fix=False).ok
        assert pinned_small_cells(fixed.summaries, data, labels) == [], n
        for f in fixed.summaries[0].figures:  # no kept figure has a mark for 1-5 children
            assert all(not 1 <= m <= 5 for m in f.marks)
    assert caught >= 2


# --------------------------------------------------------------------------
# Tables whose rows are variables (prevalence: one row per domain)
# --------------------------------------------------------------------------

BANDS = ["Band 1", "Band 2", "Band 3", "Band 4"]
A = "assessed"


def prevalence_table(rows: dict[str, list[int]]) -> Table:
    """One row per domain, bands as columns, suppressed within each domain (as the
    needs profile does), each row its own variable."""
    long = pd.DataFrame(
        [(d, b, n) for d, ns in rows.items() for b, n in zip(BANDS, ns, strict=True)],
        columns=["Domain", "band", "n"],
    )
    st = privacy.suppress_long(long, count_col="n", within="Domain", rows="band")
    wide = st.table.pivot(index="Domain", columns="band", values="n").loc[list(rows), BANDS]
    wide.columns = [f"{b} (n)" for b in BANDS]
    wide = wide.reset_index()
    t = Table(
        "Children by band in each domain",
        wide,
        {"Domain": "label"} | {c: "count" for c in wide.columns[1:]},
        universe=A,
    )
    t.row_variable = "band in {}"
    t.implied = tuple(
        Count(sum(ns), A, any_of=((f"band in {d}", tuple(BANDS)),)) for d, ns in rows.items()
    )
    return t


ROWS = {"Health": [30, 12, 24, 4], "Learning": [40, 20, 6, 4]}


def top_two(domain: str, n: int) -> Finding:
    return Finding(
        f"most.{domain}",
        f"{n} children had high need in {domain.lower()}.",
        counts=(Count(n, A, any_of=((f"band in {domain}", ("Band 3", "Band 4")),)),),
    )


def test_prevalence_rows_are_variables_each_row_safe_alone():
    t = prevalence_table(ROWS)
    assert t.frame.loc[0, "Band 4 (n)"] == "c"
    page = [Summary("Needs", findings=[Finding("n", "70", counts=(Count(70, A),))], tables=[t])]
    assert privacy.audit_page(page, fix=False).ok  # every child in every row: no contradiction


def test_prevalence_sentence_about_top_bands_differenced_against_the_row_is_caught():
    # "28 children had high need in health" with the health row's band 3 (24)
    # shown gives band 4 = 4, hidden in the table (with band 2 to protect it).
    t = prevalence_table(ROWS)
    page = [Summary("Needs", findings=[top_two("Health", 28)], tables=[t])]
    audit = privacy.audit_page(page, fix=False)
    hit = {(v["where"], v["value"]) for v in audit.violations}
    assert ((("band in Health", "Band 4"),), 4) in hit
    fixed, notes = privacy.audit_and_fix(page)
    assert notes and privacy.audit_page(fixed, fix=False).ok
    # the same sentence about the other domain reveals nothing of health
    other = [Summary("Needs", findings=[top_two("Learning", 10)], tables=[prevalence_table(ROWS)])]
    v = privacy.audit_page(other, fix=False).violations
    assert all(w["where"] != (("band in Health", "Band 4"),) for w in v)


def test_prevalence_rows_differenced_across_domains_through_a_figure_are_caught():
    # A figure drawing the health cell the table hid to protect band 4 (band 2,
    # 12 children) gives band 4 away with the row's total (implied by the %).
    t = prevalence_table(ROWS)
    h = t.frame.set_index("Domain").loc["Health"]
    hidden = [b for b in BANDS if h[f"{b} (n)"] == "c"]
    assert len(hidden) == 2
    shows = {b: n for b, n in zip(BANDS, ROWS["Health"], strict=True) if b == hidden[0]}
    fig = FigureOut(
        None,
        "Heatmap",
        "Prevalence",
        counts=tuple(Count(n, A, (("band in Health", b),)) for b, n in shows.items()),
        marks=tuple(shows.values()),
    )
    audit = privacy.audit_page([Summary("Needs", tables=[t], figures=[fig])], fix=False)
    assert not audit.ok
    fixed = privacy.audit_page([Summary("Needs", tables=[t], figures=[fig])])
    assert fixed.ok
    # the audit withholds the figure or hides more of the row, and says so
    assert fixed.figures_withheld == ["Prevalence"] or fixed.hidden
    assert fixed.notes


# --------------------------------------------------------------------------
# The report's own figures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_ctx(bundled):
    """The report page of 24 children of a bundled council, computed once."""
    from _report_data import TINY, tiny_dataset

    from vc_eval.reporting import sections as S

    return S.build_context(
        data=tiny_dataset(bundled, 24), data_dir="tiny", council=TINY, domains="total"
    )


def test_report_figures_declare_marks_and_the_audited_page_keeps_none_under_six(tiny_ctx):
    from vc_eval.reporting import sections as S

    ctx = tiny_ctx
    drawn = [f for s in S.all_sections(ctx) for f in s.figures]
    audit = S.page_audit(ctx)
    assert audit.ok
    assert audit.figures_unchecked == []  # every report figure declares its marks
    assert all(f.marks is not None for f in drawn)
    kept = [f for s in S.page(ctx) for f in s.figures]
    assert len(kept) == len(drawn) - len(audit.figures_withheld)
    for f in kept:
        assert all(not 1 <= m <= 5 for m in f.marks), f.caption
    assert len(drawn) >= 5 and any(f.counts for f in drawn) and audit.figure_counts


def test_reliable_change_figure_draws_no_pooled_segment_for_fewer_than_six():
    """A domain whose hidden cells add up to 1-5 children gets no grey segment (the
    national audit found one drawn for 3 children), only its ``c``."""
    from matplotlib.patches import Rectangle

    from vc_eval.analysis.profile import CHANGE_CATEGORIES, ChangeResult
    from vc_eval.plots import profile as pp
    from vc_eval.plots.report import new_figure

    rows = []
    for dom, ns in (("Behaviour", [2, 329, 1]), ("Health", [18, 304, 10]), ("Play", [3, 40, 4])):
        for cat, n in zip(CHANGE_CATEGORIES, ns, strict=True):
            rows.append(
                {
                    "domain": dom.lower(),
                    "domain_name": dom,
                    "category": cat,
                    "n": n,
                    "n_children": sum(ns),
                    "percent": 100 * n / sum(ns),
                }
            )
    res = ChangeResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(rows), "")
    counts, marks = pp._change_counts(res)
    assert all(not 1 <= m <= 5 for m in marks)
    assert 7 in marks  # Play: 3 + 4 hidden, a grey segment of 7 children is drawn
    _, ax = new_figure()
    pp.plot_reliable_change(res, ax=ax)
    grey = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]
    widths = sorted(round(p.get_width(), 1) for p in grey)
    assert round(100 * 3 / 332, 1) not in widths  # Behaviour's pool of 3 is not drawn
    assert round(100 * 7 / 47, 1) in widths
    assert sum(t.get_text() == "c" for t in ax.texts) == 2  # each pool still marked c


def test_when_no_single_action_is_enough_the_audit_hides_nothing_unrelated():
    # The counts that give the 3 away are each stated twice (table, sentence, figure),
    # so no one action removes the leak; the audit must not start with the age
    # table's small cells, which say nothing about placement.
    ages = pd.DataFrame({"Age": ["Under 10", "10 and over", privacy.TOTAL], "n": [6, 45, 51]})
    age_table = Table("By age", ages, {"Age": "label", "n": "count"}, universe=U)
    home = Count(8, U, (("Placement", "Children's home"),))
    said = Finding("home", "Of 51 children, 8 in homes.", counts=(Count(51, U), home))
    fig = FigureOut(
        None,
        "Mix",
        "Mix",
        counts=(Count(40, U, (("Placement", "Foster"),)), home),
        marks=(40, 8),
    )
    page = [Summary("P", findings=[said], tables=[mix_table(MIX), age_table], figures=[fig])]
    assert not privacy.audit_page(page, fix=False).ok
    fixed = privacy.audit_page(page)
    assert fixed.ok
    assert not any(h.startswith("By age") for h in fixed.hidden), fixed.hidden


def test_every_count_column_on_a_computed_page_has_a_universe(tiny_ctx):
    """No count table is checked alone: each says what its counts count (a universe,
    per column or per cell), so the audit relates it to the rest of the page."""
    from test_page_audit_tables import KNOWN, column_has_universe

    from vc_eval.reporting import sections as S

    missing, n_tables = [], 0
    for s in S.all_sections(tiny_ctx):
        for t in s.tables:
            cols = [c for c, k in t.kinds.items() if k == "count"]
            n_tables += bool(cols)
            for c in cols:
                if not column_has_universe(t, c) and t.caption not in KNOWN:
                    missing.append(f"{s.title}: {t.caption!r}, column {c!r}")
    assert missing == [], missing
    assert n_tables >= 12
    audit = S.page_audit(tiny_ctx)
    assert set(audit.unaudited) <= KNOWN and audit.ok
