"""Checks on rendered figures shared by the figure tests."""

from __future__ import annotations


def drawn_inside_canvas(fig) -> bool:
    """Whether everything drawn on ``fig`` (laid out as for saving) lies inside its canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas_before = fig.canvas
    try:
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw_without_rendering()  # runs the layout engine, as saving does
        box = fig.get_tightbbox(renderer)
    finally:
        fig.set_canvas(canvas_before)
    width, height = fig.get_size_inches()
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
