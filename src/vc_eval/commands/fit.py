"""``vc-eval fit``: need trajectories by age and peak ages, per domain."""

from __future__ import annotations

from pathlib import Path

import click

from vc_eval.commands.common import data_option, framework_option, friendly_errors
from vc_eval.core.options import ENGINES

DEFAULT_OUT = Path("reports/fit")


@click.command()
@data_option
@framework_option
@click.option(
    "--domain",
    "domains",
    multiple=True,
    help="Domain id, 'total_need' or an outcome-area id to fit; repeat for several. "
    "Default: every domain, total need and every outcome area.",
)
@click.option("--council", default=None, help="Fit one council's children only (default: all).")
@click.option(
    "--basis",
    type=click.Choice(["spline", "hinge", "linear"]),
    default="spline",
    show_default=True,
    help="Shape of need by age: natural cubic spline, piecewise linear (hinges) or a line.",
)
@click.option(
    "--df",
    type=int,
    default=None,
    help="Spline degrees of freedom (default: knots every 1-2 years, by number of children).",
)
@click.option(
    "--knots",
    default=None,
    help="Comma-separated knot ages for the spline or hinge basis, e.g. '7,11,14'.",
)
@click.option(
    "--random",
    type=click.Choice(["slope", "intercept"]),
    default="slope",
    show_default=True,
    help="Random effects per child: intercept and slope on age, or intercept only.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=ENGINES[0],
    show_default=True,
    help="Model-fitting engine: the fast engine (the default everywhere: API and "
    "reports) or statsmodels MixedLM (the reference; hours at national scale).",
)
@click.option("--ml", is_flag=True, help="Fit by maximum likelihood instead of REML.")
@click.option(
    "--draws",
    type=int,
    default=2000,
    show_default=True,
    help="Draws of the fixed effects used for peak-age intervals.",
)
@click.option(
    "--min-prominence",
    type=float,
    default=None,
    help="Report peaks at least this prominent (score points above the surrounding troughs) "
    "with no share condition; default: the standard peak rule (prominence at least 0.1 SD "
    "of the scores, in at least 90% of plausible curves).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for the draws.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for the figures (PNG) and tables (CSV).",
)
@click.option(
    "--spaghetti",
    is_flag=True,
    help="Also write a spaghetti plot of 30 children per fit (analyst use only: "
    "shows individual children, never put it in a report).",
)
@friendly_errors
def fit(
    data_dir: Path,
    framework: str | None,
    domains: tuple[str, ...],
    council: str | None,
    basis: str,
    df: int | None,
    knots: str | None,
    random: str,
    engine: str,
    ml: bool,
    draws: int,
    min_prominence: float | None,
    seed: int,
    out: Path,
    spaghetti: bool,
) -> None:
    """Fit growth models of need by age and report peak ages of need.

    For each domain (and total need and each outcome area unless --domain
    says otherwise) fits a linear mixed model of score on age with a random
    intercept and slope per child, prints the model summary and the peak
    ages with 95% intervals, and writes figures and tables to --out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from vc_eval.analysis.trajectories import fit_domains
    from vc_eval.core.dataset import Dataset
    from vc_eval.core.files import atomic_file
    from vc_eval.core.framework import TOTAL_NEED
    from vc_eval.plots.trajectories import plot_curve, plot_domains, plot_peaks, plot_spaghetti

    ds = Dataset.load(data_dir, framework=framework)
    fw = ds.framework
    knot_list = _parse_knots(knots)
    if domains:
        unknown = [
            d
            for d in domains
            if d not in fw.all_domain_ids and d not in fw.outcome_areas and d != TOTAL_NEED
        ]
        if unknown:
            raise click.BadParameter(
                f"not a domain, outcome area or {TOTAL_NEED} of framework {fw.id!r}: "
                + ", ".join(unknown)
                + f". Domains: {', '.join(fw.domain_ids)}",
                param_hint="--domain",
            )
        doms = [d for d in domains if d in fw.all_domain_ids]
        area_list = [d for d in domains if d in fw.outcome_areas]
        fits = fit_domains(
            ds,
            domains=doms,
            include_total=TOTAL_NEED in domains,
            areas=area_list or False,
            council=council,
            basis=basis,
            knots=knot_list,
            df=df,
            random=random,
            reml=not ml,
            engine=engine,
        )
    else:
        fits = fit_domains(
            ds,
            council=council,
            basis=basis,
            knots=knot_list,
            df=df,
            random=random,
            reml=not ml,
            engine=engine,
        )
    where = f"council {council}" if council else "all councils"
    click.echo(f"Growth models of need by age, {where} ({fw.name}); engine {engine}.")
    for name, why in fits.skipped.items():
        click.echo(f"skipped {name}: {why}", err=True)
    if not len(fits):
        raise click.ClickException("no model could be fitted (see the messages above)")
    peak_opts = {"n": draws, "seed": seed, "min_prominence": min_prominence}
    summary = fits.table(**peak_opts)
    peaks = fits.peaks_table(**peak_opts)
    steep = fits.steepest_table(**peak_opts)
    cols = [
        "label",
        "n_groups",
        "n_obs",
        "sd_intercept",
        "sd_slope",
        "corr",
        "sd_residual",
        "icc",
        "converged",
        "n_warnings",
    ]
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        click.echo(
            "\nModels (SDs in score points; slope per year of age; intercept at age "
            f"{next(iter(fits.fits.values())).basis.centre:g}):"
        )
        click.echo(
            summary[[c for c in cols if c in summary]].to_string(
                index=False, float_format=lambda x: f"{x:.3g}"
            )
        )
        click.echo("\nPeak ages (95% interval; share of plausible curves showing the peak):")
        shown = peaks[["label", "peak", "age", "lower", "upper", "share_with_peak", "prominence"]]
        click.echo(
            shown.to_string(index=False, float_format=lambda x: f"{x:.2f}")
            if len(shown)
            else "  no peaks"
        )
        click.echo("\nAges of steepest rise and fall:")
        click.echo(
            steep[["label", "direction", "age", "lower", "upper", "slope"]].to_string(
                index=False, float_format=lambda x: f"{x:.2f}"
            )
        )
    for name, f in fits.fits.items():
        for w in f.warnings:
            click.echo(f"warning ({name}): {w}", err=True)

    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, fname: str) -> None:
        with atomic_file(out / fname, "wb") as fh:
            fig.savefig(fh, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        written.append(out / fname)

    summaries = fits.peak_summaries(**peak_opts)
    for name, f in fits.fits.items():
        ax = plot_curve(f, peaks=summaries[name], title=fits.labels[name])
        save(ax.figure, f"curve_{name}.png")
        if spaghetti:
            save(plot_spaghetti(f, seed=seed).figure, f"spaghetti_{name}_ANALYST_ONLY.png")
    if len(fits) > 1:
        save(plot_domains(fits, **peak_opts), "curves_all.png")
    if len(peaks):
        save(plot_peaks(peaks).figure, "peak_ages.png")
    for frame, fname in ((summary, "models.csv"), (peaks, "peaks.csv"), (steep, "steepest.csv")):
        with atomic_file(out / fname, "w") as fh:
            frame.to_csv(fh, index=False)
        written.append(out / fname)
    click.echo(f"\nwrote {len(written)} files to {out}")


def _parse_knots(text: str | None) -> list[float] | None:
    from vc_eval.analysis.trajectories import parse_knots

    try:
        return parse_knots(text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--knots") from err
