"""Translating between our requests and replies and the Messages API's, for direct and batch calls.

:func:`request_params` is the one place that decides what a request sends, by the rules of the
model that answers it (:class:`~docanalyze.models.anthropic.capabilities.Capabilities`):

- ``thinking``: ``"on"`` sends ``{"type": "adaptive"}`` (budgeted ``enabled`` on a model that has
  only that); ``"off"`` sends the model's way of turning thinking off (``between_tools`` on
  Sonnet 5.5, ``disabled`` elsewhere), nothing on a model that does not think unless asked, and,
  on a model that always thinks, nothing but its lowest effort;
- ``output_config.effort`` only on a model with an effort parameter;
- ``output_config.format`` (``{"type": "json_schema", "schema": ...}``, the Structured outputs page
  of the Claude docs) for a request with an :attr:`~ModelRequest.output_schema`: the reply's text
  is then JSON that follows the schema, unless it was cut or refused;
- ``temperature`` only when the request sets one and the model accepts sampling parameters.

Only one user message is ever sent: no assistant prefill, no tools, no ``tool_choice``. A request
with citable text (:attr:`ModelRequest.citable`) sends it, in order, before the prompt's text
block, as the Citations and Search results pages of the Claude docs describe: a page as a
``document`` block (plain-text source, titled ``Page N``; a page image without a usable text
layer as a base64 PDF source holding just that page, as on the PDF support page), a point as a ``search_result`` block
(source ``docanalyze:point/K``, titled ``p. N``), each with ``citations: {"enabled": true}``. A
model that cannot cite reads them as text blocks instead. The reply's text blocks become
:attr:`ModelReply.blocks`, their citations pointing back into ``citable``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from anthropic.types import (
    ContentBlockParam,
    DocumentBlockParam,
    Message,
    SearchResultBlockParam,
    TextBlock,
    TextBlockParam,
    TextCitation,
)

from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.base import (
    CitableText,
    ModelReply,
    ModelRequest,
    Refusal,
    ReplyBlock,
    ReplyCitation,
    Usage,
)

__all__ = [
    "MIN_THINKING_BUDGET",
    "POINT_SOURCE",
    "citable_block",
    "output_format",
    "reply_block",
    "reply_blocks",
    "reply_from_message",
    "reply_text",
    "request_params",
    "system_param",
]

MIN_THINKING_BUDGET = 1024
"""The smallest ``budget_tokens`` of budgeted (``enabled``) thinking."""
POINT_SOURCE = "docanalyze:point/{index}"
"""The ``source`` of the search result of point ``index`` (of the request's ``citable``)."""


def system_param(request: ModelRequest) -> str | list[TextBlockParam] | None:
    """The ``system`` parameter: None when the request has none, a string, or a cached block.

    A request that asks for caching sends its system prompt as one text block marked
    ``cache_control: {"type": "ephemeral"}``.
    """
    if not request.system:
        return None
    if not request.cache_system:
        return request.system
    return [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}]


def request_params(request: ModelRequest, model: str, rules: Capabilities) -> dict[str, Any]:
    """The Messages API parameters that ask ``model`` (with ``rules``) for ``request``."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": "user", "content": user_content(request, rules)}],
    }
    system = system_param(request)
    if system is not None:
        params["system"] = system
    thinking, effort = _thinking_settings(request, rules)
    if thinking is not None:
        params["thinking"] = thinking
    output_config: dict[str, Any] = {}
    if effort is not None:
        output_config["effort"] = effort
    if request.output_schema is not None:
        output_config["format"] = output_format(request.output_schema)
    if output_config:
        params["output_config"] = output_config
    if request.temperature is not None and not rules.rejects_sampling:  # checked at load time
        params["temperature"] = request.temperature
    return params


def output_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``output_config.format`` asking for a reply in JSON that follows ``schema``."""
    return {"type": "json_schema", "schema": dict(schema)}


def user_content(request: ModelRequest, rules: Capabilities) -> str | list[ContentBlockParam]:
    """The user message: the prompt alone, or its citable texts (in order) then the prompt."""
    if not request.citable:
        return request.prompt
    blocks: list[ContentBlockParam] = [
        citable_block(index, citable, cites=rules.citations)
        for index, citable in enumerate(request.citable)
    ]
    blocks.append({"type": "text", "text": request.prompt})
    return blocks


def citable_block(index: int, citable: CitableText, *, cites: bool = True) -> ContentBlockParam:
    """The block that sends ``citable`` (number ``index`` of its request): a page as a plain-text
    ``document``, a point as a ``search_result``, citations on; for a model that can't cite
    (``cites`` False), a text block with the title on its first line."""
    if citable.pdf is not None:
        return _pdf_page_block(citable, cites)
    if not cites:
        return {"type": "text", "text": f"{citable.title}\n{citable.text}"}
    if citable.kind == "point":
        point: SearchResultBlockParam = {
            "type": "search_result",
            "source": POINT_SOURCE.format(index=index),
            "title": citable.title,
            "content": [{"type": "text", "text": citable.text}],
            "citations": {"enabled": True},
        }
        return point
    page: DocumentBlockParam = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": citable.text},
        "title": citable.title,
        "citations": {"enabled": True},
    }
    return page


def _pdf_page_block(citable: CitableText, cites: bool) -> DocumentBlockParam:
    """A page image as PDF input: a ``document`` with a base64 PDF source of just that page."""
    data = base64.b64encode(citable.pdf or b"").decode("ascii")
    page: DocumentBlockParam = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": data},
        "title": citable.title,
    }
    if cites:
        page["citations"] = {"enabled": True}
    return page


def _thinking_settings(
    request: ModelRequest, rules: Capabilities
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``thinking`` parameter and the effort of ``request`` under ``rules``."""
    if not rules.known:  # nobody describes the model: send what was asked
        return ({"type": "adaptive"} if request.thinking == "on" else None), request.effort
    effort = request.effort if request.effort in rules.efforts else None
    if request.thinking == "on":
        if "adaptive" in rules.thinking_types:
            return {"type": "adaptive"}, effort
        if "enabled" in rules.thinking_types:
            budget = max(MIN_THINKING_BUDGET, request.thinking_allowance)
            if budget < request.max_tokens:
                return {"type": "enabled", "budget_tokens": budget}, effort
        return None, effort
    if request.thinking == "off" and rules.thinks_by_default:
        off_type = rules.off_type
        if off_type is not None and rules.off_allowed_at(effort):
            return {"type": off_type}, effort
        return None, effort or rules.lowest_effort
    return None, effort


def reply_text(message: Message) -> str:
    """The text blocks of ``message``, joined (thinking and other blocks are left out)."""
    return "".join(block.text for block in message.content if isinstance(block, TextBlock))


def reply_blocks(
    message: Message, citable: Sequence[CitableText] | None = None
) -> tuple[ReplyBlock, ...]:
    """The text blocks of ``message`` with their citations, for a request that sent ``citable``
    texts (none: no blocks); with ``citable`` unknown (None), when any block cites.

    A citation's ``document_index`` or ``search_result_index`` is its source: a request's
    citable texts are all documents or all search results, sent in order. The blocks' texts
    joined are :func:`reply_text`.
    """
    count = None if citable is None else len(citable)
    blocks = tuple(
        reply_block(block, count) for block in message.content if isinstance(block, TextBlock)
    )
    wanted = any(block.citations for block in blocks) if citable is None else bool(citable)
    return blocks if wanted else ()


def reply_block(block: TextBlock, count: int | None) -> ReplyBlock:
    """Our block of a text block, with its citations that point into the ``count`` citable
    texts sent (None: any)."""
    return ReplyBlock(block.text, _citations(block.citations or (), count))


def _citations(citations: Iterable[TextCitation], count: int | None) -> tuple[ReplyCitation, ...]:
    """Our citations of a text block's ``citations`` that point into the ``count`` texts sent."""
    found: list[ReplyCitation] = []
    for citation in citations:
        if citation.type == "search_result_location":
            source = citation.search_result_index
        elif citation.type in ("char_location", "page_location", "content_block_location"):
            source = citation.document_index
        else:  # a web search result: nothing docanalyze sent
            continue
        if source >= 0 and (count is None or source < count):
            found.append(ReplyCitation(source, citation.cited_text))
    return tuple(found)


def reply_from_message(
    message: Message, duration: float, citable: Sequence[CitableText] | None = ()
) -> ModelReply:
    """Our reply: the text blocks joined (thinking and other blocks ignored), in blocks with
    their citations (:func:`reply_blocks` of ``citable``, the request's), the usage with its
    thinking tokens, and the refusal's details when the model refused."""
    text = reply_text(message)
    usage = message.usage
    details = usage.output_tokens_details
    stop = message.stop_details
    refusal = None
    if message.stop_reason == "refusal":
        refusal = Refusal(
            category=stop.category if stop else None, explanation=stop.explanation if stop else None
        )
    return ModelReply(
        text=text,
        stop_reason=str(message.stop_reason or "unknown"),
        model=message.model,
        usage=Usage(
            requests=1,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
            thinking_tokens=details.thinking_tokens if details else 0,
        ),
        duration=duration,
        refusal=refusal,
        blocks=reply_blocks(message, citable),
    )
