"""HTML pages as Markdown: headings, lists and tables kept, scripts, styles and markup dropped.

Beautiful Soup parses the page (the standard library's parser, so no compiled dependency) and
markdownify writes it as Markdown. Links keep their text and images are dropped: what a model
reads and quotes is the text. Nothing is escaped, so quotes match the page word for word.
"""

from __future__ import annotations

import re

__all__ = ["html_to_markdown", "looks_like_html"]

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
"""File names read as HTML whatever their start."""

_HTML_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]",
    re.IGNORECASE | re.DOTALL,
)
_DROPPED_ELEMENTS = ("head", "script", "style", "noscript", "template", "svg", "iframe")
_BLANK_LINES = re.compile(r"\n{3,}")


def looks_like_html(data: bytes, source: str) -> bool:
    """Whether a file is an HTML page: by its suffix, or by a start of ``<!DOCTYPE html`` or
    ``<html``."""
    return source.lower().endswith(HTML_SUFFIXES) or bool(_HTML_START.match(data[:4096]))


def html_to_markdown(html: str) -> str:
    """The text of the page ``html`` as Markdown (ATX headings, ``-`` bullets, pipe tables)."""
    from bs4 import BeautifulSoup  # the HTML libraries load for HTML and Word files only
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all(_DROPPED_ELEMENTS):
        element.decompose()
    converter = MarkdownConverter(
        heading_style="ATX",
        bullets="-",
        strip=["a", "img"],
        escape_asterisks=False,
        escape_underscores=False,
        escape_misc=False,
        table_infer_header=True,
    )
    markdown = converter.convert_soup(soup)
    lines = (line.rstrip() for line in markdown.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
