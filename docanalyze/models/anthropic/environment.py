"""The API key: whether one is set (for choosing the backend), and keeping it out of messages.

Nothing here imports the SDK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["API_KEY_ENV", "MIN_REDACTED_LENGTH", "REDACTED", "api_key_in", "has_api_key", "redact"]

API_KEY_ENV = "ANTHROPIC_API_KEY"
REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 8
"""Secrets shorter than this are not searched for: they would match ordinary text."""


def api_key_in(env: Mapping[str, str] | None = None) -> str | None:
    """``ANTHROPIC_API_KEY`` in ``env`` (by default the process's environment), or None."""
    return (os.environ if env is None else env).get(API_KEY_ENV) or None


def has_api_key(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``ANTHROPIC_API_KEY`` is set."""
    return api_key_in(env) is not None


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every whole occurrence of a secret replaced by ``[redacted]``.

    A safety net only: messages are built without secrets. It changes nothing but a secret of
    at least :data:`MIN_REDACTED_LENGTH` characters that stands on its own, not inside a longer
    word, so no ordinary text is ever altered.
    """
    for secret in secrets:
        if len(secret) >= MIN_REDACTED_LENGTH:
            whole = rf"(?<![\w-]){re.escape(secret)}(?![\w-])"
            text = re.sub(whole, REDACTED, text)
    return text
