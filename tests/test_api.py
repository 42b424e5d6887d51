"""The flat public API: ``from vc_eval import fit_growth`` and friends."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import vc_eval
from vc_eval import api


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_imports_from_the_package(name):
    obj = getattr(vc_eval, name)
    assert obj is getattr(api, name)
    assert obj.__doc__, f"{name} has no docstring"


def test_unknown_names_fail_clearly():
    with pytest.raises(AttributeError, match="no attribute 'fit_growht'"):
        vc_eval.fit_growht  # noqa: B018


def test_importing_the_package_stays_light():
    # the command line imports vc_eval for its version: no statsmodels or matplotlib
    code = "import sys, vc_eval; print('statsmodels' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert importlib.import_module("vc_eval.api").fit_growth.__module__.startswith("vc_eval.")
