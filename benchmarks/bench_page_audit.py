"""Page-level disclosure audit (``privacy.audit_page``): time against page size.

A page like a council report's: a placement x typical-placement cross-tab, an
age x sex table, a one-way table by ethnicity, all in one universe, plus
sentences declaring counts. Prints the audit time (no fixing, then with
fixing) for councils of 10 to 2,000 children. Run:
``.venv/bin/python benchmarks/bench_page_audit.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from vc_eval.core import privacy
from vc_eval.core.summary import Count, Finding, Summary, Table

U = "in_care"
PLACE = ["Foster", "Children's home", "Kinship", "Supported", "Other"]
AGES = ["Under 1", "1 to 4", "5 to 9", "10 to 15", "16 and over"]
SEX = ["Female", "Male"]
ETH = ["White", "Mixed", "Asian", "Black", "Other", "Unknown"]


def crosstab(rows, cols, a, b, rv, cv, caption):
    grid = np.zeros((len(rows), len(cols)), dtype=int)
    np.add.at(grid, (a, b), 1)
    f = pd.DataFrame(grid, index=rows, columns=cols)
    f[privacy.TOTAL] = f.sum(axis=1)
    f.loc[privacy.TOTAL] = f.sum()
    st = privacy.suppress(f)
    shown = st.table.copy()
    shown.insert(0, rv, shown.index.astype(str))
    kinds = {rv: "label"} | {c: "count" for c in st.table.columns}
    return Table(caption, shown.reset_index(drop=True), kinds, universe=U, columns_dim=cv)


def page(n: int, rng: np.random.Generator) -> list[Summary]:
    place = rng.choice(len(PLACE), n, p=[0.7, 0.1, 0.1, 0.05, 0.05])
    typ = np.where(rng.random(n) < 0.6, place, rng.choice(len(PLACE), n))
    age, sex = rng.choice(len(AGES), n), rng.choice(2, n)
    eth = rng.choice(len(ETH), n, p=[0.7, 0.1, 0.05, 0.07, 0.03, 0.05])
    by_eth = pd.DataFrame({"Ethnicity": ETH, "Children": np.bincount(eth, minlength=len(ETH))})
    st = privacy.suppress_long(by_eth, count_col="Children", rows="Ethnicity")
    tables = [
        crosstab(PLACE, PLACE, place, typ, "Placement", "Typical", "Typical placement"),
        crosstab(AGES, SEX, age, sex, "Age", "Sex", "Age and sex"),
        Table("Ethnicity", st.table, {"Ethnicity": "label", "Children": "count"}, universe=U),
    ]
    k = int((place == 1).sum())
    findings = [
        Finding(
            "homes",
            "Of k children in children's homes, m have foster care as the typical placement.",
            counts=(
                Count(k, U, (("Placement", "Children's home"),)),
                Count(
                    int(((place == 1) & (typ == 0)).sum()),
                    U,
                    (("Placement", "Children's home"), ("Typical", "Foster")),
                ),
            ),
        ),
        Finding("n", "n children in care.", counts=(Count(n, U, ()),)),
    ]
    return [Summary("Council", findings=findings, tables=tables)]


def main() -> None:
    rng = np.random.default_rng(1)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| children | atoms | audit only (s) | audit and fix (s) | violations |")
    print("| --- | --- | --- | --- | --- |")
    for n in (10, 30, 100, 500, 2000):
        p = page(n, rng)
        t0 = time.perf_counter()
        a = privacy.audit_page(p, fix=False)
        t1 = time.perf_counter()
        privacy.audit_and_fix(p)
        t2 = time.perf_counter()
        atoms = (len(PLACE) + 1) ** 2 * (len(AGES) + 1) * 3 * (len(ETH) + 1)
        print(f"| {n} | {atoms} | {t1 - t0:.2f} | {t2 - t1:.2f} | {len(a.violations)} |")


if __name__ == "__main__":
    main()
