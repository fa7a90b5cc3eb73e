"""Switching to a fallback model when the primary one keeps failing with overloads or 5xx errors."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["FallbackSwitch", "is_overload_status"]


def is_overload_status(status: int | None) -> bool:
    """Whether ``status`` says the server is overloaded or broken (529 or any 5xx)."""
    return status is not None and status >= 500


class FallbackSwitch:
    """Counts consecutive overload/5xx failures of ``primary`` across the run.

    After ``threshold`` of them in a row (a success of the primary resets the count), every later
    attempt that would go to ``primary`` goes to ``fallback`` instead, for the rest of the run.
    ``on_switch(primary, fallback)`` is called once, when that happens. Without a fallback model
    it never switches.
    """

    def __init__(
        self,
        primary: str,
        fallback: str | None,
        *,
        threshold: int = 3,
        on_switch: Callable[[str, str], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ValueError(f"the fallback threshold must be at least 1 (got {threshold})")
        self.primary = primary
        self.fallback = fallback
        self.threshold = threshold
        self.on_switch = on_switch
        self.switched = False
        self._consecutive = 0

    def choose(self, model: str) -> str:
        """The model to send an attempt for ``model`` to."""
        if self.switched and self.fallback is not None and model == self.primary:
            return self.fallback
        return model

    def record_success(self, model: str) -> None:
        """A reply came from ``model``."""
        if model == self.primary:
            self._consecutive = 0

    def record_failure(self, model: str, status: int | None) -> None:
        """An attempt sent to ``model`` failed with ``status`` (None: no HTTP status)."""
        if model != self.primary or not is_overload_status(status):
            return
        self._consecutive += 1
        if self.fallback is None or self.switched or self._consecutive < self.threshold:
            return
        self.switched = True
        if self.on_switch is not None:
            self.on_switch(self.primary, self.fallback)
