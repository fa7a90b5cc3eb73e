"""What the offline extractive analyzer declares, and the notice of ``auto`` choosing it: what the
backend registry needs of it without loading the analyzer."""

from __future__ import annotations

from docanalyze.models.base import ModelFeatures

__all__ = ["EXTRACTIVE_FEATURES", "NO_KEY_NOTICE"]

EXTRACTIVE_FEATURES = ModelFeatures(backend="extractive", offline=True, citations=True)
"""Offline: it quotes the document, takes no thinking, sampling or cache settings; given
citable texts, it cites them (:mod:`docanalyze.models.extractive.citing`)."""

NO_KEY_NOTICE = (
    "ANTHROPIC_API_KEY is not set: using the offline extractive analyzer; "
    "set it to analyze with Claude"
)
