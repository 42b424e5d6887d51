"""The wheel ships the notebooks: build it, install it in a fresh venv, render
both notebooks from a folder outside the checkout.

The fresh venv reuses this environment's installed dependencies (a ``.pth``
file pointing at them) and installs only the wheel, with ``--no-deps``, so the
test needs no network. Needs ``hatchling`` (the build backend, a dev
dependency) importable here.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(cmd, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # The reused dependencies' data files (nbconvert's templates) live under
    # this environment's prefix, where a real install would put them.
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    out = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=900, **kw
    )
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (dev extra)")
    tmp = tmp_path_factory.mktemp("wheel")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp / "dist",
            ROOT,
        ]
    )
    wheel = next((tmp / "dist").glob("vc_eval-*.whl"))
    env_dir = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", env_dir])
    py = env_dir / "bin" / "python"
    purelib = Path(
        run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    # This environment's packages as the new venv's dependencies (not its vc_eval:
    # an editable install's own .pth files are not read from an added path).
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (purelib / "deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", wheel])
    run([py, "-m", "ipykernel", "install", "--sys-prefix", "--name", "vc-eval-wheel"])
    return env_dir


def test_wheel_holds_the_notebooks(venv):
    py = venv / "bin" / "python"
    out = run(
        [
            py,
            "-c",
            "import vc_eval.reporting.render as r; print(r.__file__); print(r.notebooks_dir())",
        ],
        cwd=venv,
    ).stdout.split()
    assert str(venv) in out[0], "vc_eval imported from outside the new venv"
    nb_dir = Path(out[1])
    assert str(venv) in str(nb_dir)
    shipped = {p.name for p in nb_dir.glob("*.ipynb")}
    assert shipped == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_wheel_renders_both_notebooks_outside_the_checkout(venv, bundled, tmp_path):
    from _report_data import TINY, save, tiny_dataset

    # one small council: what is tested is the installed package and its notebooks, and a
    # small dataset keeps the two renders (kernels computing every section) short
    data = save(tiny_dataset(bundled, 150), tmp_path / "data")
    council = TINY
    exe = venv / "bin" / "vc-eval"
    common = [
        "--data",
        data.resolve(),
        "--out",
        tmp_path / "out",
        "--kernel",
        "vc-eval-wheel",
        "--no-cache",
    ]
    run([exe, "report", "--council", council, "--domains", "total", *common], cwd=tmp_path)
    run(
        [
            exe,
            "report",
            "--notebook",
            "need_peaks",
            "--council",
            council,
            "--domains",
            "emotional_health",
            "--param",
            "subgroup=",
            "--param",
            "n_draws=200",
            *common,
        ],
        cwd=tmp_path,
    )
    html = sorted(p.name for p in (tmp_path / "out").glob("*.html"))
    assert len(html) == 2, html
    executed = next((tmp_path / "out").glob("*need_peaks.ipynb"))
    nb = json.loads(executed.read_text())
    assert nb["cells"], "empty executed notebook"
