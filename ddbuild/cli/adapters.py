"""Thin adapters over the workflow API: the one place the CLI touches Workflow internals.

TODO(workflow): two things here reach past the public Workflow API and should move there:
  - ``stages``: reads ``Workflow._stages`` for ``depends_on`` (``stage_names`` is public).
  - LLM request/token counts per stage are read from the published entry's ``usage``; wants
    ``llm_requests_sent`` / ``llm_requests_cached`` / ``tokens`` on ``StageFinished``.
"""

from __future__ import annotations

from pathlib import Path
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
    names = getattr(workflow, "stage_names", None)
    if isinstance(names, list):
        return [str(n) for n in names]
    return [str(stage.name) for stage in stages(workflow)]


def depends_on(stage: Any) -> list[str]:
    return [str(d) for d in (getattr(stage, "depends_on", None) or ())]


def closure(workflow: Any, targets: list[str]) -> set[str]:
    """Targets and all their ancestors."""
    parents = {str(s.name): depends_on(s) for s in stages(workflow)}
    found: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(parents.get(name, []))
    return found


class _DesignerWithStore:
    """The user's DataDesigner, except that its cache is the CLI's Store (nothing else changes)."""

    def __init__(self, designer: Any, store: Any) -> None:
        self._designer = designer
        self.cache_path = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._designer, name)


def use_store(workflow: Any, store: Any) -> None:
    method = getattr(workflow, "use_store", None)
    if callable(method):
        method(store)
        return
    designer = getattr(workflow, "_designer", None)
    if isinstance(designer, _DesignerWithStore):
        designer = designer._designer
    workflow._designer = _DesignerWithStore(designer, store)


def _overrides(overrides: dict[str, Path] | None) -> dict[str, Path] | None:
    return dict(overrides) if overrides else None


def plan(
    workflow: Any,
    *,
    targets: list[str] | None,
    resume: str,
    rerun_from: str | None,
    always_make: bool,
    overrides: dict[str, Path] | None = None,
    estimate_cost: bool = False,
) -> Any:
    """``Workflow.plan`` — the dry run, and the same decision ``run`` starts from."""
    extra = {"estimate_cost": True} if estimate_cost else {}
    return workflow.plan(
        targets=targets,
        resume=resume,
        rerun_from=rerun_from,
        always_make=always_make,
        stage_output_overrides=_overrides(overrides),
        **extra,
    )


def run(
    workflow: Any,
    *,
    targets: list[str] | None,
    resume: str,
    rerun_from: str | None,
    always_make: bool,
    reporter: Any,
    overrides: dict[str, Path] | None = None,
    jobs: int = 1,
    keep_going: bool = False,
) -> Any:
    """``Workflow.run`` with the CLI's names (``-B`` is ``force=``, ``-j`` is ``max_parallel_stages``)."""
    return workflow.run(
        targets=targets,
        resume=resume,
        rerun_from=rerun_from,
        force=always_make,
        stage_output_overrides=_overrides(overrides),
        reporter=reporter,
        max_parallel_stages=jobs,
        keep_going=keep_going,
    )


def stage_usage(store: Any, key: str | None) -> dict[str, int] | None:
    """LLM requests sent / served from cache and tokens recorded in a stage's entry."""
    if not key:
        return None
    entry = store.get_entry(key)
    if entry is None:
        return None
    stats = (entry.get("usage") or {}).get("llm_stats") or {}
    return {
        "llm_requests_sent": int(stats.get("requests_sent", 0) or 0),
        "llm_requests_cached": int(stats.get("served_from_cache", 0) or 0),
        "tokens": int(stats.get("prompt_tokens", 0) or 0) + int(stats.get("completion_tokens", 0) or 0),
    }
