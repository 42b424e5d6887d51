"""Figures of the care population."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes


def plot_need_by_age(by_age: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Mean total need by year of age (from :func:`vc_eval.core.population.mean_need_by_age`).

    Each point is a year of age with at least 6 children; the band is +/- one
    standard error.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    se = by_age["sd"] / by_age["assessments"].pow(0.5)
    sns.lineplot(data=by_age, x="age", y="mean", marker="o", ax=ax)
    ax.fill_between(by_age["age"], by_age["mean"] - se, by_age["mean"] + se, alpha=0.25)
    ax.set(xlabel="Age (years)", ylabel="Mean total need (0-100)", title="Total need by age")
    return ax
