"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import click

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


def _friendly(err: BaseException) -> bool:
    """Whether ``err`` is a data or framework error (a clear message, no traceback).

    The data model (pandera) and the framework are imported only by the commands
    that use them, so their error classes are looked up only if they were loaded:
    an error of a module never imported cannot have been raised.
    """
    kinds: list[type] = [FileNotFoundError, KeyError]
    for module, name in (
        ("vc_eval.core.schema", "ValidationError"),
        ("vc_eval.core.framework", "FrameworkError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            kinds.append(getattr(loaded, name))
    return isinstance(err, tuple(kinds))


def friendly_errors(func: Callable) -> Callable:
    """Turn data and framework errors into a clear message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as err:
            if not _friendly(err):
                raise
            msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            click.echo(f"error: {msg}", err=True)
            raise SystemExit(2) from err

    return wrapper
