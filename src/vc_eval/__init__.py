"""vc-eval: research and evaluation workbench for needs-led care of children in care."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vc-eval")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
