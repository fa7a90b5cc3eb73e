"""The fake model's answers to citable content, and the citation errors it makes on demand.

:class:`CitingResponder` answers a request whose documents or search results have citations
enabled with one text block per planted fact: for the first sentence holding each ``FACT-nnnn``
marker (or, when no source holds one, the first sentence of each source), a block
``"- <the sentence> (p. N)\\n"`` with one citation whose ``cited_text`` and location are those the
API gives for the source's type:

- plain text document: ``char_location``; ``cited_text`` is ``data[start_char_index:end_char_index]``,
  the sentence with the whitespace after it;
- custom content document: ``content_block_location``; search result:
  ``search_result_location``; both cite the block holding the sentence (``cited_text`` is the whole
  block, ``end_block_index`` is exclusive);
- PDF: ``page_location`` on the sentence's page (``end_page_number`` exclusive).

The page written in the text is the PDF page, or the "[Page N]" marker before the sentence
(docanalyze's map prompt marks pages that way), else the page the source's title names
(``Page N`` for a document, ``p. N`` or ``pp. N–M`` for a search result: the first page, as
docanalyze titles the pages and points it sends); without one, no page is written. With
``quote_plain_prompts``, a prompt without citations enabled gets the same bullets with the
sentence quoted verbatim instead of cited (``- "<sentence>" (p. N)``; in quotes and claims alike,
each run of whitespace is written as one space); otherwise ``plain`` answers it (default: echo).

:class:`CitationErrors` make the model err, deterministically for a seed: one paged bullet in
``wrong_page_every`` writes a wrong ``(p. N)`` (its citation, or quote, stays right), and one reply in
``invent_every`` holds an invented bullet (``FACT-9nnn``, marked INVENTED) with no citation, or
with a quote found nowhere. :attr:`CitingResponder.errors_made` lists every error made.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fakeserver.citable import CitableSource, citable_sources, page_marker_before, sentence_spans
from fakeserver.recording import RecordedRequest
from fakeserver.replies import Responder, ScriptedReply, TextPart, echo_responder

__all__ = ["FACT", "CitationError", "CitationErrors", "CitingResponder", "citation_of"]

FACT = re.compile(r"FACT-\d+")
"""How the tests and fixtures spell a planted fact."""
TITLE_PAGE = re.compile(r"^\s*(?:Page|pp?\.)\s*(\d+)")
"""A source title that names a page: ``Page 4``, ``p. 4``, ``pp. 4–6`` (its first page)."""
PAGE_NOTE = re.compile(r"[\"”]?[ \t]*[(（]pp?\.\s*(\d+)")
"""A page note after a sentence: ``(p. 4)``, ``（pp. 4–6）`` (its first page)."""
QUOTE_MARKS = '"“”'

INVENTED_FACT_BASE = 9000


@dataclass(frozen=True)
class CitationErrors:
    """How often the fake model errs (0: never), and the seed that places the errors."""

    wrong_page_every: int = 0
    """One bullet with a page in this many writes a wrong ``(p. N)`` in its text."""
    invent_every: int = 0
    """One reply in this many holds an invented bullet without a citation (or real quote)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("wrong_page_every", "invent_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (never) or more, got {getattr(self, name)}")


@dataclass(frozen=True)
class CitationError:
    """One error the fake model made: ``kind`` "wrong_page" or "invented", in the reply to the
    request ``request_id`` (and ``custom_id`` in a batch); ``text`` is the bullet as written."""

    kind: str
    request_id: str
    text: str
    facts: tuple[str, ...]
    page_written: int | None
    true_page: int | None = None
    custom_id: str | None = None


@dataclass(frozen=True)
class _Claim:
    """One bullet to write: the sentence, its facts, its page and its citation (None when the
    sentence is quoted instead)."""

    sentence: str
    page: int | None
    citation: Mapping[str, Any] | None

    @property
    def facts(self) -> tuple[str, ...]:
        return tuple(FACT.findall(self.sentence))


class CitingResponder:
    """A responder that cites (see the module docstring); thread-safe."""

    def __init__(
        self,
        errors: CitationErrors | None = None,
        *,
        quote_plain_prompts: bool = False,
        plain: Responder = echo_responder,
    ) -> None:
        self.errors = errors or CitationErrors()
        self.quote_plain_prompts = quote_plain_prompts
        self.plain = plain
        self._lock = threading.Lock()
        seeded = random.Random(self.errors.seed)
        self._wrong_page_phase = seeded.randrange(max(1, self.errors.wrong_page_every))
        self._invent_phase = seeded.randrange(max(1, self.errors.invent_every))
        self._random = seeded
        self._paged_bullets = 0
        self._replies = 0
        self._errors_made: list[CitationError] = []

    @property
    def errors_made(self) -> list[CitationError]:
        """A copy of every error made so far, oldest first."""
        with self._lock:
            return list(self._errors_made)

    def __call__(self, request: RecordedRequest) -> str | ScriptedReply:
        sources = [s for s in citable_sources(request.body) if s.citations_enabled]
        if sources:
            claims = _distinct(c for s in sources for c in _claims(s, facts_only=True))
            claims = claims or [c for s in sources for c in _claims(s, facts_only=False)][:8]
        elif self.quote_plain_prompts:
            claims = _distinct(_quoted_claims(request.prompt))
            if not claims:
                return self.plain(request)
        else:
            return self.plain(request)
        with self._lock:
            parts = [self._bullet(claim, request) for claim in claims]
            invented = self._invented_bullet(claims, request, quoted=not sources)
            if invented is not None:
                parts.insert(self._random.randint(0, len(parts)), invented)
        if sources:
            return ScriptedReply.cited(parts)
        return "".join(part.text for part in parts)

    def _bullet(self, claim: _Claim, request: RecordedRequest) -> TextPart:
        page = claim.page
        if page is not None and self.errors.wrong_page_every:
            self._paged_bullets += 1
            count = self._paged_bullets - 1
            if count % self.errors.wrong_page_every == self._wrong_page_phase:
                page += self._random.randint(1, 3)
        sentence = " ".join(claim.sentence.split())
        quoted = f'"{sentence}"' if claim.citation is None else sentence
        text = f"- {quoted}{_page_note(page)}\n"
        if page != claim.page:
            self._record("wrong_page", request, text, claim.facts, page, claim.page)
        return TextPart(text, (claim.citation,) if claim.citation is not None else ())

    def _invented_bullet(
        self, claims: list[_Claim], request: RecordedRequest, *, quoted: bool
    ) -> TextPart | None:
        every = self.errors.invent_every
        self._replies += 1
        if not every or (self._replies - 1) % every != self._invent_phase:
            return None
        invented = sum(error.kind == "invented" for error in self._errors_made)
        fact = f"FACT-{INVENTED_FACT_BASE + invented + 1}"
        sentence = f"{fact} (INVENTED) the budget was approved by a committee that never met."
        page = next((claim.page for claim in reversed(claims) if claim.page), None)
        text = f'- "{sentence}"' if quoted else f"- {sentence}"
        text += f"{_page_note(page)}\n"
        self._record("invented", request, text, (fact,), page)
        return TextPart(text)

    def _record(
        self,
        kind: str,
        request: RecordedRequest,
        text: str,
        facts: tuple[str, ...],
        page_written: int | None,
        true_page: int | None = None,
    ) -> None:
        error = CitationError(
            kind, request.request_id, text, facts, page_written, true_page, request.custom_id
        )
        self._errors_made.append(error)


def _page_note(page: int | None) -> str:
    return f" (p. {page})" if page is not None else ""


def _claims(source: CitableSource, *, facts_only: bool) -> Iterator[_Claim]:
    """The claims of one source: its fact sentences (or, without ``facts_only``, its first)."""
    titled = TITLE_PAGE.match(source.title or "")
    page: int | None = int(titled.group(1)) if titled else None
    for unit_index, unit in enumerate(source.units):
        for start, end in sentence_spans(unit):
            sentence = unit[start:end]
            if facts_only and not FACT.search(sentence):
                continue
            if source.kind == "pdf":
                claim_page: int | None = unit_index + 1
            else:
                claim_page = page_marker_before(unit, start) or page
            citation = citation_of(source, unit_index, sentence, start, end)
            yield _Claim(sentence.strip(), claim_page, citation)
            if not facts_only:
                return
        page = page_marker_before(unit, len(unit)) or page


def citation_of(
    source: CitableSource, unit_index: int, sentence: str, start: int, end: int
) -> dict[str, Any]:
    """The citation the API gives for ``sentence`` of ``source``'s unit ``unit_index``."""
    if source.kind == "text":
        return {
            "type": "char_location",
            "cited_text": sentence,
            "document_index": source.index,
            "document_title": source.title,
            "start_char_index": start,
            "end_char_index": end,
        }
    if source.kind == "pdf":
        return {
            "type": "page_location",
            "cited_text": sentence,
            "document_index": source.index,
            "document_title": source.title,
            "start_page_number": unit_index + 1,
            "end_page_number": unit_index + 2,
        }
    blocks = {
        "cited_text": source.units[unit_index],
        "start_block_index": unit_index,
        "end_block_index": unit_index + 1,
    }
    if source.kind == "search_result":
        return {
            "type": "search_result_location",
            "search_result_index": source.index,
            "source": source.source,
            "title": source.title,
            **blocks,
        }
    return {
        "type": "content_block_location",
        "document_index": source.index,
        "document_title": source.title,
        **blocks,
    }


def _distinct(claims: Iterable[_Claim]) -> list[_Claim]:
    """The first claim of each set of facts: a fact stated twice (a point's claim and its quote,
    or two overlapping chunks) is written once, as a model merges what it reads twice."""
    seen: set[tuple[str, ...]] = set()
    distinct = []
    for claim in claims:
        if claim.facts not in seen:
            seen.add(claim.facts)
            distinct.append(claim)
    return distinct


def _quoted_claims(prompt: str) -> Iterator[_Claim]:
    """The fact sentences of a plain prompt, to be quoted verbatim, with their pages: the page of
    ``(p. N)`` written right after the sentence (a bullet of a partial result, whose dash and
    quote marks are not part of the sentence), else the "[Page N]" marker before it."""
    for start, end in sentence_spans(prompt):
        sentence = prompt[start:end].strip()
        if not FACT.search(sentence):
            continue
        noted = PAGE_NOTE.match(prompt, end)
        page = int(noted.group(1)) if noted else page_marker_before(prompt, start)
        sentence = sentence.removeprefix("- ").strip(QUOTE_MARKS)
        yield _Claim(sentence, page, None)
