"""docanalyze: analyze documents far longer than a model's context window, with Claude.

>>> import docanalyze
>>> report = docanalyze.analyze("contract.pdf")          # doctest: +SKIP
>>> print(report.text)                                   # doctest: +SKIP

Everything a pipeline author needs is exported here; the rest is internal.
"""

from docanalyze.errors import (
    BudgetError,
    ConfigError,
    DocanalyzeError,
    InputError,
    ModelError,
    TemplateError,
)
from docanalyze.models.base import Model, ModelReply, ModelRequest, Usage
from docanalyze.options import Options
from docanalyze.report.result import ChunkResult, Report
from docanalyze.run.pipeline import Pipeline, analyze, analyze_async

__all__ = [
    "BudgetError",
    "ChunkResult",
    "ConfigError",
    "DocanalyzeError",
    "InputError",
    "Model",
    "ModelError",
    "ModelReply",
    "ModelRequest",
    "Options",
    "Pipeline",
    "Report",
    "TemplateError",
    "Usage",
    "analyze",
    "analyze_async",
]
