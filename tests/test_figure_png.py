"""Report figures as PNG: drawn once and kept whole when nothing is cut, cropped otherwise."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from _figures import drawn_inside_canvas


def test_constrained_figure_is_drawn_once_and_kept_whole_only_if_nothing_is_cut():
    # a figure with constrained layout is written as its whole canvas when what is drawn
    # lies inside it (one drawing), else cropped to what is drawn as before
    import io

    from matplotlib.figure import Figure
    from PIL import Image

    from vc_eval.core.summary import FigureOut

    def figure(title: str) -> FigureOut:
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1])
        ax.set_title(title)
        return FigureOut(fig, "alt")

    fits = figure("Short")
    assert drawn_inside_canvas(fits.figure)
    canvas, dpi = fits.figure.canvas, fits.figure.dpi
    png = fits.png(50)
    assert fits.figure.canvas is canvas and fits.figure.dpi == dpi  # left as it was
    assert Image.open(io.BytesIO(png)).size == (200, 150)  # the whole 4 x 3 in canvas
    plain = io.BytesIO()
    fits.figure.savefig(plain, format="png", dpi=50, metadata={"Software": None})
    assert png == plain.getvalue()  # what savefig writes for the whole canvas
    cut = figure("A title far longer than this small figure is wide, " * 2)
    assert not drawn_inside_canvas(cut.figure)
    width, _ = Image.open(io.BytesIO(cut.png(50))).size
    assert width > 200  # widened to hold the whole title, not cut at the canvas
