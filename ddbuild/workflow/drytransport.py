"""The LLM side of the --explain dry run: a transport that counts and never sends, a read-only cache.

The dry run is the real engine with these two injected (STYLE §2): a request that reaches
``CountingTransport`` is one the build would send (cache hits are served before the transport),
and ``ReadOnlyResponseCache`` serves what the cache holds while dropping every put, so a dry run
never writes the cache and never leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with OpenAI-style tokenizers


def example_for(schema: Any, name: str = "value", root: Any = None) -> Any:
    """A value valid for ``schema`` (the JSON-schema subset ddbuild checks), deterministic."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return name
    if "$ref" in schema:
        node: Any = root
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        return example_for(node, name, root)
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


def placeholder_content(body: Mapping[str, Any]) -> str:
    """A reply the column accepts: JSON valid for the request's schema, else a short text."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    return json.dumps(example_for(schema)) if schema is not None else "placeholder reply (ddbuild --explain)"


class CountingTransport:
    """A ``ChatTransport`` that answers every request locally with a placeholder and counts it."""

    def __init__(self) -> None:
        self.requests = 0
        self.prompt_chars = 0

    async def post(
        self, url: str, headers: Mapping[str, str], json_body: dict[str, Any], timeout: float | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        chars = sum(len(str(m.get("content") or "")) for m in json_body.get("messages") or [])
        self.requests += 1
        self.prompt_chars += chars
        reply = {
            "id": f"dry-run-{self.requests}", "object": "chat.completion", "model": json_body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": placeholder_content(json_body)}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0},  # not real usage: report none
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode("utf-8")

    @property
    def prompt_tokens(self) -> int:
        return self.prompt_chars // CHARS_PER_TOKEN

    async def aclose(self) -> None:
        return None


class ReadOnlyResponseCache:
    """The engine's ResponseCache over a Store: ``get`` reads it, ``put`` is dropped."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.dropped_puts = 0

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get_response(key)  # type: ignore[no-any-return]

    def put(self, key: str, response: dict[str, Any]) -> None:
        self.dropped_puts += 1  # a dry run must never write the cache
