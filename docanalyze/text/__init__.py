"""Language-aware text helpers that need no model: token estimates, spans, languages, wording,
and packing sized items into groups."""
