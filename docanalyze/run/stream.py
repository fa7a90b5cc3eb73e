"""The final report as :class:`~docanalyze.events.ReportText` events, while it is written.

The events carry the report's checked lines (:class:`~docanalyze.run.verification.CheckedReply`),
never the model's raw text, and add up to exactly :attr:`docanalyze.Report.text`: the same
leading text (the offline note), the checked reply and the same closing notes. So a reader that
writes every piece shows the same report as one that waits for the end.
"""

from __future__ import annotations

from collections.abc import Callable

from docanalyze.events import EventHandler, ReportText
from docanalyze.run.sections import section_body

__all__ = ["ReportStream", "SectionStream"]


class ReportStream:
    """Turns the checked pieces of the final reply into ``ReportText`` events that add up to
    the report text. ``prefix`` is sent with the first piece."""

    def __init__(self, emit: EventHandler, prefix: str = "") -> None:
        self._emit = emit
        self._prefix = prefix
        self._sent: list[str] = []

    @property
    def sent(self) -> str:
        """The text sent since the last restart."""
        return "".join(self._sent)

    def on_text(self, piece: str) -> None:
        """Pass on one checked piece of the reply."""
        self._send(piece if self._sent else self._prefix + piece)

    def on_restart(self) -> None:
        """The reply starts over (a retried stream): readers discard what they got."""
        self._sent.clear()
        self._emit(ReportText("", restart=True))

    def finish(self, report_text: str) -> None:
        """Send what the report adds after the reply, so that the events add up to it.

        Should the text sent so far not begin ``report_text``, the stream restarts with the
        whole report instead.
        """
        sent = self.sent
        if not report_text.startswith(sent):
            self.on_restart()
            sent = ""
        if report_text[len(sent) :]:
            self._send(report_text[len(sent) :])

    def _send(self, text: str) -> None:
        self._sent.append(text)
        self._emit(ReportText(text))


class SectionStream:
    """A report written in pieces at once (the overview and the sections), as ``ReportText``
    events in report order: the first unfinished piece streams live (its checked lines), and a
    later one comes out once every piece before it is done.

    ``headings`` go before each piece. :meth:`done` gives a piece's final text; should what
    was sent stop being the beginning of the report (a retried stream), the stream restarts
    with the report so far.
    """

    def __init__(self, emit: EventHandler, headings: list[str]) -> None:
        self._emit = emit
        self._headings = headings
        self._texts = [""] * len(headings)
        self._bodies: list[str | None] = [None] * len(headings)
        self._sent = ""

    def text_of(self, index: int) -> Callable[[str], None]:
        """What receives the checked pieces of piece ``index``."""

        def receive(delta: str) -> None:
            self._texts[index] += delta
            self._pump()

        return receive

    def restart_of(self, index: int) -> Callable[[], None]:
        """What hears that piece ``index`` starts over: its text so far is discarded."""

        def restart() -> None:
            self._texts[index] = ""
            self._pump()

        return restart

    def done(self, index: int, body: str) -> None:
        """Piece ``index`` is written: ``body`` goes under its heading."""
        self._bodies[index] = body
        self._pump()

    def finish(self, report_text: str) -> None:
        """Send the rest of ``report_text``, so that the events add up to it."""
        self._send_towards(report_text)

    def _pump(self) -> None:
        pieces = []
        for heading, text, body in zip(self._headings, self._texts, self._bodies):
            if body is None:
                if text.strip():
                    pieces.append(f"{heading}\n\n{section_body(text)}")
                elif pieces or text:
                    pieces.append(heading)
                break
            pieces.append(f"{heading}\n\n{body}".rstrip())
        if pieces:
            self._send_towards("\n\n".join(pieces))

    def _send_towards(self, target: str) -> None:
        if not target.startswith(self._sent):
            self._emit(ReportText("", restart=True))
            self._sent = ""
        if target[len(self._sent) :]:
            self._emit(ReportText(target[len(self._sent) :]))
            self._sent = target
