"""``from ddbuild.interface import DataDesigner``: Data Designer's ``data_designer.interface``.

The entry point, results, workflow classes, resume modes and the interface errors under Data
Designer 0.9.7's names; its workflow-metadata records are placeholders that raise
``NotSupportedError`` when used (ddbuild keeps its records in the cache). Lazy, like
``ddbuild`` itself.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, str]] = {
    "DataDesigner": ("ddbuild.designer", "DataDesigner"),
    "DatasetCreationResults": ("ddbuild.results", "DatasetCreationResults"),
    "CompositeWorkflow": ("ddbuild.workflow", "Workflow"),
    "CompositeWorkflowResults": ("ddbuild.workflow", "WorkflowResults"),
    "SkippedStageResult": ("ddbuild.workflow", "SkippedStageResult"),
    "SkippedStageStatus": ("ddbuild.workflow", "SkippedStageStatus"),
    "ResumeMode": ("ddbuild.config.run_config", "ResumeMode"),
    "DataDesignerEarlyShutdownError": ("ddbuild.errors", "DataDesignerEarlyShutdownError"),
    "DataDesignerGenerationError": ("ddbuild.errors", "DataDesignerGenerationError"),
    "DataDesignerProfilingError": ("ddbuild.errors", "DataDesignerProfilingError"),
    "DataDesignerWorkflowError": ("ddbuild.errors", "DataDesignerWorkflowError"),
}

NOT_SUPPORTED: tuple[str, ...] = (
    "CompletedWorkflowStageMetadata", "FailedWorkflowStageMetadata", "RunningWorkflowStageMetadata",
    "SkippedWorkflowStageMetadata", "WorkflowMetadata", "WorkflowStageMetadata",
    "validate_workflow_stage_metadata",
)

__all__ = [*_EXPORTS, *NOT_SUPPORTED]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attribute)
    elif name in NOT_SUPPORTED:
        from ddbuild.config.unsupported import placeholder

        value = placeholder(name)
    else:
        raise AttributeError(f"module 'ddbuild.interface' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(globals()))
