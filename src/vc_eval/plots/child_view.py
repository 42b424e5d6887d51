"""Figures of the child's own view beside the practitioner's."""

from __future__ import annotations

from matplotlib.axes import Axes

from vc_eval.analysis.child_view import ChildViewResult
from vc_eval.core.privacy import MIN_N
from vc_eval.plots.report import plot_domain_intervals


def plot_child_view(result: ChildViewResult, *, ax: Axes | None = None) -> Axes:
    """Mean difference (child minus practitioner) per domain with its 95% interval.

    Domains with fewer than 6 pairs are left out.
    """
    t = result.table[(result.table["n_pairs"] >= MIN_N) & result.table["mean_diff"].notna()]
    ax = plot_domain_intervals(t, "mean_diff", "mean_diff_lower", "mean_diff_upper", ax=ax)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set(
        xlabel="Child's rating minus practitioner's (points; 95% interval)",
        title="Where the child's view differs from the practitioner's",
    )
    return ax


def child_view_marks(result: ChildViewResult) -> tuple[int, ...]:
    """Pairs of ratings behind each row of :func:`plot_child_view` (for the page audit)."""
    t = result.table[(result.table["n_pairs"] >= MIN_N) & result.table["mean_diff"].notna()]
    return tuple(int(n) for n in t["n_pairs"])


__all__ = ["child_view_marks", "plot_child_view"]
