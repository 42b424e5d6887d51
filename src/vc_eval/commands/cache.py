"""``vc-eval cache``: where the report cache is, and how to remove it."""

from __future__ import annotations

from pathlib import Path

import click

from vc_eval.commands.common import data_option


def _root(data_dir: Path, cache_dir: Path | None) -> Path | None:
    from vc_eval.reporting.cache import CACHE_FOLDER, default_cache_dir

    if cache_dir is not None:
        return cache_dir
    return default_cache_dir(data_dir) or data_dir / CACHE_FOLDER


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


cache_dir_option = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A cache given to `vc-eval report --cache-dir` [default: $VC_EVAL_CACHE, else "
    ".vc-eval-cache inside the data folder].",
)


@click.group()
def cache() -> None:
    """The report cache: each council's tables and cross-council figures, kept
    beside the dataset they come from (row-level, pseudonymised data)."""


@cache.command("info")
@data_option
@cache_dir_option
def info(data_dir: Path, cache_dir: Path | None) -> None:
    """Where the cache of a dataset is and how big it is."""
    from vc_eval.reporting.cache import cache_info

    got = cache_info(_root(data_dir, cache_dir))
    click.echo(f"cache: {got['root']} ({got['entries']} entries, {_mb(got['bytes'])})")


@cache.command("clear")
@data_option
@cache_dir_option
def clear(data_dir: Path, cache_dir: Path | None) -> None:
    """Remove the cache of a dataset (only files vc-eval wrote there)."""
    from vc_eval.reporting.cache import clear_cache

    got = clear_cache(_root(data_dir, cache_dir))
    click.echo(
        f"removed {got['entries']} cache entr{'y' if got['entries'] == 1 else 'ies'} "
        f"({_mb(got['bytes'])}) from {got['root']}"
    )
