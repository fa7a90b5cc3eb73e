"""Run the fake Messages API in the foreground: ``python -m docanalyze.fakeserver --port 8765``.

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
from types import FrameType

from docanalyze.fakeserver.server import FakeMessagesAPI

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line options, one per FakeMessagesAPI setting."""
    parser = argparse.ArgumentParser(
        prog="python -m docanalyze.fakeserver",
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
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any key)")
    parser.add_argument(
        "--stream-chunk-tokens", type=int, default=20, help="tokens per streamed text delta"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; returns the exit status."""
    options = build_parser().parse_args(argv)
    if options.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    api = FakeMessagesAPI(
        context_window=options.context_window,
        max_output_tokens=options.max_output_tokens,
        latency=options.latency,
        api_key=options.api_key,
        stream_chunk_tokens=options.stream_chunk_tokens,
        port=options.port,
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
