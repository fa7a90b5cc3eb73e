"""Greedy packing of sized items into groups, in order (merges of partial results, batches)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["pack_in_order"]

T = TypeVar("T")


def pack_in_order(
    sized: Iterable[tuple[T, int]], capacity: float, max_items: float = float("inf")
) -> list[list[T]]:
    """Greedy packing in order: items into groups of at most ``capacity`` in size and
    ``max_items`` in number (an item larger than ``capacity`` alone makes a group of one). The
    reduce stage packs partial results into merges with it, the batch runner requests into
    Message Batches."""
    groups: list[list[T]] = []
    current: list[T] = []
    used = 0
    for item, size in sized:
        if current and (len(current) >= max_items or used + size > capacity):
            groups.append(current)
            current, used = [], 0
        current.append(item)
        used += size
    if current:
        groups.append(current)
    return groups
