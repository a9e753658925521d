"""Workflow chaining: stages as build targets keyed by content, planned then executed."""

from ddbuild.execution.events import NullReporter, RecordingReporter, Reporter
from ddbuild.planning.joins import Concat, JoinOn
from ddbuild.planning.plan import Cost, FieldChange, Plan, Reason, ReasonKind, StageDecision, Status
from ddbuild.workflow.results import SkippedStageResult, SkippedStageStatus, StageSummary, WorkflowResults
from ddbuild.workflow.workflow import Workflow

__all__ = [
    "Concat", "Cost", "FieldChange", "JoinOn", "NullReporter", "Plan", "Reason", "ReasonKind",
    "RecordingReporter", "Reporter", "SkippedStageResult", "SkippedStageStatus", "StageDecision",
    "StageSummary", "Status", "Workflow", "WorkflowResults",
]
