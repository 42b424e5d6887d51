"""Power and minimum detectable effect (MDE) for one council, from its own series.

For each design the report shows for a council, the smallest true effect
that the design would find (interval excluding zero) in 4 runs out of 5,
at the level the design can deliver. It is computed from the same numbers
the estimate uses, by simulation over the placebo councils: with the
council's standard error ``se`` and the placebo councils' studentised
estimates ``T_j`` (what chance alone gives), a true effect ``d`` is found
in the share of placebos with ``|d / se + T_j| > critical``. The MDE is the
smallest ``|d|`` found at least ``power`` of the time in both directions.

With too few placebo councils there is no calibrated interval to power; the
MDE then uses the design's own t critical value and is marked optimistic
(such errors are too small on monthly series; see ``benchmarks/impact.md``).

:meth:`PowerResult.months_to_detect` answers "how many months of data after
the start until we could detect X?" (before/after: the standard error of the
effect shrinks as the post-start line is pinned down by more months, holding
the council's autocorrelation fixed), and :meth:`PowerResult.councils_to_detect`
"how many councils like this one would have to adopt for their average to
show X?" (independent councils: the MDE shrinks with the square root).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from vc_eval.analysis.impact import inference
from vc_eval.analysis.impact.council_did import council_did
from vc_eval.analysis.impact.its import design_matrix, its
from vc_eval.core.summary import Result

DEFAULT_POWER = 0.8
#: Longest series (months after the start) :meth:`PowerResult.months_to_detect` looks at.
MAX_MONTHS = 120


def mde_from_placebos(
    se: float, placebo_t: np.ndarray, critical: float, power: float = DEFAULT_POWER
) -> float:
    """Smallest |effect| detected with probability ``power`` in both directions.

    Simulation over the placebo t statistics (the noise distribution); NaN
    when there are none or ``se`` is not positive.
    """
    t = np.asarray(placebo_t, dtype=float)
    t = t[np.isfinite(t)]
    if t.size == 0 or not (se > 0) or not np.isfinite(critical):
        return float("nan")

    def found(d: float) -> float:
        return min(np.mean(np.abs(d + t) > critical), np.mean(np.abs(-d + t) > critical))

    lo, hi = 0.0, 2 * (critical + np.abs(t).max()) + 10
    if found(hi) < power:
        return float("nan")
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if found(mid) < power else (lo, mid)
    return float(hi * se)


def mde_normal(se: float, critical: float, power: float = DEFAULT_POWER) -> float:
    """Analytic MDE ``(critical + z_power) * se`` (optimistic when se is too small)."""
    return float((critical + stats.norm.ppf(power)) * se)


@dataclass
class PowerResult(Result):
    """Minimum detectable effects per outcome, design and horizon for one council.

    Attributes
    ----------
    table : DataFrame
        outcome, design ("before/after", "comparison councils"), horizon,
        level (of the interval the design delivers; NaN: none), mde,
        basis ("placebo councils" or "own series only (optimistic)"),
        n_placebo, se, n_pre, n_post.
    """

    council: str
    power: float
    alpha: float
    table: pd.DataFrame
    caveats: list[str] = field(default_factory=list)

    _plot = "impact:plot_power"

    def to_frame(self) -> pd.DataFrame:
        return self.table.assign(council=self.council)

    def summary(self):
        from vc_eval.analysis.impact.words import power_summary

        return power_summary(self)

    def _row(self, outcome: str, design: str, horizon: int) -> pd.Series:
        t = self.table
        r = t[(t["outcome"] == outcome) & (t["design"] == design) & (t["horizon"] == horizon)]
        if r.empty:
            raise KeyError(f"no power row for {outcome}, {design}, {horizon} months")
        return r.iloc[0]

    def mde(self, outcome: str, design: str = "before/after", horizon: int = 12) -> float:
        """The minimum detectable effect (outcome units)."""
        return float(self._row(outcome, design, horizon)["mde"])

    def months_to_detect(self, outcome: str, effect: float, horizon: int = 12) -> int | None:
        """Months of data after the start until the before/after design could detect ``effect``.

        None when not within :data:`MAX_MONTHS` (or no MDE). The answer
        holds the council's noise and autocorrelation as they are now.
        """
        r = self._row(outcome, "before/after", horizon)
        if not np.isfinite(r["mde"]) or effect == 0:
            return None
        n_pre, n_post = int(r["n_pre"]), int(r["n_post"])
        now = _point_var(n_pre, n_post, horizon)
        for m in range(max(n_post, horizon + 1, 6), MAX_MONTHS + 1):
            if r["mde"] * math.sqrt(_point_var(n_pre, m, horizon) / now) <= abs(effect):
                return m
        return None

    def councils_to_detect(
        self, outcome: str, effect: float, design: str = "before/after", horizon: int = 12
    ) -> int | None:
        """Adopting councils like this one whose average effect would show ``effect``."""
        mde = self.mde(outcome, design, horizon)
        if not np.isfinite(mde) or effect == 0:
            return None
        return max(1, int(math.ceil((mde / abs(effect)) ** 2)))


def _point_var(n_pre: int, n_post: int, horizon: int) -> float:
    """OLS variance factor of the ITS effect at ``horizon`` for a series of this shape."""
    t = np.arange(-n_pre, n_post, dtype=float)
    X = design_matrix(t)
    w = np.array([0.0, 0.0, 1.0, float(horizon)])
    return float(w @ np.linalg.solve(X.T @ X, w))


def impact_power(
    series: pd.DataFrame,
    council: str,
    *,
    outcomes: tuple[str, ...] = (
        "share_in_house_foster",
        "mean_weekly_cost",
        "weekly_spend",
        "mean_total_need",
    ),
    horizons: tuple[int, ...] = (12, 24),
    power: float = DEFAULT_POWER,
    alpha: float = 0.05,
    results: dict | None = None,
) -> PowerResult:
    """Minimum detectable effect of each design for ``council``, from its own series.

    Parameters
    ----------
    series : DataFrame
        From :func:`vc_eval.analysis.impact.council_series`.
    council : str
        An adopting council.
    outcomes, horizons : tuple
        What to power.
    power : float
        Chance of detecting the effect (0.8: 4 times in 5).
    results : dict, optional
        Already fitted results keyed by (design, outcome), reused.
    """
    results = results or {}
    rows = []
    for outcome in outcomes:
        for design in ("before/after", "comparison councils"):
            res = results.get((design, outcome))
            if res is None:
                try:
                    if design == "before/after":
                        res = its(series, council, outcome, horizons=horizons, alpha=alpha)
                    else:
                        res = council_did(series, council, outcome, horizons=horizons, alpha=alpha)
                except ValueError:
                    continue
            e = res.effects.reset_index(drop=True)
            for j, r in e.iterrows():
                if r["kind"] != "point" or int(r["horizon"]) not in horizons:
                    continue
                se = float(r["se"] if "se" in r else r["scale"])
                n_pl = int(res.n_placebo)
                crit = float(r["critical"])
                if np.isfinite(crit) and n_pl:
                    mde = mde_from_placebos(se, res.placebo_t[:, j], crit, power)
                    basis = "placebo councils"
                elif design == "before/after":
                    q = stats.t.ppf(1 - alpha / 2, max(1, res.n_pre + res.n_post - 4))
                    mde, basis = mde_normal(se, q, power), "own series only (optimistic)"
                else:
                    mde, basis = float("nan"), "too few comparison councils"
                rows.append(
                    {
                        "outcome": outcome,
                        "design": design,
                        "horizon": int(r["horizon"]),
                        "level": r["level"],
                        "mde": mde,
                        "basis": basis,
                        "n_placebo": n_pl,
                        "se": se,
                        "n_pre": getattr(res, "n_pre", np.nan),
                        "n_post": getattr(res, "n_post", np.nan),
                    }
                )
    table = pd.DataFrame(
        rows,
        columns=[
            "outcome",
            "design",
            "horizon",
            "level",
            "mde",
            "basis",
            "n_placebo",
            "se",
            "n_pre",
            "n_post",
        ],
    )
    cav = []
    if (table["basis"] == "own series only (optimistic)").any():
        cav.append(
            "Where there are too few comparison councils, the detectable effect uses the "
            "council's own series only and is optimistic: the true figure is likely larger."
        )
    cav.append(
        f"Detectable means found {inference.level_text(power)} of the time with an interval "
        "that excludes zero; a smaller true effect can be there and not be found."
    )
    return PowerResult(council=council, power=power, alpha=alpha, table=table, caveats=cav)
