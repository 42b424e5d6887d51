"""Every sentence and judgement word of the impact results, in one place.

Judgement words come from :func:`judge` only: a direction ("rose", "fell")
when the interval excludes zero, "no clear change" when it includes zero,
and "cannot tell" when the design cannot deliver an interval. Numbers are
formatted with :mod:`vc_eval.core.display`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vc_eval.analysis.impact import inference
from vc_eval.analysis.impact.text import DID_CAN, DID_CANNOT, ITS_CAN, ITS_CANNOT, label
from vc_eval.core import display
from vc_eval.core.summary import Finding, Summary, Table

#: Judgement words (tests flip the data and check these flip).
ROSE, FELL, NO_CLEAR, CANNOT_TELL = "rose", "fell", "no clear change", "cannot tell"


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def judge(estimate: float, lower: float, upper: float) -> str:
    """The one judgement rule: direction only when the interval excludes zero."""
    if not (_finite(lower) and _finite(upper)):
        return CANNOT_TELL
    if lower > 0:
        return ROSE
    if upper < 0:
        return FELL
    return NO_CLEAR


def value(outcome: str, x: float, *, signed: bool = False) -> str:
    """An effect or level in the outcome's units (shares in percentage points)."""
    if not _finite(x):
        return "unknown"
    x = float(x)
    sign = "+" if signed and x > 0 else ""
    if outcome.startswith("share_"):
        return f"{sign}{100 * x:.1f} pp" if signed else f"{100 * x:.1f}%"
    if "spend" in outcome or "cost" in outcome:
        return sign + display.money(x)
    return f"{sign}{x:,.2f}"


def size(outcome: str, x: float) -> str:
    """The size of an effect (no sign) in the outcome's units; shares in percentage points."""
    if outcome.startswith("share_") and _finite(x):
        return f"{100 * abs(float(x)):.1f} percentage points"
    return value(outcome, abs(float(x)) if _finite(x) else x)


def interval_text(outcome: str, lo: float, hi: float) -> str:
    """An interval in the outcome's units, never with two equal ends."""
    if outcome.startswith("share_"):
        return display.interval(100 * lo, 100 * hi, unit=" pp", decimals=1)
    if "spend" in outcome or "cost" in outcome:
        return display.interval(lo, hi, unit="£", decimals=0)
    return display.interval(lo, hi, decimals=2)


def _effect_sentence(design: str, outcome: str, r: pd.Series, *, against: str) -> Finding:
    word = judge(r["estimate"], r["lower"], r["upper"])
    what = label(outcome)
    h = int(r["horizon"])
    beyond = "" if bool(r.get("within_data", True)) else " (beyond the data: extrapolated)"
    est = value(outcome, r["estimate"], signed=True)
    if word == CANNOT_TELL:
        tail = "; the design cannot say whether this is more than chance (see below)."
    else:
        lvl = inference.level_text(r["level"])
        iv = interval_text(outcome, r["lower"], r["upper"])
        verdict = {
            ROSE: "an increase larger than chance alone would give",
            FELL: "a fall larger than chance alone would give",
            NO_CLEAR: "no clear change: the interval includes zero",
        }[word]
        tail = f" ({lvl} interval {iv}): {verdict}."
    text = f"{design}: at {h} months{beyond}, {what} was {est} {against}{tail}"
    return Finding(f"{design_key(design)}.{outcome}.{h}m", text, word=word)


def design_key(design: str) -> str:
    return {"Before/after": "its", "Comparison councils": "did", "Pooled": "pooled"}.get(
        design, design.lower()
    )


# --------------------------------------------------------------------------
# Before/after (ITS)
# --------------------------------------------------------------------------


def its_findings(res) -> list[Finding]:
    out = [
        Finding(
            f"its.{res.outcome}.design",
            f"{res.council}: {label(res.outcome)} before and after the programme started on "
            f"{res.start:%-d %B %Y} ({res.n_pre} periods before, {res.n_post} after).",
        )
    ]
    e = res.effects[res.effects["kind"] == "point"]
    for _, r in e.iterrows():
        out.append(
            _effect_sentence(
                "Before/after", res.outcome, r, against="against the earlier trend carried on"
            )
        )
    return out


def its_caveats(res) -> list[str]:
    cav = list(ITS_CANNOT)
    how = "Newey-West after prewhitening" if res.errors == "prewhitened" else "Newey-West"
    if res.calibration == "none":
        cav.append(
            f"Intervals are uncalibrated t intervals ({how}, {res.maxlags} lags): on synthetic "
            "councils such intervals covered the true effect far less often than their label "
            "says (benchmarks/impact.md); read them as too narrow."
        )
    else:
        why = inference.why_no_interval(res.n_placebo, res.alpha)
        if why:
            cav.append(why)
        if res.calibration == "placebo":
            cav.append(
                f"Errors allow for autocorrelation ({how}, {res.maxlags} lags); how far the "
                f"estimate moves by chance is measured on {res.n_placebo} councils that never "
                "adopted, given the same start date (placebo councils)."
            )
    if res.n_pre < 12:
        cav.append(
            f"Only {res.n_pre} periods before the start: the earlier trend is poorly pinned down."
        )
    kids = np.nanmedian(res.data["children"].to_numpy(dtype=float))
    if np.isfinite(kids) and kids < 100:
        cav.append(
            "Small numbers (under 100 children a period): values move a lot from one period "
            "to the next by chance."
        )
    if not res.effects["within_data"].all():
        cav.append(
            "Effects at horizons beyond the last period are extrapolations of the fitted "
            "lines, not observations."
        )
    return cav


def effects_table(results: list, *, caption: str) -> Table:
    """One table of effects (point, per horizon) from ITS / council DiD results."""
    rows = []
    for res in results:
        design = "Before/after" if type(res).__name__ == "ITSResult" else "Comparison councils"
        for _, r in res.effects[res.effects["kind"] == "point"].iterrows():
            has = _finite(r["lower"]) and _finite(r["upper"])
            rows.append(
                {
                    "Outcome": label(res.outcome).capitalize(),
                    "Design": design,
                    "Months after start": str(int(r["horizon"])),
                    "Effect": value(res.outcome, r["estimate"], signed=True),
                    "Interval": interval_text(res.outcome, r["lower"], r["upper"])
                    if has
                    else "none (too few comparison councils)",
                    "Level": inference.level_text(r["level"]) if has else "",
                    "Judgement": judge(r["estimate"], r["lower"], r["upper"]),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "Outcome",
            "Design",
            "Months after start",
            "Effect",
            "Interval",
            "Level",
            "Judgement",
        ],
    )
    kinds = {c: "label" for c in ("Outcome", "Design", "Months after start")}
    kinds |= {"Effect": "stat", "Interval": "stat", "Level": "text", "Judgement": "text"}
    return Table(caption, frame, kinds, note="pp = percentage points.")


def its_summary(res) -> Summary:
    fs = its_findings(res)
    return Summary(
        f"Before/after: {label(res.outcome)}, {res.council}",
        findings=[*fs, Finding("its.can", ITS_CAN)],
        tables=[effects_table([res], caption="Estimated programme effect (before/after)")],
        caveats=its_caveats(res),
    )


# --------------------------------------------------------------------------
# One council against comparison councils
# --------------------------------------------------------------------------


def council_did_findings(res) -> list[Finding]:
    n = len(res.comparisons)
    out = [
        Finding(
            f"did.{res.outcome}.design",
            f"{res.council}: {label(res.outcome)} compared with the mean of "
            f"{display.plural(n, 'council')} that had not adopted, in the {res.pre} months "
            f"before and the months after the start on {res.start:%-d %B %Y}.",
        )
    ]
    for _, r in res.effects[res.effects["kind"] == "point"].iterrows():
        out.append(
            _effect_sentence(
                "Comparison councils", res.outcome, r, against="against the comparison councils"
            )
        )
    return out


def council_did_caveats(res) -> list[str]:
    cav = list(DID_CANNOT[:1]) + [DID_CANNOT[2]]
    # With k >= 2 comparison councils there are k placebos; with one there are none
    # but the reason is the same, so it is worded from the comparisons (and matches
    # the before/after design's caveat rather than contradicting it).
    why = inference.why_no_interval(len(res.comparisons), res.alpha)
    if why:
        cav.append(why)
    cav.append(
        "Chance is measured by treating each comparison council in turn as if it had "
        "started on the same date (placebo councils); the interval is valid if, without the "
        "programme, this council would have differed from the others no more than they "
        "differ from each other."
    )
    return cav


def council_did_summary(res) -> Summary:
    return Summary(
        f"Comparison councils: {label(res.outcome)}, {res.council}",
        findings=[*council_did_findings(res), Finding("did.can", DID_CAN)],
        tables=[effects_table([res], caption="Estimated programme effect (comparison councils)")],
        caveats=council_did_caveats(res),
    )


# --------------------------------------------------------------------------
# Power
# --------------------------------------------------------------------------


def power_findings(res) -> list[Finding]:
    out = []
    t = res.table[res.table["horizon"] == res.table["horizon"].min()]
    for _, r in t.iterrows():
        what = label(r["outcome"])
        key = f"power.{design_key_lower(r['design'])}.{r['outcome']}.{int(r['horizon'])}m"
        if not _finite(r["mde"]):
            out.append(
                Finding(
                    key,
                    f"{r['design'].capitalize()}, {what}: the smallest detectable effect cannot "
                    f"be worked out ({r['basis']}).",
                    word=CANNOT_TELL,
                )
            )
            continue
        mde = size(r["outcome"], r["mde"])
        lvl = f" with a {inference.level_text(r['level'])} interval" if _finite(r["level"]) else ""
        opt = (
            " (an optimistic figure: too few comparison councils to measure chance)"
            if "optimistic" in r["basis"]
            else ""
        )
        out.append(
            Finding(
                key,
                f"{r['design'].capitalize()}, {what}: a true effect at {int(r['horizon'])} months "
                f"would be found {inference.level_text(res.power)} of the time{lvl} only if it "
                f"were at least {mde} either way{opt}.",
            )
        )
    return out


def design_key_lower(design: str) -> str:
    return "its" if design.startswith("before") else "did"


def power_table(res) -> Table:
    t = res.table
    frame = pd.DataFrame(
        {
            "Outcome": [label(o).capitalize() for o in t["outcome"]],
            "Design": t["design"].str.capitalize(),
            "Months after start": t["horizon"].astype(int).astype(str),
            "Smallest detectable effect": [
                size(o, m) if _finite(m) else "cannot tell"
                for o, m in zip(t["outcome"], t["mde"], strict=True)
            ],
            "Basis": t["basis"],
        }
    )
    kinds = {"Outcome": "label", "Design": "label", "Months after start": "label"}
    kinds |= {"Smallest detectable effect": "stat", "Basis": "text"}
    return Table(
        f"What this council's data could detect ({inference.level_text(res.power)} of the time)",
        frame,
        kinds,
    )


def power_summary(res) -> Summary:
    return Summary(
        f"What the data could detect: {res.council}",
        findings=power_findings(res),
        tables=[power_table(res)],
        caveats=list(res.caveats),
    )


# --------------------------------------------------------------------------
# Pooled comparison design (stacked event study)
# --------------------------------------------------------------------------


def event_study_summary(res) -> Summary:
    """The pooled event study's statements as findings, each horizon with its word."""
    findings = [Finding(f"pooled.{res.outcome}.{i}", s) for i, s in enumerate(res.statements)]
    for _, r in res.effects[res.effects["kind"] == "point"].iterrows():
        w = judge(r["estimate"], r["lower"], r["upper"])
        findings.append(
            Finding(
                f"pooled.{res.outcome}.{int(r['horizon'])}m",
                f"Comparison councils (all adopting councils): at {int(r['horizon'])} months, "
                f"{label(res.outcome)}: {w}.",
                word=w,
            )
        )
    return Summary(f"Comparison councils: {label(res.outcome)}", findings, caveats=res.caveats)
