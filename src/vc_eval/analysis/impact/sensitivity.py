"""Heterogeneity and sensitivity of one council's comparison-council estimate.

Each check re-runs :func:`vc_eval.analysis.impact.council_did` (one council
against comparison councils, placebo-in-space inference) and gives one
table:

* **by age group** (age at entry to care: 0-4, 5-9, 10-15, 16+) and **by need
  band at entry** (first total need score, in thirds of all children's):
  the series rebuilt from those children only;
* **placebo start dates**: the start moved 6 and 12 months earlier, with the
  effect read before the real start (so the truth is zero);
* **leave one comparison council out**: the estimate without each one;
* **other windows**: baselines of 6, 12, 18 and 24 months before the start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vc_eval.analysis.impact.council_did import council_did, council_did_leave_one_out
from vc_eval.analysis.impact.series import COHORT, add_programme_timing, council_series
from vc_eval.analysis.impact.words import judge
from vc_eval.core.dataset import Dataset, total_need
from vc_eval.core.schema import DAYS_PER_YEAR, Col
from vc_eval.core.summary import Finding, Result, Summary, Table

#: Age groups at entry to care: (lowest age, age above the group, label).
AGE_GROUPS: tuple[tuple[float, float, str], ...] = (
    (0.0, 5.0, "0-4"),
    (5.0, 10.0, "5-9"),
    (10.0, 16.0, "10-15"),
    (16.0, 99.0, "16+"),
)
NEED_BANDS: tuple[str, ...] = ("lower", "middle", "higher")
COLUMNS = ["check", "setting", "horizon", "estimate", "lower", "upper", "level", "p", "note"]


@dataclass
class SensitivityResult(Result):
    """Tables of re-estimates of one council's effect under other choices.

    Attributes
    ----------
    tables : dict of DataFrame
        check name -> rows with setting, horizon, estimate, lower, upper,
        level, p, note (why a row has no estimate).
    """

    council: str
    outcome: str
    tables: dict[str, pd.DataFrame]
    caveats: list[str] = field(default_factory=list)

    _plot = "impact:plot_sensitivity"

    def to_frame(self) -> pd.DataFrame:
        return pd.concat(self.tables.values(), ignore_index=True) if self.tables else pd.DataFrame()

    def summary(self) -> Summary:
        from vc_eval.analysis.impact.words import interval_text, label, value

        findings, tables = [], []
        for name, t in self.tables.items():
            ok = t[np.isfinite(t["estimate"])]
            words = [judge(r.estimate, r.lower, r.upper) for r in ok.itertuples()]
            clear = sum(w in ("rose", "fell") for w in words)
            judged = sum(w != "cannot tell" for w in words)
            if not len(ok):
                word, text = "cannot tell", f"{name.capitalize()}: no estimate could be made."
            elif not judged:
                lo = value(self.outcome, ok["estimate"].min(), signed=True)
                hi = value(self.outcome, ok["estimate"].max(), signed=True)
                word = "cannot tell"
                text = (
                    f"{name.capitalize()}: {_spread(lo, hi)}; with no interval "
                    "(too few comparison councils) this check cannot tell chance from a change."
                )
            elif name == "placebo start dates":
                word = "passed" if clear == 0 else "failed"
                text = (
                    f"Placebo start dates: {clear} of {judged} fake starts before the real one "
                    "show a change larger than chance"
                    + (" (as they should not)." if clear == 0 else ": the design is doubtful.")
                )
            else:
                lo = value(self.outcome, ok["estimate"].min(), signed=True)
                hi = value(self.outcome, ok["estimate"].max(), signed=True)
                word = "stable" if clear in (0, len(ok)) else "mixed"
                text = (
                    f"{name.capitalize()}: {_spread(lo, hi)}; {clear} of "
                    f"{judged} show a change larger than chance."
                )
            findings.append(Finding(f"sensitivity.{name}", text, word=word))
            frame = pd.DataFrame(
                {
                    "Setting": t["setting"],
                    "Months after start": t["horizon"].astype(str),
                    "Effect": [value(self.outcome, x, signed=True) for x in t["estimate"]],
                    "Interval": [
                        interval_text(self.outcome, a, b)
                        if np.isfinite(a) and np.isfinite(b)
                        else "none"
                        for a, b in zip(t["lower"], t["upper"], strict=True)
                    ],
                    "Note": t["note"],
                }
            )
            tables.append(
                Table(
                    f"{name.capitalize()}: {label(self.outcome)}",
                    frame,
                    {
                        "Setting": "label",
                        "Months after start": "label",
                        "Effect": "stat",
                        "Interval": "stat",
                        "Note": "text",
                    },
                )
            )
        return Summary(
            f"Sensitivity: {label(self.outcome)}, {self.council}",
            findings,
            tables,
            caveats=self.caveats,
        )


def _spread(lo: str, hi: str) -> str:
    return f"the estimate is {lo}" if lo == hi else f"estimates range from {lo} to {hi}"


def _row(check: str, setting: str, horizon: int, r=None, note: str = "") -> dict:
    if r is None:
        return dict.fromkeys(COLUMNS, np.nan) | {
            "check": check,
            "setting": setting,
            "horizon": horizon,
            "note": note,
        }
    e = r.effect(horizon)
    return {
        "check": check,
        "setting": setting,
        "horizon": horizon,
        "estimate": float(e["estimate"]),
        "lower": float(e["lower"]),
        "upper": float(e["upper"]),
        "level": float(e["level"]),
        "p": float(e["p"]),
        "note": note,
    }


def _try(check, setting, horizon, fn) -> dict:
    try:
        return _row(check, setting, horizon, fn())
    except (ValueError, KeyError) as err:
        return _row(check, setting, horizon, note=str(err).split(": ")[-1])


def sensitivity(
    series: pd.DataFrame,
    council: str,
    outcome: str,
    *,
    horizon: int = 12,
    shifts: tuple[int, ...] = (6, 12),
    windows: tuple[int, ...] = (6, 12, 18, 24),
    placebo_pre: int = 6,
) -> SensitivityResult:
    """Placebo start dates, leave-one-council-out and other baseline windows.

    Parameters
    ----------
    series : DataFrame
        :func:`vc_eval.analysis.impact.council_series` of all councils.
    council, outcome : str
    horizon : int
        Months after the start at which the effect is read.
    shifts : tuple of int
        Fake starts this many months before the real one; the effect is read
        ``shift - 1`` months after the fake start, before the real start.
    windows : tuple of int
        Baseline lengths (months before the start).
    placebo_pre : int
        Baseline before each fake start (short, so that early starts fit).
    """
    own = series[series[Col.council] == council]
    if own.empty or own[COHORT].isna().all():
        raise ValueError(f"{council!r} is not an adopting council in the series")
    freq = series.attrs.get("freq", "MS")
    start = pd.Timestamp(own[Col.programme_start].iloc[0])
    placebo = []
    for k in shifts:
        fake = start - pd.DateOffset(months=k)
        starts = series.drop_duplicates(Col.council).set_index(Col.council)[Col.programme_start]
        starts = starts.copy()
        starts[council] = fake
        moved = add_programme_timing(series, starts, freq)
        moved.attrs = dict(series.attrs)
        h = k - 1
        placebo.append(
            _try(
                "placebo start dates",
                f"{k} months early ({fake:%b %Y})",
                h,
                lambda m=moved, h=h: council_did(
                    m, council, outcome, horizons=(h,), pre=placebo_pre
                ),
            )
        )
    base = council_did(series, council, outcome, horizons=(horizon,))
    # the series reshaped once, each comparison council dropped from it in turn
    loo = [
        _try("leave one comparison council out", f"without {c}", horizon, run)
        for c, run in council_did_leave_one_out(
            series, council, outcome, base.comparisons, horizons=(horizon,)
        )
    ]
    win = [
        _try(
            "other windows",
            f"{w}-month baseline",
            horizon,
            lambda w=w: council_did(series, council, outcome, horizons=(horizon,), pre=w),
        )
        for w in windows
    ]
    tables = {
        "placebo start dates": pd.DataFrame(placebo, columns=COLUMNS),
        "leave one comparison council out": pd.DataFrame(loo, columns=COLUMNS),
        "other windows": pd.DataFrame(win, columns=COLUMNS),
    }
    return SensitivityResult(
        council,
        outcome,
        tables,
        caveats=[
            "Each row re-runs the comparison-council design; rows are not independent "
            "checks, and with many rows one can show a change by chance."
        ],
    )


def child_groups(dataset: Dataset, by: str) -> pd.Series:
    """Each child's group: ``"age"`` at entry to care, or ``"need"`` band at entry.

    Need bands are thirds of every child's first total need score in the
    data; children never assessed have no band.
    """
    kids = dataset.children.set_index(Col.child_id)
    if by == "age":
        age = (kids[Col.entered_care] - kids[Col.date_of_birth]).dt.days / DAYS_PER_YEAR
        out = pd.Series(pd.NA, index=kids.index, dtype="object")
        for lo, hi, lab in AGE_GROUPS:
            out[(age >= lo) & (age < hi)] = lab
        return out
    if by == "need":
        tn = total_need(dataset.assessments, dataset.framework)
        first = tn.sort_values(Col.assessment_date).groupby(Col.child_id)[Col.score].first()
        cuts = first.quantile([1 / 3, 2 / 3]).to_numpy()
        band = np.where(first < cuts[0], 0, np.where(first < cuts[1], 1, 2))
        return pd.Series(np.array(NEED_BANDS, dtype=object)[band], index=first.index)
    raise ValueError("by must be 'age' or 'need'")


def group_series(dataset: Dataset, by: str) -> dict[str, pd.DataFrame | str]:
    """Council series rebuilt from the children of each age group or need band at entry.

    Parameters
    ----------
    dataset : Dataset
        Every council (the report's council and its comparisons).
    by : {"age", "need"}

    Returns
    -------
    dict
        Group label -> its :func:`~vc_eval.analysis.impact.council_series`, or
        the reason it could not be built. They do not depend on which council
        a report is about, so a batch of reports can build them once and give
        them to :func:`heterogeneity` (``series``).
    """
    groups = child_groups(dataset, by)
    out: dict[str, pd.DataFrame | str] = {}
    for lab in _labels(by):
        sub = dataset.only_children(groups.index[groups == lab])
        try:
            out[lab] = council_series(sub, progress=False)
        except ValueError as err:
            out[lab] = str(err)
    return out


def _labels(by: str) -> list[str]:
    return [g[2] for g in AGE_GROUPS] if by == "age" else list(NEED_BANDS)


def heterogeneity(
    dataset: Dataset | None,
    council: str,
    outcome: str,
    *,
    by: str = "age",
    horizon: int = 12,
    series: Mapping[str, pd.DataFrame | str] | None = None,
) -> SensitivityResult:
    """The council's effect among children of each age group or need band at entry.

    The council series is rebuilt from the group's children only (in every
    council; :func:`group_series`, or ``series`` when already built from the
    same data), and :func:`council_did` run on it.
    """
    if series is None:
        if dataset is None:
            raise ValueError("heterogeneity needs the dataset or its group series")
        series = group_series(dataset, by)
    name = "by age group at entry" if by == "age" else "by need band at entry"
    rows = []
    for lab in _labels(by):
        s = series[lab]
        if isinstance(s, str):
            rows.append(_row(name, lab, horizon, note=s))
            continue
        rows.append(
            _try(
                name,
                lab,
                horizon,
                lambda s=s: council_did(s, council, outcome, horizons=(horizon,)),
            )
        )
    return SensitivityResult(
        council,
        outcome,
        {name: pd.DataFrame(rows, columns=COLUMNS)},
        caveats=[
            "Groups are by age or need at entry to care, so a child stays in one group; "
            "small groups give wide intervals or none."
        ],
    )
