"""One-council impact inference: achievable levels, placebo-in-space, power, words.

Exactness on hand-made panels, the rank rule's coverage on exchangeable
noise, the judgement words flipping with the data (effect on / off), and
the 3-council case giving no interval with the reason. Coverage over many
synthetic councils is measured in ``benchmarks/coverage_impact.py``.
"""

from __future__ import annotations

import ast
import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from vc_eval.analysis.impact import (  # noqa: E402
    council_did,
    council_series,
    impact_power,
    impact_result,
    impact_summary,
    inference,  # noqa: E402
    its,
)
from vc_eval.analysis.impact.power import mde_from_placebos  # noqa: E402
from vc_eval.analysis.impact.series import PERIOD, add_programme_timing  # noqa: E402
from vc_eval.analysis.impact.words import CANNOT_TELL, FELL, NO_CLEAR, ROSE, judge  # noqa: E402
from vc_eval.core.schema import Col  # noqa: E402
from vc_eval.synthetic.generator import BUNDLED_CONFIG, generate  # noqa: E402

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "vc_eval"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _panel(n_treated=1, n_never=20, effect=0.0, *, noise=0.3, n=48, start=24, seed=0):
    """Councils x months: council level + common wiggle + AR(1) noise (+ effect after start)."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2021-01-01", periods=n, freq="MS")
    common = np.sin(np.arange(n) / 4.0) + 0.02 * np.arange(n)
    rows, starts = [], {}
    names = [f"T{i}" for i in range(n_treated)] + [f"N{i:02d}" for i in range(n_never)]
    for i, c in enumerate(names):
        e = np.zeros(n)
        for t in range(1, n):
            e[t] = 0.6 * e[t - 1] + rng.normal(0, noise)
        y = 5.0 + 0.5 * i + common + e
        treated = c.startswith("T")
        if treated:
            y = y + effect * (np.arange(n) >= start)
        starts[c] = periods[start] if treated else pd.NaT
        rows.append(pd.DataFrame({Col.council: c, PERIOD: periods, "y": y, "placed": 100}))
    s = add_programme_timing(pd.concat(rows, ignore_index=True), pd.Series(starts), "MS")
    s.attrs["freq"] = "MS"
    return s


# --------------------------------------------------------------------------
# Achievable levels and the rank rule
# --------------------------------------------------------------------------


def test_achievable_level_and_placebos_needed():
    assert inference.placebos_needed(0.05) == 19
    assert inference.achievable_level(19) == pytest.approx(0.95)
    assert inference.achievable_level(40) == pytest.approx(0.95)
    assert inference.achievable_level(14) == pytest.approx(14 / 15)
    assert inference.achievable_level(0) == 0.0
    assert inference.smallest_p(1) == 0.5
    assert inference.level_text(14 / 15) == "93%"
    assert "No interval" in inference.why_no_interval(1)
    assert "93% intervals, not 95%" in inference.why_no_interval(14)
    assert inference.why_no_interval(25) == ""


def test_rank_interval_covers_at_its_level_on_exchangeable_noise():
    # A new draw and n placebos from the same law: the rank interval covers with
    # probability k / (n + 1) exactly (continuous law).
    rng = np.random.default_rng(3)
    for n in (9, 14, 30):
        draws = rng.standard_t(4, size=(4000, n + 1))
        crit = np.array([inference.rank_critical(d[1:]) for d in draws])
        cover = (np.abs(draws[:, 0]) <= crit).mean()
        k = inference.critical_rank(n)
        assert abs(cover - k / (n + 1)) < 0.02, (n, cover, k / (n + 1))


def test_judge_words():
    assert judge(1.0, 0.5, 1.5) == ROSE
    assert judge(-1.0, -1.5, -0.5) == FELL
    assert judge(0.1, -0.5, 0.7) == NO_CLEAR
    assert judge(0.1, np.nan, np.nan) == CANNOT_TELL


# --------------------------------------------------------------------------
# One council against comparison councils
# --------------------------------------------------------------------------


def test_council_did_exact_without_noise():
    s = _panel(effect=2.0, noise=0.0)
    r = council_did(s, "T0", "y", horizons=(12,))
    assert r.effect(12)["estimate"] == pytest.approx(2.0, abs=1e-9)
    assert r.effect(12, "average")["estimate"] == pytest.approx(2.0, abs=1e-9)
    assert r.n_placebo == 20 and r.level == pytest.approx(0.95)


def test_council_did_interval_inverts_the_test():
    s = _panel(effect=1.5, noise=0.3, seed=2)
    r = council_did(s, "T0", "y", horizons=(12,))
    e = r.effect(12)
    # At the interval's ends the council's studentised estimate equals the critical value.
    assert (e["upper"] - e["estimate"]) / e["scale"] == pytest.approx(e["critical"])
    assert e["level"] == pytest.approx(0.95) and e["lower"] > 0


def test_few_comparison_councils_give_no_interval():
    s = _panel(n_never=4, effect=1.0, seed=1)
    r = council_did(s, "T0", "y", horizons=(12,))
    assert np.isnan(r.effect(12)["lower"]) and r.level == 0.0
    assert r.summary().finding("did.y.12m").word == CANNOT_TELL
    assert any("No interval is shown" in c for c in r.caveats)
    i = its(s, "T0", "y", horizons=(12,))
    assert i.calibration == "insufficient" and np.isnan(i.effect(12)["upper"])
    assert i.summary().finding("its.y.12m").word == CANNOT_TELL


# --------------------------------------------------------------------------
# Words flip with the data
# --------------------------------------------------------------------------


@pytest.mark.parametrize("design", ["its", "did"])
def test_words_flip_with_the_effect(design):
    on = impact_summary(_panel(effect=8.0, seed=5), "T0", outcomes=("y",), horizons=(12,))
    down = impact_summary(_panel(effect=-8.0, seed=5), "T0", outcomes=("y",), horizons=(12,))
    off = impact_summary(_panel(effect=0.0, seed=5), "T0", outcomes=("y",), horizons=(12,))
    key = f"{design}.y.12m"
    assert on.finding(key).word == ROSE
    assert down.finding(key).word == FELL
    assert off.finding(key).word == NO_CLEAR
    assert "larger than chance" in on.finding(key).text
    assert "includes zero" in off.finding(key).text
    # Power comes before the estimates.
    keys = [f.key for f in on.findings]
    assert min(i for i, k in enumerate(keys) if k.startswith("power.")) < keys.index(key)


def test_summary_numbers_use_display_rules():
    sm = impact_summary(_panel(effect=3.0, seed=5), "T0", outcomes=("y",), horizons=(12,))
    t = sm.tables[1].frame
    assert set(t["Level"]) == {"95%"}
    for iv in t["Interval"]:
        lo, hi = iv.split(" to ")
        assert lo != hi
    assert "95% intervals" in sm.findings[0].text


# --------------------------------------------------------------------------
# Power
# --------------------------------------------------------------------------


def test_mde_from_normal_placebos_matches_the_formula():
    rng = np.random.default_rng(0)
    t = rng.standard_normal(20000)
    mde = mde_from_placebos(1.0, t, 1.96, power=0.8)
    assert mde == pytest.approx(1.96 + 0.8416, abs=0.05)


def test_power_result_answers_months_and_councils():
    s = _panel(effect=0.0, seed=7)
    p = impact_power(s, "T0", outcomes=("y",), horizons=(12,))
    mde = p.mde("y", "before/after", 12)
    assert np.isfinite(mde) and mde > 0
    assert p.councils_to_detect("y", mde) == 1
    assert p.councils_to_detect("y", mde / 2) == 4
    m_big = p.months_to_detect("y", 2 * mde)
    m_small = p.months_to_detect("y", 0.8 * mde)
    assert m_big is not None and (m_small is None or m_small > m_big)
    assert p.summary().tables[0].frame.shape[0] == 2
    assert p.plot().get_title()
    # An effect of the MDE is found about 80% of the time over fresh noise.
    found = 0
    for seed in range(20, 45):
        r = its(_panel(effect=mde, seed=seed), "T0", "y", horizons=(12,))
        found += r.effect(12)["lower"] > 0
    assert 0.5 <= found / 25 <= 1.0


# --------------------------------------------------------------------------
# Three councils (the bundled design): no interval, said why
# --------------------------------------------------------------------------


def test_three_councils_give_no_interval_and_say_why():
    ds = generate(BUNDLED_CONFIG)
    s = council_series(ds, progress=False)
    council = next(iter(ds.truth["true_effects"]))
    sm = impact_summary(s, council, dataset=ds)
    effects = sm.tables[1].frame
    captions = [t.caption for t in sm.tables]
    for check in ("By age group at entry", "By need band at entry", "Placebo start dates"):
        assert any(c.startswith(check) for c in captions), captions
    ages = next(t.frame for t in sm.tables if t.caption.startswith("By age group"))
    assert list(ages["Setting"]) == ["0-4", "5-9", "10-15", "16+"]
    assert (ages["Interval"] == "none").all()
    assert (effects["Interval"] == "none (too few comparison councils)").all()
    words = {f.word for f in sm.findings if f.key.startswith(("its.", "did."))}
    assert words == {CANNOT_TELL}
    assert "too few" in sm.findings[0].text and "95%" not in effects.to_string()
    assert any("No interval is shown" in c for c in sm.caveats)
    never = [c for c, v in ds.truth["councils"].items() if not v["programme_start"]][0]
    assert impact_summary(s, never).status == "insufficient"
    # Figures draw without intervals, through Result.plot (analysis never imports plots).
    full = impact_result(s, council, checks=None)
    assert full.summary().tables[1].frame.equals(effects)
    for design, outcome in full.figures_wanted():
        ax = full.plot(design=design, outcome=outcome)
        assert ax.get_title()
        plt.close(ax.figure)
    assert all(isinstance(v, float) for v in sm.headline.values())


def test_sensitivity_tables():
    from vc_eval.analysis.impact import sensitivity

    s = _panel(effect=3.0, seed=11)
    r = sensitivity(s, "T0", "y", horizon=12)
    t = r.tables
    assert len(t["leave one comparison council out"]) == 20
    assert list(t["other windows"]["setting"]) == [
        "6-month baseline",
        "12-month baseline",
        "18-month baseline",
        "24-month baseline",
    ]
    # Effects of about 3 against noise of about 0.4: every re-estimate finds it...
    assert (t["other windows"]["lower"] > 0).all()
    assert (t["leave one comparison council out"]["lower"] > 0).all()
    # ...and the fake starts before the real one find little (each is a 95%
    # test on pure noise, so either can reject by chance: the sizes are checked).
    assert (t["placebo start dates"]["estimate"].abs() < 1.5).all()
    sm = r.summary()
    assert sm.finding("sensitivity.other windows").word == "stable"
    assert len(sm.tables) == 3
    assert r.plot(check="other windows").get_title() == "Other windows"
    # An effect that began 6 months before the recorded start fails the placebo check.
    early = _panel(effect=3.0, start=18, seed=11)
    starts = early.drop_duplicates(Col.council).set_index(Col.council)[Col.programme_start]
    starts = starts.where(starts.isna(), pd.Timestamp("2023-01-01"))  # period 24
    early = add_programme_timing(early, starts, "MS")
    early.attrs["freq"] = "MS"
    bad = sensitivity(early, "T0", "y", horizon=12).summary()
    assert bad.finding("sensitivity.placebo start dates").word == "failed"


def test_analysis_never_imports_plots():
    for path in (SRC / "analysis" / "impact").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("vc_eval.plots"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("vc_eval.plots") for a in node.names), path
