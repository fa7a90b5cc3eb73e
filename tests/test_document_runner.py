"""The one document runner: sources taken lazily as the admission gate allows, results in
order, one pluggable admission, and an error that is no document's failure stops the run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import docanalyze
from docanalyze.models.base import Model
from docanalyze.run.admission import DocumentsAtOnce
from docanalyze.run.context import EventLog
from docanalyze.run.documents import DocumentPipeline, DocumentRunner
from docanalyze.run.several import analyze_many


@dataclass(frozen=True)
class Sleep:
    """A job that sleeps, then returns its number (or raises ``error``)."""

    number: int
    seconds: float = 0.01
    error: BaseException | None = None

    async def run(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, worker: str | None
    ) -> int:
        await asyncio.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        return self.number

    def lost(self, why: str) -> int:
        return -1


@dataclass
class Numbers:
    """A sink of numbers: the jobs it gave, the results it took, and how many ran at once."""

    slow: dict[int, Sleep] = field(default_factory=dict)
    taken: dict[int, int] = field(default_factory=dict)
    running: int = 0
    most: int = 0

    async def job(self, position: int, source: int) -> Sleep:
        self.running += 1
        self.most = max(self.most, self.running)
        return self.slow.get(source, Sleep(source))

    def take(self, position: int, result: int) -> None:
        self.running -= 1
        self.taken[position] = result


class Here:
    async def run(self, job: Sleep) -> int:
        return await job.run(None, None, EventLog(), None)  # type: ignore[arg-type]


@dataclass
class CountingGate(DocumentsAtOnce):
    """The default gate, counting its admissions."""

    admitted: int = 0

    def __post_init__(self) -> None:
        super().__init__(2)

    async def admit(self, size: int) -> None:
        await super().admit(size)
        self.admitted += 1


def test_sources_are_taken_only_when_admitted_and_results_keep_their_place() -> None:
    taken_from_source: list[int] = []
    sink = Numbers(slow={0: Sleep(0, seconds=0.1)})
    gate = CountingGate()

    def sources() -> Iterator[int]:
        for number in range(6):
            taken_from_source.append(number)
            yield number

    asyncio.run(DocumentRunner(sink, Here(), gate).run(sources()))
    assert sink.taken == {n: n for n in range(6)}
    assert sink.most == 2 and gate.admitted == 6
    assert taken_from_source == list(range(6))


def test_an_error_that_is_no_documents_failure_stops_the_run_and_cancels_the_others() -> None:
    sink = Numbers(slow={0: Sleep(0, seconds=5), 1: Sleep(1, error=RuntimeError("bug"))})
    with pytest.raises(RuntimeError, match="bug"):
        asyncio.run(asyncio.wait_for(DocumentRunner(sink, Here()).run(range(100)), 2))
    assert 0 not in sink.taken, "the slow document was cancelled"
    assert len(sink.taken) < 100, "no document was started after the error"


def test_analyze_many_takes_an_admission_gate(tmp_path: Path) -> None:
    paths = []
    for name in ("a", "b", "c"):
        paths.append(tmp_path / f"{name}.txt")
        paths[-1].write_text(f"{name} says FACT-0001.\n", encoding="utf-8")
    gate = CountingGate()
    result = asyncio.run(
        analyze_many(docanalyze.Pipeline(), [str(p) for p in paths], admission=gate)
    )
    assert gate.admitted == 3 and result.ok
    assert result.inputs == [str(p) for p in paths]
