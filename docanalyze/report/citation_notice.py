"""What a run says on stderr about the claims of its report that no page supports."""

from __future__ import annotations

from collections.abc import Iterable

from docanalyze.citations.verify import UNSUPPORTED_MARK, CheckedCitation, UnsupportedMode

__all__ = ["unsupported_notice"]


def unsupported_notice(
    citations: Iterable[CheckedCitation], unsupported: UnsupportedMode | str = "mark"
) -> str | None:
    """The notice about a report's unsupported claims (``citations``: its
    :attr:`~docanalyze.report.result.Report.citations`), or None when it has none.

    ``unsupported`` is how they were handled (``Options.unsupported``): ``mark`` kept them,
    marked; ``drop`` left them out.
    """
    count = sum(citation.status == "unsupported" for citation in citations)
    if not count:
        return None
    if unsupported == "drop":
        claims = "claim was" if count == 1 else "claims were"
        return f"{count} unsupported {claims} left out of the report"
    claims, are = ("claim", "is") if count == 1 else ("claims", "are")
    return (
        f"{count} {claims} no page supports {are} marked {UNSUPPORTED_MARK} in the report "
        "(--unsupported drop leaves them out)"
    )
