"""Sufficiency projections: fallback, coverage, words that follow the numbers, inputs, CLI."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from vc_eval.analysis import sufficiency as S
from vc_eval.core.schema import ASSESSMENTS, PLACEMENT_TYPES, Col, ValidationError
from vc_eval.synthetic.generator import ProgrammeEffects, SynthConfig, generate


@pytest.fixture(scope="module")
def steady():
    """One council, no programme: nothing changes after any origin."""
    cfg = SynthConfig(
        councils=1,
        seed=4242,
        sizes=(260,),
        adopters=(False,),
        programme=ProgrammeEffects.none(),
        window_start="2019-04-01",  # four years of history before the origin
    )
    return generate(cfg)


@pytest.fixture(scope="module")
def model(steady):
    return S.estimate(steady, origin="2023-03-31")


def _no_scores(ds):
    tables = dict(ds.tables)
    tables[ASSESSMENTS] = ds.assessments.iloc[0:0]
    return type(ds)(tables, metadata=ds.metadata, framework=ds.framework)


def test_need_model_by_default_with_flow_baseline(steady):
    res = S.sufficiency(steady, years=1, n_sims=30)
    assert res.model == S.NEED_MODEL and res.fallback is None
    assert res.baseline is not None and res.baseline.model == S.FLOW_MODEL
    assert res.children.shape == (30, 5, len(PLACEMENT_TYPES), 4)
    # the origin is the population as it is (by type), the same in every simulation;
    # only its split by need band varies (need is latent, drawn given the scores)
    by_type = res.children[:, 0].sum(axis=-1)
    assert (by_type == by_type[0]).all()
    assert "flow model" in res.summary().finding("sufficiency.baseline").text.lower()


def test_fallback_to_flow_without_need_scores(steady):
    res = S.sufficiency(_no_scores(steady), years=1, n_sims=30)
    assert res.model == S.FLOW_MODEL and res.baseline is None
    assert "no need scores" in res.fallback
    assert res.bands == ["all"]
    assert "no need scores" in res.summary().finding("sufficiency.fallback").text
    with pytest.raises(ValueError, match="no need scores"):
        S.estimate(_no_scores(steady), kind=S.NEED_MODEL)


def test_same_seed_same_numbers(model):
    a = S.project(model, years=1, n_sims=20, seed=3)
    b = S.project(model, years=1, n_sims=20, seed=3)
    c = S.project(model, years=1, n_sims=20, seed=4)
    assert np.array_equal(a.children, b.children) and np.array_equal(a.spend, b.spend)
    assert not np.array_equal(a.children, c.children)


def test_backtest_intervals_cover_actual_counts(steady):
    """90% intervals cover the generated counts (the benchmark measures this over seeds)."""
    bt = S.backtest(steady, origin="2023-03-31", years=2, n_sims=60, seed=5)
    assert set(bt["model"]) == {S.NEED_MODEL, S.FLOW_MODEL}
    assert bt["actual"].notna().all()
    cov = bt.groupby("model")["covered"].mean()
    assert (cov >= 0.75).all(), cov
    total = bt[(bt["placement_type"] == "total") & (bt["model"] == S.NEED_MODEL)]
    assert (total["error"].abs() / total["actual"]).mean() < 0.15


def test_as_of_hides_the_future(steady):
    past = S.as_of(steady, "2023-03-31")
    d = pd.Timestamp("2023-03-31")
    assert past.children[Col.entered_care].max() <= d
    assert (past.children[Col.left_care].dropna() <= d).all()
    assert past.assessments[Col.assessment_date].max() <= d
    assert (past.placements[Col.end_date].dropna() <= d).all()
    assert len(steady.children) > len(past.children)  # the input is untouched


def test_words_follow_the_numbers(model):
    more = replace(model, n_entrants=model.n_entrants * 4)
    none = replace(model, n_entrants=0, entry_age=model.entry_age[:0])
    up = S.project(more, years=2, n_sims=30).summary().finding("sufficiency.children")
    down = S.project(none, years=2, n_sims=30).summary().finding("sufficiency.children")
    assert up.word == "rise" and "rise" in up.text
    assert down.word == "fall" and "fall" in down.text
    assert {c.universe for c in up.counts} == {
        S.UNIVERSE_ORIGIN,
        S.projected_universe(S.NEED_MODEL),
    }


def test_supply_gap_words(model):
    supply = pd.DataFrame(
        {Col.placement_type: ["in_house_foster", "ifa_foster"], "places": [0, 10_000]}
    )
    res = S.project(model, years=1, n_sims=30, supply=supply)
    s = res.summary()
    assert s.finding("sufficiency.gap.in_house_foster").word == "short"
    assert s.finding("sufficiency.gap.ifa_foster").word == "spare"
    gap = res.gap()
    assert set(gap[Col.placement_type]) == {"in_house_foster", "ifa_foster"}
    assert (gap["lower"] <= gap["mean"]).all() and (gap["mean"] <= gap["upper"]).all()


def test_target_mix_moves_new_placements(model):
    current = S.project(model, years=3, n_sims=40, seed=2)
    mix = pd.DataFrame(
        {Col.placement_type: ["in_house_foster", "kinship", "ifa_foster"], "share": [6, 2, 2]}
    )
    target = S.project(model, years=3, n_sims=40, seed=2, target_mix=mix)
    inh = PLACEMENT_TYPES.index("in_house_foster")
    ch = PLACEMENT_TYPES.index("childrens_home")
    end = -1
    assert (
        target.children[:, end, inh].sum(-1).mean() > current.children[:, end, inh].sum(-1).mean()
    )
    assert target.children[:, end, ch].sum(-1).mean() < current.children[:, end, ch].sum(-1).mean()
    # shares per need band: bands not named keep the current mix
    by_band = mix.assign(need_band="3")
    tilt = S._mix_tilt(model, S.check_target_mix(by_band, bands=model.bands))
    assert np.allclose(tilt[[0, 1, 3]], 1.0) and not np.allclose(tilt[2], 1.0)


def test_bad_tables_name_row_and_column():
    with pytest.raises(ValidationError) as err:
        S.check_supply(
            pd.DataFrame({Col.placement_type: ["in_house_foster", "castle"], "places": [3, -1]}),
            source="supply.csv",
        )
    text = str(err.value)
    assert "supply.csv, row 2, column 'placement_type'" in text
    assert "supply.csv, row 2, column 'places'" in text
    with pytest.raises(ValidationError, match="required column is missing"):
        S.check_target_mix(pd.DataFrame({"type": ["kinship"], "share": [1]}))
    with pytest.raises(ValidationError, match="not a band"):
        S.check_target_mix(
            pd.DataFrame({Col.placement_type: ["kinship"], "share": [1], "need_band": [9]}),
            bands=["1", "2", "3", "4"],
        )


def test_frame_and_figures(model):
    import matplotlib.pyplot as plt

    from vc_eval.plots.sufficiency import plot_spend

    res = S.project(model, years=1, n_sims=20)
    f = res.to_frame()
    assert set(f["measure"]) == {"children", "weekly_spend"}
    assert (f["lower"] <= f["mean"] + 1e-9).all() and (f["mean"] <= f["upper"] + 1e-9).all()
    assert res.plot().get_ylabel() == "Children in care"
    _, ax = plt.subplots()
    assert plot_spend(res, ax=ax) is ax
    with pytest.raises(ValueError, match="1 to 5"):
        S.project(model, years=6)


def test_cli(bundled_dir, tmp_path):
    from vc_eval.cli import main

    supply = tmp_path / "supply.csv"
    supply.write_text("placement_type,places\nin_house_foster,30\n")
    out = tmp_path / "out"
    council = "Plovercombe"
    args = ["sufficiency", "--data", str(bundled_dir), "--council", council, "--years", "1"]
    assert main([*args, "--sims", "20", "--supply", str(supply), "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"projection.csv", "gap.csv", "summary.md", "children.png", "spend.png"} <= names
    bad = tmp_path / "bad.csv"
    bad.write_text("placement_type,places\nmansion,3\n")
    out2 = tmp_path / "out2"
    assert main([*args, "--sims", "20", "--supply", str(bad), "--out", str(out2)]) == 2
    assert not out2.exists()


def test_notebook_is_thin_and_parameterised():
    from pathlib import Path

    import nbformat

    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "sufficiency.ipynb", 4)
    assert nb.metadata["kernelspec"]["name"] == "vc-eval"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in ("council", "data_dir", "years"):
        assert f"{name}:" in params[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(sum(1 for ln in c.source.splitlines() if ln.strip()) <= 12 for c in code)


def test_workers_give_the_same_numbers(model):
    one = S.simulate(model, quarters=2, n_sims=6, seed=9, workers=1)
    two = S.simulate(model, quarters=2, n_sims=6, seed=9, workers=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_exits_depend_on_age_at_entry():
    """Generated stays: 1.6 years for children entering at 1-4, 3.8 at 5-9, 5.5 at
    10-15. Of children of one age, those who came into care younger leave faster."""
    cfg = SynthConfig(
        councils=1, seed=4243, sizes=(900,), adopters=(False,), programme=ProgrammeEffects.none()
    )
    m = S.estimate(generate(cfg), origin="2024-03-31")
    ev, ex = m.exit_events, m.exit_exposure
    assert ev.shape == ex.shape == (5, 5)
    rate = ev / np.maximum(ex, 1)
    assert rate[2, 1] > 2 * rate[2, 2]  # aged 5-9: entered at 1-4 vs at 5-9
    assert rate[3, 2] > rate[3, 3]  # aged 10-15: entered at 5-9 vs at 10-15
    assert np.triu(ex, 1).sum() == 0  # no one entered care older than they are
    assert m.start_entry_band is not None and len(m.start_entry_band) == len(m.start_age)


# --------------------------------------------------------------------------
# Figures in the page-level disclosure audit
# --------------------------------------------------------------------------


def _by_hand(origin: dict[str, int], quarters: int = 4) -> S.SufficiencyResult:
    """A projection whose origin is ``origin`` (type -> children), growing 10% a quarter."""
    t = len(PLACEMENT_TYPES)
    kids = np.zeros((3, quarters + 1, t, 1))
    for k, v in origin.items():
        kids[:, :, PLACEMENT_TYPES.index(k), 0] = v * 1.1 ** np.arange(quarters + 1)
    kids[1, 1:] *= 1.05  # simulations differ after the origin
    dates = pd.date_range("2025-03-31", periods=quarters + 1, freq="QE")
    return S.SufficiencyResult(
        council="Hand", model=S.FLOW_MODEL, dates=dates, children=kids,
        spend=kids * 900.0, bands=["all"],
    )  # fmt: skip


def test_sufficiency_page_keeps_its_figures_and_declares_every_mark(model):
    from vc_eval.reporting import sections_sufficiency as SS

    res = S.project(model, years=1, n_sims=20)
    res.baseline = S.project(model.as_flow(), years=1, n_sims=20)
    shown, audit = SS.page(res)
    try:
        assert audit.ok and audit.figures_unchecked == [] and audit.figures_withheld == []
        figs = [f for s in shown for f in s.figures]
        assert len(figs) == 3  # children and spend; the baseline's children
        for f in figs:
            assert f.marks and min(f.marks) >= 6 and f.alt
        assert audit.figure_counts  # the origin's counts were read with the sentences
        origin = res.origin_by_type()
        declared = {c.where: c.value for c in figs[0].counts if c.where}
        for label, n in origin.items():
            if n >= 6:
                assert declared[(("placement", label),)] == n
    finally:
        for f in figs:
            f.close()


def test_sufficiency_figure_with_a_mark_for_fewer_than_six_is_withheld():
    from dataclasses import replace

    from vc_eval.core import privacy
    from vc_eval.core.summary import FigureOut
    from vc_eval.plots.sufficiency import children_figure, spend_figure

    res = _by_hand({"in_house_foster": 40, "ifa_foster": 12, "childrens_home": 9})
    good, spend = children_figure(res), spend_figure(res)
    bad = FigureOut(good.figure, good.alt, "Drawn for 4", good.counts, (*good.marks, 4))
    try:
        page = [replace(res.summary(), figures=[bad, spend])]
        audit = privacy.audit_page(page)
        assert audit.ok and audit.figures_withheld == ["Drawn for 4"]
        assert audit.summaries[0].figures == [spend]
        assert any("figure" in c and "withheld" in c for c in audit.summaries[0].caveats)
        # the same page with the figure as drawn keeps both
        kept = privacy.audit_page([replace(res.summary(), figures=[good, spend])])
        assert kept.ok and not kept.violations and len(kept.summaries[0].figures) == 2
    finally:
        good.close()
        spend.close()


def test_origin_count_a_table_would_hide_is_not_drawn_and_the_audit_would_catch_it():
    """3 children in secure at the origin: drawing every other type (all 6 or more)
    beside the total the sentence states would give the 3 away. The figure draws no
    origin point for secure nor for the smallest other type (as a table hides a
    second cell); a figure drawing them is withheld by the audit."""
    from dataclasses import replace

    from vc_eval.core import privacy
    from vc_eval.core.summary import Count, FigureOut
    from vc_eval.plots.sufficiency import (
        VARIABLE,
        children_figure,
        drawn_points,
        origin_shown,
    )

    origin = {"in_house_foster": 40, "ifa_foster": 12, "childrens_home": 8, "secure": 3}
    res = _by_hand(origin)
    shown = origin_shown(res)
    assert not shown["secure"] and not shown["childrens_home"]
    assert shown["in_house_foster"] and shown["ifa_foster"]
    pts = drawn_points(res)
    assert (pts.loc[pts["drawn"], "mean"] >= 6).all()
    fig = children_figure(res)
    try:
        assert all(m >= 6 for m in fig.marks)
        said = {c.where: c.value for c in fig.counts if c.where}
        assert said[((VARIABLE, "Secure"),)] == 3  # declared: read as "fewer than 6"
        assert ((VARIABLE, "Children's home"),) not in said  # not drawn at the origin
        summary = res.summary()
        assert privacy.audit_page([replace(summary, figures=[fig])], fix=False).ok
        # drawing every origin of 6 or more (the rule before) reveals the 3
        labels = res.origin_by_type()  # zeros too: a reader of this figure knows them
        every = ((VARIABLE, tuple(labels.index)),)
        naive = FigureOut(
            None,
            "naive",
            "Every type of 6 or more",
            counts=(
                *(Count(int(n), S.UNIVERSE_ORIGIN, ((VARIABLE, k),)) for k, n in labels.items()),
                Count(int(labels.sum()), S.UNIVERSE_ORIGIN, any_of=every),
            ),
            marks=tuple(int(n) for n in labels if n >= 6),
        )
        page = [replace(summary, figures=[naive])]
        audit = privacy.audit_page(page, fix=False)
        hit = {(v["where"], v["value"]) for v in audit.violations}
        assert (((VARIABLE, "Secure"),), 3) in hit
        assert privacy.audit_page(page).figures_withheld == ["Every type of 6 or more"]
    finally:
        fig.close()
