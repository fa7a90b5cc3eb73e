"""How central each unit of text is to the others: the offline analyzer ranks by it."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from docanalyze.models.extractive.textunits import terms

__all__ = ["FULL_WEIGHT_TERMS", "centrality"]

FULL_WEIGHT_TERMS = 6
"""Units with fewer terms than this are down-weighted in proportion."""


def centrality(texts: Sequence[str]) -> list[float]:
    """Each text's average cosine similarity (TF-IDF) to the others, down-weighted when short."""
    term_lists = [terms(text) for text in texts]
    count = len(term_lists)
    document_frequency = Counter(term for found in term_lists for term in set(found))
    vectors = [_unit_vector(found, document_frequency, count) for found in term_lists]
    centroid: Counter[str] = Counter()
    for vector in vectors:
        centroid.update(vector)
    scores: list[float] = []
    for found, vector in zip(term_lists, vectors):
        similarity = sum(weight * (centroid[term] - weight) for term, weight in vector.items())
        length_factor = min(1.0, len(found) / FULL_WEIGHT_TERMS)
        scores.append(similarity / max(count - 1, 1) * length_factor)
    return scores


def _unit_vector(
    found: list[str], document_frequency: Counter[str], count: int
) -> dict[str, float]:
    weights = {
        term: (1.0 + math.log(occurrences)) * math.log((count + 1) / document_frequency[term])
        for term, occurrences in Counter(found).items()
    }
    norm = math.sqrt(sum(weight * weight for weight in weights.values()))
    return {term: weight / norm for term, weight in weights.items()} if norm else {}
