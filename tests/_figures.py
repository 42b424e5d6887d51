"""Checks on rendered figures shared by the figure tests."""

from __future__ import annotations

from vc_eval.core.summary import agg_canvas


def drawn_inside_canvas(fig) -> bool:
    """Whether everything drawn on ``fig`` (laid out as for saving) lies inside its canvas."""
    with agg_canvas(fig) as canvas:
        fig.draw_without_rendering()  # runs the layout engine, as saving does
        box = fig.get_tightbbox(canvas.get_renderer())
    width, height = fig.get_size_inches()
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
