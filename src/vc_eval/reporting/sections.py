"""The sections of the impact-update report, computed outside any notebook.

Each ``section`` function takes a :class:`ReportContext` (the data of one
council and the report's parameters) and returns a :class:`Section`: its
plain-language text, its tables (already through :mod:`vc_eval.core.privacy`),
its figures (aggregates only, no mark for fewer than 6 children) and the
headline numbers it contributes. The notebooks only call these functions and
:func:`show` the result, so everything a report says is tested without
Papermill.

A section whose analysis module has not landed yet says so plainly ("not yet
available in this version") and shows no numbers.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval.core import privacy
from vc_eval.core.dataset import Dataset, total_need
from vc_eval.core.framework import TOTAL_NEED, Framework, load_framework
from vc_eval.core.population import age_band, age_on, in_care_on, placements_on
from vc_eval.core.schema import ASSESSMENTS, PLACEMENT_LABELS, Col
from vc_eval.core.summary import FigureOut, Table

#: Said by every section whose analysis is missing.
UNAVAILABLE = "not yet available in this version"
#: Choices of the ``comparison`` parameter.
COMPARISONS: tuple[str, ...] = ("previous_period", "all_councils", "none")
#: Choices of the ``engine`` parameter (growth models).
ENGINES: tuple[str, ...] = ("fast", "statsmodels")
#: MIME type of the headline-numbers output read back by :mod:`vc_eval.reporting.render`.
HEADLINE_MIME = "application/vnd.vc-eval.headline+json"
#: Draws of the fixed effects behind each peak-age interval.
PEAK_DRAWS = 1000
#: Peaks present in fewer plausible curves than this are not reported.
MIN_PEAK_SHARE = 0.5

MIN_N = privacy.MIN_N


class ReportInputError(ValueError):
    """The report's parameters or data cannot make a report (clear message)."""


# --------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------


@dataclass
class Section:
    """One section of a report.

    Attributes
    ----------
    key : str
        Short id (e.g. ``"population"``).
    title : str
    status : {"ok", "unavailable", "insufficient"}
        ``unavailable``: its analysis module is not in this version;
        ``insufficient``: too little data for this council.
    text : list of str
        Paragraphs or bullet lists in Markdown, plain language.
    tables : list of Table
    figures : list of FigureOut
    headline : dict
        Numbers this section contributes to the executive summary.
    notes : list of str
        Caveats and what was left out.
    """

    key: str
    title: str
    status: str = "ok"
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureOut] = field(default_factory=list)
    headline: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self, level: int = 2) -> str:
        """Title and text as Markdown (tables and figures are shown separately)."""
        out = [f"{'#' * level} {self.title}", *self.text]
        return "\n\n".join(out)

    def summary(self) -> str:
        return (
            f"{self.title} [{self.status}]: {len(self.tables)} table(s), "
            f"{len(self.figures)} figure(s)"
        )

    def close(self) -> None:
        """Close the section's figures (frees memory once shown)."""
        import matplotlib.pyplot as plt

        for f in self.figures:
            plt.close(f.figure)  # a no-op for figures made outside pyplot


def unavailable(key: str, title: str, what: str, module: str) -> Section:
    """A section whose analysis is not in this version: it says so, with no numbers."""
    return Section(
        key,
        title,
        status="unavailable",
        text=[
            f"**This section is {UNAVAILABLE} of vc-eval.** It will show {what} once the "
            f"`vc_eval.{module}` analysis is part of the workbench. No numbers are shown "
            "rather than placeholders."
        ],
    )


def insufficient(key: str, title: str, reason: str) -> Section:
    """A section that cannot be computed for this council's data."""
    return Section(
        key,
        title,
        status="insufficient",
        text=[f"This section could not be produced for this council: {reason}"],
    )


def _module(name: str, *attrs: str):
    """``vc_eval.<name>`` if it exists and has ``attrs``, else None."""
    full = f"vc_eval.{name}"
    if not name.startswith("analysis.") and importlib.util.find_spec(full) is None:
        full = f"vc_eval.analysis.{name}"
    if importlib.util.find_spec(full) is None:
        return None
    mod = importlib.import_module(full)
    return mod if all(hasattr(mod, a) for a in attrs) else None


# --------------------------------------------------------------------------
# Tables through disclosure control
# --------------------------------------------------------------------------


def count_table(
    counts: pd.DataFrame,
    *,
    caption: str,
    label: str,
    totals: str = "both",
    add_totals: bool = True,
    row_totals: bool = True,
    percent_of: str | None = None,
    note: str = "",
) -> Table:
    """A two-way table of counts (index = rows) protected by :func:`privacy.suppress`.

    With ``add_totals`` a ``Total`` row (and, with ``row_totals`` and more
    than one column, a ``Total`` column) is added and shown. With
    ``percent_of`` ("row", "column", "total") a percentage column is added
    after each count column.
    """
    counts = counts.fillna(0).astype(int)
    counts.index = [str(i) for i in counts.index]
    counts.columns = [str(c) for c in counts.columns]
    if add_totals:
        if row_totals and counts.shape[1] > 1:
            counts[privacy.TOTAL] = counts.sum(axis=1)
        counts.loc[privacy.TOTAL] = counts.sum(axis=0)
    st = privacy.suppress(counts, totals=totals)
    shown = st.table.copy()
    kinds = {c: "count" for c in shown.columns}
    if percent_of is not None:
        pct = st.percent(of=percent_of)
        cols = []
        for c in shown.columns:
            cols.append(c)
            if c != privacy.TOTAL or counts.shape[1] == 1:
                name = f"{c} (%)" if counts.shape[1] > 1 else "%"
                shown[name] = pct[c]
                kinds[name] = "percent"
                cols.append(name)
        shown = shown[cols]
    shown.insert(0, label, shown.index.astype(str))
    kinds[label] = "label"
    extra = st.summary() if st.n_suppressed else ""
    return Table(
        caption, shown.reset_index(drop=True), kinds, " ".join(x for x in (note, extra) if x)
    )


def stat_table(
    frame: pd.DataFrame,
    *,
    caption: str,
    n_col: str,
    stat_cols: Sequence[str],
    label_cols: Sequence[str],
    count_cols: Sequence[str] = (),
    decimals: int = 1,
    note: str = "",
) -> Table:
    """Statistics per row, hidden where fewer than 6 children are behind them.

    ``n_col`` and ``count_cols`` are shown as counts, hidden when 1-5 (rows
    are separate groups whose counts do not add up to a shown total).
    """
    shown = privacy.suppress_stats(frame, n_col=n_col, stat_cols=list(stat_cols), decimals=decimals)
    kinds = dict.fromkeys(label_cols, "label") | dict.fromkeys(stat_cols, "stat")
    for c in dict.fromkeys([n_col, *count_cols]):
        v = pd.to_numeric(frame[c]).to_numpy(dtype=float)
        shown[c] = [
            privacy.format_count(x, privacy.THRESHOLD[0] <= x <= privacy.THRESHOLD[1])
            if np.isfinite(x)
            else ""
            for x in v
        ]
        kinds[c] = "count"
    return Table(caption, shown.reset_index(drop=True), kinds, note)


def count_text(n: float) -> str:
    """A count for a sentence: hidden ("fewer than 6") when it is 1-5."""
    if n is None or not np.isfinite(n):
        return "unknown"
    n = int(round(n))
    lo, hi = privacy.THRESHOLD
    return "fewer than 6" if lo <= n <= hi else f"{n:,}"


def safe_count(n: float) -> int | str | None:
    """A count for the headline JSON: ``"c"`` when 1-5."""
    if n is None or not np.isfinite(n):
        return None
    n = int(round(n))
    lo, hi = privacy.THRESHOLD
    return privacy.SUPPRESSED if lo <= n <= hi else n


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def money(x: float) -> str:
    """Pounds, whole numbers, minus sign before the £."""
    if x is None or not np.isfinite(x):
        return "unknown"
    return f"{'-' if x < 0 else ''}£{abs(x):,.0f}"


def _round(x: float, d: int = 1) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), d)


# --------------------------------------------------------------------------
# The report context
# --------------------------------------------------------------------------


@dataclass
class ReportContext:
    """One council's data and the report's parameters, with analyses cached.

    Build with :func:`build_context`.
    """

    council: str
    data_dir: Path
    data: Dataset | None
    local: Dataset
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    comparison: str
    domains: list[str]
    engine: str
    seed: int
    figure_dpi: int
    parameters: dict
    all: object = None  # AllCouncils or CachedCouncils (vc_eval.reporting.cache)
    headline: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def framework(self) -> Framework:
        return self.local.framework

    @property
    def previous_period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The period of the same length just before this one."""
        length = self.period_end - self.period_start
        end = self.period_start - pd.Timedelta(days=1)
        return end - length, end

    def period_text(self) -> str:
        return f"{self.period_start:%-d %B %Y} to {self.period_end:%-d %B %Y}"

    def cached(self, key: str, fn: Callable):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def is_synthetic(self) -> bool:
        return self.all.metadata.get("source") == "synthetic"


def _parse_date(value, name: str) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as err:
        raise ReportInputError(f"{name}: {value!r} is not a date (use YYYY-MM-DD)") from err


def parse_domains(value: str | Sequence[str] | None, fw: Framework) -> list[str]:
    """The growth-model domains asked for: "all", "total", "none" or a comma list."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return [TOTAL_NEED, *fw.domain_ids]
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "none":
            return []
        if v == "total":
            return [TOTAL_NEED]
        value = [x.strip() for x in value.split(",") if x.strip()]
    unknown = [d for d in value if d != TOTAL_NEED and d not in fw.domain_ids]
    if unknown:
        raise ReportInputError(
            f"domains: unknown domain(s) {', '.join(unknown)}; the framework has "
            f"{', '.join(fw.domain_ids)} (or use all, total, none)"
        )
    return list(dict.fromkeys(value))


def build_context(
    *,
    council: str = "",
    data_dir: str | Path = "data/synthetic",
    period_start: str = "",
    period_end: str = "",
    framework: str = "",
    comparison: str = "previous_period",
    domains: str = "all",
    engine: str = "fast",
    seed: int = 1,
    figure_dpi: int = 90,
    cache_dir: str = "",
    data: Dataset | None = None,
) -> ReportContext:
    """Load the data and check the parameters of one council's report.

    Parameters
    ----------
    council : str
        Council name ("" = the first in alphabetical order).
    data_dir : path
        Dataset folder.
    period_start, period_end : str
        Reporting period, ``YYYY-MM-DD``; "" = the 12 months up to the latest
        date in the data.
    framework : str
        Framework file or shipped name; "" = the one recorded with the data.
    comparison : {"previous_period", "all_councils", "none"}
        What the period's figures are set against.
    domains : str
        Growth-model domains: "all", "total", "none" or a comma list.
    engine : {"fast", "statsmodels"}
        Growth-model engine.
    seed : int
        Seed for intervals by simulation (same seed, same numbers).
    figure_dpi : int
        Resolution of figures.
    cache_dir : str
        Cache made by :func:`vc_eval.reporting.cache.prepare_cache` (batches):
        the council's tables and the cross-council figures are read from it
        instead of loading every council. "" = load the data folder. Not used
        with another ``framework``.
    data : Dataset, optional
        Already-loaded data (tests); ``data_dir`` is then only recorded.

    Raises
    ------
    ReportInputError
        On a parameter that cannot be used, with a message naming it.
    """
    if comparison not in COMPARISONS:
        raise ReportInputError(f"comparison: {comparison!r} is not one of {', '.join(COMPARISONS)}")
    if engine not in ENGINES:
        raise ReportInputError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    from vc_eval.reporting.cache import AllCouncils, CachedCouncils

    data_dir = Path(data_dir)
    allc = None
    if data is None and cache_dir and not framework:
        allc = CachedCouncils.open(cache_dir, data_dir)
    if allc is None:
        if data is None:
            fw = load_framework(framework) if framework else None
            data = Dataset.load(data_dir, framework=fw)
        elif framework:
            data = Dataset(
                data.tables,
                metadata=data.metadata,
                framework=load_framework(framework),
                files=data.files,
                truth=data.truth,
            )
        allc = AllCouncils(data)
    names = allc.council_names()
    if not names:
        raise ReportInputError(f"{data_dir}: the data hold no councils")
    council = council or names[0]
    if council not in names:
        raise ReportInputError(
            f"council: {council!r} is not in the data; councils are {', '.join(names)}"
        )
    local = allc.local(council)
    if local.children.empty:
        raise ReportInputError(f"council {council!r} has no children in the data")
    end = _parse_date(period_end, "period_end") or allc.snapshot_date()
    start = _parse_date(period_start, "period_start") or (
        end - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    )
    if start >= end:
        raise ReportInputError(
            f"period_start ({start.date()}) must be before period_end ({end.date()})"
        )
    params = {
        "council": council,
        "data_dir": str(data_dir),
        "period_start": str(start.date()),
        "period_end": str(end.date()),
        "framework": f"{local.framework.id} {local.framework.version}",
        "comparison": comparison,
        "domains": domains,
        "engine": engine,
        "seed": int(seed),
    }
    return ReportContext(
        council=council,
        data_dir=data_dir,
        data=data,
        local=local,
        period_start=start,
        period_end=end,
        comparison=comparison,
        domains=parse_domains(domains, local.framework),
        engine=engine,
        seed=int(seed),
        figure_dpi=int(figure_dpi),
        parameters=params,
        all=allc,
    )


# --------------------------------------------------------------------------
# Shared computations (cached on the context)
# --------------------------------------------------------------------------


def _in_period(frame: pd.DataFrame, col: str, start, end) -> pd.DataFrame:
    return frame[(frame[col] >= start) & (frame[col] <= end)]


def _snapshot(ds: Dataset, date: pd.Timestamp) -> dict:
    """Children in care on ``date``, their placements and weekly spend."""
    kids = in_care_on(ds.children, date)
    active = placements_on(ds.placements, date)
    active = active[active[Col.child_id].isin(kids[Col.child_id])]
    return {
        "in_care": len(kids),
        "children": kids,
        "placements": active,
        "weekly_spend": float(active[Col.weekly_cost].sum()),
        "with_placement": len(active),
    }


def _snap(ctx: ReportContext, which: str) -> dict:
    dates = {
        "end": ctx.period_end,
        "start": ctx.period_start - pd.Timedelta(days=1),
        "prev_start": ctx.previous_period[0] - pd.Timedelta(days=1),
    }
    return ctx.cached(f"snap_{which}", lambda: _snapshot(ctx.local, dates[which]))


def _total_need(ds: Dataset) -> pd.DataFrame:
    return total_need(ds.assessments, ds.framework)


def _latest_need(ctx: ReportContext, start, end, ds: Dataset | None = None) -> pd.DataFrame:
    """Each child's latest total-need score in a period."""
    ds = ds or ctx.local
    t = _in_period(_total_need(ds), Col.assessment_date, start, end)
    t = t.sort_values([Col.child_id, Col.assessment_date])
    return t.groupby(Col.child_id, as_index=False).tail(1)


def _assessed(ctx: ReportContext) -> dict:
    def run():
        a = _in_period(ctx.local.assessments, Col.assessment_date, ctx.period_start, ctx.period_end)
        keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
        latest = _latest_need(ctx, ctx.period_start, ctx.period_end)
        return {
            "children": int(a[Col.child_id].nunique()),
            "assessments": int(len(a.drop_duplicates(keys))),
            "latest": latest,
            "mean_latest": float(latest[Col.score].mean()) if len(latest) else np.nan,
        }

    return ctx.cached("assessed", run)


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def title(ctx: ReportContext) -> Section:
    """Report title, period and what the data are."""
    text = [
        f"**Reporting period:** {ctx.period_text()}. "
        f"**Needs framework:** {ctx.framework.name} (version {ctx.framework.version}).",
    ]
    if ctx.is_synthetic:
        text.append(
            "> **Synthetic data.** This report was made from a synthetic population: "
            "the council and the children are fictional. Nothing here describes real "
            "children."
        )
    if ctx.framework.illustrative:
        text.append("> The needs framework is illustrative, not a council's own framework.")
    return Section("title", f"Impact update: {ctx.council}", text=text)


def population(ctx: ReportContext) -> Section:
    """Children in care at the end of the period: age, sex, placement type, flows."""
    sec = Section("population", "The care population")
    end = _snap(ctx, "end")
    start = _snap(ctx, "start")
    kids = end["children"]
    flows = _flows(ctx)
    n_end, n_start = end["in_care"], start["in_care"]
    sec.text.append(
        f"On {ctx.period_end:%-d %B %Y}, **{count_text(n_end)} children** were in care "
        f"(against {count_text(n_start)} at the start of the period). During the period "
        f"{_flow_text(flows, 'entered')} children entered care and "
        f"{_flow_text(flows, 'left')} left."
    )
    if n_end == 0:
        sec.status = "insufficient"
        sec.text.append(
            "No child was in care at the end of the period, so there is no population to describe."
        )
        return sec
    # Age band x sex
    bands = age_band(age_on(kids, ctx.period_end))
    tab = pd.crosstab(pd.Series(bands, name="Age band"), kids[Col.sex].to_numpy())
    tab = tab.reindex(columns=["female", "male"], fill_value=0)
    tab.columns = ["Girls", "Boys"]
    sec.tables.append(
        count_table(
            tab,
            caption=f"Children in care on {ctx.period_end:%-d %B %Y}, by age and sex",
            label="Age band",
        )
    )
    # Placement type (with the comparison)
    sec.tables.append(_placement_table(ctx, end))
    sec.tables.append(_flows_table(ctx))
    sec.figures.append(_population_figure(ctx))
    sec.headline = {
        "children_in_care_end": safe_count(n_end),
        "children_in_care_start": safe_count(n_start),
        "entered_care": None if flows["hidden"]["entered"] else flows["values"]["entered"],
        "left_care": None if flows["hidden"]["left"] else flows["values"]["left"],
    }
    return sec


def _placement_counts(snap: dict) -> pd.Series:
    """Children by placement type (labels), from a snapshot of one council or all."""
    if "type_counts" in snap:
        counts = pd.Series(snap["type_counts"], dtype=int).rename(index=PLACEMENT_LABELS)
    else:
        counts = snap["placements"][Col.placement_type].map(PLACEMENT_LABELS).value_counts()
    missing = snap["in_care"] - snap["with_placement"]
    order = [PLACEMENT_LABELS[t] for t in PLACEMENT_LABELS]
    counts = counts.reindex(order, fill_value=0)
    if missing > 0:
        counts["No placement recorded"] = missing
    return counts


def _placement_table(ctx: ReportContext, end: dict) -> Table:
    counts = _placement_counts(end)
    frame = pd.DataFrame({"At end of period": counts})
    caption = f"Placement type of children in care on {ctx.period_end:%-d %B %Y}"
    if ctx.comparison == "previous_period":
        start = _placement_counts(_snap(ctx, "start"))
        frame = frame.reindex(frame.index.union(start.index, sort=False), fill_value=0)
        frame["At start of period"] = start.reindex(frame.index, fill_value=0)
    # The columns are two dates: their row sums mean nothing, so only column
    # totals (children in care on each date) are shown and protected.
    tab = count_table(
        frame,
        caption=caption,
        label="Placement type",
        totals="columns",
        row_totals=False,
        percent_of="column",
    )
    if ctx.comparison == "all_councils":
        allsnap = ctx.all.placement_snapshot(ctx.period_end)
        allc = _placement_counts(allsnap)
        pct = (100 * allc / max(allc.sum(), 1)).reindex(tab.frame["Placement type"])
        n_all = allc.reindex(pct.index).fillna(0)
        lo, hi = privacy.THRESHOLD
        tab.frame["All councils (%)"] = [
            privacy.format_percent(v, lo <= n <= hi, count=n)
            for v, n in zip(pct.fillna(0), n_all, strict=True)
        ]
        tab.kinds["All councils (%)"] = "percent"
        tab.note = (
            tab.note + f" All councils: every council in the data, {allsnap['in_care']:,} children."
        ).strip()
    return tab


FLOWS: tuple[str, ...] = ("start", "entered", "left", "end")


def care_flows(ctx: ReportContext, start: pd.Timestamp, end: pd.Timestamp) -> dict:
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
    c = ctx.local.children
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


def _flow_text(f: dict, key: str) -> str:
    return "an undisclosed number of" if f["hidden"][key] else f"{f['values'][key]:,}"


def _flows(ctx: ReportContext, which: str = "this") -> dict:
    period = (ctx.period_start, ctx.period_end) if which == "this" else ctx.previous_period
    return ctx.cached(f"flows_{which}", lambda: care_flows(ctx, *period))


def _flows_table(ctx: ReportContext) -> Table:
    """In care at start and end, entered and left, for this and the previous period."""
    cols = {"This period": _flows(ctx)}
    if ctx.comparison == "previous_period":
        cols["Previous period"] = _flows(ctx, "previous")
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
    return Table("Children entering and leaving care", frame, kinds, note)


def _population_figure(ctx: ReportContext) -> FigureOut:
    from vc_eval.plots.report import new_figure, plot_in_care_by_month, plot_placement_mix

    periods = [("This period", ctx.period_start, ctx.period_end)]
    if ctx.comparison == "previous_period":
        periods.append(("Previous period", *ctx.previous_period))
    rows = []
    for label, a, b in periods:
        months = pd.date_range(a, b, freq="MS")
        for m in months:
            n = len(in_care_on(ctx.local.children, m))
            # Same months of the year on one axis: plot the previous period shifted.
            shift = m + (ctx.period_start - a)
            rows.append({"month": shift, "children": n if n >= MIN_N else np.nan, "period": label})
    series = pd.DataFrame(rows)
    mix = _placement_counts(_snap(ctx, "end"))
    total = mix.sum()
    lo, hi = privacy.THRESHOLD
    shown = mix[(mix > hi)]
    frame = pd.DataFrame({"label": shown.index, "percent": 100 * shown.to_numpy() / total})
    fig, (ax1, ax2) = new_figure(1, 2, figsize=(11, 3.8))
    plot_in_care_by_month(series, ax=ax1)
    if len(frame):
        plot_placement_mix(frame, ax=ax2)
    fig.tight_layout()
    left_out = int(((mix >= lo) & (mix <= hi)).sum())
    alt = (
        f"Left: children in care in {ctx.council} on the first of each month of the "
        "period"
        + (" and of the previous period" if len(periods) > 1 else "")
        + ". Right: percentage of children in care by placement type at the end of the "
        "period"
        + (f" ({left_out} type(s) with fewer than 6 children left out)" if left_out else "")
        + "."
    )
    return FigureOut(
        fig,
        alt,
        "Children in care by month, and placement type at period end. "
        "Months and types with fewer than 6 children are not drawn.",
    )


# -- sections from analysis modules landing separately ---------------------------

#: Section key -> (title, what it shows, module, attributes the adapter uses).
MODULE_SECTIONS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "needs_profile": (
        "Needs profile and complexity",
        "the prevalence of need by domain and band and the number of domains of high need "
        "per child",
        "profile",
        ("needs_profile",),
    ),
    "need_change": (
        "Change in need over the period",
        "how need changed between each child's first and latest assessment, with a "
        "reliable-change criterion",
        "profile",
        ("needs_profile",),
    ),
    "cost_need": (
        "Cost against need and the needs-matched scenario",
        "how weekly placement cost relates to assessed need, and what placements matched "
        "to need would cost",
        "spend",
        ("spend",),
    ),
    "outcomes": (
        "Spend against outcome domains",
        "change in need per domain and external outcomes against weekly spend and placement type",
        "outcomes",
        ("outcomes", "SPEND"),
    ),
    "impact": (
        "Programme impact",
        "before/after estimates and comparisons with other councils of what the programme changed",
        "impact",
        ("council_series", "its", "event_study", "savings"),
    ),
    "agreement": (
        "Assessor agreement",
        "how closely two assessors' scores of the same child agree, by domain",
        "agreement",
        ("agreement",),
    ),
}


def _adapter(key: str):
    """The function that builds section ``key`` from its analysis module, if both exist."""
    title_, what, module, attrs = MODULE_SECTIONS[key]
    mod = _module(module, *attrs)
    if mod is None or importlib.util.find_spec("vc_eval.reporting.adapters") is None:
        return None, mod
    adapters = importlib.import_module("vc_eval.reporting.adapters")
    return getattr(adapters, f"{key}_section", None), mod


def _module_section(ctx: ReportContext, key: str) -> Section:
    title_, what, module, _ = MODULE_SECTIONS[key]
    fn, mod = _adapter(key)
    if fn is None:
        return unavailable(key, title_, what, module)
    return fn(ctx, mod)


def needs_profile(ctx: ReportContext) -> Section:
    """Prevalence of need by domain and band, and complexity."""
    return _module_section(ctx, "needs_profile")


def need_change(ctx: ReportContext) -> Section:
    """Change in need between each child's first and latest assessment in the period."""
    return _module_section(ctx, "need_change")


# -- trajectories -------------------------------------------------------------


def _until(ds: Dataset, until: pd.Timestamp) -> Dataset:
    """The dataset with assessments after ``until`` left out."""
    a = ds.assessments
    tables = dict(ds.tables)
    tables[ASSESSMENTS] = a[a[Col.assessment_date] <= until].reset_index(drop=True)
    return Dataset(
        tables, metadata=ds.metadata, framework=ds.framework, files=ds.files, truth=ds.truth
    )


def fit_trajectories(
    ds: Dataset,
    domains: Iterable[str],
    *,
    until: pd.Timestamp,
    engine: str = "fast",
    seed: int = 1,
    basis: str = "spline",
    random: str = "slope",
    n_draws: int = PEAK_DRAWS,
    **growth_options,
) -> dict[str, dict]:
    """Growth model, curve and peaks per domain (or total need) from a dataset.

    Uses :func:`vc_eval.analysis.trajectories.fit_domains` (spline knots placed by
    the number of children unless ``df`` or ``knots`` are given in
    ``growth_options``) on the assessments up to ``until``.

    Returns
    -------
    dict
        Domain id (or ``total_need``) -> ``{"fit", "curve", "observed",
        "peaks", "warnings", "n_children", "n_obs"}``, or ``{"error":
        message}`` where a model cannot be fitted (too few children). Only
        aggregates leave this function: observed means are for years of age
        with at least 6 children.
    """
    from vc_eval.analysis.trajectories import fit_domains

    domains = list(domains)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fits = fit_domains(
            _until(ds, until),
            domains=[d for d in domains if d != TOTAL_NEED],
            include_total=TOTAL_NEED in domains,
            areas=False,
            basis=basis,
            random=random,
            engine=engine,
            **growth_options,
        )
        peaks = fits.peak_summaries(method="draws", n=n_draws, seed=seed)
    noted = [
        str(w.message)
        for w in caught
        if not issubclass(w.category, DeprecationWarning | FutureWarning)
        and "warning(s) while fitting" not in str(w.message)
    ]
    out: dict[str, dict] = {}
    for d in domains:
        if d not in fits.fits:
            out[d] = {"error": _safe_error(fits.skipped.get(d, "not fitted"))}
            continue
        fit = fits[d]
        out[d] = {
            "fit": fit,
            "curve": fit.curve(),
            "observed": fit.observed_means(min_groups=MIN_N),
            "peaks": peaks[d],
            "warnings": list(fit.warnings) + [w for w in noted if fit.label in w],
            "n_children": fit.n_groups,
            "n_obs": fit.n_obs,
        }
    return out


def _safe_error(err: BaseException | str) -> str:
    """An error message safe to print: first line only, no identifiers expected."""
    text = str(err)
    return text.splitlines()[0][:300] if text else type(err).__name__


def _peak_rows(label: str, res: dict) -> list[dict]:
    p = res["peaks"].peaks
    p = p[p["share_with_peak"] >= MIN_PEAK_SHARE]
    return [
        {
            "label": label,
            "age": r.age,
            "lower": r.lower,
            "upper": r.upper,
            "share": r.share_with_peak,
        }
        for r in p.itertuples()
    ]


def _fmt_peaks(rows: list[dict]) -> str:
    if not rows:
        return "no clear peak"
    return "; ".join(f"{r['age']:.1f} ({r['lower']:.1f}-{r['upper']:.1f})" for r in rows)


def trajectories(ctx: ReportContext) -> Section:
    """Need by age: fitted growth curves and peak ages with intervals."""
    sec = Section("trajectories", "Need trajectories by age")
    if not ctx.domains:
        return insufficient(sec.key, sec.title, "no domains were asked for (domains='none').")
    if _module("analysis.trajectories", "fit_growth") is None:
        return unavailable(sec.key, sec.title, "need by age and peak ages", "trajectories")
    res = ctx.cached(
        "trajectories",
        lambda: fit_trajectories(
            ctx.local, ctx.domains, until=ctx.period_end, engine=ctx.engine, seed=ctx.seed
        ),
    )
    fw = ctx.framework
    rows, curves, observed, peak_marks, failed, warned = [], {}, {}, {}, [], 0
    for d, r in res.items():
        label = fw.label(d)
        if "error" in r:
            failed.append(f"{label}: {r['error']}")
            continue
        pk = _peak_rows(label, r)
        rows.append(
            {
                "Domain": label,
                "Children": r["n_children"],
                "Assessments": r["n_obs"],
                "Peak ages (95% interval)": _fmt_peaks(pk),
            }
        )
        curves[label] = r["curve"]
        observed[label] = r["observed"]
        peak_marks[label] = [x["age"] for x in pk]
        warned += bool(r["warnings"])
    if not rows:
        return insufficient(
            sec.key, sec.title, "no growth model could be fitted (" + "; ".join(failed) + ")."
        )
    sec.text.append(
        "Each line is the average need score by age for children in care in this council, "
        "from a mixed-effects growth model (each child has their own level and rate of "
        "change; the average curve is a smooth spline in age). A **peak age** is an age at "
        "which average need is higher than just before and just after; its interval comes "
        f"from {PEAK_DRAWS:,} plausible curves drawn from the model's uncertainty, and a "
        f"peak is listed only if at least {MIN_PEAK_SHARE:.0%} of those curves have it."
    )
    if TOTAL_NEED in res and "peaks" in res[TOTAL_NEED]:
        pk = _peak_rows(fw.label(TOTAL_NEED), res[TOTAL_NEED])
        if pk:
            sec.text.append(
                f"**Total need peaks at age {_fmt_peaks(pk)}** (years; 95% interval in brackets)."
            )
        else:
            sec.text.append("Total need shows no clear peak with age in this council's data.")
        sec.headline["total_need_peak_ages"] = [round(x["age"], 1) for x in pk]
        sec.headline["total_need_peak_intervals"] = [
            [round(x["lower"], 1), round(x["upper"], 1)] for x in pk
        ]
    frame = pd.DataFrame(rows)
    sec.tables.append(
        stat_table(
            frame,
            caption="Peak ages of need by domain (all assessments up to the period end)",
            n_col="Children",
            stat_cols=[],
            label_cols=["Domain", "Peak ages (95% interval)"],
            count_cols=["Assessments"],
        )
    )
    from vc_eval.plots.report import plot_curves_grid

    fig = plot_curves_grid(curves, observed, peaks=peak_marks)
    sec.figures.append(
        FigureOut(
            fig,
            "Small multiples, one per need domain and for total need: the fitted average "
            "need score by age with its 95% confidence band, dots for the observed average at "
            "each year of age with at least 6 children, and dashed lines at peak ages.",
            "Fitted need by age (line, 95% band) and observed means (dots).",
        )
    )
    if failed:
        sec.notes.append("Not fitted: " + "; ".join(failed) + ".")
    if warned:
        sec.notes.append(
            f"{warned} of {len(rows)} models reported fitting warnings (for "
            "example a random-effect variance close to zero); their curves are "
            "shown but their intervals may be less reliable."
        )
    sec.notes.append(
        "The curves describe this council's children in care, who are not a "
        "random sample of all children: children enter and leave care at "
        "different ages, so the shape mixes age with time in care."
    )
    return sec


# -- spend, outcomes, impact, agreement ----------------------------------------


def cost_need(ctx: ReportContext) -> Section:
    """Cost against need, and the needs-matched scenario."""
    sec = _module_section(ctx, "cost_need")
    return _add_spend_now(ctx, sec) if sec.status == "unavailable" else sec


def _add_spend_now(ctx: ReportContext, sec: Section) -> Section:
    """Total weekly spend at period end (from placements, no model needed)."""
    end = _snap(ctx, "end")
    if end["with_placement"] >= MIN_N:
        sec.text.append(
            f"For reference, placements of children in care on {ctx.period_end:%-d %B %Y} "
            f"cost {money(end['weekly_spend'])} a week in total "
            f"({money(end['weekly_spend'] / end['with_placement'])} per child with a "
            "placement)."
        )
    return sec


def outcome_domains(ctx: ReportContext) -> Section:
    """Spend against outcome domains."""
    return _module_section(ctx, "outcomes")


def programme_impact(ctx: ReportContext) -> Section:
    """Programme impact: before/after and against comparison councils."""
    return _module_section(ctx, "impact")


def assessor_agreement(ctx: ReportContext) -> Section:
    """Agreement between two assessors scoring the same child."""
    return _module_section(ctx, "agreement")


# -- data quality ---------------------------------------------------------------


def data_quality(ctx: ReportContext) -> Section:
    """What the data hold for this council, and what each analysis left out and why."""
    sec = Section("data_quality", "Data quality: what was used and what was left out")
    ds = ctx.local
    kids, a, pl = ds.children, ds.assessments, ds.placements
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    sets = a.drop_duplicates(keys)
    in_period = _in_period(sets, Col.assessment_date, ctx.period_start, ctx.period_end)
    after = sets[sets[Col.assessment_date] > ctx.period_end]
    ever_in_period = kids[
        (kids[Col.entered_care] <= ctx.period_end)
        & (kids[Col.left_care].isna() | (kids[Col.left_care] >= ctx.period_start))
    ]
    never = ever_in_period[~ever_in_period[Col.child_id].isin(in_period[Col.child_id])]
    dates = sets.merge(kids[[Col.child_id, Col.entered_care, Col.left_care]], on=Col.child_id)
    outside_care = dates[
        (dates[Col.assessment_date] < dates[Col.entered_care])
        | (dates[Col.assessment_date] > dates[Col.left_care])
    ]
    double = _double_scored(sets)
    unscored = [
        ctx.framework.label(d) for d in ctx.framework.domain_ids if d not in set(a[Col.domain])
    ]
    rows = [
        ("Children in the data for this council", len(kids), "children", "all sections"),
        (
            "Children in care during the period with no assessment in it",
            len(never),
            "children",
            "left out of needs sections for the period",
        ),
        (
            "Assessments (child, date, assessor) in the period",
            len(in_period),
            "assessments",
            "needs sections",
        ),
        ("Assessments after the period end", len(after), "assessments", "left out"),
        (
            "Assessments dated outside the child's time in care",
            len(outside_care),
            "assessments",
            "kept; check recording",
        ),
        (
            "Reviews scored by two assessors within 14 days",
            double,
            "reviews",
            "agreement; both scores kept elsewhere",
        ),
        (
            "Placements with an imputed weekly cost",
            int(pl[Col.cost_imputed].sum()),
            "placements",
            "cost sections (cost is an estimate)",
        ),
    ]
    frame = pd.DataFrame(rows, columns=["Check", "Number", "Of", "Used in / effect"])
    counts = frame.set_index("Check")[["Number"]]
    st = privacy.suppress(counts, totals="none")
    frame["Number"] = st.table["Number"].to_numpy()
    sec.tables.append(
        Table(
            "What the data hold and what was left out",
            frame,
            {"Check": "label", "Number": "count", "Of": "label", "Used in / effect": "text"},
            "Numbers 1-5 are shown as c.",
        )
    )
    sec.text.append(
        "The data were checked against the vc-eval data model when loaded (types, allowed "
        "codes, dates in order, links between tables); data breaking those rules stop the "
        "report instead of being silently dropped. The table lists what each analysis "
        "used and what it left out."
    )
    if unscored:
        sec.notes.append("No scores at all for: " + ", ".join(unscored) + ".")
    imp = ds.metadata.get("import") or ds.metadata.get("import_report")
    if isinstance(imp, dict) and imp:
        sec.notes.append(
            "The data were imported from council systems; the import report "
            "lists rows dropped at import and why."
        )
    return sec


def _double_scored(sets: pd.DataFrame, window_days: int = 14) -> int:
    """Reviews where a second assessor scored the same child within ``window_days``."""
    s = sets.sort_values([Col.child_id, Col.assessment_date])
    same = s[Col.child_id].eq(s[Col.child_id].shift())
    gap = (s[Col.assessment_date] - s[Col.assessment_date].shift()).dt.days
    other = s[Col.assessor_id].ne(s[Col.assessor_id].shift())
    return int((same & other & (gap <= window_days)).sum())


# -- methods and provenance -------------------------------------------------------


def provenance(ctx: ReportContext):
    """The :class:`vc_eval.core.provenance.Provenance` of this report (cached)."""
    from vc_eval.core.provenance import collect

    return ctx.cached(
        "provenance",
        lambda: collect(
            ctx.parameters, data_dir=ctx.data_dir, dataset=ctx.all, framework=ctx.framework
        ),
    )


def methods(ctx: ReportContext, sections: Sequence[Section] = ()) -> Section:
    """Methods, caveats and provenance (parameters, input fingerprints, versions)."""
    sec = Section("methods", "Methods, caveats and provenance")
    lo, hi = privacy.THRESHOLD
    sec.text += [
        "**Disclosure control.** Every table follows the rules of the DfE's children's "
        f"social care statistics: counts from {lo} to {hi} are shown as `c`, further cells "
        "are hidden where a hidden count could otherwise be worked out from totals, "
        "percentages are whole numbers and are hidden with their counts, and averages about "
        f"fewer than {MIN_N} children are hidden. Figures show only aggregates: no point, "
        f"bar or line is drawn for fewer than {MIN_N} children. No child, assessor or "
        "provider identifier appears in this report.",
        "**What the analyses can and cannot show.** The comparisons here are observational: "
        "children differ in ways the data do not record, so differences between groups, "
        "periods or councils are not proof that one caused the other. Small councils give "
        "wide intervals. Need scores are practitioners' judgements and differ between "
        "assessors (see assessor agreement).",
        "**Need trajectories** are linear mixed models fitted by restricted maximum "
        "likelihood, with a natural cubic spline in age, a random intercept and slope per "
        "child, and peak ages with intervals from draws of the fixed effects.",
        "**Reproducibility.** Rerunning with the same data, parameters and seed gives the "
        "same numbers. The table below records everything needed to do so.",
    ]
    unavailable_ = [s.title for s in sections if s.status == "unavailable"]
    if unavailable_:
        sec.notes.append(f"Sections {UNAVAILABLE} of vc-eval: " + "; ".join(unavailable_) + ".")
    prov = provenance(ctx)
    frame = prov.to_frame()
    frame.columns = ["Group", "Item", "Value"]
    sec.tables.append(
        Table(
            "Provenance: parameters, input files, framework and versions",
            frame,
            {"Group": "label", "Item": "label", "Value": "label"},
        )
    )
    return sec


# -- executive summary --------------------------------------------------------------


SECTION_FUNCTIONS: dict[str, Callable[[ReportContext], Section]] = {
    "population": population,
    "needs_profile": needs_profile,
    "trajectories": trajectories,
    "need_change": need_change,
    "cost_need": cost_need,
    "outcomes": outcome_domains,
    "impact": programme_impact,
    "agreement": assessor_agreement,
    "data_quality": data_quality,
}


def section(ctx: ReportContext, key: str) -> Section:
    """A section by key, computed once per context."""
    return ctx.cached(f"section_{key}", lambda: SECTION_FUNCTIONS[key](ctx))


def all_sections(ctx: ReportContext) -> list[Section]:
    return [section(ctx, k) for k in SECTION_FUNCTIONS]


def executive_summary(ctx: ReportContext) -> Section:
    """Plain-language summary with the headline numbers of every section."""
    secs = all_sections(ctx)
    sec = Section("summary", "Executive summary")
    end, start = _snap(ctx, "end"), _snap(ctx, "start")
    ass = _assessed(ctx)
    fw = ctx.framework
    bullets = []
    n_end, n_start = end["in_care"], start["in_care"]
    change = ""
    if n_start >= MIN_N and n_end >= MIN_N:
        pct = 100 * (n_end - n_start) / n_start
        change = (
            f", {abs(pct):.0f}% {'more' if pct > 0 else 'fewer'} than at the start"
            if round(pct) != 0
            else ", about the same as at the start"
        )
    bullets.append(
        f"**{count_text(n_end)} children** were in care in {ctx.council} on "
        f"{ctx.period_end:%-d %B %Y}{change}."
    )
    bullets.append(
        f"**{count_text(ass['children'])} children** had their needs assessed in "
        f"the period ({count_text(ass['assessments'])} assessments)."
    )
    mean_need = ass["mean_latest"] if ass["children"] >= MIN_N else np.nan
    if np.isfinite(mean_need):
        band = int(fw.band_of(np.array([mean_need]))[0])  # band_of fails on a scalar
        desc = {b.band: b.descriptor for b in fw.bands}[band].lower()
        cmp_ = _need_comparison(ctx)
        bullets.append(
            f"At their latest assessment, children's **average total need was "
            f"{mean_need:.1f} out of 100** (band {band}: {desc}){cmp_}."
        )
    if end["with_placement"] >= MIN_N:
        per_child = money(end["weekly_spend"] / end["with_placement"])
        bullets.append(
            f"Placements cost **{money(end['weekly_spend'])} a week** in total at "
            f"the end of the period, {per_child} per child on average."
        )
    traj = next(s for s in secs if s.key == "trajectories")
    if "total_need_peak_ages" in traj.headline:
        ages = traj.headline["total_need_peak_ages"]
        bullets.append(
            "Total need "
            + (
                f"peaks at about age {_and([f'{a:.1f}' for a in ages])}"
                if ages
                else "shows no clear peak with age"
            )
            + "."
        )
    for s in secs:
        for line in s.headline.get("_summary", []):
            bullets.append(line)
    sec.text.append("\n".join(f"- {b}" for b in bullets))
    missing = [s.title for s in secs if s.status == "unavailable"]
    if missing:
        sec.text.append(f"Sections {UNAVAILABLE}: " + "; ".join(missing) + ".")
    thin = [s.title for s in secs if s.status == "insufficient"]
    if thin:
        sec.text.append("Sections without enough data for this council: " + "; ".join(thin) + ".")
    numbers = {
        "children_in_care_end": safe_count(n_end),
        "children_in_care_start": safe_count(n_start),
        "children_assessed": safe_count(ass["children"]),
        "assessments": safe_count(ass["assessments"]),
        "mean_total_need_latest": _round(mean_need),
        "weekly_spend_end": _round(end["weekly_spend"], 0)
        if end["with_placement"] >= MIN_N
        else None,
        "weekly_cost_per_child_end": _round(end["weekly_spend"] / end["with_placement"], 0)
        if end["with_placement"] >= MIN_N
        else None,
    }
    for s in secs:
        numbers.update({k: v for k, v in s.headline.items() if not k.startswith("_")})
    sec.headline = numbers
    sec.tables.append(_headline_table(numbers, fw))
    ctx.headline.update(numbers)
    return sec


def _need_comparison(ctx: ReportContext) -> str:
    if ctx.comparison == "previous_period":
        prev = _latest_need(ctx, *ctx.previous_period)
        if len(prev) >= MIN_N:
            return f", against {prev[Col.score].mean():.1f} in the previous period"
    elif ctx.comparison == "all_councils":
        allv = ctx.all.latest_need(ctx.period_start, ctx.period_end)
        if allv["children"] >= MIN_N:
            return f", against {allv['mean']:.1f} across all councils in the data"
    return ""


HEADLINE_LABELS: dict[str, str] = {
    "children_in_care_end": "Children in care at period end",
    "children_in_care_start": "Children in care at period start",
    "entered_care": "Children who entered care in the period",
    "left_care": "Children who left care in the period",
    "children_assessed": "Children assessed in the period",
    "assessments": "Assessments in the period",
    "mean_total_need_latest": "Average total need at latest assessment (0-100)",
    "weekly_spend_end": "Weekly placement spend at period end",
    "weekly_cost_per_child_end": "Average weekly cost per child at period end",
    "total_need_peak_ages": "Peak ages of total need (years)",
    "share_3plus_high_need_domains": "Children with high need in 3+ domains",
    "mean_total_need_change": "Average change in total need, first to latest assessment",
    "share_reliably_improved": "Children whose total need reliably improved",
    "share_reliably_deteriorated": "Children whose total need reliably deteriorated",
    "cost_need_spearman_total": "Correlation of weekly cost with total need",
    "needs_matched_annual_saving": "Needs-matched scenario: saving a year",
    "need_change_per_spend_doubling": "Change in total need per 6 months per doubling of spend",
    "icc_total_need": "Assessor agreement on total need (ICC)",
}


MONEY_KEYS = ("weekly_spend_end", "weekly_cost_per_child_end", "needs_matched_annual_saving")
TWO_DECIMAL_KEYS = ("cost_need_spearman_total", "need_change_per_spend_doubling", "icc_total_need")


def _headline_table(numbers: dict, fw: Framework) -> Table:
    rows = []
    for k, v in numbers.items():
        if k not in HEADLINE_LABELS or v is None or k.endswith("_intervals"):
            continue
        if isinstance(v, list):
            text = ", ".join(f"{x:.1f}" for x in v) if v else "no clear peak"
        elif isinstance(v, str):
            text = v
        elif isinstance(v, int):
            text = f"{v:,}"
        elif k in MONEY_KEYS:
            text = money(v)
        elif k in TWO_DECIMAL_KEYS:
            text = f"{v:+.2f}" if k.startswith("need_change") else f"{v:.2f}"
        else:
            text = f"{v:,.1f}"
        rows.append({"Measure": HEADLINE_LABELS[k], "Value": text})
    return Table(
        "Headline numbers",
        pd.DataFrame(rows, columns=["Measure", "Value"]),
        {"Measure": "label", "Value": "value"},
    )


def headline(ctx: ReportContext) -> dict:
    """Headline numbers of the report, for the JSON sidecar (no identifiers, counts 1-5 as c)."""
    if not ctx.headline:
        executive_summary(ctx)
    return {
        "council": ctx.council,
        "period_start": str(ctx.period_start.date()),
        "period_end": str(ctx.period_end.date()),
        "comparison": ctx.comparison,
        "numbers": dict(ctx.headline),
        "data_fingerprint": provenance(ctx).dataset_fingerprint,
        "framework": f"{ctx.framework.id} {ctx.framework.version}",
    }


def key_figures(ctx: ReportContext) -> str:
    """Stable plain-text figures (population and assessments), checked by nbval."""
    end, start = _snap(ctx, "end"), _snap(ctx, "start")
    ass = _assessed(ctx)
    return "\n".join(
        [
            f"council: {ctx.council}",
            f"period: {ctx.period_start.date()} to {ctx.period_end.date()}",
            f"children in care at start: {count_text(start['in_care'])}",
            f"children in care at end: {count_text(end['in_care'])}",
            f"children assessed: {count_text(ass['children'])}",
            f"assessments: {count_text(ass['assessments'])}",
            f"mean total need at latest assessment: {ass['mean_latest']:.1f}",
        ]
    )


# --------------------------------------------------------------------------
# Display (used in notebooks)
# --------------------------------------------------------------------------


def show(sec: Section, *, dpi: int = 90, level: int = 2) -> None:
    """Display a section in a notebook: Markdown text, HTML tables, PNG figures with alt text."""
    from IPython.display import HTML, Markdown, display

    display(Markdown(sec.markdown(level)))
    for t in sec.tables:
        display(HTML(t.to_html()))
    for f in sec.figures:
        import base64

        data = base64.b64encode(f.png(dpi)).decode("ascii")
        display(
            {"image/png": data, "text/plain": f.alt},
            raw=True,
            metadata={"image/png": {"alt": f.alt}},
        )
        if f.caption:
            display(Markdown(f"*{f.caption}*"))
    if sec.notes:
        display(Markdown("\n".join(f"- *{n}*" for n in sec.notes)))
    sec.close()


def emit_headline(ctx: ReportContext) -> None:
    """Output the headline numbers as JSON for ``render`` to save beside the report."""
    from IPython.display import display

    data = json.loads(json.dumps(headline(ctx), default=str))
    display({HEADLINE_MIME: data, "text/plain": "headline numbers recorded"}, raw=True)


__all__ = [
    "COMPARISONS",
    "HEADLINE_MIME",
    "UNAVAILABLE",
    "FigureOut",
    "ReportContext",
    "ReportInputError",
    "Section",
    "Table",
    "all_sections",
    "assessor_agreement",
    "build_context",
    "cost_need",
    "count_table",
    "data_quality",
    "emit_headline",
    "executive_summary",
    "fit_trajectories",
    "headline",
    "key_figures",
    "methods",
    "need_change",
    "needs_profile",
    "outcome_domains",
    "population",
    "programme_impact",
    "section",
    "show",
    "stat_table",
    "title",
    "trajectories",
    "unavailable",
]
