"""The Ray executor's driver side: connect to Ray, send each stage's batches to the cluster as tasks.

    RayExecutor.start()          ray.init (a local instance, RAY_ADDRESS, or ray://host:port);
                                 multi-node needs a remote cache; one Limiter actor per build
    RayBatches.run(work, jobs)   the engine's BatchRunner: up to ``window`` batch tasks in flight,
                                 outcomes handed back as they finish (the engine writes and
                                 records each one, as in a local run: same files, same record)
    RayExecutor.checkpoints(key) on more than one node: the stage's batch checkpoints on the
                                 remote (execution/checkpoints.py), written after each batch

Ray retries a task whose worker died (``max_retries``); the batch's request slots held by the dead
attempt are freed when the retry starts. Imported only when a build runs with ``--executor ray``:
the core never imports Ray.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.engine.dataset import BatchJob, BatchOutcome, StageWork
from ddbuild.engine.metadata import merge_counts
from ddbuild.errors import ConfigError, GenerationError, StoreError
from ddbuild.execution.checkpoints import StageCheckpoints
from ddbuild.execution.executors import ExecutorSpec
from ddbuild.execution.llmcache import StoreResponseCache
from ddbuild.execution.ray_admission import Limiter
from ddbuild.execution.ray_worker import CheckpointTarget, WorkerCache, WorkerResult, generate_batch

if TYPE_CHECKING:
    from ddbuild.engine.llm.cache import ResponseCache
    from ddbuild.store.checkpoints import RemoteCheckpoints

log = logging.getLogger("ddbuild.ray")

TASK_RETRIES = 3  # a batch whose worker process died is run again this many times


class RayExecutor:
    """One build's connection to Ray (see the module docstring); ``close`` ends what ``start`` began."""

    def __init__(self, spec: ExecutorSpec, *, settings: Any, store: Any, cwd: Path, fresh_replies: bool) -> None:
        self.spec = spec
        self.settings = settings  # settings.CacheSettings of the build, or None (a Store was injected)
        self.store = store
        self.cwd = cwd
        self.fresh_replies = fresh_replies
        self.started_ray = False
        self.limiter: Any = None
        self.cache: WorkerCache | None = None
        self.window = 2
        self.nodes = 1
        self._remote: Any = None
        self._checkpoints: RemoteCheckpoints | None = None
        self._counter = 0
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> RayExecutor:
        if self._remote is not None:
            return self
        ray = _import_ray(self.spec)
        if not ray.is_initialized():
            address = self.spec.address  # None: Ray reads RAY_ADDRESS, else starts a local instance
            try:
                ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=False)
            except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError ...
                where = address or os.environ.get("RAY_ADDRESS") or "a new local instance"
                raise ConfigError(f"--executor {self.spec}: cannot start or reach Ray ({where}): {exc}",
                                  hint="Check the address (ray://head:10001) or RAY_ADDRESS, and that the "
                                  "cluster runs the same Ray and Python versions as this machine.") from exc
            self.started_ray = True
        alive = [n for n in ray.nodes() if n.get("Alive")]
        self.nodes = max(1, len(alive))
        self.cache = WorkerCache(self._worker_settings(), self.fresh_replies, node_local=self.nodes > 1)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.window = max(2, 2 * cpus)
        _ship_project_code(self.cwd)
        self.limiter = ray.remote(num_cpus=0)(Limiter).options(max_concurrency=10_000).remote()
        self._remote = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(generate_batch)
        log.info("ray: %d node(s), %d CPUs, up to %d batches in flight", self.nodes, cpus, self.window)
        return self

    def close(self) -> None:
        if self._remote is None and not self.started_ray:
            return  # Ray was never started (nothing ran, or it is not installed)
        import ray

        self._remote = None
        if self.limiter is not None:
            ray.kill(self.limiter)
            self.limiter = None
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False

    def _worker_settings(self) -> Any:
        """Where workers cache LLM responses: the build's cache on one node; with more nodes each
        node's worker cache (``ray_worker.node_cache_dir``) with the remote behind it, uploaded to
        as one pack per batch, so every node and the driver can reach them."""
        from ddbuild.settings import CacheSettings
        from ddbuild.store.fs import FileSystemStore

        settings = self.settings
        if settings is None:  # use_store(store) without its settings: only a local directory will do
            if not isinstance(self.store, FileSystemStore) or self.store.remote or self.nodes > 1:
                raise ConfigError(
                    f"--executor {self.spec}: the build's cache is a Store given without its settings, which "
                    "Ray workers cannot open.",
                    hint="Give the cache as a directory (DataDesigner(cache=...), DDBUILD_CACHE) and any remote "
                    "as a URL (remote=..., DDBUILD_REMOTE).",
                )
            return CacheSettings(cache=Path(self.store.location))
        if self.nodes > 1:
            if not settings.remote:
                raise ConfigError(
                    f"--executor {self.spec}: the Ray cluster has {self.nodes} nodes, but the cache "
                    f"{settings.cache} is on this machine only; workers on other nodes cannot cache their LLM "
                    "responses where the others (and the next build) find them.",
                    hint="Set a remote every node can reach: --remote s3://bucket/prefix (or gs://, http(s)://, "
                    "or a directory every node mounts), DDBUILD_REMOTE, or [tool.ddbuild] remote.",
                )
            return replace(settings, remote_upload=True)
        return settings

    # -- one stage ---------------------------------------------------------------------------
    def batches(self, stage: str, checkpoints: StageCheckpoints | None = None) -> RayBatches:
        with self._lock:  # Ray starts with the first stage that runs: a no-op build never starts it
            if self._remote is None:
                self.start()
            self._counter += 1
            return RayBatches(self, f"{stage}#{self._counter}", checkpoints)

    def checkpoints(self, key: str) -> StageCheckpoints | None:
        """The stage's batch checkpoints on the remote, on a multi-node cluster (where a driver
        restarted on another machine finds them); None on one node (they stay in the local cache,
        as in a local build) and when the remote requires signatures (a checkpoint has none)."""
        with self._lock:
            if self._remote is None:
                self.start()
        settings = self.settings
        if self.nodes < 2 or settings is None or not settings.remote or settings.require_signed:
            return None
        if self._checkpoints is None:
            from ddbuild.store.checkpoints import RemoteCheckpoints

            try:
                self._checkpoints = RemoteCheckpoints.open(settings.remote)
            except StoreError as exc:
                log.warning("batch checkpoints stay on this machine: %s", exc.message)
                return None
        return StageCheckpoints(self._checkpoints, key)


class RayBatches:
    """The engine's BatchRunner on Ray for one run of one stage."""

    def __init__(self, executor: RayExecutor, name: str, checkpoints: StageCheckpoints | None = None) -> None:
        self.executor = executor
        self.name = name
        self.checkpoints = checkpoints
        self._stats: dict[str, Any] = {}

    def stats(self) -> dict[str, Any]:
        return dict(self._stats)

    def run(
        self, work: StageWork, jobs: Iterator[BatchJob], root: Path, response_cache: ResponseCache | None
    ) -> Iterator[BatchOutcome]:
        import ray

        ex = self.executor
        self._stats = {}
        work_ref = ray.put(work)
        pending: dict[Any, BatchJob] = {}
        checkpoints = self.checkpoints
        target = (CheckpointTarget(ex.settings.remote, checkpoints.key)
                  if checkpoints is not None and checkpoints.failed is None else None)

        def submit() -> bool:
            job = next(jobs, None)
            if job is None:
                return False
            token = f"{self.name}/{job.index}"
            pending[ex._remote.remote(work_ref, job, ex.cache, ex.limiter, token, target)] = job
            return True

        while len(pending) < ex.window and submit():
            pass
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ready[0])
                result = self._result(ready[0], job)
                if result.error is not None:
                    raise result.error.rebuild(job.index)
                _absorb(response_cache, result)
                self._stats = merge_counts(self._stats, result.stats) if self._stats else dict(result.stats)
                assert result.outcome is not None
                if checkpoints is not None and result.checkpointed:
                    checkpoints.uploaded(job.index, list(result.outcome.digests.values()))
                yield result.outcome
                if checkpoints is not None:  # the engine recorded the batch: now the remote's record
                    checkpoints.save(root)
                submit()
        finally:
            for ref in pending:
                ray.cancel(ref, force=False)

    def _result(self, ref: Any, job: BatchJob) -> WorkerResult:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayError as exc:
            raise GenerationError(
                f"batch {job.index} was lost on the Ray cluster after {TASK_RETRIES} retries: "
                f"{_headline(exc)}",
                hint="Completed batches are kept: build again to generate only the missing ones.",
            ) from None
        finally:
            self.executor.limiter.finish.remote(f"{self.name}/{job.index}")


def _absorb(cache: Any, result: WorkerResult) -> None:
    """Record the worker's responses on the driver's cache view (the entry lists what a stage used)."""
    if not isinstance(cache, StoreResponseCache):
        return
    for key in result.used:
        if key not in cache.digests:
            cache.used.append(key)
            cache.digests[key] = result.digests[key]
    cache.hits += result.hits
    cache.misses += result.misses
    if result.unverified and cache.unverified is None:
        cache.unverified = result.unverified


def _headline(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _import_ray(spec: ExecutorSpec) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--executor {spec} needs Ray, which is not installed here.",
                          hint="pip install 'ddbuild[ray]'") from exc
    return ray


def _ship_project_code(cwd: Path) -> None:
    """Functions from the project's own files (the build file, its helpers) travel by value to the
    workers, which cannot import them: every module loaded from under the working directory.
    Registered with Ray's own (vendored) cloudpickle, the serialiser Ray uses; the standalone
    package is not a dependency of Ray."""
    from ray import cloudpickle

    package = Path(__file__).resolve().parents[1]
    root = cwd.resolve()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if (root in path.parents) and package not in path.parents and "site-packages" not in path.parts:
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                pass  # not a module cloudpickle can ship (e.g. a package without a spec)
