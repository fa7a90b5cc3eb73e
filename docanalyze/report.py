"""The result of an analysis: the report text and everything about how it was made."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from docanalyze.models.base import Usage

__all__ = ["ChunkResult", "Report"]


@dataclass(frozen=True)
class ChunkResult:
    """One chunk's extraction: which pages it covers and which model wrote it.

    A chunk whose extraction did not fit one reply is asked again in parts; ``text`` then joins
    the parts and ``requests`` counts them.
    """

    index: int
    first_page: int
    last_page: int
    text: str
    model: str
    requests: int = 1


@dataclass
class Report:
    """A finished analysis. ``text`` is the Markdown report; ``truncated`` means it was cut."""

    source: str
    text: str
    backend: str
    model: str
    page_count: int
    chunks: list[ChunkResult]
    usage: Usage
    reduce_levels: int
    truncated: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def offline(self) -> bool:
        """Whether the report was made by the offline extractive analyzer."""
        return self.backend == "extractive"

    def to_markdown(self) -> str:
        """The report as Markdown, ending with one newline."""
        return self.text.rstrip() + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Everything about the run as JSON-ready data."""
        return {
            "source": self.source,
            "report": self.text,
            "backend": self.backend,
            "model": self.model,
            "offline": self.offline,
            "truncated": self.truncated,
            "page_count": self.page_count,
            "chunk_count": len(self.chunks),
            "reduce_levels": self.reduce_levels,
            "chunks": [asdict(chunk) for chunk in self.chunks],
            "usage": asdict(self.usage),
            "timings": {name: round(seconds, 3) for name, seconds in self.timings.items()},
            "notices": list(self.notices),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (non-ASCII kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"
