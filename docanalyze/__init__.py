"""docanalyze: analyze documents far longer than a model's context window, with Claude.

>>> import docanalyze
>>> report = docanalyze.analyze("contract.pdf")          # doctest: +SKIP
>>> print(report.text)                                   # doctest: +SKIP

Everything a pipeline author needs is exported here, and everything the exported functions and
methods return or raise; the rest is internal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        UsageError,
    )
    from docanalyze.events import (
        Event,
        Notice,
        ReportText,
        RequestRetried,
        StageStarted,
        StepFinished,
    )
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
    "UsageError",
    "analyze",
    "analyze_async",
    "analyze_corpus",
    "plan_run",
    "preview_prompts",
]

_HOMES = {
    "BudgetError": "docanalyze.errors",
    "ChunkResult": "docanalyze.report",
    "ConfigError": "docanalyze.errors",
    "CorpusSummary": "docanalyze.corpus.runner",
    "CostLimitReached": "docanalyze.errors",
    "DocanalyzeError": "docanalyze.errors",
    "DocumentFailure": "docanalyze.run.several",
    "DryRun": "docanalyze.planning.dry_run",
    "Event": "docanalyze.events",
    "IncompleteRun": "docanalyze.errors",
    "InputError": "docanalyze.errors",
    "Model": "docanalyze.models.base",
    "ModelError": "docanalyze.errors",
    "ModelFeatures": "docanalyze.models.base",
    "ModelReply": "docanalyze.models.base",
    "ModelRequest": "docanalyze.models.base",
    "Notice": "docanalyze.events",
    "Options": "docanalyze.options",
    "Pipeline": "docanalyze.run.pipeline",
    "RefusedRun": "docanalyze.errors",
    "Report": "docanalyze.report",
    "ReportText": "docanalyze.events",
    "RequestRetried": "docanalyze.events",
    "RunPlan": "docanalyze.planning.plan",
    "SeveralResult": "docanalyze.run.several",
    "StageStarted": "docanalyze.events",
    "StepFinished": "docanalyze.events",
    "StoreError": "docanalyze.errors",
    "TemplateError": "docanalyze.errors",
    "Usage": "docanalyze.models.base",
    "UsageError": "docanalyze.errors",
    "analyze": "docanalyze.run.pipeline",
    "analyze_async": "docanalyze.run.pipeline",
    "analyze_corpus": "docanalyze.corpus.runner",
    "plan_run": "docanalyze.planning.plan",
    "preview_prompts": "docanalyze.planning.dry_run",
}
"""Where each public name lives: it is imported the first time it is used, so that
``import docanalyze`` (and the command line's ``--help``) stays quick."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'docanalyze' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
