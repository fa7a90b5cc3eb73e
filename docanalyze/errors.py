"""The one exception hierarchy of docanalyze.

Every error a user can cause or fix is a :class:`DocanalyzeError`. Its message is a single line
that says what went wrong and how to fix it (which file, page, template line or environment
variable). The CLI catches this base class once and prints the message; anything else is a bug
and shows a traceback. Messages never contain the API key.

Exit codes of the CLI: :mod:`docanalyze.exit_codes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docanalyze.exit_codes import EXIT_ERROR, EXIT_INCOMPLETE, EXIT_USAGE

if TYPE_CHECKING:
    from docanalyze.report.result import Report

__all__ = [
    "EXIT_ERROR",
    "EXIT_INCOMPLETE",
    "EXIT_USAGE",
    "BudgetError",
    "ConfigError",
    "CostLimitReached",
    "DocanalyzeError",
    "FailedRun",
    "IncompleteRun",
    "InputError",
    "ModelError",
    "RefusedRun",
    "RequestFailed",
    "SchemaError",
    "StoreError",
    "TemplateError",
    "UsageError",
]


class DocanalyzeError(Exception):
    """Base class of every user-facing docanalyze error."""


class InputError(DocanalyzeError):
    """A document could not be read: missing, empty, encrypted, broken, or with no text."""


class TemplateError(DocanalyzeError):
    """A prompt template failed to load or render; the message names the template and line."""


class ConfigError(DocanalyzeError):
    """The configuration cannot work: a prices file, a template's settings, a key, a model."""


class SchemaError(ConfigError):
    """A record schema cannot be used: not found, not JSON, not one object record, or with a
    keyword Claude's structured outputs do not support; the message names the file (or pydantic
    model), the keyword and where it is (a JSON pointer)."""


class UsageError(ConfigError):
    """An option's value cannot work, or options conflict (``--batch`` with ``--ray``). Raised
    before any work; the CLI exits 2 (:data:`EXIT_USAGE`), as for its own usage errors."""


class ModelError(DocanalyzeError):
    """A model request failed for good (after retries), or was refused (e.g. 401)."""


class RequestFailed(ModelError):
    """One request failed for good after its retries ran out (an overload, a 5xx, a timeout, a
    connection lost after the server had answered), unlike an error of the whole run (a bad
    key, an unknown model, a server never reached). ``stage`` is the request's stage. Once the
    run has an answer, it ends as a :class:`FailedRun` rather than with this error."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage

    def __reduce__(self) -> tuple[type[RequestFailed], tuple[str, str]]:
        return type(self), (str(self), self.stage)  # pickled whole (e.g. back from a Ray task)


class BudgetError(DocanalyzeError):
    """The work cannot fit the token budgets (context window, max_tokens); names the budget."""


class StoreError(DocanalyzeError):
    """The run store cannot be used: unreadable, locked too long, or not writable."""


class IncompleteRun(DocanalyzeError):
    """A run that ended without a whole report; ``report`` holds its partial work, marked
    incomplete (``report.complete`` is False): the chunk extractions obtained so far, which
    chunks are missing, and the usage and cost spent. The CLI writes it, prints the message and
    exits 3 (:data:`EXIT_INCOMPLETE`), as for every incomplete report."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


class CostLimitReached(IncompleteRun):
    """The run stopped because its next request could have taken it over ``--max-cost``.

    No request was sent past the limit; the requests already in flight finished and are counted.
    """


class RefusedRun(IncompleteRun):
    """The model refused part of the document (``stop_reason == "refusal"``) and no fallback
    model answered it. ``report.refusals`` names the refused pages and the API's category; the
    refused replies are never stored, so the next run asks for those parts again."""


class FailedRun(IncompleteRun):
    """A request failed for good (a :class:`RequestFailed`, after its retries) once the run had
    answers. The map stage finished its other chunks first; ``failures`` names each failed part
    (its stage, chunk and pages) with its one-line error, and ``report.missing_chunks`` the
    chunks not extracted. Every reply obtained is stored, so the next run asks only for what is
    missing."""

    def __init__(self, message: str, report: Report, failures: list[dict[str, object]]) -> None:
        super().__init__(message, report)
        self.failures = failures

    def __reduce__(self) -> tuple[type[FailedRun], tuple[str, Report, list[dict[str, object]]]]:
        return type(self), (str(self), self.report, self.failures)  # pickled whole
