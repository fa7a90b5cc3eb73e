"""Prompt caching like the real API's: cache breakpoints, prefix tokens, reads and writes.

A request marks cache breakpoints with ``cache_control: {"type": "ephemeral"}`` on tools, system
blocks (``system`` as a list of text blocks) or message content blocks; at most 4. The prefix of a
breakpoint is everything up to and including its block, in the order tools, system, messages; its
key is a hash of the model and the exact content of the prefix (``cache_control`` itself left out).
Its tokens are counted like :func:`~fakeserver.recording.count_request_tokens` counts
the whole request (3 per request, 4 per message, the text of each block; tools count 0), so a
request's input tokens split exactly into the cached prefix and the rest.

A breakpoint shorter than ``min_tokens`` is not cached. For the others, the longest prefix found in
the cache is read (``cache_read_input_tokens``); the tokens from there to the last breakpoint are
written (``cache_creation_input_tokens``); ``input_tokens`` counts what follows the last one.

An entry lives ``ttl_seconds`` (5 minutes by default; ``"ttl": "1h"`` makes it 12 times as long)
after it was last written or read. :meth:`PromptCache.plan` looks up the cache when a request
arrives; :meth:`PromptCache.commit` writes the new entries when the reply begins (after the
latency), so identical requests sent before the first one starts replying all write.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fakeserver.errors import ApiError
from fakeserver.recording import TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST, block_text
from fakeserver.tokenizer import count_tokens

__all__ = [
    "CACHE_TTL_SECONDS",
    "MAX_CACHE_BREAKPOINTS",
    "MIN_CACHE_TOKENS",
    "CacheBreakpoint",
    "CachePlan",
    "PromptCache",
    "cache_breakpoints",
]

CACHE_TTL_SECONDS = 300.0
MIN_CACHE_TOKENS = 1024
MAX_CACHE_BREAKPOINTS = 4
LONG_TTL_FACTOR = 12  # "1h" against the default "5m"
_TTL_NAMES = ("5m", "1h")


@dataclass(frozen=True)
class CacheBreakpoint:
    """The prefix ending at one ``cache_control`` block: its key, tokens, and whether it lives 1h."""

    key: str
    tokens: int
    long_ttl: bool = False


@dataclass(frozen=True)
class CachePlan:
    """What a request reads from the cache and what it will write when its reply begins."""

    read_tokens: int = 0
    write_tokens: int = 0
    read: CacheBreakpoint | None = None
    writes: tuple[CacheBreakpoint, ...] = ()

    @property
    def prefix_tokens(self) -> int:
        """Tokens up to the last cached breakpoint: read plus written."""
        return self.read_tokens + self.write_tokens


@dataclass(frozen=True)
class _Item:
    """One piece of a request in prefix order: what identifies it, what it counts as tokens
    (``counted``, or ``fixed_tokens`` when it has no text) and its cache_control. The canonical
    text and the count are only worked out for a request that asks for caching."""

    identity: object
    counted: str | None = None
    fixed_tokens: int = 0
    cache_control: object = None

    @property
    def text(self) -> str:
        return _canonical(self.identity)

    @property
    def tokens(self) -> int:
        return self.fixed_tokens if self.counted is None else count_tokens(self.counted)


def cache_breakpoints(body: Mapping[str, Any]) -> list[CacheBreakpoint]:
    """The breakpoints of a request, in order; a malformed ``cache_control`` raises a 400."""
    items = list(_prefix_items(body))
    marked = [index for index, (_, item) in enumerate(items) if item.cache_control is not None]
    if not marked:
        return []
    digest = hashlib.sha256(_canonical(["model", body.get("model")]).encode())
    tokens = TOKENS_PER_REQUEST
    breakpoints: list[CacheBreakpoint] = []
    for where, item in items[: marked[-1] + 1]:
        digest.update(item.text.encode())
        tokens += item.tokens
        if item.cache_control is None:
            continue
        long_ttl = _check_cache_control(item.cache_control, where)
        breakpoints.append(CacheBreakpoint(digest.copy().hexdigest(), tokens, long_ttl))
    if len(breakpoints) > MAX_CACHE_BREAKPOINTS:
        raise ApiError(
            400,
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(breakpoints)}.",
        )
    return breakpoints


def _prefix_items(body: Mapping[str, Any]) -> Iterator[tuple[str, _Item]]:
    tools = body.get("tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        yield f"tools.{index}", _block_item("tool", tool, counted=None)
    system = body.get("system")
    if isinstance(system, str):
        yield "system", _Item(["system", system], counted=system)
    elif isinstance(system, list):
        for index, block in enumerate(system):
            yield f"system.{index}", _block_item("system", block, block_text(block))
    messages = body.get("messages")
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if not isinstance(message, Mapping):
            continue
        yield (
            f"messages.{index}",
            _Item(["role", message.get("role")], fixed_tokens=TOKENS_PER_MESSAGE),
        )
        content = message.get("content")
        if isinstance(content, str):
            yield f"messages.{index}.content", _Item(["text", content], counted=content)
        elif isinstance(content, list):
            for block_index, block in enumerate(content):
                where = f"messages.{index}.content.{block_index}"
                yield where, _block_item("block", block, block_text(block))


def _block_item(kind: str, block: object, counted: str | None) -> _Item:
    if not isinstance(block, Mapping):
        return _Item([kind, block], counted)
    content = {name: value for name, value in block.items() if name != "cache_control"}
    return _Item([kind, content], counted, cache_control=block.get("cache_control"))


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def _check_cache_control(cache_control: object, where: str) -> bool:
    """Whether a valid ``cache_control`` asks for the 1h TTL; a 400 when it is malformed."""
    if not isinstance(cache_control, Mapping) or cache_control.get("type") != "ephemeral":
        raise ApiError(400, f"{where}.cache_control.type: Input should be 'ephemeral'")
    ttl = cache_control.get("ttl", "5m")
    if ttl not in _TTL_NAMES:
        raise ApiError(400, f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    return bool(ttl == "1h")


class PromptCache:
    """The server's prompt cache: entries by prefix key, each alive until its expiry time.

    ``clock`` is a monotonic clock in seconds (injectable for tests). Thread-safe.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = CACHE_TTL_SECONDS,
        min_tokens: int = MIN_CACHE_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"cache_ttl must be > 0 seconds, got {ttl_seconds}")
        if min_tokens < 1:
            raise ValueError(f"min_cache_tokens must be at least 1, got {min_tokens}")
        self.ttl_seconds = ttl_seconds
        self.min_tokens = min_tokens
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry_by_key: dict[str, float] = {}

    def plan(self, body: Mapping[str, Any], *, min_tokens: int | None = None) -> CachePlan:
        """What ``body`` reads and writes; raises a 400 ApiError for a malformed cache_control.

        ``min_tokens`` replaces the cache's minimum for this request (the model's own)."""
        minimum = self.min_tokens if min_tokens is None else min_tokens
        cacheable = [point for point in cache_breakpoints(body) if point.tokens >= minimum]
        if not cacheable:
            return CachePlan()
        now = self._clock()
        with self._lock:
            hits = [index for index, point in enumerate(cacheable) if self._alive(point.key, now)]
        read_index = hits[-1] if hits else -1
        read = cacheable[read_index] if hits else None
        read_tokens = read.tokens if read is not None else 0
        return CachePlan(
            read_tokens=read_tokens,
            write_tokens=cacheable[-1].tokens - read_tokens,
            read=read,
            writes=tuple(cacheable[read_index + 1 :]),
        )

    def commit(self, plan: CachePlan) -> None:
        """The reply begins: refresh the entry read and create the entries written."""
        now = self._clock()
        with self._lock:
            for point in (plan.read, *plan.writes):
                if point is not None:
                    ttl = self.ttl_seconds * (LONG_TTL_FACTOR if point.long_ttl else 1)
                    expiry = max(self._expiry_by_key.get(point.key, 0.0), now + ttl)
                    self._expiry_by_key[point.key] = expiry

    def __len__(self) -> int:
        """Entries alive now."""
        now = self._clock()
        with self._lock:
            return sum(1 for expiry in self._expiry_by_key.values() if expiry > now)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._expiry_by_key.clear()

    def _alive(self, key: str, now: float) -> bool:
        expiry = self._expiry_by_key.get(key)
        return expiry is not None and expiry > now
