"""Text from data is inert in every HTML and Markdown output.

Council names, domain names, provider labels and framework text may carry
markup, line breaks or Markdown; none of it may become a tag, a heading, a
list, a link or a table cell.
"""

from __future__ import annotations

from html.parser import HTMLParser

import mistune
import nbformat
import pandas as pd
import pytest

from vc_eval.core.summary import Finding, Summary, Table, escape_html, escape_md
from vc_eval.reporting import render as R

HOSTILE = [
    "<script>alert(1)</script>",
    'Foster "care" <img src=x onerror=alert(1)>',
    "Line one\nline two\r\n# not a heading",
    "**bold** _it_ [link](http://example.org) `code` | pipe",
    "- not a list\n1. nor this\n> nor a quote",
    "Children's home & more",
]


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


def folded(s: str) -> str:
    return " ".join(s.split())


def summary_of(text: str) -> Summary:
    frame = pd.DataFrame({text: [text, "Total"], "Children": ["12", "c"]})
    return Summary(
        title=text,
        findings=[Finding("k", f"In {text}, 12 children.")],
        tables=[Table(text, frame, {text: "label", "Children": "count"}, note=f"Note on {text}")],
        caveats=[f"Caveat about {text}"],
    )


SUMMARY_TAGS = {"h2", "h3", "ul", "li", "table", "caption", "thead", "tbody", "tr", "th", "td", "p"}


@pytest.mark.parametrize("text", HOSTILE)
def test_summary_html_has_only_its_own_tags(text):
    page = parse(summary_of(text).to_html())
    assert set(page.tags) <= SUMMARY_TAGS
    # The text is all still there, as text (line breaks folded).
    assert folded(text) in "".join(page.text)


@pytest.mark.parametrize("text", HOSTILE)
def test_summary_markdown_renders_to_text_only(text):
    html = mistune.html(summary_of(text).to_markdown())
    page = parse(html)
    # Our own structure: a heading, list items, a table, emphasis for the caption.
    assert set(page.tags) <= SUMMARY_TAGS | {"em", "strong"}
    assert page.tags.count("h2") == 1 and "h1" not in page.tags
    assert "a" not in page.tags and "script" not in page.tags and "img" not in page.tags
    assert folded(text) in "".join(page.text)


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_functions_fold_lines(text):
    assert "\n" not in escape_md(text) and "\n" not in escape_html(text)
    assert "<" not in escape_html(text) and "<" not in escape_md(text)


def test_markdown_keeps_apostrophes_readable():
    html = mistune.html(escape_md("Children's home"))
    assert "Children's home" in html or "Children&#x27;s home" in html
    assert "&amp;#" not in html and "\\#" not in html


@pytest.mark.parametrize("text", HOSTILE)
def test_index_page_escapes_council_names(text, tmp_path):
    res = R.RenderResult(text, "impact_update", "failed", error=f"ValueError: {text}")
    page = parse(R.write_index([res], tmp_path).read_text(encoding="utf-8"))
    assert "script" not in page.tags and "img" not in page.tags


@pytest.mark.parametrize("text", HOSTILE)
def test_report_title_is_escaped(text):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("Body"))
    page = parse(R.render_html(nb, title=R.report_title("impact_update", text)))
    assert "script" not in page.tags and "img" not in page.tags
    assert "\n" not in R.report_title("impact_update", text)


def test_a_figure_without_alt_text_goes_through_nbconvert_whole():
    """A notebook whose figure has no alt text (plt.show() in a researcher's notebook)
    gets HTMLExporter's own page, its placeholder alt text included."""
    import base64

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 40).decode()
    with_alt = nbformat.v4.new_output(
        "display_data", {"image/png": png}, metadata={"image/png": {"alt": "A described figure"}}
    )
    without = nbformat.v4.new_output("display_data", {"image/png": png})
    for outputs, placeholder in (([with_alt], False), ([with_alt, without], True)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=outputs)])
        page = R.render_html(nb, title="t")
        plain, _ = R._html_exporter(plain=True).from_notebook_node(
            R._published(nb, "t"), resources={"metadata": {"name": "t"}}
        )
        assert ("No description has been provided" in page) is placeholder
        assert (page == plain) is placeholder  # whole pass only where it has work
