"""Figures of the child's own view beside the practitioner's."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from vc_eval.analysis.child_view import ChildViewResult
from vc_eval.core.privacy import MIN_N


def plot_child_view(result: ChildViewResult, *, ax: Axes | None = None) -> Axes:
    """Mean difference (child minus practitioner) per domain with its 95% interval.

    Domains with fewer than 6 pairs are left out.
    """
    t = result.table[(result.table["n_pairs"] >= MIN_N) & result.table["mean_diff"].notna()]
    t = t.iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.4 * max(len(t), 1) + 1.5))
    y = np.arange(len(t))
    ax.errorbar(
        t["mean_diff"],
        y,
        xerr=[t["mean_diff"] - t["mean_diff_lower"], t["mean_diff_upper"] - t["mean_diff"]],
        fmt="o",
        capsize=3,
    )
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_yticks(y, list(t["domain_name"]))
    ax.set(
        xlabel="Child's rating minus practitioner's (points; 95% interval)",
        title="Where the child's view differs from the practitioner's",
    )
    return ax


__all__ = ["plot_child_view"]
