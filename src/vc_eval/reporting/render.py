"""Reports: notebooks executed by Papermill and rendered to one HTML file each.

:func:`render_report` runs a parameterised notebook from ``notebooks/`` for
one council and writes, side by side in the output folder:

``<council>_<notebook>.html``
    a single self-contained HTML file (figures embedded, no scripts, no code
    cells, no parameter cells);
``<council>_<notebook>.ipynb``
    the executed notebook, for audit;
``<council>_<notebook>.json``
    the headline numbers (a small JSON sidecar).

Everything is written under temporary names and moved into place at the end,
the HTML last, so a failed run never leaves a report that looks finished; a
failure writes ``<council>_<notebook>.error.txt`` (the traceback) instead.
:func:`render_batch` does this for many councils in worker processes and
writes ``index.html`` linking every report with its status.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import html
import json
import multiprocessing
import multiprocessing.util
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from vc_eval.core.files import atomic_file
from vc_eval.core.progress import tqdm
from vc_eval.reporting.context import COMPARISONS, CONTEXT_PARAMETERS, ENGINES, HEADLINE_MIME

#: Notebooks shipped with the workbench: name -> what it is for.
NOTEBOOKS: dict[str, str] = {
    "impact_update": "Impact-update report for a council (evaluators, programme leads)",
    "need_peaks": "Need trajectories and peak ages with sensitivity analyses (academics)",
    "sufficiency": "Placement demand projected from need, against supply (commissioners)",
}
#: Titles of the rendered pages.
TITLES: dict[str, str] = {
    "impact_update": "Impact update",
    "need_peaks": "Peak ages of need",
    "sufficiency": "Sufficiency: placement demand from need",
}
DEFAULT_NOTEBOOK = "impact_update"
#: Label of a report over every council (notebooks with a ``councils`` parameter).
ALL_COUNCILS = "all councils"
DEFAULT_KERNEL = "vc-eval"
#: Cells with these tags are left out of the HTML (they stay in the executed notebook).
REMOVE_TAGS: tuple[str, ...] = ("parameters", "injected-parameters", "remove_cell", "headline")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_html_lock = threading.Lock()

#: Styles added to nbconvert's classic template (which writes alt text on figures).
_CSS = """
table.vc-table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
table.vc-table caption { caption-side: top; text-align: left; font-weight: bold;
  padding-bottom: 0.3em; color: #1a1a1a; }
table.vc-table th, table.vc-table td { border: 1px solid #bbb; padding: 0.25em 0.6em; }
table.vc-table th { background: #f0f0f0; color: #1a1a1a; }
table.vc-table td[data-kind="count"], table.vc-table td[data-kind="percent"],
table.vc-table td[data-kind="stat"], table.vc-table td.suppressed { text-align: right; }
table.vc-table td.suppressed { color: #555; font-style: italic; }
p.table-note { font-size: 0.85em; color: #444; margin-top: -0.4em; }
"""

_TEMPLATE = (
    "{%- extends 'classic/index.html.j2' -%}\n"
    # No external scripts (require.js, jQuery, MathJax, mermaid): the file
    # must open offline and be self-contained.
    "{%- block html_head_js -%}{%- endblock html_head_js -%}\n"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
    '{%- block html_head_css -%}<style type="text/css">' + _CSS + "</style>"
    "{%- endblock html_head_css -%}\n"
)


class ReportError(ValueError):
    """A report cannot be made with these parameters (clear message, no traceback needed)."""


# --------------------------------------------------------------------------
# Notebooks and their parameters
# --------------------------------------------------------------------------


def _notebook_tools() -> None:
    """Before importing papermill, nbformat or nbconvert: keep a slow optional import out.

    jsonschema (under nbformat) imports ``rfc3987_syntax`` when it is installed,
    only to check the "iri" string format, and that package builds an Earley
    parser at import time: about 3.5 s of CPU, a sixth of a report. Notebook
    validation never checks that format, so this process does without it
    (jsonschema then skips that one format check, as it does when the package is
    absent). Nothing changes if jsonschema was already imported.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None: "import" raises ImportError


def notebooks_dir() -> Path:
    """The folder holding the notebooks: ``notebooks/`` of the source checkout,
    else the copy shipped inside the package."""
    here = Path(__file__).resolve()
    checkout = here.parents[3] / "notebooks"
    if (checkout / f"{DEFAULT_NOTEBOOK}.ipynb").exists():
        return checkout
    return Path(str(resources.files("vc_eval") / "notebooks"))


def notebook_path(notebook: str | Path) -> Path:
    """Path of a shipped notebook by name, or a notebook file given by path."""
    p = Path(notebook)
    if p.suffix == ".ipynb":
        if not p.exists():
            raise ReportError(f"notebook {p} not found")
        return p
    if notebook not in NOTEBOOKS:
        raise ReportError(f"unknown notebook {notebook!r}; choose from {', '.join(NOTEBOOKS)}")
    path = notebooks_dir() / f"{notebook}.ipynb"
    if not path.exists():
        raise ReportError(f"notebook {path} not found")
    return path


def notebook_parameters(notebook: str | Path) -> dict[str, dict]:
    """Parameters of a notebook's ``parameters`` cell: name -> {default, type, help}."""
    path = notebook_path(notebook)
    st = path.stat()
    # read once per file version: a report asks several times (checks, cache, parameters)
    found = _inspected(str(path.resolve()), st.st_mtime_ns, st.st_size)
    return {name: dict(p) for name, p in found.items()}


@functools.lru_cache(maxsize=16)
def _inspected(path: str, mtime_ns: int, size: int) -> dict[str, dict]:
    """:func:`notebook_parameters` of the notebook file at ``path`` as it is now."""
    _notebook_tools()
    import papermill

    params = papermill.inspect_notebook(path)
    return {
        name: {"default": p.get("default"), "type": _param_type(p), "help": p.get("help", "")}
        for name, p in params.items()
    }


def _param_type(p: Mapping) -> str | None:
    """Annotated type, else the type of the default's literal value."""
    typ = p.get("inferred_type_name")
    if typ and typ != "None":
        return str(typ)
    try:
        return type(ast.literal_eval(str(p.get("default")))).__name__
    except (ValueError, SyntaxError):
        return None


_COERCE = {"str": str, "int": int, "float": float, "bool": bool}


def validate_parameters(notebook: str | Path, params: Mapping) -> dict:
    """Check names and types of parameters against the notebook; return them coerced.

    Papermill only logs a warning for an unknown name (a typo would be
    silently ignored), so this is checked here.

    Raises
    ------
    ReportError
        On an unknown name or a value that cannot take the parameter's type.
    """
    known = notebook_parameters(notebook)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ReportError(
            f"unknown notebook parameter(s) {', '.join(unknown)} for "
            f"{Path(notebook).stem}; it takes {', '.join(known)}"
        )
    out = {}
    for name, value in params.items():
        typ = _COERCE.get(str(known[name]["type"]))
        if typ is None or value is None:
            out[name] = value
            continue
        if typ is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ReportError(f"parameter {name}: {value!r} is not true or false")
            out[name] = value.lower() in ("true", "1", "yes")
            continue
        try:
            out[name] = typ(value)
        except (TypeError, ValueError) as err:
            raise ReportError(
                f"parameter {name}: {value!r} is not a valid {known[name]['type']}"
            ) from err
    return out


def list_councils(data_dir: str | Path) -> list[str]:
    """Council names in a dataset folder, sorted (reads only the councils table)."""
    from vc_eval.core.dataset import _find_table_file, _read_table
    from vc_eval.core.schema import COUNCILS, Col

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ReportError(f"{data_dir}: dataset folder not found")
    f = _find_table_file(data_dir, COUNCILS)
    if f is None:
        raise ReportError(f"{data_dir}: no councils table (councils.parquet or .csv)")
    return sorted(str(c) for c in _read_table(f)[Col.council].dropna().unique())


def check_report_options(
    *,
    data_dir: Path,
    councils: Sequence[str],
    period_start: str,
    period_end: str,
    comparison: str,
    engine: str,
) -> None:
    """Checks that can be made before any notebook runs (cheap; the notebook checks the rest)."""
    import pandas as pd

    known = list_councils(data_dir)
    missing = [c for c in councils if c not in known]
    if missing:
        raise ReportError(
            f"council(s) not in {data_dir}: {', '.join(missing)}; councils are "
            f"{', '.join(known) or '(none)'}"
        )
    dates = {}
    for name, value in (("period-start", period_start), ("period-end", period_end)):
        if value:
            try:
                dates[name] = pd.Timestamp(value)
            except ValueError as err:
                raise ReportError(f"--{name}: {value!r} is not a date (YYYY-MM-DD)") from err
    if len(dates) == 2 and dates["period-start"] >= dates["period-end"]:
        raise ReportError("--period-start must be before --period-end")
    if comparison not in COMPARISONS:
        raise ReportError(f"--comparison must be one of {', '.join(COMPARISONS)}")
    if engine not in ENGINES:
        raise ReportError(f"--engine must be one of {', '.join(ENGINES)}")


def check_kernel(kernel: str) -> None:
    """Raise a clear error when the Jupyter kernel is not installed."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if kernel not in specs:
        raise ReportError(
            f"Jupyter kernel {kernel!r} is not installed (installed: "
            f"{', '.join(sorted(specs)) or 'none'}). Register it with `make setup`, or "
            f"`python -m ipykernel install --sys-prefix --name {kernel}`, or pass --kernel."
        )


# --------------------------------------------------------------------------
# Execute and render one notebook
# --------------------------------------------------------------------------


def slug(name: str) -> str:
    """File-name-safe form of a council name."""
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s or "council"


def report_stem(council: str, notebook: str) -> str:
    return f"{slug(council)}_{Path(notebook).stem}"


def report_title(notebook: str, council: str) -> str:
    """Title of a rendered page (one line; nbconvert escapes it into ``<title>``)."""
    stem = Path(notebook).stem
    return " ".join(f"{TITLES.get(stem, stem)}: {council}".split())


def council_parameter(notebook: str | Path, council: str | None) -> dict:
    """The notebook parameter that selects the council: ``council`` or ``councils``.

    ``need_peaks`` takes ``councils`` (empty: all councils pooled).
    """
    known = notebook_parameters(notebook)
    if "council" in known:
        return {"council": council or ""}
    if "councils" in known:
        return {"councils": council or ""}
    if council:
        raise ReportError(f"notebook {Path(notebook).stem} has no council parameter")
    return {}


def _is_kernel_start_error(err: BaseException) -> bool:
    """ZMQ port clashes and kernels dying at start-up (worth one retry)."""
    text = f"{type(err).__name__}: {err}".lower()
    return any(
        s in text
        for s in (
            "address already in use",
            "zmqerror",
            "kernel died",
            "kernel didn't respond",
            "kernel did not respond",
        )
    )


def _quiet_kernel_manager(log_path: Path):
    """A kernel manager whose kernel writes its stderr to ``log_path``.

    The kernel's own start-up chatter (ipykernel's "running over TCP without
    encryption" warning) and, when a run is interrupted (``--timeout``), its
    ZMQ tracebacks then go to a log kept with the failure, not the console.
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            fh = open(log_path, "ab")  # noqa: SIM115 - closed with the kernel
            self._vc_log = fh
            kw.setdefault("stderr", fh)
            kw.setdefault("stdout", fh)
            return await AsyncKernelManager.start_kernel(self, **kw)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            fh = getattr(self, "_vc_log", None)
            if fh is not None and not restart:
                fh.close()

    return QuietKernelManager


@contextlib.contextmanager
def _log_to(path: Path | None):
    """Papermill's and nbclient's log lines to ``path`` instead of the console."""
    import logging

    loggers = [logging.getLogger(n) for n in ("papermill", "nbclient", "traitlets")]
    saved = [(lg.handlers[:], lg.propagate, lg.level) for lg in loggers]
    handler = logging.FileHandler(path, encoding="utf-8") if path else logging.NullHandler()
    try:
        for lg in loggers:
            lg.handlers = [handler]
            lg.propagate = False
            lg.setLevel(logging.INFO)
        yield
    finally:
        for lg, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)
        handler.close()


#: What nbclient starts every kernel with (``NotebookClient.ipython_hist_file``): a
#: kernel started ahead of its notebook (:class:`WarmKernel`) gets the same.
_KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]
#: Papermill engine that runs a notebook on a kernel already started (:class:`WarmKernel`).
_WARM_ENGINE = "vc-eval-warm-kernel"
_warm_engine_registered: list[bool] = []  # non-empty once registered in this process


class WarmKernel:
    """A notebook's kernel started before the notebook runs, its imports already done.

    Starting a kernel and importing what the notebook's first cell imports
    takes a few seconds of CPU, which would otherwise come after the page is
    computed, on one core. Started while the page is computed, it runs on
    the other core; the notebook then runs on it exactly as on a fresh
    kernel: the imports run silently (``silent=True``: no history, the
    execution count stays at 0, nothing recorded in the notebook), so the
    first cell's import finds the modules loaded and every cell runs and
    outputs as it would have. The kernel is started with the arguments and
    log nbclient would give it, and shut down by nbclient after the notebook
    (or by :meth:`close` if the notebook never runs).
    """

    def __init__(self, kernel: str, log_path: Path, imports: str = "") -> None:
        from jupyter_core.utils import run_sync

        self.kernel = kernel
        self._taken = None
        self.km = _quiet_kernel_manager(log_path)(kernel_name=kernel)
        run_sync(self.km.start_kernel)(extra_arguments=list(_KERNEL_ARGUMENTS))
        self._kc = None
        if imports:
            self._kc = self.km.client()
            self._kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
            self._kc.execute(imports, silent=True, store_history=False, allow_stdin=False)

    def take(self):
        """The kernel manager, for one notebook run (which asks the kernel to stop)."""
        self._stop_client()
        self._taken, self.km = self.km, None
        return self._taken

    def _stop_client(self) -> None:
        if self._kc is not None:
            with contextlib.suppress(Exception):
                self._kc.stop_channels()
            self._kc = None

    def close(self) -> None:
        """Wait for the kernel to stop (asked to by the notebook run), else stop it now."""
        from jupyter_core.utils import run_sync

        self._stop_client()
        km, self.km = self.km, None
        with contextlib.suppress(Exception):
            if km is not None:  # never used: nothing to lose
                run_sync(km.shutdown_kernel)(now=True)
            elif self._taken is not None:
                km, self._taken = self._taken, None
                if km.has_kernel:
                    run_sync(km.finish_shutdown)()  # as nbclient's shutdown, then cleanup
                run_sync(km.cleanup_resources)()


def _warm_engine() -> str:
    """Register (once) the papermill engine that runs notebooks on a :class:`WarmKernel`.

    It is papermill's own nbclient engine, given the kernel manager (``km``),
    and told to shut the kernel down after the notebook as it does with the
    kernels it starts itself (``cleanup_kc``), unless ``keep_kernel`` (a
    :class:`KeptKernel`, which runs the worker's next notebook).
    """
    from jupyter_core.utils import run_sync
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    if _warm_engine_registered:
        return _WARM_ENGINE

    class WarmKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            **kwargs,
        ):
            # as NBClientEngine.execute_managed_notebook, with the kernel manager given
            km = kwargs.pop("km")
            keep = kwargs.pop("keep_kernel", False)
            kwargs = remove_args(["input_path", "kernel_manager_class"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs,
                timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client = PapermillNotebookClient(nb_man, km=km, **final_kwargs)
            try:
                return client.execute(cleanup_kc=False)
            finally:
                # as nbclient's own clean-up, except that the kernel is asked to stop
                # here and waited for later (WarmKernel.close), while the HTML is written
                if client.kc is not None:
                    client.kc.stop_channels()
                if not keep:
                    with contextlib.suppress(Exception):
                        run_sync(km.request_shutdown)()

    papermill_engines.register(_WARM_ENGINE, WarmKernelEngine)
    _warm_engine_registered.append(True)
    return _WARM_ENGINE


#: Run silently on a kept kernel when it starts: its namespace as a new kernel has it,
#: kept on the shell (no name is added to the namespace).
_SNAPSHOT = "get_ipython()._vc_eval_new_ns = dict(globals())"
#: Run silently on a kept kernel before each later notebook: the namespace emptied
#: (IPython's reset), then given back what a new kernel has in it, and the
#: execution count back at 1 (modules stay imported).
_RESET = (
    "(lambda ip: (ip.reset(new_session=True), "
    "ip.user_ns.update({k: v for k, v in ip._vc_eval_new_ns.items() if k not in ip.user_ns})"
    "))(get_ipython())"
)


class KeptKernel:
    """A batch worker's kernel, kept from one notebook to the next.

    Starting a kernel and importing the analyses costs about 1.5 s of CPU per
    report, a tenth of a national report in a batch. A worker process keeps
    one kernel (per kernel name and thread, :func:`kept_kernel`) and runs each of its
    councils' notebooks on it: before each notebook the kernel's namespace is
    emptied and its execution count set back to 1 (IPython's
    ``reset(new_session=True)``, run silently: nothing recorded), so every
    cell runs and outputs as on a new kernel: the notebook's cells and outputs,
    the HTML and the JSON are those of a new kernel (tested; the executed
    notebook's run times and cell ids differ between any two runs). After any
    failure the kernel is shut down and the next notebook gets a new one.
    The kernel's console output goes to a temporary log of this worker,
    whose lines of a failed run are added to its error.
    """

    def __init__(self, kernel: str) -> None:
        from jupyter_core.utils import run_sync

        self.kernel = kernel
        fd, name = tempfile.mkstemp(prefix="vc-eval-kernel-", suffix=".log")
        os.close(fd)
        self.log = Path(name)
        self.km = _quiet_kernel_manager(self.log)(kernel_name=kernel)
        self.runs = 0
        try:
            run_sync(self.km.start_kernel)(extra_arguments=list(_KERNEL_ARGUMENTS))
            self._run_silently(_SNAPSHOT)
        except BaseException:
            self.close()  # the kernel, if it started, and the log
            raise

    def _run_silently(self, code: str) -> None:
        """Run ``code`` on the kernel (nothing recorded) and wait for it; raises if it
        fails or the kernel does not answer within a minute."""
        from jupyter_client import BlockingKernelClient

        kc = BlockingKernelClient()
        kc.load_connection_info(self.km.get_connection_info())
        kc.start_channels(iopub=False, stdin=False, hb=False, control=False)
        try:
            msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            while True:
                reply = kc.get_shell_msg(timeout=60)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            if reply["content"].get("status") != "ok":
                raise RuntimeError(f"the kept kernel could not run {code!r}")
        finally:
            kc.stop_channels()

    def fresh(self):
        """The kernel manager, its kernel reset as new (see the class); raises if it
        does not answer (the caller then starts another)."""
        from jupyter_core.utils import run_sync

        if not run_sync(self.km.is_alive)():
            raise RuntimeError("the kept kernel is not running")
        if self.runs:
            self._run_silently(_RESET)
        self.runs += 1
        return self.km

    def log_since(self, offset: int) -> str:
        """The kernel's console output from byte ``offset`` of its log."""
        with contextlib.suppress(OSError), open(self.log, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
        return ""

    def close(self, *, keep_log: bool = False) -> None:
        """Shut the kernel down and remove its log (``keep_log``: not yet; the caller
        reads it first, then calls :meth:`remove_log`)."""
        from jupyter_core.utils import run_sync

        km, self.km = self.km, None
        with contextlib.suppress(Exception):
            if km is not None:
                run_sync(km.shutdown_kernel)(now=True)
        if not keep_log:
            self.remove_log()

    def remove_log(self) -> None:
        with contextlib.suppress(OSError):
            self.log.unlink()


#: This process's kept kernels, by kernel name and thread (a Dask worker with
#: several threads runs one task per thread: each gets its own kernel).
_kept: dict[tuple[str, int], KeptKernel] = {}
_kept_finalizer: list[object] = []  # the exit hook, registered once per process


def kept_kernel(kernel: str) -> KeptKernel:
    """This process's (and thread's) :class:`KeptKernel` for ``kernel``, started if needed.

    Shut down by :func:`close_kept_kernels`, which also runs when the process
    ends (a batch's worker process, or this one).
    """
    key = (kernel, threading.get_ident())
    if key not in _kept:
        if not _kept_finalizer:
            # run by multiprocessing when a worker process ends (and at exit here)
            _kept_finalizer.append(
                multiprocessing.util.Finalize(None, close_kept_kernels, exitpriority=20)
            )
        _kept[key] = KeptKernel(kernel)
    return _kept[key]


def close_kept_kernels() -> None:
    """Shut down this process's kept kernels (end of a batch, or of a Dask worker's)."""
    while _kept:
        _kept.popitem()[1].close()


def _drop_kept(kept: KeptKernel, *, keep_log: bool = False) -> None:
    for key in [k for k, v in _kept.items() if v is kept]:
        del _kept[key]
    kept.close(keep_log=keep_log)


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: Mapping,
    *,
    kernel: str = DEFAULT_KERNEL,
    timeout: float | None = None,
    log_path: Path | None = None,
    warm: WarmKernel | None = None,
    kept: KeptKernel | None = None,
) -> None:
    """Run a notebook with Papermill, retrying once if the kernel fails to start.

    The kernel's console output and Papermill's log lines go to ``log_path``
    (nowhere when None), so a run prints nothing of its own. ``warm``: a
    kernel started ahead (:class:`WarmKernel`), used for the first attempt.
    ``kept``: a batch worker's kernel (:class:`KeptKernel`), used for the
    first attempt and dropped if the notebook fails.

    Raises papermill's ``PapermillExecutionError`` when a cell fails (the
    output notebook is still written, with the error).
    """
    _notebook_tools()
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    log = Path(log_path) if log_path else Path(os.devnull)
    for attempt in (1, 2):
        engine = {}
        try:
            if attempt == 1 and kept is not None:
                engine = {"engine_name": _warm_engine(), "km": kept.fresh(), "keep_kernel": True}
            elif attempt == 1 and warm is not None and warm.km is not None:
                engine = {"engine_name": _warm_engine(), "km": warm.take()}
            with _log_to(log_path):
                papermill.execute_notebook(
                    str(notebook),
                    str(output),
                    parameters=dict(parameters),
                    kernel_name=kernel,
                    progress_bar=False,
                    log_output=False,
                    execution_timeout=timeout,
                    request_save_on_cell_execute=False,
                    kernel_manager_class=_quiet_kernel_manager(log),
                    **engine,
                )
            return
        except BaseException as err:
            if attempt == 1 and kept is not None:
                # its state is unknown: the next notebook gets a new kernel (the log is
                # removed by the caller, once it has read the failed run's lines)
                _drop_kept(kept, keep_log=True)
            # a failing cell or a cell over the time allowed is the notebook's, not the kernel's
            if isinstance(err, PapermillExecutionError | CellTimeoutError) or not isinstance(
                err, Exception
            ):
                raise
            # kernel start-up races (see NOTEBOOKS.md), or a kept kernel that did not answer
            if attempt == 1 and (engine or kept is not None or _is_kernel_start_error(err)):
                time.sleep(0.5)
                continue
            raise


#: An ``<img>`` tag without an ``alt`` attribute (base64 data holds no ``>``).
_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\salt=)[^>]*>", re.IGNORECASE)


@functools.cache
def _html_exporter(plain: bool = False):
    """The HTML exporter of every report (made once per process: nbconvert's import and
    template compilation cost more than a conversion); ``plain``: nbconvert's own
    HTMLExporter with the same settings (what the report's is tested against)."""
    import jinja2

    _notebook_tools()
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
    from nbconvert.preprocessors import TagRemovePreprocessor

    class ReportExporter(HTMLExporter):
        """nbconvert's HTML exporter without its last pass through BeautifulSoup
        when that pass has nothing to do.

        That pass gives alt text to images that have none and a tabindex to the
        JupyterLab template's cells (this template has none of those classes),
        and costs more than the rest of the conversion (it parses the whole page
        again). The impact report's figures all carry their alt text; a page
        with any image without one (a researcher's notebook with ``plt.show()``)
        goes through HTMLExporter itself. The filters are set up as HTMLExporter
        does; a test checks the page is the one HTMLExporter writes.
        """

        def from_notebook_node(self, nb, resources=None, **kw):
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight = self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            data_types = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight)
            self.register_filter("filter_data_type", data_types)
            body, out = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            if _IMG_WITHOUT_ALT.search(body):
                return super().from_notebook_node(nb, resources, **kw)
            return body, out

    exporter = (HTMLExporter if plain else ReportExporter)(
        template_name="classic",
        extra_loaders=[jinja2.DictLoader({"vc_report.html.j2": _TEMPLATE})],
        template_file="vc_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags=set(REMOVE_TAGS), enabled=True), enabled=True
    )
    return exporter


def _warm_html() -> None:
    """Import nbconvert and compile the report template (a thread, while the notebook runs)."""
    with contextlib.suppress(Exception):  # render_html then does it, and reports any error
        import nbformat

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("warm-up")])
        with _html_lock:
            _html_exporter().from_notebook_node(nb, resources={"metadata": {"name": "warm-up"}})


def render_html(nb, *, title: str) -> str:
    """Executed notebook -> self-contained HTML with code and parameter cells hidden."""
    with _html_lock:  # one exporter per process, one conversion at a time
        body, _ = _html_exporter().from_notebook_node(
            _published(nb, title), resources={"metadata": {"name": title}}
        )
    return body


def _published(nb, title: str):
    """A copy of the executed notebook as the report shows it."""
    nb = _copy_nb(nb)
    nb.metadata["title"] = title
    for cell in nb.cells:
        # Warnings go to the executed notebook (audit), not the published page.
        if cell.get("outputs"):
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    return nb


def _copy_nb(nb):
    import copy

    return copy.deepcopy(nb)


def headline_from_notebook(nb) -> dict | None:
    """The headline numbers a notebook emitted (see ``sections.emit_headline``)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if HEADLINE_MIME in data:
                value = data[HEADLINE_MIME]
                return json.loads(value) if isinstance(value, str) else dict(value)
    return None


@dataclass
class RenderResult:
    """What happened to one report."""

    council: str
    notebook: str
    status: str  # "ok" or "failed"
    html: Path | None = None
    ipynb: Path | None = None
    headline_json: Path | None = None
    error_file: Path | None = None
    error: str = ""
    seconds: float = 0.0
    headline: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def report_parameters(
    *,
    council: str,
    data_dir: str | Path,
    period_start: str = "",
    period_end: str = "",
    framework: str = "",
    comparison: str = "previous_period",
    extra: Mapping | None = None,
) -> dict:
    """Notebook parameters for one council's impact-update report (paths made absolute)."""
    p = {
        "council": council,
        "data_dir": str(Path(data_dir).resolve()),
        "period_start": period_start or "",
        "period_end": period_end or "",
        "framework": _abs_if_file(framework),
        "comparison": comparison,
    }
    p.update(extra or {})
    return p


def _abs_if_file(framework: str | None) -> str:
    if not framework:
        return ""
    p = Path(framework)
    return str(p.resolve()) if p.exists() else framework


def use_cache(
    notebook: str | Path,
    data_dir: str | Path,
    cache_dir: str | Path | None,
    councils: Sequence[str | None],
    parameters: Mapping,
) -> dict:
    """Prepare the batch cache (see :mod:`vc_eval.reporting.cache`) and point the notebook at it.

    Returns the parameters with ``cache_dir`` set, or unchanged when there
    is no cache (``cache_dir`` None, a notebook without that parameter, or
    another framework than the data's, whose cross-council figures would
    differ).
    """
    params = dict(parameters)
    known = notebook_parameters(notebook)
    if cache_dir is None or "cache_dir" not in known or params.get("framework"):
        return params
    if params.get("cache_dir"):
        return params
    from vc_eval.reporting.cache import prepare_cache

    # every council's tables: a report compares its council with all the others (cost
    # reference, never-adopters, comparison councils), so they are read from the cache
    # rather than by loading and checking the whole dataset again in every process
    prepare_cache(
        data_dir,
        cache_dir=cache_dir,
        councils=None,
        periods=[(str(params.get("period_start", "")), str(params.get("period_end", "")))],
        series=True,
        shared=len(councils) > 1,
    )
    params["cache_dir"] = str(Path(cache_dir).resolve())
    return params


def render_report(
    council: str | None,
    *,
    data_dir: str | Path,
    out_dir: str | Path = "reports",
    notebook: str | Path = DEFAULT_NOTEBOOK,
    kernel: str = DEFAULT_KERNEL,
    parameters: Mapping | None = None,
    timeout: float | None = None,
    cache_dir: str | Path | None = None,
    stage: Callable[[str], None] | None = None,
    processes: int = 1,
    keep_kernel: bool = False,
) -> RenderResult:
    """Execute ``notebook`` for ``council`` and write its HTML, notebook and headline JSON.

    Parameters
    ----------
    council : str or None
        Council name (as in the data); None for a notebook over all
        councils (``need_peaks`` pooled).
    data_dir : path
        Dataset folder.
    out_dir : path
        Output folder (created if needed).
    notebook : str or path
        A shipped notebook's name (see :data:`NOTEBOOKS`) or a notebook file.
    kernel : str
        Jupyter kernel to run it with.
    parameters : mapping, optional
        Notebook parameters (``council`` and ``data_dir`` are set from the
        arguments unless given); checked against the notebook.
    timeout : float, optional
        Seconds allowed per cell.
    cache_dir : path, optional
        Cache of the other councils' figures (:mod:`vc_eval.reporting.cache`),
        prepared here if needed; None: the notebook loads the data itself.
    stage : callable, optional
        Called with a short line as each stage starts (progress for one report).
    processes : int
        Processes computing the report's sections before the notebook runs
        (1 or 2; see :mod:`vc_eval.reporting.pages`). The page is computed
        outside the kernel only with a report cache (where it is kept for the
        notebook) and no ``timeout`` (which bounds the notebook's cells, so
        with one the notebook computes everything itself, as before).
    keep_kernel : bool
        Run the notebook on this process's kept kernel (:func:`kept_kernel`),
        left running for the next report: for a batch's worker processes.

    Returns
    -------
    RenderResult
        ``status="ok"``; on failure an exception is raised and no report is
        left in place (see :func:`render_report_safe` for the batch form).
    """
    t0 = time.perf_counter()
    say = stage or (lambda _line: None)
    nb_path = notebook_path(notebook)
    params = {**council_parameter(nb_path, council), "data_dir": str(Path(data_dir).resolve())}
    known = notebook_parameters(nb_path)
    # the page is computed here (and kept in the report cache) for notebooks that show
    # sections.page: those whose parameters are build_context's
    outside = cache_dir is not None and timeout is None and set(known) == set(CONTEXT_PARAMETERS)
    helper = None
    if outside and processes > 1:
        from vc_eval.reporting.pages import PageHelper

        try:
            helper = PageHelper()  # imports the analyses while the cache is prepared
        except (OSError, AssertionError, RuntimeError):  # e.g. inside a daemonic worker
            helper = None
    try:
        if cache_dir is not None and "cache_dir" in known:
            say(f"[cache] tables for every council, in {cache_dir}")
        params.update(use_cache(nb_path, data_dir, cache_dir, [council], parameters or {}))
        params = validate_parameters(nb_path, params)
        # computed with exactly the notebook's parameters, so the notebook finds it
        page_params = params if outside and params.get("cache_dir") else None
    except BaseException:
        if helper is not None:
            helper.close()
        raise
    council = council or ALL_COUNCILS
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(council, nb_path.stem)
    targets = {ext: out_dir / f"{stem}.{ext}" for ext in ("ipynb", "json", "html")}
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.tmp-", dir=out_dir))
    log = tmp / f"{stem}.log"
    warm = None
    try:
        if page_params is not None and helper is not None:
            # the kernel starts and imports on the second core while the page is computed
            warm = _warm_kernel(kernel, log)
        if page_params is not None:
            from vc_eval.reporting.pages import prepare_page

            n = 2 if helper is not None else 1
            say(f"[sections] computing the report's sections ({n} process{'es' * (n > 1)})")
            prepare_page(page_params, helper=helper, log_path=log)
        if helper is not None:
            helper.close()
            helper = None
        kept, kept_from = None, 0
        if keep_kernel and warm is None:
            with contextlib.suppress(Exception):  # else papermill starts one, and says why not
                kept = kept_kernel(kernel)
                kept_from = kept.log.stat().st_size
        executed = tmp / f"{stem}.ipynb"
        say(f"[notebook] running {nb_path.stem} for {' '.join(council.split())}")
        # this process waits for the kernel: meanwhile it gets the HTML converter ready
        threading.Thread(target=_warm_html, name="vc-eval-warm-html", daemon=True).start()
        try:
            execute_notebook(
                nb_path,
                executed,
                params,
                kernel=kernel,
                timeout=timeout,
                log_path=log,
                warm=warm,
                kept=kept,
            )
        except BaseException as err:
            if executed.exists():
                # Kept for the operator, under a name that cannot pass for a report.
                os.replace(executed, out_dir / f"{stem}.failed.ipynb")
            with contextlib.suppress(OSError, AttributeError):
                text = log.read_text(errors="replace")
                if kept is not None:
                    text += kept.log_since(kept_from)
                err.add_note("Kernel and Papermill log:\n" + text)
            raise
        finally:
            if kept is not None and kept.km is None:  # dropped after a failure
                kept.remove_log()
        say("[html] writing the report, executed notebook and headline numbers")
        _notebook_tools()
        import nbformat

        nb = nbformat.read(executed, as_version=4)
        head = headline_from_notebook(nb) or {}
        (tmp / f"{stem}.json").write_text(json.dumps(head, indent=2, sort_keys=True) + "\n")
        title = report_title(nb_path.stem, council)
        (tmp / f"{stem}.html").write_text(render_html(nb, title=title), encoding="utf-8")
        for ext in ("ipynb", "json", "html"):  # HTML last: it marks a finished report
            os.replace(tmp / f"{stem}.{ext}", targets[ext])
        for stale in (out_dir / f"{stem}.error.txt", out_dir / f"{stem}.failed.ipynb"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    finally:
        if helper is not None:
            helper.close()
        if warm is not None:
            warm.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return RenderResult(
        council,
        nb_path.stem,
        "ok",
        html=targets["html"],
        ipynb=targets["ipynb"],
        headline_json=targets["json"],
        seconds=time.perf_counter() - t0,
        headline=head,
    )


#: What the first cell of a notebook that shows :func:`vc_eval.reporting.sections.page`
#: imports (run silently in its kernel while the page is computed).
NOTEBOOK_IMPORTS = "import vc_eval.reporting.sections"


def _warm_kernel(kernel: str, log: Path) -> WarmKernel | None:
    """A :class:`WarmKernel` for the report's notebook, or None if it cannot start
    (the notebook then starts its own kernel, as without one)."""
    _notebook_tools()
    try:
        return WarmKernel(kernel, log, NOTEBOOK_IMPORTS)
    except Exception:  # noqa: BLE001 - papermill starts a kernel itself and reports any failure
        return None


def render_report_safe(council: str | None, **kwargs) -> RenderResult:
    """:func:`render_report` that never raises: a failure is written to a traceback file."""
    t0 = time.perf_counter()
    out_dir = Path(kwargs.get("out_dir", "reports"))
    notebook = kwargs.get("notebook", DEFAULT_NOTEBOOK)
    stem = report_stem(council or ALL_COUNCILS, Path(str(notebook)).stem)
    try:
        return render_report(council, **kwargs)
    except Exception as err:  # isolate one council's failure from the batch
        text = _ANSI.sub("", "".join(traceback.format_exception(err)))
        error_file = out_dir / f"{stem}.error.txt"
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(error_file) as fh:
            fh.write(f"Report for {council} ({Path(str(notebook)).stem}) failed.\n\n{text}")
        return RenderResult(
            council or ALL_COUNCILS,
            Path(str(notebook)).stem,
            "failed",
            error_file=error_file,
            error=_short_error(err),
            seconds=time.perf_counter() - t0,
        )


def _short_error(err: BaseException) -> str:
    ename = getattr(err, "ename", None) or type(err).__name__
    evalue = getattr(err, "evalue", None) or str(err)
    first = _ANSI.sub("", str(evalue)).strip().splitlines()
    return f"{ename}: {first[0] if first else ''}"[:300]


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------


@dataclass
class BatchResult:
    """Every report of a batch and the index page."""

    results: list[RenderResult]
    index: Path
    seconds: float

    @property
    def failed(self) -> list[RenderResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        n = len(self.results)
        return f"{n - len(self.failed)} of {n} report(s) rendered in {self.seconds:.1f} s" + (
            f"; {len(self.failed)} failed" if self.failed else ""
        )


def render_batch(
    councils: Iterable[str],
    *,
    data_dir: str | Path,
    out_dir: str | Path = "reports",
    notebook: str | Path = DEFAULT_NOTEBOOK,
    kernel: str = DEFAULT_KERNEL,
    parameters: Mapping | None = None,
    workers: int = 1,
    timeout: float | None = None,
    progress: bool | None = None,
    cache_dir: str | Path | None = None,
    client=None,
) -> BatchResult:
    """Render one report per council in worker processes; failures do not stop the rest.

    Each council runs in its own process (a process pool, not threads:
    Papermill changes process-wide state). A failed council gets a
    traceback file; ``index.html`` in ``out_dir`` lists every council with
    its status.

    Parameters
    ----------
    councils : iterable of str
    workers : int
        Worker processes (1 = run here, one after another).
    progress : bool, optional
        Progress bar (default: only on a terminal).
    cache_dir : path, optional
        Where to keep what every report needs from the other councils,
        computed once here before any notebook runs (see
        :mod:`vc_eval.reporting.cache`); None: each notebook loads the data.
    client : distributed.Client, optional
        Run the councils as Dask tasks on this client's cluster instead
        (``workers`` is then ignored; see :mod:`vc_eval.reporting.batch`).
    Other parameters as :func:`render_report`.
    """
    t0 = time.perf_counter()
    councils = list(councils)
    out_dir = Path(out_dir)
    nb_path = notebook_path(notebook)
    base = dict(parameters or {})
    # Check names and types once, before starting any kernel.
    validate_parameters(
        nb_path, {**council_parameter(nb_path, None), "data_dir": str(data_dir), **base}
    )
    base = use_cache(nb_path, data_dir, cache_dir, councils, base)
    kwargs = dict(
        data_dir=str(Path(data_dir).resolve()),
        out_dir=str(out_dir),
        notebook=str(nb_path),
        kernel=kernel,
        parameters=base,
        timeout=timeout,
        # one kernel per worker process, reset between its councils (KeptKernel)
        keep_kernel=True,
    )
    disable = None if progress is None else not progress
    results: dict[str, RenderResult] = {}
    bar = tqdm(total=len(councils), desc="reports", unit="council", disable=disable)
    try:
        if client is not None:
            from vc_eval.reporting.batch import run_on_dask

            def done(c: str, r: RenderResult) -> None:
                bar.set_postfix_str(f"{c}: {r.status}")
                bar.update()

            def failed(c: str, message: str) -> RenderResult:
                return RenderResult(c, nb_path.stem, "failed", error=message)

            try:
                results = run_on_dask(
                    client, render_report_safe, councils, kwargs, failed, on_done=done
                )
            finally:
                with contextlib.suppress(Exception):  # workers that died have none
                    client.run(close_kept_kernels)
        elif workers <= 1:
            try:
                for c in councils:
                    results[c] = render_report_safe(c, **kwargs)
                    bar.set_postfix_str(f"{c}: {results[c].status}")
                    bar.update()
            finally:
                close_kept_kernels()
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = {pool.submit(render_report_safe, c, **kwargs): c for c in councils}
                for fut in as_completed(futures):
                    c = futures[fut]
                    try:
                        results[c] = fut.result()
                    except Exception as err:  # a worker process died
                        results[c] = RenderResult(
                            c, nb_path.stem, "failed", error=_short_error(err)
                        )
                    bar.set_postfix_str(f"{c}: {results[c].status}")
                    bar.update()
    finally:
        bar.close()
    ordered = [results[c] for c in councils]
    index = write_index(ordered, out_dir)
    return BatchResult(ordered, index, time.perf_counter() - t0)


def write_index(results: Sequence[RenderResult], out_dir: str | Path) -> Path:
    """Write ``index.html`` linking every report (and every failure's traceback file)."""
    out_dir = Path(out_dir)
    esc = html.escape
    rows = []
    for r in sorted(results, key=lambda r: (r.council, r.notebook)):

        def link(p: Path | None, text: str) -> str:
            return f'<a href="{esc(p.name)}">{esc(text)}</a>' if p else ""

        nums = r.headline.get("numbers", {}) if r.headline else {}
        in_care = nums.get("children_in_care_end", "")
        need = nums.get("mean_total_need_latest", "")
        status = (
            '<span class="ok">rendered</span>'
            if r.ok
            else f'<span class="failed">failed</span>: {esc(r.error)}'
        )
        rows.append(
            f"<tr><td>{esc(r.council)}</td><td>{esc(r.notebook)}</td><td>{status}</td>"
            f"<td>{link(r.html, 'report')}</td><td>{link(r.ipynb, 'notebook')}</td>"
            f"<td>{link(r.error_file, 'traceback')}</td>"
            f"<td>{esc(str(in_care if in_care is not None else ''))}</td>"
            f"<td>{esc(str(need if need is not None else ''))}</td>"
            f"<td>{r.seconds:.1f}</td></tr>"
        )
    n_failed = sum(not r.ok for r in results)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vc-eval reports</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #bbb; padding: 0.3em 0.7em; }}
th {{ background: #f0f0f0; }} .ok {{ color: #176117; }}
.failed {{ color: #a00; font-weight: bold; }}
</style></head><body>
<h1>vc-eval reports</h1>
<p>{len(results) - n_failed} of {len(results)} report(s) rendered{
        f", <span class='failed'>{n_failed} failed</span>" if n_failed else ""
    }.
Traceback files are for the people running the reports and are not for publication.</p>
<table><thead><tr><th>Council</th><th>Notebook</th><th>Status</th><th>Report</th>
<th>Executed notebook</th><th>Error</th><th>Children in care at period end</th>
<th>Average total need</th><th>Seconds</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    target = out_dir / "index.html"
    with atomic_file(target, encoding="utf-8") as fh:
        fh.write(page)
    return target


__all__ = [
    "DEFAULT_KERNEL",
    "NOTEBOOKS",
    "NOTEBOOK_IMPORTS",
    "REMOVE_TAGS",
    "BatchResult",
    "RenderResult",
    "ReportError",
    "WarmKernel",
    "check_kernel",
    "check_report_options",
    "execute_notebook",
    "headline_from_notebook",
    "list_councils",
    "notebook_parameters",
    "notebook_path",
    "render_batch",
    "render_html",
    "render_report",
    "render_report_safe",
    "report_parameters",
    "report_stem",
    "slug",
    "validate_parameters",
    "write_index",
]
