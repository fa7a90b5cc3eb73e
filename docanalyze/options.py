"""The options of an analysis, in one validated object shared by the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from docanalyze.errors import UsageError
from docanalyze.models.anthropic.capabilities import EFFORT_LEVELS
from docanalyze.models.anthropic.catalog import DEFAULT_MODEL
from docanalyze.models.plugin import CacheMode
from docanalyze.models.registry import DEFAULT_CONCURRENCY, check_backend
from docanalyze.text.language import language_for

__all__ = [
    "FINAL_CHOICES",
    "THINKING_CHOICES",
    "UNSUPPORTED_CHOICES",
    "Backend",
    "CacheMode",
    "Options",
    "check_run_shape",
]

Backend = str
"""A registered backend's name (:mod:`docanalyze.models.registry`) or ``auto``."""
THINKING_CHOICES = ("auto", "on", "off", "api")
UNSUPPORTED_CHOICES = ("mark", "drop")
"""``--unsupported``: mark a claim no page supports where it stands, or drop it."""
FINAL_CHOICES = ("auto", "single", "sections")
"""``--final``: the report in sections when it is long, in one request, or in sections."""
"""``--thinking``: each stage's default, on, off, or no setting at all (the API's defaults)."""


@dataclass(frozen=True)
class Options:
    """Every setting of a run. Defaults are what ``docanalyze report`` uses.

    ``backend`` names a registered backend (:mod:`docanalyze.models.registry`);
    ``"auto"`` uses Claude when ``ANTHROPIC_API_KEY`` is set and the offline extractive
    analyzer otherwise. ``max_tokens`` is the final report's budget; ``map_max_tokens`` and
    ``reduce_max_tokens`` are the per-step budgets of the map and reduce stages.
    ``chunk_overlap`` defaults to 5% of ``chunk_size``.
    ``documents_at_once`` caps the documents of a run of several analyzed at once (None: as
    many as the rate limits have room for, :mod:`docanalyze.run.admission`).
    ``concurrency`` is the ceiling of requests in flight (the client adapts below it); ``rpm``,
    ``input_tpm`` and ``output_tpm`` cap the rates on top of the limits the API reports.
    ``max_attempts`` bounds the failed attempts of one request; a 429 that says how long to wait
    (``retry-after``) is not one: it is waited out, within ``max_retry_time`` seconds in all.
    ``stream`` streams the final report as :class:`docanalyze.events.ReportText` events.
    ``cache``: ``"use"`` answers a call already paid for from the run store, ``"refresh"`` asks
    again and stores the new reply, ``"off"`` neither reads nor writes replies. ``store_path``
    defaults to ``$DOCANALYZE_HOME/docanalyze.sqlite3``.
    ``unsupported``: a claim whose citation no page supports is marked where it stands
    (``mark``) or left out of the report (``drop``) (:mod:`docanalyze.citations`).
    ``question`` makes the analysis answer that question; ``language`` (a code such as ``zh``)
    is the report's language, by default the document's (:mod:`docanalyze.text.language`).
    ``batch`` sends the requests through the Message Batches API at half the price
    (:mod:`docanalyze.models.batches.model`), checking each batch every ``batch_poll_seconds`` at
    first, less often as it waits.
    ``thinking`` (``auto``, ``on``, ``off``, ``api``) and ``effort`` (``low`` to ``max``) set how
    much every stage thinks; ``auto`` is each stage's default, ``api`` the API's own
    (:mod:`docanalyze.prompting.thinking`).
    ``final``: ``sections`` writes the report's sections and its overview at once, each its
    share of ``max_tokens`` (:mod:`docanalyze.run.sections`); ``single`` writes it in one
    request; ``auto`` writes a long report in sections, a short one or an answer to a
    ``question`` in one request.
    ``keep_boilerplate`` keeps the pages' running headers and footers, page numbers and
    table-of-contents dot leaders, which are otherwise taken out before chunking
    (:mod:`docanalyze.ingest.boilerplate`).
    """

    backend: Backend = "auto"
    model: str = DEFAULT_MODEL
    prompts_dir: Path | None = None
    variables: dict[str, str] = field(default_factory=dict)
    chunk_size: int = 10_000
    chunk_overlap: int | None = None
    max_tokens: int = 4096
    map_max_tokens: int = 2048
    reduce_max_tokens: int = 4096
    context_window: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    documents_at_once: int | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 600.0
    max_attempts: int = 8
    max_retry_time: float = 900.0
    rpm: int | None = None
    input_tpm: int | None = None
    output_tpm: int | None = None
    fallback_model: str | None = None
    max_cost: float | None = None
    stream: bool = False
    cache: CacheMode = "use"
    store_path: Path | None = None
    question: str | None = None
    language: str | None = None
    batch: bool = False
    batch_poll_seconds: float = 10.0
    thinking: str = "auto"
    effort: str | None = None
    final: str = "auto"
    unsupported: str = "mark"
    keep_boilerplate: bool = False

    def __post_init__(self) -> None:
        for name in ("prompts_dir", "store_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        object.__setattr__(self, "variables", dict(self.variables))
        self.validate()

    @property
    def overlap(self) -> int:
        """Characters shared by neighbouring chunks: ``chunk_overlap``, by default 5% of a chunk."""
        return self.chunk_size // 20 if self.chunk_overlap is None else self.chunk_overlap

    def validate(self) -> None:
        """Raise :class:`UsageError` naming the option when a value cannot work."""
        positive = {
            "chunk_size": self.chunk_size,
            "max_tokens": self.max_tokens,
            "map_max_tokens": self.map_max_tokens,
            "reduce_max_tokens": self.reduce_max_tokens,
            "concurrency": self.concurrency,
            "max_attempts": self.max_attempts,
        }
        for name, value in positive.items():
            if value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")
        if self.chunk_size < 200:
            raise UsageError(
                f"--chunk-size must be at least 200 characters (got {self.chunk_size})"
            )
        if not 0 <= self.overlap < self.chunk_size // 2:
            raise UsageError(
                f"--chunk-overlap must be between 0 and half of --chunk-size "
                f"({self.chunk_size // 2}); got {self.overlap}"
            )
        if self.context_window is not None and self.context_window < 1000:
            raise UsageError(
                f"--context-window must be at least 1000 tokens (got {self.context_window})"
            )
        check_backend(self.backend)
        caps = {
            "rpm": self.rpm,
            "input_tpm": self.input_tpm,
            "output_tpm": self.output_tpm,
            "documents_at_once": self.documents_at_once,
        }
        for name, cap in caps.items():
            if cap is not None and cap < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {cap})")
        if self.max_cost is not None and self.max_cost <= 0:
            raise UsageError(f"--max-cost must be more than 0 USD (got {self.max_cost})")
        if self.cache not in ("use", "refresh", "off"):
            raise UsageError(f"cache must be use, refresh or off (got {self.cache!r})")
        if self.timeout <= 0 or self.max_retry_time <= 0:
            raise UsageError("timeouts must be positive")
        if self.language is not None:
            language_for(self.language)
        if self.final not in FINAL_CHOICES:
            raise UsageError(f"--final must be auto, single or sections (got {self.final!r})")
        if self.unsupported not in UNSUPPORTED_CHOICES:
            raise UsageError(f"--unsupported must be mark or drop (got {self.unsupported!r})")
        if self.thinking not in THINKING_CHOICES:
            raise UsageError(f"--thinking must be auto, on, off or api (got {self.thinking!r})")
        if self.effort is not None and self.effort not in EFFORT_LEVELS:
            raise UsageError(
                f"--effort must be one of {', '.join(EFFORT_LEVELS)} (got {self.effort!r})"
            )
        if self.batch_poll_seconds <= 0:
            raise UsageError(
                f"batch_poll_seconds must be more than 0 (got {self.batch_poll_seconds})"
            )


def check_run_shape(options: Options, *, combine: bool = False, on_ray: bool = False) -> None:
    """Raise :class:`UsageError` when ``options`` conflict with how the run is made: one report
    of several documents (``combine``), or a corpus run on a Ray cluster (``on_ray``). The CLI
    checks this before any work; :func:`~docanalyze.run.several.analyze_many` and
    :func:`~docanalyze.ray.runner.analyze_on_ray` check it too."""
    if combine and options.max_cost is not None:
        raise UsageError("--max-cost does not work with --combine yet: drop one of them")
    if on_ray and options.batch:
        raise UsageError(
            "--batch cannot be combined with --ray: each worker would submit its own Message "
            "Batches; run the corpus with --batch on one machine, or with --ray at the "
            "standard price"
        )
