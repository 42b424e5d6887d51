"""Progress bars: ``tqdm.auto`` (a widget in JupyterLab, text in a terminal), imported quietly.

Imported inside a Jupyter kernel without ipywidgets, ``tqdm.auto`` warns once per
process ("IProgress not found") and falls back to text bars. The warning went into
the output of whichever notebook first imported the package, so a batch worker that
keeps its kernel (:class:`vc_eval.reporting.render.KeptKernel`) wrote it into its
first council's notebook only. Every module imports ``tqdm`` from here instead.
"""

from __future__ import annotations

import warnings

from tqdm import TqdmWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
