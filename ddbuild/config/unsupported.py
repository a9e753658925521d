"""Placeholders for Data Designer's public names that ddbuild does not run yet.

Each is a class of the same name: importing it works (so a ported module loads), using it --
constructing it, calling it, reading an attribute of it -- raises ``NotSupportedError`` with the
message ``not supported by ddbuild yet: <name>``. It is never an AttributeError or an ImportError.
"""

from __future__ import annotations

from typing import Any, NoReturn

from ddbuild.errors import not_supported

# name -> what ddbuild lacks for it (shown in the hint)
UNSUPPORTED: dict[str, str] = {
    "ImageColumnConfig": "image-generation columns",
    "LocalStdioMCPProvider": "MCP tool providers",
    "MCPProvider": "MCP tool providers",
    "AudioContext": "multi-modal context for LLM columns",
    "VideoContext": "multi-modal context for LLM columns",
    "ModalityContext": "multi-modal context for LLM columns",
    "ImageInferenceParams": "image-generation models",
    "DataDesignerScriptParams": "Data Designer's CLI script parameters",
    "SchedulingMetadata": "Data Designer's async scheduler",
    "SchedulingMetadataError": "Data Designer's async scheduler",
    "AgentRolloutSeedSource": "agent-rollout seed sources",
    # data_designer.interface: workflow metadata files (ddbuild keeps its own, in the cache)
    "CompletedWorkflowStageMetadata": "Data Designer's workflow metadata records",
    "FailedWorkflowStageMetadata": "Data Designer's workflow metadata records",
    "RunningWorkflowStageMetadata": "Data Designer's workflow metadata records",
    "SkippedWorkflowStageMetadata": "Data Designer's workflow metadata records",
    "WorkflowMetadata": "Data Designer's workflow metadata records",
    "WorkflowStageMetadata": "Data Designer's workflow metadata records",
    "validate_workflow_stage_metadata": "Data Designer's workflow metadata records",
}


def _refuse(name: str) -> NoReturn:
    raise not_supported(
        name,
        hint=f"ddbuild has no {UNSUPPORTED[name]} yet; "
        "see docs/porting.md for what a ported Data Designer project can use.",
    )


class _UnsupportedMeta(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(cls.__name__)

    def __getattr__(cls, attribute: str) -> NoReturn:
        if attribute.startswith("__"):
            raise AttributeError(attribute)  # protocols (pickle, copy, typing) ask for dunders
        _refuse(cls.__name__)


def placeholder(name: str) -> type:
    """The placeholder class for one of UNSUPPORTED's names (a new class per call is fine:
    modules cache what they return)."""
    if name not in UNSUPPORTED:
        raise KeyError(name)
    # An exception name stays an exception class, so an ``except`` clause naming it is valid.
    bases = (Exception,) if name.endswith("Error") else ()
    return _UnsupportedMeta(name, bases, {"__module__": __name__, "__doc__": f"not supported by ddbuild yet: {name}"})
