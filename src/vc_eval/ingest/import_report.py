"""The import report: what was read, mapped, dropped and why, as markdown.

Written beside the imported dataset (``import_report.md``) for the
council's data team. It never shows a child, assessor or provider
identifier (problem values in identifier columns are hidden); counts are
not suppressed, so it is a working document, not one to publish.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from vc_eval import __version__
from vc_eval.core.schema import PLACEMENT_LABELS
from vc_eval.core.summary import escape_md
from vc_eval.ingest.problems import ERROR, NOTE

_TYPE_LABEL = dict(PLACEMENT_LABELS)


#: Columns of report tables whose text comes from the council's files.
_DATA_COLUMNS = frozenset(("file", "column", "values", "PLACE", "PLACE_PROVIDER", "ETHNIC"))


def _md_table(frame: pd.DataFrame, *, max_rows: int | None = None) -> str:
    if frame is None or len(frame) == 0:
        return "_none_\n"
    f = frame if max_rows is None else frame.head(max_rows)
    cols = [str(c) for c in f.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    from_data = [str(c) in _DATA_COLUMNS for c in f.columns]
    for row in f.itertuples(index=False):
        cells = []
        for v, data in zip(row, from_data, strict=True):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                cells.append("")
            elif isinstance(v, float):
                cells.append(f"{v:,.2f}".rstrip("0").rstrip("."))
            elif isinstance(v, (int, np.integer)):
                cells.append(f"{v:,}")
            elif data:
                cells.append(escape_md(str(v)))
            else:
                cells.append(html.escape(" ".join(str(v).split()), quote=False).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    more = (
        ""
        if max_rows is None or len(frame) <= max_rows
        else (f"\n_... and {len(frame) - max_rows:,} more rows (see import_problems.csv)_\n")
    )
    return "\n".join(lines) + "\n" + more


def _pct(x) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}%"


def render_report(result) -> str:
    """Markdown import report for an :class:`~vc_eval.ingest.importer.ImportResult`."""
    s, log, ds = result.stats, result.log, result.dataset
    out: list[str] = []
    w = out.append
    w(f"# Import report: {escape_md(result.council)}\n")
    w(
        f"vc-eval {__version__}. For the council's data team: this report contains no child, "
        "assessor or provider identifiers, but its counts are not suppressed; do not publish "
        "it as it is.\n"
    )
    # -- summary
    errors, notes = log.count(ERROR), log.count(NOTE)
    w("## Summary\n")
    costs = s["costs"]
    w(
        f"- Imported: **{len(ds.children):,} children**, {len(ds.placements):,} placements, "
        f"{len(ds.assessments):,} need scores, {len(ds.outcomes):,} outcome values."
    )
    w(
        f"- Costs: {costs['from_file']:,} placements costed from the costs file; "
        f"**{costs['imputed']:,} imputed from unit costs ({_pct(costs['imputed_share'])} of "
        "placements)**."
    )
    w(
        f"- Problems: **{errors:,} row-level** (row or value dropped or changed), "
        f"{notes:,} notes. Every one is listed, with file, row and column, in "
        "`import_problems.csv`; grouped below."
    )
    kept = s.get("kept_rows") or []
    if kept:
        w(
            "- Rows kept: "
            + "; ".join(
                f"{k['table']} {k['kept']:,} of {k['read']:,} ({k['dropped']:,} dropped)"
                for k in kept
            )
            + "."
        )
    for y in s.get("years", []):
        w(f"- {escape_md(y['source'])} taken as {y['taken_as']}.")
    opts = s["options"]
    w(
        f"- Options: framework {opts['framework']}; strict {opts['strict']}; short breaks "
        f"{'included' if opts['include_short_breaks'] else 'excluded'}; programme start "
        f"{opts['programme_start'] or 'not given'}.\n"
    )
    # -- inputs
    w("## What was read\n")
    inp = pd.DataFrame(s["inputs"])
    if len(inp):
        inp = inp.assign(
            sha256=inp["sha256"].str.slice(0, 12),
            imported=inp["imported"].map({True: "yes", False: "no"}),
        )
        inp = inp[
            ["file", "table", "rows", "encoding", "year", "year_from", "imported", "sha256"]
        ].rename(
            columns={
                "year": "collection year (to 31 March)",
                "year_from": "year from",
                "sha256": "sha256 (first 12)",
            }
        )
        inp["rows"] = inp["rows"].astype("Int64")
        yc = "collection year (to 31 March)"
        inp[yc] = inp[yc].map(lambda y: "" if pd.isna(y) else str(int(y)))
    w(_md_table(inp))
    w(
        "Row numbers count data rows (the header is row 0); for XML files the row is the "
        "n-th `<CHILD>` record. Inputs are only read, never changed.\n"
    )
    # -- per table
    h, e = s["header"], s["episodes"]
    w("## From SSDA903 to the dataset\n")
    table = pd.DataFrame(
        [
            (
                "Header",
                h["rows_read"],
                f"{h['children']:,} distinct children; "
                f"{h['repeated_in_later_years']:,} rows repeated in several years merged",
            ),
            (
                "Episodes",
                e["rows_read"],
                f"{e['kept']:,} episodes kept; "
                f"{e['exact_repeats_across_years'] + e['merged_across_years']:,} repeated in "
                f"several years merged (latest year kept); {e['overlaps_cut']:,} overlapping "
                "episodes cut at the next start",
            ),
            (
                "Reviews",
                s["reviews"]["rows_read"],
                f"{s['reviews']['kept']:,} review dates kept (used to link need scores)",
            ),
            (
                "OC2",
                s["oc2"]["rows_read"],
                ", ".join(f"{k}: {v:,}" for k, v in s["oc2"]["values"].items()) or "no values",
            ),
            (
                "Missing",
                s["missing"]["rows_read"],
                f"{s['missing']['missing_episodes']:,} missing "
                f"(M) episodes counted; {s['missing']['away_not_counted']:,} 'away' (A) "
                "episodes not counted as missing",
            ),
        ],
        columns=["table", "rows read", "what became of them"],
    )
    w(_md_table(table))
    c = s["children"]
    w(
        f"- Children: {c['children']:,} imported; {c['left_care']:,} have left care. "
        f"{c['header_without_episodes']:,} header rows had no looked-after episode imported "
        "(care leavers in OC3 only, short breaks only, or every episode dropped) and are not "
        "children in the dataset."
    )
    if e["short_breaks_included"]:
        w("- Short-break episodes (legal status V3/V4) were **included** (--include-short-breaks).")
    else:
        w(
            f"- Short-break episodes (legal status V3/V4) excluded by default: "
            f"{e['short_breaks_excluded']:,} episodes; {e['short_break_only_children']:,} "
            "children had nothing else."
        )
    w(
        f"- Placements: {c['placements']:,}, from runs of consecutive episodes in the same "
        f"placement (mean {c['episodes_per_placement']:.2f} episodes each)."
    )
    w(
        "- Dropped on reading and never stored: postcodes (HOME_POST, PL_POST), UPN, MOTHER, "
        "MC_DOB. Dates of birth are kept (age matters)."
    )
    w(
        f"- Outcomes by year ending 31 March: placement moves for years "
        f"{_years(s['moves']['years'])}; missing episodes for years "
        f"{_years(s['missing']['years'])} (children in care on 31 March, zero included); "
        "OC2 measures dated 31 March of their return's year.\n"
    )
    # -- mapping
    w("## Code mappings\n")
    w("### Placement type (PLACE + PLACE_PROVIDER)\n")
    pm = c["placement_map"]
    if len(pm):
        pm = (
            pm.groupby(["PLACE", "type"], sort=True)
            .agg(
                PLACE_PROVIDER=("PLACE_PROVIDER", lambda x: ", ".join(sorted(set(x)))),
                episodes=("episodes", "sum"),
                placements=("placements", "sum"),
            )
            .reset_index()[["PLACE", "PLACE_PROVIDER", "type", "episodes", "placements"]]
        )
        pm["type"] = pm["type"].map(lambda t: _TYPE_LABEL.get(t, t))
        pm = pm.rename(columns={"type": "placement type"})
    w(_md_table(pm))
    if c["foster_without_provider"]:
        w(
            f"{c['foster_without_provider']:,} foster placements (U4-U6) had provider PR0 or "
            "blank and were counted as in-house.\n"
        )
    w("### Ethnicity (ETHNIC to DfE top-level group)\n")
    w(_md_table(c["ethnicity_map"]))
    w(f"Sex (1 male, 2 female): {', '.join(f'{k} {v:,}' for k, v in c['sex'].items())}.\n")
    # -- needs
    w("## Needs extract\n")
    n = s.get("needs")
    if not n:
        w("No needs extract given: the assessments table is empty.\n")
    else:
        lk = n["link"]
        w(
            f"- File {escape_md(n['file'])} ({n['layout']} layout, {n['encoding']}): "
            f"{n['rows_read']:,} rows, {n['scores_read']:,} scores read, "
            f"**{n['scores_kept']:,} kept** for "
            f"{n['children']:,} children at {n['assessments']:,} assessments."
        )
        w(
            f"- Columns used: child id {escape_md(n['columns']['child'])}, date "
            f"{escape_md(n['columns']['date'])}, assessor "
            f"{escape_md(str(n['columns']['assessor']))}."
        )
        w(
            f"- Link to the nearest looked-after review: {lk['linked']:,} assessments linked, "
            f"{lk['no_review']:,} with no review for the child. Distance (days): median "
            f"{_num(lk['median_days'])}, 90th percentile {_num(lk['p90_days'])}, maximum "
            f"{_num(lk['max_days'])}; same day {_pct(lk['same_day'])}, within 14 days "
            f"{_pct(lk['within_14'])}, within 30 days {_pct(lk['within_30'])}.\n"
        )
    # -- costs
    w("## Costs\n")
    if costs["file"]:
        w(
            f"- File {escape_md(costs['file'])}: {costs['rows_read']:,} rows, "
            f"{costs['matched_rows']:,} matched to {costs['from_file']:,} placements "
            "(by child and start date, else the "
            "placement whose dates contain the cost's start; several rows for one placement are "
            "averaged)."
        )
    else:
        w("- No costs file given: every weekly cost is imputed.")
    w(
        f"- Imputed: {costs['imputed']:,} placements ({_pct(costs['imputed_share'])}), at the "
        "unit cost (median) of their type times the provider factor "
        f"({', '.join(f'{k} x{v:g}' for k, v in costs['provider_factors'].items())}).\n"
    )
    bt = costs["by_type"].copy()
    if len(bt):
        bt["type"] = bt["type"].map(lambda t: _TYPE_LABEL.get(t, t))
        bt = bt.rename(columns={"type": "placement type", "unit_cost": "unit cost (GBP/week)"})
    w(_md_table(bt))
    # -- problems
    w("## Problems (grouped and counted)\n")
    w(
        "Each group is one rule broken in one column of one file; `rows` gives the first row "
        "numbers. Values in identifier columns are hidden.\n"
    )
    w("### Row-level problems\n")
    w(_md_table(_problems_view(log.grouped(ERROR)), max_rows=200))
    w("### Notes\n")
    w(_md_table(_problems_view(log.grouped(NOTE)), max_rows=200))
    # -- pseudonymisation
    p = s.get("pseudonymisation", {})
    w("## Pseudonymisation\n")
    w(
        f"Child, assessor and provider (URN) identifiers were replaced by "
        f"{p.get('method', 'HMAC-SHA256')} truncated to {p.get('length', 16)} hex characters, "
        f"keyed with the council's key (key id `{p.get('key_id', '?')}`, a keyed fingerprint, "
        "not the key). The same key gives the same pseudonyms in every import, so years link "
        "up; the key itself is not stored anywhere in this folder.\n"
    )
    return "\n".join(out)


def _problems_view(g: pd.DataFrame) -> pd.DataFrame:
    if g is None or len(g) == 0:
        return g
    return g[["file", "column", "rule", "action", "count", "rows", "values"]]


def _years(years) -> str:
    return ", ".join(str(y) for y in years) if years else "none"


def _num(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:g}"


__all__ = ["render_report"]
