"""A fake Anthropic Messages API server on 127.0.0.1, speaking the real JSON and SSE formats.

Use it in tests (see the ``fake_api`` and ``make_fake_api`` fixtures), in benchmarks, or to try
templates offline: ``python -m docanalyze.fakeserver --port 8765``.
"""

from docanalyze.fakeserver.errors import ApiError
from docanalyze.fakeserver.policies import Exchange, LatencyPolicy, RequestPolicy
from docanalyze.fakeserver.recording import RecordedRequest
from docanalyze.fakeserver.replies import Responder, echo_responder
from docanalyze.fakeserver.server import FakeMessagesAPI
from docanalyze.fakeserver.tokenizer import count_tokens

__all__ = [
    "ApiError",
    "Exchange",
    "FakeMessagesAPI",
    "LatencyPolicy",
    "RecordedRequest",
    "RequestPolicy",
    "Responder",
    "count_tokens",
    "echo_responder",
]
