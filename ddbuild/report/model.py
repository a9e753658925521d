"""What a report shows, as plain values: each stage's state and numbers, and the targets' analyses.

The CLI fills these from the plan (the same one ``--explain`` prints), the stages' cache entries
and the last build's ``workflow-metadata.json``; ``report.html`` turns them into a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ddbuild.analysis.model import DatasetAnalysis


class StageState(str, Enum):
    """A stage as the report colours it."""

    BUILT = "built"  # cached, and the last build is the one that generated it
    CACHED = "cached"  # an entry for its key is in the cache: a build reuses it
    WOULD_BUILD = "would build"  # a build would generate it (no entry, or a partial to resume)
    PENDING = "pending"  # its key waits for an upstream stage that would build first
    FAILED = "failed"  # the last build failed here, and it is not cached
    ERROR = "error"  # cannot be planned (config, seed or model problem)
    SKIPPED = "skipped"  # an upstream ended empty or failed


def stage_state(plan_status: str, last_run: dict[str, Any] | None, key: str | None) -> StageState:
    """The state from the plan's status and the last build's record of the stage (if any)."""
    last_run = last_run or {}
    ran_this_key = last_run.get("key") == key and last_run.get("status") in ("run", "resume")
    failed_last = last_run.get("status") == "error" and last_run.get("key") == key and key is not None
    if plan_status == "hit":
        return StageState.BUILT if key is not None and ran_this_key else StageState.CACHED
    if plan_status in ("run", "resume", "pending") and failed_last:
        return StageState.FAILED
    return {"run": StageState.WOULD_BUILD, "resume": StageState.WOULD_BUILD, "pending": StageState.PENDING,
            "skipped": StageState.SKIPPED}.get(plan_status, StageState.ERROR)


@dataclass(frozen=True)
class StageRow:
    name: str
    depends_on: list[str]
    state: StageState
    key: str | None
    reason: str  # why the plan decided so, one line
    rows: int | None = None  # rows of the selected output (cached stages)
    llm_sent: int | None = None  # LLM requests its build sent ...
    llm_cached: int | None = None  # ... and those served from the response cache
    tokens: int | None = None  # prompt + completion tokens of its build
    seconds: float | None = None  # how long the last build took with it (when that build made this entry)
    created: str | None = None  # when its entry was published (UTC)


@dataclass(frozen=True)
class TargetAnalysis:
    stage: str
    analysis: DatasetAnalysis | None
    note: str = ""  # why there is no analysis (not built yet, ...)


@dataclass(frozen=True)
class WorkflowReport:
    workflow: str
    targets: list[str]
    stages: list[StageRow]
    analyses: list[TargetAnalysis] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    title: str  # e.g. the build file's name
    generated: str  # UTC timestamp
    version: str  # ddbuild version
    workflows: list[WorkflowReport]
