"""FakeMessagesAPI: a fake Anthropic Messages API on 127.0.0.1, for tests, benchmarks, offline use.

Example::

    with FakeMessagesAPI(context_window=50_000) as api:
        client = anthropic.Anthropic(base_url=api.base_url, api_key="test-key")
        api.enqueue("a scripted reply")
        client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[...])
        assert api.requests[0].prompt == ...
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from fakeserver.batch_endpoints import BatchEndpoints
from fakeserver.batches import BatchFaults, BatchRunner
from fakeserver.citing import CitationError, CitationErrors, CitingResponder
from fakeserver.composer import MessageComposer
from fakeserver.endpoints import MessagesEndpoints
from fakeserver.faults import FaultInjector, Faults
from fakeserver.model_rules import TODAYS_MODELS, FakeModel
from fakeserver.policies import LatencyPolicy, RequestPolicy
from fakeserver.prompt_cache import CACHE_TTL_SECONDS, MIN_CACHE_TOKENS, PromptCache
from fakeserver.ratelimits import RateLimiter, RateLimits
from fakeserver.recording import RecordedRequest, RequestLog
from fakeserver.replies import (
    ReplySource,
    Responder,
    ScriptedReply,
    padded_to_share,
)
from fakeserver.settings import ServerSettings
from fakeserver.stats import ServerStats, StatsRecorder
from fakeserver.structured import RecordError, RecordErrors, StructuredResponder
from fakeserver.tokenizer import count_tokens
from fakeserver.transport import LoopbackHTTPServer

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

__all__ = ["FakeMessagesAPI"]

_STOP_TIMEOUT_SECONDS = 5.0


class FakeMessagesAPI:
    """A fake Messages API server speaking the real JSON and SSE formats over real HTTP.

    It only ever binds 127.0.0.1. ``port=0`` (the default) picks a free port; read
    :attr:`base_url` after :meth:`start`.

    Replies come from the queue filled by :meth:`enqueue`, then from ``responder`` (default: echo
    the last user message). A reply longer than the request's ``max_tokens`` (counted with
    :func:`~fakeserver.tokenizer.count_tokens`) is cut, with stop_reason "max_tokens".
    A prompt that does not fit ``context_window`` is refused with the real 400 error. ``latency``
    seconds pass before each message reply. With ``api_key`` set, any other key gets a 401.
    ``rate_limits`` (see :mod:`~fakeserver.ratelimits`) refuse a message request at
    once with a 429, before anything else can delay it, and add ``anthropic-ratelimit-*`` headers
    to every response. ``faults`` (see :mod:`~fakeserver.faults`) are drawn for each
    request the limiter lets through: a faulted request has used its request and input-token
    budget, like on the real API. ``policies`` run, in order, after the rate limiter and before
    the faults and the latency; see :mod:`fakeserver.policies`. :meth:`stats` counts
    what happened.

    Message Batches (:mod:`~fakeserver.batches`) take ``batch_latency`` seconds from
    creation to their end, hold at most ``max_batch_requests`` requests in a body of at most
    ``max_batch_bytes``, and ``batch_faults`` make some results errored or expired; the rate
    limits, faults, policies and latency above do not apply to them. Prompt caching
    (:mod:`~fakeserver.prompt_cache`) caches a prefix of at least ``min_cache_tokens``
    tokens for ``cache_ttl`` seconds after its last use.

    With ``model_rules``, every request follows the published rules of its model
    (:mod:`~fakeserver.model_rules`): default thinking inside ``max_tokens``, the 400s
    of the 5.x family, 404 for unknown and retired models, each model's tokenizer, cache minimum
    and window; ``models`` adds models to the table (e.g. one newer than docanalyze knows).
    ``GET /v1/models/{id}`` answers from that table; without model rules, any id is an active
    model with the server's limits. :attr:`model_lookups` lists the ids asked.

    ``token_seconds`` is the time each output token takes, thinking included, after ``latency``
    (the time to the first token): 0.015 writes about 67 tokens a second, as Claude does. With
    ``reply_share``, replies are padded to that share of their input tokens
    (:func:`~fakeserver.replies.padded_to_share`), as long as a model's would be.

    Without a ``responder``, a request whose documents or search results have citations enabled
    is answered by a :class:`~fakeserver.citing.CitingResponder`: one cited text block per
    planted fact. ``citation_errors`` (:class:`~fakeserver.citing.CitationErrors`) make that
    model err on demand and quote facts verbatim in replies to plain prompts;
    :attr:`citation_errors_made` lists the errors it made. A request with
    ``output_config.format`` (structured outputs, checked against the documented rules) is
    answered by a :class:`~fakeserver.structured.StructuredResponder`: JSON that follows the
    schema, filled from the planted ``REC-nnnn`` records; ``record_errors``
    (:class:`~fakeserver.structured.RecordErrors`) make it err on demand, and
    :attr:`record_errors_made` lists the errors it made.
    """

    def __init__(
        self,
        *,
        context_window: int = 200_000,
        max_output_tokens: int = 128_000,
        latency: float = 0.0,
        responder: Responder | None = None,
        api_key: str | None = None,
        stream_chunk_tokens: int = 20,
        port: int = 0,
        policies: Sequence[RequestPolicy] = (),
        rate_limits: RateLimits | None = None,
        faults: Faults | None = None,
        batch_latency: float = 0.05,
        max_batch_requests: int = 100_000,
        max_batch_bytes: int = 256 * 1024 * 1024,
        batch_faults: BatchFaults | None = None,
        min_cache_tokens: int = MIN_CACHE_TOKENS,
        cache_ttl: float = CACHE_TTL_SECONDS,
        model_rules: bool = False,
        models: Sequence[FakeModel] = (),
        token_seconds: float = 0.0,
        reply_share: float | None = None,
        citation_errors: CitationErrors | None = None,
        record_errors: RecordErrors | None = None,
    ) -> None:
        if stream_chunk_tokens < 1:
            raise ValueError(f"stream_chunk_tokens must be at least 1, got {stream_chunk_tokens}")
        if batch_latency < 0:
            raise ValueError(f"batch_latency must be >= 0 seconds, got {batch_latency}")
        if token_seconds < 0:
            raise ValueError(f"token_seconds must be >= 0 seconds, got {token_seconds}")
        self.settings = ServerSettings(
            context_window=context_window,
            max_output_tokens=max_output_tokens,
            api_key=api_key,
            stream_chunk_tokens=stream_chunk_tokens,
            max_batch_requests=max_batch_requests,
            max_batch_bytes=max_batch_bytes,
            batch_latency=batch_latency,
            model_rules=model_rules,
            models={**TODAYS_MODELS, **{model.id: model for model in models}},
            token_seconds=token_seconds,
        )
        self.port = port
        self._log = RequestLog()
        if responder is not None and (citation_errors or record_errors) is not None:
            raise ValueError(
                "pass citation_errors or record_errors, or a responder, not both "
                "(give your own CitingResponder or StructuredResponder its errors)"
            )
        if responder is None:
            quote = citation_errors is not None
            citing = CitingResponder(citation_errors, quote_plain_prompts=quote)
            responder = StructuredResponder(record_errors, plain=citing)
        self.responder = responder
        """What answers requests after the scripted replies (before ``reply_share`` padding)."""
        if reply_share is not None:
            responder = padded_to_share(responder, reply_share)
        self._replies = ReplySource(responder)
        self.rate_limits = rate_limits
        self.faults = faults
        self._stats = StatsRecorder()
        self.prompt_cache = PromptCache(ttl_seconds=cache_ttl, min_tokens=min_cache_tokens)
        composer = MessageComposer(self.settings, self._replies, self.prompt_cache, self._stats)
        self._batches = BatchRunner(self.settings, composer, self._log, self._stats, batch_faults)
        fault_policies = [FaultInjector(faults)] if faults is not None else []
        self._endpoints = MessagesEndpoints(
            self.settings,
            composer,
            self._log,
            [*policies, *fault_policies, LatencyPolicy(latency)],
            limiter=RateLimiter(rate_limits) if rate_limits is not None else None,
            stats=self._stats,
            batches=BatchEndpoints(self.settings, self._batches),
        )
        self._http: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind 127.0.0.1 and serve in a daemon thread; returns self.

        Raises OSError if the port is taken.
        """
        if self._http is not None:
            raise RuntimeError(f"the fake Messages API is already running at {self.base_url}")
        self._http = LoopbackHTTPServer(self.port, self._endpoints)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-messages-api-{self.address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection. Safe to call twice."""
        http, thread = self._http, self._thread
        if http is None:
            return
        self._http, self._thread = None, None
        self._batches.stop()
        http.shutdown()
        http.server_close()
        http.close_connections()
        if thread is not None:
            thread.join(_STOP_TIMEOUT_SECONDS)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._http is not None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server is bound to; the host is always 127.0.0.1."""
        if self._http is None:
            raise RuntimeError("the fake Messages API is not running: call start() first")
        host, port = self._http.server_address[:2]
        return str(host), int(port)

    @property
    def base_url(self) -> str:
        """The URL to give the SDK as ``base_url``, e.g. ``http://127.0.0.1:54321``."""
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every message request answered so far (including refused ones), oldest
        first; ``count_tokens`` calls are in :attr:`token_counts`.

        Requests processed inside a Message Batch are here too (with their ``batch_id``); the
        HTTP calls to the batch endpoints themselves (create, poll, results, ...) are not.
        """
        return self._log.snapshot()

    def stats(self) -> ServerStats:
        """What happened to the ``/v1/messages`` requests so far: a snapshot of the counters."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters (requests still in flight stay counted as in flight)."""
        self._stats.reset()

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._log.clear()

    def enqueue(
        self,
        text: str,
        *,
        stop_reason: str | None = None,
        stop_details: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue a scripted reply; scripted replies answer message requests first, in order.

        ``stop_reason``, when given, is reported instead of the computed one; ``stop_details``
        goes with a refusal (``{"type": "refusal", "category": ..., "explanation": ...}``).
        """
        self._replies.enqueue(ScriptedReply(text, stop_reason, stop_details))

    @property
    def token_counts(self) -> list[RecordedRequest]:
        """A copy of every ``/v1/messages/count_tokens`` call so far, oldest first (they are
        not in :attr:`requests`)."""
        return self._endpoints.count_log.snapshot()

    @property
    def model_lookups(self) -> list[str]:
        """The model ids asked of ``GET /v1/models/{id}`` so far, oldest first."""
        return list(self._endpoints.model_lookups)

    @property
    def pending_replies(self) -> int:
        """How many scripted replies have not been used yet."""
        return self._replies.pending()

    @property
    def citation_errors_made(self) -> list[CitationError]:
        """The citation errors the fake model made so far, oldest first (empty unless the
        responder is a :class:`~fakeserver.citing.CitingResponder` told to err)."""
        responder = self.responder
        if isinstance(responder, StructuredResponder):
            responder = responder.plain
        if isinstance(responder, CitingResponder):
            return responder.errors_made
        return []

    @property
    def record_errors_made(self) -> list[RecordError]:
        """The record errors the fake model made in structured answers so far, oldest first
        (empty unless the responder is a :class:`~fakeserver.structured.StructuredResponder`
        told to err)."""
        if isinstance(self.responder, StructuredResponder):
            return self.responder.errors_made
        return []

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the server's tokenizer."""
        return count_tokens(text)

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<FakeMessagesAPI {where}>"
