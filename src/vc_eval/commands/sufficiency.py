"""``vc-eval sufficiency``: children and spend by placement type, projected from need."""

from __future__ import annotations

from pathlib import Path

import click

from vc_eval.commands.common import data_option, framework_option, friendly_errors

DEFAULT_OUT = Path("reports/sufficiency")


def _read_table(path: Path | None, what: str):
    """A small CSV (target mix or supply); errors name the file."""
    import pandas as pd

    if path is None:
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise click.BadParameter(f"{path}: cannot read the {what} as CSV ({err})") from err


@click.command("sufficiency")
@data_option
@framework_option
@click.option(
    "--council", default=None, help="Council to project (needed when the data hold several)."
)
@click.option(
    "--years",
    type=click.IntRange(1, 5),
    default=3,
    show_default=True,
    help="Years ahead to project, by quarter (1-5).",
)
@click.option(
    "--target-mix",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="CSV: placement_type, share [, need_band]: the mix new placements move towards "
    "(default: the current mix).",
)
@click.option(
    "--supply",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="CSV: placement_type, places (e.g. in-house foster places): report the gap.",
)
@click.option(
    "--origin",
    default=None,
    help="Project from this date (YYYY-MM-DD), using data up to it [default: latest in the data].",
)
@click.option(
    "--sims",
    type=click.IntRange(20, 5000),
    default=200,
    show_default=True,
    help="Simulations per model (more: smoother intervals, slower).",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Seed (same seed, same numbers)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Output folder: projection CSVs, summary (Markdown) and two figures.",
)
@friendly_errors
def sufficiency(
    data_dir: Path,
    framework: str | None,
    council: str | None,
    years: int,
    target_mix: Path | None,
    supply: Path | None,
    origin: str | None,
    sims: int,
    workers: int,
    seed: int,
    out: Path,
) -> None:
    """Project children in care and weekly spend by placement type and need band.

    The need-driven model moves each child's need along the fitted
    trajectories and gives them the placement type that children of that age
    and need band receive (or the target mix); the flow model (moves between
    placement types by age band) is run on the same data as a baseline.
    Without need scores (SSDA903 data only) the flow model is used and the
    output says so. Intervals are 90% of the simulations.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from vc_eval.analysis.sufficiency import sufficiency as run
    from vc_eval.core.dataset import Dataset
    from vc_eval.core.files import atomic_file
    from vc_eval.plots.sufficiency import plot_children, plot_spend

    mix = _read_table(target_mix, "target mix")
    sup = _read_table(supply, "supply table")
    ds = Dataset.load(data_dir, framework=framework)
    names = ds.council_names()
    if council is None:
        if len(names) != 1:
            raise click.UsageError(
                f"name a council with --council; the data hold {', '.join(names)}"
            )
        council = names[0]
    elif council not in names:
        raise click.UsageError(
            f"council {council!r} not in {data_dir}; councils: {', '.join(names)}"
        )
    try:
        res = run(
            ds,
            council=council,
            years=years,
            origin=origin,
            n_sims=sims,
            seed=seed,
            target_mix=mix,
            supply=sup,
            workers=workers,
        )
    except ValueError as err:
        if type(err) is not ValueError:
            raise
        raise click.ClickException(str(err)) from err
    if res.fallback:
        click.echo(f"note: {res.fallback}", err=True)
    summary = res.summary()
    click.echo(str(summary))

    # everything is made in memory first, so a failure writes nothing
    files: dict[str, bytes] = {}
    frames = [res.to_frame()] + ([res.baseline.to_frame()] if res.baseline is not None else [])
    frame = pd.concat(frames, ignore_index=True)
    files["projection.csv"] = frame.to_csv(index=False).encode()
    files["by_type.csv"] = res.by_type("children").to_csv(index=False).encode()
    gap = res.gap()
    if gap is not None:
        files["gap.csv"] = gap.to_csv(index=False).encode()
    files["summary.md"] = (summary.to_markdown(level=1) + "\n").encode()
    for name, fn in (("children.png", plot_children), ("spend.png", plot_spend)):
        ax = fn(res)
        buf = io.BytesIO()
        ax.figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(ax.figure)
        files[name] = buf.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        with atomic_file(out / name, "wb") as fh:
            fh.write(data)
    click.echo(f"\nwrote {len(files)} files to {out}")
