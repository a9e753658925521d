"""Workflow chaining: stages as build targets keyed by content, planned then executed."""

from ddbuild.workflow.plan import Cost, FieldChange, Plan, Reason, ReasonKind, StageDecision, Status

__all__ = ["Cost", "FieldChange", "Plan", "Reason", "ReasonKind", "StageDecision", "Status"]
