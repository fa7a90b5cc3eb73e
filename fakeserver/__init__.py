"""A fake Anthropic Messages API server on 127.0.0.1, speaking the real JSON and SSE formats.

Use it in tests (see the ``fake_api`` and ``make_fake_api`` fixtures), in benchmarks, or to try
templates offline: ``python -m fakeserver --port 8765``. Give it the real service's
:class:`RateLimits` and seeded :class:`Faults` to test a client's pacing and retries. It also
serves Message Batches (seeded :class:`BatchFaults` make results errored or expired) and counts
prompt-cache reads and writes in ``usage`` like the real API. ``model_rules=True`` makes it
follow the published rules of today's models (thinking by default, the 5.x family's 400s,
refusals, lifecycle, tokenizers): :mod:`fakeserver.model_rules`.

It reads ``document`` blocks (plain text, custom content, base64 PDF) and ``search_result``
blocks (:mod:`fakeserver.citable`), counts them as input, and answers those with citations
enabled with cited text blocks (``char_location``, ``content_block_location``,
``page_location``, ``search_result_location``; ``citations_delta`` events when streamed):
:mod:`fakeserver.citing`. A model that errs on demand::

    api = FakeMessagesAPI(citation_errors=CitationErrors(wrong_page_every=10, invent_every=10))
    ...  # one bullet in 10 writes a wrong "(p. N)", one reply in 10 invents an uncited fact
    api.citation_errors_made  # what it did, to check that each error was caught

A request with ``output_config.format`` is checked against the documented rules of structured
outputs (:mod:`fakeserver.structured_rules`) and answered with JSON that follows its schema,
filled from the planted ``REC-nnnn`` records it shows (:mod:`fakeserver.structured`);
``FakeMessagesAPI(record_errors=RecordErrors(wrong_page_every=10, invent_every=10))`` makes
that model err, and ``api.record_errors_made`` lists what it did.
"""

from fakeserver.batches import BatchFaults
from fakeserver.citing import CitationError, CitationErrors, CitingResponder
from fakeserver.errors import ApiError, ConnectionFault
from fakeserver.faults import FailMatching, Faults
from fakeserver.model_rules import TODAYS_MODELS, FakeModel
from fakeserver.policies import Exchange, LatencyPolicy, RequestPolicy
from fakeserver.ratelimits import RateLimits
from fakeserver.recording import RecordedRequest
from fakeserver.replies import Responder, ScriptedReply, TextPart, echo_responder
from fakeserver.server import FakeMessagesAPI
from fakeserver.stats import ServerStats
from fakeserver.structured import RecordError, RecordErrors, StructuredResponder
from fakeserver.tokenizer import count_tokens

__all__ = [
    "TODAYS_MODELS",
    "ApiError",
    "BatchFaults",
    "CitationError",
    "CitationErrors",
    "CitingResponder",
    "ConnectionFault",
    "Exchange",
    "FailMatching",
    "FakeMessagesAPI",
    "FakeModel",
    "Faults",
    "LatencyPolicy",
    "RateLimits",
    "RecordError",
    "RecordErrors",
    "RecordedRequest",
    "RequestPolicy",
    "Responder",
    "ScriptedReply",
    "ServerStats",
    "StructuredResponder",
    "TextPart",
    "count_tokens",
    "echo_responder",
]
