"""Synthetic care populations with known truth.

Generates councils of fictional names with children in care, their need
scores at every looked-after review, placements with weekly costs, yearly
outcomes and a programme (needs-led practice) adopted by some councils at
known dates with known effects. Every generating parameter is written to
``truth.json`` so analyses can be checked by recovery.

The model, in brief (all parameters in :class:`SynthConfig` and the truth):

* Entries to care arrive at a steady rate over the 18 years before the
  observation window, with age at entry and time in care calibrated to the
  DfE figures in ``shared/DOMAIN.md``; children leave care at 18 at the latest.
* Reviews: 20 working days after entry, 3 months later, then 6-monthly.
  Scores exist only for reviews inside the observation window.
* Score of child i in domain d at age a::

      mu_d(a) + b0_id + b1_id * (a - 9) + assessor_j + e,   clipped to 0-100

  ``mu_d`` is a baseline, a linear trend, and Gaussian bumps (peaks near 7
  and 11) or a logistic rise (independence domains). Child intercepts share
  a general need factor across domains (loading ``general_share``).
* Placements: natural moves as a Poisson process whose rate rises with
  general need; each placement's type depends on age and need; weekly cost
  is a lognormal around the type's median, inflating over time, with a
  weak need link.
* Programme (adopting councils, from their start date): new placements
  lean towards in-house fostering, children in children's homes or IFA
  placements whose needs allow it step down to in-house fostering, price
  growth slows, and need falls faster. ``truth["true_effects"]`` holds the
  effects measured against a counterfactual run with common random numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval.core.costs import DEFAULT_UNIT_COSTS, REFERENCE_DATE
from vc_eval.core.dataset import TRUTH_FILE, Dataset
from vc_eval.core.framework import Framework, load_framework
from vc_eval.core.schema import (
    ASSESSMENTS,
    COLUMNS,
    DAYS_PER_YEAR,
    ETHNICITIES,
    PLACEMENT_TYPES,
    Col,
)

AGE_CENTRE = 9.0
REVIEW_OFFSETS_DAYS = (28, 91)  # 20 working days, then 3 months
REVIEW_INTERVAL_DAYS = 182  # then at most 6 months apart

# Age bands used by DfE (lower edges, years).
AGE_BANDS = (0.0, 1.0, 5.0, 10.0, 16.0, 18.0)
AGE_BAND_LABELS = ("under 1", "1-4", "5-9", "10-15", "16+")
#: DfE 2024 starters by age at entry (DOMAIN.md).
ENTRY_AGE_MIX = (0.16, 0.15, 0.15, 0.26, 0.28)
#: Mean time in care (years) by band of age at entry; calibrated so the
#: snapshot age mix matches DfE's children looked after at 31 March.
MEAN_STAY_YEARS = (1.6, 1.6, 3.8, 5.5, 6.0)
#: Children looked after at 31 March 2022 by age (DOMAIN.md), for checks.
SNAPSHOT_AGE_MIX = (0.05, 0.14, 0.18, 0.39, 0.25)
#: Placement mix of children looked after (survey of 150 councils, 2024).
SNAPSHOT_PLACEMENT_MIX = {
    "in_house_foster": 0.279,
    "ifa_foster": 0.248,
    "kinship": 0.156,
    "childrens_home": 0.114,
    "supported_accommodation": 0.098,
    "placed_with_parents": 0.060,
    "other": 0.043,
    "secure": 0.001,
}
ETHNICITY_MIX = {
    "White": 0.73,
    "Mixed": 0.10,
    "Asian": 0.05,
    "Black": 0.07,
    "Other": 0.04,
    "Not recorded": 0.01,
}
MALE_SHARE = 0.57

#: Placement-type weights by age band at placement start (rows: AGE_BANDS),
#: columns in PLACEMENT_TYPES order; calibrated to the snapshot mix.
TYPE_WEIGHTS = np.array(
    [
        # inh   ifa   kin   ch    sa    pwp   sec   other
        [26.0, 17.0, 19.0, 0.0, 0.0, 11.5, 0.0, 15.0],  # under 1
        [26.0, 23.0, 22.5, 0.3, 0.0, 10.5, 0.0, 9.0],  # 1-4
        [28.0, 31.0, 19.0, 4.0, 0.0, 6.5, 0.0, 3.0],  # 5-9
        [25.0, 35.0, 11.0, 20.0, 0.0, 3.7, 0.2, 1.9],  # 10-15
        [12.0, 16.0, 4.0, 15.0, 80.0, 2.0, 0.2, 1.5],  # 16+
    ]
)
#: How strongly general need (z) tilts each type's weight: weight * exp(b*z).
TYPE_NEED_TILT = np.array([-0.2, 0.25, -0.35, 0.9, 0.1, -0.3, 1.0, 0.0])

FICTIONAL_PREFIXES = (
    "Kestrel",
    "Curlew",
    "Heron",
    "Plover",
    "Lapwing",
    "Bittern",
    "Merlin",
    "Linnet",
    "Siskin",
    "Wagtail",
    "Dunnock",
    "Fieldfare",
    "Redstart",
    "Stonechat",
    "Goldcrest",
    "Nuthatch",
    "Whimbrel",
    "Dipper",
    "Shrike",
    "Osprey",
    "Gannet",
    "Avocet",
    "Twite",
    "Ouzel",
    "Godwit",
    "Sanderling",
)
FICTIONAL_SUFFIXES = ("moor", "dene", "wold", "holt", "mere", "combe", "fell", "vale")


@dataclass(frozen=True)
class DomainTruth:
    """Population curve and variance components of one domain."""

    base: float
    trend: float = 0.0  # points per year, around AGE_CENTRE
    bump_heights: tuple[float, ...] = (0.0, 0.0)
    bump_ages: tuple[float, ...] = (7.0, 11.0)
    bump_sd: float = 1.3
    rise: float = 0.0  # logistic rise amplitude (independence domains)
    rise_age: float = 14.0
    rise_scale: float = 1.5
    sd_intercept: float = 11.0
    sd_slope: float = 1.2  # per year of age
    corr: float = -0.1


DEFAULT_DOMAINS: dict[str, DomainTruth] = {
    "attachment": DomainTruth(40, -0.6, (10, 8), sd_intercept=12.0, corr=-0.2),
    "friendships_safety": DomainTruth(36, 0.5, (5, 10), sd_intercept=11.0, corr=0.1),
    "emotional_health": DomainTruth(43, 0.1, (10, 10), sd_intercept=12.0, corr=-0.1),
    "behaviour": DomainTruth(42, -0.4, (12, 9), sd_intercept=12.0, sd_slope=1.4, corr=-0.2),
    "physical_health": DomainTruth(42, -1.6, (0, 0), sd_intercept=10.0, sd_slope=1.0, corr=0.0),
    "risk_taking": DomainTruth(34, 2.0, (0, 0), sd_intercept=9.0, sd_slope=1.3, corr=0.2),
    "education": DomainTruth(41, 0.0, (9, 11), sd_intercept=11.0, corr=-0.1),
    "communication": DomainTruth(40, -0.8, (10, 6), sd_intercept=11.0, sd_slope=1.0, corr=-0.1),
    "identity_culture": DomainTruth(37, 0.3, (8, 9), sd_intercept=10.0, corr=0.0),
    "self_worth": DomainTruth(39, 0.2, (9, 10), sd_intercept=11.0, corr=-0.1),
    "living_skills": DomainTruth(
        28,
        0.0,
        (0, 0),
        rise=26.0,
        rise_age=13.0,
        rise_scale=2.0,
        sd_intercept=8.0,
        sd_slope=1.0,
        corr=0.0,
    ),
    "adulthood": DomainTruth(
        24,
        0.0,
        (0, 0),
        rise=40.0,
        rise_age=14.0,
        rise_scale=1.5,
        sd_intercept=8.0,
        sd_slope=1.0,
        corr=0.1,
    ),
}


@dataclass(frozen=True)
class ProgrammeEffects:
    """Effects of needs-led practice in adopting councils, from the start date."""

    in_house_weight: float = 1.35  # multiplies the in-house weight of new placements
    ifa_weight: float = 0.85
    childrens_home_weight: float = 0.8
    step_down_rate_childrens_home: float = 0.5  # per year, if general need z < threshold
    step_down_rate_ifa: float = 0.25
    step_down_need_threshold_z: float = 0.5  # "needs allow it": below this z
    step_down_ifa_threshold_z: float = 0.0
    price_growth_after: float | None = 0.03  # yearly, replaces price_growth (None: unchanged)
    need_change_per_year: float = -2.0  # points per year of exposure, every need domain

    @classmethod
    def none(cls) -> ProgrammeEffects:
        """No effect at all (for null checks)."""
        return cls(1.0, 1.0, 1.0, 0.0, 0.0, 0.5, 0.0, None, 0.0)


#: Population curves of strength domains (0-100, higher is stronger): dips
#: where need peaks, independence growing through adolescence.
DEFAULT_STRENGTHS: dict[str, DomainTruth] = {
    "strength_relationships": DomainTruth(52, 0.2, (-5, -4), sd_intercept=12.0, corr=0.0),
    "strength_wellbeing": DomainTruth(48, 0.4, (-7, -6), sd_intercept=12.0, corr=0.0),
    "strength_health": DomainTruth(58, -0.5, (0, 0), sd_intercept=10.0, corr=0.0),
    "strength_learning": DomainTruth(47, 0.0, (-4, -6), sd_intercept=12.0, corr=0.0),
    "strength_identity": DomainTruth(40, 1.2, (0, 0), sd_intercept=10.0, corr=0.1),
    "strength_independence": DomainTruth(
        18, 0.0, (0, 0), rise=45.0, rise_age=14.0, rise_scale=1.8, sd_intercept=9.0, corr=0.1
    ),
}


#: How a child's own rating differs from their true need, per domain (points;
#: an assumption for recovery tests, not a published figure): children and young
#: people see less need in behaviour and risk-taking than practitioners do, and
#: more in identity and self-worth.
CHILD_RATING_BIAS: dict[str, float] = {
    "attachment": -4.0,
    "friendships_safety": -6.0,
    "emotional_health": -5.0,
    "behaviour": -10.0,
    "physical_health": 0.0,
    "risk_taking": -12.0,
    "education": -3.0,
    "communication": 2.0,
    "identity_culture": 4.0,
    "self_worth": 6.0,
    "living_skills": -7.0,
    "adulthood": -9.0,
}
#: ``assessor_id`` of a child's own rating (the ``rater_role`` says it is the child's).
CHILD_RATER_ID = "SELF"


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of a synthetic population.

    Attributes
    ----------
    councils : int
        Number of councils (153 gives a national-scale population, ~84k
        children in care on any date).
    seed : int
        Random seed; the same config gives identical data.
    sizes : tuple of int, optional
        Children in care on a typical date, per council. Default: drawn
        from a lognormal (150-2,000 per council, ~550 on average).
    adopters : tuple of bool, optional
        Which councils adopt the programme (default: two thirds, at least
        one never-adopter when there are two or more councils).
    """

    councils: int = 3
    seed: int = 1
    sizes: tuple[int, ...] | None = None
    adopters: tuple[bool, ...] | None = None
    programme_starts: tuple[str | None, ...] | None = None
    window_start: str = "2021-04-01"
    window_end: str = "2025-03-31"
    domains: dict[str, DomainTruth] = field(default_factory=lambda: dict(DEFAULT_DOMAINS))
    general_share: float = 0.4  # share of intercept variance from the general factor
    noise_sd: float = 7.0
    assessor_sd: float = 3.0
    children_per_assessor: int = 15
    double_score_share: float = 0.08
    move_rate: float = 0.36  # natural placement moves per year at average need
    move_need_tilt: float = 0.3
    move_at_16_share: float = 0.4  # share who move (to supported accommodation, mostly) at 16-17
    price_growth: float = 0.06
    cost_need_link: float = 0.04  # log weekly cost per 10 points of true total need
    programme: ProgrammeEffects = field(default_factory=ProgrammeEffects)
    mean_stay_years: tuple[float, ...] = MEAN_STAY_YEARS
    # The child's own view (opt-in; on in the bundled data, from its own random stream).
    child_ratings: bool = False
    child_rating_share: float = 0.6  # share of first scorings the child also rates
    child_rating_min_age: float = 8.0
    child_rating_noise_sd: float = 9.0
    child_rating_bias: dict[str, float] = field(default_factory=lambda: dict(CHILD_RATING_BIAS))
    # Strength scores (opt-in; on in the bundled data, from their own random stream).
    strengths: bool = False
    strength_domains: dict[str, DomainTruth] = field(
        default_factory=lambda: dict(DEFAULT_STRENGTHS)
    )
    #: correlation of each strength's child intercept with the general need factor
    strength_need_corr: float = -0.5
    #: points per year of programme exposure (positive: strengths grow)
    strength_change_per_year: float = 1.5


BUNDLED_CONFIG = SynthConfig(
    councils=3,
    seed=20261124,
    sizes=(220, 165, 135),
    adopters=(True, True, False),
    programme_starts=("2022-07-01", "2023-04-01", None),
    # strengths and the child's own ratings come from random streams of their
    # own, so every other table is the same as without them
    strengths=True,
    child_ratings=True,
)


# --------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------


def domain_curve(d: DomainTruth, ages: np.ndarray) -> np.ndarray:
    """Population mean score of a domain at the given ages (no clipping)."""
    a = np.asarray(ages, dtype=float)
    out = d.base + d.trend * (a - AGE_CENTRE)
    for h, mu in zip(d.bump_heights, d.bump_ages, strict=True):
        out = out + h * np.exp(-0.5 * ((a - mu) / d.bump_sd) ** 2)
    if d.rise:
        out = out + d.rise / (1 + np.exp(-(a - d.rise_age) / d.rise_scale))
    return out


def _truth_domain(truth: dict, domain: str) -> DomainTruth:
    spec = truth["domains"][domain]["curve"]
    return DomainTruth(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})


def true_curve(truth: dict, domain: str, ages: np.ndarray) -> np.ndarray:
    """The generating mean curve of ``domain`` (or ``total_need``) at ``ages``.

    ``total_need`` is the mean of the need domains' curves. Clipping to
    0-100 is ignored (it is rare by design away from the youngest ages).
    """
    if domain == "total_need":
        return np.mean([true_curve(truth, d, ages) for d in truth["need_domains"]], axis=0)
    if domain in truth.get("outcome_areas", {}):
        doms = truth["outcome_areas"][domain]
        return np.mean([true_curve(truth, d, ages) for d in doms], axis=0)
    return domain_curve(_truth_domain(truth, domain), ages)


def find_peaks(ages: np.ndarray, values: np.ndarray) -> list[float]:
    """Ages of interior local maxima of a curve sampled on a grid."""
    v = np.asarray(values)
    idx = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:])) + 1
    return [float(ages[i]) for i in idx]


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------


def council_names(n: int, rng: np.random.Generator) -> list[str]:
    """Fictional council names (bird + landform), never a real council's."""
    combos = [p + s for p in FICTIONAL_PREFIXES for s in FICTIONAL_SUFFIXES]
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} synthetic councils are supported")
    picks = rng.choice(len(combos), size=n, replace=False)
    return [combos[i] for i in picks]


def _days(ts: pd.Timestamp) -> int:
    return int((ts - pd.Timestamp("1970-01-01")).days)


def _to_dates(days: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(days, dtype="int64"), unit="D")).astype(
        "datetime64[ns]"
    )


def generate(config: SynthConfig | None = None, *, progress: bool = False) -> Dataset:
    """Generate a synthetic population; the returned dataset carries ``.truth``.

    Parameters
    ----------
    config : SynthConfig, optional
        Defaults to ``SynthConfig()`` (3 councils, seed 1).
    progress : bool
        Show a progress bar over the generation stages.
    """
    from vc_eval.core.progress import tqdm

    cfg = config or SynthConfig()
    fw = load_framework()
    stages = tqdm(total=6, desc="synth", disable=not progress)
    rng = np.random.default_rng(cfg.seed)
    w0, w1 = pd.Timestamp(cfg.window_start), pd.Timestamp(cfg.window_end)
    w0d, w1d = _days(w0), _days(w1)

    councils = _make_councils(cfg, rng, w0, w1)
    kids = _make_children(cfg, rng, councils, w0d, w1d)
    stages.update()
    domains = [d for d in fw.domain_ids if d in cfg.domains]
    effects = _make_child_effects(cfg, rng, len(kids["id"]), domains)
    stages.update()
    reviews = _make_reviews(cfg, rng, kids, councils, w0d, w1d)
    stages.update()
    assess = _make_scores(cfg, rng, kids, reviews, effects, domains, councils)
    if cfg.strengths:
        assess = _add_strengths(cfg, fw, kids, effects, councils, assess)
    if cfg.child_ratings:
        assess = _add_child_ratings(cfg, kids, reviews, effects, domains, councils, assess)
    stages.update()
    placements, cf_placements = _make_placements(cfg, rng, kids, councils, effects, domains)
    stages.update()
    outcomes = _make_outcomes(cfg, rng, kids, placements, effects, domains, councils, w0, w1)
    stages.update()
    stages.close()

    truth = _truth(cfg, fw, domains, councils, kids, placements, cf_placements, assess)
    _add_need_outcome_effects(
        truth, cfg, kids, effects, domains, councils, placements, cf_placements
    )
    tables = _to_tables(kids, councils, assess, placements, outcomes)
    ds = Dataset.from_frames(
        **tables,
        framework=fw,
        metadata={
            "source": "synthetic",
            "generator": "vc_eval.synthetic.generator",
            "seed": cfg.seed,
            "councils": cfg.councils,
            "window": [cfg.window_start, cfg.window_end],
            "note": "Synthetic data: fictional councils and children.",
        },
    )
    # columns in the data model's order, as a saved and reloaded dataset has them
    # (the age column is added last in memory; the fingerprint reads column order)
    a = ds.tables[ASSESSMENTS]
    ds.tables[ASSESSMENTS] = a[[c for c in COLUMNS[ASSESSMENTS] if c in a.columns]]
    if cfg.strengths:
        strengths = [d for d in fw.strength_domains if d in cfg.strength_domains]
        grid = np.round(np.arange(0.0, 18.0001, 0.01), 2)
        for d in strengths:
            t = cfg.strength_domains[d]
            truth["domains"][d] = {
                "curve": json.loads(json.dumps(asdict(t), default=_json_default)),
                "trough_ages": find_peaks(grid, -domain_curve(t, grid)),
                "sd_intercept": t.sd_intercept,
                "sd_slope": t.sd_slope,
                "corr": t.corr,
                "sd_residual": float(np.hypot(cfg.noise_sd, cfg.assessor_sd)),
                "noise_sd": cfg.noise_sd,
                "assessor_sd": cfg.assessor_sd,
            }
        truth["strengths"] = {
            "domains": strengths,
            "better": "higher",
            "need_corr": cfg.strength_need_corr,
            "programme_change_per_year": cfg.strength_change_per_year,
            "note": "strength = curve + b0 + b1 * (age - 9) + change_per_year * years of "
            "programme exposure + assessor + noise; b0 = sd_intercept * (need_corr * g + "
            "sqrt(1 - need_corr^2) * e), g the child's general need factor",
        }
    if cfg.child_ratings:
        truth["child_view"] = {
            "bias": {d: float(cfg.child_rating_bias.get(d, 0.0)) for d in domains},
            "noise_sd": cfg.child_rating_noise_sd,
            "min_age": cfg.child_rating_min_age,
            "share": cfg.child_rating_share,
            "assessor_id": CHILD_RATER_ID,
            "note": "child's rating = true need + bias + N(0, noise_sd), clipped to 0-100; "
            "the practitioner's = true need + assessor effect + N(0, noise_sd of the scores)",
        }
    ds.truth = truth
    return ds


def _add_strengths(cfg, fw, kids, effects, councils, assess) -> pd.DataFrame:
    """Strength scores at every practitioner scoring, from a random stream of their own."""
    rng = np.random.default_rng([cfg.seed, 15, 3])
    doms = [d for d in fw.strength_domains if d in cfg.strength_domains]
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    sc = assess[keys].drop_duplicates().astype({Col.child_id: str, Col.assessor_id: str})
    child = pd.Index(kids["id"]).get_indexer(sc[Col.child_id])
    day = (sc[Col.assessment_date] - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    age = (day - kids["dob"][child]) / DAYS_PER_YEAR
    exposure = _exposure_years(kids, councils, child, day)
    n = kids["id"].size
    r = cfg.strength_need_corr
    a_codes, a_ids = pd.factorize(sc[Col.assessor_id])
    assessor = rng.normal(0, cfg.assessor_sd, len(a_ids))[a_codes]
    out = np.empty((len(sc), len(doms)))
    for k, d in enumerate(doms):
        t = cfg.strength_domains[d]
        z0 = r * effects["g"] + np.sqrt(1 - r**2) * rng.standard_normal(n)
        z1 = t.corr * z0 + np.sqrt(1 - t.corr**2) * rng.standard_normal(n)
        out[:, k] = (
            domain_curve(t, age)
            + t.sd_intercept * z0[child]
            + t.sd_slope * z1[child] * (age - AGE_CENTRE)
            + cfg.strength_change_per_year * exposure
            + assessor
            + rng.normal(0, cfg.noise_sd, len(sc))
        )
    nd = len(doms)
    rows = pd.DataFrame(
        {
            Col.child_id: np.repeat(sc[Col.child_id].to_numpy(), nd),
            Col.assessment_date: np.repeat(sc[Col.assessment_date].to_numpy(), nd),
            Col.assessor_id: np.repeat(sc[Col.assessor_id].to_numpy(), nd),
            Col.domain: np.tile(np.asarray(doms), len(sc)),
            Col.score: np.clip(out, 0, 100).round(1).ravel(),
        }
    )
    base = assess.astype({c: str for c in (Col.child_id, Col.assessor_id, Col.domain)})
    return pd.concat([base, rows], ignore_index=True)


def _add_child_ratings(cfg, kids, reviews, effects, domains, councils, assess) -> pd.DataFrame:
    """The child's own ratings at some first scorings, with a known bias and noise.

    Drawn from a random stream of their own, after everything else, so the
    practitioners' data are the same with or without them.
    """
    rng = np.random.default_rng([cfg.seed, 15, 2])
    first = reviews["valid"] & ~reviews["second"]
    child, day = reviews["child"][first], reviews["day"][first]
    age = (day - kids["dob"][child]) / DAYS_PER_YEAR
    pick = (age >= cfg.child_rating_min_age) & (rng.random(child.size) < cfg.child_rating_share)
    child, day = child[pick], day[pick]
    true = _true_scores(cfg, kids, effects, domains, child, day, councils)
    bias = np.array([cfg.child_rating_bias.get(d, 0.0) for d in domains])
    noise = rng.normal(0, cfg.child_rating_noise_sd, true.shape)
    score = np.clip(true + bias + noise, 0, 100).round(1)
    nd = len(domains)
    own = pd.DataFrame(
        {
            Col.child_id: np.repeat(kids["id"][child], nd),
            Col.assessment_date: np.repeat(_to_dates(day).to_numpy(), nd),
            Col.assessor_id: CHILD_RATER_ID,
            Col.domain: np.tile(np.asarray(domains), child.size),
            Col.score: score.ravel(),
            Col.rater_role: "child",
        }
    )
    prac = assess.astype({c: str for c in (Col.child_id, Col.assessor_id, Col.domain)})
    prac[Col.rater_role] = "social_worker"
    return pd.concat([prac, own], ignore_index=True)


def write_synthetic(ds: Dataset, out: str | Path) -> Path:
    """Save a generated dataset with its ``truth.json``, atomically."""
    extra = {}
    if ds.truth is not None:
        extra[TRUTH_FILE] = json.dumps(ds.truth, indent=2, sort_keys=True) + "\n"
    return ds.save(out, extra_files=extra)


def _make_councils(cfg: SynthConfig, rng, w0: pd.Timestamp, w1: pd.Timestamp) -> pd.DataFrame:
    n = cfg.councils
    names = council_names(n, rng)
    if cfg.sizes is not None:
        if len(cfg.sizes) != n:
            raise ValueError("sizes must give one size per council")
        sizes = np.asarray(cfg.sizes, dtype=int)
    else:
        sizes = np.clip(np.round(rng.lognormal(np.log(500), 0.6, n)), 150, 2000).astype(int)
    if cfg.adopters is not None:
        adopt = np.asarray(cfg.adopters, dtype=bool)
    else:
        adopt = rng.random(n) < 2 / 3
        if n >= 2 and adopt.all():
            adopt[rng.integers(n)] = False
        if n >= 2 and not adopt.any():
            adopt[rng.integers(n)] = True
    if cfg.programme_starts is not None:
        starts = [pd.Timestamp(s) if s else pd.NaT for s in cfg.programme_starts]
    else:
        # First of a month, between 12 and 30 months into the window.
        months = rng.integers(12, 31, n)
        starts = [
            (w0 + pd.DateOffset(months=int(m))) if a else pd.NaT
            for m, a in zip(months, adopt, strict=True)
        ]
    return pd.DataFrame(
        {
            Col.council: names,
            Col.programme_start: pd.Series(starts, dtype="datetime64[ns]"),
            "size": sizes,
            "n_assessors": np.maximum(3, sizes // cfg.children_per_assessor),
        }
    )


def _make_children(cfg: SynthConfig, rng, councils: pd.DataFrame, w0d: int, w1d: int) -> dict:
    """Entries over the 18 years before the window, kept if in care during it."""
    mix = np.asarray(ENTRY_AGE_MIX) / np.sum(ENTRY_AGE_MIX)
    lo, hi = np.asarray(AGE_BANDS[:-1]), np.asarray(AGE_BANDS[1:])
    stay = np.asarray(cfg.mean_stay_years)
    # Expected time in care per entrant, to turn a stock (size) into a flow.
    probe = np.random.default_rng(0)
    band = probe.choice(5, 200_000, p=mix)
    age = lo[band] + probe.random(band.size) * (hi[band] - lo[band])
    mean_stay = np.minimum(probe.exponential(stay[band]), 18 - age).mean()
    years = 18 + (w1d - w0d) / DAYS_PER_YEAR
    start_d = w0d - 18 * DAYS_PER_YEAR
    n_entries = rng.poisson(councils["size"].to_numpy() / mean_stay * years)
    council_idx = np.repeat(np.arange(len(councils)), n_entries)
    n = council_idx.size
    entry = start_d + rng.random(n) * (w1d - start_d)
    band = rng.choice(5, n, p=mix)
    u = rng.random(n)
    # Most babies who enter care do so in their first weeks.
    u = np.where(band == 0, u**3, u)
    age0 = lo[band] + u * (hi[band] - lo[band]) * 0.995
    stay_y = np.clip(rng.exponential(stay[band]), 1 / DAYS_PER_YEAR, 18 - age0 - 1e-3)
    exit_ = entry + stay_y * DAYS_PER_YEAR
    keep = (exit_ >= w0d) & (entry <= w1d)
    entry, exit_, age0, council_idx = entry[keep], exit_[keep], age0[keep], council_idx[keep]
    # order by council then entry for readable ids
    order = np.lexsort((entry, council_idx))
    entry, exit_, age0, council_idx = entry[order], exit_[order], age0[order], council_idx[order]
    m = entry.size
    dob = np.floor(entry - age0 * DAYS_PER_YEAR).astype(int)
    entry = np.floor(entry).astype(int)
    exit_ = np.floor(exit_).astype(int)
    left = np.where(exit_ <= w1d, exit_, -1)
    ids = np.char.add("C", np.char.zfill((np.arange(m) + 1).astype(str), 7))
    sex = np.where(rng.random(m) < MALE_SHARE, "male", "female")
    eth_p = np.array([ETHNICITY_MIX[e] for e in ETHNICITIES])
    eth = np.asarray(ETHNICITIES)[rng.choice(len(ETHNICITIES), m, p=eth_p / eth_p.sum())]
    return {
        "id": ids,
        "council": council_idx,
        "dob": dob,
        "entry": entry,
        "exit": np.minimum(exit_, w1d),  # last day observed in care
        "left": left,
        "sex": sex,
        "ethnicity": eth,
    }


def _make_child_effects(cfg: SynthConfig, rng, n: int, domains: list[str]) -> dict:
    """Child random intercepts and slopes per domain, with a general factor."""
    g = rng.standard_normal(n)
    b0 = np.empty((n, len(domains)))
    b1 = np.empty((n, len(domains)))
    rho = cfg.general_share
    for k, d in enumerate(domains):
        t = cfg.domains[d]
        z0 = np.sqrt(rho) * g + np.sqrt(1 - rho) * rng.standard_normal(n)
        z1 = t.corr * z0 + np.sqrt(1 - t.corr**2) * rng.standard_normal(n)
        b0[:, k] = t.sd_intercept * z0
        b1[:, k] = t.sd_slope * z1
    return {"g": g, "b0": b0, "b1": b1}


def _make_reviews(cfg: SynthConfig, rng, kids: dict, councils, w0d: int, w1d: int) -> dict:
    entry, exit_ = kids["entry"], kids["exit"]
    span = exit_ - entry
    first, second = REVIEW_OFFSETS_DAYS
    n_rev = np.where(span >= first, 1, 0) + np.where(span >= first + second, 1, 0)
    n_rev = n_rev + np.maximum(0, (span - first - second) // REVIEW_INTERVAL_DAYS)
    child = np.repeat(np.arange(entry.size), n_rev)
    k = np.arange(child.size) - np.repeat(np.cumsum(n_rev) - n_rev, n_rev)
    offset = np.where(k == 0, first, first + second + np.maximum(k - 1, 0) * REVIEW_INTERVAL_DAYS)
    offset = np.where(k == 1, first + second, offset)
    jitter = rng.integers(-7, 1, child.size)  # reviews are held early, not late
    day = entry[child] + offset + jitter
    keep = (day >= w0d) & (day <= w1d) & (day <= exit_[child])
    child, day = child[keep], day[keep]
    n_ass = councils["n_assessors"].to_numpy()
    c_idx = kids["council"][child]
    assessor = (rng.random(child.size) * n_ass[c_idx]).astype(int)
    # Some reviews are scored again by a second practitioner within 14 days.
    dbl = rng.random(child.size) < cfg.double_score_share
    d_child = child[dbl]
    d_day = np.minimum(day[dbl] + rng.integers(1, 15, dbl.sum()), exit_[d_child])
    shift = 1 + (rng.random(dbl.sum()) * (n_ass[c_idx[dbl]] - 1)).astype(int)
    d_assessor = (assessor[dbl] + shift) % n_ass[c_idx[dbl]]
    # A review on the child's last day in care gets no second score: it would
    # fall after they left (or after the window). The row is dropped after
    # scoring so the random stream, and so all other data, stay as they were.
    d_valid = d_day > day[dbl]
    d_day = np.where(d_valid, d_day, day[dbl] + 1)
    return {
        "child": np.concatenate([child, d_child]),
        "day": np.concatenate([day, d_day]),
        "assessor": np.concatenate([assessor, d_assessor]),
        "second": np.concatenate([np.zeros(child.size, bool), np.ones(d_child.size, bool)]),
        "valid": np.concatenate([np.ones(child.size, bool), d_valid]),
    }


def _exposure_years(kids: dict, councils: pd.DataFrame, child: np.ndarray, day: np.ndarray):
    """Years of programme exposure in care at ``day`` (0 if never adopted)."""
    starts = councils[Col.programme_start].to_numpy()
    start_d = np.array(
        [_days(pd.Timestamp(s)) if not pd.isna(s) else np.iinfo(np.int64).max for s in starts],
        dtype=np.int64,
    )
    s = np.maximum(start_d[kids["council"][child]], kids["entry"][child])
    return np.clip((day - s) / DAYS_PER_YEAR, 0, None)


def _true_scores(cfg, kids, effects, domains, child, day, councils) -> np.ndarray:
    """Noise-free scores (n, n_domains) of ``child`` on ``day``."""
    age = (day - kids["dob"][child]) / DAYS_PER_YEAR
    exposure = _exposure_years(kids, councils, child, day)
    out = np.empty((child.size, len(domains)))
    for k, d in enumerate(domains):
        t = cfg.domains[d]
        out[:, k] = (
            domain_curve(t, age)
            + effects["b0"][child, k]
            + effects["b1"][child, k] * (age - AGE_CENTRE)
            + cfg.programme.need_change_per_year * exposure
        )
    return out


def _make_scores(cfg, rng, kids, reviews, effects, domains, councils) -> pd.DataFrame:
    child, day = reviews["child"], reviews["day"]
    n_ass = councils["n_assessors"].to_numpy()
    offsets = np.concatenate([[0], np.cumsum(n_ass)[:-1]])
    assessor_global = offsets[kids["council"][child]] + reviews["assessor"]
    assessor_eff = rng.normal(0, cfg.assessor_sd, n_ass.sum())
    true = _true_scores(cfg, kids, effects, domains, child, day, councils)
    noise = rng.normal(0, cfg.noise_sd, true.shape)
    score = np.clip(true + assessor_eff[assessor_global][:, None] + noise, 0, 100).round(1)
    ok = reviews["valid"]
    child, day, assessor_global, score = child[ok], day[ok], assessor_global[ok], score[ok]
    names = councils[Col.council].to_numpy()
    codes = _council_codes(names)
    # Categoricals keep the 10M-row national table small until it is written.
    assessor_cats = np.char.add(
        np.char.add(np.repeat(codes, n_ass), "-SW"),
        np.char.zfill(np.concatenate([np.arange(k) for k in n_ass]).astype(str), 4),
    )
    nd = len(domains)
    return pd.DataFrame(
        {
            Col.child_id: pd.Categorical.from_codes(np.repeat(child, nd), kids["id"]),
            Col.assessment_date: np.repeat(_to_dates(day).to_numpy(), nd),
            Col.assessor_id: pd.Categorical.from_codes(
                np.repeat(assessor_global, nd), assessor_cats
            ),
            Col.domain: pd.Categorical.from_codes(np.tile(np.arange(nd), child.size), domains),
            Col.score: score.ravel(),
        }
    )


def _type_probs(age: np.ndarray, z: np.ndarray, tilt_w: np.ndarray | None) -> np.ndarray:
    band = np.clip(np.searchsorted(AGE_BANDS, age, side="right") - 1, 0, 4)
    w = TYPE_WEIGHTS[band] * np.exp(np.outer(z, TYPE_NEED_TILT))
    if tilt_w is not None:
        w = w * tilt_w
    return w / w.sum(axis=1, keepdims=True)


def _make_placements(cfg, rng, kids, councils, effects, domains):
    """Placements with and without the programme, from common random numbers."""
    entry, exit_ = kids["entry"], kids["exit"]
    g = effects["g"]
    dur_y = (exit_ - entry) / DAYS_PER_YEAR
    n_moves = rng.poisson(cfg.move_rate * np.exp(cfg.move_need_tilt * g) * dur_y)
    n_seg = n_moves + 1
    child = np.repeat(np.arange(entry.size), n_seg)
    first = np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
    k = np.arange(child.size) - first
    u_time = rng.random(child.size)
    start = np.where(k == 0, entry[child], entry[child] + u_time * (exit_[child] - entry[child]))
    # Many young people move on to supported accommodation at 16-17.
    t16 = kids["dob"] + (16.0 + rng.random(entry.size)) * DAYS_PER_YEAR
    moves16 = (rng.random(entry.size) < cfg.move_at_16_share) & (t16 > entry) & (t16 < exit_)
    child = np.concatenate([child, np.flatnonzero(moves16)])
    start = np.concatenate([start, t16[moves16]])
    start = np.floor(start).astype(np.int64)
    order = np.lexsort((start, child))
    start, child = start[order], child[order]
    # Distinct start days per child (a move at most once per day).
    same = (child[1:] == child[:-1]) & (start[1:] <= start[:-1])
    while same.any():
        idx = np.flatnonzero(same) + 1
        start[idx] = start[idx - 1] + 1
        same = (child[1:] == child[:-1]) & (start[1:] <= start[:-1])
    u_type = rng.random(child.size)
    u_step = rng.exponential(1.0, child.size)
    z_cost = rng.standard_normal(child.size)
    z_cost_step = rng.standard_normal(child.size)
    prog = councils[Col.programme_start].to_numpy()
    prog_d = np.array(
        [_days(pd.Timestamp(s)) if not pd.isna(s) else np.iinfo(np.int64).max // 4 for s in prog]
    )[kids["council"][child]]
    last = np.r_[child[1:] != child[:-1], True]
    end = np.where(last, exit_[child], np.r_[start[1:], 0])
    args = (cfg, kids, effects, domains, councils, child, start, end, prog_d)
    draws = (u_type, u_step, z_cost, z_cost_step)
    factual = _realise_placements(*args, *draws, programme=True, g=g)
    counterfactual = _realise_placements(*args, *draws, programme=False, g=g)
    return factual, counterfactual


def _realise_placements(
    cfg,
    kids,
    effects,
    domains,
    councils,
    child,
    start,
    end,
    prog_d,
    u_type,
    u_step,
    z_cost,
    z_cost_step,
    *,
    programme: bool,
    g,
):
    pe = cfg.programme
    age = (start - kids["dob"][child]) / DAYS_PER_YEAR
    z = g[child]
    after = programme & (start >= prog_d)
    tilt = np.ones((child.size, len(PLACEMENT_TYPES)))
    ti = {t: i for i, t in enumerate(PLACEMENT_TYPES)}
    tilt[after, ti["in_house_foster"]] = pe.in_house_weight
    tilt[after, ti["ifa_foster"]] = pe.ifa_weight
    tilt[after, ti["childrens_home"]] = pe.childrens_home_weight
    p = _type_probs(age, z, tilt)
    type_idx = (p.cumsum(axis=1) < u_type[:, None]).sum(axis=1)
    type_idx = np.minimum(type_idx, len(PLACEMENT_TYPES) - 1)
    step_at = np.full(child.size, np.iinfo(np.int64).max // 2)
    if programme:
        rate = np.zeros(child.size)
        ch = (type_idx == ti["childrens_home"]) & (z < pe.step_down_need_threshold_z)
        ifa = (type_idx == ti["ifa_foster"]) & (z < pe.step_down_ifa_threshold_z)
        rate[ch] = pe.step_down_rate_childrens_home
        rate[ifa] = pe.step_down_rate_ifa
        with np.errstate(divide="ignore"):
            wait = np.where(rate > 0, u_step / np.where(rate > 0, rate, 1), np.inf)
        t0 = np.maximum(start, prog_d)
        cand = t0 + np.ceil(wait * DAYS_PER_YEAR)
        ok = np.isfinite(cand) & (cand < end) & (cand > start)
        step_at[ok] = cand[ok].astype(np.int64)
    split = step_at < end
    # rows: original segments (ending at the step-down if any) + step-down segments
    seg_child = np.concatenate([child, child[split]])
    seg_start = np.concatenate([start, step_at[split]])
    seg_end = np.concatenate([np.where(split, step_at, end), end[split]])
    seg_type = np.concatenate([type_idx, np.full(split.sum(), ti["in_house_foster"])])
    seg_z = np.concatenate([z_cost, z_cost_step[split]])
    seg_prog = np.concatenate([prog_d, prog_d[split]])
    seg_age = (seg_start - kids["dob"][seg_child]) / DAYS_PER_YEAR
    # weekly cost at placement start: type median x inflation x need link x spread
    med = np.array([DEFAULT_UNIT_COSTS[t].median for t in PLACEMENT_TYPES])
    sig = np.array([DEFAULT_UNIT_COSTS[t].sigma for t in PLACEMENT_TYPES])
    ref = _days(pd.Timestamp(REFERENCE_DATE))
    yrs = (seg_start - ref) / DAYS_PER_YEAR
    yrs_prog = (seg_prog - ref) / DAYS_PER_YEAR
    if programme:
        pre = np.minimum(yrs, yrs_prog)
        post = np.clip(yrs - yrs_prog, 0, None)
        after_growth = cfg.price_growth if pe.price_growth_after is None else pe.price_growth_after
        infl = (1 + cfg.price_growth) ** pre * (1 + after_growth) ** post
    else:
        infl = (1 + cfg.price_growth) ** yrs
    true_total = _true_total(
        cfg, kids, effects, domains, seg_child, seg_start, councils, programme=programme
    )
    need_factor = np.exp(cfg.cost_need_link * (true_total - 40.0) / 10.0)
    cost = med[seg_type] * np.exp(sig[seg_type] * seg_z) * infl * need_factor
    # Rare extreme children's-home prices (the LGA reports up to GBP 63k/week).
    extreme = (seg_type == ti["childrens_home"]) & (np.abs(seg_z) > 3.0)
    cost = np.where(extreme, cost * (1 + 2.0 * (np.abs(seg_z) - 3.0)), cost)
    order = np.lexsort((seg_start, seg_child))
    return {
        "child": seg_child[order],
        "start": seg_start[order],
        "end": seg_end[order],
        "type": seg_type[order],
        "cost": np.round(cost[order], 2),
        "age": seg_age[order],
        "step_down": np.concatenate([np.zeros(child.size, bool), np.ones(split.sum(), bool)])[
            order
        ],
    }


def _true_total(cfg, kids, effects, domains, child, day, councils, *, programme=True):
    needs = [k for k, d in enumerate(domains)]
    true = _true_scores(cfg, kids, effects, domains, child, day, councils)
    if not programme:
        exposure = _exposure_years(kids, councils, child, day)
        true = true - cfg.programme.need_change_per_year * exposure[:, None]
    return true[:, needs].mean(axis=1)


def _make_outcomes(cfg, rng, kids, placements, effects, domains, councils, w0, w1):
    """Yearly outcomes at each 31 March in the window."""
    rows = []
    dk = {d: k for k, d in enumerate(domains)}
    for year in range(w0.year + 1, w1.year + 1):
        r = _days(pd.Timestamp(f"{year}-03-31"))
        if r > _days(w1) or r < _days(w0):
            continue
        in_care = np.flatnonzero((kids["entry"] <= r) & (kids["exit"] >= r))
        age = (r - kids["dob"][in_care]) / DAYS_PER_YEAR
        true = _true_scores(
            cfg, kids, effects, domains, in_care, np.full(in_care.size, r), councils
        )
        # moves in the year to 31 March: placement starts after the first one
        pc, ps = placements["child"], placements["start"]
        firsts = np.r_[True, pc[1:] != pc[:-1]]
        year_start = _days(pd.Timestamp(f"{year - 1}-04-01"))
        mv = (~firsts) & (ps >= year_start) & (ps <= r)
        moves = np.bincount(pc[mv], minlength=kids["id"].size)[in_care]
        emo = true[:, [dk["emotional_health"], dk["behaviour"]]].mean(axis=1)
        risk = true[:, dk["risk_taking"]]
        edu = true[:, dk["education"]]
        beh = true[:, dk["behaviour"]]
        long_stay = kids["entry"][in_care] <= r - 365
        school = (age >= 5) & (age < 17)
        sdq_ok = long_stay & school
        om = OUTCOME_MODEL
        sdq = np.clip(
            np.round(
                om["sdq"]["intercept"]
                + om["sdq"]["per_need_point"] * emo
                + om["sdq"]["per_move"] * moves
                + rng.normal(0, om["sdq"]["sd"], in_care.size)
            ),
            0,
            40,
        )
        attend = np.clip(
            om["attendance"]["intercept"]
            + om["attendance"]["per_need_point"] * edu
            + om["attendance"]["per_move"] * moves
            + rng.normal(0, om["attendance"]["sd"], in_care.size),
            0,
            100,
        ).round(1)
        lam_missing = np.where(
            age >= 10,
            np.exp(
                om["missing"]["log_intercept"] + om["missing"]["log_per_need_point"] * (risk - 40)
            ),
            0.01,
        )
        missing = rng.poisson(lam_missing)
        excl = rng.poisson(
            np.exp(
                om["exclusion"]["log_intercept"]
                + om["exclusion"]["log_per_need_point"] * (beh - 40)
            )
        )
        p_off = 1 / (
            1
            + np.exp(
                -(
                    om["offending"]["logit_intercept"]
                    + om["offending"]["logit_per_need_point"] * (risk - 40)
                )
            )
        )
        offend = (rng.random(in_care.size) < p_off).astype(float)
        date = pd.Timestamp(f"{year}-03-31")
        ids = kids["id"][in_care]
        for measure, val, mask in (
            ("placement_moves", moves.astype(float), np.ones(in_care.size, bool)),
            ("missing_episodes", missing.astype(float), np.ones(in_care.size, bool)),
            ("sdq_total", sdq, sdq_ok),
            ("school_attendance", attend, school),
            ("exclusion", excl.astype(float), school),
            ("offending", offend, (age >= 10)),
        ):
            rows.append(
                pd.DataFrame(
                    {
                        Col.child_id: ids[mask],
                        Col.date: date,
                        Col.measure: measure,
                        Col.value: val[mask],
                    }
                )
            )
    out = pd.concat(rows, ignore_index=True)
    out[Col.date] = out[Col.date].astype("datetime64[ns]")
    return out


#: How outcomes depend on need and stability (true, noise-free scores).
OUTCOME_MODEL: dict[str, dict[str, float]] = {
    "sdq": {"intercept": 3.0, "per_need_point": 0.25, "per_move": 1.0, "sd": 4.0},
    "attendance": {"intercept": 96.0, "per_need_point": -0.12, "per_move": -1.5, "sd": 4.0},
    "missing": {"log_intercept": -1.9, "log_per_need_point": 0.04},
    "exclusion": {"log_intercept": -3.0, "log_per_need_point": 0.03},
    "offending": {"logit_intercept": -3.2, "logit_per_need_point": 0.05},
}


def _to_tables(kids, councils, assess, placements, outcomes) -> dict[str, pd.DataFrame]:
    names = councils[Col.council].to_numpy()
    left = kids["left"]
    children = pd.DataFrame(
        {
            Col.child_id: kids["id"],
            Col.council: names[kids["council"]],
            Col.sex: kids["sex"],
            Col.date_of_birth: _to_dates(kids["dob"]),
            Col.ethnicity: kids["ethnicity"],
            Col.entered_care: _to_dates(kids["entry"]),
            Col.left_care: _to_dates(np.where(left >= 0, left, 0)).where(left >= 0),
        }
    )
    pc = placements["child"]
    type_names = np.asarray(PLACEMENT_TYPES)[placements["type"]]
    council_codes = _council_codes(names)[kids["council"][pc]]
    provider = _provider_ids(type_names, council_codes, placements["cost"])
    is_open = (placements["end"] >= kids["exit"][pc]) & (kids["left"][pc] < 0)
    end = _to_dates(placements["end"]).where(~is_open)
    place = pd.DataFrame(
        {
            Col.child_id: kids["id"][pc],
            Col.start_date: _to_dates(placements["start"]),
            Col.end_date: end,
            Col.placement_type: type_names,
            Col.provider_id: provider,
            Col.weekly_cost: placements["cost"],
            Col.cost_imputed: False,
        }
    )
    return {
        "councils": councils[[Col.council, Col.programme_start]],
        "children": children,
        "assessments": assess,
        "placements": place,
        "outcomes": outcomes,
    }


def _council_codes(names) -> np.ndarray:
    """Short unique codes for ids (e.g. KES012)."""
    return np.asarray([f"{n[:3].upper()}{i:03d}" for i, n in enumerate(names)])


def _provider_ids(types: np.ndarray, council_codes: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Provider ids: the council itself for in-house, national pools otherwise."""
    pools = {
        "ifa_foster": ("IFA", 40),
        "childrens_home": ("CH", 150),
        "supported_accommodation": ("SA", 60),
        "secure": ("SEC", 12),
    }
    out = np.full(types.size, None, dtype=object)
    inh = types == "in_house_foster"
    out[inh] = np.char.add(council_codes[inh].astype(str), "-FOSTER")
    # deterministic pick from the cost's digits keeps ids stable for a seed
    pick = (np.round(cost * 100).astype(np.int64) * 2654435761) % 1_000_003
    for t, (prefix, n) in pools.items():
        m = types == t
        if not m.any():
            continue
        out[m] = np.char.add(prefix, np.char.zfill((pick[m] % n).astype(str), 3))
    return out


# --------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------


def _truth(cfg, fw: Framework, domains, councils, kids, placements, cf_placements, assess):
    grid = np.round(np.arange(0.0, 18.0001, 0.01), 2)
    dom = {}
    for d in domains:
        t = cfg.domains[d]
        curve = domain_curve(t, grid)
        dom[d] = {
            "curve": asdict(t),
            "peak_ages": find_peaks(grid, curve),
            "sd_intercept": t.sd_intercept,
            "sd_slope": t.sd_slope,
            "corr": t.corr,
            "sd_residual": float(np.hypot(cfg.noise_sd, cfg.assessor_sd)),
            "noise_sd": cfg.noise_sd,
            "assessor_sd": cfg.assessor_sd,
        }
    need_doms = [d for d in fw.need_domains if d in domains]
    areas = {a: [d for d in fw.domains_in_area(a) if d in domains] for a in fw.outcome_areas}
    total = np.mean([domain_curve(cfg.domains[d], grid) for d in need_doms], axis=0)
    truth = {
        "seed": cfg.seed,
        "config": _config_dict(cfg),
        "window": {"start": cfg.window_start, "end": cfg.window_end},
        "age_centre": AGE_CENTRE,
        "need_domains": need_doms,
        "outcome_areas": areas,
        "domains": dom,
        "total_need": {"peak_ages": find_peaks(grid, total)},
        "area_peaks": {
            a: find_peaks(grid, np.mean([domain_curve(cfg.domains[d], grid) for d in ds], axis=0))
            for a, ds in areas.items()
            if ds
        },
        "general_share": cfg.general_share,
        "councils": {
            row[Col.council]: {
                "programme_start": None
                if pd.isna(row[Col.programme_start])
                else str(pd.Timestamp(row[Col.programme_start]).date()),
                "size": int(row["size"]),
                "n_assessors": int(row["n_assessors"]),
            }
            for _, row in councils.iterrows()
        },
        "cost_model": {
            "unit_costs": {t: asdict(DEFAULT_UNIT_COSTS[t]) for t in PLACEMENT_TYPES},
            "reference_date": REFERENCE_DATE,
            "price_growth": cfg.price_growth,
            "need_link_log_per_10_points": cfg.cost_need_link,
            "need_link_centre": 40.0,
            "type_weights_by_age_band": TYPE_WEIGHTS.tolist(),
            "type_need_tilt": dict(zip(PLACEMENT_TYPES, TYPE_NEED_TILT.tolist(), strict=True)),
            "move_rate": cfg.move_rate,
            "move_need_tilt": cfg.move_need_tilt,
        },
        "outcome_model": OUTCOME_MODEL,
        "programme": asdict(cfg.programme),
        "true_effects": _true_effects(cfg, kids, councils, placements, cf_placements),
        "n_children": int(kids["id"].size),
        "n_assessment_rows": len(assess),
    }
    return json.loads(json.dumps(truth, default=_json_default))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o))


def _config_dict(cfg: SynthConfig) -> dict:
    d = asdict(replace(cfg, domains={}))
    d.pop("domains")
    return d


def _monthly_state(kids, pl, months: np.ndarray, council: int) -> dict:
    """Children in care, mean weekly cost and in-house share on each month's first day."""
    sel = kids["council"][pl["child"]] == council
    s, e, t, c = pl["start"][sel], pl["end"][sel], pl["type"][sel], pl["cost"][sel]
    out = {"children": [], "mean_weekly_cost": [], "in_house_share": [], "weekly_spend": []}
    inh = PLACEMENT_TYPES.index("in_house_foster")
    for m in months:
        act = (s <= m) & (e > m)
        n = int(act.sum())
        out["children"].append(n)
        out["weekly_spend"].append(float(c[act].sum()))
        out["mean_weekly_cost"].append(float(c[act].mean()) if n else float("nan"))
        out["in_house_share"].append(float((t[act] == inh).mean()) if n else float("nan"))
    return {k: np.asarray(v) for k, v in out.items()}


def _true_effects(cfg, kids, councils, placements, cf):
    """Programme effects as factual minus counterfactual (no programme) series.

    For each adopting council: the difference on the first day of every
    month from the start to the window end, and at 12 and 24 months.
    """
    effects = {}
    w1 = pd.Timestamp(cfg.window_end)
    for ci, row in councils.iterrows():
        start = row[Col.programme_start]
        if pd.isna(start):
            continue
        months = pd.date_range(pd.Timestamp(start), w1, freq="MS")
        md = np.array([_days(m) for m in months])
        f = _monthly_state(kids, placements, md, ci)
        c = _monthly_state(kids, cf, md, ci)
        diff = {k: f[k] - c[k] for k in ("mean_weekly_cost", "weekly_spend", "in_house_share")}
        out = {
            "monthly": {
                "month": [str(m.date()) for m in months],
                **{k: np.round(v, 6).tolist() for k, v in diff.items()},
                "counterfactual_mean_weekly_cost": np.round(c["mean_weekly_cost"], 4).tolist(),
                "counterfactual_weekly_spend": np.round(c["weekly_spend"], 2).tolist(),
            },
            "need_change_per_year": cfg.programme.need_change_per_year,
        }
        for h in (12, 24):
            if h < len(months):
                out[f"{h}m"] = {
                    "date": str(months[h].date()),
                    **{k: float(v[h]) for k, v in diff.items()},
                }
        effects[row[Col.council]] = out
    return effects


def _moves_in_year(kids, pl, r: int, year_start: int) -> np.ndarray:
    """Placement moves (starts after a child's first) per child in [year_start, r]."""
    pc, ps = pl["child"], pl["start"]
    order = np.lexsort((ps, pc))
    pc, ps = pc[order], ps[order]
    firsts = np.r_[True, pc[1:] != pc[:-1]]
    mv = (~firsts) & (ps >= year_start) & (ps <= r)
    return np.bincount(pc[mv], minlength=kids["id"].size)


def _add_need_outcome_effects(truth, cfg, kids, effects, domains, councils, placements, cf):
    """Add the programme's true effects on need and on outcomes to ``truth["true_effects"]``.

    Per adopting council, factual minus counterfactual (common random numbers):

    * ``need["monthly"]``: on the first day of each month from the start, the
      effect on mean true total need of children in care
      (``mean_total_need``) and on need change per 6 months
      (``need_change_6m``: the yearly change times the share of the 6 months
      before that day each child was exposed, averaged);
    * ``outcomes``: at each 31 March after the start, the effect on the
      expected outcome (before rounding, clipping and noise) of the
      children it is recorded for: ``sdq_total`` (need through the emotional
      and behaviour domains, plus moves), ``placement_moves`` and
      ``missing_episodes`` (expected count).
    """
    pe = cfg.programme
    om = OUTCOME_MODEL
    dk = {d: k for k, d in enumerate(domains)}
    w1 = pd.Timestamp(cfg.window_end)
    w0 = pd.Timestamp(cfg.window_start)
    for ci, row in councils.iterrows():
        start = row[Col.programme_start]
        name = row[Col.council]
        if pd.isna(start) or name not in truth["true_effects"]:
            continue
        mine = np.flatnonzero(kids["council"] == ci)
        months = pd.date_range(pd.Timestamp(start), w1, freq="MS")
        level, change = [], []
        for m in months:
            d = _days(m)
            ic = mine[(kids["entry"][mine] <= d) & (kids["exit"][mine] > d)]
            if ic.size == 0:
                level.append(float("nan"))
                change.append(float("nan"))
                continue
            ex = _exposure_years(kids, councils, ic, np.full(ic.size, d))
            level.append(float(pe.need_change_per_year * ex.mean()))
            share6 = np.clip(ex / 0.5, 0, 1)
            change.append(float(pe.need_change_per_year / 2 * share6.mean()))
        need = {
            "month": [str(m.date()) for m in months],
            "mean_total_need": np.round(level, 6).tolist(),
            "need_change_6m": np.round(change, 6).tolist(),
        }
        out = {"date": [], "sdq_total": [], "placement_moves": [], "missing_episodes": []}
        for year in range(w0.year + 1, w1.year + 1):
            r = _days(pd.Timestamp(f"{year}-03-31"))
            if r > _days(w1) or r < _days(pd.Timestamp(start)):
                continue
            ic = mine[(kids["entry"][mine] <= r) & (kids["exit"][mine] >= r)]
            if ic.size == 0:
                continue
            day = np.full(ic.size, r)
            age = (r - kids["dob"][ic]) / DAYS_PER_YEAR
            shift = pe.need_change_per_year * _exposure_years(kids, councils, ic, day)
            ys = _days(pd.Timestamp(f"{year - 1}-04-01"))
            dm = (_moves_in_year(kids, placements, r, ys) - _moves_in_year(kids, cf, r, ys))[ic]
            sdq_ok = (kids["entry"][ic] <= r - 365) & (age >= 5) & (age < 17)
            sdq = om["sdq"]["per_need_point"] * shift + om["sdq"]["per_move"] * dm
            risk = _true_scores(cfg, kids, effects, domains, ic, day, councils)[
                :, dk["risk_taking"]
            ]
            a, b = om["missing"]["log_intercept"], om["missing"]["log_per_need_point"]
            lam_f = np.where(age >= 10, np.exp(a + b * (risk - 40)), 0.01)
            lam_c = np.where(age >= 10, np.exp(a + b * (risk - shift - 40)), 0.01)
            out["date"].append(f"{year}-03-31")
            out["sdq_total"].append(float(sdq[sdq_ok].mean()) if sdq_ok.any() else float("nan"))
            out["placement_moves"].append(float(dm.mean()))
            out["missing_episodes"].append(float((lam_f - lam_c).mean()))
        eff = truth["true_effects"][name]
        eff["need"] = {"monthly": need}
        eff["outcomes"] = {
            k: (np.round(v, 6).tolist() if k != "date" else v) for k, v in out.items()
        }
