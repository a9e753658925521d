"""One batch of one stage on a Ray worker: generate it, cache its LLM responses, hand back its files.

    driver ──(StageWork once, BatchJob per batch)──► worker: generate_batch
                                                      ├─ LLM responses: the cache every node reaches
                                                      │   (the local cache on one node, else the remote)
                                                      ├─ requests: a slot from the cluster-wide limiter
                                                      ├─ files written to a temp dir, returned as bytes
                                                      └─ multi-node: the files uploaded to the remote
                                                          as the stage's checkpoints (CheckpointTarget)
    driver ◄── WorkerResult (outcome + files, LLM usage, responses used, or the error) ──┘

The driver writes the files into the stage's checkpoint folder and records the batch exactly as a
local run does, so the stage output is byte-identical. Errors come back as data (class name,
message, hint), never as a Ray traceback. This module imports Ray only through the limiter
handle it is given.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from ddbuild import errors
from ddbuild.config.run_config import RequestAdmissionTuningConfig
from ddbuild.engine.dataset import BatchJob, BatchOutcome, StageWork, run_batch
from ddbuild.engine.llm.limits import MIN_LIMIT, Outcome, SharedLimit
from ddbuild.execution.llmcache import StoreResponseCache


@dataclass(frozen=True)
class WorkerCache:
    """The cache a worker reads and writes LLM responses in (a settings.CacheSettings, picklable)."""

    settings: Any
    fresh_replies: bool = False  # resume=NEVER: ask the endpoint again, still store the replies

    def open(self) -> StoreResponseCache:
        from ddbuild.settings import open_cache

        return StoreResponseCache(open_cache(self.settings), read=not self.fresh_replies)


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
        outcome, stats = run_batch(work, job, folder, responses, limits)
        checkpointed = checkpoint is not None and bool(outcome.digests) and checkpoint.upload(folder, outcome.digests)
        outcome = replace(outcome, payload={rel: (folder / rel).read_bytes() for rel in outcome.digests})
        return WorkerResult(outcome, stats, responses.used, dict(responses.digests), responses.hits,
                            responses.misses, responses.unverified, checkpointed=checkpointed)
    except Exception as exc:  # noqa: BLE001 - handed to the driver as data
        return WorkerResult(None, error=_as_data(exc))
    finally:
        responses.close(raise_errors=False)  # a failed batch's replies are packed too, not left in a journal
        shutil.rmtree(folder, ignore_errors=True)


def _as_data(exc: Exception) -> WorkerError:
    node = f"{socket.gethostname()} pid {os.getpid()}"
    if isinstance(exc, errors.DDBuildError):
        attrs = {k: v for k, v in vars(exc).items() if k not in ("message", "hint") and _plain(v)}
        return WorkerError(type(exc).__name__, exc.message, exc.hint, attrs, node)
    return WorkerError("", f"{type(exc).__name__}: {exc}", None, {}, node)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, dict, list, tuple))


# ---- Cluster-wide request admission: the engine's ModelLimits interface over a Ray actor

class ClusterLimits:
    """``slot(key, limit)`` like engine.llm.limits.ModelLimits, drawing from the Limiter actor
    that every worker of the build shares (the same adaptive admission, one budget per model for
    the whole cluster). Slots are leased under this batch attempt: when its worker dies, the
    actor takes them back (see Limiter)."""

    def __init__(self, limiter: Any, token: str, tuning: RequestAdmissionTuningConfig) -> None:
        self.limiter = limiter
        self.token = token
        self.tuning = tuning
        self.attempt = uuid.uuid4().hex
        self.alive: Any = None

    def begin(self) -> None:
        import ray

        self.alive = ray.put(None)  # owned by this worker: when the worker dies, fetching it fails
        ray.get(self.limiter.begin.remote(self.token, self.attempt, [self.alive]))

    def slot(self, key: Hashable, limit: int) -> ClusterSlot:
        return ClusterSlot(self, repr(key), max(MIN_LIMIT, limit))


class ClusterSlot:
    """One model's admission for one client: ``acquire`` waits at the actor, ``release`` reports
    the attempt's outcome without waiting."""

    def __init__(self, owner: ClusterLimits, key: str, limit: int) -> None:
        self.owner, self.key, self.limit = owner, key, limit

    async def acquire(self) -> int:
        owner = self.owner
        admitted: int = await owner.limiter.acquire.remote(self.key, self.limit, owner.tuning, owner.token,
                                                           owner.attempt)
        return admitted

    def release(self, outcome: Outcome = Outcome.NEUTRAL, admitted_at: int = 0, cooldown: float = 0.0) -> None:
        owner = self.owner
        owner.limiter.release.remote(self.key, outcome.value, admitted_at, cooldown, owner.token, owner.attempt)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()


class Limiter:
    """The actor behind ClusterLimits (an async Ray actor): one engine ``SharedLimit`` per model,
    so admission (the cap, the adaptive limit, cooldowns) is the local build's, cluster-wide.

    A worker killed mid-batch never releases what it holds. So every attempt registers an object
    its worker owns; twice a second the actor fetches those objects, and an attempt whose object
    is lost (its worker died) is buried: its slots are released, and a request of it still queued
    here is released as soon as it is admitted. A retry of the same batch buries earlier attempts
    at once.
    """

    PROBE_SECONDS = 0.5

    def __init__(self) -> None:
        self.shared: dict[str, SharedLimit] = {}
        self.leases: dict[tuple[str, str], list[str]] = {}  # (token, attempt) -> keys of the slots it holds
        self.alive: dict[tuple[str, str], Any] = {}  # (token, attempt) -> an object its worker owns
        self.dead: set[tuple[str, str]] = set()
        self._reaper: asyncio.Task[None] | None = None

    def _bury(self, lease: tuple[str, str]) -> None:
        self.dead.add(lease)
        self.alive.pop(lease, None)
        for key in self.leases.pop(lease, []):
            self.shared[key].release()

    def _bury_token(self, token: str) -> None:
        for lease in [lease for lease in {*self.leases, *self.alive} if lease[0] == token]:
            self._bury(lease)

    async def begin(self, token: str, attempt: str, alive: list[Any]) -> None:
        """A batch attempt starts: earlier attempts of the same batch are dead."""
        self._bury_token(token)
        self.alive[(token, attempt)] = alive[0]
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while self.alive:
            await asyncio.sleep(self.PROBE_SECONDS)
            for lease, probe in list(self.alive.items()):
                try:
                    await asyncio.wait_for(asyncio.ensure_future(probe), 10)
                except asyncio.TimeoutError:
                    continue  # slow to answer is not dead
                except Exception:  # noqa: BLE001 - OwnerDiedError & co: the worker is gone
                    self._bury(lease)

    async def acquire(self, key: str, limit: int, tuning: RequestAdmissionTuningConfig, token: str,
                      attempt: str) -> int:
        shared = self.shared.get(key)
        if shared is None:
            shared = self.shared[key] = SharedLimit(tuning)
        shared.register(limit)
        admitted = await shared.acquire(limit)
        lease = (token, attempt)
        if lease in self.dead:
            shared.release()  # its worker is gone: nobody else would give this slot back
        else:
            self.leases.setdefault(lease, []).append(key)
        return admitted

    async def release(self, key: str, outcome: str, admitted_at: int, cooldown: float, token: str,
                      attempt: str) -> None:
        held = self.leases.get((token, attempt))
        if held and key in held:
            held.remove(key)
            self.shared[key].release(Outcome(outcome), admitted_at, cooldown)

    async def finish(self, token: str) -> None:
        """The batch is settled: release anything its attempts still hold."""
        self._bury_token(token)

    def peaks(self) -> dict[str, int]:
        return {key: shared.peak for key, shared in self.shared.items()}
