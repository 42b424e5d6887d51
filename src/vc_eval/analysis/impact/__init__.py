"""Programme impact: what changed when councils adopted needs-led practice.

Designs, each a pure function returning a result with tidy tables and
plain-language ``statements`` and ``caveats``:

* :func:`council_series` - council x month series (the input of the rest);
* :func:`its` - interrupted time series for one council (placebo-calibrated);
* :func:`council_did` - one council against comparison councils, with
  placebo-in-space (permutation) inference;
* :func:`impact_power` - minimum detectable effects per council and design;
* :func:`sensitivity`, :func:`heterogeneity` - placebo start dates,
  leave-one-council-out, other windows; by age group and need band at entry;
* :func:`impact_summary` - the report's impact section for one council;
* :func:`event_study` - stacked difference-in-differences across councils
  with clean (never or not-yet adopted) comparisons;
* :func:`savings` - effect on spend in GBP a year, split into number of
  children, placement mix and prices;
* :func:`placement_mix` - mix before and after the start, for plotting.
"""

from vc_eval.analysis.impact.council_did import CouncilDiDResult, council_did
from vc_eval.analysis.impact.did import EventStudyResult, event_study
from vc_eval.analysis.impact.its import ITSResult, its, its_all, pool_its
from vc_eval.analysis.impact.power import PowerResult, impact_power
from vc_eval.analysis.impact.savings import (
    MixResult,
    SavingsResult,
    placement_mix,
    savings,
    spend_components,
)
from vc_eval.analysis.impact.section import ImpactResult, impact_result, impact_summary
from vc_eval.analysis.impact.sensitivity import SensitivityResult, heterogeneity, sensitivity
from vc_eval.analysis.impact.series import council_series, period_grid
from vc_eval.analysis.impact.truth import (
    true_effect,
    true_effects_frame,
    true_outcome_effects,
)

__all__ = [
    "CouncilDiDResult",
    "EventStudyResult",
    "PowerResult",
    "council_did",
    "impact_power",
    "impact_summary",
    "ImpactResult",
    "impact_result",
    "SensitivityResult",
    "heterogeneity",
    "sensitivity",
    "true_outcome_effects",
    "ITSResult",
    "MixResult",
    "SavingsResult",
    "council_series",
    "event_study",
    "its",
    "its_all",
    "period_grid",
    "placement_mix",
    "pool_its",
    "savings",
    "spend_components",
    "true_effect",
    "true_effects_frame",
]
