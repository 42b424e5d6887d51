"""Provenance of a result: parameters, input fingerprints, framework and code versions.

Every report states what it was made from, so a reader can rerun it and get
the same numbers: the parameters, the sha256 of each input file, the needs
framework (id, version, sha256), the versions of the packages that did the
arithmetic, and the code version (package version and git commit, when the
code runs from a git checkout).
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from vc_eval import __version__
from vc_eval.core.files import fingerprint_files

#: Packages whose versions can change a report's numbers or its rendering.
PACKAGES: tuple[str, ...] = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "statsmodels",
    "scikit-learn",
    "pandera",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "nbformat",
    "ipykernel",
)


@dataclass(frozen=True)
class Provenance:
    """What a result was made from.

    Attributes
    ----------
    parameters : dict
        The parameters as used (after defaults were filled in).
    inputs : dict
        sha256 of each input file, keyed by its path relative to the data
        folder (so the same data in another place gives the same record).
    dataset_fingerprint : str
        sha256 over the content of the tables as loaded (``Dataset.fingerprint``).
    framework : dict
        id, version, name, sha256, source and whether it is illustrative.
    packages : dict
        Installed version of each package in :data:`PACKAGES`.
    code : dict
        ``vc_eval`` version, git commit and whether the checkout had
        uncommitted changes (``None`` when not run from a git checkout).
    python : str
        Python version.
    """

    parameters: dict
    inputs: dict[str, str]
    dataset_fingerprint: str
    framework: dict
    packages: dict[str, str]
    code: dict
    python: str = field(default_factory=platform.python_version)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """Long table (``group``, ``item``, ``value``) for display."""
        rows = [("parameter", k, _text(v)) for k, v in self.parameters.items()]
        rows += [("input file (sha256)", k, v) for k, v in self.inputs.items()]
        rows.append(("data", "table content (sha256)", self.dataset_fingerprint))
        rows += [("framework", k, _text(v)) for k, v in self.framework.items()]
        rows += [("code", k, _text(v)) for k, v in self.code.items()]
        rows.append(("package", "python", self.python))
        rows += [("package", k, v) for k, v in self.packages.items()]
        return pd.DataFrame(rows, columns=["group", "item", "value"])

    def summary(self) -> str:
        commit = self.code.get("git_commit") or "not from a git checkout"
        return (
            f"vc-eval {self.code.get('vc_eval')} ({commit}); framework "
            f"{self.framework.get('id')} {self.framework.get('version')}; "
            f"{len(self.inputs)} input file(s); data {self.dataset_fingerprint[:12]}"
        )


def _text(v) -> str:
    return "" if v is None else str(v)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (``"not installed"`` when absent)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_info(path: str | Path | None = None) -> dict:
    """Commit and dirty flag of the git checkout holding ``path`` (default: this package).

    Read-only (``git rev-parse``, ``git status``); returns ``None`` values
    when git or a checkout is not available.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    out: dict = {"git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return out
        out["git_commit"] = commit.stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if status.returncode == 0:
            out["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def input_fingerprints(data_dir: str | Path, files: Mapping[str, Path] | None = None) -> dict:
    """sha256 of the input files, keyed by path relative to ``data_dir``.

    Parameters
    ----------
    data_dir : path
        The dataset folder.
    files : mapping, optional
        The files actually read (``Dataset.files``); default: every file in
        the folder.
    """
    root = Path(data_dir).resolve()
    if files:
        paths = list(files.values())
    else:
        # Every file of the folder except hidden ones (the report cache lives in
        # .vc-eval-cache beside the data; it is derived, not an input). Hidden folders
        # are not walked at all: a cache holds thousands of files (every stored page).
        paths = []
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")]
            paths += [Path(folder) / n for n in names if not n.startswith(".")]
        paths = sorted(p for p in paths if p.is_file())
    # Data built in memory (tests) have no files: nothing to fingerprint.
    paths = [p for p in paths if Path(p).exists()]
    for extra in ("dataset.json", "framework.yaml"):
        if (root / extra).exists():
            paths.append(root / extra)
    out = {}
    for name, digest in fingerprint_files(dict.fromkeys(Path(p).resolve() for p in paths)).items():
        p = Path(name)
        key = str(p.relative_to(root)) if p.is_relative_to(root) else p.name
        out[key] = digest
    return dict(sorted(out.items()))


#: How the data folder itself is shown in provenance.
DATA_FOLDER = "<data folder>"


def public_path(value, data_dir: str | Path):
    """A path as a report may show it: relative to the data folder, never absolute.

    A path inside the data folder becomes ``<data folder>/name``; the folder
    itself ``<data folder>``; any other absolute path just its file name (a
    local folder layout is not for publication). Other values pass through.
    """
    if not isinstance(value, str | Path) or not str(value):
        return value
    text = str(value)
    p = Path(text).expanduser()
    if not p.is_absolute():
        if isinstance(value, str) and ("/" not in text and "\\" not in text):
            return value  # a plain word (e.g. a shipped framework's name)
        p = p.resolve()
        if not p.exists():
            return value
    root = Path(data_dir).resolve()
    p = p.resolve()
    if p == root:
        return DATA_FOLDER
    if p.is_relative_to(root):
        return f"{DATA_FOLDER}/{p.relative_to(root).as_posix()}"
    return p.name


def collect(
    parameters: Mapping,
    *,
    data_dir: str | Path,
    dataset=None,
    framework=None,
) -> Provenance:
    """Provenance of a result made from ``data_dir`` with ``parameters``.

    Parameters
    ----------
    parameters : mapping
        The parameters as used.
    data_dir : path
        The dataset folder.
    dataset : Dataset, optional
        The loaded dataset (for the files read and the content fingerprint).
    framework : Framework, optional
        The framework used (default: the dataset's).
    """
    fw = framework if framework is not None else getattr(dataset, "framework", None)
    fw_info = {}
    if fw is not None:
        fw_info = {
            "id": fw.id,
            "version": fw.version,
            "name": fw.name,
            "sha256": fw.sha256,
            "source": fw.source,
            "illustrative": fw.illustrative,
        }
    files = getattr(dataset, "files", None)
    if fw_info.get("source"):
        fw_info["source"] = public_path(fw_info["source"], data_dir)
    return Provenance(
        parameters={k: public_path(v, data_dir) for k, v in parameters.items()},
        inputs=input_fingerprints(data_dir, files),
        dataset_fingerprint=dataset.fingerprint() if dataset is not None else "",
        framework=fw_info,
        packages=package_versions(),
        code={"vc_eval": __version__, **git_info()},
    )


__all__ = [
    "PACKAGES",
    "Provenance",
    "collect",
    "git_info",
    "public_path",
    "input_fingerprints",
    "package_versions",
]
