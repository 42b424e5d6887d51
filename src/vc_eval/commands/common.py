"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from vc_eval.core.framework import FrameworkError
from vc_eval.core.schema import ValidationError

DEFAULT_DATA = Path("data/synthetic")

data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Dataset folder (Parquet or CSV tables in the vc-eval layout).",
)

framework_option = click.option(
    "--framework",
    default=None,
    help="Needs framework: a YAML file, or the name of a shipped framework "
    "(default: the one recorded with the data, else 'illustrative').",
)


def friendly_errors(func: Callable) -> Callable:
    """Turn data and framework errors into a clear message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValidationError, FrameworkError, FileNotFoundError, KeyError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            click.echo(f"error: {msg}", err=True)
            raise SystemExit(2) from err

    return wrapper
