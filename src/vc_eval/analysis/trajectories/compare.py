"""Do need trajectories differ between councils or groups of children?

One model with a curve per group (the time basis interacted with the
group) against one with a shared curve (group-level shifts excluded too),
both fitted by maximum likelihood, compared by a likelihood-ratio test.
Random effects and the residual variance are shared across groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from vc_eval.analysis.trajectories.domains import REFERENCE_AGE, model_knots, need_frame
from vc_eval.analysis.trajectories.growth import MIN_GROUPS, GrowthFit, fit_growth
from vc_eval.analysis.trajectories.peaks import DEFAULT_RULE, PeakRule
from vc_eval.core import display
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.schema import Col
from vc_eval.core.summary import Result, Summary, Table

#: Significance level of the likelihood-ratio test's words.
ALPHA = 0.05


@dataclass
class GroupComparison(Result):
    """Result of :func:`compare_groups`.

    Attributes
    ----------
    by : str
        The grouping column compared.
    levels : list of str
        Its levels; the first is the reference.
    full, null : GrowthFit
        ML fits with a curve per level, and with one shared curve.
    lr_stat, df, p_value : float, int, float
        Likelihood-ratio statistic, its degrees of freedom (extra fixed
        effects in ``full``) and chi-squared p-value.
    n_groups_per_level : dict
        Groups (children) per level.
    notes : list of str
        What the test assumes.
    """

    by: str
    levels: list[str]
    full: GrowthFit
    null: GrowthFit
    lr_stat: float
    df: int
    p_value: float
    n_groups_per_level: dict[str, int]
    notes: list[str] = field(default_factory=list)

    _plot = "trajectories:plot_group_curves"

    @property
    def caveats(self) -> list[str]:
        return list(self.notes) + self.full.caveats

    def to_frame(self) -> pd.DataFrame:
        return self.stats().to_frame().T

    def summary(self) -> Summary:
        """Whether the curves differ between the groups (word from the test's p-value)."""
        differ = self.p_value < ALPHA
        word = "differ" if differ else "no detectable difference"
        levels = display.and_list([str(x) for x in self.levels])
        sm = Summary(f"Trajectories by {self.by}", key="compare", caveats=self.caveats)
        sm.say(
            "test",
            (
                f"The need curves differ between {levels}"
                if differ
                else f"No difference between the need curves of {levels} could be detected"
            )
            + f" (likelihood-ratio test: chi-squared {self.lr_stat:.1f} on {self.df} degrees "
            f"of freedom, p = {self.p_value:.3g}).",
            word=word,
        )
        t = self.stats()
        sm.tables.append(
            Table(
                "Likelihood-ratio test",
                pd.DataFrame({"statistic": t.index.astype(str), "value": t.astype(str).to_numpy()}),
                {"statistic": "label", "value": "text"},
            )
        )
        return sm

    def curves(self, ages: np.ndarray | None = None, *, level: float = 0.95) -> pd.DataFrame:
        """Fitted curve per level (long: the ``by`` column, then :meth:`GrowthFit.curve`)."""
        out = []
        for lev in self.levels:
            c = self.full.curve(ages, at={self.by: lev}, level=level)
            c.insert(0, self.by, lev)
            out.append(c)
        return pd.concat(out, ignore_index=True)

    def peaks_table(
        self,
        *,
        n: int | None = None,
        seed: int = 0,
        level: float = 0.95,
        min_prominence: float | None = None,
        rule: PeakRule = DEFAULT_RULE,
    ) -> pd.DataFrame:
        """Peak ages per level from draws of the full model's fixed effects."""
        out = []
        for lev in self.levels:
            ps = self.full.peaks(
                "draws",
                n=n,
                seed=seed,
                level=level,
                at={self.by: lev},
                min_prominence=min_prominence,
                rule=rule,
            )
            t = ps.to_frame()
            t.insert(0, self.by, lev)
            out.append(t)
        return pd.concat(out, ignore_index=True)

    def stats(self) -> pd.Series:
        """The test in one Series."""
        return pd.Series(
            {
                "by": self.by,
                "levels": ", ".join(self.levels),
                "n_groups": self.full.n_groups,
                "n_obs": self.full.n_obs,
                "llf_null": self.null.llf,
                "llf_full": self.full.llf,
                "lr_stat": self.lr_stat,
                "df": self.df,
                "p_value": self.p_value,
                "converged": self.full.converged and self.null.converged,
            }
        )


def compare_groups(
    data: pd.DataFrame | Dataset,
    *,
    by: str,
    domain: str = TOTAL_NEED,
    outcome: str = Col.score,
    time: str = Col.age_at_assessment,
    group: str = Col.child_id,
    basis: str = "spline",
    knots: Sequence[float] | None = None,
    df: int | None = None,
    random: str = "slope",
    covariates: Sequence[str] = (),
    engine: str = "statsmodels",
    age_centre: float | None = None,
    age_scale: float | None = None,
    min_groups: int = MIN_GROUPS,
) -> GroupComparison:
    """Test whether the mean curve differs between levels of ``by``.

    Parameters
    ----------
    data : DataFrame or Dataset
        A long table, or a dataset (then ``domain`` picks the scores:
        a domain id, ``total_need`` or an outcome area, and ``by`` may be
        ``council``, ``sex`` or ``ethnicity``).
    by : str
        Column whose levels are compared (each must have ``min_groups``
        groups).
    domain : str
        With a dataset: what to compare (default total need).
    outcome, time, group : str
        Columns of a long table (defaults fit the vc-eval data model).
    basis, knots, df, random, covariates, engine, age_centre, age_scale
        As for :func:`fit_growth`. With a dataset, a spline basis and no
        knots or df, knots follow :func:`default_age_knots`.

    Returns
    -------
    GroupComparison

    Raises
    ------
    ValueError
        If ``by`` has fewer than two levels or a level has too few groups.
    """
    if isinstance(data, Dataset):
        frame = need_frame(data, domain)
        label = data.framework.label(domain)
        if age_centre is None:
            age_centre = REFERENCE_AGE
        knots = model_knots(frame, basis=basis, knots=knots, df=df, time=time, group=group)
    else:
        frame = data
        label = outcome
    if by not in frame.columns:
        raise ValueError(f"{label}: column {by!r} not in the data")
    # Both models must see the same rows for the likelihoods to be comparable.
    frame = frame[frame[by].notna()]
    counts = frame.groupby(frame[by].astype(str))[group].nunique()
    if len(counts) < 2:
        raise ValueError(f"{label}: {by!r} has fewer than two levels; nothing to compare")
    small = counts[counts < min_groups]
    if len(small):
        raise ValueError(
            f"{label}: too few groups to compare by {by!r}: "
            + ", ".join(f"{k} has {v}" for k, v in small.items())
            + f" (at least {min_groups} each)"
        )
    common = dict(
        outcome=outcome,
        time=time,
        group=group,
        random=random,
        basis=basis,
        knots=knots,
        df=df,
        covariates=covariates,
        reml=False,
        engine=engine,
        age_centre=age_centre,
        age_scale=age_scale,
        min_groups=min_groups,
    )
    null = fit_growth(frame, label=f"{label} (shared curve)", **common)
    full = fit_growth(frame, by=by, label=f"{label} (curve per {by})", **common)
    lr = float(2 * (full.llf - null.llf))
    dof = len(full.fe_params) - len(null.fe_params)
    notes = [
        "Likelihood-ratio test of maximum-likelihood fits (REML likelihoods are not "
        "comparable when fixed effects differ).",
        f"Random effects and residual variance are shared across {by} levels.",
        "Observational comparison: differences may reflect who comes into care, not practice.",
    ]
    if lr < 0:
        notes.append(
            f"The full model fitted worse than the shared one (LR {lr:.3g}); "
            "an optimiser problem: read the fits' warnings."
        )
    return GroupComparison(
        by=by,
        levels=list(full.design.by.levels),
        full=full,
        null=null,
        lr_stat=lr,
        df=dof,
        p_value=float(stats.chi2.sf(max(lr, 0.0), dof)),
        n_groups_per_level={str(k): int(v) for k, v in counts.items()},
        notes=notes,
    )
