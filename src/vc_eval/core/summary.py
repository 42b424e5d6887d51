"""One result interface and one summary object for every analysis.

Every analysis result in :mod:`vc_eval.analysis` derives from :class:`Result`
and so has the same four things, as lifelines' fitters do:

* ``to_frame()``: the tidy table of estimates;
* ``summary()``: one :class:`Summary` (title, findings, tables, figures,
  caveats) built from the result's own numbers; it renders as text, HTML and
  Markdown, like statsmodels' ``iolib.summary2.Summary``;
* ``caveats``: plain-language limits of the estimate (one name, a list of str);
* ``plot(ax=None)``: delegates to a function in :mod:`vc_eval.plots`.

A report only composes :class:`Summary` objects; it writes no sentence of its
own. Every sentence with a number or a judgement is a :class:`Finding` made
by the result, and every count of children a sentence states is declared on
the finding (:class:`Count`) so that the page-level disclosure audit can see
it beside the tables' cells.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from vc_eval.core import privacy

#: Kinds of table column (``Table.kinds``): what the disclosure checks read.
COLUMN_KINDS: tuple[str, ...] = ("label", "count", "percent", "stat", "value", "text")


def escape_md(text: str) -> str:
    """Text from data made inert in Markdown (and HTML inside Markdown).

    Folds line breaks into spaces, backslash-escapes Markdown punctuation and
    then writes ``&``, ``<`` and ``>`` as entities, so a council or domain
    name cannot start a heading, a list, a link, a table cell or a script.
    (Backslash-escaping first keeps entities intact: ``'`` stays ``'``.)
    """
    text = " ".join(str(text).split())
    out = []
    for ch in text:
        if ch in "\\`*_{}[]()#+-.!|~":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return html.escape("".join(out), quote=False)


def escape_html(text: str) -> str:
    """Text from data made inert in HTML (line breaks folded)."""
    return html.escape(" ".join(str(text).split()), quote=True)


@dataclass(frozen=True)
class Count:
    """A count of children that a sentence states, and what it counts.

    Parameters
    ----------
    value : int
        The number as the sentence states it (already through disclosure control).
    universe : str
        The population counted (e.g. ``"in_care_end"``); counts in one universe
        can be combined by a reader.
    where : tuple of (str, str)
        The conditions that select the counted children within the universe,
        e.g. ``(("placement", "children_home"),)``; empty for the universe total.
    any_of : tuple of (str, tuple of str)
        Further conditions "the variable has one of these values", e.g.
        ``(("band in Health", ("Band 3", "Band 4")),)`` for children in either
        of two bands that a table shows as two cells.
    """

    value: int
    universe: str
    where: tuple[tuple[str, str], ...] = ()
    any_of: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass
class Finding:
    """One sentence a result states, made from its own numbers.

    ``key`` names the judgement (e.g. ``"cost_need.strength"``) so tests can
    find it; ``word`` is the judgement word chosen from the numbers (e.g.
    ``"weakly"``), if any; ``counts`` declares every count of children the
    sentence states.
    """

    key: str
    text: str
    word: str | None = None
    counts: tuple[Count, ...] = ()

    def __str__(self) -> str:
        return self.text


@dataclass
class Table:
    """A table safe to show: every count already through :mod:`vc_eval.core.privacy`.

    Attributes
    ----------
    caption : str
    frame : DataFrame
        Strings (or numbers that are not counts); no identifier columns.
    kinds : dict
        Column -> one of :data:`COLUMN_KINDS`; written into the HTML as
        ``data-kind`` so tests can check every shown count.
    note : str
        Printed under the table (e.g. what was suppressed).
    universe : str or None
        For count tables: the population its cells count (see :class:`Count`),
        so the page audit can relate them to counts stated elsewhere. Each
        count cell counts the children whose label columns have the row's
        values (a ``Total`` label: any value), within the universe.
    dims : dict
        Label column -> the variable name ``Count.where`` uses for it
        (default: the column name).
    columns_dim : str or None
        When the count columns are the values of one variable (a cross-tab),
        its name; a trailing " (n)" is dropped from the column name and a
        ``Total`` column is the margin. Without it, several count columns are
        separate measures.
    row_variable : str or None
        When every row counts the same children by a different variable (one
        row per domain, bands as columns: a child is in every domain's row),
        the name of each row's variable with ``{}`` for the row's label (e.g.
        ``"band in {}"``); the count columns are that variable's values (a
        trailing " (n)" dropped, ``Total`` the row's margin). Needs one label
        column.
    implied : tuple of Count
        Counts a reader can work out from the table without it printing them
        (e.g. a row's total from a shown count and its percentage), so the
        page audit counts them as stated.
    column_universes : dict
        Count column -> the universe its cells count, when the count columns
        are different populations (e.g. children in care at the end and at the
        start of a period); overrides ``universe`` for that column. The label
        columns condition as usual and a ``Total`` row is that column's
        universe total.
    cell_universes : dict
        (row's label in the first label column, count column) -> the universe
        that cell counts, when each row is a population of its own (children
        entering care, children in care at the end ...); overrides the other
        two. The first label column then names the universe and is not a
        condition; any other label column conditions as usual.
    """

    caption: str
    frame: pd.DataFrame
    kinds: dict[str, str] = field(default_factory=dict)
    note: str = ""
    universe: str | None = None
    dims: dict[str, str] = field(default_factory=dict)
    columns_dim: str | None = None
    row_variable: str | None = None
    implied: tuple[Count, ...] = ()
    column_universes: dict[str, str] = field(default_factory=dict)
    cell_universes: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        privacy.safe_frame(self.frame)
        for c in self.frame.columns:
            self.kinds.setdefault(str(c), "text")
        bad = {k: v for k, v in self.kinds.items() if v not in COLUMN_KINDS}
        if bad:
            raise ValueError(f"unknown column kinds: {bad}")

    def to_html(self) -> str:
        """HTML table with ``data-kind`` on each header and ``c`` cells marked."""
        esc = escape_html
        cols = [str(c) for c in self.frame.columns]
        head = "".join(
            f'<th scope="col" data-kind="{self.kinds.get(c, "text")}">{esc(c)}</th>' for c in cols
        )
        rows = []
        for rec in self.frame.itertuples(index=False):
            cells = []
            for c, v in zip(cols, rec, strict=True):
                text = cell_text(v)
                if text == privacy.SUPPRESSED and self.kinds.get(c) in (
                    "count",
                    "percent",
                    "stat",
                    "value",
                ):
                    cells.append('<td class="suppressed" title="hidden to protect privacy">c</td>')
                else:
                    cells.append(f'<td data-kind="{self.kinds.get(c, "text")}">{esc(text)}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        note = f'<p class="table-note">{esc(self.note)}</p>' if self.note else ""
        return (
            f'<table class="vc-table"><caption>{esc(self.caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"
        )

    def to_markdown(self) -> str:
        cols = [str(c) for c in self.frame.columns]
        lines = [
            f"*{escape_md(self.caption)}*",
            "",
            "| " + " | ".join(escape_md(c) for c in cols) + " |",
            "|" + "---|" * len(cols),
        ]
        for rec in self.frame.itertuples(index=False):
            lines.append("| " + " | ".join(escape_md(cell_text(v)) for v in rec) + " |")
        if self.note:
            lines += ["", escape_md(self.note)]
        return "\n".join(lines)

    def to_text(self) -> str:
        body = self.frame.to_string(index=False) if len(self.frame) else "(no rows)"
        return f"{self.caption}\n{body}" + (f"\n{self.note}" if self.note else "")

    def _repr_html_(self) -> str:
        return self.to_html()


def cell_text(v: Any) -> str:
    """A table cell as text (missing and non-finite values blank)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


@contextlib.contextmanager
def agg_canvas(figure, dpi: float | None = None) -> Iterator[object]:
    """``figure`` on a temporary Agg canvas (at ``dpi`` if given), to draw or measure text
    as a PNG would; its own canvas and dpi are put back on the way out."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas_before, dpi_before = figure.canvas, figure.dpi
    canvas = FigureCanvasAgg(figure)
    if dpi is not None:
        figure.set_dpi(dpi)
    try:
        yield canvas
    finally:
        figure.set_dpi(dpi_before)
        figure.set_canvas(canvas_before)


def _drawn_whole(figure, dpi: int, buf: io.BytesIO) -> bool:
    """Write ``figure`` as one PNG of its whole canvas to ``buf`` if that loses nothing.

    Only for a figure with constrained layout (which keeps labels inside the
    canvas unless one is longer than the figure): it is drawn once, and if
    everything drawn lies inside the canvas the drawing is written as it is,
    as ``savefig`` would write it; otherwise False, and nothing is written.
    """
    from matplotlib.image import imsave
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    if not isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine):
        return False
    with agg_canvas(figure, dpi) as canvas:
        canvas.draw()
        drawn = figure.get_tightbbox(canvas.get_renderer())
        width, height = figure.get_size_inches()
        if drawn.x0 < 0 or drawn.y0 < 0 or drawn.x1 > width or drawn.y1 > height:
            return False
        rgba = canvas.buffer_rgba()
        imsave(buf, rgba, format="png", origin="upper", dpi=dpi, metadata={"Software": None})
        return True


@dataclass
class FigureOut:
    """A figure with its alternative text (stating the figure's finding) and caption.

    Attributes
    ----------
    figure : matplotlib Figure
    alt, caption : str
    counts : tuple of Count
        Every count of children the figure shows, in the universes and
        variables the tables and sentences use: bar heights, annotations,
        shades, and percentages of a total the page states (which give the
        count away). A category the figure leaves out for having fewer than 6
        children is declared with its count too (a value of 1-5 is read as
        "fewer than 6", as in sentences). The page audit checks them with the
        rest of the page and withholds the figure if they would reveal a
        count of 1-5.
    marks : tuple of int or None
        Number of children behind each mark drawn (bar, point, tile, line
        point), for the rule that no mark stands for fewer than 6 children;
        None when the figure has not declared them (the audit lists it as
        unchecked). Marks of model estimates over the whole population list
        that population's size.
    fits : bool
        Whether the plotting function guarantees that everything drawn lies
        inside the figure's canvas (fixed margins that hold every label), so
        the PNG is the whole canvas. Otherwise (the default) a figure with
        constrained layout is drawn once and kept whole if what is drawn lies
        inside its canvas, and any other figure is cropped or widened to what
        is drawn, which lays it out once more (a third to two thirds of the
        PNG's time). Tests check the claim on rendered pages.
    """

    figure: object  # matplotlib Figure
    alt: str
    caption: str = ""
    counts: tuple[Count, ...] = ()
    marks: tuple[int, ...] | None = None
    fits: bool = False

    def png(self, dpi: int = 90) -> bytes:
        buf = io.BytesIO()
        if not self.fits and _drawn_whole(self.figure, dpi, buf):
            return buf.getvalue()
        crop = None if self.fits else "tight"
        self.figure.savefig(
            buf, format="png", dpi=dpi, bbox_inches=crop, metadata={"Software": None}
        )
        return buf.getvalue()

    def close(self) -> None:
        import matplotlib.pyplot as plt

        plt.close(self.figure)  # a no-op for figures made outside pyplot


@dataclass
class Summary:
    """What a result says: title, findings, tables, figures and caveats.

    Renders as plain text (``str(summary)``), HTML (``to_html()``, also the
    notebook display) and Markdown (``to_markdown()``). All text from data is
    escaped on the way out; the findings' own text is trusted only as far as
    the escaping allows (no markup passes through).

    Attributes
    ----------
    title : str
    findings : list of Finding
        Sentences built from the result's numbers.
    tables : list of Table
    figures : list of FigureOut
    caveats : list of str
        What the estimate cannot show.
    status : {"ok", "insufficient", "absent"}
        ``insufficient``: too little data for a result; ``absent``: the data
        this needs are not in the dataset (``findings`` says which).
    headline : dict
        Numbers contributed to the executive summary and the headline JSON.
    """

    title: str
    findings: list[Finding] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureOut] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    status: str = "ok"
    headline: dict = field(default_factory=dict)
    key: str = ""

    @classmethod
    def absent(cls, title: str, needs: str, *, key: str = "") -> Summary:
        """A section whose data are not in the dataset: one line on what would fill it."""
        return cls(title, [Finding(f"{key or 'section'}.absent", needs)], status="absent", key=key)

    @classmethod
    def insufficient(cls, title: str, reason: str, *, key: str = "") -> Summary:
        """A section with too little data for a result: says why, shows no numbers."""
        return cls(
            title,
            [Finding(f"{key or 'section'}.insufficient", reason)],
            status="insufficient",
            key=key,
        )

    def say(self, key: str, text: str, *, word: str | None = None, counts=()) -> Finding:
        """Append a finding (key prefixed with the summary's ``key``) and return it."""
        f = Finding(f"{self.key}.{key}" if self.key else key, text, word, tuple(counts))
        self.findings.append(f)
        return f

    def counts(self) -> list[Count]:
        """Every count of children the findings state (for the page audit)."""
        return [c for f in self.findings for c in f.counts]

    def __contains__(self, text: str) -> bool:
        """``"x" in summary``: whether the text version says ``x``."""
        return text in self.to_text()

    def finding(self, key: str) -> Finding:
        """The finding named ``key`` (KeyError if the result made none)."""
        for f in self.findings:
            if f.key == key or (self.key and f.key == f"{self.key}.{key}"):
                return f
        raise KeyError(key)

    def to_text(self) -> str:
        out = [self.title, "=" * len(self.title)]
        out += [f"- {f.text}" for f in self.findings]
        for t in self.tables:
            out += ["", t.to_text()]
        if self.caveats:
            out += ["", "Caveats:"] + [f"- {c}" for c in self.caveats]
        return "\n".join(out)

    def to_markdown(self, level: int = 2) -> str:
        out = [f"{'#' * level} {escape_md(self.title)}"]
        out += [f"- {escape_md(f.text)}" for f in self.findings]
        out += [t.to_markdown() for t in self.tables]
        if self.caveats:
            out += ["**Caveats**"] + [f"- {escape_md(c)}" for c in self.caveats]
        return "\n\n".join(out)

    def to_html(self, level: int = 2) -> str:
        esc = escape_html
        parts = [f"<h{level}>{esc(self.title)}</h{level}>"]
        if self.findings:
            parts.append(
                "<ul>" + "".join(f"<li>{esc(f.text)}</li>" for f in self.findings) + "</ul>"
            )
        parts += [t.to_html() for t in self.tables]
        if self.caveats:
            parts.append(
                f"<h{level + 1}>Caveats</h{level + 1}><ul>"
                + "".join(f"<li>{esc(c)}</li>" for c in self.caveats)
                + "</ul>"
            )
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return self.to_html()

    def close(self) -> None:
        for f in self.figures:
            f.close()


class Result:
    """Base of every analysis result: ``to_frame``, ``summary``, ``caveats``, ``plot``.

    Subclasses (dataclasses) implement :meth:`to_frame` and :meth:`summary`
    and set ``caveats``; :meth:`plot` calls the function named by ``_plot``
    (``"module:function"`` in :mod:`vc_eval.plots`), imported only when a
    figure is asked for, so analysis code never loads matplotlib.
    """

    #: ``"module:function"`` under :mod:`vc_eval.plots` drawing this result.
    _plot: ClassVar[str | None] = None
    caveats: list[str]

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def summary(self) -> Summary:  # pragma: no cover - interface
        raise NotImplementedError

    def plot(self, ax=None, **kwargs):
        """Draw this result on ``ax`` (a new one if None); returns the Axes."""
        if self._plot is None:
            raise NotImplementedError(f"{type(self).__name__} has no figure")
        import importlib

        module, _, name = self._plot.partition(":")
        fn = getattr(importlib.import_module(f"vc_eval.plots.{module}"), name)
        return fn(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        return self.summary().to_html()


def table_from(
    frame: pd.DataFrame,
    caption: str,
    kinds: dict[str, str],
    *,
    rename: dict[str, str] | None = None,
    note: str = "",
    universe: str | None = None,
) -> Table:
    """A :class:`Table` from an already-protected frame, keeping only declared columns.

    A named index becomes the first column. Columns not in ``kinds`` are
    left out, so nothing reaches a page unexamined; ``rename`` gives the
    readable headers.
    """
    f = frame.copy()
    if f.index.name is not None or isinstance(f.index, pd.MultiIndex):
        f = f.reset_index()
    f.columns = [str(c) for c in f.columns]
    keep = [c for c in f.columns if c in kinds]
    f = f[keep]
    k = {c: kinds[c] for c in keep}
    if rename:
        f = f.rename(columns=rename)
        k = {rename.get(c, c): v for c, v in k.items()}
    return Table(caption, f.reset_index(drop=True), k, note, universe)


def count_table(
    counts: pd.DataFrame,
    *,
    caption: str,
    label: str,
    totals: str = "both",
    add_totals: bool = True,
    row_totals: bool = True,
    percent_of: str | None = None,
    note: str = "",
    universe: str | None = None,
) -> Table:
    """A two-way table of counts (index = rows) protected by :func:`privacy.suppress`.

    With ``add_totals`` a ``Total`` row (and, with ``row_totals`` and more
    than one column, a ``Total`` column) is added and shown. With
    ``percent_of`` ("row", "column", "total") a percentage column is added
    after each count column.
    """
    counts = counts.fillna(0).astype(int)
    counts.index = [str(i) for i in counts.index]
    counts.columns = [str(c) for c in counts.columns]
    if add_totals:
        if row_totals and counts.shape[1] > 1:
            counts[privacy.TOTAL] = counts.sum(axis=1)
        counts.loc[privacy.TOTAL] = counts.sum(axis=0)
    st = privacy.suppress(counts, totals=totals)
    shown = st.table.copy()
    kinds = {c: "count" for c in shown.columns}
    if percent_of is not None:
        pct = st.percent(of=percent_of)
        cols = []
        for c in shown.columns:
            cols.append(c)
            if c != privacy.TOTAL or counts.shape[1] == 1:
                name = f"{c} (%)" if counts.shape[1] > 1 else "%"
                shown[name] = pct[c]
                kinds[name] = "percent"
                cols.append(name)
        shown = shown[cols]
    shown.insert(0, label, shown.index.astype(str))
    kinds[label] = "label"
    extra = st.summary() if st.n_suppressed else ""
    return Table(
        caption,
        shown.reset_index(drop=True),
        kinds,
        " ".join(x for x in (note, extra) if x),
        universe,
    )


def stat_table(
    frame: pd.DataFrame,
    *,
    caption: str,
    n_col: str,
    stat_cols: list[str] | tuple[str, ...],
    label_cols: list[str] | tuple[str, ...],
    count_cols: list[str] | tuple[str, ...] = (),
    decimals: int = 1,
    note: str = "",
    universe: str | None = None,
) -> Table:
    """Statistics per row, hidden where fewer than 6 children are behind them.

    ``n_col`` and ``count_cols`` are shown as counts, hidden when 1-5 (rows
    are separate groups whose counts do not add up to a shown total).
    """
    shown = privacy.suppress_stats(frame, n_col=n_col, stat_cols=list(stat_cols), decimals=decimals)
    kinds = dict.fromkeys(label_cols, "label") | dict.fromkeys(stat_cols, "stat")
    lo, hi = privacy.THRESHOLD
    for c in dict.fromkeys([n_col, *count_cols]):
        v = pd.to_numeric(frame[c]).to_numpy(dtype=float)
        shown[c] = [privacy.format_count(x, lo <= x <= hi) if math.isfinite(x) else "" for x in v]
        kinds[c] = "count"
    return Table(caption, shown.reset_index(drop=True), kinds, note, universe)
