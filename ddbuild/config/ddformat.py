"""Data Designer 0.9.7's config file format: reading it into ddbuild's models, writing it back.

ddbuild's config models dump the same fields as Data Designer's, with four differences of
spelling that this module (and only it) translates, so that a YAML/JSON file written by Data
Designer's ``to_yaml()`` / ``to_json()`` loads, and ddbuild's ``to_yaml()`` is read by Data
Designer:

    Data Designer's file                          ddbuild's model dump
    params: {sampler_type: uniform, low: ...}     params: {low: ...}   (the column says the type)
    temperature: {distribution_type: uniform,     temperature: {distribution_type: uniform,
                  params: {low: .., high: ..}}                  low: .., high: ..}
    drop: true on each column a drop_columns      drop: false (the processor drops it; Data
    processor names (its builder marks them)      Designer's builder adds the mark)
    selection_strategy: {start: 0, end: 9}        selection_strategy: {selection_type:
                                                    index_range, start: 0, end: 9}

A file may also be the ``builder_config.json`` Data Designer writes next to a dataset
(``{"data_designer": {...}, "library_version": ...}``). Keys are computed from the models, never
from a file's spelling, so a config loaded from Data Designer's file and the same config built in
Python have the same stage key.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from ddbuild.errors import ConfigError

# Data Designer's order of the top-level fields (a file written in it reads like theirs).
TOP_LEVEL = ("columns", "model_configs", "tool_configs", "seed_config", "constraints", "profilers", "processors")


def from_dd(data: dict[str, Any]) -> dict[str, Any]:
    """A config mapping in Data Designer's spelling -> the mapping ddbuild's models validate."""
    if set(data) <= {"data_designer", "library_version"} and isinstance(data.get("data_designer"), dict):
        data = data["data_designer"]
    out = {key: value for key, value in data.items() if value is not None}
    columns = out.get("columns")
    if isinstance(columns, list):
        dropped = _processor_drops(out.get("processors"))
        out["columns"] = [_column_from_dd(c, dropped) if isinstance(c, dict) else c for c in columns]
    seed = out.get("seed_config")
    if isinstance(seed, dict) and isinstance(seed.get("selection_strategy"), dict):
        selection = seed["selection_strategy"]
        if "selection_type" not in selection:
            kind = "index_range" if {"start", "end"} & set(selection) else "partition_block"
            out["seed_config"] = {**seed, "selection_strategy": {**selection, "selection_type": kind}}
    return out


def to_dd(dump: dict[str, Any]) -> dict[str, Any]:
    """ddbuild's config dump (``model_dump(mode="json")``) -> Data Designer's file mapping."""
    dropped = _processor_drops(dump.get("processors"))
    out: dict[str, Any] = {
        "columns": [_column_to_dd(c, dropped) for c in dump.get("columns") or []],
        "model_configs": [_model_to_dd(m) for m in dump.get("model_configs") or []],
        "tool_configs": list(dump.get("tool_configs") or []),
        "seed_config": _seed_to_dd(dump.get("seed_config")),
        "constraints": dump.get("constraints") or None,
        "profilers": dump.get("profilers") or None,
        "processors": dump.get("processors") or None,
    }
    if dump.get("seed"):
        out["seed"] = dump["seed"]  # ddbuild's random seed; Data Designer has no such field
    return out


def _seed_to_dd(seed: Any) -> Any:
    if isinstance(seed, dict) and isinstance(seed.get("selection_strategy"), dict):
        selection = {k: v for k, v in seed["selection_strategy"].items() if k != "selection_type"}
        return {**seed, "selection_strategy": selection}
    return seed


def _processor_drops(processors: Any) -> list[str]:
    """The column names (globs) that drop_columns processors remove."""
    names: list[str] = []
    for processor in processors or []:
        if isinstance(processor, dict) and processor.get("processor_type") == "drop_columns":
            names += [n for n in processor.get("column_names") or [] if isinstance(n, str)]
    return names


def _dropped_by_processor(name: Any, dropped: list[str]) -> bool:
    return isinstance(name, str) and any(fnmatch.fnmatchcase(name, pattern) for pattern in dropped)


def _column_from_dd(column: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    column = dict(column)
    if column.get("drop") is True and _dropped_by_processor(column.get("name"), dropped):
        column["drop"] = False
    params = column.get("params")
    if isinstance(params, dict) and "sampler_type" in params:
        params = dict(params)
        inner = params.pop("sampler_type")
        outer = column.get("sampler_type")
        if outer is not None and str(inner).lower() != str(outer).lower():
            raise ConfigError(
                f"Column '{column.get('name')}' has sampler_type {outer!r} but its params say {inner!r}.",
                hint="Make both the same sampler type.",
            )
        column.setdefault("sampler_type", inner)
        column["params"] = params
    return column


def _column_to_dd(column: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    column = dict(column)
    if _dropped_by_processor(column.get("name"), dropped):
        column["drop"] = True
    if column.get("column_type") == "sampler" and isinstance(column.get("params"), dict):
        column["params"] = {**column["params"], "sampler_type": column.get("sampler_type")}
        if isinstance(column.get("conditional_params"), dict):
            column["conditional_params"] = {
                condition: {**params, "sampler_type": column.get("sampler_type")}
                if isinstance(params, dict) else params
                for condition, params in column["conditional_params"].items()
            }
    return column


def _model_to_dd(model: dict[str, Any]) -> dict[str, Any]:
    params = model.get("inference_parameters")
    if not isinstance(params, dict):
        return model
    nested = {key: _distribution_to_dd(value) for key, value in params.items()}
    return {**model, "inference_parameters": nested}


def _distribution_to_dd(value: Any) -> Any:
    if isinstance(value, dict) and "distribution_type" in value and "params" not in value:
        return {
            "distribution_type": value["distribution_type"],
            "params": {k: v for k, v in value.items() if k != "distribution_type"},
        }
    return value
