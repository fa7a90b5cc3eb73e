"""Fitting the token estimate to a model's tokenizer, offline and against ``count_tokens``.

Offline, the estimate (:mod:`docanalyze.text.tokens`) is scaled by the model's tokenizer ratio (1.3
for Claude Opus 4.7 and later, whose tokenizer counts about 30% more tokens for the same text,
except on CJK characters: :func:`~docanalyze.text.tokens.estimate_for_tokenizer`). With a key, a
run counts a few of its own prompts with the free ``count_tokens`` endpoint once and scales that
estimate so that it covers the largest ratio seen, with a small margin; the fit is kept a day in
the run store. A count that fails leaves the offline estimate in place.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anthropic

from docanalyze.models.anthropic.catalog import tokenizer_ratio
from docanalyze.models.anthropic.error_messages import Endpoint
from docanalyze.models.anthropic.model_api import MODEL_INFO_MAX_AGE
from docanalyze.text.tokens import estimate_for_tokenizer

if TYPE_CHECKING:
    from docanalyze.store import RunStore

__all__ = ["CALIBRATION_MARGIN", "CALIBRATION_SAMPLES", "Calibration"]

log = logging.getLogger(__name__)

CALIBRATION_SAMPLES = 3
"""How many of a run's prompts are counted."""
CALIBRATION_MARGIN = 1.02
"""The calibrated estimate stays this much above the largest ratio seen."""
_COUNT_TIMEOUT = 30.0


class Calibration:
    """This model's estimate: the tokenizer's offline estimate, times a fit to ``count_tokens``."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.ratio = tokenizer_ratio(model)
        self.fit_factor = 1.0
        """The count_tokens answers over the offline estimate (1.0 until calibrated)."""
        self.calibrated = False

    def estimate(self, text: str) -> int:
        """The input tokens ``text`` costs this model (rounded up)."""
        offline = estimate_for_tokenizer(text, self.ratio)
        return math.ceil(offline * self.fit_factor) if offline else 0

    async def fit(
        self,
        client: anthropic.AsyncAnthropic,
        store: RunStore | None,
        endpoint: Endpoint,
        prompts: Sequence[str],
    ) -> None:
        """Count up to :data:`CALIBRATION_SAMPLES` of ``prompts`` and fit the factor (once)."""
        if self.calibrated:
            return
        key = f"calibration|{endpoint.address}|{self.model}"
        stored = store.get_model(key, MODEL_INFO_MAX_AGE) if store is not None else None
        if stored is not None and isinstance(stored.get("fit"), (int, float)):
            self.fit_factor, self.calibrated = float(stored["fit"]), True
            return
        samples = [prompt for prompt in prompts if prompt.strip()][:CALIBRATION_SAMPLES]
        if not samples:
            return
        try:
            counts = await asyncio.gather(*(self._count(client, text) for text in samples))
        except (anthropic.AnthropicError, TimeoutError, OSError) as error:
            log.debug("count_tokens calibration failed: %s", type(error).__name__)
            return
        ratios = [
            actual / max(1, estimate_for_tokenizer(text, self.ratio))
            for text, actual in zip(samples, counts)
        ]
        self.fit_factor = max(0.4, min(3.0, max(ratios) * CALIBRATION_MARGIN))
        self.calibrated = True
        if store is not None:
            store.put_model(key, {"fit": self.fit_factor})

    async def _count(self, client: anthropic.AsyncAnthropic, text: str) -> int:
        counted = await client.messages.count_tokens(
            model=self.model,
            messages=[{"role": "user", "content": text}],
            timeout=_COUNT_TIMEOUT,
        )
        return counted.input_tokens
