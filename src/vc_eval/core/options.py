"""Choices offered in more than one place (CLI options, API arguments, notebook parameters).

Each list is declared here once; the analyses that implement the choices, the
report's parameter checks and the command-line options import it, so a new
choice cannot be offered in one place and refused in another. This module
imports nothing, so the command line can use it without loading the analyses.
"""

from __future__ import annotations

#: Growth-model engines (:func:`vc_eval.analysis.trajectories.fit_growth`): the fast
#: engine, the default everywhere, and statsmodels' MixedLM, the reference.
ENGINES: tuple[str, ...] = ("fast", "statsmodels")
#: What a report's period figures are set against.
COMPARISONS: tuple[str, ...] = ("previous_period", "all_councils", "none")

__all__ = ["COMPARISONS", "ENGINES"]
