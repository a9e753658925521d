"""A stage's identity: the config-side JSON that enters its key (inputs are added by the planner).

Lists whose order does not matter to a reader are turned into name-keyed maps so that a diff can
name ``columns.answer.prompt``; where order matters to generation, it is kept in ``*_order``.
Config models enter through ``fingerprint.model_identity`` (their fields minus EXCLUDED_FIELDS;
user data inside them whole). The Stage's own fields are read one by one here: ``name`` and
``index`` never (EXCLUDED_FIELDS), the seed path relative to the working directory
(NORMALISED_FIELDS); tests/test_keys_property.py checks every field of every model either way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.engine.identity import provider_identities
from ddbuild.engine.samplers import behaviour_versions
from ddbuild.fingerprint import canonical_json, model_identity
from ddbuild.planning.callbacks import callable_identity, source_digest
from ddbuild.planning.joins import join_identity
from ddbuild.planning.stage import Stage

if TYPE_CHECKING:
    from ddbuild.config.builder import DataDesignerConfigBuilder
    from ddbuild.config.models import ModelProvider
    from ddbuild.config.run_config import RunConfig

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


def seed_identity(stage: Stage, cwd: Path) -> dict[str, Any] | None:
    """The seed spec: the upstream hand-off for a child, the builder's own seed for a root."""
    strategies = {
        "sampling_strategy": stage.sampling_strategy.value,
        "selection_strategy": _identity(stage.selection_strategy),
    }
    if stage.depends_on:
        return {"source": "upstream", "parents": list(stage.depends_on), **strategies}
    seed_config = stage.builder.get_seed_config()
    if seed_config is None:
        return None
    seed = model_identity(seed_config)
    source = dict(seed["source"])
    if source.get("seed_type") in ("local", "directory", "file_contents"):
        source["path"] = relative_path(source["path"], cwd)  # fingerprint.NORMALISED_FIELDS
    return {**seed, "source": source, "stage_strategies": strategies}


def _identity(value: Any) -> Any:
    return model_identity(value) if hasattr(value, "model_dump") else value


def model_entries(builder: DataDesignerConfigBuilder, providers: list[ModelProvider] | None) -> dict[str, Any]:
    """Model alias -> its identity, plus the request fields of the provider it is sent through."""
    via = provider_identities(builder.model_configs, providers)
    entries = {}
    for model in builder.model_configs:
        body = model_identity(model)
        alias = str(body.pop("alias"))
        entries[alias] = {**body, "via_provider": via[model.alias]}
    return entries


def custom_function_digests(builder: DataDesignerConfigBuilder) -> dict[str, str]:
    """Column name → digest of its generator's (or local validator's) source (a changed function
    body rebuilds)."""
    found = {}
    for column in builder.get_column_configs():
        function = getattr(column, "generator_function", None)
        if function is None:
            function = getattr(getattr(column, "validator_params", None), "validation_function", None)
        if function is not None:
            found[column.name] = source_digest(function)
    return found


def stage_identity(
    stage: Stage, cwd: Path, run_config: RunConfig | None, providers: list[ModelProvider] | None = None
) -> dict[str, Any]:
    """Everything about the stage's config that determines its output (see DESIGN §3).

    Every field of ``Stage`` but ``name`` and ``index`` (fingerprint.EXCLUDED_FIELDS) is read here.
    """
    builder = stage.builder
    columns = [model_identity(c) for c in builder.get_column_configs()]
    processors = [model_identity(p) for p in builder.get_processor_configs()]
    output_processors = [model_identity(p) for p in stage.output_processors]
    constraints = sorted((model_identity(c) for c in builder.get_constraints()), key=canonical_json)
    behaviours = behaviour_versions(builder.get_column_configs())
    return {
        **({"constraints": constraints} if constraints else {}),  # absent when none: older keys stay
        **({"engine_behaviours": behaviours} if behaviours else {}),  # engine.samplers.BEHAVIOUR_VERSIONS
        "columns": _by_name(columns),
        "column_order": [c["name"] for c in columns],
        "custom_functions": custom_function_digests(builder),
        "processors": _by_name(processors),
        "processor_order": [p["name"] for p in processors],
        "models": model_entries(builder, providers),
        "seed": seed_identity(stage, cwd),
        "num_records": default_num_records(stage, builder.get_seed_config() is not None),
        "output": stage.output,
        "output_processors": _by_name(output_processors),
        "output_processor_order": [p["name"] for p in output_processors],
        "allow_empty": stage.allow_empty,
        "on_success": callable_identity(stage.on_success, stage.on_success_version),
        "join": join_identity(stage.join, stage.join_version),
        "random_seed": builder.seed,
        "run_config": model_identity(run_config if run_config is not None else _default_run_config()),
    }


def _default_run_config() -> RunConfig:
    from ddbuild.config.run_config import RunConfig

    return RunConfig()


def default_num_records(stage: Stage, has_seed: bool) -> int | str:
    """What ``num_records=None`` means: the seed's rows, or 10 without any seed."""
    if stage.num_records is not None:
        return stage.num_records
    return "from_seed" if (stage.depends_on or has_seed) else DEFAULT_NUM_RECORDS
