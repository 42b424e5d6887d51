"""The ``vc-eval`` command line.

Each capability keeps its commands in its own module under
``vc_eval.commands`` and is registered here, so this file only lists them.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys

import click

from vc_eval import __version__

#: (module under vc_eval.commands, command object name)
COMMANDS: tuple[tuple[str, str], ...] = (
    ("synth", "synth"),
    ("summary", "summary"),
    ("fit", "fit"),
    ("import_", "import_cmd"),
    ("report", "report"),
    ("cache", "cache"),
    ("sufficiency", "sufficiency"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vc-eval")
def cli() -> None:
    """vc-eval: needs-led care evaluation workbench for children in care.

    Turns need scores, placements, costs and outcomes into needs profiles,
    need trajectories by age, spend-against-need analyses and impact-update
    reports. Run `vc-eval COMMAND --help` for each command's options.
    """


for _module, _name in COMMANDS:
    cli.add_command(getattr(importlib.import_module(f"vc_eval.commands.{_module}"), _name))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of raising SystemExit."""
    try:
        cli.main(args=argv, prog_name="vc-eval", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run() -> None:
    """The installed ``vc-eval`` program: :func:`main`, then an exit without teardown.

    Once a command has finished, the interpreter would spend about half a second
    (after a report) freeing every module and object one by one before the process
    ends. The exit handlers still run (they close logs, stop child processes and
    remove temporary files), the output is flushed, and then the process ends.
    Every command waits for the threads it starts (non-daemon threads would not be
    joined here).
    """
    code = main()
    atexit._run_exitfuncs()  # what a normal exit runs before its teardown
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = code or 120  # as Python exits when its last flush fails
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
