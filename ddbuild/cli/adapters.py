"""The CLI's names for Workflow.plan/run (-B, -j, --override) and per-stage LLM usage from entries.

Everything else the CLI needs is public Workflow API (``stages``, ``stage_names``, ``use_store``).
Usage is read from the published entry because the entry is its record for every stage, including
one built by another process; ``StageFinished`` carries only what the executor itself timed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
    return workflow.plan(
        targets=targets,
        resume=resume,
        rerun_from=rerun_from,
        always_make=always_make,
        stage_output_overrides=_overrides(overrides),
        estimate_cost=estimate_cost,
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
    return stage_usage_of(entry)


def stage_usage_of(entry: dict[str, Any]) -> dict[str, int]:
    """LLM requests sent / served from cache and tokens recorded in ``entry``."""
    stats = (entry.get("usage") or {}).get("llm_stats") or {}
    return {
        "llm_requests_sent": int(stats.get("requests_sent", 0) or 0),
        "llm_requests_cached": int(stats.get("served_from_cache", 0) or 0),
        "tokens": int(stats.get("prompt_tokens", 0) or 0) + int(stats.get("completion_tokens", 0) or 0),
    }
