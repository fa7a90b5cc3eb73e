"""The offline extractive analyzer: a model backend that needs no network and no API key.

It ignores the prompt's instructions and works from :attr:`ModelRequest.material`. It quotes the
most central sentences (map) or points (reduce, final): each unit is scored by the average cosine
similarity of its TF-IDF term vector to the other units', so sentences about what the text is
mostly about win over asides and noise. The chosen units come back in document order with their
page citations, always within ``request.max_tokens`` as :func:`estimate_tokens` counts.

With ``request.question`` it keeps only the units that bear on the question
(:mod:`docanalyze.models.extractive.relevance`), best first, and the report answers it. Its own headings and notes
are in ``request.language`` (:mod:`docanalyze.text.wording`); the quotes stay in the document's.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.catalog import capabilities_of
from docanalyze.models.base import (
    ModelFeatures,
    ModelReply,
    ModelRequest,
    Usage,
    estimate_input_tokens,
)
from docanalyze.models.extractive.citing import cited_blocks, material_of
from docanalyze.models.extractive.features import EXTRACTIVE_FEATURES
from docanalyze.models.extractive.ranking import centrality
from docanalyze.models.extractive.relevance import is_relevant, relevance_scores
from docanalyze.models.extractive.textunits import (
    format_citation,
    is_cjk_char,
    is_heading,
    split_citation,
    split_marked_text,
    terms,
    truncate_to_fit,
)
from docanalyze.text.tokens import estimate_tokens
from docanalyze.text.wording import Wording, wording_for

__all__ = ["EXTRACTIVE_FEATURES", "ExtractiveModel"]

MODEL_NAME = "extractive"
NEAR_DUPLICATE_SIMILARITY = 0.8
"""Reduce and final merge points whose term sets have at least this Jaccard similarity (and the
same numbers)."""
SUBSTITUTE_SCORE_RATIO = 0.5
"""A point that does not fit may give its room to smaller ones scoring at least this share of it."""
RELEVANCE_TIE_BREAK = 0.01
"""With a question, centrality times this breaks ties between equally relevant units."""
ANSWER_SIZE = 3
"""With a question, the best passages quoted as the answer."""
OVERVIEW_HEADING = wording_for("en").overview
KEY_POINTS_HEADING = wording_for("en").key_points

_BULLET_MARKER = re.compile(r"^(?:[-*•·]\s+|\d{1,3}[.)]\s+)")
_TRAILING_PUNCTUATION = re.compile(r"[\s.!?。！？;；,，:：]+$")
_SENTENCE_ENDINGS = ".!?。！？"
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class _Point:
    """A unit of text to rank and quote: a sentence (map) or a bullet (reduce, final)."""

    text: str
    pages: frozenset[int]

    @property
    def bullet(self) -> str:
        return f"- {self.text} {format_citation(self.pages)}".rstrip()


@dataclass(frozen=True, kw_only=True)
class ExtractiveModel:
    """Offline backend: quotes the most central sentences of the material, with page citations."""

    context_window: int = 200_000
    max_output_tokens: int = 64_000
    name: str = field(default=MODEL_NAME, init=False)
    features: ModelFeatures = field(default=EXTRACTIVE_FEATURES, init=False)

    def rules_of(self, model: str) -> Capabilities:
        """The catalog's request rules of ``model`` (the offline analyzer sends no request)."""
        return capabilities_of(model)

    def estimate_tokens(self, text: str) -> int:
        """The same estimate the budgets use: :func:`docanalyze.text.tokens.estimate_tokens`."""
        return estimate_tokens(text)

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Extract from ``request.material`` (else from its citable texts) for
        ``request.stage``; never exceeds ``max_tokens``. With citable texts, the reply's
        claims come back in blocks that cite them."""
        started = time.perf_counter()
        limit = min(request.max_tokens, self.max_output_tokens)
        material = request.material or material_of(request.citable)
        if request.stage == "map":
            text = extract_sentences(material, limit, request.question)
        elif request.stage == "reduce":
            text = merge_points(material, limit, request.question)
        else:
            text = write_report(material, limit, request.language, request.question)
        prompt_tokens = estimate_input_tokens(request, estimate_tokens, cites=True)
        return ModelReply(
            text=text,
            stop_reason="end_turn",
            model=MODEL_NAME,
            usage=Usage(
                requests=0,
                input_tokens=prompt_tokens,
                output_tokens=estimate_tokens(text),
                estimated=True,
            ),
            duration=time.perf_counter() - started,
            blocks=cited_blocks(text, request.citable) if request.citable else (),
        )

    async def aclose(self) -> None:
        """Nothing to release."""


def extract_sentences(material: Sequence[str], max_tokens: int, question: str | None = None) -> str:
    """Map: the most central sentences of page-marked text (with a question: the relevant ones,
    best first), as cited bullets in document order; empty when none bears on the question.
    Headings (:func:`~.textunits.is_heading`) are not points, unless the text is mostly
    headings-like lines (a list of labels) rather than prose."""
    sentences = split_marked_text("\n\n".join(material))
    statements = [sentence for sentence in sentences if not is_heading(sentence.text)]
    if len(statements) * 2 < len(sentences):  # a list of labels, not prose with headings
        statements = sentences
    points = _merge_duplicates(
        [_Point(sentence.text, sentence.pages) for sentence in statements],
        similarity=1.0,
    )
    return _bullet_list(*_ranked(points, question), _budget(max_tokens), max_tokens)


def merge_points(material: Sequence[str], max_tokens: int, question: str | None = None) -> str:
    """Reduce: the partials' bullets, near-duplicates merged, the most central (or, with a
    question, the most relevant) kept."""
    points = _merge_duplicates(_read_bullets(material), NEAR_DUPLICATE_SIMILARITY)
    return _bullet_list(*_ranked(points, question), _budget(max_tokens), max_tokens)


def write_report(
    material: Sequence[str],
    max_tokens: int,
    language: str | None = None,
    question: str | None = None,
) -> str:
    """Final: an Overview paragraph of the top points, then the Key points as cited bullets;
    with a question, the answer and the relevant passages instead. Headings in ``language``."""
    wording = wording_for(language)
    points = _merge_duplicates(_read_bullets(material), NEAR_DUPLICATE_SIMILARITY)
    if question:
        return _write_answer(points, max_tokens, wording, question)
    if not points:
        return _fit(
            f"{wording.overview}\n\n{wording.no_key_points}\n\n{wording.key_points}", max_tokens
        )
    headings_cost = estimate_tokens(f"{wording.overview}\n\n\n\n{wording.key_points}\n\n")
    budget = _budget(max_tokens) - headings_cost
    overview_size = min(5, max(3, len(points) // 4))
    scores = centrality([point.text for point in points])
    chosen = _select(points, scores, budget, overview_size)
    if not chosen:
        chosen = _trimmed_best(points, scores, budget // 2)
    overview = [points[i] for i in sorted(chosen[:overview_size])]
    bullets = [points[i].bullet for i in sorted(chosen)]
    text = (
        f"{wording.overview}\n\n{_join_sentences(_overview_sentence(p) for p in overview)}\n\n"
        f"{wording.key_points}\n\n" + "\n".join(bullets)
    )
    return _fit(text, max_tokens)


def _write_answer(points: list[_Point], max_tokens: int, wording: Wording, question: str) -> str:
    """The question, an answer quoting the most relevant passages (best first) or saying the
    document does not answer it, then every relevant passage that fits, in document order."""
    points, scores = _ranked(points, question)
    head = f"{wording.question}\n\n{' '.join(question.split())}\n\n{wording.answer}\n\n"
    if not points:
        return _fit(head + wording.not_answered, max_tokens)
    budget = _budget(max_tokens) - estimate_tokens(f"{head}\n\n{wording.relevant_passages}\n\n")
    answer_size = min(ANSWER_SIZE, len(points))
    chosen = _select(points, scores, budget, answer_size)
    if not chosen:
        chosen = _trimmed_best(points, scores, budget // 2)
    answer = _join_sentences(_overview_sentence(points[i]) for i in chosen[:answer_size])
    bullets = [points[i].bullet for i in sorted(chosen)]
    text = f"{head}{answer}\n\n{wording.relevant_passages}\n\n" + "\n".join(bullets)
    return _fit(text, max_tokens)


def _ranked(points: list[_Point], question: str | None) -> tuple[list[_Point], list[float]]:
    """The points to choose from, with their scores: without a question every point, scored by
    centrality; with one only the relevant points, scored by relevance (centrality breaks ties)."""
    if not question:
        return points, centrality([point.text for point in points])
    relevance = relevance_scores(question, [point.text for point in points])
    kept = [index for index, score in enumerate(relevance) if is_relevant(score)]
    relevant = [points[index] for index in kept]
    scores = centrality([point.text for point in relevant])
    return relevant, [
        relevance[index] + RELEVANCE_TIE_BREAK * central for index, central in zip(kept, scores)
    ]


def _budget(max_tokens: int) -> int:
    """The tokens the extractor aims for: ``max_tokens`` less a small safety margin."""
    return max_tokens - max_tokens // 50


def _bullet_list(
    points: list[_Point], scores: Sequence[float], budget: int, max_tokens: int
) -> str:
    if not points:
        return ""
    chosen = _select(points, scores, budget)
    if chosen:
        bullets = [points[i].bullet for i in sorted(chosen)]
    else:
        bullets = [points[i].bullet for i in _trimmed_best(points, scores, budget)]
    return _fit("\n".join(bullets), max_tokens)


def _read_bullets(material: Iterable[str]) -> list[_Point]:
    """The points of partial results: every non-heading line, bullet marker and citation split off."""
    points: list[_Point] = []
    for partial in material:
        for line in partial.splitlines():
            line = _BULLET_MARKER.sub("", line.strip())
            if not line or line.startswith(("#", ">")):
                continue
            text, pages = split_citation(line)
            if text:
                points.append(_Point(text, pages))
    return points


def _merge_duplicates(points: list[_Point], similarity: float) -> list[_Point]:
    """Merge points whose term sets are at least ``similarity`` alike (Jaccard), in first-seen
    order; a merged point keeps the longer wording and the union of the pages."""
    merged: list[_Point] = []
    term_sets: list[frozenset[str]] = []
    by_key: dict[str, int] = {}
    by_term: dict[str, list[int]] = {}
    for point in points:
        key = _NON_WORD.sub(" ", point.text.lower()).strip()
        found = by_key.get(key)
        point_terms = frozenset(terms(point.text))
        if found is None and similarity < 1.0:
            found = _most_similar(point_terms, term_sets, by_term, similarity)
        if found is None:
            by_key[key] = len(merged)
            for term in point_terms:
                by_term.setdefault(term, []).append(len(merged))
            merged.append(point)
            term_sets.append(point_terms)
            continue
        kept = merged[found]
        text = point.text if len(point.text) > len(kept.text) else kept.text
        merged[found] = _Point(text, kept.pages | point.pages)
        by_key[key] = found
    return merged


def _most_similar(
    point_terms: frozenset[str],
    term_sets: list[frozenset[str]],
    by_term: dict[str, list[int]],
    threshold: float,
) -> int | None:
    """The earliest kept point whose term set is at least ``threshold`` Jaccard-similar and
    holds the same numbers."""
    if not point_terms:
        return None
    shared: Counter[int] = Counter()
    for term in point_terms:
        shared.update(by_term.get(term, ()))
    numbers = _numbers(point_terms)
    for index, overlap in sorted(shared.items()):
        union = len(point_terms) + len(term_sets[index]) - overlap
        if overlap / union >= threshold and _numbers(term_sets[index]) == numbers:
            return index
    return None


def _numbers(found: frozenset[str]) -> frozenset[str]:
    """The terms holding digits: points that differ in a number state different facts."""
    return frozenset(term for term in found if any(char.isdigit() for char in term))


def _ranking(scores: Sequence[float]) -> list[int]:
    """Indices from the best score to the worst; ties go to the earlier point."""
    return sorted(range(len(scores)), key=lambda index: (-scores[index], index))


def _select(
    points: Sequence[_Point], scores: Sequence[float], budget: int, overview_size: int = 0
) -> list[int]:
    """The best-ranked points whose bullets fit ``budget`` together, in rank order.

    A point that does not fit is skipped for a smaller one, but only for one scoring at least
    :data:`SUBSTITUTE_SCORE_RATIO` of it, so leftover room is not filled with noise. The first
    ``overview_size`` chosen also pay for their sentence in the final report's overview.
    """
    chosen: list[int] = []
    spent = 0
    floor = -math.inf
    for index in _ranking(scores):
        if scores[index] < floor:
            continue
        cost = estimate_tokens(points[index].bullet + "\n")
        if len(chosen) < overview_size:
            cost += estimate_tokens(_overview_sentence(points[index]) + " ")
        if spent + cost <= budget:
            chosen.append(index)
            spent += cost
        else:
            floor = max(floor, scores[index] * SUBSTITUTE_SCORE_RATIO)
    return chosen


def _trimmed_best(points: list[_Point], scores: Sequence[float], budget: int) -> list[int]:
    """When no whole point fits: shorten the best one in place so its bullet fits ``budget``."""
    best = _ranking(scores)[0]
    point = points[best]

    def fits(text: str) -> bool:
        return estimate_tokens(_Point(text, point.pages).bullet + "\n") <= budget

    shortened = truncate_to_fit(point.text, fits)
    if shortened is None:
        return []
    points[best] = _Point(shortened, point.pages)
    return [best]


def _overview_sentence(point: _Point) -> str:
    """A point as a sentence of running text, its citation before the final punctuation."""
    body = _TRAILING_PUNCTUATION.sub("", point.text) or point.text
    ending = point.text[len(body) :].strip()
    if not ending or ending[-1] not in _SENTENCE_ENDINGS:
        ending = "。" if is_cjk_char(body[-1]) else "."
    citation = format_citation(point.pages)
    return f"{body} {citation}{ending}" if citation else f"{body}{ending}"


def _join_sentences(sentences: Iterable[str]) -> str:
    """Sentences as one paragraph: a space after Latin ones, none after full-width endings."""
    text = ""
    for sentence in sentences:
        text += sentence if not text or text[-1] in "。！？" else f" {sentence}"
    return text


def _fit(text: str, max_tokens: int) -> str:
    """``text`` cut back to whole lines, if needed, so that it is within ``max_tokens``."""
    lines = text.splitlines()
    while lines and estimate_tokens("\n".join(lines)) > max_tokens:
        lines.pop()
    return "\n".join(lines).rstrip()
