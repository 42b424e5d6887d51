"""The report context: one council's data and the report's parameters, checked once.

:func:`build_context` loads the data (or a batch cache), checks every
parameter with a message naming it, and works out what the council's data
hold (needs scores, which domains, costs), so each section can say in one
line what data would fill it when they are absent. Analyses are cached on
the context, so sections sharing one (e.g. the needs profile and the
executive summary) compute it once.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED, Framework, load_framework
from vc_eval.core.options import COMPARISONS, ENGINES
from vc_eval.core.schema import Col

#: MIME type of the headline-numbers output read back by :mod:`vc_eval.reporting.render`.
HEADLINE_MIME = "application/vnd.vc-eval.headline+json"
#: The report notebook's parameters: exactly the keyword arguments of :func:`build_context`.
CONTEXT_PARAMETERS: tuple[str, ...] = (
    "council",
    "data_dir",
    "period_start",
    "period_end",
    "framework",
    "comparison",
    "domains",
    "engine",
    "seed",
    "figure_dpi",
    "cache_dir",
)

log = logging.getLogger("vc_eval.report")


class ReportInputError(ValueError):
    """The report's parameters or data cannot make a report (clear message)."""


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
    #: Cache entry where the finished page is kept (see ``sections.page``); None: not kept.
    page_store: Path | None = None
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
        """``fn()`` computed once per context; warnings go to the log, not the page.

        Warnings a reader needs are already in the results' ``caveats``; the
        rest (numerical noise, deprecations) are for the analyst's log.
        """
        if key not in self._cache:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self._cache[key] = fn()
            for w in caught:
                log.info("%s: %s: %s", key, w.category.__name__, w.message)
        return self._cache[key]

    @property
    def is_synthetic(self) -> bool:
        return self.all.metadata.get("source") == "synthetic"

    # -- what the data hold ----------------------------------------------------
    @property
    def scored_domains(self) -> list[str]:
        """Framework domains with at least one score for this council (framework order)."""

        def run():
            present = set(self.local.assessments[Col.domain].astype(str).unique())
            return [d for d in self.framework.domain_ids if d in present]

        return list(self.cached("scored_domains", run))

    @property
    def has_needs(self) -> bool:
        """Whether the council's data hold any needs scores."""
        return len(self.local.assessments) > 0

    @property
    def has_costs(self) -> bool:
        """Whether any placement has a weekly cost (recorded or estimated)."""
        return bool(self.local.placements[Col.weekly_cost].notna().any())

    @property
    def costs_recorded(self) -> bool:
        """Whether any weekly cost was recorded rather than estimated."""
        pl = self.local.placements
        if Col.cost_imputed not in pl:
            return self.has_costs
        return bool((pl[Col.weekly_cost].notna() & ~pl[Col.cost_imputed].astype(bool)).any())


def parse_date(value, name: str) -> pd.Timestamp | None:
    """A parameter date (``YYYY-MM-DD``), None when empty; a clear error otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as err:
        raise ReportInputError(f"{name}: {value!r} is not a date (use YYYY-MM-DD)") from err


def parse_domains(
    value: str | Sequence[str] | None, fw: Framework, scored: Sequence[str] | None = None
) -> list[str]:
    """The growth-model domains asked for: "all", "total", "none" or a comma list.

    With ``scored`` (the domains the data hold), "all" means those, and total
    need is dropped when nothing is scored.
    """
    pool = list(fw.domain_ids) if scored is None else [d for d in fw.domain_ids if d in scored]
    total = [TOTAL_NEED] if (scored is None or pool) else []
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return [*total, *pool]
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "none":
            return []
        if v == "total":
            return total
        value = [x.strip() for x in value.split(",") if x.strip()]
    unknown = [d for d in value if d != TOTAL_NEED and d not in fw.all_domain_ids]
    if unknown:
        raise ReportInputError(
            f"domains: unknown domain(s) {', '.join(unknown)}; the framework has "
            f"{', '.join(fw.domain_ids)} (or use all, total, none)"
        )
    return [d for d in dict.fromkeys(value) if d in pool or (d == TOTAL_NEED and total)]


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
        date in the data (assessments, placements or entries to care, so a
        dataset without needs scores has a period too).
    framework : str
        Framework file or shipped name; "" = the one recorded with the data.
    comparison : {"previous_period", "all_councils", "none"}
        What the period's figures are set against.
    domains : str
        Growth-model domains: "all", "total", "none" or a comma list; domains
        without scores in the data are left out.
    engine : {"fast", "statsmodels"}
        Growth-model engine.
    seed : int
        Seed for intervals by simulation (same seed, same numbers).
    figure_dpi : int
        Resolution of figures.
    cache_dir : str
        Cache made by :func:`vc_eval.reporting.cache.prepare_cache` (batches).
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
    end = parse_date(period_end, "period_end")
    if end is None:
        try:
            end = allc.snapshot_date()
        except ValueError as err:
            raise ReportInputError(
                "period_end: the data hold no dates to take the period from; pass "
                "period_end (YYYY-MM-DD)"
            ) from err
    start = parse_date(period_start, "period_start") or (
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
    present = set(local.assessments[Col.domain].astype(str).unique())
    return ReportContext(
        council=council,
        data_dir=data_dir,
        data=data,
        local=local,
        period_start=start,
        period_end=end,
        comparison=comparison,
        domains=parse_domains(domains, local.framework, scored=present),
        engine=engine,
        seed=int(seed),
        figure_dpi=int(figure_dpi),
        parameters=params,
        all=allc,
        page_store=allc.folder if isinstance(allc, CachedCouncils) else None,
    )


__all__ = [
    "COMPARISONS",
    "ENGINES",
    "HEADLINE_MIME",
    "ReportContext",
    "ReportInputError",
    "build_context",
    "parse_date",
    "parse_domains",
]
