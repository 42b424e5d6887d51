"""Figures of trajectories and the ``vc-eval fit`` command."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from _figures import drawn_inside_canvas
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vc_eval.analysis.trajectories import compare_groups, fit_domains, fit_growth
from vc_eval.cli import main
from vc_eval.core.schema import Col
from vc_eval.plots.trajectories import (
    plot_curve,
    plot_domains,
    plot_group_curves,
    plot_peaks,
    plot_spaghetti,
)


@pytest.fixture(scope="module")
def domain_fits(bundled):
    return fit_domains(
        bundled,
        domains=["attachment", "education"],
        areas=False,
        basis="hinge",
        knots=[7, 11],
        random="intercept",
        progress=False,
    )


def test_curve_figure_shows_only_safe_observed_means(domain_fits):
    fit = domain_fits["attachment"]
    ps = fit.peaks(n=200)
    ax = plot_curve(fit, peaks=ps)
    assert isinstance(ax, Axes)
    safe = fit.observed_means()
    (scatter,) = [c for c in ax.collections if c.get_label().startswith("observed mean")]
    points = scatter.get_offsets()
    # the scatter holds exactly the bins with 6+ children
    assert len(points) == len(safe)
    np.testing.assert_allclose(np.asarray(points)[:, 1], safe["mean"])
    assert ax.get_title() == fit.label


def test_small_multiples_and_peaks_figures(domain_fits):
    fig = plot_domains(domain_fits, n=200)
    assert isinstance(fig, Figure)
    assert sum(ax.get_visible() for ax in fig.axes) == len(domain_fits)
    ax = plot_peaks(domain_fits, n=200)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(labels) <= set(domain_fits.labels.values())
    assert plot_peaks(domain_fits.peaks_table(n=200), min_share=1.1).get_yticks().size == 0


def test_spaghetti_is_labelled_analyst_only_and_carries_no_ids(domain_fits):
    fit = domain_fits["attachment"]
    ax = plot_spaghetti(fit, n=12, seed=1)
    assert "not for reports" in ax.get_title()
    texts = [t.get_text() for t in ax.texts] + [ax.get_title()]
    legend = ax.get_legend()
    if legend:
        texts += [t.get_text() for t in legend.get_texts()]
    ids = set(fit.data[Col.child_id])
    assert not any(i in t for t in texts for i in ids)
    assert "analysts only" in plot_spaghetti.__doc__.lower().replace("\n", " ")


def test_group_curves_figure():
    rng = np.random.default_rng(0)
    n, k = 60, 5
    t = rng.uniform(0, 10, (n, k))
    arm = np.repeat(rng.choice(["a", "b"], n), k)
    y = 40 + t.ravel() * np.where(arm == "b", 2.0, 1.0) + np.repeat(rng.normal(0, 5, n), k)
    d = pd.DataFrame(
        {
            "y": y + rng.normal(0, 2, n * k),
            "t": t.ravel(),
            "g": np.repeat(np.arange(n), k),
            "arm": arm,
        }
    )
    res = compare_groups(
        d, by="arm", outcome="y", time="t", group="g", basis="linear", random="intercept"
    )
    ax = plot_group_curves(res)
    assert "LR test" in ax.get_title()
    assert len(ax.get_lines()) == 2


def test_cli_fit_prints_tables_and_writes_figures(bundled_dir, tmp_path, capsys):
    out = tmp_path / "fit"
    code = main(
        [
            "fit",
            "--data",
            str(bundled_dir),
            "--domain",
            "attachment",
            "--domain",
            "total_need",
            "--basis",
            "hinge",
            "--knots",
            "7,11",
            "--random",
            "intercept",
            "--draws",
            "200",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Peak ages" in captured.out and "Total need" in captured.out
    for f in (
        "curve_attachment.png",
        "curve_total_need.png",
        "curves_all.png",
        "peak_ages.png",
        "models.csv",
        "peaks.csv",
        "steepest.csv",
    ):
        assert (out / f).stat().st_size > 0, f
    assert not list(out.glob("spaghetti*"))
    peaks = pd.read_csv(out / "peaks.csv")
    assert set(peaks["name"]) <= {"attachment", "total_need"}
    ids = set(pd.read_parquet(bundled_dir / "children.parquet")[Col.child_id])
    text = "".join((out / f).read_text() for f in ("models.csv", "peaks.csv", "steepest.csv"))
    assert not any(i in text for i in list(ids)[:200])


def test_cli_fit_rejects_unknown_domain(bundled_dir, tmp_path, capsys):
    code = main(
        ["fit", "--data", str(bundled_dir), "--domain", "happiness", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "happiness" in err and "attachment" in err
    assert not list(tmp_path.iterdir())


def test_cli_fit_help_describes_options(capsys):
    assert main(["fit", "--help"]) == 0
    text = capsys.readouterr().out
    for opt in (
        "--data",
        "--domain",
        "--council",
        "--basis",
        "--engine",
        "--out",
        "--draws",
        "--spaghetti",
        "--min-prominence",
    ):
        assert opt in text


def test_fit_growth_is_reusable_on_a_non_care_table():
    # nothing ties the generic function to the vc-eval tables
    rng = np.random.default_rng(1)
    firm = np.repeat(np.arange(30), 10)
    d = pd.DataFrame(
        {
            "wage": rng.normal(20, 3, 300) + rng.normal(0, 4, 30)[firm],
            "year": np.tile(np.arange(10), 30),
            "firm": firm,
        }
    )
    fit = fit_growth(d, outcome="wage", time="year", group="firm", random="intercept")
    assert fit.n_groups == 30 and "year" in fit.names


def test_model_knots_is_the_rule_fit_domains_and_compare_groups_use(bundled):
    from vc_eval.analysis.trajectories import default_age_knots, model_knots, need_frame

    frame = need_frame(bundled, "total_need")
    ages = frame[Col.age_at_assessment].to_numpy(dtype=float)
    default = default_age_knots(ages, frame[Col.child_id].nunique())
    assert model_knots(frame, basis="spline", knots=None, df=None) == default
    # given knots, a df or another basis: left as they are
    assert model_knots(frame, basis="spline", knots=[7.0, 11.0], df=None) == [7.0, 11.0]
    assert model_knots(frame, basis="spline", knots=None, df=4) is None
    assert model_knots(frame, basis="hinge", knots=[9.0], df=None) == [9.0]


def test_peak_sensitivity_refits_each_variant_from_the_main_model(bundled):
    from vc_eval.analysis.trajectories import (
        NEED_COLUMNS,
        fit_growth,
        need_frame,
        peak_sensitivity,
    )

    frame = need_frame(bundled, "total_need")
    main = {"basis": "spline", "knots": None, "df": 6, "random": "slope", "engine": "fast"}
    variants = {"main model": {}, "hinges at 7, 11": {"basis": "hinge", "knots": [7.0, 11.0]}}
    table = peak_sensitivity(frame, main, variants, n=200, seed=3)
    assert list(dict.fromkeys(table["model"])) == list(variants)
    own = fit_growth(frame, **NEED_COLUMNS, **main).peaks(n=200, seed=3).to_frame()
    got = table[table["model"] == "main model"].drop(columns="model").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, own.reset_index(drop=True))
    hinge = table[table["model"] == "hinges at 7, 11"]
    assert not hinge.drop(columns="model").reset_index(drop=True).equals(got)


def test_knots_text_is_read_in_one_place_for_the_cli_and_the_notebook():
    from vc_eval.analysis.trajectories import parse_knots

    assert parse_knots("7, 11,14,") == [7.0, 11.0, 14.0]
    assert parse_knots("") is None and parse_knots("  ") is None and parse_knots(None) is None
    with pytest.raises(ValueError, match="knots must be numbers separated by commas: '7,x'"):
        parse_knots("7,x")
    nb = (Path(__file__).parents[1] / "notebooks" / "need_peaks.ipynb").read_text()
    assert "tr.parse_knots(knots)" in nb


def test_report_grid_claims_to_fit_its_canvas_only_when_it_does(domain_fits):
    # the PNG is the whole canvas only for a grid whose titles and labels are measured to
    # lie inside it: one, two and four panels, the framework's longest label, capitals
    import io
    from dataclasses import replace

    from PIL import Image

    from vc_eval.plots.trajectories import domains_figure

    longest = "Friendships and safety from exploitation"  # the bundled framework's longest
    fit_a, fit_b = domain_fits["attachment"], domain_fits["education"]

    def grid(labels: list[str]):
        names = [f"d{i}" for i in range(len(labels))]
        return replace(
            domain_fits,
            fits={n: (fit_a, fit_b)[i % 2] for i, n in enumerate(names)},
            labels=dict(zip(names, labels, strict=True)),
            _peaks={},  # the peaks memo is per set of fits
        )

    claims = {}
    for case, labels in {
        "two, bundled": [domain_fits.labels["attachment"], domain_fits.labels["education"]],
        "one, longest": [longest],
        "four, longest": [longest] * 4,
        "four, capitals": ["W" * 40] * 4,
    }.items():
        out = domains_figure(grid(labels), n=50)
        claims[case] = out.fits
        assert out.fits == drawn_inside_canvas(out.figure), case  # the claim is measured
        width, _ = Image.open(io.BytesIO(out.png(40))).size
        if not out.fits:  # cropped to what is drawn: widened for the title, never cut
            assert width > out.figure.get_size_inches()[0] * 40, case
    assert claims["two, bundled"] and claims["four, longest"]
    assert not claims["four, capitals"]
