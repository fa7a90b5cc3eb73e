"""A streamed report is the checked report: each line goes out once it is complete and its
citations are checked, so a reader never sees a wrong page or an unmarked invention, and the
pieces add up to exactly the text of a run that does not stream."""

from __future__ import annotations

from typing import Any

import pytest

import docanalyze
from docanalyze.citations.markdown import PageIndexes
from docanalyze.document import Page
from docanalyze.events import ReportText
from docanalyze.models.base import CitableText, ModelReply, ReplyBlock, ReplyCitation, Usage
from docanalyze.run.verification import CheckedReply, ReplyCheck
from tests.citing_fakes import INVENTED, CitingModel, StreamingCitingModel
from tests.test_grounded_pipeline import english_document

CORRECTED = "- FACT-0001 was recorded by the inspectors on page 1. (p. 1)"
SETTINGS: dict[str, Any] = {"chunk_size": 4000, "chunk_overlap": 0, "final": "single"}


def streamed(model: Any, **options: Any) -> tuple[docanalyze.Report, list[ReportText]]:
    events: list[object] = []
    pipeline = docanalyze.Pipeline(
        client=model, stream=True, on_event=events.append, **{**SETTINGS, **options}
    )
    report = pipeline.analyze(english_document(6))
    return report, [event for event in events if isinstance(event, ReportText)]


@pytest.mark.parametrize("delta_size", [1, 4, 13])
@pytest.mark.parametrize("unsupported", ["mark", "drop"])
def test_the_streamed_report_is_the_checked_report(unsupported: str, delta_size: int) -> None:
    model = StreamingCitingModel(wrong_page=True, invent=True, delta_size=delta_size)
    report, pieces = streamed(model, unsupported=unsupported)

    assert not any(piece.restart for piece in pieces)
    assert "".join(piece.text for piece in pieces) == report.text
    assert len(pieces) > 7, "the report went out line by line, not at the end"
    assert CORRECTED in report.text
    if unsupported == "mark":
        assert f"- {INVENTED} ⚠ unsupported" in report.text
    else:
        assert "FACT-9001" not in report.text
    not_streamed = docanalyze.Pipeline(
        client=CitingModel(wrong_page=True, invent=True), unsupported=unsupported, **SETTINGS
    )
    assert not_streamed.analyze(english_document(6)).text == report.text


def test_a_retried_stream_starts_again_and_shows_only_checked_text() -> None:
    model = StreamingCitingModel(wrong_page=True, invent=True, restart_after=30)
    report, pieces = streamed(model)

    restarts = [number for number, piece in enumerate(pieces) if piece.restart]
    assert len(restarts) == 1
    before = "".join(piece.text for piece in pieces[: restarts[0]])
    assert before and report.text.startswith(before), "what went out before was checked too"
    assert "".join(piece.text for piece in pieces[restarts[0] :]) == report.text


def test_a_streamed_sectioned_report_is_checked_section_by_section() -> None:
    model = StreamingCitingModel(wrong_page=True, invent=True)
    report, pieces = streamed(model, final="sections", max_tokens=2000)

    assert report.text.count("\n## Pages") >= 2
    assert not any(piece.restart for piece in pieces)
    assert "".join(piece.text for piece in pieces) == report.text
    assert "⚠ unsupported" in report.text


# --- the checked reply, line by line -------------------------------------------------------------

PAGES = (
    Page(1, "Rent is due monthly. The tenant pays the water bill."),
    Page(2, "The landlord repairs the roof."),
)
CITABLE = tuple(CitableText(page.text, f"Page {page.number}", (page.number,)) for page in PAGES)
BLOCKS = (
    ReplyBlock("## Findings\n\n"),
    ReplyBlock("- "),
    ReplyBlock("Rent is due monthly.", (ReplyCitation(0, "Rent is due monthly."),)),
    ReplyBlock(" (p. 2)\n- "),
    ReplyBlock("The landlord repairs ", (ReplyCitation(1, "The landlord repairs the roof."),)),
    ReplyBlock("the roof.", (ReplyCitation(1, "The landlord repairs the roof."),)),
    ReplyBlock(" (p. 2)\n- The tenant owns a boat.\n\n\n```\nnot a claim.\n```\n"),
)
REPLY = ModelReply("".join(block.text for block in BLOCKS), "end_turn", "m", Usage(), blocks=BLOCKS)
CHECKED = {
    "mark": "## Findings\n\n- Rent is due monthly. (p. 1)\n- The landlord repairs the roof. (p. 2)\n"
    "- The tenant owns a boat. ⚠ unsupported\n\n```\nnot a claim.\n```",
    "drop": "## Findings\n\n- Rent is due monthly. (p. 1)\n- The landlord repairs the roof. (p. 2)\n"
    "\n```\nnot a claim.\n```",
}


def check_of(unsupported: Any) -> ReplyCheck:
    return ReplyCheck(CITABLE, (), PageIndexes(PAGES), unsupported)


@pytest.mark.parametrize("delta_size", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("unsupported", ["mark", "drop"])
def test_a_checked_reply_sends_each_line_once_it_is_checked(
    unsupported: str, delta_size: int
) -> None:
    pieces: list[str] = []
    restarts: list[bool] = []
    checker = CheckedReply(
        check_of(unsupported),
        expects_blocks=True,
        on_checked=pieces.append,
        on_restart=lambda: restarts.append(True),
    )
    for number, block in enumerate(BLOCKS):
        for start in range(0, len(block.text), delta_size):
            checker.add_text(block.text[start : start + delta_size])
            if number == 3:  # the wrong page is written, its block not ended: nothing shown
                assert pieces == ["## Findings"]
        checker.add_block(block)
    assert pieces[1] == "\n\n- Rent is due monthly. (p. 1)"
    checked = checker.finish(REPLY)

    assert not restarts
    assert "".join(pieces) == checked.text == CHECKED[unsupported]
    assert len(pieces) == len([line for line in CHECKED[unsupported].split("\n") if line])
    statuses = [citation.status for citation in checked.citations]
    assert statuses == ["corrected", "verified", "unsupported"]
    whole = CheckedReply(check_of(unsupported), expects_blocks=True).finish(REPLY)
    assert whole == checked


def test_a_checked_reply_without_blocks_checks_each_line_as_it_ends() -> None:
    pieces: list[str] = []
    checker = CheckedReply(check_of("mark"), expects_blocks=False, on_checked=pieces.append)
    written = '- Rent is due: "Rent is due monthly." (p. 2)\n- Rent is due'
    checker.add_text(written)
    assert pieces == ['- Rent is due: "Rent is due monthly." (p. 1)']
    reply = ModelReply(written + " yearly.", "end_turn", "m", Usage())
    checker.add_text(" yearly.")
    assert checker.finish(reply).text == "".join(pieces)
    assert pieces[-1] == "\n- Rent is due yearly. ⚠ unsupported"
