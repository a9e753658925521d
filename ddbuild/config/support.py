"""Which of Data Designer's config features ddbuild runs: the check that refuses the others.

A Data Designer config loads into ddbuild whole (ddformat.py), including fields that select
features ddbuild does not run yet. Building such a config would silently make different data than
Data Designer does, so ``build()`` (and with it ``DataDesigner.validate``, ``add_stage`` and
``ddbuild --explain``) raises one NotSupportedError that names every such field, column by column.
At their defaults these fields change nothing: they are accepted and stay out of keys
(fingerprint.OMITTED_AT_DEFAULT).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from ddbuild.config.columns import UnsupportedColumnConfig
from ddbuild.config.samplers import SAMPLER_PARAMS, SamplerType
from ddbuild.errors import not_supported

# Fields of a column (or of its sampler params) that select a feature ddbuild does not run yet.
COLUMN_FIELDS = ("tool_alias",)
PERSON_FIELDS = ("city", "select_field_values", "with_synthetic_personas")
# Config sections ddbuild does not run yet (non-empty is refused).
SECTIONS = ("profilers", "tool_configs")


def _default(model: BaseModel, field: str) -> Any:
    return type(model).model_fields[field].get_default(call_default_factory=True)


def _shown(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if hasattr(value, "value") and isinstance(value.value, str):  # an enum member
        value = value.value
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def unsupported_settings(config: Any) -> list[tuple[str, str]]:
    """(field, where it is set and to what) for every feature of ``config`` ddbuild does not run."""
    found: list[tuple[str, str]] = []
    for section in SECTIONS:
        items = getattr(config, section, None) or []
        if items:
            kinds = sorted({type(item).__name__ for item in items})
            found.append((section, f"config field '{section}' lists {len(items)} ({', '.join(kinds)})"))
    for column in config.columns:
        if isinstance(column, UnsupportedColumnConfig):
            found.append(("column_type", f"column '{column.name}' is of column_type '{column.column_type}'"))
            continue
        kind = getattr(column, "sampler_type", None)
        if kind is not None and kind not in SAMPLER_PARAMS:
            found.append(("sampler_type", f"column '{column.name}' has sampler_type '{kind.value}'"))
        for field in COLUMN_FIELDS:
            if field in type(column).model_fields and getattr(column, field) != _default(column, field):
                found.append((field, f"column '{column.name}' sets {field} = {_shown(getattr(column, field))} "
                                     f"(default {_shown(_default(column, field))})"))
        for context in getattr(column, "multi_modal_context", None) or []:
            if isinstance(context, dict):  # an image context is a model (config.columns); others stay dicts
                found.append(("multi_modal_context", f"column '{column.name}' sets multi_modal_context with "
                                                     f"modality {_shown(context.get('modality'))} (only image runs)"))
        params = getattr(column, "params", None)
        if isinstance(params, BaseModel):
            for field in PERSON_FIELDS:
                if field == "city" and kind == SamplerType.PERSON_FROM_FAKER:
                    continue  # run: the Faker person's city is drawn from the list
                if field in type(params).model_fields and getattr(params, field) != _default(params, field):
                    found.append((field, f"column '{column.name}' sets params.{field} = {_shown(getattr(params, field))}"))
    return found


def check_supported(config: Any) -> None:
    """Raise NotSupportedError naming every unsupported field of ``config``; nothing when all runs."""
    found = unsupported_settings(config)
    if not found:
        return
    names = ", ".join(dict.fromkeys(field for field, _ in found))
    lines = "".join(f"\n  - {where}" for _, where in found)
    raise not_supported(
        names,
        f":{lines}\nData Designer runs these features; ddbuild would ignore them and build different data"
        ". Remove them (or set them to their defaults) to build this config with ddbuild",
    )


def check_builder_supported(builder: Any) -> None:
    """check_supported for a builder's parts, without building it (the planner checks every stage
    this way, seeded or not)."""
    check_supported(SimpleNamespace(
        columns=builder.get_column_configs(),
        constraints=builder.get_constraints(),
        profilers=builder.get_profilers(),
        tool_configs=builder.tool_configs,
    ))
