"""langchain-text-splitters' recursive splitter, with its merge step made linear.

Imported only when a document is split (:func:`docanalyze.ingest.chunking.chunk_splitter`):
langchain-core takes a while to import, and a command that splits nothing should not wait.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from langchain_text_splitters import RecursiveCharacterTextSplitter

__all__ = ["LinearMergeSplitter"]


class LinearMergeSplitter(RecursiveCharacterTextSplitter):
    """The library's splitter, with its merge step made linear in the number of pieces.

    The library drops merged pieces with ``list[1:]``, which is quadratic when a chunk is made of
    thousands of tiny pieces (one-character words, a comma every two characters). This merge
    makes exactly the same chunks (tests compare the two) using a deque.
    """

    def _merge_splits(self, splits: Iterable[str], separator: str) -> list[str]:
        separator_length = self._length_function(separator)
        chunks: list[str] = []
        current: deque[str] = deque()
        total = 0
        for split in splits:
            length = self._length_function(split)
            if current and total + length + separator_length > self._chunk_size:
                chunk = self._join_docs(list(current), separator)
                if chunk is not None:
                    chunks.append(chunk)
                while total > self._chunk_overlap or (
                    current and total + length + separator_length > self._chunk_size
                ):
                    dropped = current.popleft()
                    total -= self._length_function(dropped) + (separator_length if current else 0)
            total += length + (separator_length if current else 0)
            current.append(split)
        chunk = self._join_docs(list(current), separator)
        if chunk is not None:
            chunks.append(chunk)
        return chunks
