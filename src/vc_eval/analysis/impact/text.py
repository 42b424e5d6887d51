"""Plain-language wording the impact results carry for reports."""

from __future__ import annotations

import math

ITS_CAN = (
    "Before/after (interrupted time series) compares the council with its own trend before "
    "the programme: it shows whether the series changed level or direction when the "
    "programme started."
)
ITS_CANNOT = (
    "It is observational: anything else that changed at the same time (national policy, "
    "prices, staffing, a new leadership team, a change in recording) is mixed in with the "
    "programme's effect.",
    "It assumes the trend before the programme would have carried on in a straight line; "
    "the further from the start, the more that assumption carries the estimate.",
)
DID_CAN = (
    "The comparison-council design (event study / difference-in-differences) compares the "
    "change in adopting councils with the change over the same months in councils that had "
    "not adopted (never, or not yet): national changes that hit all councils alike cancel "
    "out. Councils that had already adopted are never used as comparisons."
)
DID_CANNOT = (
    "It is observational: councils chose whether and when to adopt, so a council that adopted "
    "because it expected things to change (or while making other changes) can bias the "
    "estimate. The check of trends before adoption can reveal some of this, not all.",
    "It assumes adopting and comparison councils would have moved in parallel without the "
    "programme; it cannot show what happened in any single council.",
    "Placements in a shared market (the same agencies and homes) can affect comparison "
    "councils too, which would bias the difference.",
)
SAVINGS_CANNOT = (
    "Savings are modelled differences from an estimated counterfactual, not money the council "
    "has banked; they inherit every assumption of the design they come from.",
    "The split into placement mix, prices and number of children depends on the prices used to "
    "value the mix (stated above); a different base gives a different split of the same total.",
)


_LABELS = {
    "children": "children in care",
    "placed": "children placed",
    "weekly_spend": "total weekly spend on placements",
    "mean_weekly_cost": "mean weekly cost per child placed",
    "moves": "placement moves",
    "moves_per_100": "placement moves per 100 children",
    "mean_total_need": "mean total need",
    "need_change_6m": "change in total need per 6 months",
    "spend_volume": "spend: number of children",
    "spend_mix": "spend: placement mix",
    "spend_price": "spend: prices",
}


def label(outcome: str) -> str:
    """Plain-language name of a series column."""
    from vc_eval.core.schema import OUTCOME_MEASURES, PLACEMENT_LABELS

    if outcome in _LABELS:
        return _LABELS[outcome]
    for prefix, what in (
        ("share_", "share of children in "),
        ("n_", "children in "),
        ("spend_", "weekly spend on "),
    ):
        if outcome.startswith(prefix) and outcome[len(prefix) :] in PLACEMENT_LABELS:
            name = PLACEMENT_LABELS[outcome[len(prefix) :]]
            keep = len(name) > 1 and name[1].isupper()  # an acronym such as IFA
            return what + (name if keep else name[0].lower() + name[1:])
    if outcome.startswith("outcome_"):
        m = outcome[len("outcome_") :]
        return OUTCOME_MEASURES.get(m, m.replace("_", " ")).split(",")[0]
    return outcome.replace("_", " ")


def is_share(outcome: str) -> bool:
    return outcome.startswith("share_")


def is_money(outcome: str) -> bool:
    return "spend" in outcome or "cost" in outcome


def fmt_value(outcome: str, value: float, *, signed: bool = False) -> str:
    """Format an effect or level in the units of ``outcome``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if signed and value > 0 else ""
    if is_share(outcome):
        return f"{sign}{100 * value:.1f} percentage points" if signed else f"{100 * value:.1f}"
    if is_money(outcome):
        neg = "-" if value < 0 else sign
        return f"{neg}£{abs(value):,.0f}"
    return f"{sign}{value:,.2f}"


def fmt_gbp(value: float) -> str:
    """Money in pounds, millions above a million."""
    if not math.isfinite(value):
        return "n/a"
    neg = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e6:
        return f"{neg}£{v / 1e6:,.2f}m"
    return f"{neg}£{v:,.0f}"
