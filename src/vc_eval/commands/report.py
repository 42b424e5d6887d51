"""``vc-eval report``: render the impact-update report for one council, or all of them."""

from __future__ import annotations

import os
from pathlib import Path

import click

from vc_eval.commands.common import data_option, framework_option, friendly_errors
from vc_eval.core.options import COMPARISONS, ENGINES


def _param_pairs(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{v!r}: use NAME=VALUE", param_hint="--param")
        out[name.strip()] = value
    return out


@click.command()
@click.option(
    "--council",
    "councils",
    multiple=True,
    metavar="NAME",
    help="Council to report on (repeat for several). With the need_peaks notebook, "
    "councils to pool (default: all).",
)
@click.option(
    "--all",
    "all_councils",
    is_flag=True,
    help="Render a report for every council in the data, in worker processes, "
    "and write index.html linking them all.",
)
@data_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Output folder: <council>_<notebook>.html, the executed .ipynb and the "
    "headline-numbers .json beside it (error.txt on failure).",
)
@click.option(
    "--period-start",
    default=None,
    metavar="YYYY-MM-DD",
    help="Start of the reporting period (default: 12 months before its end).",
)
@click.option(
    "--period-end",
    default=None,
    metavar="YYYY-MM-DD",
    help="End of the reporting period (default: the latest date in the data).",
)
@framework_option
@click.option(
    "--comparison",
    type=click.Choice(COMPARISONS),
    default=None,
    help="What the period's figures are set against [default: previous_period].",
)
@click.option(
    "--domains",
    default=None,
    help="Need domains for the trajectory models: all, total, none or a "
    "comma-separated list of domain ids [default: all].",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=None,
    help="Growth-model engine [default: fast].",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed for simulated intervals (same seed, same numbers) [default: 1].",
)
@click.option(
    "--notebook",
    default="impact_update",
    show_default=True,
    help="Notebook to run: impact_update, need_peaks, or a path to an .ipynb with "
    "a cell tagged 'parameters'.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any other notebook parameter (checked against the notebook's "
    "parameters cell; repeatable).",
)
@click.option(
    "--kernel",
    default="vc-eval",
    show_default=True,
    help="Jupyter kernel that runs the notebook (`make setup` registers vc-eval).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes for --all or several councils [default: up to 2, one per CPU].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the batch on Dask distributed: the address of a running scheduler "
    "(e.g. tcp://host:8786, from dask-jobqueue or Kubernetes), or 'local' to start a "
    "LocalCluster of --workers processes. Data, cache and output folders must be "
    "shared with the workers.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds allowed per notebook cell (default: no limit).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep, between runs, each council's tables and the figures across all "
    "councils, computed once per dataset [default: $VC_EVAL_CACHE, else .vc-eval-cache "
    "inside the data folder]. Holds row-level (pseudonymised) data: keep it where the "
    "data may be kept. Remove it with `vc-eval cache clear`.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Load the whole dataset in every notebook instead of using the cache.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar for batches [default: on a terminal].",
)
@friendly_errors
def report(
    councils,
    all_councils,
    data_dir,
    out_dir,
    period_start,
    period_end,
    framework,
    comparison,
    domains,
    engine,
    seed,
    notebook,
    params,
    kernel,
    workers,
    scheduler,
    timeout,
    cache_dir,
    no_cache,
    progress,
) -> None:
    """Render impact-update reports: a parameterised notebook run by Papermill.

    Each report is one self-contained HTML file with code hidden, the
    executed notebook beside it for audit, and a JSON file of headline
    numbers. Files are written under temporary names and moved into place,
    so a failed run never leaves a report that looks finished. With --all,
    one council's failure is written to its traceback file and the rest
    still render; the exit code is 1 if any report failed.

    Every table in a report passes disclosure control (counts 1-5 shown as c)
    and no child, assessor or provider identifier appears in it.
    """
    from vc_eval.reporting.cache import default_cache_dir
    from vc_eval.reporting.render import (
        ReportError,
        check_kernel,
        check_report_options,
        list_councils,
        notebook_parameters,
        notebook_path,
        render_batch,
        render_report_safe,
    )

    try:
        nb = notebook_path(notebook)
        known = notebook_parameters(nb)
        if all_councils and councils:
            raise ReportError("give --council or --all, not both")
        given = {
            "period_start": period_start,
            "period_end": period_end,
            "framework": framework,
            "comparison": comparison,
            "domains": domains,
            "engine": engine,
            "seed": seed,
        }
        parameters = {k: v for k, v in given.items() if v is not None}
        if "framework" in parameters and Path(parameters["framework"]).exists():
            parameters["framework"] = str(Path(parameters["framework"]).resolve())
        parameters.update(_param_pairs(params))
        unknown = [k for k in parameters if k not in known]
        if unknown:
            raise ReportError(
                f"not a parameter of notebook {nb.stem}: {', '.join(unknown)} (it takes "
                f"{', '.join(known)})"
            )
        pooled = "councils" in known and "council" not in known
        if pooled:
            targets = [",".join(councils) or None]
        elif all_councils:
            targets = list_councils(data_dir)
        elif councils:
            targets = list(councils)
        else:
            raise ReportError("name a council with --council NAME, or use --all")
        check_report_options(
            data_dir=data_dir,
            councils=[c for t in targets if t for c in t.split(",")],
            period_start=parameters.get("period_start", ""),
            period_end=parameters.get("period_end", ""),
            comparison=parameters.get("comparison", "previous_period"),
            engine=parameters.get("engine", "fast"),
        )
        check_kernel(kernel)
    except ReportError as err:
        raise click.UsageError(str(err)) from err

    cache = None if no_cache else (cache_dir or default_cache_dir(data_dir))
    if len(targets) == 1 and not all_councils:
        res = render_report_safe(
            targets[0],
            data_dir=data_dir,
            out_dir=out_dir,
            notebook=nb,
            kernel=kernel,
            parameters=parameters,
            timeout=timeout,
            cache_dir=cache,
            stage=lambda line: click.echo(line, err=True),
            # one report: its sections in two processes (one per core) before the notebook
            processes=max(1, min(2, workers or 2, os.cpu_count() or 1)),
        )
        if res.ok:
            click.echo(f"report: {res.html} ({res.seconds:.1f} s)")
            click.echo(f"executed notebook: {res.ipynb}; headline numbers: {res.headline_json}")
            return
        name = " ".join(str(res.council).split())  # one line, whatever the name holds
        click.echo(f"error: the report for {name} failed: {res.error}", err=True)
        click.echo(f"traceback: {res.error_file}", err=True)
        raise SystemExit(1)

    n_workers = workers or max(1, min(2, os.cpu_count() or 1, len(targets)))
    batch_kwargs = dict(
        data_dir=data_dir,
        out_dir=out_dir,
        notebook=nb,
        kernel=kernel,
        parameters=parameters,
        workers=n_workers,
        timeout=timeout,
        progress=progress,
        cache_dir=cache,
    )
    if scheduler:
        from vc_eval.reporting.batch import dask_client

        with dask_client(scheduler, workers) as client:
            batch = render_batch(targets, client=client, **batch_kwargs)
        where = f"on Dask ({scheduler})"
    else:
        batch = render_batch(targets, **batch_kwargs)
        where = f"with {n_workers} worker(s)"
    for r in batch.failed:
        name = " ".join(str(r.council).split())
        click.echo(f"FAILED {name}: {r.error} (traceback: {r.error_file})", err=True)
    click.echo(f"{batch.summary()} {where}")
    click.echo(f"index: {batch.index}")
    if not batch.ok:
        raise SystemExit(1)
