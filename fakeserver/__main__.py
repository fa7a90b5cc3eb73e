"""Run the fake Messages API in the foreground: ``python -m fakeserver --port 8765``.

Point docanalyze (or any Anthropic SDK client) at it with ``ANTHROPIC_BASE_URL`` and any
``ANTHROPIC_API_KEY``. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import fields
from types import FrameType

from fakeserver.faults import Faults
from fakeserver.ratelimits import RateLimits
from fakeserver.server import FakeMessagesAPI
from fakeserver.structured import RecordErrors

__all__ = ["main"]


_SERVER_SETTINGS = [
    "context_window",
    "max_output_tokens",
    "latency",
    "api_key",
    "stream_chunk_tokens",
    "port",
    "batch_latency",
    "min_cache_tokens",
    "model_rules",
    "cache_ttl",
    "token_seconds",
    "reply_share",
]
"""The options passed as they are to :class:`FakeMessagesAPI`, by the same names."""
_FAULT_FLAGS = (
    ("--fault-529", "overloaded", "529 overloaded"),
    ("--fault-500", "server_error", "500 api_error"),
    ("--fault-drop", "dropped", "close without a reply"),
    ("--fault-hang", "hang", "hang, then close"),
    ("--fault-slow-stream", "slow_stream", "slow streamed events"),
)
"""Each fault's flag, its :class:`Faults` field and what it does."""
_RECORD_ERROR_FLAGS = (
    ("--record-wrong-page-every", "give one paged record in N a wrong page"),
    ("--record-invent-every", "invent a record, quoted from nowhere, in one reply in N"),
    ("--record-enum-case-every", "recase one string enum value in N"),
)
"""Each :class:`RecordErrors` flag (structured answers) and what it does."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line options, one per FakeMessagesAPI setting."""
    parser = argparse.ArgumentParser(
        prog="python -m fakeserver",
        description="A fake Anthropic Messages API on 127.0.0.1 that echoes the last user "
        "message, for trying docanalyze offline.",
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)"
    )
    parser.add_argument(
        "--context-window", type=int, default=200_000, help="tokens a prompt may use"
    )
    parser.add_argument("--max-output-tokens", type=int, default=128_000, help="largest max_tokens")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to the first token of each reply"
    )
    parser.add_argument(
        "--token-seconds", type=float, default=0.0, help="seconds per output token (0.015: Claude)"
    )
    parser.add_argument(
        "--reply-share", type=float, default=None, help="pad replies to this share of the input"
    )
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any key)")
    parser.add_argument(
        "--stream-chunk-tokens", type=int, default=20, help="tokens per streamed text delta"
    )
    parser.add_argument(
        "--batch-latency", type=float, default=0.05, help="seconds a message batch takes to end"
    )
    parser.add_argument(
        "--min-cache-tokens", type=int, default=1024, help="shortest prompt-cache prefix"
    )
    parser.add_argument(
        "--cache-ttl", type=float, default=300.0, help="seconds a prompt-cache entry lives"
    )
    parser.add_argument(
        "--model-rules",
        action="store_true",
        help="follow today's model rules: default thinking, the 5.x family's 400s, lifecycle",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    limits = parser.add_argument_group("rate limits (per minute; default: unlimited)")
    limits.add_argument("--rpm", type=int, default=None, help="requests per minute")
    limits.add_argument("--input-tpm", type=int, default=None, help="input tokens per minute")
    limits.add_argument("--output-tpm", type=int, default=None, help="output tokens per minute")
    faults = parser.add_argument_group("faults (probabilities per message request; default: 0)")
    for flag, fault, what in _FAULT_FLAGS:
        faults.add_argument(flag, dest=fault, type=float, default=0.0, metavar="P", help=what)
    faults.add_argument("--hang-seconds", type=float, default=30.0, help="how long a hang lasts")
    faults.add_argument(
        "--slow-event-seconds", type=float, default=0.5, help="gap between slow stream events"
    )
    faults.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    records = parser.add_argument_group(
        "record errors in structured answers (one in N; default: 0, never)"
    )
    for flag, what in _RECORD_ERROR_FLAGS:
        records.add_argument(flag, type=int, default=0, metavar="N", help=what)
    records.add_argument("--record-seed", type=int, default=0, help="seed of the record errors")
    return parser


def rate_limits_from(options: argparse.Namespace) -> RateLimits | None:
    """The rate limits the options ask for, or None when there are none."""
    if options.rpm is None and options.input_tpm is None and options.output_tpm is None:
        return None
    return RateLimits(
        requests_per_minute=options.rpm,
        input_tokens_per_minute=options.input_tpm,
        output_tokens_per_minute=options.output_tpm,
    )


def record_errors_from(options: argparse.Namespace) -> RecordErrors | None:
    """The record errors the options ask for, or None when none is asked."""
    errors = RecordErrors(
        wrong_page_every=options.record_wrong_page_every,
        invent_every=options.record_invent_every,
        enum_case_every=options.record_enum_case_every,
        seed=options.record_seed,
    )
    return errors if errors != RecordErrors(seed=options.record_seed) else None


def faults_from(options: argparse.Namespace) -> Faults | None:
    """The faults the options ask for, or None when every probability is 0."""
    faults = Faults(**{field.name: getattr(options, field.name) for field in fields(Faults)})
    return faults if faults.any_enabled else None


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        rate_limits, faults = rate_limits_from(options), faults_from(options)
        record_errors = record_errors_from(options)
    except ValueError as error:
        parser.error(str(error))
    if options.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = {name: getattr(options, name) for name in _SERVER_SETTINGS}
    api = FakeMessagesAPI(
        **settings, rate_limits=rate_limits, faults=faults, record_errors=record_errors
    )
    try:
        api.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(f"port {options.port} is in use: pick another with --port", file=sys.stderr)
            return 1
        raise
    key = options.api_key or "fake"
    print(f"Fake Anthropic Messages API listening on {api.base_url}", flush=True)
    print(
        f"Point docanalyze at it:\n"
        f"  ANTHROPIC_BASE_URL={api.base_url} ANTHROPIC_API_KEY={key} docanalyze report ...\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    print("Stopped.", flush=True)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
