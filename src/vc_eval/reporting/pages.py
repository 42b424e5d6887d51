"""Report pages computed before the notebook runs, outside its kernel.

The impact-update notebook shows the page that
:func:`vc_eval.reporting.sections.page` computes, audits and keeps in the data's
report cache (:func:`vc_eval.reporting.cache.save_page`). The renderer computes
that page here first, with the notebook's own parameters, and then runs the
notebook, which finds the page in the cache and only displays it:

* **one report** (``vc-eval report --council NAME``): the sections are computed
  in two processes, the renderer's and one helper (:class:`PageHelper`). The
  sections that share no intermediate result with the rest
  (:data:`SHARED_SECTIONS`, costliest first) go to whichever process is free:
  the helper takes them from the front of the list, the renderer from the back
  once its own sections are done, so the two finish together whatever the
  council's data make costly. The helper sends its sections back with their
  figures already rendered to PNG; the renderer then audits the page as a
  whole, exactly as the notebook would; meanwhile the notebook's kernel starts
  and imports (``render.WarmKernel``), so the notebook only shows the page;
* **a batch**: each worker process computes its councils' pages itself, one
  after another, so the imports of the analysis libraries are paid once per
  worker, not once per council, and the kernel of each notebook starts in about
  a second.

Nothing here changes what a page says: the sections are the same functions on
the same data and parameters (every random draw is seeded from the report's
``seed``; no analysis uses global random state), the audit runs on the whole
page in one process, and the page is stored under the same key the notebook
looks for. The notebook stays runnable on its own (in JupyterLab, or with
``--no-cache``): with no stored page it computes everything itself. Anything
that goes wrong here is logged and left to the notebook, which then computes
the page and fails, if it fails, exactly as it would have without this step.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

log = logging.getLogger("vc_eval.report")

#: Sections either process may compute for a single report: ones whose intermediate
#: results no other part of the page uses (the needs profile and the care population
#: feed the audit's headline counts, so they stay with the renderer, which audits the
#: page). Costliest first: the helper takes from the front, the renderer from the back.
SHARED_SECTIONS: tuple[str, ...] = (
    "trajectories",
    "outcomes",
    "impact",
    "cost_need",
    "strengths",
    "agreement",
    "stability",
    "costs",
)
#: Loggers whose lines go to the report's log file while a page is computed here.
_LOGGERS = ("vc_eval", "py.warnings")


@contextlib.contextmanager
def quiet(log_path: str | Path | None) -> Iterator[None]:
    """Warnings and log lines of the analyses to ``log_path`` (nowhere when None).

    The same rule as inside a report kernel (``sections.quiet_kernel``): nothing
    reaches the console; warnings a reader needs are in the results' caveats.
    """
    handler: logging.Handler = (
        logging.FileHandler(log_path, encoding="utf-8") if log_path else logging.NullHandler()
    )
    # the time of day: the renderer and the helper write to the same log
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", "%H:%M:%S"))
    loggers = [logging.getLogger(n) for n in _LOGGERS]
    saved = [(lg.handlers[:], lg.propagate, lg.level) for lg in loggers]
    try:
        for lg in loggers:
            lg.handlers = [handler]
            lg.propagate = False
            lg.setLevel(logging.INFO)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            logging.captureWarnings(True)
            try:
                yield
            finally:
                logging.captureWarnings(False)
    finally:
        for lg, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)
        handler.close()


def _context_arguments(parameters: Mapping) -> dict:
    """The notebook parameters that are :func:`~vc_eval.reporting.sections.build_context`'s."""
    from vc_eval.reporting.context import CONTEXT_PARAMETERS

    return {k: parameters[k] for k in CONTEXT_PARAMETERS if k in parameters}


def _warm_up() -> None:
    """Import what the helper's sections use while the renderer prepares the cache.

    What the sections it usually ends up with use; the others are imported by
    whichever process claims them (importing everything in both processes cost
    more CPU than the head start gave).
    """
    os.environ["TQDM_DISABLE"] = "1"
    import matplotlib

    matplotlib.use("Agg")
    from vc_eval.analysis import agreement, care, outcomes, strengths  # noqa: F401
    from vc_eval.analysis.trajectories import fit_domains  # noqa: F401
    from vc_eval.plots import agreement as agreement_plots  # noqa: F401
    from vc_eval.plots import outcomes as outcome_plots  # noqa: F401
    from vc_eval.plots import population, trajectories  # noqa: F401
    from vc_eval.reporting import sections  # noqa: F401


def compute_sections(
    arguments: Mapping,
    keys: tuple[str, ...],
    log_path: str | None,
    started: str,
    claims,
) -> dict:
    """Sections ``keys`` of one report as computed (before the page audit), figures as PNGs.

    Runs in the helper process; the figures travel as
    :class:`~vc_eval.reporting.cache.RenderedFigure` (PNG at the report's dpi).
    ``started``: a line about the helper's start-up, for the log. ``claims``:
    the positions shared with the renderer (see :func:`_claim`); the helper
    computes the sections it claims from the front.
    """
    from vc_eval.reporting import sections as S

    with quiet(log_path):
        if started:
            log.info("helper: %s", started)
        with _timed("helper: context"):
            ctx = S.build_context(**arguments)
        out = {}
        while (i := _claim(claims, front=True)) is not None:
            out[keys[i]] = _section(S, ctx, keys[i], "helper: ")
        return out


def _claim(claims, *, front: bool) -> int | None:
    """Take the next unclaimed position of the shared list, from its front or back.

    ``claims`` is a shared ``[front, back]`` pair: positions ``front`` to
    ``back - 1`` are still unclaimed. None when every position is taken.
    """
    with claims.get_lock():
        if claims[0] >= claims[1]:
            return None
        if front:
            claims[0] += 1
            return claims[0] - 1
        claims[1] -= 1
        return claims[1]


def _section(S, ctx, key: str, who: str = ""):
    """Section ``key`` computed, with its figures rendered to PNG at once (and closed).

    The page keeps PNGs anyway (``sections.page``); rendering them here, in the
    process that drew them and while the other process is still busy, keeps
    them off the end of the page's critical path.
    """
    from vc_eval.reporting import cache

    with _timed(f"{who}section {key}"):
        sm = S.computed(ctx, key)
    with _timed(f"{who}{len(sm.figures)} figure(s) of {key} to PNG"):
        figures = [cache.RenderedFigure.of(f, ctx.figure_dpi) for f in sm.figures]
    sm.close()
    return replace(sm, figures=figures)


@contextlib.contextmanager
def _timed(what: str) -> Iterator[None]:
    """Log the CPU seconds of a step (the report's log: where a report's time goes)."""
    t0, w0 = time.process_time(), time.perf_counter()
    yield
    log.info(
        "%s: %.2f s CPU, %.2f s wall", what, time.process_time() - t0, time.perf_counter() - w0
    )


def _helper_main(conn, claims) -> None:
    """The helper process: import the analyses, then compute the sections it claims."""
    t0, w0 = time.process_time(), time.perf_counter()
    _warm_up()
    t1, w1 = time.process_time(), time.perf_counter()
    try:
        job = conn.recv()
    except EOFError:  # the page was already stored: nothing to do
        return
    started = (
        f"imports {t1 - t0:.2f} s CPU, {w1 - w0:.2f} s wall; "
        f"then {time.perf_counter() - w1:.2f} s waiting for the job"
    )
    try:
        conn.send(("ok", compute_sections(*job, started, claims)))
    except BaseException as err:  # noqa: BLE001 - sent back; the renderer decides
        conn.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


class PageHelper:
    """One helper process for a single report's sections (see :func:`prepare_page`).

    Started early, so it imports the analyses while the renderer prepares the
    cache; stopped at once when the page turns out to be stored already.
    ``spawn``: a fresh interpreter, never a copy of the renderer's threads.
    """

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._claims = ctx.Array("i", [0, 0])  # see _claim
        self.process = ctx.Process(target=_helper_main, args=(child, self._claims), daemon=True)
        self.process.start()
        child.close()

    def compute(self, arguments: Mapping, keys: tuple[str, ...], log_path: str | None):
        """Send the job; returns a function that waits for the sections and returns them.

        The helper computes the sections of ``keys`` it claims from the front;
        meanwhile :meth:`claim` gives the caller the others, from the back.
        """
        with self._claims.get_lock():
            self._claims[0], self._claims[1] = 0, len(keys)
        self._conn.send((dict(arguments), keys, log_path))

        def result() -> dict:
            try:
                status, value = self._conn.recv()
            except EOFError as err:
                raise RuntimeError(
                    f"the helper process ended without a result (exit code {self.process.exitcode})"
                ) from err
            if status != "ok":
                raise RuntimeError(f"helper process: {value}")
            return value

        return result

    def claim(self) -> int | None:
        """Position in the job's ``keys`` of a section for the caller, or None (all taken)."""
        return _claim(self._claims, front=False)

    def close(self) -> None:
        """Stop the helper (at once if it still has work: its results are not needed)."""
        self._conn.close()
        self.process.join(timeout=0.5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        # the shared pair's lock is a named semaphore: released now, not at exit
        self._claims = None

    def __enter__(self) -> PageHelper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def prepare_page(
    parameters: Mapping,
    *,
    helper: PageHelper | None = None,
    log_path: str | Path | None = None,
) -> bool:
    """Compute and store the finished page the notebook will show, if it is not stored yet.

    Parameters
    ----------
    parameters : mapping
        The notebook's parameters, exactly as the notebook gets them (coerced
        to their types); ``cache_dir`` must name the report cache, where the
        page is kept.
    helper : PageHelper, optional
        A helper process sharing :data:`SHARED_SECTIONS` (one report); None:
        everything in this process (a batch worker).
    log_path : path, optional
        Where warnings and log lines go (the report's log).

    Returns
    -------
    bool
        Whether the page is now stored. False when there is no report cache
        to keep it in, or when anything failed (logged): the notebook then
        computes the page itself.
    """
    from vc_eval.reporting import sections as S

    arguments = _context_arguments(parameters)
    path = str(log_path) if log_path else None
    with quiet(path):
        try:
            return _prepare(S, arguments, helper, path)
        except Exception:  # noqa: BLE001 - the notebook computes the page and reports it
            log.warning("page not prepared outside the notebook", exc_info=True)
            return False


def _prepare(S, arguments: dict, helper: PageHelper | None, path: str | None) -> bool:
    """:func:`prepare_page`'s work (``S``: :mod:`vc_eval.reporting.sections`)."""
    with _timed("context"):
        ctx = S.build_context(**arguments)
    if ctx.page_store is None:
        return False
    if S.page_is_stored(ctx):
        return True
    keys = tuple(k for k in SHARED_SECTIONS if k in S.SECTION_FUNCTIONS)
    result = helper.compute(arguments, keys, path) if helper is not None and keys else None
    for key in S.SECTION_FUNCTIONS:
        if result is None or key not in keys:
            S.use_computed(ctx, key, _section(S, ctx, key))
    if result is not None:
        # the shared sections the helper has not started yet, from the cheap end
        while (i := helper.claim()) is not None:
            S.use_computed(ctx, keys[i], _section(S, ctx, keys[i]))
        with _timed("waiting for the helper"):
            for key, sm in result().items():
                S.use_computed(ctx, key, sm)
    with _timed("page audit, figures to PNG, page stored"):
        S.page(ctx)
    return True


__all__ = ["SHARED_SECTIONS", "PageHelper", "compute_sections", "prepare_page", "quiet"]
