"""Checking a report's citations against the document's own page text, in code, not by the model."""
