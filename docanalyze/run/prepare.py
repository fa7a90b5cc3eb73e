"""Preparing a run: the one place that turns a document and the options into chunks and prompts.

Runs, plans and dry runs all start here, so that a plan counts the prompts a run would send:
the same chunks, budgets, thinking, question and language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from docanalyze.document import Chunk, Document
from docanalyze.events import Event
from docanalyze.ingest.boilerplate import without_boilerplate
from docanalyze.ingest.chunking import chunks_to_analyze
from docanalyze.ingest.ocr import read_scanned_pages
from docanalyze.models.base import ModelLimits
from docanalyze.options import Options
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import PromptSet
from docanalyze.prompting.thinking import stage_budgets
from docanalyze.text.language import resolve_language

__all__ = ["PreparedRun", "document_to_analyze", "prepare_run", "prompt_renderer"]


@dataclass(frozen=True)
class PreparedRun:
    """A document ready to analyze: its chunks, and the renderer of its prompts."""

    chunks: list[Chunk]
    renderer: PromptRenderer

    @property
    def document(self) -> Document:
        """The document being analyzed."""
        return self.renderer.document


def prepare_run(
    document: Document,
    options: Options,
    prompts: PromptSet,
    limits: ModelLimits,
    *,
    cache_prompts: bool = False,
    emit: Callable[[Event], None] | None = None,
) -> PreparedRun:
    """Chunk ``document`` and set up its prompts for ``limits``'s model, checked before any
    request. Its page images are read first, as PDF pages or by OCR, whose progress goes to
    ``emit`` (:func:`~docanalyze.ingest.ocr.read_scanned_pages`); then its boilerplate is taken
    out, unless ``options.keep_boilerplate`` (:func:`document_to_analyze`), from text and OCR
    pages alike. Raises :class:`~docanalyze.errors.InputError` when there is no text to analyze,
    and the budget, template and thinking errors of :func:`prompt_renderer`."""
    document = read_scanned_pages(document, limits.features, emit)
    document = document_to_analyze(document, options)
    chunks = chunks_to_analyze(
        document, chunk_size=options.chunk_size, chunk_overlap=options.overlap
    )
    renderer = prompt_renderer(document, options, prompts, limits, cache_prompts=cache_prompts)
    return PreparedRun(chunks, renderer)


def document_to_analyze(document: Document, options: Options) -> Document:
    """``document`` as runs analyze it: without its running headers and footers, page numbers
    and dot leaders (:mod:`docanalyze.ingest.boilerplate`), unless ``options.keep_boilerplate``."""
    return document if options.keep_boilerplate else without_boilerplate(document)


def prompt_renderer(
    document: Document,
    options: Options,
    prompts: PromptSet,
    limits: ModelLimits,
    *,
    cache_prompts: bool = False,
) -> PromptRenderer:
    """The prompts of a run of ``document`` with ``options``: every stage's budgets and
    thinking (:func:`~docanalyze.prompting.thinking.stage_budgets`), the question and the
    report's language (``options.language``, else detected from the document)."""
    return PromptRenderer(
        document,
        limits,
        prompts,
        stage_budgets(options, prompts, limits),
        question=options.question,
        language=resolve_language(options.language, document.text),
        cache_prompts=cache_prompts,
    )
