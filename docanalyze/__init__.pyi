"""The public names of docanalyze, each written once: type checkers read them here, and
``docanalyze/__init__.py`` imports each from its module the first time it is used."""

from .corpus.runner import (
    CorpusSummary as CorpusSummary,
)
from .corpus.runner import (
    analyze_corpus as analyze_corpus,
)
from .errors import (
    BudgetError as BudgetError,
)
from .errors import (
    ConfigError as ConfigError,
)
from .errors import (
    CostLimitReached as CostLimitReached,
)
from .errors import (
    DocanalyzeError as DocanalyzeError,
)
from .errors import (
    IncompleteRun as IncompleteRun,
)
from .errors import (
    InputError as InputError,
)
from .errors import (
    ModelError as ModelError,
)
from .errors import (
    RefusedRun as RefusedRun,
)
from .errors import (
    StoreError as StoreError,
)
from .errors import (
    TemplateError as TemplateError,
)
from .events import (
    Event as Event,
)
from .events import (
    Notice as Notice,
)
from .events import (
    ReportText as ReportText,
)
from .events import (
    RequestRetried as RequestRetried,
)
from .events import (
    StageStarted as StageStarted,
)
from .events import (
    StepFinished as StepFinished,
)
from .models.base import (
    Model as Model,
)
from .models.base import (
    ModelFeatures as ModelFeatures,
)
from .models.base import (
    ModelReply as ModelReply,
)
from .models.base import (
    ModelRequest as ModelRequest,
)
from .models.base import (
    Usage as Usage,
)
from .options import (
    Options as Options,
)
from .planning.dry_run import (
    DryRun as DryRun,
)
from .planning.dry_run import (
    preview_prompts as preview_prompts,
)
from .planning.plan import (
    RunPlan as RunPlan,
)
from .planning.plan import (
    plan_run as plan_run,
)
from .report import (
    ChunkResult as ChunkResult,
)
from .report import (
    Report as Report,
)
from .run.pipeline import (
    Pipeline as Pipeline,
)
from .run.pipeline import (
    analyze as analyze,
)
from .run.pipeline import (
    analyze_async as analyze_async,
)
from .run.several import (
    DocumentFailure as DocumentFailure,
)
from .run.several import (
    SeveralResult as SeveralResult,
)
