"""Small datasets for the report tests: a tiny council and a broken one.

Imported by ``tests/test_report*.py`` (pytest puts ``tests/`` on the path).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import IDENTIFIER_COLUMNS, Col

TINY = "Tinyton"
BROKEN = "Brokenshire"


def tiny_dataset(bundled: Dataset, n_children: int = 24, *, broken: bool = False) -> Dataset:
    """``n_children`` children of one bundled council, renamed :data:`TINY`.

    With ``broken``, a second council :data:`BROKEN` with no children at all
    is added: its report cannot be made.
    """
    source = bundled.council_names()[-1]
    sub = bundled.subset(source)
    kids = sorted(sub.children[Col.child_id])[:n_children]
    tiny = sub.only_children(kids, council=TINY)
    if not broken:
        return tiny
    tables = dict(tiny.tables)
    extra = pd.DataFrame({Col.council: [BROKEN], Col.programme_start: [pd.NaT]})
    tables["councils"] = pd.concat([tables["councils"], extra], ignore_index=True)
    return Dataset(tables, metadata=dict(bundled.metadata), framework=bundled.framework)


def save(ds: Dataset, folder: Path) -> Path:
    ds.save(folder)
    return folder


def identifiers(ds: Dataset) -> set[str]:
    """Every child, assessor and provider id string in a dataset."""
    out: set[str] = set()
    for frame in ds.tables.values():
        for col in IDENTIFIER_COLUMNS:
            if col in frame:
                out |= {str(v) for v in frame[col].dropna().unique() if str(v).strip()}
    return out - {"nan", "None", "<NA>"}


_DATA_URI = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=\s]+")


def ids_found(text: str, ids: set[str]) -> list[str]:
    """Identifiers that occur in ``text`` as whole tokens (embedded images removed first)."""
    text = _DATA_URI.sub("", text)
    tokens = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9_\-]*", text))
    return sorted(ids & tokens)


def small_count_cells(html: str) -> list[tuple[str, str, str]]:
    """Cells of report tables that show a count of 1-5 (caption, column, value).

    Every ``vc-table`` declares each column's kind in ``data-kind``. Count
    columns may show only ``c``, ``0`` or numbers of at least 6; mixed
    ("value") and free-text columns may not show a bare whole number from 1
    to 5 either. Labels, percentages and statistics (means, ages) may.
    """
    from bs4 import BeautifulSoup

    bad = []
    soup = BeautifulSoup(html, "html.parser")
    for table in soup.find_all("table", class_="vc-table"):
        caption = table.caption.get_text(strip=True) if table.caption else ""
        heads = table.find("thead").find_all("th")
        kinds = [h.get("data-kind", "text") for h in heads]
        names = [h.get_text(strip=True) for h in heads]
        for tr in table.find("tbody").find_all("tr"):
            for kind, name, td in zip(kinds, names, tr.find_all("td"), strict=True):
                value = td.get_text(strip=True)
                if kind in ("label", "percent", "stat"):
                    continue
                number = value.replace(",", "")
                if kind == "count":
                    ok = value in ("c", "0") or (number.isdigit() and int(number) >= 6)
                else:
                    ok = not (number.isdigit() and 1 <= int(number) <= 5)
                if not ok:
                    bad.append((caption, name, value))
    return bad
