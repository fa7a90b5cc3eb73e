"""What the Models API says of a model, kept a day in the run store, and what a run does with it.

With a key, the first run of a model calls ``client.models.retrieve(model)`` once; the answer is
stored (without any secret) and used for a day. From it a run takes the context window
(``max_input_tokens``), the largest ``max_tokens``, the thinking types and effort levels the model
accepts, and its lifecycle: a retired model is an error before any message request, a deprecated
one a notice with its retirement date. Without a key, or for the facts the API does not give
(prices, whether a model thinks by default), the catalog (:mod:`docanalyze.models.anthropic.catalog`)
serves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from docanalyze.errors import ConfigError
from docanalyze.models.anthropic.capabilities import (
    UNKNOWN_RULES,
    Capabilities,
    capabilities_from_api,
)
from docanalyze.models.anthropic.catalog import ModelInfo, model_info

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "MODEL_INFO_MAX_AGE",
    "ModelDescription",
    "TokenLimits",
    "describe_from_api",
    "describe_from_catalog",
    "lifecycle_problem",
    "limits_for",
]

MODEL_INFO_MAX_AGE = 24 * 3600.0
"""Seconds a stored Models API answer is used before the API is asked again."""
DEFAULT_CONTEXT_WINDOW = 200_000
"""The window assumed for a model that neither the catalog nor the Models API describes."""
DEFAULT_MAX_OUTPUT_TOKENS = 64_000


@dataclass(frozen=True)
class ModelDescription:
    """One model's limits, request rules and lifecycle, from the Models API or the catalog."""

    name: str
    context_window: int | None
    max_output_tokens: int | None
    capabilities: Capabilities
    lifecycle: str = "active"
    retires: str | None = None
    """The (scheduled) retirement date, ``YYYY-MM-DD``."""
    replacement: str | None = None
    source: str = "catalog"
    """``"models api"`` or ``"catalog"``."""


@dataclass(frozen=True)
class TokenLimits:
    """A model's context window and largest ``max_tokens``; ``known``: not assumed."""

    context_window: int
    max_output_tokens: int
    known: bool


def limits_for(
    name: str,
    *,
    context_window: int | None = None,
    description: ModelDescription | None = None,
) -> TokenLimits:
    """The one rule for a model's limits, for runs, plans and dry runs alike.

    The window is ``--context-window``, else the Models API's (``description``), else the
    catalog's, else :data:`DEFAULT_CONTEXT_WINDOW`; the output limit is the API's or the
    catalog's (else :data:`DEFAULT_MAX_OUTPUT_TOKENS`), at most half the window.
    """
    described = description or describe_from_catalog(name)
    window = described.context_window if described else None
    output = described.max_output_tokens if described else None
    chosen = context_window or window or DEFAULT_CONTEXT_WINDOW
    return TokenLimits(
        chosen,
        min(output or DEFAULT_MAX_OUTPUT_TOKENS, chosen // 2),
        context_window is not None or window is not None,
    )


def describe_from_catalog(name: str, today: dt.date | None = None) -> ModelDescription | None:
    """The catalog's description of ``name`` on ``today``, or None for a model it does not know."""
    info = model_info(name)
    if info is None:
        return None
    day = today or dt.date.today()
    return ModelDescription(
        name=name,
        context_window=info.context_window,
        max_output_tokens=info.max_output_tokens,
        capabilities=info.capabilities,
        lifecycle=info.lifecycle_on(day),
        retires=info.retires,
        replacement=info.replacement,
    )


def describe_from_api(body: dict[str, Any]) -> ModelDescription:
    """The description in a Models API ``ModelInfo`` answer (as a JSON dict).

    The catalog fills in what the API does not say: whether the model thinks without being
    asked, its default effort, the efforts at which thinking can be off, and a replacement.
    """
    name = str(body.get("id") or "")
    info = model_info(name)
    learned = capabilities_from_api(body.get("capabilities"), name)
    capabilities = _merged(learned, info) if body.get("capabilities") else _catalog_rules(info)
    retires = _date(body.get("retires_at"))
    return ModelDescription(
        name=name,
        context_window=_positive(body.get("max_input_tokens")),
        max_output_tokens=_positive(body.get("max_tokens")),
        capabilities=capabilities,
        lifecycle=str(body.get("lifecycle") or "active"),
        retires=retires or (info.retires if info else None),
        replacement=info.replacement if info else None,
        source="models api",
    )


def lifecycle_problem(
    description: ModelDescription, option: str = "--model"
) -> tuple[ConfigError | None, str | None]:
    """The error for a retired model, or the notice for a deprecated one (or neither);
    ``option`` is where the model was chosen (``--model``, ``--fallback-model``)."""
    name = description.name
    instead = f", e.g. {option} {description.replacement}" if description.replacement else ""
    if description.lifecycle == "retired":
        when = f" on {description.retires}" if description.retires else ""
        return ConfigError(
            f"model {name} was retired{when} and no longer answers requests: choose another "
            f"{option}{instead}"
        ), None
    if description.lifecycle == "deprecated":
        when = f" on {description.retires}" if description.retires else " soon"
        return (
            None,
            f"model {name} is deprecated and retires{when}: move to another {option}{instead}",
        )
    return None, None


def _merged(learned: Capabilities, info: ModelInfo | None) -> Capabilities:
    """The API's thinking types and efforts, with the catalog's defaults for the rest."""
    if info is None:
        return learned
    known = info.capabilities
    default_effort = known.default_effort if known.default_effort in learned.efforts else None
    return replace(
        learned,
        thinks_by_default=known.thinks_by_default and "adaptive" in learned.thinking_types,
        default_effort=default_effort or learned.default_effort,
        off_efforts=known.off_efforts,
        rejects_sampling=known.rejects_sampling or learned.rejects_sampling,
    )


def _catalog_rules(info: ModelInfo | None) -> Capabilities:
    return UNKNOWN_RULES if info is None else info.capabilities


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _date(value: object) -> str | None:
    """``YYYY-MM-DD`` of an RFC 3339 datetime (a string or a datetime), or None."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, str) and len(value) >= 10:
        return value[:10]
    return None
