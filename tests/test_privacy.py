"""Disclosure control: small cells hidden, and not recoverable from totals.

The property tests attack each protected table the way a reader could: they
rebuild, from the shown strings and the totals the reader knows, the linear
equations the hidden cells satisfy, and check (independently of the module's
own engine) that no hidden cell is pinned: by matrix rank (no hidden cell is
a linear function of known numbers) and by linear programming (each hidden
cell's feasible range, given the totals and non-negativity, has width >= 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from vc_eval.core.privacy import (
    SUPPRESSED,
    TOTAL,
    DisclosureError,
    drop_small_groups,
    safe_frame,
    suppress,
    suppress_long,
    suppress_stats,
)

VALUES = np.array([0, 1, 2, 3, 4, 5, 6, 10, 20, 50])
PROBS = np.array([0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1])


def random_table(rng: np.random.Generator, lo: int = 2, hi: int = 7) -> pd.DataFrame:
    r, c = rng.integers(lo, hi + 1, 2)
    grid = rng.choice(VALUES, size=(r, c), p=PROBS)
    return pd.DataFrame(
        grid, index=[f"r{i}" for i in range(r)], columns=[f"c{j}" for j in range(c)]
    )


def with_totals(t: pd.DataFrame) -> pd.DataFrame:
    t = t.copy()
    t[TOTAL] = t.sum(axis=1)
    t.loc[TOTAL] = t.sum(axis=0)
    return t


def reader_system(shown: pd.DataFrame, raw: pd.DataFrame):
    """What a reader knows: equations A x = b over the hidden cells.

    Totals not in the table are taken as known (published elsewhere): row
    and column sums of the inner cells. Shown totals are read from the table.
    Returns A, b, the (row, col) of each unknown, and the true values.
    """
    inner_r = [r for r in shown.index if r != TOTAL]
    inner_c = [c for c in shown.columns if c != TOTAL]
    raw_inner = raw.loc[inner_r, inner_c].to_numpy(dtype=float)
    nr, nc = len(inner_r), len(inner_c)
    # Extended grid: value (NaN = unknown) and truth.
    truth = np.zeros((nr + 1, nc + 1))
    truth[:nr, :nc] = raw_inner
    truth[:nr, nc] = raw_inner.sum(axis=1)
    truth[nr, :nc] = raw_inner.sum(axis=0)
    truth[nr, nc] = raw_inner.sum()
    known = np.ones_like(truth, dtype=bool)
    rows = inner_r + ([TOTAL] if TOTAL in shown.index else [None])
    cols = inner_c + ([TOTAL] if TOTAL in shown.columns else [None])
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if r is None or c is None:
                continue
            text = str(shown.at[r, c])
            if text == SUPPRESSED:
                known[i, j] = False
            else:
                assert float(text.replace(",", "")) == truth[i, j]
    unknown = [(i, j) for i in range(nr + 1) for j in range(nc + 1) if not known[i, j]]
    pos = {u: k for k, u in enumerate(unknown)}
    a_rows, b = [], []
    lines = [[(i, j) for j in range(nc)] + [(i, nc)] for i in range(nr + 1)]
    lines += [[(i, j) for i in range(nr)] + [(nr, j)] for j in range(nc + 1)]
    for line in lines:
        coef = np.zeros(len(unknown))
        rhs = 0.0
        for k, cell in enumerate(line):
            sign = -1.0 if k == len(line) - 1 else 1.0  # cells minus their total = 0
            if cell in pos:
                coef[pos[cell]] += sign
            else:
                rhs -= sign * truth[cell]
        if coef.any():
            a_rows.append(coef)
            b.append(rhs)
    a = np.array(a_rows, dtype=float).reshape(len(a_rows), len(unknown))
    values = np.array([truth[u] for u in unknown])
    return a, np.array(b), unknown, values


def pinned_by_rank(a: np.ndarray) -> list[int]:
    """Hidden cells whose unit vector lies in the row space of A (value determined)."""
    if a.size == 0:
        return []
    rank = np.linalg.matrix_rank(a)
    out = []
    for k in range(a.shape[1]):
        e = np.zeros(a.shape[1])
        e[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            out.append(k)
    return out


def lp_widths(a: np.ndarray, b: np.ndarray, lower: float) -> np.ndarray:
    n = a.shape[1]
    widths = np.empty(n)
    for k in range(n):
        c = np.zeros(n)
        c[k] = 1.0
        lo = linprog(c, A_eq=a, b_eq=b, bounds=(lower, None), method="highs")
        hi = linprog(-c, A_eq=a, b_eq=b, bounds=(lower, None), method="highs")
        assert lo.status == 0 and hi.status in (0, 3)
        widths[k] = np.inf if hi.status == 3 else -hi.fun - lo.fun
    return widths


# --------------------------------------------------------------------------
# Exact small examples
# --------------------------------------------------------------------------


def test_single_small_cell_gets_cheapest_rectangle():
    t = pd.DataFrame([[3, 10, 12], [8, 0, 20], [15, 9, 30]], index=list("abc"), columns=list("xyz"))
    st = suppress(t)
    expected = pd.DataFrame(
        [["c", "c", "12"], ["8", "0", "20"], ["c", "c", "30"]],
        index=list("abc"),
        columns=list("xyz"),
    )
    pd.testing.assert_frame_equal(st.table.astype(str), expected)
    assert st.n_primary == 1 and st.n_secondary == 3
    assert bool(st.primary.at["a", "x"]) and not st.primary.at["c", "y"]


def test_true_zeros_shown_and_small_counts_hidden():
    t = pd.DataFrame([[0, 1, 40], [7, 5, 60], [9, 30, 0]], columns=["p", "q", "r"])
    st = suppress(t)
    shown = st.table
    assert shown.at[0, "p"] == "0" and shown.at[2, "r"] == "0"
    assert shown.at[0, "q"] == SUPPRESSED and shown.at[1, "q"] == SUPPRESSED
    assert not st.zeros_hidden
    # Column q has two hidden cells, and so must every row with a hidden cell.
    hidden = shown.eq(SUPPRESSED)
    for line in [*hidden.to_numpy(), *hidden.to_numpy().T]:
        assert line.sum() in (0, 2, 3)


def test_one_way_group_hides_next_smallest():
    df = pd.DataFrame(
        {
            "domain": ["a"] * 3 + ["b"] * 3,
            "band": [1, 2, 3] * 2,
            "n": [2, 50, 60, 20, 30, 40],
        }
    )
    st = suppress_long(df, count_col="n", within="domain", rows="band")
    assert st.table["n"].tolist() == ["c", "c", "60", "20", "30", "40"]
    assert st.n_primary == 1 and st.n_secondary == 1


def test_shown_totals_small_total_is_hidden():
    t = with_totals(pd.DataFrame([[2, 1], [30, 40]], index=["r0", "r1"], columns=["c0", "c1"]))
    st = suppress(t)
    # Row r0 sums to 3: its total is itself a small count.
    assert st.table.at["r0", TOTAL] == SUPPRESSED
    a, b, unknown, _ = reader_system(st.table, t)
    assert pinned_by_rank(a) == []


def test_totals_that_do_not_add_up_are_rejected():
    t = with_totals(pd.DataFrame([[10, 10], [10, 10]]))
    t.iloc[0, -1] = 21
    with pytest.raises(ValueError, match="totals column"):
        suppress(t)


@pytest.mark.parametrize(
    "bad",
    [
        pd.DataFrame([[1.5, 2.0], [3.0, 4.0]]),
        pd.DataFrame([[-1, 2], [3, 4]]),
        pd.DataFrame([[np.nan, 2], [3, 4]]),
    ],
)
def test_bad_counts_are_rejected(bad):
    with pytest.raises(ValueError):
        suppress(bad)


def test_percentages_follow_counts_and_are_whole_numbers():
    t = pd.DataFrame([[3, 300, 697], [200, 300, 500]], index=["a", "b"], columns=["x", "y", "z"])
    st = suppress(t)
    pct = st.percent("row")
    assert pct.at["a", "x"] == SUPPRESSED  # count hidden -> percentage hidden
    for r, c in zip(*np.nonzero(st.mask.to_numpy()), strict=True):
        assert pct.iat[r, c] == SUPPRESSED
    assert pct.at["a", "z"] == "70" and pct.at["b", "z"] == "50"  # 69.7% and 50%
    assert all(p == SUPPRESSED or p.isdigit() or p == "<1" for p in pct.to_numpy().ravel())
    with pytest.raises(DisclosureError):
        suppress(t, totals="columns").percent("row")


def test_percent_of_tiny_share_is_marked_low():
    t = pd.DataFrame([[7, 2000], [6, 3000]], columns=["x", "y"])
    pct = suppress(t).percent("row")
    assert pct.at[0, "x"] == "<1"


def test_long_percentages_hidden_with_hidden_group_total():
    df = pd.DataFrame(
        {
            "g": ["a"] * 3 + ["b"] * 3,
            "band": ["x", "y", TOTAL] * 2,
            "n": [2, 3, 5, 10, 20, 30],
            "pct": [40, 60, 100, 100 / 3, 200 / 3, 100],
        }
    )
    st = suppress_long(df, count_col="n", within="g", rows="band", percent_cols=["pct"])
    assert st.table["n"].tolist() == ["c", "c", "c", "10", "20", "30"]
    assert st.table["pct"].tolist() == ["c", "c", "c", "33", "67", "100"]


def test_statistics_on_fewer_than_six_children_hidden():
    df = pd.DataFrame(
        {"group": list("abcd"), "n": [5, 6, 0, 100], "mean": [1.23, 2.0, np.nan, 3.14]}
    )
    out = suppress_stats(df, n_col="n", stat_cols=["mean"])
    assert out["mean"].tolist() == ["c", "2.0", "c", "3.1"]
    st = suppress_long(df, count_col="n", rows="group", stat_cols=["mean"])
    assert st.table["mean"].tolist() == ["c", "2.0", "c", "3.1"]
    assert st.table["n"].iloc[0] == "c" and st.table["n"].iloc[2] == "0"


def test_identifiers_refused():
    df = pd.DataFrame({"child_id": ["A1", "A2"], "n": [10, 20]})
    with pytest.raises(DisclosureError, match="child_id"):
        safe_frame(df)
    with pytest.raises(DisclosureError):
        suppress_long(df, count_col="n")
    with pytest.raises(DisclosureError):
        safe_frame(df.set_index("child_id"))
    assert safe_frame(df[["n"]]) is not None


def test_drop_small_groups_by_ids_and_by_counts():
    rows = pd.DataFrame(
        {"group": ["a"] * 6 + ["b"] * 5 + ["c"] * 7, "child_id": [f"k{i}" for i in range(18)]}
    )
    rows.loc[rows["group"] == "c", "child_id"] = ["x", "x", "y", "y", "z", "z", "w"]  # 4 children
    kept = drop_small_groups(rows, "group", "child_id")
    assert set(kept["group"]) == {"a"}
    assert kept.attrs["dropped_groups"] == 2
    agg = pd.DataFrame({"group": ["a", "b", "c"], "n": [6, 5, 100]})
    assert drop_small_groups(agg, ["group"], "n")["group"].tolist() == ["a", "c"]


def test_zero_hidden_when_nothing_else_protects():
    # One row, no other rows: the row total is assumed known, so hiding the 3
    # needs another cell in the row; with only zeros beside it, zeros are hidden.
    t = pd.DataFrame([[3, 0, 0], [10, 20, 30]])
    st = suppress(t)
    assert st.zeros_hidden
    a, b, _, _ = reader_system(st.table, t)
    assert pinned_by_rank(a) == []


# --------------------------------------------------------------------------
# Property tests over random tables
# --------------------------------------------------------------------------


def test_random_crosstabs_hidden_cells_not_recoverable_from_margins():
    """500 random two-way tables, totals assumed known to the reader."""
    rng = np.random.default_rng(20261124)
    n_hidden = 0
    for _ in range(500):
        t = random_table(rng, 2, 6)
        st = suppress(t)
        shown = st.table
        raw = t.to_numpy()
        small = (raw >= 1) & (raw <= 5)
        hidden = shown.eq(SUPPRESSED).to_numpy()
        assert hidden[small].all(), "a count of 1-5 is shown"
        if not st.zeros_hidden:
            assert not hidden[raw == 0].any(), "a true zero is hidden"
        # Every row and column with a hidden cell has at least two.
        for line in [*hidden, *hidden.T]:
            assert line.sum() != 1
        a, b, unknown, _ = reader_system(shown, t)
        assert pinned_by_rank(a) == [], f"recoverable cell in\n{t}\n{shown}"
        n_hidden += len(unknown)
    assert n_hidden > 2000  # the tables really were full of small cells


def test_random_crosstabs_feasible_range_of_each_hidden_cell():
    """Linear programming: every hidden cell can take at least two values.

    Lower bound 0 (non-negativity), and 1 where no zero was hidden (a reader
    knows that ``c`` is never a true zero). Tables whose known row or column
    totals are themselves 1-5 are left out: such a total already discloses
    a small group (the module notes this; reports show totals, see next test).
    """
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 40:
        t = random_table(rng, 2, 5)
        margins = np.r_[t.sum(axis=0), t.sum(axis=1)]
        if ((margins >= 1) & (margins <= 5)).any():
            continue
        st = suppress(t)
        assert st.notes == []
        a, b, unknown, _ = reader_system(st.table, t)
        if not unknown:
            continue
        assert (lp_widths(a, b, 0.0) >= 1 - 1e-7).all()
        if not st.zeros_hidden:
            assert (lp_widths(a, b, 1.0) >= 1 - 1e-7).all()
        checked += 1


def test_random_crosstabs_with_shown_totals():
    """Tables shown with a Total row and column: totals are cells too."""
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(40):
        t = with_totals(random_table(rng, 2, 5))
        st = suppress(t)
        a, b, unknown, values = reader_system(st.table, t)
        raw = t.to_numpy()
        assert st.table.eq(SUPPRESSED).to_numpy()[(raw >= 1) & (raw <= 5)].all()
        if not unknown:
            continue
        assert pinned_by_rank(a) == []
        assert (lp_widths(a, b, 0.0) >= 1 - 1e-7).all()
        if not st.zeros_hidden:
            assert (lp_widths(a, b, 1.0) >= 1 - 1e-7).all()
        checked += 1
    assert checked > 30


def test_random_long_tables_protected_within_groups():
    """Tidy tables: a two-way table per group, and one-way lists per group."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        n_groups = int(rng.integers(1, 4))
        frames = []
        for g in range(n_groups):
            t = random_table(rng, 2, 4)
            long = t.stack().rename("n").reset_index()
            long.columns = ["row", "col", "n"]
            frames.append(long.assign(group=f"g{g}"))
        df = pd.concat(frames, ignore_index=True)
        st = suppress_long(df, count_col="n", within="group", rows="row", columns="col")
        for g, sub in st.table.groupby("group"):
            shown = sub.pivot(index="row", columns="col", values="n")
            raw = df[df["group"] == g].pivot(index="row", columns="col", values="n")
            a, b, _, _ = reader_system(shown, raw)
            assert pinned_by_rank(a) == []
        # One-way: within each (group, row) the counts sum to a known total.
        st1 = suppress_long(df, count_col="n", within=["group", "row"], rows="col")
        for _, sub in st1.table.groupby(["group", "row"]):
            assert (sub["n"] == SUPPRESSED).sum() != 1
        raw = df["n"].to_numpy()
        assert (st1.table["n"].to_numpy()[(raw >= 1) & (raw <= 5)] == SUPPRESSED).all()
