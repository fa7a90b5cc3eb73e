"""Whether an API key is set, without importing the SDK (for choosing the backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["API_KEY_ENV", "api_key_in", "has_api_key"]

API_KEY_ENV = "ANTHROPIC_API_KEY"


def api_key_in(env: Mapping[str, str] | None = None) -> str | None:
    """``ANTHROPIC_API_KEY`` in ``env`` (by default the process's environment), or None."""
    return (os.environ if env is None else env).get(API_KEY_ENV) or None


def has_api_key(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``ANTHROPIC_API_KEY`` is set."""
    return api_key_in(env) is not None
