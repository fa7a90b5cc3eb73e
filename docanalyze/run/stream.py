"""The final report as :class:`~docanalyze.events.ReportText` events, while it is written.

The events add up to exactly :attr:`docanalyze.Report.text`: the same leading text (the offline
note), the reply without its surrounding whitespace, and the same closing notes. So a reader that
writes every delta shows the same report as one that waits for the end.
"""

from __future__ import annotations

from docanalyze.events import EventHandler, ReportText

__all__ = ["ReportStream"]


class ReportStream:
    """Turns the final reply's deltas into ``ReportText`` events that add up to the report text.

    ``prefix`` is sent with the first text. Leading whitespace of the reply is dropped, and
    trailing whitespace is held back until more text follows it, as ``str.strip`` would do.
    """

    def __init__(self, emit: EventHandler, prefix: str = "") -> None:
        self._emit = emit
        self._prefix = prefix
        self._held_space = ""
        self._sent: list[str] = []

    @property
    def sent(self) -> str:
        """The text sent since the last restart."""
        return "".join(self._sent)

    def on_text(self, delta: str) -> None:
        """Pass on one delta of the reply."""
        if not self._sent:
            delta = delta.lstrip()
            if not delta:
                return
            delta = self._prefix + delta
        text = (self._held_space + delta).rstrip()
        self._held_space = (self._held_space + delta)[len(text) :]
        if text:
            self._send(text)

    def on_restart(self) -> None:
        """The reply starts over (a retried stream): readers discard what they got."""
        self._sent.clear()
        self._held_space = ""
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
