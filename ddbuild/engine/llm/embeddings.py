"""Embedding columns: one ``/v1/embeddings`` request per row, cached by request like a chat reply.

One cell, in order: read the target column's text (a list of strings, or the JSON text of one, is
embedded item by item in the same request; anything else is one string) → body ``{model, input,
encoding_format[, dimensions]}`` plus the provider's and the model's ``extra_body`` → request key
(model id, body, the row's draw, the sampling seed: ``cache.request_key``) → cache hit? → send →
check → store → Data Designer's value::

    {"embeddings": [[float, ...], ...], "num_embeddings": n, "dimension": d}

``encoding_format="base64"`` replies (little-endian float32) are decoded, so the value is floats
either way. An empty text drops the row (``empty_input``), as an empty prompt does.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import TYPE_CHECKING, Any

from ddbuild.config.models import EmbeddingInferenceParams
from ddbuild.engine.llm.cache import request_key
from ddbuild.engine.llm.client import RequestFailure
from ddbuild.engine.llm.replies import embedding_problem

if TYPE_CHECKING:
    from ddbuild.engine.llm.columns import LLMServices


def input_texts(value: object) -> list[str]:
    """The texts to embed for one cell of the target column."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                value = parsed
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    if hasattr(value, "tolist"):  # a numpy array from a list column
        return [str(item) for item in value.tolist()]
    return [] if value is None else [str(value)]


def decode_vector(vector: Any) -> list[float]:
    """A reply's embedding as floats: a list as given, a base64 string as little-endian float32."""
    if isinstance(vector, str):
        raw = base64.b64decode(vector)
        return [float(x) for x in struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4])]
    return [float(x) for x in vector]


def embedding_value(response: dict[str, Any]) -> dict[str, Any]:
    """Data Designer's cell value from an embeddings reply (items in ``index`` order)."""
    items = sorted(enumerate(response["data"]), key=lambda pair: (pair[1].get("index", pair[0]), pair[0]))
    vectors = [decode_vector(item["embedding"]) for _, item in items]
    return {"embeddings": vectors, "num_embeddings": len(vectors), "dimension": len(vectors[0]) if vectors else 0}


class EmbeddingColumnGenerator:
    """Generates one embedding column's value for one row; safe to call from many row coroutines."""

    def __init__(self, services: LLMServices, column: Any) -> None:
        self.services = services
        self.column = column
        self.alias: str = column.model_alias
        self.model = services.models[self.alias]
        self._extra_body = services.client.route(self.alias).extra_body

    async def generate(self, row: dict[str, Any], draw: int | str) -> Any:
        from ddbuild.engine.llm.columns import RowDropped

        services = self.services
        services._check_running()
        try:
            async with services._admission[self.alias]:
                value = await self._generate(row, draw)
        except RowDropped as failure:
            services._record(self.alias, self.column.name, failure)
            raise
        services._record(self.alias, self.column.name, None)
        return value

    def _body(self, texts: list[str]) -> dict[str, Any]:
        params = self.model.inference_parameters
        assert isinstance(params, EmbeddingInferenceParams), "LLMServices checks the model's kind"
        body: dict[str, Any] = {**self._extra_body, **(params.extra_body or {})}
        body["model"] = self.model.model
        body["input"] = texts
        body["encoding_format"] = params.encoding_format
        if params.dimensions is not None:
            body["dimensions"] = params.dimensions
        return body

    async def _generate(self, row: dict[str, Any], draw: int | str) -> Any:
        from ddbuild.engine.llm.columns import RowDropped

        name = self.column.name
        texts = input_texts(row.get(self.column.target_column))
        if not texts or not any(t.strip() for t in texts):
            raise RowDropped("empty_input", f"Column '{name}': target column '{self.column.target_column}' "
                             "is empty for this row; there is nothing to embed.", column=name)
        body = self._body(texts)
        key = request_key(self.model.model, {k: v for k, v in body.items() if k != "model"},
                          draw, self.services.sampling_seed)
        cached = self.services.cache.get(key)
        if cached is not None and embedding_problem(cached) is None:
            self._count(served_from_cache=1)
            return embedding_value(cached)
        try:
            sent = await self.services.client.send(self.alias, body)
        except RequestFailure as exc:
            self._count(requests_sent=exc.attempts, retries=exc.attempts - 1)
            raise RowDropped(exc.reason, str(exc), column=name, status=exc.status) from exc
        usage = sent.response.get("usage") or {}
        tokens = usage.get("prompt_tokens")
        self._count(requests_sent=sent.attempts, retries=sent.attempts - 1,
                    prompt_tokens=tokens if isinstance(tokens, int) and tokens >= 0 else 0)
        if len(sent.response["data"]) != len(texts):
            raise RowDropped("wrong_embedding_count", f"Column '{name}': {len(texts)} texts were sent and "
                             f"{len(sent.response['data'])} embeddings came back.", column=name)
        value = embedding_value(sent.response)
        self.services.cache.put(key, sent.response)
        return value

    def _count(self, **counts: int) -> None:
        self.services._stats.add(self.alias, self.column.name, **counts)
