"""The Valuing Care view: growth curves per need domain, total need and outcome area.

:func:`need_frame` turns a :class:`~vc_eval.core.dataset.Dataset` into the long
table :func:`~vc_eval.analysis.trajectories.fit_growth` needs for one domain, for
total need (mean of the need domains at each assessment) or for an outcome
area (mean of its need domains at each assessment), with the child's
council, sex and ethnicity joined for covariates and comparisons.
:func:`fit_domains` fits them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vc_eval.analysis.trajectories.engines import DEFAULT_METHODS
from vc_eval.analysis.trajectories.growth import (
    MIN_GROUPS,
    GrowthDesign,
    GrowthFit,
    PeakSummary,
    fit_growth,
    peak_text,
)
from vc_eval.analysis.trajectories.peaks import DEFAULT_RULE, MIN_PEAK_SHARE, PEAK_COLUMNS, PeakRule
from vc_eval.core import display, privacy
from vc_eval.core.dataset import Dataset, total_need
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.progress import tqdm
from vc_eval.core.schema import Col
from vc_eval.core.summary import Result, Summary, Table

#: Reference age for the random intercept in the domain view: mid-childhood,
#: the same for every domain and council so variance components compare.
REFERENCE_AGE = 9.0
#: Spline knot spacing (years of age) by number of children: finer curves
#: where there are enough children to support them.
KNOT_SPACING_BY_CHILDREN: tuple[tuple[int, float], ...] = ((1000, 1.0), (300, 1.5), (0, 2.0))
#: Child columns joined onto the scores (usable as covariates or ``by``).
CHILD_COLUMNS: tuple[str, ...] = (Col.council, Col.sex, Col.ethnicity)

KIND_DOMAIN, KIND_TOTAL, KIND_AREA = "domain", "total", "area"


def default_age_knots(ages: np.ndarray, n_children: int) -> list[float]:
    """Evenly spaced interior spline knots at whole or half years of age.

    Spacing follows :data:`KNOT_SPACING_BY_CHILDREN` (1 year with 1,000+
    children, 1.5 with 300+, else 2); knots closer than a quarter of the
    spacing to either end of the observed ages are dropped.
    """
    spacing = next(s for n, s in KNOT_SPACING_BY_CHILDREN if n_children >= n)
    lo, hi = float(np.min(ages)), float(np.max(ages))
    knots = np.arange(np.ceil(lo / spacing) * spacing, hi, spacing)
    margin = spacing / 4
    return [float(k) for k in knots if lo + margin < k < hi - margin]


def parse_knots(text: str | None) -> list[float] | None:
    """Interior knots written as text, e.g. ``"7,11,14"`` (empty: None, the default knots).

    Raises
    ------
    ValueError
        If a knot is not a number, with the text given.
    """
    if not text or not text.strip():
        return None
    try:
        return [float(k) for k in text.split(",") if k.strip()]
    except ValueError as err:
        raise ValueError(f"knots must be numbers separated by commas: {text!r}") from err


def model_knots(
    frame: pd.DataFrame,
    *,
    basis: str,
    knots: Sequence[float] | None,
    df: int | None,
    time: str = Col.age_at_assessment,
    group: str = Col.child_id,
) -> Sequence[float] | None:
    """The interior knots a need model uses: ``knots`` as given, or for a
    spline with neither knots nor ``df`` the :func:`default_age_knots` of
    ``frame``'s ages and children."""
    if basis == "spline" and knots is None and df is None:
        return default_age_knots(frame[time].to_numpy(dtype=float), int(frame[group].nunique()))
    return knots


#: Columns of a :func:`need_frame` as :func:`fit_growth` names them.
NEED_COLUMNS: dict[str, str] = {
    "outcome": Col.score,
    "time": Col.age_at_assessment,
    "group": Col.child_id,
}

#: Model changes :func:`peak_sensitivity` tries by default (each against the main model).
SENSITIVITY_VARIANTS: dict[str, dict] = {
    "main model": {},
    "spline, 4 df": {"basis": "spline", "knots": None, "df": 4},
    "spline, 12 df": {"basis": "spline", "knots": None, "df": 12},
    "hinges at 7, 11, 14": {"basis": "hinge", "knots": [7.0, 11.0, 14.0], "df": None},
    "random intercept only": {"random": "intercept"},
}


def peak_sensitivity(
    frame: pd.DataFrame,
    model: dict,
    variants: dict[str, dict] | None = None,
    *,
    n: int = 1000,
    seed: int = 1,
) -> pd.DataFrame:
    """Peak ages of one need frame under other growth models.

    Parameters
    ----------
    frame : DataFrame
        A :func:`need_frame`.
    model : dict
        The main model's :func:`fit_growth` options (basis, knots, df,
        random, engine).
    variants : dict, optional
        Name -> options changed from ``model``; default
        :data:`SENSITIVITY_VARIANTS`.
    n, seed
        Curves drawn per peak interval, and their seed.

    Returns
    -------
    DataFrame
        One row per peak per model: ``model`` then the columns of
        :meth:`PeakSummary.to_frame`.
    """
    rows = []
    for name, change in (variants or SENSITIVITY_VARIANTS).items():
        fit = fit_growth(frame, **NEED_COLUMNS, label=name, **{**model, **change})
        p = fit.peaks(n=n, seed=seed).to_frame()
        p.insert(0, "model", name)
        rows.append(p)
    return pd.concat(rows, ignore_index=True)


def need_frame(dataset: Dataset, name: str) -> pd.DataFrame:
    """Long scores of one domain, of total need, or of an outcome area.

    Returns columns ``child_id``, ``assessment_date``, ``assessor_id``,
    ``age_at_assessment``, ``score``, ``domain`` (= ``name``) and the child
    columns in :data:`CHILD_COLUMNS`.

    Raises
    ------
    KeyError
        If ``name`` is not a domain, ``total_need`` or an outcome area of the
        dataset's framework.
    """
    fw = dataset.framework
    a = dataset.assessments
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id, Col.age_at_assessment]
    if name == TOTAL_NEED:
        out = total_need(a, fw)
    elif name in fw.outcome_areas:
        doms = [d for d in fw.domains_in_area(name) if d in fw.need_domains]
        sub = a[a[Col.domain].isin(doms)]
        out = sub.groupby(keys, as_index=False, observed=True)[Col.score].mean()
        out[Col.domain] = name
    elif name in fw.all_domain_ids:
        out = a[a[Col.domain] == name].copy()
    else:
        raise KeyError(
            f"{name!r} is not a domain, outcome area or {TOTAL_NEED!r} of framework {fw.id!r}"
        )
    kids = dataset.children[[Col.child_id, *CHILD_COLUMNS]]
    out = out.merge(kids, on=Col.child_id, how="left", validate="many_to_one")
    return out.reset_index(drop=True)


#: Universe of the children counts of growth models (children assessed up to the end).
MODELLED = "modelled"


@dataclass
class DomainFits(Result):
    """Growth fits per domain, for total need and per outcome area.

    Attributes
    ----------
    fits : dict of GrowthFit
        Keyed by domain id, ``total_need`` or outcome-area id, in fitting order.
    kinds : dict of str
        ``"domain"``, ``"total"`` or ``"area"`` for each key.
    labels : dict of str
        Readable names.
    skipped : dict of str
        Keys that could not be fitted, with the reason.
    council : str or None
        The council fitted, or None for all.
    """

    fits: dict[str, GrowthFit]
    kinds: dict[str, str]
    labels: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)
    council: str | None = None
    _peaks: dict = field(default_factory=dict, repr=False)

    _plot = "trajectories:plot_domain_fit"

    @property
    def caveats(self) -> list[str]:
        """Keys not fitted, fitting warnings, and what the curves describe."""
        out = [f"Not fitted: {self.labels.get(k, k)} ({why})." for k, why in self.skipped.items()]
        warned = sum(bool(f.warnings) for f in self.fits.values())
        if warned:
            out.append(
                f"{warned} of {display.plural(len(self.fits), 'model')} reported fitting "
                "warnings (for example a random-effect variance close to zero); their curves "
                "are shown but their intervals may be less reliable."
            )
        out.append(
            "The curves describe children in care, who are not a random sample of all "
            "children: children enter and leave care at different ages, so the shape mixes "
            "age with time in care."
        )
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per fit: sizes, variance components, convergence (no peaks)."""
        rows = [
            {"name": k, "label": self.labels[k], "kind": self.kinds[k], **f.stats().to_dict()}
            for k, f in self.fits.items()
        ]
        return pd.DataFrame(rows)

    def summary(
        self,
        *,
        n: int | None = None,
        seed: int = 0,
        min_share: float = MIN_PEAK_SHARE,
        **peak_options,
    ) -> Summary:
        """Peak ages of need by domain, in words (total need) and a table.

        ``n``, ``seed`` and ``peak_options`` go to :meth:`peak_summaries`
        (cached, so a report and an analyst asking the same get the same).
        """
        title = "Need trajectories by age"
        if not self.fits:
            why = "; ".join(f"{self.labels.get(k, k)}: {w}" for k, w in self.skipped.items())
            return Summary.insufficient(
                title,
                f"no growth model could be fitted ({why or 'nothing asked for'}).",
                key="trajectories",
            )
        peaks = self.peak_summaries(n=n, seed=seed, **peak_options)
        n_curves = next(iter(peaks.values())).n
        sm = Summary(title, key="trajectories", caveats=self.caveats)
        sm.say(
            "method",
            "Each line is the average need score by age, from a mixed-effects growth model "
            "(each child has their own level and rate of change; the average curve is a "
            "smooth spline in age). A peak age is an age at which average need is higher "
            "than just before and just after; its interval comes from "
            f"{n_curves:,} plausible curves drawn from the model's uncertainty, and a peak is "
            f"named only if at least {display.percent(min_share)} of those curves have it.",
        )
        if TOTAL_NEED in self.fits:
            text, kept = peak_text(peaks[TOTAL_NEED].peaks, min_share=min_share)
            sm.say(
                "total_peaks",
                f"Total need {text}.",
                word="peaks" if kept else "no clear peak",
            )
            sm.headline["total_need_peak_ages"] = [round(float(r.age), 1) for r in kept]
            sm.headline["total_need_peak_intervals"] = [
                [round(float(r.lower), 1), round(float(r.upper), 1)] for r in kept
            ]
        rows = []
        for k, fit in self.fits.items():
            text, kept = peak_text(peaks[k].peaks, min_share=min_share)
            rows.append(
                {
                    "Domain": self.labels[k],
                    "Children": fit.n_groups,
                    "Assessments": fit.n_obs,
                    "Peak ages (95% interval)": "; ".join(
                        f"{r.age:.1f} ({display.interval(r.lower, r.upper, decimals=1)})"
                        for r in kept
                    )
                    or "no clear peak",
                }
            )
        frame = pd.DataFrame(rows)
        lo, hi = privacy.THRESHOLD
        for c in ("Children", "Assessments"):
            frame[c] = [privacy.format_count(v, lo <= v <= hi) for v in frame[c]]
        sm.tables.append(
            Table(
                "Peak ages of need by domain",
                frame,
                {
                    "Domain": "label",
                    "Children": "count",
                    "Assessments": "count",
                    "Peak ages (95% interval)": "label",
                },
                universe=MODELLED,
            )
        )
        return sm

    def __getitem__(self, key: str) -> GrowthFit:
        return self.fits[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fits)

    def __len__(self) -> int:
        return len(self.fits)

    def peak_summaries(
        self,
        *,
        method: str = "draws",
        n: int | None = None,
        seed: int = 0,
        level: float = 0.95,
        min_prominence: float | None = None,
        rule: PeakRule = DEFAULT_RULE,
        progress: bool | None = None,
    ) -> dict[str, PeakSummary]:
        """:meth:`GrowthFit.peaks` for every fit (same seed for each), cached.

        ``rule`` decides which peaks are reported (default: the one rule used
        by reports and notebooks, :data:`~vc_eval.analysis.trajectories.peaks.DEFAULT_RULE`;
        ``ALL_PEAKS`` lists every interior maximum).
        """
        key = (method, n, seed, level, min_prominence, rule)
        if key not in self._peaks:
            self._peaks[key] = {
                name: fit.peaks(
                    method,
                    n=n,
                    seed=seed,
                    level=level,
                    min_prominence=min_prominence,
                    rule=rule,
                    progress=progress,
                )
                for name, fit in tqdm(
                    self.fits.items(),
                    desc="peaks",
                    leave=False,
                    disable=None if progress is None else not progress,
                )
            }
        return self._peaks[key]

    def peaks_table(self, **kwargs) -> pd.DataFrame:
        """Tidy table of peak ages: one row per peak per fit.

        Columns: ``name``, ``label``, ``kind``, then those of
        :func:`~vc_eval.analysis.trajectories.peaks.summarise_peaks`, ``method`` and
        ``n_curves``. Keyword arguments go to :meth:`peak_summaries`.
        """
        rows = []
        for name, ps in self.peak_summaries(**kwargs).items():
            t = ps.to_frame()
            t.insert(0, "kind", self.kinds[name])
            t.insert(0, "label", self.labels[name])
            t.insert(0, "name", name)
            rows.append(t)
        cols = ["name", "label", "kind", *PEAK_COLUMNS, "method", "n_curves"]
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)

    def steepest_table(self, **kwargs) -> pd.DataFrame:
        """Ages of steepest rise and fall per fit, with intervals."""
        rows = []
        for name, ps in self.peak_summaries(**kwargs).items():
            t = ps.steepest.copy()
            t.insert(0, "kind", self.kinds[name])
            t.insert(0, "label", self.labels[name])
            t.insert(0, "name", name)
            rows.append(t)
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    def table(self, **kwargs) -> pd.DataFrame:
        """One row per fit: sizes, variance components, ICC, convergence, peaks.

        ``peak_ages`` lists the fitted peak ages (with their share of
        plausible curves showing the peak). Skipped keys appear with the
        reason in ``note``.
        """
        peaks = self.peak_summaries(**kwargs)
        rows = []
        for name, fit in self.fits.items():
            s = fit.stats().to_dict()
            s.pop("label")
            p = peaks[name].peaks
            s["n_peaks"] = len(p)
            s["peak_ages"] = "; ".join(
                f"{r.age:.1f} ({r.lower:.1f}-{r.upper:.1f}, {r.share_with_peak:.0%})"
                for r in p.itertuples()
            )
            s["note"] = ""
            rows.append({"name": name, "label": self.labels[name], "kind": self.kinds[name], **s})
        for name, why in self.skipped.items():
            rows.append(
                {
                    "name": name,
                    "label": self.labels.get(name, name),
                    "kind": self.kinds.get(name, ""),
                    "note": why,
                }
            )
        return pd.DataFrame(rows)


def fit_domains(
    dataset: Dataset,
    *,
    domains: Sequence[str] | None = None,
    include_total: bool = True,
    areas: bool | Sequence[str] = True,
    council: str | None = None,
    basis: str = "spline",
    knots: Sequence[float] | None = None,
    df: int | None = None,
    random: str = "slope",
    covariates: Sequence[str] = (),
    reml: bool = True,
    engine: str = "fast",
    age_centre: float = REFERENCE_AGE,
    age_scale: float | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    min_groups: int = MIN_GROUPS,
    progress: bool | None = None,
    workers: int | None = None,
) -> DomainFits:
    """Fit a growth curve of need by age for each domain, total need and outcome area.

    Parameters
    ----------
    dataset : Dataset
    domains : sequence of str, optional
        Domain ids (default: every domain of the framework with scores).
    include_total : bool
        Also fit total need (mean of the need domains per assessment).
    areas : bool or sequence of str
        Also fit every outcome area (True), none (False), or those named.
    council : str, optional
        Fit one council's children only.
    basis, knots, df, random, covariates, reml, engine, age_scale, methods, min_groups
        As for :func:`~vc_eval.analysis.trajectories.fit_growth`. With
        ``basis="spline"`` and neither ``knots`` nor ``df``, knots are
        placed by :func:`default_age_knots`.
    age_centre : float
        Age of the random intercept (default :data:`REFERENCE_AGE`).
    progress : bool, optional
        Progress bar over the fits (default: only on a terminal).
    workers : int, optional
        Threads fitting side by side (fast engine; default
        :func:`~vc_eval.analysis.lmm_fast.default_workers`: two for a
        national design, one for a council's). The estimates do not depend
        on it: every fit on a design starts from the first one's optimum.

    Returns
    -------
    DomainFits
        Keys that cannot be fitted (too few children, say) are listed in
        ``skipped`` with the reason rather than stopping the others.
    """
    ds = dataset.subset(council) if council is not None else dataset
    fw = ds.framework
    scored = set(ds.assessments[Col.domain].unique())
    if domains is None:
        names = [d for d in fw.domain_ids if d in scored]
    else:
        names = list(domains)
        unknown = [d for d in names if d not in fw.all_domain_ids]
        if unknown:
            raise KeyError(f"not domains of framework {fw.id!r}: {', '.join(unknown)}")
    kinds = dict.fromkeys(names, KIND_DOMAIN)
    if include_total:
        kinds[TOTAL_NEED] = KIND_TOTAL
    if areas:
        wanted = list(fw.outcome_areas) if areas is True else list(areas)
        unknown = [a for a in wanted if a not in fw.outcome_areas]
        if unknown:
            raise KeyError(f"not outcome areas of framework {fw.id!r}: {', '.join(unknown)}")
        for a in wanted:
            if any(d in scored and d in fw.need_domains for d in fw.domains_in_area(a)):
                kinds[a] = KIND_AREA
    labels = {k: fw.label(k) for k in kinds}
    # Every fit is on the same assessments (each scores all domains), so the
    # scores are laid out once as one column per fit over the assessments,
    # and fits with the same rows share one design: the basis, the design
    # matrices, the group codes and the engine's design-only statistics are
    # built once (see GrowthDesign), and each fit only adds its outcome.
    rows, ys = _score_columns(ds, list(kinds), covariates)
    # rows with a missing covariate are left out (and counted) as fit_growth does
    complete = rows.notna().all(axis=1).to_numpy()
    designs: dict[bytes, GrowthDesign | ValueError] = {}
    # first the design of each fit (shared by fits on the same rows)...
    results: dict[str, GrowthFit | Exception] = {}
    batches: dict[bytes, list[tuple[str, np.ndarray, int]]] = {}
    for name in kinds:
        y = ys[name]
        scored = ~np.isnan(y)
        if not scored.any():
            results[name] = ValueError(f"{labels[name]}: no scores")
            continue
        keep = scored & complete
        key = np.packbits(keep).tobytes()

        # built only for rows not seen yet (the rows copy is the costly part)
        def build(raise_error: bool = False, keep=keep, label=labels[name]):
            return _growth_design(
                rows.loc[keep].reset_index(drop=True),
                basis=basis,
                knots=knots,
                df=df,
                random=random,
                covariates=covariates,
                age_centre=age_centre,
                age_scale=age_scale,
                min_groups=min_groups,
                label=label,
                raise_error=raise_error,
            )

        if key not in designs:
            designs[key] = build()
        if isinstance(designs[key], ValueError):
            # the message names the first fit on these rows: rebuild for this one's
            try:
                build(raise_error=True)
                results[name] = designs[key]
            except ValueError as err:
                results[name] = err
            continue
        batches.setdefault(key, []).append((name, y[keep], int((scored & ~complete).sum())))
    # ...then each design's fits together (on threads for a national design;
    # the same numbers whatever the number of threads)
    bar = tqdm(total=len(kinds), desc="fitting", disable=None if progress is None else not progress)
    bar.update(len(results))
    for key, batch in batches.items():
        bar.set_postfix_str(batch[0][0])
        done = designs[key].fit_many(
            [y for _, y, _ in batch],
            [labels[name] for name, _, _ in batch],
            outcome=Col.score,
            reml=reml,
            engine=engine,
            methods=methods,
            n_dropped=[d for _, _, d in batch],
            workers=workers,
            stacklevel=2,
        )
        results.update({name: r for (name, _, _), r in zip(batch, done, strict=True)})
        bar.update(len(batch))
    bar.close()
    fits: dict[str, GrowthFit] = {}
    skipped: dict[str, str] = {}
    for name in kinds:
        r = results[name]
        if isinstance(r, Exception):
            skipped[name] = str(r)
        else:
            fits[name] = r
    return DomainFits(fits, {k: kinds[k] for k in kinds}, labels, skipped, council)


def _growth_design(
    frame: pd.DataFrame,
    *,
    basis: str,
    knots,
    df,
    random: str,
    covariates: Sequence[str],
    age_centre: float,
    age_scale: float | None,
    min_groups: int,
    label: str,
    raise_error: bool = False,
) -> GrowthDesign | ValueError:
    """The growth design of ``fit_domains`` on these rows, or the error building it."""
    kn = model_knots(frame, basis=basis, knots=knots, df=df)
    try:
        return GrowthDesign.build(
            frame,
            time=Col.age_at_assessment,
            group=Col.child_id,
            random=random,
            basis=basis,
            knots=kn,
            df=df,
            covariates=covariates,
            age_centre=age_centre,
            age_scale=age_scale,
            min_groups=min_groups,
            label=label,
        )
    except ValueError as err:
        if raise_error:
            raise
        return err


def _score_columns(
    dataset: Dataset, names: Sequence[str], covariates: Sequence[str] = ()
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The assessments once, and each name's score on them (NaN where not scored).

    Returns the rows (child, age and the covariate columns, one row per
    assessment: child, date, assessor and age) and for each name in
    ``names`` (a domain, total need or an outcome area, as
    :func:`need_frame`) an array of its score on those rows. A domain scored
    twice at one assessment (not allowed by the data model, but possible in
    frames built in memory) falls back to one row per score, as
    :func:`need_frame` gives.
    """
    fw = dataset.framework
    a = dataset.assessments
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id, Col.age_at_assessment]
    covariates = [c for c in dict.fromkeys(covariates) if c not in keys]
    if any(c not in dataset.children.columns for c in covariates):
        return _score_columns_long(dataset, names, covariates)
    # only the rows of the domains these names are made of
    needed: set[str] = set()
    for name in names:
        if name == TOTAL_NEED:
            needed.update(fw.need_domains)
        elif name in fw.outcome_areas:
            needed.update(d for d in fw.domains_in_area(name) if d in fw.need_domains)
        else:
            needed.add(name)
    in_needed = a[Col.domain].isin(needed).to_numpy()
    if not in_needed.all():
        a = a[in_needed]
    aid = _row_ids(a, keys)
    dom_codes, dom_labels = pd.factorize(a[Col.domain])
    n_a, n_d = int(aid.max()) + 1 if aid.size else 0, len(dom_labels)
    cell = aid.astype(np.int64) * n_d + dom_codes
    if aid.size and np.bincount(cell, minlength=n_a * n_d).max() > 1:
        return _score_columns_long(dataset, names, covariates)
    scores = np.full((n_a, n_d), np.nan)
    scores[aid, dom_codes] = a[Col.score].to_numpy(dtype=float)
    first = np.empty(n_a, dtype=np.int64)
    first[aid[::-1]] = np.arange(aid.size - 1, -1, -1)
    rows = a[[Col.child_id, Col.age_at_assessment]].iloc[first].reset_index(drop=True)
    if covariates:
        kids = dataset.children[[Col.child_id, *covariates]]
        rows = rows.merge(kids, on=Col.child_id, how="left", validate="many_to_one")
    col = {str(d): j for j, d in enumerate(dom_labels)}
    ys: dict[str, np.ndarray] = {}
    for name in names:
        if name == TOTAL_NEED or name in fw.outcome_areas:
            doms = (
                fw.need_domains
                if name == TOTAL_NEED
                else [d for d in fw.domains_in_area(name) if d in fw.need_domains]
            )
            cols = [col[d] for d in doms if d in col]
            if not cols:
                ys[name] = np.full(n_a, np.nan)
                continue
            sub = scores[:, cols]
            n = (~np.isnan(sub)).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                ys[name] = np.where(n > 0, np.nansum(sub, axis=1) / n, np.nan)
        elif name in col:
            ys[name] = scores[:, col[name]].copy()
        else:
            ys[name] = np.full(n_a, np.nan)
    return rows, ys


def _row_ids(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Integer id of each row's combination of ``keys`` (as ``groupby(keys).ngroup()``,
    numbered in order of first appearance), from each column's codes.

    The rows of one assessment are usually next to each other, so the keys
    are factorised over runs of equal adjacent rows (about one run per
    assessment, a twelfth of the rows) and the run ids spread back to the
    rows: the same ids as factorising every row, whatever the row order (a
    combination split over several runs gets one id all the same).
    """
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new_run = np.zeros(n, dtype=bool)
    new_run[0] = True
    for k in keys:
        new_run[1:] |= _differs_from_previous(frame[k])
    starts = np.flatnonzero(new_run)
    run = np.cumsum(new_run) - 1
    ids = np.zeros(starts.size, dtype=np.int64)
    for k in keys:
        codes, uniq = pd.factorize(frame[k].iloc[starts], use_na_sentinel=False)
        # re-number after each column so the combined code stays small
        ids = pd.factorize(ids * len(uniq) + codes)[0]
    return ids[run]


def _differs_from_previous(col: pd.Series) -> np.ndarray:
    """``col[i] != col[i - 1]`` for i >= 1 (missing values count as differing:
    that only splits a run, never joins two)."""
    if isinstance(col.dtype, pd.StringDtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(col.array)
        ne = pc.not_equal(arr.slice(1), arr.slice(0, len(arr) - 1))
        return pc.fill_null(ne, True).to_numpy(zero_copy_only=False)
    v = col.to_numpy()
    out = v[1:] != v[:-1]
    return np.asarray(out, dtype=bool) | pd.isna(v[1:]) | pd.isna(v[:-1])


def _score_columns_long(
    dataset: Dataset, names: Sequence[str], covariates: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """:func:`_score_columns` when a domain has two scores at one assessment:
    each name's :func:`need_frame` rows one after the other."""
    frames = [need_frame(dataset, name) for name in names]
    cols = [Col.child_id, Col.age_at_assessment, *covariates]
    rows = pd.concat([f[cols] for f in frames], ignore_index=True)
    ys, at = {}, 0
    for name, f in zip(names, frames, strict=True):
        y = np.full(len(rows), np.nan)
        y[at : at + len(f)] = f[Col.score].to_numpy(dtype=float)
        ys[name], at = y, at + len(f)
    return rows, ys
