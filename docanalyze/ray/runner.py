"""Corpus runs on a Ray cluster: every document analyzed in a Ray task, one limiter for all.

The driver (the process that runs ``docanalyze report DIR --ray`` or :func:`analyze_on_ray`)
expands the inputs, skips what the index says is done, keeps ``OUT/index.jsonl`` and the
progress, exactly as a corpus run on one machine (:mod:`docanalyze.corpus.runner`) does. Each
document that needs work is read, chunked, mapped, reduced and written to ``OUT`` by the
workers of a node (:class:`DocumentWorker`, one per CPU of the node): each analyzes many
documents at once with one Claude client paced by the cluster's limiter, and reads one document
at a time, so that a node reads as many documents at once as it has CPUs. The driver sends the next document while the cluster's limiter has room
(:class:`~docanalyze.run.admission.ByHeadroom` reading :class:`ClusterGauge`), not a fixed
number a CPU. A document whose worker dies is sent again by Ray (to the worker restarted), and
only the driver writes index lines, once a document has come back, so a document is never
recorded twice. The API key never goes
through Ray (no task argument, no ``runtime_env``): each node's workers read
``ANTHROPIC_API_KEY`` from their own environment.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from docanalyze.corpus.files import CorpusFile
from docanalyze.corpus.runner import CorpusSummary, FileHandler, analyze_corpus_async
from docanalyze.errors import DocanalyzeError
from docanalyze.models.base import Model
from docanalyze.options import Options, check_run_shape
from docanalyze.ray.limiter import (
    ClusterConcurrency,
    ClusterGauge,
    ClusterRateLimiter,
    start_rate_limiter,
)
from docanalyze.records.corpus import CorpusRecords, extract_corpus_async
from docanalyze.records.schema import SchemaSource
from docanalyze.report.formats import DEFAULT_FORMAT, DEFAULT_TABLE_FORMAT
from docanalyze.run import admission
from docanalyze.run.backend import create_model
from docanalyze.run.blocking import to_the_end
from docanalyze.run.context import EventLog
from docanalyze.run.documents import DocumentJob, DocumentPipeline, ExecutorFactory
from docanalyze.run.pipeline import Pipeline

__all__ = [
    "TASK_RETRIES",
    "DocumentWorker",
    "RayExecutor",
    "analyze_on_ray",
    "analyze_on_ray_async",
    "connect",
    "extract_on_ray",
    "extract_on_ray_async",
    "on_cluster",
    "start_workers",
]

Result = TypeVar("Result")

TASK_RETRIES = 3
"""How often Ray runs a document again whose worker died."""


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address``, else ``RAY_ADDRESS``, else start a local Ray
    (``local``); nothing when this process is connected already."""
    if ray.is_initialized():
        return
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    if target == "local":
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=target, log_to_driver=False)


@asynccontextmanager
async def on_cluster(
    options: Options, address: str | None = None
) -> AsyncIterator[tuple[ExecutorFactory, ClusterGauge]]:
    """The executor of a corpus run on the Ray cluster at ``address`` (see :func:`connect`)
    and the gauge of its one limiter; the workers and the limiter are stopped at the end."""
    check_run_shape(options, on_ray=True)
    connect(address)
    limiter = start_rate_limiter(
        options.rpm, options.input_tpm, options.output_tpm, options.concurrency
    )
    workers = start_workers(options, limiter)
    try:
        yield functools.partial(RayExecutor, workers=workers), ClusterGauge(limiter)
    finally:
        for actor in [*workers, limiter]:
            ray.kill(actor)


async def analyze_on_ray_async(
    options: Options,
    paths: Sequence[str] | Sequence[CorpusFile],
    output_dir: str | os.PathLike[str],
    *,
    output_format: str = DEFAULT_FORMAT,
    on_file: FileHandler | None = None,
    address: str | None = None,
    on_event: Any = None,
) -> CorpusSummary:
    """Analyze every document of ``paths`` (folders, globs, files; or the files that
    :func:`docanalyze.corpus.files.expand_inputs` made of them) on the Ray cluster into
    ``output_dir``: the same reports and ``index.jsonl`` as a corpus run on one machine, so a
    re-run resumes, with or without Ray.

    :func:`analyze_on_ray` takes the same arguments and runs to the end before it returns."""
    async with on_cluster(options, address) as (executor, gauge):
        return await analyze_corpus_async(
            Pipeline(options, on_event=on_event),
            paths,
            output_dir,
            output_format=output_format,
            on_file=on_file,
            executor=executor,
            gauge=gauge,
        )


analyze_on_ray = to_the_end(analyze_on_ray_async)
analyze_on_ray.__doc__ = """Analyze every document of ``paths`` on the Ray cluster into
``output_dir``, to the end: the arguments of :func:`analyze_on_ray_async`."""


async def extract_on_ray_async(
    options: Options,
    paths: Sequence[str] | Sequence[CorpusFile],
    output_dir: str | os.PathLike[str],
    schema: SchemaSource,
    *,
    key: Sequence[str] = (),
    output_format: str = DEFAULT_TABLE_FORMAT,
    on_file: FileHandler | None = None,
    address: str | None = None,
    on_event: Any = None,
) -> CorpusRecords:
    """Extract the records ``schema`` describes from every document of ``paths`` on the Ray
    cluster into ``output_dir``: the same tables, combined table and ``index.jsonl`` as
    :func:`docanalyze.records.corpus.extract_corpus` on one machine (a re-run resumes, with
    or without Ray). :func:`extract_on_ray` runs it to the end."""
    async with on_cluster(options, address) as (executor, gauge):
        return await extract_corpus_async(
            Pipeline(options, on_event=on_event),
            paths,
            output_dir,
            schema,
            key=key,
            output_format=output_format,
            on_file=on_file,
            executor=executor,
            gauge=gauge,
        )


extract_on_ray = to_the_end(extract_on_ray_async)
extract_on_ray.__doc__ = """Extract the records of every document of ``paths`` on the Ray
cluster into ``output_dir``, to the end: the arguments of :func:`extract_on_ray_async`."""


class RayExecutor:
    """The executor of a Ray run: each document's job goes to the worker with the fewest
    documents in progress (in turn among equals). A job whose worker kept dying is the document's failure; a
    :class:`DocanalyzeError` on a worker (no key there) stops the run."""

    def __init__(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, *, workers: list[Any]
    ) -> None:
        self.busy = dict.fromkeys(range(len(workers)), 0)
        self.workers = workers
        self.next = 0

    async def run(self, job: DocumentJob[Result]) -> Result:
        """Run ``job`` on a node's worker."""
        count, after = len(self.workers), self.next
        chosen = min(self.busy, key=lambda k: (self.busy[k], (k - after) % count))
        self.busy[chosen] += 1
        self.next = chosen + 1
        try:
            result: Result = await self.workers[chosen].run.remote(job)
        except ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, DocanalyzeError):
                raise error.cause from None  # e.g. no key on the worker: the run cannot go on
            raise
        except ray.exceptions.RayError as error:
            return job.lost(f"the Ray task failed {TASK_RETRIES + 1} times: {type(error).__name__}")
        finally:
            self.busy[chosen] -= 1
        return result


class DocumentWorker:
    """One of a node's workers (a Ray actor, one per CPU): many documents at once in one event
    loop, with one Claude client paced by the cluster's limiter, one document read at a time."""

    def __init__(self, options: Options, limiter: Any) -> None:
        admission.READERS = 1
        self.options = options
        self.limiter = limiter
        self.model: Model | None = None

    async def run(self, job: DocumentJob[Result]) -> Result:
        """One document's job here (its report written to the output folder)."""
        if self.model is None:
            self.model, _ = create_model(
                self.options,
                rate_limiter=ClusterRateLimiter(self.limiter),
                concurrency_limiter=ClusterConcurrency(self.limiter),
            )
        pipeline = Pipeline(self.options, client=self.model)
        return await job.run(pipeline, self.model, EventLog(None), worker_name())


def start_workers(options: Options, limiter: Any) -> list[Any]:
    """A :class:`DocumentWorker` per CPU of each node of the cluster (it reserves no CPU: it
    mostly waits for Claude); Ray restarts one that dies and sends its documents again."""
    remote: Any = ray.remote
    worker_class = remote(
        num_cpus=0,
        max_concurrency=10_000,
        max_restarts=TASK_RETRIES,
        max_task_retries=TASK_RETRIES,
    )(DocumentWorker)
    nodes: Any = ray.nodes
    workers = []
    for node in nodes():
        cpus = int(node.get("Resources", {}).get("CPU", 0)) if node.get("Alive") else 0
        placement = NodeAffinitySchedulingStrategy(node["NodeID"], soft=True)
        for _ in range(cpus):
            worker = worker_class.options(scheduling_strategy=placement)
            workers.append(worker.remote(options, limiter))
    return workers or [worker_class.remote(options, limiter)]


def worker_name() -> str:
    """``host/pid`` of this worker process (with its Ray node's id when in a Ray worker)."""
    name = f"{socket.gethostname()}/{os.getpid()}"
    if ray.is_initialized():
        node = ray.get_runtime_context().get_node_id()
        name = f"{node[:8]}:{name}"
    return name
