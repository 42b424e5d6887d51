"""Figures of strengths beside needs."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from vc_eval.analysis.strengths import StrengthsResult
from vc_eval.core.population import AGE_BAND_LABELS


def plot_strengths_by_age(result: StrengthsResult, *, ax: Axes | None = None) -> Axes:
    """Mean score by age band: each outcome area's needs and strengths side by side.

    Line style and legend say which way is better, as the framework declares
    it (needs: lower is better; strengths: higher is better). Age bands with
    fewer than 6 children are not drawn.
    """
    fw = result.framework
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    t = result.by_age
    x = {b: i for i, b in enumerate(AGE_BAND_LABELS)}
    colours = plt.get_cmap("tab10")
    for i, area in enumerate(fw.outcome_areas):
        for kind, style in (("need", "-"), ("strength", "--")):
            doms = [d for d in fw.domains_in_area(area) if fw.domain(d).kind == kind]
            sub = t[t["domain"].isin(doms)]
            if sub.empty:
                continue
            m = sub.groupby("age_band", observed=True)["mean"].mean()
            better = fw.better(doms[0])
            ax.plot(
                [x[b] for b in m.index],
                m.to_numpy(),
                style,
                color=colours(i),
                marker="o",
                ms=3,
                label=f"{fw.outcome_areas[area]}: {kind} ({better} is better)",
            )
    ax.set_xticks(range(len(AGE_BAND_LABELS)), AGE_BAND_LABELS)
    ax.set(
        xlabel="Age band",
        ylabel="Mean score (0-100)",
        title="Needs (solid) and strengths (dashed) by age",
        ylim=(0, 100),
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


__all__ = ["plot_strengths_by_age"]
