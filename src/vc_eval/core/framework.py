"""Needs frameworks: domains, outcome areas and bands, as configuration.

A framework is a YAML file (see ``frameworks/illustrative.yaml`` in the
package). Councils each configure their own; nothing in the code depends on
particular domain names.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

DEFAULT_FRAMEWORK = "illustrative"
SCORE_MIN, SCORE_MAX = 0.0, 100.0
#: Name used for the mean of all need-domain scores at one assessment.
TOTAL_NEED = "total_need"


class FrameworkError(ValueError):
    """A framework file breaks a rule; the message names the file and rule."""


@dataclass(frozen=True)
class Band:
    band: int
    min: float
    max: float
    descriptor: str


#: Which way is better, by kind, when a domain does not say (``better:`` in YAML).
DEFAULT_BETTER: dict[str, str] = {"need": "lower", "strength": "higher"}


@dataclass(frozen=True)
class Domain:
    id: str
    name: str
    outcome_area: str
    kind: str = "need"  # "need" or "strength"
    description: str = ""
    sub_needs: tuple[str, ...] = ()
    #: "lower" or "higher": which way a score is better. Declared once, here;
    #: analyses ask the framework rather than flip signs themselves.
    better: str = "lower"


@dataclass(frozen=True)
class Framework:
    """A validated needs framework."""

    id: str
    version: str
    name: str
    bands: tuple[Band, ...]
    outcome_areas: dict[str, str]
    domains: tuple[Domain, ...]
    illustrative: bool = False
    source: str = ""
    sha256: str = field(default="", compare=False)
    #: Bands of strength domains (their own descriptors); empty: the need bands.
    strength_bands: tuple[Band, ...] = ()

    @property
    def domain_ids(self) -> list[str]:
        """The need domains (what every needs analysis and total need are about).

        Strength domains are listed by :attr:`strength_domains`; both by
        :attr:`all_domain_ids` (what a score may be recorded against).
        """
        return self.need_domains

    @property
    def all_domain_ids(self) -> list[str]:
        """Every domain a score may be recorded against: need and strength domains."""
        return [d.id for d in self.domains]

    @property
    def need_domains(self) -> list[str]:
        return [d.id for d in self.domains if d.kind == "need"]

    @property
    def strength_domains(self) -> list[str]:
        return [d.id for d in self.domains if d.kind == "strength"]

    def better(self, domain_id: str) -> str:
        """``"higher"`` or ``"lower"``: which way a score of ``domain_id`` is better.

        Total need and outcome areas (means of need domains) are better lower.
        """
        if domain_id == TOTAL_NEED or domain_id in self.outcome_areas:
            return "lower"
        return self.domain(domain_id).better

    def higher_is_better(self, domain_ids) -> np.ndarray:
        """Boolean array: for each domain id, is a higher score better?"""
        look = {d: self.better(d) == "higher" for d in set(map(str, domain_ids))}
        return np.array([look[str(d)] for d in domain_ids], dtype=bool)

    def improved(self, domain_ids, change) -> np.ndarray:
        """+1 where ``change`` is in the better direction, -1 worse, 0 none (per element)."""
        up = self.higher_is_better(np.asarray(domain_ids).ravel()).reshape(np.shape(domain_ids))
        sign = np.sign(np.asarray(change, dtype=float))
        return np.where(up, sign, -sign)

    def bands_for(self, domain_id: str) -> tuple[Band, ...]:
        """The bands of a domain: strength bands for strengths (if declared), else need bands."""
        if self.strength_bands and domain_id in self.strength_domains:
            return self.strength_bands
        return self.bands

    def domain(self, domain_id: str) -> Domain:
        for d in self.domains:
            if d.id == domain_id:
                return d
        raise KeyError(f"domain {domain_id!r} is not in framework {self.id!r}")

    def domains_in_area(self, area: str) -> list[str]:
        return [d.id for d in self.domains if d.outcome_area == area]

    def area_of(self) -> dict[str, str]:
        """Map each domain id to its outcome area id."""
        return {d.id: d.outcome_area for d in self.domains}

    def label(self, domain_id: str) -> str:
        if domain_id == TOTAL_NEED:
            return "Total need"
        if domain_id in self.outcome_areas:
            return self.outcome_areas[domain_id]
        return self.domain(domain_id).name

    def band_of(self, scores: pd.Series | np.ndarray | float) -> np.ndarray:
        """Band number (1..n) of each score; NaN stays NaN."""
        s = np.asarray(scores, dtype=float)
        edges = np.array([b.max for b in self.bands[:-1]], dtype=float)
        # Bands are closed on integer edges (0-25, 26-50): a score of 25.5 is
        # in band 2, so compare against the upper edge of each lower band.
        out = np.searchsorted(edges, s, side="left").astype(float) + 1
        out[np.isnan(s)] = np.nan
        return out

    def band_labels(self, domain_id: str | None = None) -> dict[int, str]:
        """Band number -> label; a strength domain's own descriptors when given its id."""
        bands = self.bands if domain_id is None else self.bands_for(domain_id)
        return {b.band: f"{b.band}: {b.descriptor} ({b.min:g}-{b.max:g})" for b in bands}


def _check(cond: bool, source: str, msg: str) -> None:
    if not cond:
        raise FrameworkError(f"{source}: {msg}")


def _parse_bands(raw: list, source: str, key: str) -> tuple[Band, ...]:
    raw_bands = sorted(raw, key=lambda b: float(b.get("min", np.nan)))
    _check(len(raw_bands) >= 2, source, f"{key}: at least two bands are needed")
    bands = []
    for i, b in enumerate(raw_bands):
        for k in ("min", "max"):
            _check(k in b, source, f"{key}[{i}]: missing '{k}'")
        lo, hi = float(b["min"]), float(b["max"])
        _check(
            SCORE_MIN <= lo <= hi <= SCORE_MAX,
            source,
            f"band {b.get('band', i + 1)}: range {lo:g}-{hi:g} is outside 0-100 or reversed",
        )
        bands.append(Band(int(b.get("band", i + 1)), lo, hi, str(b.get("descriptor", ""))))
    _check(bands[0].min == SCORE_MIN, source, f"{key}: the first band must start at 0")
    _check(bands[-1].max == SCORE_MAX, source, f"{key}: the last band must end at 100")
    for a, b in zip(bands, bands[1:], strict=False):
        _check(
            b.min > a.max, source, f"bands {a.band} and {b.band} overlap ({a.max:g} >= {b.min:g})"
        )
        _check(
            b.min - a.max <= 1,
            source,
            f"bands {a.band} and {b.band} leave a gap between {a.max:g} and {b.min:g}",
        )
    numbers = [b.band for b in bands]
    _check(len(set(numbers)) == len(numbers), source, f"{key}: duplicate band numbers")
    return tuple(bands)


def parse_framework(spec: dict, *, source: str = "<framework>") -> Framework:
    """Validate a framework mapping and build a :class:`Framework`.

    Raises
    ------
    FrameworkError
        On missing keys, duplicate ids, unknown outcome areas, bands that
        overlap, leave gaps, or fall outside 0-100.
    """
    _check(isinstance(spec, dict), source, "the file must be a mapping of keys to values")
    for key in ("id", "bands", "domains", "outcome_areas"):
        _check(key in spec, source, f"missing required key '{key}'")
    bands = _parse_bands(spec["bands"], source, "bands")
    strength_bands = ()
    if spec.get("strength_bands"):
        strength_bands = _parse_bands(spec["strength_bands"], source, "strength_bands")
        _check(
            [(b.min, b.max) for b in strength_bands] == [(b.min, b.max) for b in bands],
            source,
            "strength_bands: must have the same ranges as bands (only descriptors differ)",
        )

    areas_raw = spec["outcome_areas"]
    area_ids = [a["id"] for a in areas_raw]
    _check(len(set(area_ids)) == len(area_ids), source, "outcome_areas: duplicate ids")
    areas = {a["id"]: str(a.get("name", a["id"])) for a in areas_raw}

    domains = []
    for i, d in enumerate(spec["domains"]):
        for key in ("id", "name", "outcome_area"):
            _check(key in d, source, f"domains[{i}]: missing '{key}'")
        _check(
            d["outcome_area"] in areas,
            source,
            f"domain '{d['id']}': unknown outcome area '{d['outcome_area']}'",
        )
        kind = d.get("kind", "need")
        _check(
            kind in ("need", "strength"),
            source,
            f"domain '{d['id']}': kind must be need or strength",
        )
        better = d.get("better", DEFAULT_BETTER[kind])
        _check(
            better in ("higher", "lower"),
            source,
            f"domain '{d['id']}': better must be higher or lower",
        )
        domains.append(
            Domain(
                id=str(d["id"]),
                name=str(d["name"]),
                outcome_area=str(d["outcome_area"]),
                kind=kind,
                description=str(d.get("description", "")),
                sub_needs=tuple(d.get("sub_needs", ()) or ()),
                better=better,
            )
        )
    ids = [d.id for d in domains]
    dupes = sorted({x for x in ids if ids.count(x) > 1})
    _check(not dupes, source, f"duplicate domain ids: {', '.join(dupes)}")
    _check(ids, source, "domains: at least one domain is needed")
    clash = set(ids) & (set(areas) | {TOTAL_NEED})
    _check(not clash, source, f"domain ids clash with outcome area ids: {', '.join(sorted(clash))}")
    return Framework(
        id=str(spec["id"]),
        version=str(spec.get("version", "1")),
        name=str(spec.get("name", spec["id"])),
        bands=tuple(bands),
        strength_bands=strength_bands,
        outcome_areas=areas,
        domains=tuple(domains),
        illustrative=bool(spec.get("illustrative", False)),
        source=source,
    )


def load_framework(path_or_name: str | Path | None = None) -> Framework:
    """Load a framework from a YAML file, or a shipped one by name.

    Parameters
    ----------
    path_or_name : str or Path, optional
        A YAML file path, or the name of a framework shipped with the
        package (default ``"illustrative"``).
    """
    name = DEFAULT_FRAMEWORK if path_or_name is None else path_or_name
    path = Path(name)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise FrameworkError(f"{path}: framework file not found")
        text = path.read_bytes()
        source = str(path)
    else:
        res = resources.files("vc_eval.core") / "frameworks" / f"{name}.yaml"
        if not res.is_file():
            raise FrameworkError(f"no shipped framework named {str(name)!r}")
        text = res.read_bytes()
        source = f"vc_eval/core/frameworks/{name}.yaml"
    return _parsed(text, source)


@functools.lru_cache(maxsize=32)
def _parsed(text: bytes, source: str) -> Framework:
    """The framework in ``text`` (kept: a batch loads the same file once per council)."""
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise FrameworkError(f"{source}: not valid YAML ({err})") from err
    fw = parse_framework(spec, source=source)
    object.__setattr__(fw, "sha256", hashlib.sha256(text).hexdigest())
    return fw


def check_scores(
    assessments: pd.DataFrame, framework: Framework, *, file: str = "assessments"
) -> list:
    """Violations for scores whose domain is unknown to the framework.

    Score ranges are checked by the schema; this adds the framework rule.
    """
    from vc_eval.core.schema import Col, Violation

    known = set(framework.all_domain_ids)
    bad = ~assessments[Col.domain].isin(known)
    return [
        Violation(file, int(i) + 1, Col.domain, f"domain not in framework '{framework.id}'", str(v))
        for i, v in zip(
            np.flatnonzero(bad.to_numpy()), assessments.loc[bad, Col.domain], strict=True
        )
    ]
