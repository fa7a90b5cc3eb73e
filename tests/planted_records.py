"""A long document with planted records on known pages, for the extraction tests and benchmark.

:func:`planted_document` builds a text of about 400,000 characters in pages (form feeds) of
filler prose with 120 planted obligation records, each one sentence with a ``REC-nnnn`` marker
and ``name: value`` pairs (as the fake server reads them):

- ``unique``: stated once;
- ``repeats``: stated verbatim on two pages (real repeats: two rows without ``--key``);
- ``variants``: the same obligation (same ``id``) stated on two pages in different words (two
  rows without ``--key``, one under ``--key id``, resolved by the model);
- ``in_overlap``: unique records placed where two neighbouring chunks overlap (the text is
  chunked with docanalyze's own chunker to find the overlaps), so both chunks' replies hold them.

:class:`PlantedDocument` knows every record's pages and what each run must return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docanalyze.document import Document
from docanalyze.ingest import document_from_text
from docanalyze.ingest.boilerplate import without_boilerplate
from docanalyze.ingest.chunking import chunks_to_analyze

__all__ = ["OBLIGATION_SCHEMA", "PlantedDocument", "PlantedRecord", "planted_document"]

OBLIGATION_SCHEMA: dict[str, Any] = {
    "title": "Obligation",
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "The obligation's number, e.g. OB-017."},
        "party": {"type": "string", "description": "Who must act."},
        "action": {"type": "string", "description": "What they must do."},
        "deadline": {"type": ["string", "null"], "description": "By when (YYYY-MM-DD)."},
    },
    "required": ["id", "party", "action", "deadline"],
    "additionalProperties": False,
}
FILLER = (
    "The inspectors walked the site and recorded the condition of every pump and valve. ",
    "Maintenance crews replaced worn seals where the readings showed a slow leak. ",
    "The regional office compared this year's figures with those of the last three years. ",
    "Staff training continued through the winter, with two sessions a month at each depot. ",
)
PARTIES = ("Northwind Logistics", "Acme Corp", "Blue Harbor Utilities", "Keller & Sons")
ACTIONS = (
    ("deliver the quarterly safety report", "hand in the safety report every quarter"),
    ("replace the worn pump seals", "swap out the pump seals that are worn"),
    ("train the depot staff twice a month", "run staff training at each depot twice monthly"),
    ("file the annual pressure test results", "submit the yearly pressure test results"),
)
PAGE_CHARACTERS = 4_000
CHUNK_SIZE = 10_000


@dataclass(frozen=True)
class PlantedRecord:
    """One planted record: its fields, its sentence and the pages it is stated on."""

    fields: dict[str, str]
    sentence: str
    pages: tuple[int, ...]
    kind: str


@dataclass
class PlantedDocument:
    """The document's text (pages separated by form feeds) and its planted records."""

    text: str
    records: list[PlantedRecord] = field(default_factory=list)

    def write(self, path: Path) -> Path:
        path.write_text(self.text, encoding="utf-8")
        return path

    def of_kind(self, kind: str) -> list[PlantedRecord]:
        return [record for record in self.records if record.kind == kind]

    def rows_expected(self, *, by_key: bool) -> int:
        """How many rows a run must return: without a key, one per statement; under
        ``--key id``, one per obligation."""
        if by_key:
            return len({record.fields["id"] for record in self.records})
        return sum(len(record.pages) for record in self.records if record.kind != "variant") + (
            len(self.of_kind("variant"))
        )


def _sentence(marker: int, fields: dict[str, str]) -> str:
    pairs = "; ".join(f"{name}: {value}" for name, value in fields.items())
    return f"Record REC-{marker:04d} {pairs}. "


def _fields(number: int, wording: int = 0) -> dict[str, str]:
    month = 1 + number % 12
    return {
        "id": f"OB-{number:03d}",
        "party": PARTIES[number % len(PARTIES)],
        "action": f"{ACTIONS[number % len(ACTIONS)][wording]} for site {number}",
        "deadline": f"2027-{month:02d}-{1 + number % 28:02d}",
    }


def planted_document(
    *, unique: int = 92, in_overlap: int = 8, repeats: int = 10, variants: int = 10
) -> PlantedDocument:
    """The document (see the module docstring); 120 records with the defaults."""
    total = unique + in_overlap + repeats + variants
    pages = 100
    placements: dict[int, list[str]] = {page: [] for page in range(1, pages + 1)}
    planted: list[PlantedRecord] = []
    for number in range(1, total + 1 - in_overlap):
        fields = _fields(number)
        first = 1 + (number - 1) * (pages - 2) // total
        if number <= unique:
            kind, where = "unique", (first,)
        elif number <= unique + repeats:
            kind, where = "repeat", (first, min(pages, first + 37 % pages))
        else:
            kind, where = "variant", (first,)
        sentence = _sentence(number, fields)
        for page in where:
            placements[page].append(sentence)
        planted.append(PlantedRecord(fields, sentence, where, kind))
        if kind == "variant":
            other = min(pages, first + 23)
            reworded = _fields(number, wording=1)
            second = _sentence(1000 + number, reworded)
            placements[other].append(second)
            planted.append(PlantedRecord(reworded, second, (other,), "variant"))
    page_texts = [_page(page, placements[page]) for page in range(1, pages + 1)]
    document = PlantedDocument("\f".join(page_texts), planted)
    for number in range(total + 1 - in_overlap, total + 1):
        _plant_in_overlap(document, number, page_texts)
    return document


def _page(page: int, sentences: list[str]) -> str:
    """Whole filler sentences around the page's planted ones, about :data:`PAGE_CHARACTERS`."""
    filler: list[str] = []
    length = sum(map(len, sentences))
    while length < PAGE_CHARACTERS:
        filler.append(FILLER[(page + len(filler)) % len(FILLER)])
        length += len(filler[-1])
    middle = len(filler) // 2
    text = "".join(filler[:middle] + sentences + filler[middle:]).strip()
    paragraphs = [" ".join(part) for part in _paragraph_lines(text)]
    return "\n\n".join(paragraphs)


def _paragraph_lines(text: str) -> list[list[str]]:
    """``text`` in paragraphs of six sentences (as a page of a report has)."""
    sentences = [piece.strip() + "." for piece in text.split(". ") if piece.strip()]
    sentences[-1] = sentences[-1].rstrip(".") + "." if sentences else ""
    return [sentences[at : at + 6] for at in range(0, len(sentences), 6)]


def _chunks(text: str) -> tuple[Document, list[tuple[int, int, int]]]:
    """The document a run analyzes of ``text``, and its chunks: (first page, start, end)."""
    document = without_boilerplate(document_from_text(text, "planted.txt"))
    chunks = chunks_to_analyze(document, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_SIZE // 20)
    return document, [(chunk.first_page, chunk.start, chunk.end) for chunk in chunks]


def _plant_in_overlap(document: PlantedDocument, number: int, page_texts: list[str]) -> None:
    """Put record ``number``, a paragraph of its own, where two neighbouring chunks overlap:
    tried at each paragraph break near an overlap not used yet, until the chunks of the new
    text hold it in both."""
    fields = _fields(number)
    sentence = _sentence(number, fields).strip()
    analyzed, chunks = _chunks(document.text)
    used = {record.pages[0] for record in document.of_kind("in_overlap")}
    for position in range(len(chunks) - 1):
        first, second = chunks[position], chunks[position + 1]
        page = analyzed.page_at(second[1])
        if second[1] >= first[2] or page in used or page - 1 in used:
            continue
        page_text = page_texts[page - 1]
        for at in _paragraph_breaks(page_text):
            candidate = page_texts.copy()
            candidate[page - 1] = page_text[:at] + "\n\n" + sentence + page_text[at:]
            text = "\f".join(candidate)
            if _in_two_chunks(text, sentence):
                page_texts[:] = candidate
                document.text = text
                record = PlantedRecord(fields, sentence + " ", (page,), "in_overlap")
                document.records.append(record)
                return
    raise AssertionError(f"no overlap holds record {number}")


def _paragraph_breaks(text: str) -> list[int]:
    """Where a paragraph of ``text`` ends, the first two."""
    breaks = [index for index in range(len(text)) if text.startswith("\n\n", index)]
    return breaks[:2]


def _in_two_chunks(text: str, sentence: str) -> bool:
    analyzed, chunks = _chunks(text)
    where = analyzed.text.find(sentence)
    holding = [chunk for chunk in chunks if chunk[1] <= where and where + len(sentence) <= chunk[2]]
    return len(holding) >= 2
