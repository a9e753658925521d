"""The executor: runs a Plan, independent stages concurrently (inline at -j1, else on a thread
pool), re-planning after each one settles.

    loop:
      plan(graph, ..., settled)            pure; the same planner as the dry run
      settle inline what needs no work     HIT (materialise the view), SKIPPED, ERROR (seed)
      start RUN/RESUME stages whose        up to max_parallel_stages at once; each stage run
        parents are all settled              has its own asyncio loop (and thread when > 1)
      wait for one to finish ───────────►  its real output digest goes into ``settled``, so the
                                           next plan turns its PENDING children into HIT (early
                                           cutoff) or RUN

A failure stops starting new stages; stages already running finish (and are published), then the
first error is raised. With ``keep_going`` the other branches go on: the failed stage is settled
as ERROR and the planner SKIPS its descendants (``UPSTREAM_FAILED`` naming it); the log lists
the failures and the caller raises ``StagesFailed`` after writing results and metadata.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ddbuild.errors import DDBuildError, ModelConfigError, ResumeError, SeedError
from ddbuild.execution.context import BuildContext
from ddbuild.execution.events import SerialReporter, StageFinished
from ddbuild.execution.settle import StageRecord, as_settled, hit, prepare_build, skipped
from ddbuild.planning.graph import Graph
from ddbuild.planning.plan import Plan, Reason, ReasonKind, StageDecision, Status
from ddbuild.planning.planner import Facts, Options, Settled, plan
from ddbuild.planning.storeview import StoreView

__all__ = ["BuildLog", "Scheduling", "StageRecord", "execute", "planned_error"]


@dataclass(frozen=True)
class Scheduling:
    """How stages are scheduled (never part of a key: it changes speed, not data)."""

    max_parallel_stages: int = 1  # make -j; 1 = one stage at a time, on the calling thread
    keep_going: bool = False  # make -k; finish independent branches after a failure


@dataclass
class BuildLog:
    records: dict[str, StageRecord] = field(default_factory=dict)  # in settle order
    plans: list[Plan] = field(default_factory=list)
    failures: dict[str, BaseException] = field(default_factory=dict)  # stage -> error, in order
    started: dict[str, StageDecision] = field(default_factory=dict)  # the decision each build ran


def execute(
    graph: Graph, targets: list[str], view: StoreView, facts: Facts, options: Options, ctx: BuildContext,
    scheduling: Scheduling = Scheduling(),
) -> BuildLog:
    """Settle every stage of the targets' closure (see the module docstring)."""
    log = BuildLog()
    settled: dict[str, Settled] = {}
    pool = StagePool(scheduling.max_parallel_stages)
    if pool.threaded:
        ctx = replace(ctx, reporter=SerialReporter(ctx.reporter))
    while True:
        current = plan(graph, targets, view, facts, options, settled)
        log.plans.append(current)
        stopping = bool(log.failures) and not scheduling.keep_going
        if not stopping and _dispatch(graph, current, facts, ctx, log, settled, pool, options.workflow):
            continue  # something settled inline: re-plan before starting more
        if not pool.running:
            break
        name, record, error = pool.wait()
        decision = log.started[name]
        if error is not None:
            _fail(decision, error, ctx, log, settled)
        else:
            log.records[name] = record
            settled[name] = as_settled(record, facts)
    if log.failures and not scheduling.keep_going:
        name, error = next(iter(log.failures.items()))
        if isinstance(error, DDBuildError) and error.stage is None:
            error.stage = name  # the report names this stage, not whichever finished last (-j)
        raise error
    return log


def _dispatch(
    graph: Graph, current: Plan, facts: Facts, ctx: BuildContext, log: BuildLog,
    settled: dict[str, Settled], pool: StagePool, workflow: str,
) -> bool:
    """Start every ready stage the pool has room for; True when one was settled inline."""
    for decision in current.stages:
        name = decision.name
        if name in settled or name in pool.running or decision.status == Status.PENDING:
            continue
        if any(p not in settled for p in decision.depends_on):
            continue  # a parent that is a HIT in this plan is materialised first
        if decision.status in (Status.RUN, Status.RESUME):
            if pool.has_room:
                log.started[name] = decision
                try:
                    job = prepare_build(graph, decision, facts, ctx, log.records)
                except Exception as error:  # noqa: BLE001 - e.g. a parent blob vanished
                    _fail(decision, error, ctx, log, settled)
                    return True
                pool.submit(name, functools.partial(job.run, ctx, workflow))
            continue
        try:
            record = _settle_inline(graph, decision, facts, ctx)
        except Exception as error:  # noqa: BLE001 - recorded; re-raised unless keep-going
            _fail(decision, error, ctx, log, settled)
            return True
        log.records[name] = record
        settled[name] = as_settled(record, facts)
        return True
    return False


def _settle_inline(graph: Graph, decision: StageDecision, facts: Facts, ctx: BuildContext) -> StageRecord:
    if decision.status == Status.SKIPPED:
        return skipped(decision, ctx)
    if decision.status == Status.ERROR:
        raise planned_error(decision)
    return hit(graph[decision.name], decision, facts, ctx)


def planned_error(decision: StageDecision) -> DDBuildError:
    """The error of a stage planned as ERROR: what the build raises before any stage runs, and
    what --explain/status exit with after printing the plan (the exit code is the class's)."""
    detail = decision.reasons[0].detail if decision.reasons else f"stage '{decision.name}' cannot run"
    kind = decision.reasons[0].kind if decision.reasons else None
    if kind == ReasonKind.NOT_RESUMABLE:
        return ResumeError(detail, hint="Use resume=IF_POSSIBLE (--resume if_possible) to rebuild what changed.")
    if kind == ReasonKind.MODEL_INVALID:
        return ModelConfigError(detail)
    return SeedError(detail)


def _fail(
    decision: StageDecision, error: BaseException, ctx: BuildContext, log: BuildLog, settled: dict[str, Settled]
) -> None:
    """Settle a failed stage as ERROR: the planner then skips its descendants."""
    if not isinstance(error, Exception):
        raise error  # KeyboardInterrupt / SystemExit from a worker: stop now
    reason = Reason(ReasonKind.FAILED, f"{type(error).__name__}: {error}")
    log.records[decision.name] = StageRecord(decision, Status.ERROR, error=error)
    log.failures[decision.name] = error
    settled[decision.name] = Settled(Status.ERROR, decision.key, None, None, reasons=(reason,))
    ctx.reporter.emit(StageFinished(decision.name, Status.ERROR, decision.key))


# ---- Where stage builds run: inline on the caller's thread (-j1) or on up to N worker threads

Outcome = tuple[str, Any, BaseException | None]  # (stage, result, error)


class StagePool:
    """Runs stage jobs and hands back their outcomes one at a time, in completion order.

    With ``max_parallel == 1`` a job runs inline when submitted (the order, the thread, and
    Ctrl-C behave exactly as a sequential build). Otherwise each job gets a daemon thread (each
    stage run creates its own asyncio loop there); Ctrl-C interrupts the scheduling thread, the
    process exits, and the next build resumes from the batch checkpoints already written.
    """

    def __init__(self, max_parallel: int) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel_stages must be at least 1")
        self.max_parallel = max_parallel
        self.running: set[str] = set()
        self._done: queue.Queue[Outcome] = queue.Queue()

    @property
    def threaded(self) -> bool:
        return self.max_parallel > 1

    @property
    def has_room(self) -> bool:
        return len(self.running) < self.max_parallel

    def submit(self, name: str, job: Callable[[], Any]) -> None:
        self.running.add(name)
        if not self.threaded:
            self._done.put(_call(name, job, Exception))
            return
        thread = threading.Thread(
            target=lambda: self._done.put(_call(name, job, BaseException)), name=f"ddbuild-stage-{name}", daemon=True
        )
        thread.start()

    def wait(self) -> Outcome:
        """The next finished job (blocks; Ctrl-C still interrupts the waiting thread)."""
        outcome = self._done.get()
        self.running.discard(outcome[0])
        return outcome


def _call(name: str, job: Callable[[], Any], catch: type[BaseException]) -> Outcome:
    try:
        return name, job(), None
    except catch as error:  # handed to the scheduler, which records or re-raises it
        return name, None, error

