"""Model checks (Data Designer's ``check_models``): one tiny request per model alias a config's LLM columns use.

Only ``DataDesigner.check_models`` sends these; a build never probes (every request a build
sends is one a row asked for, so request counts stay exact). Probes bypass the response cache:
the question is whether the endpoint answers now.

    validate aliases, providers, API keys (nothing sent) ──► error naming alias / provider / variable
    for each alias, in column order, unless skip_health_check:
        POST "Hello!" ──► a usable reply (chat completion, or embedding) ──► next alias
                    └──► failure: transient (refused, timeout, 429, 5xx) and attempts left ──► wait, again
                                  otherwise ──► LLMRequestError naming alias, model, provider, endpoint
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from ddbuild.config.columns import is_llm_column
from ddbuild.config.models import EmbeddingInferenceParams, ModelConfig, ModelProvider
from ddbuild.engine.llm.client import TRANSIENT_REASONS, ChatClient, RequestFailure
from ddbuild.engine.llm.columns import LLMServices
from ddbuild.engine.llm.transport import ChatTransport
from ddbuild.engine.secret_resolver import SecretResolver
from ddbuild.errors import LLMRequestError

SYSTEM_PROMPT = "You are a helpful assistant."  # Data Designer's health-check messages
PROMPT = "Hello!"


def used_aliases(columns: Iterable[Any]) -> list[str]:
    """The model aliases the LLM columns name, first use first, each once."""
    return list(dict.fromkeys(c.model_alias for c in columns if is_llm_column(c)))


def check_models(
    columns: Iterable[Any], model_configs: list[ModelConfig], providers: list[ModelProvider] | None,
    secret_resolver: SecretResolver | None = None, *, max_attempts: int = 1, retry_backoff_seconds: float = 0.0,
    transport: ChatTransport | None = None, sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Probe every used alias (see the module docstring); returns the aliases probed."""
    columns = list(columns)
    LLMServices.validate(columns, model_configs, providers, secret_resolver=secret_resolver)
    models = {m.alias: m for m in model_configs}
    aliases = [a for a in used_aliases(columns) if not models[a].skip_health_check]
    for alias in aliases:
        for attempt in range(1, max_attempts + 1):
            failure = asyncio.run(_probe(alias, model_configs, providers, secret_resolver, transport))
            if failure is None:
                break
            exc, where = failure
            if exc.reason not in TRANSIENT_REASONS or attempt == max_attempts:
                raise _failed(alias, models[alias], where, exc, attempt)
            sleep(attempt * retry_backoff_seconds)
    return aliases


async def _probe(alias: str, model_configs: list[ModelConfig], providers: list[ModelProvider] | None,
                 secret_resolver: SecretResolver | None,
                 transport: ChatTransport | None) -> tuple[RequestFailure, str] | None:
    """One request for ``alias`` (no retries inside): None when the reply is a usable completion."""
    if transport is None:
        from ddbuild.engine.llm.transport import AiohttpTransport

        transport = owned = AiohttpTransport(max_connections=1)
    else:
        owned = None
    client = ChatClient(model_configs, providers, transport, max_retries=0, retry_max_wait=1.0,
                        secret_resolver=secret_resolver)
    try:
        route = client.route(alias)
        try:
            await client.send(alias, _body(route.model, route.extra_body))
        except RequestFailure as exc:
            return exc, f"provider '{client.provider_for(route.model).name}', {route.url}"
        return None
    finally:
        if owned is not None:
            await owned.aclose()


def _body(model: ModelConfig, provider_extra: dict[str, Any]) -> dict[str, Any]:
    """Data Designer's probe: "Hello!" as a chat message, or as the one input of an embedding model."""
    params = model.inference_parameters
    body: dict[str, Any] = {**provider_extra, **(params.extra_body or {})}
    body["model"] = model.model
    if isinstance(params, EmbeddingInferenceParams):
        body["input"] = [PROMPT]
        body["encoding_format"] = params.encoding_format
        if params.dimensions is not None:
            body["dimensions"] = params.dimensions
        return body
    body["messages"] = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": PROMPT}]
    for name in ("temperature", "top_p"):
        value = getattr(params, name)
        if value is not None and not hasattr(value, "sample"):  # a sampled value: the endpoint's default
            body[name] = value
    if params.max_tokens is not None:
        body["max_tokens"] = params.max_tokens
    return body


def _failed(alias: str, model: ModelConfig, where: str, exc: RequestFailure, attempts: int) -> LLMRequestError:
    got = f"HTTP {exc.status}" if exc.status is not None else exc.reason.replace("_", " ")
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    detail = f": {exc.body_excerpt}" if exc.body_excerpt else ""
    error = LLMRequestError(
        f"Model check failed for model alias '{alias}' (model '{model.model}', {where}): {got}{tries}{detail}",
        hint="Check that the endpoint is up and the model name and API key are right; "
        "check_models(max_attempts=3, retry_backoff_seconds=2) tries a busy endpoint again.",
    )
    error.__cause__ = exc
    return error
