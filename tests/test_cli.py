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
