"""Corpus runs on a Ray cluster: every document analyzed in a Ray task, one limiter for all.

The driver (the process that runs ``docanalyze report DIR --ray`` or :func:`analyze_on_ray`)
expands the inputs, skips what the index says is done, keeps ``OUT/index.jsonl`` and the
progress, exactly as a corpus run on one machine (:mod:`docanalyze.corpus.runner`) does. Each
document that needs work is read, chunked, mapped, reduced and written to ``OUT`` by a task on a
worker; a task that dies with its worker is retried by Ray, and only the driver writes index
lines, once a task has returned, so a document is never recorded twice. The API key never goes
through Ray (no task argument, no ``runtime_env``): each node's workers read
``ANTHROPIC_API_KEY`` from their own environment.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from collections.abc import Sequence
from typing import Any, TypeVar

import ray

from docanalyze.corpus.files import CorpusFile
from docanalyze.corpus.runner import CorpusSummary, FileHandler, analyze_corpus_async
from docanalyze.errors import DocanalyzeError
from docanalyze.models.base import Model
from docanalyze.options import Options, check_run_shape
from docanalyze.ray.limiter import ClusterConcurrency, ClusterRateLimiter, start_rate_limiter
from docanalyze.report.formats import DEFAULT_FORMAT
from docanalyze.run.backend import create_model
from docanalyze.run.blocking import to_the_end
from docanalyze.run.context import EventLog
from docanalyze.run.documents import DocumentJob, DocumentPipeline
from docanalyze.run.pipeline import Pipeline

__all__ = ["TASK_RETRIES", "RayExecutor", "analyze_on_ray", "analyze_on_ray_async", "connect"]

Result = TypeVar("Result")

TASK_RETRIES = 3
"""How often Ray runs a document again whose worker died."""
TASK_CPUS = 0.5
"""The CPU a document's task reserves: a task mostly waits for Claude, so two share a CPU."""


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
    check_run_shape(options, on_ray=True)
    connect(address)
    limiter = start_rate_limiter(
        options.rpm, options.input_tpm, options.output_tpm, options.concurrency
    )
    resources: Any = ray.cluster_resources
    tasks_at_once = max(1, int(resources().get("CPU", 1) / TASK_CPUS))
    pipeline = Pipeline(options, on_event=on_event)
    try:
        return await analyze_corpus_async(
            pipeline,
            paths,
            output_dir,
            output_format=output_format,
            on_file=on_file,
            documents_at_once=tasks_at_once,
            executor=functools.partial(RayExecutor, limiter=limiter),
        )
    finally:
        ray.kill(limiter)


analyze_on_ray = to_the_end(analyze_on_ray_async)
analyze_on_ray.__doc__ = """Analyze every document of ``paths`` on the Ray cluster into
``output_dir``, to the end: the arguments of :func:`analyze_on_ray_async`."""


class RayExecutor:
    """The executor of a Ray run: each document's job runs in a Ray task, paced by one
    limiter for the cluster. A job whose task kept dying is the document's failure; a
    :class:`DocanalyzeError` on a worker (no key there) stops the run."""

    def __init__(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, *, limiter: Any
    ) -> None:
        self.options = pipeline.options
        self.limiter = limiter

    async def run(self, job: DocumentJob[Result]) -> Result:
        """Run ``job`` on a worker."""
        task: Any = _analyze_on_worker
        try:
            result: Result = await task.remote(self.options, job, self.limiter)
        except ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, DocanalyzeError):
                raise error.cause from None  # e.g. no key on the worker: the run cannot go on
            raise
        except ray.exceptions.RayError as error:
            return job.lost(f"the Ray task failed {TASK_RETRIES + 1} times: {type(error).__name__}")
        return result


def _remote(function: Any) -> Any:
    remote: Any = ray.remote
    return remote(num_cpus=TASK_CPUS, max_retries=TASK_RETRIES, retry_exceptions=False)(function)


@_remote
def _analyze_on_worker(options: Options, job: DocumentJob[Result], limiter: Any) -> Result:
    """One document's job, on a worker (its report written to the output folder)."""
    return asyncio.run(_run_here(options, job, limiter))


async def _run_here(options: Options, job: DocumentJob[Result], limiter: Any) -> Result:
    model, _ = create_model(
        options,
        rate_limiter=ClusterRateLimiter(limiter),
        concurrency_limiter=ClusterConcurrency(limiter),
    )
    try:
        return await job.run(Pipeline(options, client=model), model, EventLog(None), worker_name())
    finally:
        await model.aclose()


def worker_name() -> str:
    """``host/pid`` of this worker process (with its Ray node's id when in a Ray worker)."""
    name = f"{socket.gethostname()}/{os.getpid()}"
    if ray.is_initialized():
        node = ray.get_runtime_context().get_node_id()
        name = f"{node[:8]}:{name}"
    return name
