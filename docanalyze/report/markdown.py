"""Markdown to safe HTML for reports, with quoted text shown as written.

markdown-it-py renders CommonMark with raw HTML disabled, so markup written in a document or by the
model is shown as text, never run. A sentence quoted from a document may begin like an ordered
list item (``2) Sei X ...``, ``1) X = R ...``); CommonMark would turn the bullet or quote holding it
into a list numbered from 2, with stray nested numbers. Such a marker is escaped, so the quote reads
as written: always when it opens a bullet or a block quote, and anywhere in ``quoted`` text (the
offline analyzer's, made only of quotes and its own headings, never an ordered list).
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

__all__ = ["markdown_to_html"]

_ORDERED_MARKER = re.compile(r"^((?:[ \t]*(?:>|[-*+](?=[ \t])))*[ \t]*)(\d{1,9})([.)])")
"""The first ordered-list marker of a line, after the quote and bullet markers before it."""


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown_to_html(text: str, *, quoted: bool = False) -> Markup:
    """Markdown as safe HTML: raw HTML in ``text`` is escaped, unsafe link schemes refused.

    A number that opens a bullet or a block quote (``- 2) Sei X``) is text, not a nested ordered
    list; with ``quoted``, a number that opens any line is text (no ordered lists at all).
    """
    markdown = _markdown()
    lines = text.split("\n")
    while True:
        tokens = markdown.parse("\n".join(lines))
        escaped = False
        for line in _numbered_quote_lines(tokens, quoted):
            lines[line], count = _ORDERED_MARKER.subn(r"\1\2\\\3", lines[line], count=1)
            escaped = escaped or count > 0
        if not escaped:
            return Markup(markdown.renderer.render(tokens, markdown.options, {}))


def _numbered_quote_lines(tokens: list[Token], quoted: bool) -> set[int]:
    """The lines whose ordered-list marker should be read as text."""
    lines: set[int] = set()
    open_blocks: list[Token] = []
    for token in tokens:
        if token.nesting == -1:
            open_blocks.pop()
            continue
        if token.type == "ordered_list_open" and token.map is not None:
            parent = open_blocks[-1] if open_blocks else None
            if quoted or _opens_on_the_line_of(parent, token.map[0]):
                lines.add(token.map[0])
        if token.nesting == 1:
            open_blocks.append(token)
    return lines


def _opens_on_the_line_of(parent: Token | None, line: int) -> bool:
    """Whether ``parent`` is a bullet item or a block quote whose first line is ``line``."""
    if parent is None or parent.map is None or parent.map[0] != line:
        return False
    is_bullet = parent.type == "list_item_open" and parent.markup in ("-", "*", "+")
    return is_bullet or parent.type == "blockquote_open"
