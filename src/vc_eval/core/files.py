"""File-system helpers: output folders, atomic writes, safe cells, fingerprints.

Outputs appear complete or not at all: everything is written under a
temporary name beside the target and moved into place at the end.

Output folders (:func:`output_dir`) follow three rules:

* **never delete a file the tool did not write.** A folder is replaced only
  when it is empty, absent, or was written by vc-eval: it holds
  :data:`MANIFEST_FILE` listing its files (or, for folders written before the
  manifest existed, only files a vc-eval dataset holds). A folder holding
  anything else is refused (:class:`OutputDirError`), naming a few of the
  unknown files.
* **the swap is recoverable.** The new folder is built as
  ``.<name>.tmp-<id>``; the old one is moved aside to ``.<name>.old-<id>``;
  the new one is moved into place; the old one is removed. A failure at any
  step puts the old folder back before the error propagates; a process
  killed between steps leaves leftovers that the next call of
  :func:`recover_output_dir` (made by :func:`output_dir` itself) restores or
  removes, and reports.
* **every CSV cell is inert** in a spreadsheet (:func:`safe_cell`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

#: The manifest vc-eval writes into every output folder it creates.
MANIFEST_FILE = "vc-eval-manifest.json"
MANIFEST_TOOL = "vc-eval"

#: Files a vc-eval dataset folder held before manifests existed; a folder of
#: only these (and holding ``dataset.json``) is recognised as ours.
_LEGACY_NAMES = frozenset(
    (
        "dataset.json",
        "truth.json",
        "framework.yaml",
        "import_report.md",
        "import_problems.csv",
    )
)
_LEGACY_SUFFIXES = (".parquet",)


class OutputDirError(Exception):
    """An output folder that vc-eval refuses to replace (exit code 2)."""


def _leftovers(target: Path) -> tuple[list[Path], list[Path]]:
    """Temporary (new) and moved-aside (old) folders left beside ``target``."""
    parent = target.parent
    if not parent.is_dir():
        return [], []
    tmp, old = [], []
    pat = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-[^/]+$")
    for p in parent.iterdir():
        m = pat.match(p.name)
        if m and p.is_dir() and not p.is_symlink():
            (tmp if m.group(1) == "tmp" else old).append(p)
    return sorted(tmp), sorted(old)


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of a folder vc-eval wrote, or None."""
    f = Path(folder) / MANIFEST_FILE
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != MANIFEST_TOOL:
        return None
    return data


def foreign_files(folder: str | Path) -> list[str]:
    """Files (relative paths) in ``folder`` that vc-eval did not write.

    With a manifest: every file not listed in it. Without one: every file
    if the folder is no legacy dataset (``dataset.json`` and only dataset
    files); a missing or empty folder has none.
    """
    folder = Path(folder)
    if not folder.exists():
        return []
    files = sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    )
    man = read_manifest(folder)
    if man is not None:
        known = set(man.get("files", [])) | {MANIFEST_FILE}
        return [f for f in files if f not in known]
    if not files:
        return []
    legacy = "dataset.json" in files and all(
        "/" not in f and (f in _LEGACY_NAMES or f.endswith(_LEGACY_SUFFIXES)) for f in files
    )
    return [] if legacy else files


def check_output_dir(target: str | Path) -> Path:
    """Refuse an output folder vc-eval may not replace; returns the resolved path.

    Raises
    ------
    OutputDirError
        ``target`` is a file, or a folder holding files vc-eval did not write.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputDirError(f"{target}: --out exists and is not a folder")
    if target.is_symlink():
        raise OutputDirError(f"{target}: --out is a symbolic link; give the real folder")
    foreign = foreign_files(target)
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise OutputDirError(
            f"{target}: --out holds files vc-eval did not write ({shown}); refusing to "
            "replace it. Give an empty or new folder, or one vc-eval wrote."
        )
    return target


def recover_output_dir(target: str | Path) -> list[str]:
    """Restore or remove what an interrupted swap left beside ``target``.

    * ``target`` missing and a moved-aside old folder present: the old
      folder is put back (the interrupted run never finished).
    * ``target`` present: moved-aside old folders are removed (the new one
      was already in place).
    * temporary folders of an unfinished write are removed.

    Only folders named like this module's own temporaries, and (for old
    ones) recognised as vc-eval's, are touched. Returns one line per action.
    """
    target = Path(target)
    msgs: list[str] = []
    tmp, old = _leftovers(target)
    old = [p for p in old if not foreign_files(p)]
    if not target.exists() and old:
        # the newest moved-aside folder is the one the interrupted run displaced
        keep = max(old, key=lambda p: p.stat().st_mtime_ns)
        os.replace(keep, target)
        old.remove(keep)
        msgs.append(f"restored {target} from {keep.name}, left by an interrupted earlier run")
    for p in old:
        shutil.rmtree(p)
        msgs.append(f"removed {p.name}, an old copy of {target.name} left by an interrupted run")
    for p in tmp:
        shutil.rmtree(p)
        msgs.append(
            f"removed {p.name}, an unfinished write of {target.name} left by an interrupted run"
        )
    return msgs


def write_manifest(folder: Path, kind: str, extra: dict | None = None) -> None:
    """List every file under ``folder`` in its manifest (written last)."""
    files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST_FILE
    )
    from vc_eval import __version__

    man = {"tool": MANIFEST_TOOL, "kind": kind, "version": __version__, "files": files}
    if extra:
        man.update(extra)
    (folder / MANIFEST_FILE).write_text(json.dumps(man, indent=1) + "\n", encoding="utf-8")


@contextlib.contextmanager
def output_dir(
    target: str | Path,
    *,
    kind: str = "output",
    manifest: dict | None = None,
    messages: list[str] | None = None,
) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` on success.

    Before anything is written, leftovers of an interrupted earlier run are
    recovered (:func:`recover_output_dir`; what was done is appended to
    ``messages``) and ``target`` is checked (:func:`check_output_dir`). On
    success a manifest of ``kind`` listing every file is added and the
    folder swapped in. On any exception the temporary folder is removed and
    ``target`` is left as it was (absent, or the previous complete version).

    Raises
    ------
    OutputDirError
        ``target`` may not be replaced (see :func:`check_output_dir`).
    """
    target = Path(target)
    msgs = recover_output_dir(target)
    if messages is not None:
        messages.extend(msgs)
    check_output_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        write_manifest(tmp, kind, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in(tmp, target)


def swap_in(tmp: Path, target: Path) -> None:
    """Move the complete folder ``tmp`` to ``target``, keeping the old one until done.

    Steps: (1) ``target`` -> ``.<name>.old-<id>``, (2) ``tmp`` -> ``target``,
    (3) remove the old folder. If step 1 or 2 fails, the old folder is moved
    back and ``tmp`` removed before the error propagates, so ``target``
    holds the old or the new version, never nothing. A process killed
    between steps leaves leftovers for :func:`recover_output_dir`.
    """
    old = None
    try:
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        if old is not None and not target.exists() and old.exists():
            with contextlib.suppress(OSError):
                os.replace(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        # a failure here leaves only a hidden old copy, removed by the next run
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: str | Path, *, kind: str = "output") -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` on success.

    The same as :func:`output_dir` (the folder must be empty, absent or
    vc-eval's; it gets a manifest; the swap is recoverable).
    """
    with output_dir(target, kind=kind) as tmp:
        yield tmp


#: The process's umask, read once at import (reading it means setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_file(
    target: str | Path, mode: str = "w", *, private: bool = False, **kwargs
) -> Iterator:
    """Open a temporary file that replaces ``target`` when closed cleanly.

    The file gets the mode a file written in place would (the umask decides),
    or owner-only (0600) when ``private`` (row-level data).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(fd)
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
        # mkstemp makes the file private (0600); the target gets the mode any file
        # written in place would have (the user's umask decides)
        os.chmod(tmp, 0o600 if private else 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------
# Cells safe to open in a spreadsheet
# --------------------------------------------------------------------------

#: Longest value of a cell copied from input data into a file the tool writes.
MAX_CELL_CHARS = 60
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object, *, max_chars: int = MAX_CELL_CHARS) -> object:
    """A cell value made inert for Excel/LibreOffice and cut to ``max_chars``.

    Text starting with ``= + - @``, a tab or a carriage return gets a ``'``
    prefix (so it is not read as a formula); line breaks are folded into
    spaces; long text is cut with an ellipsis. Non-text values pass through.
    """
    if not isinstance(value, str):
        return value
    v = value
    if len(v) > max_chars:
        v = v[:max_chars] + "..."
    if v.startswith(_FORMULA_START):
        v = "'" + v
    return v.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def safe_frame(frame, *, max_chars: int = MAX_CELL_CHARS):
    """A copy of a DataFrame with every text cell passed through :func:`safe_cell`."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object or str(out[c].dtype).startswith("str"):
            out[c] = out[c].map(lambda v: safe_cell(v, max_chars=max_chars))
    out.columns = [safe_cell(str(c), max_chars=max_chars) for c in out.columns]
    return out


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def fingerprint_files(paths: Iterable[str | Path]) -> dict[str, str]:
    """sha256 of each file (folders are walked), keyed by path."""
    out: dict[str, str] = {}
    for p in paths:
        p = Path(p)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            out[str(f)] = sha256_file(f)
    return out


__all__ = [
    "MANIFEST_FILE",
    "MAX_CELL_CHARS",
    "OutputDirError",
    "atomic_dir",
    "atomic_file",
    "check_output_dir",
    "fingerprint_files",
    "foreign_files",
    "output_dir",
    "read_manifest",
    "recover_output_dir",
    "safe_cell",
    "safe_frame",
    "sha256_file",
    "swap_in",
]
