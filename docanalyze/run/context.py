"""What every stage of one run shares: the prompts, the model, and the usage and cost so far.

Every request goes through :meth:`RunContext.complete`, which holds the request's worst-case cost
against ``--max-cost`` before sending it, counts the reply's usage by model and by stage, notes
which model wrote each stage, and streams the reply when asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from docanalyze.citations.verify import UnsupportedMode
from docanalyze.cost import PRICES_ENV, CostBudget, PriceTable, UsageLedger, format_usd
from docanalyze.document import Document, Page, Partial
from docanalyze.errors import ConfigError, RequestFailed
from docanalyze.events import EventHandler, Notice, RequestReasked, StepFinished, Waiting
from docanalyze.models.base import Model, ModelReply, ModelRequest, ReplyBlock, Usage
from docanalyze.prompting.budgets import Budgets
from docanalyze.prompting.cache import CacheTurn, CacheWarmup
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.run.outcomes import (
    CostStop,
    EventLog,
    Extraction,
    FailedPart,
    FailureStop,
    PartStop,
    RefusalStop,
    RefusedPart,
    Step,
)
from docanalyze.run.reasks import refusal_reask, thinking_reask

__all__ = [
    "CostStop",
    "EventLog",
    "Extraction",
    "FailedPart",
    "FailureStop",
    "PartStop",
    "RefusalStop",
    "RefusedPart",
    "RunContext",
    "Step",
    "StreamingModel",
    "supports_streaming",
    "unknown_price_message",
]

TextCallback = Callable[[str], None]
RestartCallback = Callable[[], None]
BlockCallback = Callable[[ReplyBlock], None]


class StreamingModel(Protocol):
    """A model whose ``complete`` can stream: ``on_text`` gets each delta of the reply;
    ``on_block`` (given only for a request with citable text) each text block once it ends,
    with its citations."""

    async def complete(
        self,
        request: ModelRequest,
        on_text: TextCallback | None = None,
        on_restart: RestartCallback | None = None,
        on_block: BlockCallback | None = None,
    ) -> ModelReply: ...


def supports_streaming(model: Model) -> bool:
    """Whether ``model.complete`` accepts ``on_text``/``on_restart``: as its features declare."""
    return model.features.streams


@dataclass
class RunContext:
    """The state of one run. Stages send every request through :meth:`complete`.

    ``renderer`` renders the run's prompts and builds its requests; this part sends them,
    holds their cost against ``cost_budget`` and counts what they used. ``unsupported`` is
    what the report does with a claim no page supports (``--unsupported``);
    ``cited_documents`` the pages of each document by the name report citations give it, in a
    report of several documents (else the citations are checked against :attr:`document`).
    """

    renderer: PromptRenderer
    model: Model
    emit: EventHandler
    prices: PriceTable = field(default_factory=PriceTable.from_catalog)
    cost_budget: CostBudget | None = None
    fallback_model: str | None = None
    unsupported: UnsupportedMode = "mark"
    cited_documents: dict[str, tuple[Page, ...]] = field(default_factory=dict)
    ledger: UsageLedger = field(default_factory=UsageLedger)
    stage_models: dict[str, set[str]] = field(default_factory=dict)
    extractions: list[Extraction] = field(default_factory=list)
    refusals: list[RefusedPart] = field(default_factory=list)
    failures: list[FailedPart] = field(default_factory=list)
    warmup: CacheWarmup = field(default_factory=CacheWarmup)
    _unpriced: set[str] = field(default_factory=set)
    _settled: asyncio.Event = field(default_factory=asyncio.Event)
    _in_flight: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def document(self) -> Document:
        """The document of the run."""
        return self.renderer.document

    @property
    def budgets(self) -> Budgets:
        """The run's token budgets."""
        return self.renderer.budgets

    @property
    def usage(self) -> Usage:
        """All usage so far."""
        return self.ledger.total

    @property
    def models_used(self) -> set[str]:
        """Every model that replied so far."""
        return set(self.ledger.by_model)

    async def complete(
        self,
        request: ModelRequest,
        step: Step,
        *,
        on_text: TextCallback | None = None,
        on_restart: RestartCallback | None = None,
        on_block: BlockCallback | None = None,
    ) -> ModelReply:
        """Send one request of ``step``, account for its usage (in ``step`` too) and cost.

        Raises :class:`CostStop`, without sending, when the request could break ``--max-cost``.
        With ``on_text`` the reply is streamed if the model can, else delivered whole at the end;
        ``on_block`` then gets each of its blocks (with citations) once its text has come.
        A request with a cached system prompt waits until the first one with it started replying.
        A reply cut while the model was still thinking, or refused while a fallback model is
        set, is asked again (:mod:`docanalyze.run.reasks`); only the last reply is returned.
        The stage finishes ``step`` itself (:meth:`finish`), once its work is kept.
        A reduce or final request that fails for good (:class:`RequestFailed`) stops the run
        (:class:`FailureStop`, see :meth:`record_failure`); a map request's failure is raised.
        """
        thinking_retries = 0
        while True:
            turn = await self._cache_turn(request)
            try:
                reply = await self._complete(request, step, on_text, on_restart, on_block, turn)
            except RequestFailed as error:
                if request.stage == "map":
                    raise  # the map stage records it with its chunk and pages
                self.record_failure(FailedPart(request.stage, str(error)), error)
                raise FailureStop from None
            finally:
                if turn is not None:
                    turn.started()
            retry = thinking_reask(self, request, reply, thinking_retries)
            if retry is not None:
                thinking_retries += 1
                self.reask(step, "thinking")
            else:
                retry = refusal_reask(self, request, reply)
                if retry is not None:
                    self.reask(step, "refused")
            if retry is None:
                return reply
            if on_restart is not None:
                on_restart()
            request = retry

    def reask(self, step: Step, reason: str) -> None:
        """Tell that a reply of ``step`` was no answer and is asked again (``reason``: see
        :class:`~docanalyze.events.RequestReasked`)."""
        self.emit(RequestReasked(step.stage, reason, step.level))

    def finish(self, step: Step) -> None:
        """Tell that ``step`` is done: called once per step, with the usage of all its requests."""
        self.emit(StepFinished(step.stage, step.usage, step.level))

    def record_refusal(self, part: RefusedPart) -> None:
        """Note a part of the document the model refused, for the incomplete report."""
        self.refusals.append(part)

    def record_failure(self, part: FailedPart, error: RequestFailed) -> None:
        """Note a request that failed for good, for the incomplete report; raise ``error``
        itself while no request of the run has been answered (nothing to keep: the API may be
        down for every request)."""
        if not self.ledger.by_model:
            raise error
        self.failures.append(part)

    async def _cache_turn(self, request: ModelRequest) -> CacheTurn | None:
        if not (request.cache_system and request.system):
            return None
        if self.model.features.batches:
            return None  # a batch answers its requests together: holding them would serialize
        held: list[Waiting] = []

        def hold() -> None:
            held.append(Waiting("the first request, which writes the prompt cache"))
            self.emit(held[0])

        turn = await self.warmup.enter(request.model or self.model.name, request.system, hold)
        for wait in held:
            self.emit(Waiting(wait.what, done=True))
        return turn

    async def _complete(
        self,
        request: ModelRequest,
        step: Step,
        on_text: TextCallback | None,
        on_restart: RestartCallback | None,
        on_block: BlockCallback | None,
        turn: CacheTurn | None,
    ) -> ModelReply:
        hold = await self._reserve(request)
        self._in_flight += 1
        cost: float | None = 0.0  # a request that fails is not charged
        try:
            if turn is not None and turn.writer and supports_streaming(self.model):
                on_text = _signalling_first_text(turn, on_text)
            reply = await self._send(request, on_text, on_restart, on_block)
            cost = self._account(request, reply, step.level)
        finally:
            self._settle(hold, cost)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        step.usage += reply.usage
        return reply

    def _settle(self, hold: float, cost: float | None) -> None:
        """Count a request's cost against the budget and wake the requests waiting for room."""
        if self.cost_budget is None:
            return
        self.cost_budget.settle(hold, cost)
        self._settled.set()
        self._settled = asyncio.Event()

    async def wait_for_requests_in_flight(self) -> None:
        """Return once no request is in flight (every reply sent for has been counted)."""
        while self._in_flight:
            self._idle.clear()
            await self._idle.wait()

    def record_extraction(
        self, chunk_index: int, start: int, end: int, partial: Partial, model: str
    ) -> None:
        """Keep a map reply, so that a run stopped early can still report it."""
        self.extractions.append(Extraction(chunk_index, start, end, partial, model))

    def worst_case_cost(self, request: ModelRequest) -> float:
        """The most ``request`` can cost, with whichever of the model or its fallback answers."""
        input_tokens = self.renderer.input_estimate(request)
        candidates = [request.model or self.model.name]
        if self.fallback_model:
            candidates.append(self.fallback_model)
        costs = []
        for name in candidates:
            prices = self.prices.get(name)
            if prices is None:
                raise ConfigError(unknown_price_message(name))
            costs.append(prices.worst_case(input_tokens, request.max_tokens))
        return max(costs)

    async def _reserve(self, request: ModelRequest) -> float:
        """Hold the request's worst-case cost, waiting while requests in flight may free enough.

        Raises :class:`CostStop` once nothing is in flight and the request still does not fit.
        """
        budget = self.cost_budget
        if budget is None:
            return 0.0
        hold = self.worst_case_cost(request)
        while not budget.try_reserve(hold):
            if budget.stopped:
                raise CostStop
            if budget.holds == 0:
                budget.stop(hold)
                self.emit(Notice(_stop_notice(budget, hold)))
                self._settled.set()
                raise CostStop
            settled = self._settled
            await settled.wait()
        return hold

    async def _send(
        self,
        request: ModelRequest,
        on_text: TextCallback | None,
        on_restart: RestartCallback | None,
        on_block: BlockCallback | None,
    ) -> ModelReply:
        if on_text is None:
            return await self.model.complete(request)
        if supports_streaming(self.model):
            streaming = cast(StreamingModel, self.model)
            if on_block is None or not request.citable:
                return await streaming.complete(request, on_text=on_text, on_restart=on_restart)
            return await streaming.complete(
                request, on_text=on_text, on_restart=on_restart, on_block=on_block
            )
        reply = await self.model.complete(request)
        on_text(reply.text)
        if on_block is not None:
            for block in reply.blocks:
                on_block(block)
        return reply

    def _account(self, request: ModelRequest, reply: ModelReply, level: int) -> float | None:
        """Count the reply's usage and model; return its cost (None when the price is unknown)."""
        prices = self.prices.get(reply.model)
        long_prompt = prices is not None and prices.is_long(reply.usage)
        self.ledger.add(request.stage, reply.model, reply.usage, long_prompt=long_prompt)
        part = f"reduce-{level}" if request.stage == "reduce" else request.stage
        self.stage_models.setdefault(part, set()).add(reply.model)
        cost = self.prices.cost(reply.model, reply.usage)
        if cost is None and reply.model not in self._unpriced:
            self._unpriced.add(reply.model)
            self.emit(Notice(f"{unknown_price_message(reply.model)}; its cost is not counted"))
        return cost


def _signalling_first_text(turn: CacheTurn, on_text: TextCallback | None) -> TextCallback:
    """``on_text`` that first tells ``turn`` the reply has started: the first request of a
    cached prefix is streamed, so the others can go at its first text instead of its end."""

    def forward(text: str) -> None:
        turn.started()
        if on_text is not None:
            on_text(text)

    return forward


def unknown_price_message(model: str) -> str:
    """The one-line explanation of a model without a price, with the fix."""
    return (
        f"price of model {model} unknown: add it to a JSON prices file named by {PRICES_ENV} "
        f'(e.g. {{"{model}": {{"input": 3.0, "output": 15.0}}}}, USD per million tokens)'
    )


def _stop_notice(budget: CostBudget, refused: float) -> str:
    return (
        f"stopping before exceeding --max-cost {format_usd(budget.limit)}: spent "
        f"{format_usd(budget.spent)}, and the next request could cost up to {format_usd(refused)}"
    )
