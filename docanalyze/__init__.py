"""docanalyze: analyze documents far longer than a model's context window, with Claude.

>>> import docanalyze
>>> report = docanalyze.analyze("contract.pdf")          # doctest: +SKIP
>>> print(report.text)                                   # doctest: +SKIP

Everything a pipeline author needs is exported here, and everything the exported functions and
methods return or raise; the rest is internal.
"""

from docanalyze.corpus.runner import CorpusSummary, analyze_corpus
from docanalyze.errors import (
    BudgetError,
    ConfigError,
    CostLimitReached,
    DocanalyzeError,
    IncompleteRun,
    InputError,
    ModelError,
    RefusedRun,
    StoreError,
    TemplateError,
)
from docanalyze.events import Event, Notice, ReportText, RequestRetried, StageStarted, StepFinished
from docanalyze.models.base import Model, ModelFeatures, ModelReply, ModelRequest, Usage
from docanalyze.options import Options
from docanalyze.planning.dry_run import DryRun, preview_prompts
from docanalyze.planning.plan import RunPlan, plan_run
from docanalyze.report import ChunkResult, Report
from docanalyze.run.pipeline import Pipeline, analyze, analyze_async
from docanalyze.run.several import DocumentFailure, SeveralResult

__all__ = [
    "BudgetError",
    "ChunkResult",
    "ConfigError",
    "CorpusSummary",
    "CostLimitReached",
    "DocanalyzeError",
    "DocumentFailure",
    "DryRun",
    "Event",
    "IncompleteRun",
    "InputError",
    "Model",
    "ModelError",
    "ModelFeatures",
    "ModelReply",
    "ModelRequest",
    "Notice",
    "Options",
    "Pipeline",
    "RefusedRun",
    "Report",
    "ReportText",
    "RequestRetried",
    "RunPlan",
    "SeveralResult",
    "StageStarted",
    "StepFinished",
    "StoreError",
    "TemplateError",
    "Usage",
    "analyze",
    "analyze_async",
    "analyze_corpus",
    "plan_run",
    "preview_prompts",
]
