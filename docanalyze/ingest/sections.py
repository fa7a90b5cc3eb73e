"""A page-less document (Word, HTML) cut into sections, which stand in for its pages.

Every Markdown heading starts a section, labelled with the heading's text; a heading with no
text of its own before the next heading joins the next section. Text before the first heading,
or in a document without headings, is labelled by its paragraphs (``¶ 1–12``, counting the
document's paragraphs, tables and lists from 1). A section longer than
:data:`MAX_SECTION_CHARS` is cut between paragraphs into parts that keep its label, so that a
citation points at a few paragraphs, as a page would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["MAX_SECTION_CHARS", "Section", "markdown_sections"]

MAX_SECTION_CHARS = 4000
"""About a printed page of text: a longer section is cut into parts of at most this size."""

MAX_LABEL_CHARS = 60

_HEADING = re.compile(r"^#{1,6}[ \t]+(?P<text>.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_LABEL_NOISE = re.compile(r"[()（）\[\]{}*_`\\]")
_LABEL_START = re.compile(r"^[^\w¶§]+")


@dataclass(frozen=True)
class Section:
    """One section: its label (a heading's text, or ``¶ a–b``) and its Markdown text."""

    label: str
    text: str


@dataclass
class _Open:
    """The section being gathered."""

    heading: str | None
    headings: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    first_paragraph: int = 0
    size: int = 0


def markdown_sections(markdown: str) -> list[Section]:
    """The sections of ``markdown``, in order; none for a text without any."""
    sections: list[Section] = []
    current = _Open(heading=None)
    paragraph = 0
    for block in _blocks(markdown):
        heading = _HEADING.match(block)
        if heading:
            if current.blocks:
                sections.append(_closed(current, paragraph))
                current = _Open(heading=None)
            current.headings.append(block)
            current.heading = _clean_label(heading["text"]) or current.heading
            continue
        if current.blocks and current.size + len(block) > MAX_SECTION_CHARS:
            sections.append(_closed(current, paragraph))
            current = _Open(heading=current.heading)
        paragraph += 1
        if not current.blocks:
            current.first_paragraph = paragraph
        current.blocks.append(block)
        current.size += len(block) + 2
    if current.blocks or current.headings:
        sections.append(_closed(current, paragraph))
    return sections


def _closed(section: _Open, last_paragraph: int) -> Section:
    text = "\n\n".join([*section.headings, *section.blocks])
    if section.heading:
        return Section(section.heading, text)
    first = section.first_paragraph or last_paragraph
    span = str(first) if first >= last_paragraph else f"{first}–{last_paragraph}"
    return Section(f"¶ {span}", text)


def _blocks(markdown: str) -> list[str]:
    """The blank-line separated blocks of ``markdown``; a fenced code block stays whole."""
    blocks: list[str] = []
    lines: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        if not line.strip() and not fenced:
            if lines:
                blocks.append("\n".join(lines))
                lines = []
            continue
        if _HEADING.match(line) and not fenced:
            if lines:
                blocks.append("\n".join(lines))
                lines = []
            blocks.append(line.strip())
            continue
        lines.append(line)
    if lines:
        blocks.append("\n".join(lines))
    return blocks


def _clean_label(heading: str) -> str:
    """A heading as a citation can carry it: one line, no brackets or emphasis, not too long."""
    label = _LABEL_START.sub("", " ".join(_LABEL_NOISE.sub(" ", heading).split()))
    if len(label) <= MAX_LABEL_CHARS:
        return label
    return label[:MAX_LABEL_CHARS].rsplit(" ", 1)[0] + "…"
