"""Shared fixtures: the bundled synthetic data and a seeded generator."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "synthetic"


@pytest.fixture(scope="session")
def bundled_dir() -> Path:
    if not (BUNDLED / "children.parquet").exists():
        pytest.fail(f"bundled data missing: run `make data` ({BUNDLED})")
    return BUNDLED


@pytest.fixture(scope="session")
def bundled(bundled_dir):
    from vc_eval.core.dataset import Dataset

    return Dataset.load(bundled_dir)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(autouse=True)
def _no_bars(monkeypatch):
    # keep test logs readable; progress bars are exercised by the CLI tests
    monkeypatch.setenv("TQDM_DISABLE", "1")
    yield


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
