"""The public names of docanalyze, each written once: type checkers read them here, and
``docanalyze/__init__.py`` imports each from its module the first time it is used."""

from .corpus.runner import (
    CorpusSummary as CorpusSummary,
    analyze_corpus as analyze_corpus,
)
from .errors import (
    BudgetError as BudgetError,
    ConfigError as ConfigError,
    CostLimitReached as CostLimitReached,
    DocanalyzeError as DocanalyzeError,
    FailedRun as FailedRun,
    IncompleteRun as IncompleteRun,
    InputError as InputError,
    ModelError as ModelError,
    RefusedRun as RefusedRun,
    SchemaError as SchemaError,
    StoreError as StoreError,
    TemplateError as TemplateError,
    UsageError as UsageError,
)
from .events import (
    Event as Event,
    Notice as Notice,
    ReportText as ReportText,
    RequestReasked as RequestReasked,
    RequestRetried as RequestRetried,
    StageStarted as StageStarted,
    StepFinished as StepFinished,
    Waiting as Waiting,
)
from .models.base import (
    Model as Model,
    ModelFeatures as ModelFeatures,
    ModelReply as ModelReply,
    ModelRequest as ModelRequest,
    Usage as Usage,
)
from .options import (
    Options as Options,
)
from .planning.corpus import (
    CorpusPlan as CorpusPlan,
    plan_corpus as plan_corpus,
)
from .planning.dry_run import (
    DryRun as DryRun,
    preview_extraction as preview_extraction,
    preview_prompts as preview_prompts,
)
from .planning.extraction import (
    plan_extraction as plan_extraction,
)
from .planning.plan import (
    RunPlan as RunPlan,
    plan_run as plan_run,
)
from .records.api import (
    extract as extract,
    extract_async as extract_async,
)
from .records.record import (
    Record as Record,
    RecordTable as RecordTable,
)
from .records.result import (
    ExtractResult as ExtractResult,
)
from .records.schema import (
    RecordSchema as RecordSchema,
)
from .report import (
    ChunkResult as ChunkResult,
    Report as Report,
)
from .run.pipeline import (
    Pipeline as Pipeline,
    analyze as analyze,
    analyze_async as analyze_async,
)
from .run.several import (
    DocumentFailure as DocumentFailure,
    SeveralResult as SeveralResult,
)
