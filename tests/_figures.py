"""Checks on rendered figures shared by the figure tests."""

from __future__ import annotations


def drawn_inside_canvas(fig) -> bool:
    """Whether everything drawn on ``fig`` lies inside its canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())
    width, height = fig.get_size_inches()
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
