"""The span driver both map stages share (docanalyze/run/spans.py): only a span too short to
cut fails its chunk; any other error below it is the run's, not taken for that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docanalyze.errors import BudgetError
from docanalyze.run.context import RunContext
from tests.test_extract_robust import Scripted, cut, extract, write_document


def test_an_error_of_a_half_is_not_taken_for_a_span_too_short_to_cut(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page 2's reply is cut twice, so it is asked in halves; the second half's request then
    raises a BudgetError of its own (as a reply cut while thinking that cannot get more room
    does): the run ends with that error, not with page 2 recorded as a chunk too short to cut
    (and its first half's answered records lost from the result)."""
    path = tmp_path / "doc.txt"
    write_document(path)
    script = Scripted()
    script.on("REC-0003", cut(), cut())
    serve(responder=script)
    complete = RunContext.complete

    async def thinking_cannot_grow(ctx: RunContext, request: Any, step: Any, **kw: Any) -> Any:
        if "REC-0004" in request.prompt and "REC-0003" not in request.prompt:
            raise BudgetError("cut while the model was still thinking; lower --effort")
        return await complete(ctx, request, step, **kw)

    monkeypatch.setattr(RunContext, "complete", thinking_cannot_grow)
    with pytest.raises(BudgetError, match="still thinking"):
        extract(path)
