"""Cutting a piece of text in two at the most natural boundary near its middle."""

from __future__ import annotations

import re

__all__ = ["split_point", "split_text"]

_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"[。！？；.!?;](?:\s|$)|[。！？；]"),
    re.compile(r"[，、,]\s*"),
    re.compile(r"\s+"),
)
MIN_SPLIT_CHARS = 40


def split_point(text: str, start: int, end: int) -> int | None:
    """An offset strictly inside ``text[start:end]`` to cut it in two, or None if too short.

    The cut falls after the boundary (paragraph, line, sentence end, comma, space, in that order
    of preference) nearest to the middle, within the middle half of the span.
    """
    length = end - start
    if length < MIN_SPLIT_CHARS:
        return None
    middle = start + length // 2
    window_start, window_end = start + length // 4, start + 3 * length // 4
    for boundary in _BOUNDARIES:
        best: int | None = None
        for match in boundary.finditer(text, window_start, window_end):
            if best is None or abs(match.end() - middle) < abs(best - middle):
                best = match.end()
        if best is not None and start < best < end:
            return best
    return middle


def split_text(text: str) -> tuple[str, str] | None:
    """``text`` cut in two at :func:`split_point`, or None when it is too short to cut."""
    point = split_point(text, 0, len(text))
    if point is None:
        return None
    return text[:point], text[point:]
