"""``vc-eval summary``: a quick look at a dataset (counts and one figure)."""

from __future__ import annotations

from pathlib import Path

import click

from vc_eval.commands.common import data_option, framework_option, friendly_errors


@click.command()
@data_option
@framework_option
@click.option(
    "--figure",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports/summary_need_by_age.png"),
    show_default=True,
    help="Where to write the figure of mean total need by age.",
)
@friendly_errors
def summary(data_dir: Path, framework: str | None, figure: Path) -> None:
    """Print a per-council summary of a dataset and write one figure.

    Counts are aggregates over councils; the figure shows mean total need by
    year of age, with ages seen in fewer than 6 children left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    from vc_eval.core.dataset import Dataset
    from vc_eval.core.files import atomic_file
    from vc_eval.core.population import mean_need_by_age, population_summary
    from vc_eval.plots.population import plot_need_by_age

    ds = Dataset.load(data_dir, framework=framework)
    table = population_summary(ds)
    click.echo(
        f"Dataset {data_dir} (framework {ds.framework.id} {ds.framework.version}); "
        f"in care on {table.attrs['date'].date()}:"
    )
    click.echo(table.to_string(index=False))
    ax = plot_need_by_age(mean_need_by_age(ds))
    with atomic_file(figure, "wb") as fh:
        ax.figure.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    click.echo(f"figure: {figure}")
