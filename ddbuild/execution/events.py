"""Progress events of a build and the Reporter protocol that receives them (never prints itself).

Every event here is emitted by the execution layer (see the emit sites in settle.py, build.py and
executor.py). Warnings are events too: a reporter decides whether and how to show them. With no
reporter (library use) a build gets ``LoggingReporter``, which hands warnings to the ``ddbuild``
logger and drops progress; the CLI routes that logger into its own reporter (cli/warnroute.py).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol, Union, runtime_checkable

from ddbuild.planning.plan import Plan, Status


@dataclass(frozen=True)
class PlanReady:
    plan: Plan


@dataclass(frozen=True)
class StageStarted:
    stage: str
    status: Status  # RUN or RESUME: how this build generates the stage (RESUME only if checkpoints exist)
    key: str | None
    rows_total: int | None = None  # the rows the stage generates (known once its seed is laid out)


@dataclass(frozen=True)
class StageFinished:
    stage: str
    status: Status  # how the stage was satisfied: HIT, RUN, RESUME, SKIPPED, ERROR
    key: str | None
    rows: int | None = None
    rows_generated: int = 0
    duration_s: float = 0.0
    llm_requests_sent: int | None = None  # RUN/RESUME: requests THIS build sent (not a resumed-from run's)
    llm_requests_cached: int | None = None  # ... and answered from the response cache
    tokens: int | None = None  # ... prompt + completion tokens of the requests sent
    dropped_rows: dict[str, int] = field(default_factory=dict)  # rows dropped for data reasons, per reason


@dataclass(frozen=True)
class BatchDone:
    stage: str
    rows_done: int
    rows_total: int
    batches_done: int = 0  # batches of this stage run durable so far (reused checkpoints included) ...
    batches_total: int = 0  # ... of how many
    llm_requests_sent: int = 0  # this stage run's LLM requests so far (on every worker, with --executor ray)
    llm_requests_cached: int = 0  # ... and those answered from the response cache


@dataclass(frozen=True)
class LLMRequestsInFlight:
    stage: str
    in_flight: int  # requests of this stage waiting for their reply right now


@dataclass(frozen=True)
class WarningEvent:
    message: str
    stage: str | None = None

    def text(self) -> str:
        """``stage: message`` (or the message alone): how every reporter words a warning."""
        return f"{self.stage}: {self.message}" if self.stage else self.message


Event = Union[PlanReady, StageStarted, StageFinished, BatchDone, LLMRequestsInFlight, WarningEvent]

# The wire name of each event (``--json``'s "event" field, docs/cli.md).
EVENT_NAMES: dict[type, str] = {
    PlanReady: "plan_ready",
    StageStarted: "stage_started",
    StageFinished: "stage_finished",
    BatchDone: "batch_done",
    LLMRequestsInFlight: "llm_requests_in_flight",
    WarningEvent: "warning",
}


@runtime_checkable
class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...


class NullReporter:
    """Discards every event."""

    def emit(self, event: Event) -> None:
        return None


class LoggingReporter:
    """The default for library use: warnings go to the ``ddbuild`` logger, progress is dropped."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("ddbuild.workflow")

    def emit(self, event: Event) -> None:
        if isinstance(event, WarningEvent):
            self.logger.warning("%s", event.text())


class SerialReporter:
    """Forwards events one at a time, from any thread (reporters need not be thread-safe)."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self._lock = threading.RLock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.inner.emit(event)


@dataclass
class RecordingReporter:
    """Keeps every event in memory (the fake for tests)."""

    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of_type(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def finished(self) -> dict[str, Status]:
        """Stage name -> how it was satisfied."""
        return {e.stage: e.status for e in self.events if isinstance(e, StageFinished)}
