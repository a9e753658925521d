"""A stage's identity: the config-side JSON that enters its key (inputs are added by the planner).

Lists whose order does not matter to a reader are turned into name-keyed maps so that a diff can
name ``columns.answer.prompt``; where order matters to generation, it is kept in ``*_order``.
Excluded fields (fingerprint.EXCLUDED_FIELDS) are stripped from each config dump before that.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ddbuild.fingerprint import strip_excluded
from ddbuild.workflow.callbacks import callable_identity, source_digest
from ddbuild.workflow.joins import join_identity
from ddbuild.workflow.stage import Stage

DEFAULT_NUM_RECORDS = 10


def _by_name(items: list[dict[str, Any]], field: str = "name") -> dict[str, Any]:
    return {str(item[field]): {k: v for k, v in item.items() if k != field} for item in items}


def relative_path(path: str | Path, cwd: Path) -> str:
    """A seed path as it enters keys: relative to the working directory, POSIX separators."""
    text = str(path)
    candidate = Path(text).expanduser()
    if candidate.is_absolute():
        text = os.path.relpath(candidate, cwd)
    return Path(text).as_posix()


def seed_identity(stage: Stage, seed: dict[str, Any] | None, cwd: Path) -> dict[str, Any] | None:
    """The seed spec: the upstream hand-off for a child, the builder's own seed for a root."""
    strategies = {
        "sampling_strategy": stage.sampling_strategy.value,
        "selection_strategy": _dump(stage.selection_strategy),
    }
    if stage.depends_on:
        return {"source": "upstream", "parents": list(stage.depends_on), **strategies}
    if seed is None:
        return None
    source = dict(seed["source"])
    if source.get("seed_type") == "local":
        source["path"] = relative_path(source["path"], cwd)
    return {**seed, "source": source, "stage_strategies": strategies}


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def custom_function_digests(builder: Any) -> dict[str, str]:
    """Column name → digest of its generator's source (a changed function body rebuilds)."""
    found = {}
    for column in builder.get_column_configs():
        function = getattr(column, "generator_function", None)
        if function is not None:
            found[column.name] = source_digest(function)
    return found


def stage_identity(stage: Stage, cwd: Path, run_config: Any) -> dict[str, Any]:
    """Everything about the stage's config that determines its output (see DESIGN §3)."""
    config = strip_excluded(stage.builder.to_dict())
    output_processors = [strip_excluded(p.model_dump(mode="json")) for p in stage.output_processors]
    return {
        "columns": _by_name(config["columns"]),
        "column_order": [c["name"] for c in config["columns"]],
        "custom_functions": custom_function_digests(stage.builder),
        "processors": _by_name(config["processors"]),
        "processor_order": [p["name"] for p in config["processors"]],
        "models": _by_name(config["model_configs"], "alias"),
        "seed": seed_identity(stage, config.get("seed_config"), cwd),
        "num_records": default_num_records(stage, config.get("seed_config") is not None),
        "output": stage.output,
        "output_processors": _by_name(output_processors),
        "output_processor_order": [p["name"] for p in output_processors],
        "allow_empty": stage.allow_empty,
        "on_success": callable_identity(stage.on_success, stage.on_success_version),
        "join": join_identity(stage.join, stage.join_version),
        "random_seed": config.get("seed", 0),
        "buffer_size": getattr(run_config, "buffer_size", 1000),
        "preserve_dropped_columns": getattr(run_config, "preserve_dropped_columns", True),
    }


def default_num_records(stage: Stage, has_seed: bool) -> int | str:
    """What ``num_records=None`` means: the seed's rows, or 10 without any seed."""
    if stage.num_records is not None:
        return stage.num_records
    return "from_seed" if (stage.depends_on or has_seed) else DEFAULT_NUM_RECORDS
