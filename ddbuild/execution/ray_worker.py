"""One batch of one stage on a Ray worker: generate it, cache its LLM responses, hand back its files.

    driver ──(StageWork once, BatchJob per batch)──► worker: generate_batch
                                                      ├─ LLM responses: the cache every node reaches
                                                      │   (the local cache on one node, else the remote)
                                                      ├─ requests: slots leased from the cluster-wide
                                                      │   limiter (ray_admission.py)
                                                      ├─ HTTP: the worker process's open connections,
                                                      │   reused by its next batch
                                                      ├─ files written to a temp dir, returned as bytes
                                                      └─ multi-node: the files uploaded to the remote
                                                          as the stage's checkpoints (CheckpointTarget)
    driver ◄── WorkerResult (outcome + files, LLM usage, responses used, or the error) ──┘

The driver writes the files into the stage's checkpoint folder and records the batch exactly as a
local run does, so the stage output is byte-identical. Errors come back as data (class name,
message, hint), never as a Ray traceback. This module imports Ray only through the limiter
(ray_admission.py).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from ddbuild import errors
from ddbuild.config.run_config import RequestAdmissionTuningConfig
from ddbuild.engine.dataset import BatchJob, BatchOutcome, StageWork, run_batch
from ddbuild.execution.llmcache import StoreResponseCache
from ddbuild.execution.ray_admission import ClusterLimits

if TYPE_CHECKING:
    from ddbuild.engine.llm.sessions import SessionPool


@dataclass(frozen=True)
class WorkerCache:
    """The cache a worker reads and writes LLM responses in (a settings.CacheSettings, picklable).

    ``node_local`` (more than one node): the local layer is this node's worker cache
    (``node_cache_dir``), not the driver's cache path, so every build with the same remote finds on
    a node the replies a killed worker there had journaled but not packed yet, whichever machine
    its driver runs on; the remote behind it is where every node and the driver meet.
    """

    settings: Any
    fresh_replies: bool = False  # resume=NEVER: ask the endpoint again, still store the replies
    node_local: bool = False

    def open(self) -> StoreResponseCache:
        from ddbuild.settings import open_cache

        settings = self.settings
        if self.node_local:
            settings = replace(settings, cache=node_cache_dir(str(settings.remote)))
        return StoreResponseCache(open_cache(settings), read=not self.fresh_replies)


#: The base of a node's worker caches (default ``$XDG_CACHE_HOME/ddbuild/ray-workers``, else
#: ``~/.cache/ddbuild/ray-workers``), read on the worker's node.
WORKER_CACHE_ENV = "DDBUILD_WORKER_CACHE"


def node_cache_dir(remote: str) -> Path:
    """This node's worker cache for builds sharing ``remote`` (one folder per remote URL)."""
    base = os.environ.get(WORKER_CACHE_ENV)
    if base:
        root = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "ddbuild" / "ray-workers"
    return root / xxhash.xxh3_128_hexdigest(remote.encode("utf-8"))[:16]


@dataclass(frozen=True)
class WorkerError:
    """An exception raised on a worker, as data the driver turns back into a ddbuild error."""

    kind: str  # class name in ddbuild.errors; "" for any other exception
    message: str
    hint: str | None
    attrs: dict[str, Any]
    node: str

    def rebuild(self, batch: int) -> errors.DDBuildError:
        cls = getattr(errors, self.kind, None) if self.kind else None
        if not (isinstance(cls, type) and issubclass(cls, errors.DDBuildError)):
            cls = errors.GenerationError
        error = cls.__new__(cls)
        error.__dict__.update(self.attrs)
        errors.DDBuildError.__init__(error, f"{self.message} (batch {batch}, Ray worker on {self.node})",
                                     hint=self.hint)
        return error


@dataclass
class WorkerResult:
    outcome: BatchOutcome | None
    stats: dict[str, Any] = field(default_factory=dict)
    used: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    unverified: str | None = None
    error: WorkerError | None = None
    checkpointed: bool = False  # the batch's files are on the remote (checkpoints of the stage key)


@dataclass(frozen=True)
class CheckpointTarget:
    """Where a worker uploads its batch's files: the remote's URL and the stage key (multi-node)."""

    remote: str
    key: str

    def upload(self, folder: Path, digests: dict[str, str]) -> bool:
        """Upload every file; False when the remote failed (the driver uploads them then)."""
        from ddbuild.store.checkpoints import RemoteCheckpoints

        try:
            remote = RemoteCheckpoints.open(self.remote)
            for rel, digest in digests.items():
                remote.put_file(self.key, folder / rel, digest)
        except (errors.StoreError, OSError):  # never the batch's failure: its bytes still go to the driver
            return False
        return True


def generate_batch(work: StageWork, job: BatchJob, cache: WorkerCache, limiter: Any, token: str,
                   checkpoint: CheckpointTarget | None = None) -> WorkerResult:
    """Generate ``job`` here (see the module docstring); never raises for a failure of the batch."""
    responses = cache.open()
    tuning = work.run_config.request_admission or RequestAdmissionTuningConfig()
    limits = ClusterLimits(limiter, token, tuning) if limiter is not None else None
    if limits is not None:
        limits.begin()
    folder = Path(tempfile.mkdtemp(prefix=f"ddbuild-batch-{job.index}-"))
    try:
        outcome, stats = run_batch(work, job, folder, responses, limits, _sessions())
        checkpointed = checkpoint is not None and bool(outcome.digests) and checkpoint.upload(folder, outcome.digests)
        outcome = replace(outcome, payload={rel: (folder / rel).read_bytes() for rel in outcome.digests})
        return WorkerResult(outcome, stats, responses.used, dict(responses.digests), responses.hits,
                            responses.misses, responses.unverified, checkpointed=checkpointed)
    except Exception as exc:  # noqa: BLE001 - handed to the driver as data
        return WorkerResult(None, error=_as_data(exc))
    finally:
        if limits is not None:
            limits.end()
        responses.close(raise_errors=False)  # a failed batch's replies are packed too, not left in a journal
        shutil.rmtree(folder, ignore_errors=True)


_SESSIONS: SessionPool | None = None


def _sessions() -> SessionPool:
    """This worker process's HTTP sessions: its next batch reuses the connections the last one opened."""
    global _SESSIONS
    if _SESSIONS is None:
        from ddbuild.engine.llm.sessions import SessionPool

        _SESSIONS = SessionPool()
        atexit.register(_SESSIONS.close)
    return _SESSIONS


def _as_data(exc: Exception) -> WorkerError:
    node = f"{socket.gethostname()} pid {os.getpid()}"
    if isinstance(exc, errors.DDBuildError):
        attrs = {k: v for k, v in vars(exc).items() if k not in ("message", "hint") and _plain(v)}
        return WorkerError(type(exc).__name__, exc.message, exc.hint, attrs, node)
    return WorkerError("", f"{type(exc).__name__}: {exc}", None, {}, node)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, dict, list, tuple))
