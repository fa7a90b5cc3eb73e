"""docanalyze: analyze documents far longer than a model's context window, with Claude."""

from docanalyze.errors import DocanalyzeError

__all__ = ["DocanalyzeError"]
