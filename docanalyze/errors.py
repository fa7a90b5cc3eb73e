"""The one exception hierarchy of docanalyze.

Every error a user can cause or fix is a :class:`DocanalyzeError`. Its message is a single line
that says what went wrong and how to fix it (which file, page, template line or environment
variable). The CLI catches this base class once and prints the message; anything else is a bug
and shows a traceback. Messages never contain the API key.
"""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "ConfigError",
    "DocanalyzeError",
    "InputError",
    "ModelError",
    "TemplateError",
]


class DocanalyzeError(Exception):
    """Base class of every user-facing docanalyze error."""


class InputError(DocanalyzeError):
    """A document could not be read: missing, empty, encrypted, broken, or with no text."""


class TemplateError(DocanalyzeError):
    """A prompt template failed to load or render; the message names the template and line."""


class ConfigError(DocanalyzeError):
    """An option or a combination of options is invalid."""


class ModelError(DocanalyzeError):
    """A model request failed for good (after retries), or was refused (e.g. 401)."""


class BudgetError(DocanalyzeError):
    """The work cannot fit the token budgets (context window, max_tokens); names the budget."""
