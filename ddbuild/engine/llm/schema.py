"""The JSON-schema subset we check structured outputs against, and the check that a schema is usable.

Supported keywords: ``type`` (one or a list), ``properties``, ``required``, ``items``, ``enum``,
``const``, ``additionalProperties`` (bool), ``anyOf`` / ``oneOf`` (as any-of), ``$ref`` into
``#/$defs`` or ``#/definitions`` (what pydantic's ``model_json_schema`` emits). Other keywords
(title, description, format, minimum, …) are accepted and not enforced.

Why not the ``jsonschema`` package: it is not a ddbuild dependency, and whether a reply is accepted
decides what is cached and which rows survive; that must not depend on what else is installed.
The subset is also what OpenAI's ``response_format`` structured outputs enforce on the server side.
"""

from __future__ import annotations

from typing import Any

from ddbuild.errors import ConfigError

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_SCHEMA_KEYS = ("items", "additionalProperties")
_MAX_ERRORS = 5


def check_schema(schema: Any, where: str) -> None:
    """Raise ConfigError (naming ``where``) if ``schema`` is not a usable JSON schema."""
    problems: list[str] = []
    _check(schema, "$", schema, problems)
    if problems:
        raise ConfigError(
            f"{where}: output_format is not a valid JSON schema: {'; '.join(problems[:_MAX_ERRORS])}.",
            hint="Pass a JSON-schema dict (type/properties/required/items/enum) or a pydantic model class.",
        )


def _check(node: Any, path: str, root: dict[str, Any], problems: list[str]) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        problems.append(f"{path} must be an object, got {type(node).__name__}")
        return
    kinds = node.get("type")
    for kind in kinds if isinstance(kinds, list) else ([kinds] if kinds is not None else []):
        if kind not in _TYPES:
            problems.append(f"{path}.type {kind!r} is not one of {sorted(_TYPES)}")
    properties = node.get("properties", {})
    if not isinstance(properties, dict):
        problems.append(f"{path}.properties must be an object")
    else:
        for name, sub in properties.items():
            _check(sub, f"{path}.properties.{name}", root, problems)
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append(f"{path}.required must be a list of property names")
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        problems.append(f"{path}.enum must be a non-empty list")
    for key in _SCHEMA_KEYS:
        if key in node:
            _check(node[key], f"{path}.{key}", root, problems)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            if not isinstance(node[key], list):
                problems.append(f"{path}.{key} must be a list")
            else:
                for i, sub in enumerate(node[key]):
                    _check(sub, f"{path}.{key}[{i}]", root, problems)
    if "$ref" in node:
        try:
            _resolve(node["$ref"], root)
        except KeyError as exc:
            problems.append(f"{path}.$ref {exc.args[0]!r} does not resolve")


def _resolve(ref: Any, root: dict[str, Any]) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise KeyError(ref)
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(ref)
        node = node[part]
    return node


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    """Problems with ``value`` against ``schema`` (empty when valid), at most a few, with paths."""
    problems: list[str] = []
    _validate(value, schema, "$", schema, problems)
    return problems[:_MAX_ERRORS]


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def _validate(value: Any, schema: Any, path: str, root: dict[str, Any], problems: list[str]) -> None:
    if schema is True or not isinstance(schema, dict):
        return
    if "$ref" in schema:
        _validate(value, _resolve(schema["$ref"], root), path, root, problems)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives and not any(not _collect(value, alt, path, root) for alt in alternatives):
        problems.append(f"{path}: matches none of the allowed alternatives")
    for sub in schema.get("allOf", []):
        _validate(value, sub, path, root, problems)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is_type(value, k) for k in kinds):
            problems.append(f"{path}: expected {' or '.join(kinds)}, got {_json_type(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: must be {schema['const']!r}")
    if isinstance(value, dict):
        _validate_object(value, schema, path, root, problems)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{i}]", root, problems)


def _validate_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, root: dict[str, Any], problems: list[str]
) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            problems.append(f"{path}: missing required property '{name}'")
    for name, item in value.items():
        if name in properties:
            _validate(item, properties[name], f"{path}.{name}", root, problems)
        elif schema.get("additionalProperties") is False:
            problems.append(f"{path}: unexpected property '{name}'")


def _collect(value: Any, schema: Any, path: str, root: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _validate(value, schema, path, root, problems)
    return problems


def _json_type(value: Any) -> str:
    for name in _TYPES:
        if _is_type(value, name):
            return name
    return type(value).__name__


def example_for(schema: Any, name: str = "value", root: Any = None) -> Any:
    """A deterministic value valid for ``schema`` (the subset above): placeholders and test replies."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return name
    if "$ref" in schema:
        return example_for(_resolve(schema["$ref"], root), name, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example_for(schema[key][0], name, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: example_for(v, k, root) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_for(schema.get("items", {}), name, root)]
    return {"string": f"{name} text", "integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, name)
