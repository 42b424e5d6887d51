"""The public API in one flat module (as ``statsmodels.formula.api`` is).

``from vc_eval import fit_growth`` reads from here; importing :mod:`vc_eval`
itself stays light (the names load on first use).
"""

from vc_eval.analysis.agreement import agreement, icc
from vc_eval.analysis.care import care_population, placement_costs, placement_stability
from vc_eval.analysis.child_view import child_view_agreement
from vc_eval.analysis.impact import (
    council_did,
    council_series,
    event_study,
    impact_power,
    impact_result,
    its,
    savings,
)
from vc_eval.analysis.outcomes import outcomes, programme_outcomes
from vc_eval.analysis.profile import complexity, need_change, needs_profile, prevalence
from vc_eval.analysis.spend import needs_matched_scenario, spend
from vc_eval.analysis.strengths import strength_cost, strengths_beside_needs
from vc_eval.analysis.sufficiency import sufficiency
from vc_eval.analysis.trajectories import compare_groups, fit_domains, fit_growth
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import Framework, load_framework
from vc_eval.core.privacy import audit_page, suppress
from vc_eval.core.summary import Result, Summary

__all__ = [
    "Dataset",
    "Framework",
    "Result",
    "Summary",
    "agreement",
    "audit_page",
    "care_population",
    "child_view_agreement",
    "compare_groups",
    "complexity",
    "council_did",
    "council_series",
    "event_study",
    "fit_domains",
    "fit_growth",
    "icc",
    "impact_power",
    "impact_result",
    "its",
    "load_framework",
    "need_change",
    "needs_matched_scenario",
    "needs_profile",
    "outcomes",
    "placement_costs",
    "placement_stability",
    "prevalence",
    "programme_outcomes",
    "savings",
    "spend",
    "strength_cost",
    "strengths_beside_needs",
    "sufficiency",
    "suppress",
]
