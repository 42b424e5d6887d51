"""``vc-eval synth``: generate a synthetic population with known truth."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option(
    "--councils",
    type=click.IntRange(1, 208),
    default=3,
    show_default=True,
    help="Number of fictional councils (153 gives national scale, ~84k children "
    "in care on any date).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed; the same seed and options give identical files.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write (Parquet tables, dataset.json, truth.json). Must be new, "
    "empty, or a folder vc-eval wrote (replaced atomically); anything else is refused.",
)
@click.option(
    "--bundled",
    is_flag=True,
    help="Regenerate the bundled demo data (3 councils, ~1,500 children, fixed "
    "seed and programme dates); --councils and --seed are ignored.",
)
@click.option(
    "--no-programme-effect",
    is_flag=True,
    help="Set every programme effect to zero (for null checks of impact analyses).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
def synth(
    councils: int, seed: int, out: Path, bundled: bool, no_programme_effect: bool, progress: bool
) -> None:
    """Generate a synthetic care population and its ground truth.

    Writes children, need assessments at every review, placements with
    weekly costs, outcomes and councils (some adopting the programme at
    known dates) to OUT, with truth.json holding every generating parameter.
    """
    from vc_eval.core.files import OutputDirError, check_output_dir, recover_output_dir
    from vc_eval.synthetic.generator import (
        BUNDLED_CONFIG,
        ProgrammeEffects,
        SynthConfig,
        generate,
        write_synthetic,
    )

    # refuse a folder holding other files before spending time generating
    try:
        for m in recover_output_dir(out):
            click.echo(m, err=True)
        check_output_dir(out)
    except OutputDirError as err:
        click.echo(f"error: {err}", err=True)
        click.echo("Nothing was written.", err=True)
        raise SystemExit(2) from err

    cfg = BUNDLED_CONFIG if bundled else SynthConfig(councils=councils, seed=seed)
    if no_programme_effect:
        from dataclasses import replace

        cfg = replace(cfg, programme=ProgrammeEffects.none())
    t0 = time.perf_counter()
    ds = generate(cfg, progress=progress)
    try:
        write_synthetic(ds, out)
    except OutputDirError as err:
        click.echo(f"error: {err}", err=True)
        click.echo("Nothing was written.", err=True)
        raise SystemExit(2) from err
    click.echo(
        f"wrote {out}: {len(ds.councils)} councils, {len(ds.children):,} children, "
        f"{len(ds.assessments):,} need scores, {len(ds.placements):,} placements, "
        f"{len(ds.outcomes):,} outcome records in {time.perf_counter() - t0:.1f} s"
    )
