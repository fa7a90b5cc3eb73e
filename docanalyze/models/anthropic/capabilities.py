"""What a model accepts on a request: thinking types, effort levels, sampling parameters.

The Claude 5.x family thinks by default (adaptive thinking, inside ``max_tokens``), and each model
turns it off differently, or not at all:

=================== ======================= ============ ==================================
model               thinking types accepted  default      thinking off
=================== ======================= ============ ==================================
Fable 5.x, Opus 5.5 adaptive                 on, always   impossible: lower the effort
Sonnet 5.5          adaptive, between_tools  on           ``between_tools`` at low-high effort
Opus 5, Haiku 5.5   adaptive, disabled       on           ``disabled`` at low-high effort
Sonnet 5            adaptive, disabled       on           ``disabled``
Opus 4.6-4.8, ...   adaptive, disabled       off          the default
Haiku/Opus 4.5      enabled, disabled        off          the default
=================== ======================= ============ ==================================

The 5.x family also rejects non-default ``temperature``/``top_p``/``top_k``, assistant prefill and a
forced ``tool_choice``. :class:`Capabilities` holds these rules for one model, from the catalog
(:mod:`docanalyze.models.anthropic.catalog`) or from the Models API (:func:`capabilities_from_api`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "EFFORT_LEVELS",
    "NO_THINKING",
    "UNKNOWN_RULES",
    "Capabilities",
    "Effort",
    "ThinkingType",
    "capabilities_from_api",
    "model_version",
]

Effort = Literal["low", "medium", "high", "xhigh", "max"]
ThinkingType = Literal["adaptive", "between_tools", "disabled", "enabled"]
EFFORT_LEVELS: tuple[Effort, ...] = ("low", "medium", "high", "xhigh", "max")
"""Every effort level of ``output_config.effort``, lowest first."""
_UP_TO_HIGH: tuple[Effort, ...] = ("low", "medium", "high")


@dataclass(frozen=True)
class Capabilities:
    """The request rules of one model.

    ``thinking_types`` are the ``thinking.type`` values it accepts; ``thinks_by_default`` whether
    a request without ``thinking`` thinks. ``efforts`` are the accepted ``output_config.effort``
    levels (empty: no effort parameter), ``default_effort`` the API's default. ``off_efforts``
    are the efforts at which the type that turns thinking off is accepted.
    ``rejects_sampling`` means non-default ``temperature``, ``top_p`` and ``top_k`` are 400
    errors (Claude Opus 4.7 and later). docanalyze never sends assistant prefill or a
    ``tool_choice``, which the later models reject too.
    """

    thinking_types: frozenset[ThinkingType] = frozenset({"disabled"})
    thinks_by_default: bool = False
    efforts: tuple[Effort, ...] = ()
    default_effort: Effort | None = None
    off_efforts: tuple[Effort, ...] = EFFORT_LEVELS
    rejects_sampling: bool = False
    citations: bool = True
    """Whether the model cites documents and search results (every active model but Haiku 3)."""
    structured_outputs: bool | None = None
    """Whether the model answers in a JSON schema (``output_config.format``): True or False as
    the Models API's ``structured_outputs`` capability says, None when nothing says (the
    Structured outputs page lists models up to Sonnet 5, Opus 5 and Fable 5; a request is then
    sent, and the API's answer is the word)."""
    known: bool = True
    """False for a model nobody describes: its settings are sent as asked, unchecked."""

    @property
    def off_type(self) -> ThinkingType | None:
        """The ``thinking.type`` that turns thinking off, or None if thinking cannot be off."""
        if "between_tools" in self.thinking_types:
            return "between_tools"
        if "disabled" in self.thinking_types:
            return "disabled"
        return None

    @property
    def can_think(self) -> bool:
        """Whether the model thinks at all (adaptive or budgeted thinking)."""
        return bool(self.thinking_types & {"adaptive", "enabled"})

    @property
    def can_turn_off(self) -> bool:
        """Whether a request can run without up-front thinking."""
        return not self.thinks_by_default or self.off_type is not None

    @property
    def lowest_effort(self) -> Effort | None:
        """The lowest effort level the model accepts, or None without an effort parameter."""
        return self.efforts[0] if self.efforts else None

    def off_allowed_at(self, effort: str | None) -> bool:
        """Whether thinking can be turned off at ``effort`` (None: the API's default effort)."""
        if not self.thinks_by_default:
            return True
        if self.off_type is None:
            return False
        level = effort or self.default_effort
        return level is None or level in self.off_efforts


NO_THINKING = Capabilities()
"""A model without thinking or effort."""
UNKNOWN_RULES = Capabilities(known=False)
"""The rules of a model that neither the catalog nor the Models API describes."""


def capabilities_from_api(capabilities: Mapping[str, Any] | None, name: str) -> Capabilities:
    """The rules in a Models API ``capabilities`` object (a dict), for model ``name``.

    The API says which thinking types and effort levels a model accepts; whether it thinks
    without being asked, at which efforts thinking can be off, and whether it rejects sampling
    parameters are not in it, so they follow the family rules: the 5.x models think by
    default and allow thinking off only up to ``high`` effort, and Claude 4.7 and later
    reject sampling parameters.
    """
    if not capabilities:
        return NO_THINKING
    thinking = capabilities.get("thinking") or {}
    types_info = thinking.get("types") or {}
    kinds: tuple[ThinkingType, ...] = ("adaptive", "between_tools", "disabled", "enabled")
    types = frozenset(kind for kind in kinds if (types_info.get(kind) or {}).get("supported"))
    effort_info = capabilities.get("effort") or {}
    efforts: tuple[Effort, ...] = ()
    if effort_info.get("supported"):
        efforts = tuple(
            level for level in EFFORT_LEVELS if (effort_info.get(level) or {}).get("supported")
        )
    five_family = _is_five_family(name)
    thinks_by_default = five_family and "adaptive" in types
    return Capabilities(
        thinking_types=types or frozenset({"disabled"}),
        thinks_by_default=thinks_by_default,
        efforts=efforts,
        default_effort="high" if "high" in efforts else (efforts[-1] if efforts else None),
        off_efforts=_UP_TO_HIGH if thinks_by_default else EFFORT_LEVELS,
        rejects_sampling=model_version(name) >= (4, 7),
        citations=bool((capabilities.get("citations") or {}).get("supported", True)),
        structured_outputs=_supported(capabilities.get("structured_outputs")),
    )


def _supported(capability: object) -> bool | None:
    """A Models API capability's ``supported`` flag, None when the API does not give it."""
    if not isinstance(capability, Mapping) or "supported" not in capability:
        return None
    return bool(capability["supported"])


def _is_five_family(name: str) -> bool:
    """Whether ``name`` is a Claude model of generation 5 or later (``claude-*-5``, ``-5-5``...)."""
    return model_version(name) >= (5, 0)


def model_version(name: str) -> tuple[int, int]:
    """The generation and version of a Claude model ID: ``(5, 5)`` for ``claude-sonnet-5-5``, ``(4, 0)`` for ``claude-opus-4-20250514``;
    ``(0, 0)`` for a name without one."""
    parts = name.split("-")[2:4]
    if not parts or not parts[0].isdigit():
        return (0, 0)
    minor = parts[1] if len(parts) > 1 and parts[1].isdigit() and len(parts[1]) <= 2 else "0"
    return (int(parts[0]), int(minor))
