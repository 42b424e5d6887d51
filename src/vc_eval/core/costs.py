"""Default weekly unit costs per placement type, with their sources.

Used by the synthetic generator and, where a council supplies no finance
extract, by the importer to impute costs. Every figure is a configurable
assumption (override with a YAML file of the same shape), never a fact.
Sources are those in ``shared/DOMAIN.md``; "assumption" marks figures for
which no public source was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from vc_eval.core.schema import PLACEMENT_TYPES


@dataclass(frozen=True)
class UnitCost:
    """Weekly cost of one placement type: a lognormal around a median."""

    median: float  # GBP per week, at the reference date
    sigma: float  # lognormal spread between placements
    source: str


#: Reference date for the medians (costs inflate from here in the generator).
REFERENCE_DATE = "2021-04-01"

DEFAULT_UNIT_COSTS: dict[str, UnitCost] = {
    "in_house_foster": UnitCost(550.0, 0.15, "PSSRU 2017 (GBP 646 incl. overheads); GBP 450-650"),
    "ifa_foster": UnitCost(820.0, 0.12, "CMA children's social care market study 2021"),
    "kinship": UnitCost(300.0, 0.25, "assumption (allowances below mainstream fostering)"),
    "childrens_home": UnitCost(4800.0, 0.28, "CMA 2021 (GBP 3,800) to NAO 2025 (GBP 6,100)"),
    "supported_accommodation": UnitCost(1500.0, 0.45, "assumption"),
    "placed_with_parents": UnitCost(100.0, 0.30, "assumption (support costs only)"),
    "secure": UnitCost(7000.0, 0.20, "assumption"),
    "other": UnitCost(1000.0, 0.50, "assumption"),
}

#: Provider adjustments applied on top of the type median when imputing.
PROVIDER_FACTORS: dict[str, float] = {"PR1": 1.0, "PR2": 1.0, "PR3": 1.0, "PR4": 1.1, "PR5": 1.05}


def load_unit_costs(path: str | Path | None = None) -> dict[str, UnitCost]:
    """Unit costs from a YAML file (``type: {median, sigma, source}``), or the defaults.

    A file may list only some types; the rest keep their defaults.
    """
    costs = dict(DEFAULT_UNIT_COSTS)
    if path is None:
        return costs
    spec = yaml.safe_load(Path(path).read_text()) or {}
    for key, val in spec.items():
        if key not in PLACEMENT_TYPES:
            raise ValueError(f"{path}: unknown placement type '{key}' in unit costs")
        base = costs[key]
        costs[key] = UnitCost(
            float(val.get("median", base.median)),
            float(val.get("sigma", base.sigma)),
            str(val.get("source", "council file")),
        )
    return costs
