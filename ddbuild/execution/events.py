"""Progress events of a build and the Reporter protocol that receives them (never prints itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Union, runtime_checkable

from ddbuild.planning.plan import Plan, Status


@dataclass(frozen=True)
class PlanReady:
    plan: Plan


@dataclass(frozen=True)
class StageStarted:
    stage: str
    status: Status  # RUN or RESUME (HIT stages also get Started/Finished, with status HIT)
    key: str | None
    rows_total: int | None = None


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


@dataclass(frozen=True)
class LLMRequestsInFlight:
    stage: str
    in_flight: int


@dataclass(frozen=True)
class WarningEvent:
    message: str
    stage: str | None = None


Event = Union[PlanReady, StageStarted, StageFinished, BatchDone, LLMRequestsInFlight, WarningEvent]


@runtime_checkable
class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...


class NullReporter:
    """Discards every event."""

    def emit(self, event: Event) -> None:
        return None


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
