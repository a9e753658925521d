"""Workflow chaining: stages as build targets keyed by content, planned then executed."""

from ddbuild.workflow.events import NullReporter, RecordingReporter, Reporter
from ddbuild.workflow.joins import Concat, JoinOn
from ddbuild.workflow.plan import Cost, FieldChange, Plan, Reason, ReasonKind, StageDecision, Status
from ddbuild.workflow.results import SkippedStageResult, SkippedStageStatus, StageSummary, WorkflowResults
from ddbuild.workflow.workflow import Workflow

__all__ = [
    "Concat", "Cost", "FieldChange", "JoinOn", "NullReporter", "Plan", "Reason", "ReasonKind",
    "RecordingReporter", "Reporter", "SkippedStageResult", "SkippedStageStatus", "StageDecision",
    "StageSummary", "Status", "Workflow", "WorkflowResults",
]
