"""The protocol every model backend implements: Anthropic, offline extractive, and test fakes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from docanalyze.models.anthropic.capabilities import Capabilities

__all__ = [
    "CITABLE_BLOCK_TOKENS",
    "CUT_STOP_REASONS",
    "PDF_PAGE_TOKENS",
    "CitableText",
    "Model",
    "ModelFeatures",
    "ModelLimits",
    "ModelReply",
    "ModelRequest",
    "Refusal",
    "ReplyBlock",
    "ReplyCitation",
    "Stage",
    "Thinking",
    "Usage",
    "citable_tokens",
    "estimate_input_tokens",
    "pdf_input_fits",
    "schema_tokens",
]

Stage = Literal["map", "reduce", "final"]
Thinking = Literal["on", "off"]
CUT_STOP_REASONS = frozenset({"max_tokens", "model_context_window_exceeded"})
"""Stop reasons of a reply that was cut before it ended: at ``max_tokens``, or at the window."""
PDF_PAGE_TOKENS = 4_600
"""Input tokens a page sent as PDF input is counted at, by the PDF support page of the Claude
docs: "1,500-3,000 tokens per page" of text (the upper end) plus the page's image, converted as
any image is (about 1,600 tokens for an image of ~1.15 megapixels, the most before resizing)."""
MAX_PDF_PAGES = 100
"""PDF pages one request may carry: the PDF support page's "Maximum pages per request" (600 on
models with a 1M-token window, 100 on the others: the lower holds for every model)."""
MAX_PDF_REQUEST_BYTES = 32_000_000
"""The PDF support page's "Maximum request size", 32 MB, for the whole request payload."""
CITABLE_BLOCK_TOKENS = 12
"""Input tokens a citable block costs beyond its title and text (its type, source and citations
setting; the API adds a few more for citations it enables): an estimate's margin."""


@dataclass(frozen=True)
class CitableText:
    """Text a model may cite, sent beside a request's prompt (Claude: as citable content, with
    the API's Citations on): a page of the document in a map request (``kind="page"``), or one
    point of a partial result in a reduce or final request (``kind="point"``). ``title`` names
    it to the model (``Page 4``, ``p. 4``); ``pages`` are the document pages it stands for.
    ``pdf``: for a page image without a usable text layer, a PDF of just that page, sent as PDF
    input in place of ``text`` (a stand-in) and counted at :data:`PDF_PAGE_TOKENS`."""

    text: str
    title: str
    pages: tuple[int, ...]
    kind: Literal["page", "point"] = "page"
    pdf: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReplyCitation:
    """One citation in a reply: ``source`` indexes the request's :attr:`ModelRequest.citable`,
    ``cited_text`` is the text the model cited from it (verbatim, by the API's guarantee)."""

    source: int
    cited_text: str


@dataclass(frozen=True)
class ReplyBlock:
    """A piece of a reply's text with the citations that back it (none: an uncited statement)."""

    text: str
    citations: tuple[ReplyCitation, ...] = ()


@dataclass(frozen=True)
class ModelRequest:
    """One call to a model.

    ``prompt`` is the rendered template, sent as the user message. ``material`` holds the document
    text (for a map step, with page markers) or the partial results (for a reduce or final step)
    the prompt was rendered from; backends that ignore instructions, like the extractive one,
    work from it instead of the prompt.
    """

    prompt: str
    max_tokens: int
    stage: Stage
    material: tuple[str, ...] = ()
    system: str | None = None
    cache_system: bool = False
    """Mark ``system`` for prompt caching (Claude: one text block with ``cache_control``)."""
    temperature: float | None = None
    model: str | None = None
    """Overrides the backend's model for this request (e.g. a template's own model)."""
    question: str | None = None
    """The run's ``--question`` (already in the prompt), for backends that ignore the prompt."""
    language: str | None = None
    """The report's language code (already in the prompt), for backends that ignore the prompt."""
    thinking: Thinking | None = None
    """Up-front thinking asked for: ``"on"`` (adaptive), ``"off"`` (the model's way of turning it
    off, or its lowest effort when it always thinks), or None to send no thinking setting."""
    effort: str | None = None
    """``output_config.effort`` to send, or None for the model's default."""
    thinking_allowance: int = 0
    """The part of ``max_tokens`` set aside for thinking; the rest is the text's budget."""
    citable: tuple[CitableText, ...] = ()
    """What the reply may cite, all of one kind (pages, or points). A backend whose features
    declare ``citations`` sends it as citable content and answers with
    :attr:`ModelReply.blocks`; for the others the prompt already carries it (with the
    instruction to quote verbatim)."""

    output_schema: Mapping[str, Any] | None = None
    """A JSON schema the reply's text must follow (a backend whose features declare
    ``structured_output`` constrains the reply to it; Claude: ``output_config.format``). Sent
    without ``citable`` text: the API does not combine the two."""

    def __post_init__(self) -> None:
        if self.output_schema is not None and self.citable:
            raise ValueError("a request with an output schema sends no citable text")
        if len({text.kind for text in self.citable}) > 1:
            raise ValueError("a request's citable texts must be all pages or all points")

    @property
    def text_budget(self) -> int:
        """The output tokens meant for the reply's text."""
        return self.max_tokens - self.thinking_allowance


def estimate_input_tokens(
    request: ModelRequest, estimate: Callable[[str], int], *, cites: bool
) -> int:
    """The input tokens ``request`` is estimated to cost, by ``estimate``: its prompt and system
    prompt, its output schema (:func:`schema_tokens`) and, sent to a backend that ``cites``,
    each citable text with its title (and :data:`CITABLE_BLOCK_TOKENS` for the block around them). The one count of a request's input
    for the window check, the rate limiter and the offline usage."""
    tokens = estimate(request.prompt)
    if request.system:
        tokens += estimate(request.system)
    if cites:
        tokens += citable_tokens(estimate, request.citable)
    if request.output_schema is not None:
        tokens += schema_tokens(estimate, request.output_schema)
    return tokens


def schema_tokens(estimate: Callable[[str], int], schema: Mapping[str, Any]) -> int:
    """The input tokens an output schema adds to a request, by the model's ``estimate``: its
    JSON (the API tells the model the format in a system prompt of its own, whose size the
    Structured outputs page does not give: the schema's JSON stands for it)."""
    return estimate(json.dumps(schema, ensure_ascii=False))


def citable_tokens(estimate: Callable[[str], int], citable: Sequence[CitableText]) -> int:
    """The input tokens ``citable`` adds to a request, by the model's ``estimate``: each item's
    title and text (a PDF page: :data:`PDF_PAGE_TOKENS`), and :data:`CITABLE_BLOCK_TOKENS` for
    the block around them."""
    return sum(
        estimate(item.title)
        + (PDF_PAGE_TOKENS if item.pdf is not None else estimate(item.text))
        + CITABLE_BLOCK_TOKENS
        for item in citable
    )


def pdf_input_fits(citable: Sequence[CitableText]) -> bool:
    """Whether the PDF pages of ``citable`` are within one request's PDF limits: at most
    :data:`MAX_PDF_PAGES` pages, and base64-encoded, well within :data:`MAX_PDF_REQUEST_BYTES`
    (three quarters of it, leaving room for the rest of the request)."""
    pdfs = [item.pdf for item in citable if item.pdf is not None]
    encoded = sum((len(pdf) + 2) // 3 * 4 for pdf in pdfs)
    return len(pdfs) <= MAX_PDF_PAGES and encoded <= MAX_PDF_REQUEST_BYTES * 3 // 4


@dataclass(frozen=True)
class Usage:
    """Tokens and requests spent; adds up with ``+``.

    ``estimated`` is True when the token figures are docanalyze's estimate rather than counts an
    API billed: the offline extractive analyzer sends no request (``requests`` is 0) and reports
    the tokens its prompts and extractions would take. A sum is estimated if any part is.
    """

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    thinking_tokens: int = 0
    """The part of ``output_tokens`` the model spent thinking (billed as output)."""
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=(
                self.cache_creation_input_tokens + other.cache_creation_input_tokens
            ),
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            thinking_tokens=self.thinking_tokens + other.thinking_tokens,
            estimated=self.estimated or other.estimated,
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            requests=self.requests - other.requests,
            input_tokens=self.input_tokens - other.input_tokens,
            output_tokens=self.output_tokens - other.output_tokens,
            cache_creation_input_tokens=(
                self.cache_creation_input_tokens - other.cache_creation_input_tokens
            ),
            cache_read_input_tokens=self.cache_read_input_tokens - other.cache_read_input_tokens,
            thinking_tokens=self.thinking_tokens - other.thinking_tokens,
            estimated=self.estimated or other.estimated,
        )

    @property
    def prompt_tokens(self) -> int:
        """All input: uncached, written to and read from the cache."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def text_tokens(self) -> int:
        """Output tokens that were not thinking."""
        return max(0, self.output_tokens - self.thinking_tokens)


@dataclass(frozen=True)
class Refusal:
    """Why the model refused (``stop_reason == "refusal"``): the API's category and explanation."""

    category: str | None = None
    explanation: str | None = None

    def describe(self) -> str:
        """``category cyber: ...`` or ``no category``."""
        what = f"category {self.category}" if self.category else "no category"
        return f"{what}: {self.explanation}" if self.explanation else what


@dataclass(frozen=True)
class ModelReply:
    """What a model answered.

    ``stop_reason`` ``"max_tokens"`` or ``"model_context_window_exceeded"`` means the reply was
    cut (:attr:`truncated`); ``"refusal"`` that the model declined (:attr:`refused`, with the
    API's ``refusal`` details). Neither is a finished result.
    """

    text: str
    stop_reason: str
    model: str
    usage: Usage = field(default_factory=Usage)
    duration: float = 0.0
    refusal: Refusal | None = None
    first_usage: Usage | None = None
    """For a reply answered from the run store (``usage`` is then zero: it costs nothing now),
    the usage it had when it was paid for."""
    blocks: tuple[ReplyBlock, ...] = ()
    """The reply's text in pieces with their citations, when the request had ``citable`` text
    and the backend cites (``text`` is the pieces joined); empty otherwise."""

    @property
    def answered_usage(self) -> Usage:
        """The usage of the answer itself: when it was paid for, for a stored reply."""
        return self.first_usage if self.first_usage is not None else self.usage

    @property
    def truncated(self) -> bool:
        """Whether the reply was cut before it ended (at ``max_tokens`` or at the window)."""
        return self.stop_reason in CUT_STOP_REASONS

    @property
    def refused(self) -> bool:
        """Whether the model refused to answer."""
        return self.stop_reason == "refusal"

    @property
    def finished(self) -> bool:
        """Whether the reply is a whole answer: neither cut nor refused."""
        return not (self.truncated or self.refused)


@dataclass(frozen=True)
class ModelFeatures:
    """What a backend can do, declared (never guessed from its name or its signatures).

    The pipeline, the planner and the report ask these, never a model's or backend's name.
    ``backend``: the name it is registered under (:mod:`docanalyze.models.registry`), which a
    report shows. ``offline``: it answers on this machine, without a key and at no cost, by
    quoting the document (like the extractive analyzer): its replies are not stored, its report
    is written in one request under docanalyze's offline title and note. ``streams``: its
    ``complete`` takes ``on_text`` (each text delta as it arrives) and ``on_restart`` (a
    retried stream starts over), and, for a request with citable text, ``on_block`` (each text
    block of the reply once it ends, with its citations). ``batches``: it answers its requests together (the Message
    Batches API), so a run must not hold requests back waiting for one another.
    ``prompt_caching``: it caches a system prompt marked ``cache_system``. ``thinking``: it
    takes the ``thinking`` and ``effort`` settings of a request. ``sampling``: it takes
    ``temperature`` (so a model that rejects it must be told). ``citations``: it is sent the
    citable pages and points and answers in cited blocks. ``pdf_pages``: it reads page images as
    PDF pages. ``structured_output``: it answers a request with an ``output_schema`` in JSON
    that follows it (``docanalyze extract`` needs it).
    """

    backend: str = "custom"
    offline: bool = False
    streams: bool = False
    batches: bool = False
    prompt_caching: bool = False
    thinking: bool = False
    sampling: bool = False
    citations: bool = False
    structured_output: bool = False
    pdf_pages: bool = False


class ModelLimits(Protocol):
    """What rendering and budgeting need to know of a model, without one that answers: its name,
    features, limits, token estimate and request rules (a plan's stand-in has only these)."""

    @property
    def name(self) -> str:
        """The model identifier, e.g. ``claude-sonnet-5-5`` or ``extractive``."""
        ...

    @property
    def features(self) -> ModelFeatures:
        """What the backend can do (:class:`ModelFeatures`)."""
        ...

    @property
    def context_window(self) -> int:
        """Tokens a request (input plus ``max_tokens``) may use in all."""
        ...

    @property
    def max_output_tokens(self) -> int:
        """The largest ``max_tokens`` the model accepts."""
        ...

    def estimate_tokens(self, text: str) -> int:
        """A conservative estimate of the input tokens ``text`` costs."""
        ...

    def rules_of(self, model: str) -> Capabilities:
        """The request rules of ``model`` (thinking types, effort levels, sampling): a backend
        that knows nothing better returns :func:`docanalyze.models.anthropic.catalog.capabilities_of`."""
        ...


@runtime_checkable
class Model(ModelLimits, Protocol):
    """A backend that completes prompts. Implementations must be safe to call concurrently.

    ``features`` declares what it can do; the limits and rules are those of
    :class:`ModelLimits`.
    """

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Answer one request. Raises :class:`docanalyze.errors.ModelError` when it fails for good."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
