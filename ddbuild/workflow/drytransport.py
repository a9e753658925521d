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

from ddbuild.engine.llm.schema import example_for

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with OpenAI-style tokenizers


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
