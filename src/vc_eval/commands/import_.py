"""``vc-eval import``: a council's SSDA903 returns and extracts -> a dataset."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("import")
@click.option(
    "--council",
    required=True,
    help="Council name, as it should appear in the dataset (also scopes the pseudonyms).",
)
@click.option(
    "--ssda903",
    "ssda903",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="SSDA903 input: a folder of CSV tables (recognised by their headers), a "
    "folder of year folders, or a DfE XML file. Repeat for several years; "
    "episodes repeated between years are merged.",
)
@click.option(
    "--needs",
    type=_FILE,
    default=None,
    help="Needs-score extract (CSV or Excel; long: one row per child x review x "
    "domain, or wide: one column per domain).",
)
@click.option(
    "--needs-config",
    type=_FILE,
    default=None,
    help="YAML naming the needs extract's columns (child_id, date, assessor, "
    "domain + score, or domains). Default: found by column name.",
)
@click.option(
    "--costs",
    type=_FILE,
    default=None,
    help="Weekly placement costs (CSV or Excel: child, start date, weekly cost). "
    "Placements without one get unit costs.",
)
@click.option(
    "--unit-costs",
    type=_FILE,
    default=None,
    help="YAML of unit costs per placement type for imputation (default: the "
    "shipped assumptions in vc_eval.core.costs).",
)
@click.option(
    "--framework",
    default=None,
    help="Needs framework: a YAML file or a shipped name (default 'illustrative').",
)
@click.option(
    "--key-file",
    required=True,
    type=_FILE,
    help="The council's secret key for pseudonymising ids (HMAC-SHA256). Make one "
    'with: python -c "import secrets; print(secrets.token_hex(32))" > '
    "council.key. Keep it outside the data folder; it is never written out.",
)
@click.option(
    "--programme-start",
    default=None,
    help="Date the council adopted needs-led practice (YYYY-MM-DD or dd/mm/YYYY); omit if never.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Reject the import (exit 3, nothing written) if any row-level problem is "
    "found, instead of dropping the rows and listing them in the report.",
)
@click.option(
    "--accept-drops",
    is_flag=True,
    help="Import even when more than 1% of a table's rows are dropped for row-level "
    "problems (otherwise refused, exit 3, nothing written).",
)
@click.option(
    "--new-key",
    is_flag=True,
    help="Replace a dataset at --out that was made with a different key (its "
    "pseudonyms all change). Without it that is refused.",
)
@click.option(
    "--include-short-breaks",
    is_flag=True,
    help="Keep short-break episodes (legal status V3/V4), excluded by default.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder to write (written atomically, with import_report.md).",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal)."
)
def import_cmd(
    council,
    ssda903,
    needs,
    needs_config,
    costs,
    unit_costs,
    framework,
    key_file,
    programme_start,
    strict,
    accept_drops,
    new_key,
    include_short_breaks,
    out,
    progress,
) -> None:
    """Import a council's own data into a vc-eval dataset folder.

    Reads SSDA903 returns (CSV or XML, one or more years), an optional needs
    extract and costs, checks every row, pseudonymises child, assessor and
    provider ids with the council's key, and writes the dataset plus an
    import report of what was read, mapped, dropped and why.

    Each SSDA903 return's collection year is read from its dates (folder
    and file names are only a hint) and printed.

    Exit codes: 0 imported (row-level problems, if any, are in the report);
    2 a fatal problem (unreadable file, no recognisable table, no key, empty
    file, --out not a vc-eval folder, a name and the dates disagreeing about
    the year): nothing written; 3 rejected by --strict, or more than 1% of a
    table's rows dropped without --accept-drops: nothing written.
    """
    from vc_eval.ingest.importer import REPORT_FILE, run_import
    from vc_eval.ingest.problems import EXIT_FATAL, EXIT_STRICT, ImportFailed

    messages: list[str] = []
    try:
        result = run_import(
            out,
            list(ssda903),
            council=council,
            key_file=key_file,
            needs=needs,
            needs_config=needs_config,
            costs=costs,
            unit_costs=unit_costs,
            framework=framework,
            programme_start=programme_start,
            strict=strict,
            accept_drops=accept_drops,
            new_key=new_key,
            messages=messages,
            include_short_breaks=include_short_breaks,
            progress=progress,
        )
    except ImportFailed as err:
        for m in messages:
            click.echo(m, err=True)
        click.echo(f"error: {err}", err=True)
        if err.exit_code == EXIT_STRICT and not strict:
            click.echo("Nothing was written.", err=True)
        elif err.exit_code == EXIT_STRICT:
            click.echo(
                "Nothing was written. Fix the rows above or run without --strict to "
                "drop them and list them in the import report.",
                err=True,
            )
        else:
            click.echo("Nothing was written.", err=True)
        raise SystemExit(err.exit_code) from err
    except OSError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FATAL) from err
    for m in messages:
        click.echo(m, err=True)
    click.echo(result.summary())
    click.echo(f"Wrote {out} (report: {Path(out) / REPORT_FILE}).")
