"""vc-eval: research and evaluation workbench for needs-led care of children in care."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vc-eval")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    """``from vc_eval import fit_growth``: the public API (:mod:`vc_eval.api`), loaded on use."""
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    api = importlib.import_module("vc_eval.api")
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'vc_eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    import importlib

    api = importlib.import_module("vc_eval.api")
    return sorted([*globals(), *api.__all__])
