"""Sections of the ``need_peaks`` notebook: peak ages of need for researchers.

Pooled or per-council growth models per domain, peak ages with intervals,
and how the peaks move with the spline (number of knots, hinges instead of
a spline) and with the random-effects structure (intercept only vs intercept
and slope). Each function returns a :class:`vc_eval.core.summary.Summary`, shown
in the notebook with :func:`vc_eval.reporting.sections.show`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval.analysis.trajectories.peaks import MIN_PEAK_SHARE
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED, Framework, load_framework
from vc_eval.core.privacy import MIN_N
from vc_eval.core.schema import ASSESSMENTS, Col
from vc_eval.core.summary import FigureOut, Finding, Summary, Table, stat_table
from vc_eval.reporting.context import (
    ENGINES,
    HEADLINE_MIME,
    ReportInputError,
    parse_domains,
)
from vc_eval.reporting.context import parse_date as _parse_date

#: Draws of the fixed effects behind each peak-age interval.
PEAK_DRAWS = 1000


def insufficient(key: str, title: str, reason: str) -> Summary:
    """A section that cannot be computed: says why, shows no numbers."""
    return Summary.insufficient(title, f"This section could not be produced: {reason}", key=key)


def _say(sec: Summary, text: str) -> None:
    sec.findings.append(Finding(f"{sec.key}.{len(sec.findings)}", text.replace("**", "")))


#: Spline variants of the sensitivity analysis: label -> fit_growth options.
SPLINE_VARIANTS: dict[str, dict] = {
    "Natural spline, 4 df": {"basis": "spline", "df": 4},
    "Natural spline, 6 df": {"basis": "spline", "df": 6},
    "Natural spline, knots every 1-2 years (main)": {"basis": "spline"},
    "Natural spline, 12 df": {"basis": "spline", "df": 12},
    "Hinges at ages 7, 11, 14": {"basis": "hinge", "knots": (7.0, 11.0, 14.0)},
}
#: Random-effects variants: label -> fit_growth ``random``.
RANDOM_VARIANTS: dict[str, str] = {
    "Random intercept and slope (main)": "slope",
    "Random intercept only": "intercept",
}
MAIN_SPLINE = "Natural spline, knots every 1-2 years (main)"


@dataclass
class PeaksContext:
    """Data and parameters of the need-peaks notebook, with fits cached."""

    data: Dataset
    data_dir: Path
    councils: list[str]
    by_council: bool
    domains: list[str]
    sensitivity_domains: list[str]
    until: pd.Timestamp
    engine: str
    n_draws: int
    seed: int
    parameters: dict
    headline: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def framework(self) -> Framework:
        return self.data.framework

    def cached(self, key: str, fn: Callable):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def fits(
        self, domains: list[str], *, data: Dataset | None = None, key: str = "pooled", **options
    ) -> dict[str, dict]:
        """Growth fits (see :func:`fit_trajectories`), cached by key."""
        return self.cached(
            key,
            lambda: fit_trajectories(
                data or self.data,
                domains,
                until=self.until,
                engine=self.engine,
                seed=self.seed,
                n_draws=self.n_draws,
                **options,
            ),
        )


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
        peaks = fits.peak_summaries(method="draws", n=n_draws, seed=seed, progress=False)
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


def build_peaks_context(
    *,
    data_dir: str | Path = "data/synthetic",
    councils: str = "",
    by_council: bool = True,
    domains: str = "all",
    sensitivity_domains: str = "total",
    period_end: str = "",
    framework: str = "",
    engine: str = "fast",
    n_draws: int = 1000,
    seed: int = 1,
    data: Dataset | None = None,
) -> PeaksContext:
    """Load the data and check the parameters of the need-peaks notebook.

    Raises
    ------
    ReportInputError
        On a parameter that cannot be used.
    """
    if engine not in ENGINES:
        raise ReportInputError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if int(n_draws) < 100:
        raise ReportInputError("n_draws: use at least 100 draws for a 95% interval")
    data_dir = Path(data_dir)
    if data is None:
        data = Dataset.load(data_dir, framework=load_framework(framework) if framework else None)
    names = data.council_names()
    wanted = [c.strip() for c in councils.split(",") if c.strip()] if councils else names
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ReportInputError(
            f"councils: not in the data: {', '.join(missing)}; councils are {', '.join(names)}"
        )
    ds = data.subset(wanted) if wanted != names else data
    until = _parse_date(period_end, "period_end") or ds.assessments[Col.assessment_date].max()
    params = {
        "data_dir": str(data_dir),
        "councils": ", ".join(wanted),
        "by_council": bool(by_council),
        "domains": domains,
        "sensitivity_domains": sensitivity_domains,
        "period_end": str(until.date()),
        "framework": f"{ds.framework.id} {ds.framework.version}",
        "engine": engine,
        "n_draws": int(n_draws),
        "seed": int(seed),
    }
    return PeaksContext(
        data=ds,
        data_dir=data_dir,
        councils=wanted,
        by_council=bool(by_council),
        domains=parse_domains(domains, ds.framework),
        sensitivity_domains=parse_domains(sensitivity_domains, ds.framework),
        until=until,
        engine=engine,
        n_draws=int(n_draws),
        seed=int(seed),
        parameters=params,
    )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _peaks_text(rows: list[dict]) -> str:
    if not rows:
        return "no clear peak"
    return "; ".join(
        f"{r['age']:.2f} ({r['lower']:.2f}-{r['upper']:.2f}, {r['share']:.0%})" for r in rows
    )


def _steepest(res: dict) -> tuple[str, str]:
    st = res["peaks"].steepest.set_index("direction")
    out = []
    for d in ("rise", "fall"):
        r = st.loc[d]
        out.append(f"{r['age']:.1f} ({r['lower']:.1f}-{r['upper']:.1f})")
    return out[0], out[1]


def _peak_table(
    fits: dict[str, dict],
    fw: Framework,
    label_name: str,
    *,
    caption: str,
    labels: dict[str, str] | None = None,
) -> tuple[Table, list[str]]:
    rows, failed = [], []
    for key, r in fits.items():
        label = (labels or {}).get(
            key, fw.label(key) if key in fw.domain_ids or key == TOTAL_NEED else key
        )
        if "error" in r:
            failed.append(f"{label}: {r['error']}")
            continue
        rise, fall = _steepest(r)
        rows.append(
            {
                label_name: label,
                "Children": r["n_children"],
                "Assessments": r["n_obs"],
                "Peak ages (95% interval, share of curves)": _peaks_text(_peak_rows(label, r)),
                "Steepest rise": rise,
                "Steepest fall": fall,
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return None, failed
    return stat_table(
        frame,
        caption=caption,
        n_col="Children",
        stat_cols=[],
        label_cols=[c for c in frame.columns if c not in ("Children", "Assessments")],
        count_cols=["Assessments"],
    ), failed


def _all_peak_rows(fits: dict[str, dict], fw: Framework, group: str | None = None) -> list[dict]:
    out = []
    for key, r in fits.items():
        if "peaks" not in r:
            continue
        label = fw.label(key) if key in fw.domain_ids or key == TOTAL_NEED else key
        for row in _peak_rows(label, r):
            if group is not None:
                row["group"] = group
            out.append(row)
    return out


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def title(p: PeaksContext) -> Summary:
    kids = p.data.children
    a = p.data.assessments[p.data.assessments[Col.assessment_date] <= p.until]
    n_sets = len(a.drop_duplicates([Col.child_id, Col.assessment_date, Col.assessor_id]))
    text = [
        f"**Data:** {len(p.councils)} council(s) ({', '.join(p.councils)}), "
        f"{len(kids):,} children, {n_sets:,} assessments up to {p.until:%-d %B %Y}. "
        f"**Framework:** {p.framework.name} (version {p.framework.version}).",
    ]
    if p.data.metadata.get("source") == "synthetic":
        text.append("> **Synthetic data**: fictional councils and children.")
    sec = Summary("Need trajectories and peak ages", key="title")
    for t in text:
        _say(sec, t.lstrip("> "))
    return sec


def pooled_peaks(p: PeaksContext) -> Summary:
    """Peak ages per domain from models fitted to all selected councils together."""
    sec = Summary(
        key="pooled",
        title="Peak ages by domain" + (" (councils pooled)" if len(p.councils) > 1 else ""),
    )
    fits = p.fits(p.domains)
    table, failed = _peak_table(
        fits, p.framework, "Domain", caption="Peak ages of need by domain (years)"
    )
    if table is None:
        return insufficient(sec.key, sec.title, "; ".join(failed))
    _say(
        sec,
        "Linear mixed models by REML, one per domain: a natural cubic spline in age (knots "
        "every year of age with 1,000+ children, 1.5 years with 300+, else 2) "
        "for the average curve, and a random intercept and slope in age per child. Peak ages "
        f"are interior local maxima of the fitted curve; intervals are 2.5-97.5 percentiles "
        f"of the matching peak over {p.n_draws:,} curves drawn from the fixed effects' "
        "sampling distribution, and the share is how many of those curves have that peak "
        f"at all (peaks in fewer than {MIN_PEAK_SHARE:.0%} are not listed). Steepest rise "
        "and fall are the ages of largest and smallest slope of the curve.",
    )
    sec.tables.append(table)
    from vc_eval.plots.report import plot_curves_grid, plot_peak_intervals

    curves = {p.framework.label(k): r["curve"] for k, r in fits.items() if "curve" in r}
    observed = {p.framework.label(k): r["observed"] for k, r in fits.items() if "curve" in r}
    marks = {
        p.framework.label(k): [x["age"] for x in _peak_rows("", r)]
        for k, r in fits.items()
        if "curve" in r
    }
    sec.figures.append(
        FigureOut(
            plot_curves_grid(curves, observed, peaks=marks),
            "Small multiples, one per domain: fitted average need by age with 95% band, observed "
            "means at each year of age with at least 6 children, dashed lines at peak ages.",
            "Fitted need by age and observed means.",
        )
    )
    rows = _all_peak_rows(fits, p.framework)
    if rows:
        ax = plot_peak_intervals(pd.DataFrame(rows))
        sec.figures.append(
            FigureOut(
                ax.figure,
                "Peak ages of need per domain with 95% intervals, as points with horizontal bars.",
                "Peak ages with 95% intervals.",
            )
        )
    return _finish(sec, p, fits, failed, "peaks")


def _finish(sec: Summary, p: PeaksContext, fits: dict, failed: list, key: str) -> Summary:
    """Note what could not be fitted and record the peak ages as headline numbers."""
    if failed:
        sec.caveats.append("Not fitted: " + "; ".join(failed))
    sec.headline = {
        key: {
            k: [round(x["age"], 2) for x in _peak_rows("", r)]
            for k, r in fits.items()
            if "peaks" in r
        }
    }
    p.headline.update(sec.headline)
    return sec


def council_peaks(p: PeaksContext) -> Summary:
    """Total need fitted separately per council."""
    sec = Summary("Peak ages of total need by council", key="councils")
    if not p.by_council or len(p.councils) < 2:
        sec.status = "insufficient"
        _say(sec, "Not requested (by_council is false) or only one council selected.")
        return sec
    fits = {}
    for c in p.councils:
        res = p.fits([TOTAL_NEED], data=p.data.subset(c), key=f"council_{c}")
        fits[c] = res[TOTAL_NEED]
    table, failed = _peak_table(
        fits, p.framework, "Council", caption="Peak ages of total need by council (years)"
    )
    if table is None:
        return insufficient(sec.key, sec.title, "; ".join(failed))
    _say(
        sec,
        "The same model as above, fitted to total need in each council "
        "separately. Overlapping intervals mean the data cannot tell the councils' "
        "peak ages apart.",
    )
    sec.tables.append(table)
    rows = []
    for c, r in fits.items():
        rows += [dict(x, label=c, group=c) for x in _peak_rows(c, r)] if "peaks" in r else []
    if rows:
        from vc_eval.plots.report import plot_peak_intervals

        ax = plot_peak_intervals(pd.DataFrame(rows).drop(columns="group"))
        ax.set_title("Peak ages of total need by council")
        sec.figures.append(
            FigureOut(
                ax.figure,
                "Peak ages of total need per council with 95% intervals.",
                "Peak ages of total need by council.",
            )
        )
    return _finish(sec, p, fits, failed, "council_total_need_peaks")


def _variant_section(
    p: PeaksContext, key: str, title_: str, variants: dict[str, dict], intro: str
) -> Summary:
    sec = Summary(title_, key=key)
    if not p.sensitivity_domains:
        return insufficient(key, title_, "no sensitivity domains were asked for.")
    _say(sec, intro)
    rows, curves = [], {}
    for d in p.sensitivity_domains:
        dl = p.framework.label(d)
        for label, opts in variants.items():
            if "(main)" in label and d in p.domains:
                r = p.fits(p.domains)[d]  # the main model, already fitted
            else:
                r = p.fits([d], key=f"{key}_{d}_{label}", **opts)[d]
            if "error" in r:
                rows.append(
                    {
                        "Domain": dl,
                        "Model": label,
                        "Children": np.nan,
                        "Peak ages (95% interval, share of curves)": "not fitted: " + r["error"],
                        "REML log-likelihood": np.nan,
                    }
                )
                continue
            rows.append(
                {
                    "Domain": dl,
                    "Model": label,
                    "Children": r["n_children"],
                    "Peak ages (95% interval, share of curves)": _peaks_text(_peak_rows(dl, r)),
                    "REML log-likelihood": r["fit"].llf,
                }
            )
            curves.setdefault(dl, {})[label] = r["curve"]
    frame = pd.DataFrame(rows)
    sec.tables.append(
        stat_table(
            frame,
            caption=f"{title_}: peak ages under each model",
            n_col="Children",
            stat_cols=["REML log-likelihood"],
            label_cols=["Domain", "Model", "Peak ages (95% interval, share of curves)"],
        )
    )
    from vc_eval.plots.report import new_figure

    n = len(curves)
    fig, axes = new_figure(1, n, figsize=(5 * n, 3.4), squeeze=False)
    for ax, (dl, cs) in zip(axes.flat, curves.items(), strict=False):
        for label, c in cs.items():
            ax.plot(c["age"], c["estimate"], label=label, lw=1.4)
        ax.set(title=dl, xlabel="Age (years)", ylabel="Fitted need (0-100)")
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    sec.figures.append(
        FigureOut(
            fig,
            f"Fitted average curves of need by age under each model "
            f"of the {title_.lower()}, overlaid.",
            "Fitted curves by model.",
        )
    )
    return sec


def spline_sensitivity(p: PeaksContext) -> Summary:
    """Peak ages under other shapes of the average curve."""
    return _variant_section(
        p,
        "spline",
        "Sensitivity to the spline",
        {k: {**v, "random": "slope"} for k, v in SPLINE_VARIANTS.items()},
        "The average curve refitted with fewer and more spline degrees of freedom, and as "
        "straight lines joined at ages 7, 11 and 14 (hinges; a hinge model can only put a "
        "peak at a knot). Peaks that appear under every spline are robust to this choice. "
        "REML log-likelihoods are not comparable between different fixed-effects shapes.",
    )


def random_effects_sensitivity(p: PeaksContext) -> Summary:
    """Peak ages with a random intercept only instead of intercept and slope."""
    return _variant_section(
        p,
        "random",
        "Sensitivity to the random effects",
        {k: {"random": v, "basis": "spline"} for k, v in RANDOM_VARIANTS.items()},
        "The main model refitted with a random intercept only (children differ in level but "
        "not in rate of change). Same fixed effects, so the REML log-likelihoods are "
        "comparable: a much higher value for intercept and slope means children's rates of "
        "change really differ; the peak ages should barely move, since they describe the "
        "average curve.",
    )


def model_details(p: PeaksContext) -> Summary:
    """Variance components, convergence and warnings of the main models."""
    sec = Summary("Model details", key="details")
    fits = p.fits(p.domains)
    rows, warns = [], []
    for d, r in fits.items():
        if "fit" not in r:
            continue
        f = r["fit"]
        vc = f.variance_components
        rows.append(
            {
                "Domain": p.framework.label(d),
                "Children": f.n_groups,
                "SD intercept": vc["sd_intercept"],
                "SD slope (per year)": vc["sd_slope"],
                "Correlation": vc["corr"],
                "SD residual": vc["sd_residual"],
                "ICC": vc["icc"],
                "Converged": "yes" if f.converged else "NO",
                "Optimiser": f.method,
            }
        )
        warns += [f"{p.framework.label(d)}: {w}" for w in r["warnings"]]
    if not rows:
        return insufficient(sec.key, sec.title, "no model was fitted.")
    frame = pd.DataFrame(rows)
    stats = ["SD intercept", "SD slope (per year)", "Correlation", "SD residual", "ICC"]
    sec.tables.append(
        stat_table(
            frame,
            caption="Variance components of the main models",
            n_col="Children",
            stat_cols=stats,
            decimals=3,
            label_cols=["Domain", "Converged", "Optimiser"],
        )
    )
    _say(
        sec,
        "Random intercepts are at the mean age of the data; the slope SD is per "
        "year of age. ICC: share of variance at the mean age that lies between "
        "children.",
    )
    sec.caveats += warns
    return sec


def methods(p: PeaksContext) -> Summary:
    from vc_eval.core.provenance import collect

    sec = Summary("Methods and provenance", key="methods")
    _say(
        sec,
        "Fitted with vc-eval's growth-model engine "
        f"({p.engine}; the fast engine agrees with statsmodels MixedLM to 1e-6 on the fixed "
        "effects). Rows with missing values are dropped; every model with warnings lists "
        f"them above. Figures show only aggregates (observed means for years of age with at "
        f"least {MIN_N} children); no identifier appears here.",
    )
    prov = p.cached(
        "provenance", lambda: collect(p.parameters, data_dir=p.data_dir, dataset=p.data)
    )
    frame = prov.to_frame()
    frame.columns = ["Group", "Item", "Value"]
    sec.tables.append(
        Table("Provenance", frame, {"Group": "label", "Item": "label", "Value": "label"})
    )
    return sec


def headline(p: PeaksContext) -> dict:
    if "peaks" not in p.headline:
        pooled_peaks(p)
    return {"councils": p.councils, "period_end": str(p.until.date()), "numbers": dict(p.headline)}


def emit_headline(p: PeaksContext) -> None:
    from IPython.display import display

    data = json.loads(json.dumps(headline(p), default=str))
    display({HEADLINE_MIME: data, "text/plain": "headline numbers recorded"}, raw=True)


def key_figures(p: PeaksContext) -> str:
    """Stable text about the data the models use (checked by nbval).

    Peak ages are left out on purpose: they move whenever the growth-model
    code is refined, while this check is about the notebook running on the
    same data.
    """
    a = p.data.assessments[p.data.assessments[Col.assessment_date] <= p.until]
    sets = a.drop_duplicates([Col.child_id, Col.assessment_date, Col.assessor_id])
    return "\n".join(
        [
            f"councils: {', '.join(p.councils)}",
            f"assessments up to: {p.until.date()}",
            f"children assessed: {sets[Col.child_id].nunique():,}",
            f"assessments: {len(sets):,}",
            f"domains in the main table: {len(p.domains)}",
        ]
    )


__all__ = [
    "PeaksContext",
    "build_peaks_context",
    "council_peaks",
    "emit_headline",
    "headline",
    "key_figures",
    "methods",
    "model_details",
    "pooled_peaks",
    "random_effects_sensitivity",
    "spline_sensitivity",
    "title",
]
