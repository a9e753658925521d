"""Thin adapters over the workflow API, so the CLI reads stage lists in one place."""

from __future__ import annotations

from typing import Any


def stages(workflow: Any) -> list[Any]:
    """The workflow's stages in definition order (objects with ``name`` and ``depends_on``)."""
    value = getattr(workflow, "stages", None)
    if callable(value):
        value = value()
    if value is None:
        value = getattr(workflow, "_stages", [])
    if isinstance(value, dict):
        value = list(value.values())
    return list(value)


def stage_names(workflow: Any) -> list[str]:
    return [str(stage.name) for stage in stages(workflow)]


def depends_on(stage: Any) -> list[str]:
    return [str(d) for d in (getattr(stage, "depends_on", None) or ())]
