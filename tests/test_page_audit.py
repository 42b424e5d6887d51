"""The page-level disclosure audit: counts combined across tables and sentences.

The audit (``privacy.audit_page``) must catch the two differencing cases of
issue 11 and, on random small councils, leave nothing of 1-5 that a reader can
work out: checked here independently, by linear programming over every
conjunction of the page's conditions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from vc_eval.core import display, privacy
from vc_eval.core.summary import Count, Finding, Summary, Table

U = "in_care"
PLACE = ["Foster", "Children's home", "Other"]


def crosstab_table(grid: np.ndarray, rows, cols, *, universe=U, row_var="Placement"):
    frame = pd.DataFrame(grid, index=rows, columns=cols)
    frame[privacy.TOTAL] = frame.sum(axis=1)
    frame.loc[privacy.TOTAL] = frame.sum()
    st = privacy.suppress(frame, totals="both")
    shown = st.table.copy()
    shown.insert(0, row_var, shown.index.astype(str))
    kinds = {row_var: "label"} | {c: "count" for c in st.table.columns}
    return Table(
        "Typical placement by current placement",
        shown.reset_index(drop=True),
        kinds,
        universe=universe,
        columns_dim="Typical",
    )


def homes_finding(n_homes: int, n_foster: int) -> Finding:
    return Finding(
        "homes",
        f"Of {display.count_text(n_homes)} children in children's homes, "
        f"{display.count_text(n_foster)} have foster care as the typical placement.",
        counts=(
            Count(n_homes, U, (("Placement", "Children's home"),)),
            Count(n_foster, U, (("Placement", "Children's home"), ("Typical", "Foster"))),
        ),
    )


# The grid of issue 11's first case: 18 children in children's homes, 11 of
# them with foster care as the typical placement; per-table suppression hides
# the whole children's home row, and the Other row to protect it.
GRID = np.array([[22, 23, 26], [11, 5, 2], [5, 16, 24]])


def test_sentence_and_table_each_safe_alone():
    table = crosstab_table(GRID, PLACE, PLACE)
    assert table.frame.loc[1, "Foster"] == "c"  # the 11 is hidden in the table
    assert privacy.audit_page([Summary("t", tables=[table])], fix=False).ok
    assert privacy.audit_page([Summary("f", findings=[homes_finding(18, 11)])], fix=False).ok


def test_children_home_sentence_read_with_table_reveals_five():
    table = crosstab_table(GRID, PLACE, PLACE)
    page = [Summary("Cost", findings=[homes_finding(18, 11)], tables=[table])]
    audit = privacy.audit_page(page, fix=False)
    assert not audit.ok
    hit = {(v["where"], v["value"]) for v in audit.violations}
    # Foster column: 38 - 22 - 11 = 5 children in "Other" placements, typically foster.
    assert ((("Placement", "Other"), ("Typical", "Foster")), 5) in hit
    fixed, notes = privacy.audit_and_fix(page)
    assert privacy.audit_page(fixed, fix=False).ok
    assert notes and "fewer than 6" in notes[0]
    said = " ".join(fixed[0].caveats) + " ".join(t.note for t in fixed[0].tables)
    assert "fewer than 6" in said  # the page says what the audit did
    assert page[0].findings  # the input is not modified


def reliable_change_page(p_improved_count: int | None):
    grid = pd.DataFrame(
        {"improved": [8, 12, 9], "no change": [87, 80, 84], "deteriorated": [5, 8, 7]},
        index=["Total need", "Emotional health", "Behaviour"],
    )
    grid[privacy.TOTAL] = grid.sum(axis=1)
    # Each domain counts the same children: rows add up, columns do not.
    st = privacy.suppress(grid, totals="rows")
    shown = st.table.copy()
    pct = st.percent(of="row")
    for c in ["improved", "no change", "deteriorated"]:
        shown[f"{c} (%)"] = pct[c]
    shown.insert(0, "Domain", shown.index.astype(str))
    kinds = {"Domain": "label"} | {c: "count" for c in st.table.columns}
    kinds |= {f"{c} (%)": "percent" for c in ["improved", "no change", "deteriorated"]}
    table = Table(
        "Reliable change",
        shown.reset_index(drop=True),
        kinds,
        universe="assessed_twice",
        columns_dim="Change",
    )
    findings = []
    if p_improved_count is not None:
        # "8% reliably improved" of 100 children states the count (within rounding).
        findings.append(
            Finding(
                "need_change.improved",
                f"{display.percent(p_improved_count / 100)} reliably improved.",
                counts=(
                    Count(
                        p_improved_count,
                        "assessed_twice",
                        (("Domain", "Total need"), ("Change", "improved")),
                    ),
                ),
            )
        )
    return [Summary("Change in need", findings=findings, tables=[table])]


def test_reliable_change_percentage_reveals_hidden_deteriorated():
    assert privacy.audit_page(reliable_change_page(None), fix=False).ok
    page = reliable_change_page(8)
    assert page[0].tables[0].frame.loc[0, "improved"] == "c"
    audit = privacy.audit_page(page, fix=False)
    hit = {(v["where"], v["value"]) for v in audit.violations}
    assert ((("Change", "deteriorated"), ("Domain", "Total need")), 5) in hit
    fixed, notes = privacy.audit_and_fix(page)
    assert privacy.audit_page(fixed, fix=False).ok and notes
    frame = fixed[0].tables[0].frame
    if fixed[0].findings:  # kept the sentence: more of the row is hidden, percentages too
        row = frame.loc[0]
        assert (row[["no change", "no change (%)"]] == "c").all()


# --------------------------------------------------------------------------
# Random small councils, checked independently
# --------------------------------------------------------------------------


AGES = ["Under 5", "5 to 9", "10 to 15", "16 and over"]


def random_page(rng: np.random.Generator, n: int):
    """A page for a council of ``n`` children (a cross-tab, a one-way table by
    age, the sentences a report states) and the children's true categories."""
    place = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    typical = np.where(rng.random(n) < 0.6, place, rng.choice(3, size=n))
    age = rng.choice(4, size=n)
    grid = np.zeros((3, 3), dtype=int)
    np.add.at(grid, (place, typical), 1)
    tables = [crosstab_table(grid, PLACE, PLACE)]
    by_age = pd.DataFrame({"Age": AGES, "Children": np.bincount(age, minlength=4)})
    st = privacy.suppress_long(by_age, count_col="Children", rows="Age")
    tables.append(
        Table("Children by age", st.table, {"Age": "label", "Children": "count"}, universe=U)
    )
    findings = []
    k = int((place == 1).sum())
    if k:
        findings.append(homes_finding(k, int(((place == 1) & (typical == 0)).sum())))
    m = int(((age == 2) & (place == 0)).sum())
    # Half the pages state a count across age and placement (one group of
    # variables); the others audit age apart from placement, sharing the total.
    if rng.random() < 0.5:
        findings.append(
            Finding(
                "older_foster",
                f"{display.count_text(m)} children aged 10 to 15 in foster care.",
                counts=(Count(m, U, (("Age", "10 to 15"), ("Placement", "Foster"))),),
            )
        )
    f = int((place == 0).sum())
    findings.append(
        Finding(
            "foster",
            f"Of {n} children, {display.count_text(f)} are in foster care.",
            counts=(Count(n, U, ()), Count(f, U, (("Placement", "Foster"),))),
        )
    )
    data = {"Placement": place, "Typical": typical, "Age": age}
    labels = {"Placement": PLACE, "Typical": PLACE, "Age": AGES}
    page = [Summary("Council", findings=findings, tables=tables)]
    return page, data, labels


def truth(data, labels, where) -> int:
    sel = np.ones(len(data["Age"]), dtype=bool)
    for var, val in where:
        if val not in labels[var]:
            return 0  # "other": every category is listed, so none
        sel &= data[var] == labels[var].index(val)
    return int(sel.sum())


def pinned_small_cells(page, data, labels) -> list:
    """Independent check by linear programming: each conjunction of the page's
    conditions whose true count is 1-5 must have a feasible range wider than one."""
    entries, _ = privacy._page_entries(page, None)
    out = []
    for uni in {e.universe for e in entries}:
        es = [e for e in entries if e.universe == uni]
        names, values = privacy._atoms(es)
        shape = tuple(len(v) for v in values)
        ind = np.array([privacy._indicator(e, names, values, shape) for e in es], dtype=float)
        a_eq = ind[[e.value is not None for e in es]]
        b_eq = [e.value for e in es if e.value is not None]
        hid = [i for i, e in enumerate(es) if e.value is None]
        # What a reader knows of a c: at least 1 unless it is a hidden zero.
        a_ub = [-ind[i] for i in hid] + [ind[i] for i in hid if es[i].hi is not None]
        b_ub = [-min(es[i].lo, truth(data, labels, es[i].where)) for i in hid]
        b_ub += [es[i].hi for i in hid if es[i].hi is not None]
        kw = dict(
            A_eq=a_eq if b_eq else None,
            b_eq=b_eq or None,
            A_ub=np.array(a_ub) if a_ub else None,
            b_ub=b_ub or None,
            bounds=(0, None),
            method="highs",
        )
        for choice in itertools.product(*[range(len(v) + 1) for v in values]):
            where = tuple((names[k], values[k][i]) for k, i in enumerate(choice) if i < shape[k])
            true = truth(data, labels, where)
            if not 1 <= true <= 5:
                continue
            c = np.ones(shape, dtype=bool)
            for k, i in enumerate(choice):
                if i < shape[k]:
                    sel = np.zeros(shape[k], dtype=bool)
                    sel[i] = True
                    c &= sel.reshape([-1 if j == k else 1 for j in range(len(shape))])
            c = c.ravel().astype(float)
            if -linprog(-c, **kw).fun - true >= 1 - 1e-6:
                continue
            if true - linprog(c, **kw).fun >= 1 - 1e-6:
                continue
            out.append((uni, where, true))
    return out


def test_random_small_councils_nothing_small_can_be_worked_out():
    rng = np.random.default_rng(11)
    caught = 0
    for _ in range(8):
        n = int(rng.integers(5, 31))
        page, data, labels = random_page(rng, n)
        audit = privacy.audit_page(page, fix=False)
        caught += not audit.ok
        for v in audit.violations:  # what the audit says a reader can work out is true
            assert v["value"] == truth(data, labels, v["where"])
        fixed, _ = privacy.audit_and_fix(page)
        assert privacy.audit_page(fixed, fix=False).ok
        assert pinned_small_cells(fixed, data, labels) == [], n
    assert caught >= 2  # tiny councils do produce pages that need fixing


def test_audit_flags_exactly_what_is_pinned():
    rng = np.random.default_rng(5)
    for _ in range(5):
        page, data, labels = random_page(rng, int(rng.integers(5, 31)))
        flagged = privacy.audit_page(page, fix=False).violations
        independent = pinned_small_cells(page, data, labels)
        assert {v["where"] for v in flagged} == {w for _, w, _ in independent}


def test_stated_small_count_is_a_range_not_a_value():
    # "fewer than 6" of 8: the rest (3 or more) is not pinned.
    f = Finding("x", "fewer than 6 of 8", counts=(Count(8, U, ()), Count(2, U, (("A", "a"),))))
    assert privacy.audit_page([Summary("s", findings=[f])], fix=False).ok
    # 8 of 11: the other 3 are pinned.
    g = Finding("y", "8 of 11", counts=(Count(11, U, ()), Count(8, U, (("A", "a"),))))
    audit = privacy.audit_page([Summary("s", findings=[g])], fix=False)
    assert [v["value"] for v in audit.violations] == [3]
    fixed, _ = privacy.audit_and_fix([Summary("s", findings=[g])])
    assert not fixed[0].findings and "withheld" in fixed[0].caveats[0]


def test_headline_counts_can_be_withheld():
    f = Finding("y", "11 children", counts=(Count(11, U, ()),))
    res = privacy.audit_page([Summary("s", findings=[f])], {"in_homes": Count(8, U, (("A", "a"),))})
    assert res.ok is False or res.headline_withheld == ["in_homes"] or res.withheld
    assert privacy.audit_page(res.summaries, fix=False).ok


def test_tables_without_universe_are_listed_as_unaudited():
    t = Table("n", pd.DataFrame({"k": ["a"], "n": ["12"]}), {"k": "label", "n": "count"})
    assert privacy.audit_page([Summary("s", tables=[t])]).unaudited == ["n"]


@pytest.mark.parametrize("bad", [7, 12])
def test_contradictory_page_is_refused(bad):
    f = Finding("y", "x", counts=(Count(6, U, ()), Count(bad, U, (("A", "a"),))))
    with pytest.raises(privacy.DisclosureError, match="contradict"):
        privacy.audit_page([Summary("s", findings=[f])])


def test_count_columns_without_columns_dim_are_separate_measures_per_table():
    # Two tables with a "Total" column over different populations: not related.
    a = pd.DataFrame({"Type": ["x", "Total"], "Band 1": ["7", "7"], "Total": ["9", "9"]})
    b = pd.DataFrame({"Type": ["x", "Total"], "Flag": ["12", "12"], "Total": ["20", "20"]})
    kinds = {"Type": "label", "Band 1": "count", "Flag": "count", "Total": "count"}
    tables = [
        Table("a", a, {k: v for k, v in kinds.items() if k in a}, universe=U),
        Table("b", b, {k: v for k, v in kinds.items() if k in b}, universe=U),
    ]
    assert privacy.audit_page([Summary("s", tables=tables)], fix=False).ok


def test_contradiction_names_where_the_counts_come_from():
    t = Table(
        "Children now",
        pd.DataFrame({"K": ["Total"], "n": ["177"]}),
        {"K": "label", "n": "count"},
        universe=U,
    )
    f = Finding("all", "247 children", counts=(Count(247, U, ()),))
    with pytest.raises(privacy.DisclosureError, match="table 'Children now'.*|finding 'all'"):
        privacy.audit_page([Summary("s", findings=[f], tables=[t])])


def test_dense_and_sparse_programs_decide_the_same(monkeypatch):
    # small programs are built as dense arrays (faster to set up); the decisions must be
    # those of the sparse programs, on pages that need fixing and pages that do not
    rng = np.random.default_rng(11)  # as the randomised test above: some pages need fixing
    pages = [random_page(rng, int(rng.integers(5, 31)))[0] for _ in range(8)]

    def decisions(cells: int) -> list:
        monkeypatch.setattr(privacy, "_DENSE_LP_CELLS", cells)
        out = []
        for page in pages:
            audit = privacy.audit_page(page, fix=False)
            fixed, _ = privacy.audit_and_fix(page)
            shown = [t.frame.to_csv() for s in fixed for t in s.tables]
            out.append((audit.violations, shown, [f.text for s in fixed for f in s.findings]))
        return out

    sparse_only = decisions(0)
    assert any(v for v, _, _ in sparse_only)  # some pages reveal a small count
    assert decisions(privacy._DENSE_LP_CELLS) == sparse_only
