"""Programme impact: what changed when councils adopted needs-led practice.

Designs, each a pure function returning a result with tidy tables and
plain-language ``statements`` and ``caveats``:

* :func:`council_series` - council x month series (the input of the rest);
* :func:`its` - interrupted time series for one council;
* :func:`event_study` - stacked difference-in-differences across councils
  with clean (never or not-yet adopted) comparisons;
* :func:`savings` - effect on spend in GBP a year, split into number of
  children, placement mix and prices;
* :func:`placement_mix` - mix before and after the start, for plotting.
"""

from vc_eval.analysis.impact.did import EventStudyResult, event_study
from vc_eval.analysis.impact.its import ITSResult, its, its_all, pool_its
from vc_eval.analysis.impact.savings import (
    MixResult,
    SavingsResult,
    placement_mix,
    savings,
    spend_components,
)
from vc_eval.analysis.impact.series import council_series, period_grid
from vc_eval.analysis.impact.truth import true_effect, true_effects_frame

__all__ = [
    "EventStudyResult",
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
