"""Report batches on Dask distributed: one machine's ``LocalCluster`` or an existing cluster.

:func:`vc_eval.reporting.render.render_batch` hands its councils here when
given a Dask ``client`` (``vc-eval report --all --scheduler ADDRESS``, or
``--scheduler local --workers N`` for a ``LocalCluster``). Each council is
one task running :func:`~vc_eval.reporting.render.render_report_safe`, the
same function the serial and process-pool batches run, so the reports are
the same files byte for byte; a council that fails (or whose worker dies)
is a failed result, never a stopped batch; the index page is written here
by the caller as for any batch.

Workers write the reports themselves: the data folder, the batch cache
and the output folder must be paths every worker can read and write (a
shared filesystem on a real cluster). Each worker runs one task at a time
(one thread): Papermill changes process-wide state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence

#: Scheduler value that starts a ``LocalCluster`` on this machine.
LOCAL = "local"


@contextlib.contextmanager
def dask_client(scheduler: str, workers: int | None = None) -> Iterator[object]:
    """A ``distributed.Client``: to ``scheduler``, or to a new ``LocalCluster``.

    Parameters
    ----------
    scheduler : str
        ``"local"`` for a ``LocalCluster`` on this machine (closed on exit),
        or the address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``
        (started by dask-jobqueue, the Dask Kubernetes operator or
        ``dask scheduler``; the cluster is left running).
    workers : int, optional
        ``LocalCluster`` worker processes (default: one per CPU, at most 2).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise RuntimeError(
            "Dask distributed is not installed: pip install 'dask[distributed]'"
        ) from err
    if scheduler == LOCAL:
        import os

        n = workers or max(1, min(2, os.cpu_count() or 1))
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    else:
        with Client(scheduler) as client:
            yield client


def run_on_dask(
    client,
    task: Callable,
    councils: Sequence[str],
    kwargs: Mapping,
    failed: Callable[[str, str], object],
    on_done: Callable[[str, object], None] | None = None,
) -> dict[str, object]:
    """Run ``task(council, **kwargs)`` per council as Dask tasks; failures are results.

    Parameters
    ----------
    client : distributed.Client
    task : callable
        :func:`~vc_eval.reporting.render.render_report_safe` (passed in, so this
        module does not import the renderer that calls it).
    councils : sequence of str
    kwargs : mapping
        Keyword arguments of ``task`` (absolute paths).
    failed : callable
        ``failed(council, message)``: the result of a task that never returned.
    on_done : callable, optional
        Called with each council and its result as it finishes (progress).
    """
    from distributed import as_completed

    futures = {
        client.submit(
            task,
            c,
            pure=False,
            key=f"vc-eval-report-{i}",
            retries=0,
            **kwargs,
        ): c
        for i, c in enumerate(councils)
    }
    results: dict[str, object] = {}
    for fut in as_completed(futures):
        c = futures[fut]
        try:
            results[c] = fut.result()
        except Exception as err:  # the worker died or the task could not run
            results[c] = failed(c, f"{type(err).__name__}: {err}"[:300])
        if on_done is not None:
            on_done(c, results[c])
    return results


__all__ = ["LOCAL", "dask_client", "run_on_dask"]
