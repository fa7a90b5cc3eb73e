"""The final report written in sections: the layout, the prompts and the stitched report.

A long report written as one stream is the slowest part of a run. In sections, the reduced
partial results are cut, in document order, into parts; each part's section is written by its
own request, all at once, beside an overview written from a digest of every part. Every
partial result goes to exactly one section. ``--max-tokens`` is shared among the overview and
the sections. Runs, plans and dry runs all lay the report out here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from docanalyze.document import Partial
from docanalyze.prompting.citable import point_citable
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.run.grounding import points_text
from docanalyze.text.wording import wording_for

__all__ = [
    "FINAL_OUTPUT_SHARE",
    "SECTION_TOKENS",
    "FinalLayout",
    "FinalPiece",
    "OutlineEntry",
    "lay_out_final",
    "overview_prompt",
    "report_headings",
    "section_body",
    "section_count",
    "section_prompt",
    "stitch_report",
]

FINAL_OUTPUT_SHARE = 0.50
"""The report is expected to be this share of its material (at most ``--max-tokens``)."""
SECTION_TOKENS = 1024
"""The length a section aims at: ``auto`` writes a report expected to be longer in sections."""
MAX_SECTIONS = 12
MIN_SECTION_TOKENS = 256
"""No section gets a smaller share of ``--max-tokens`` than this."""
OVERVIEW_SHARE = 1 / 8
"""The overview's share of ``--max-tokens``, within 256 and 1,024 tokens."""
DIGEST_TOKENS = 300
"""How much of each part the overview's digest quotes, at most."""
_HEADING = re.compile(r"^#{1,2}(?=\s|$)", re.MULTILINE)
_Item = TypeVar("_Item")


@dataclass(frozen=True)
class OutlineEntry:
    """One section of the outline: its number and pages; ``current`` in its own prompt."""

    number: int
    first_page: int
    last_page: int
    current: bool = False

    @property
    def pages(self) -> str:
        """``7`` or ``7–12``."""
        if self.first_page == self.last_page:
            return str(self.first_page)
        return f"{self.first_page}–{self.last_page}"


@dataclass(frozen=True)
class FinalPiece:
    """One request of a report in sections: its prompt, token estimate, material and budget."""

    prompt: str
    tokens: int
    material: list[Partial]
    max_tokens: int


@dataclass(frozen=True)
class FinalLayout:
    """How the final report is written: ``parts`` holds each section's partial results, in
    document order (one part: a single request, with ``final.j2``). In sections, ``pieces``
    are the requests, rendered once: the overview (from ``digest``), then every section."""

    parts: list[list[Partial]]
    section_max_tokens: int
    overview_max_tokens: int
    chunk_count: int
    digest: list[Partial] = field(default_factory=list)
    pieces: list[FinalPiece] = field(default_factory=list)

    @property
    def sectioned(self) -> bool:
        """Whether the report is written in sections (else one request)."""
        return len(self.parts) > 1

    @property
    def outline(self) -> list[OutlineEntry]:
        """Every section's number and pages."""
        return [
            OutlineEntry(number, part[0].first_page, max(p.last_page for p in part))
            for number, part in enumerate(self.parts, 1)
        ]


def _digest(layout: FinalLayout, estimate_tokens: Callable[[str], int]) -> list[Partial]:
    """The first points of every part, at most :data:`DIGEST_TOKENS` each: the overview's
    material (with those points, when the parts have theirs)."""
    digest = []
    for entry, part in zip(layout.outline, layout.parts):
        points = [point for p in part for point in p.points]
        if points:
            kept = _first(points, lambda point: estimate_tokens(point_citable(point).text))
            text = points_text(kept)
        else:
            lines = [line for p in part for line in p.text.splitlines() if line.strip()]
            kept_lines = _first(lines, estimate_tokens)
            text, kept = "\n".join(kept_lines), []
        digest.append(Partial(text, entry.first_page, entry.last_page, tuple(kept)))
    return digest


def _first(items: Sequence[_Item], size: Callable[[_Item], int]) -> list[_Item]:
    """The first of ``items`` (at least one) whose sizes add up to :data:`DIGEST_TOKENS`."""
    kept: list[_Item] = []
    used = 0
    for item in items:
        used += size(item)
        if kept and used > DIGEST_TOKENS:
            break
        kept.append(item)
    return kept


def lay_out_final(
    renderer: PromptRenderer, partials: list[Partial], chunk_count: int, mode: str
) -> FinalLayout:
    """The layout of the final report of ``partials`` (reduced until the single final prompt
    fits) under ``--final mode``.

    ``auto`` writes sections when the report is expected to be longer than
    :data:`SECTION_TOKENS`, and one request for a ``--question`` (an answer needs one voice) or
    the offline analyzer. A layout whose requests would not fit the window is a single one.
    """
    budgets = renderer.budgets
    single = FinalLayout([list(partials)], budgets.final_max_tokens, 0, chunk_count)
    material = sum(renderer.limits.estimate_tokens(partial.text) for partial in partials)
    count = min(len(partials), section_count(renderer, material, mode))
    if count < 2:
        return single
    overview_tokens = _overview_tokens(budgets.final_max_tokens)
    room = budgets.final_max_tokens - overview_tokens
    parts = _split_in_order(renderer, partials, count)
    layout = FinalLayout(parts, room // count, overview_tokens, chunk_count)
    layout = replace(layout, digest=_digest(layout, renderer.limits.estimate_tokens))
    layout = replace(layout, pieces=_pieces(renderer, layout))
    budgets = renderer.budgets
    fits = all(
        budgets.fits(piece.tokens, budgets.output("final", piece.max_tokens))
        for piece in layout.pieces
    )
    return layout if fits else single


def section_count(renderer: PromptRenderer, material_tokens: int, mode: str) -> int:
    """How many sections a report of ``material_tokens`` of partial results gets under
    ``--final mode`` (below 2: one request)."""
    if mode == "single" or renderer.limits.features.offline:
        return 1
    if mode == "auto" and renderer.question:
        return 1
    final_max_tokens = renderer.budgets.final_max_tokens
    expected = min(final_max_tokens, math.ceil(FINAL_OUTPUT_SHARE * material_tokens))
    most = (final_max_tokens - _overview_tokens(final_max_tokens)) // MIN_SECTION_TOKENS
    count = min(MAX_SECTIONS, most, math.ceil(expected / SECTION_TOKENS))
    return max(count, min(2, most)) if mode == "sections" else count


def _overview_tokens(final_max_tokens: int) -> int:
    return min(1024, max(256, int(final_max_tokens * OVERVIEW_SHARE)))


def _split_in_order(
    renderer: PromptRenderer, partials: list[Partial], count: int
) -> list[list[Partial]]:
    """``partials`` cut into ``count`` runs of about equal size, in order, none empty: a
    partial goes to the part its middle falls in."""
    sizes = [max(1, renderer.limits.estimate_tokens(partial.text)) for partial in partials]
    total = sum(sizes)
    parts: list[list[Partial]] = []
    start, before = 0, 0
    for number in range(1, count + 1):
        end = start + 1
        target = total * number / count
        last_allowed = len(partials) - (count - number)
        while end < last_allowed and before + sum(sizes[start:end]) + sizes[end] / 2 <= target:
            end += 1
        if number == count:
            end = len(partials)
        parts.append(partials[start:end])
        before += sum(sizes[start:end])
        start = end
    return parts


def _pieces(renderer: PromptRenderer, layout: FinalLayout) -> list[FinalPiece]:
    """The overview's request, then every section's, rendered."""
    overview = FinalPiece(
        *overview_prompt(renderer, layout), layout.digest, layout.overview_max_tokens
    )
    return [
        overview,
        *(
            FinalPiece(*section_prompt(renderer, layout, index), part, layout.section_max_tokens)
            for index, part in enumerate(layout.parts)
        ),
    ]


def section_prompt(renderer: PromptRenderer, layout: FinalLayout, index: int) -> tuple[str, int]:
    """``section.j2`` rendered for section ``index`` (from 0), and its token estimate."""
    outline = [
        OutlineEntry(entry.number, entry.first_page, entry.last_page, entry.number == index + 1)
        for entry in layout.outline
    ]
    return renderer.render(
        "section",
        renderer.citable_points(layout.parts[index]),
        partials=layout.parts[index],
        section=index + 1,
        sections=len(layout.parts),
        outline=outline,
        max_tokens=layout.section_max_tokens,
        chunk_count=layout.chunk_count,
    )


def overview_prompt(renderer: PromptRenderer, layout: FinalLayout) -> tuple[str, int]:
    """``overview.j2`` rendered from the digest of every part, and its token estimate."""
    return renderer.render(
        "overview",
        renderer.citable_points(layout.digest),
        digest=layout.digest,
        outline=layout.outline,
        sections=len(layout.parts),
        max_tokens=layout.overview_max_tokens,
        chunk_count=layout.chunk_count,
    )


def report_headings(renderer: PromptRenderer, layout: FinalLayout) -> list[str]:
    """The headings docanalyze writes: the title, then one before the overview and one before
    each section (the replies go under them)."""
    wording = wording_for(renderer.report_language.code)
    source = renderer.document.source
    question = renderer.question
    if question:
        title = f"# {source}: {' '.join(question.split())}"
    else:
        title = wording.title.format(source=source)
    overview = wording.answer if question else wording.overview
    sections = [wording.section.format(pages=entry.pages) for entry in layout.outline]
    return [f"{title}\n\n{overview}", *sections]


def section_body(text: str) -> str:
    """A section's reply as it goes under its heading: trimmed, any ``#``/``##`` heading
    demoted to ``###`` so that the report keeps one title and one heading per section."""
    return _HEADING.sub("###", text.strip())


def stitch_report(headings: list[str], bodies: list[str]) -> str:
    """The report: each heading with the reply written under it, in order."""
    return "\n\n".join(f"{heading}\n\n{body}".rstrip() for heading, body in zip(headings, bodies))
