"""Need trajectories by age: mixed-effects growth models and peak ages of need.

``fit_growth`` fits any long table; ``fit_domains`` and ``compare_groups``
give the Valuing Care view from a :class:`~vc_eval.core.dataset.Dataset`.
Figures live in :mod:`vc_eval.plots.trajectories`.

Example::

    from vc_eval.core.dataset import Dataset
    from vc_eval.analysis.trajectories import fit_domains, fit_growth

    ds = Dataset.load("data/synthetic")
    fits = fit_domains(ds)                  # every domain, total need, areas
    fits.table()                            # variance components, ICC, peaks
    print(fits.summary())                   # peak ages in words, tables, caveats
    fits.peaks_table()                      # peak ages with 95% intervals
    fit = fits["total_need"]
    fit.curve()                             # fitted mean with 95% band
    fit.peaks("bootstrap", n=200)           # intervals by refitting on children

    # any long table
    fit_growth(df, outcome="Reaction", time="Days", group="Subject")

Modules: :mod:`.basis` (design matrices), :mod:`.engines` (statsmodels and
the fast engine), :mod:`.growth` (:func:`fit_growth`, :class:`GrowthFit`),
:mod:`.peaks` (peak ages from plausible curves), :mod:`.domains` (the
Valuing Care view), :mod:`.compare` (differences between groups).
"""

from vc_eval.analysis.trajectories.basis import BASES, Covariate, Design, TimeBasis
from vc_eval.analysis.trajectories.compare import GroupComparison, compare_groups
from vc_eval.analysis.trajectories.domains import (
    NEED_COLUMNS,
    REFERENCE_AGE,
    SENSITIVITY_VARIANTS,
    DomainFits,
    default_age_knots,
    fit_domains,
    model_knots,
    need_frame,
    parse_knots,
    peak_sensitivity,
)
from vc_eval.analysis.trajectories.engines import DEFAULT_METHODS, ENGINES, EngineFit, fit_arrays
from vc_eval.analysis.trajectories.growth import (
    GrowthDesign,
    GrowthFit,
    GrowthFitWarning,
    PeakSummary,
    fit_growth,
)

__all__ = [
    "BASES",
    "DEFAULT_METHODS",
    "NEED_COLUMNS",
    "SENSITIVITY_VARIANTS",
    "ENGINES",
    "REFERENCE_AGE",
    "Covariate",
    "Design",
    "DomainFits",
    "EngineFit",
    "GroupComparison",
    "GrowthDesign",
    "GrowthFit",
    "GrowthFitWarning",
    "PeakSummary",
    "TimeBasis",
    "compare_groups",
    "default_age_knots",
    "fit_arrays",
    "fit_domains",
    "fit_growth",
    "model_knots",
    "need_frame",
    "parse_knots",
    "peak_sensitivity",
]
