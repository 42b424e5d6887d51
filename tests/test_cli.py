"""The command line: help for every option, clear errors, the synth and summary jobs."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from vc_eval.cli import cli, main


def test_help_lists_every_command():
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in cli.commands:
        assert name in out


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_option_is_described(name):
    cmd = cli.commands[name]
    assert cmd.help, f"{name} has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help and len(param.help) > 10, f"{name} {param.opts} lacks help"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0


def test_synth_writes_dataset_and_truth(tmp_path):
    out = tmp_path / "syn"
    r = CliRunner().invoke(
        cli, ["synth", "--councils", "1", "--seed", "4", "--out", str(out), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    assert (out / "truth.json").exists() and (out / "children.parquet").exists()


def test_summary_on_bundled_data(bundled_dir, tmp_path):
    fig = tmp_path / "fig.png"
    r = CliRunner().invoke(cli, ["summary", "--data", str(bundled_dir), "--figure", str(fig)])
    assert r.exit_code == 0, r.output
    assert fig.stat().st_size > 1000
    for name in ("Bitternmere", "Godwitfell", "Plovercombe"):
        assert name in r.output
    assert "C0" not in r.output  # no child identifiers


def test_bad_data_folder_exits_non_zero_with_message(tmp_path, capsys):
    code = main(["summary", "--data", str(tmp_path / "nope")])
    assert code == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_the_program_exits_with_the_commands_code_and_its_output_flushed(tmp_path):
    """``vc-eval`` as installed (``run``: exit handlers, then no interpreter teardown)."""
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"

    def program(*args: str) -> subprocess.CompletedProcess:
        code = "from vc_eval.cli import run; run()"
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(src)},
            cwd=tmp_path,
            timeout=120,
        )

    ok = program("--version")
    assert ok.returncode == 0 and "vc-eval" in ok.stdout
    bad = program("report", "--council", "x", "--param", "colour=red")
    assert bad.returncode == 2 and "colour" in bad.stderr
    done = program("synth", "--councils", "2", "--seed", "5", "--out", "syn")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "syn" / "dataset.json").exists() and done.stdout.strip()
