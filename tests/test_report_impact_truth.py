"""The bundled report's impact figures against each council's truth (issue 12).

Every per-council impact interval the report shows must contain that council's
true effect from ``truth.json``; where the design cannot deliver an interval,
none is shown and the section says why, in plain words.
"""

from __future__ import annotations

import numpy as np
import pytest

from vc_eval.analysis.impact import impact_result, true_effect
from vc_eval.analysis.impact.section import HORIZONS, IMPACT_OUTCOMES
from vc_eval.analysis.impact.series import council_series

# Phrases the impact section uses when a design gives no interval (checked below
# against the section's own words, so a silent gap fails).
NO_INTERVAL_REASONS = ("no interval is given", "No interval is shown")


@pytest.fixture(scope="module")
def bundled_impact(bundled):
    series = council_series(bundled)
    return {c: impact_result(series, c, dataset=bundled) for c in bundled.truth["true_effects"]}


def test_every_adopting_council_is_reported(bundled, bundled_impact):
    assert len(bundled_impact) >= 1
    for council, res in bundled_impact.items():
        shown = res.to_frame()
        assert set(shown["outcome"]) == set(IMPACT_OUTCOMES), council


def test_intervals_contain_the_councils_truth_or_are_withheld_with_a_reason(
    bundled, bundled_impact
):
    checked = withheld = 0
    for council, res in bundled_impact.items():
        shown = res.to_frame()
        points = shown[(shown["kind"] == "point") & shown["horizon"].isin(HORIZONS)]
        text = " ".join([f.text for f in res.summary().findings] + list(res.summary().caveats))
        for _, row in points.iterrows():
            try:
                truth = true_effect(
                    bundled.truth, row["outcome"], int(row["horizon"]), councils=[council]
                )
            except KeyError:  # the horizon lies past the data: nothing to check it against
                truth = None
            if np.isnan(row["lower"]) or np.isnan(row["upper"]):
                withheld += 1
                assert any(r in text for r in NO_INTERVAL_REASONS), (council, row["design"])
                continue
            checked += 1
            assert truth is not None, (council, row["design"], row["outcome"], row["horizon"])
            assert row["lower"] <= truth <= row["upper"], (
                council,
                row["design"],
                row["outcome"],
                row["horizon"],
                truth,
                row["lower"],
                row["upper"],
            )
    assert checked + withheld >= len(bundled_impact) * len(IMPACT_OUTCOMES) * 2
