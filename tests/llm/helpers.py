"""Small builders shared by the LLM tests (configs and a runner; nothing here fakes our code)."""

from __future__ import annotations

import asyncio
from typing import Any

from ddbuild.config.columns import (
    LLMCodeColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    LLMTextColumnConfig,
    Score,
)
from ddbuild.config.models import ChatCompletionInferenceParams, ModelConfig, ModelProvider
from ddbuild.engine.llm.cache import MemoryResponseCache, ResponseCache
from ddbuild.engine.llm.columns import LLMServices, RowDropped

__all__ = [
    "LLMCodeColumnConfig",
    "LLMJudgeColumnConfig",
    "LLMStructuredColumnConfig",
    "LLMTextColumnConfig",
    "Score",
    "model",
    "provider",
    "run_column",
    "services",
    "text_column",
]


def provider(url: str, name: str = "local", api_key: str | None = None, **kw: Any) -> ModelProvider:
    return ModelProvider(name=name, endpoint=url, api_key=api_key, **kw)


def model(alias: str = "fast", model_id: str = "test-model", provider_name: str | None = None, **params: Any) -> ModelConfig:
    return ModelConfig(
        alias=alias, model=model_id, provider=provider_name,
        inference_parameters=ChatCompletionInferenceParams(**params),
    )  # fmt: skip


def text_column(name: str = "answer", prompt: str = "Say something about {{ topic }}", alias: str = "fast", **kw: Any):
    return LLMTextColumnConfig(name=name, prompt=prompt, model_alias=alias, **kw)


def services(
    url: str,
    models: list[ModelConfig] | None = None,
    cache: ResponseCache | None = None,
    *,
    seed: int = 0,
    api_key: str | None = None,
    max_retries: int = 3,
    retry_max_wait: float = 2.0,
    **kw: Any,
) -> LLMServices:
    return LLMServices.create(
        models or [model()],
        [provider(url, api_key=api_key)],
        cache if cache is not None else MemoryResponseCache(),
        sampling_seed=seed,
        max_retries=max_retries,
        retry_max_wait=retry_max_wait,
        retry_base_wait=0.01,
        **kw,
    )


def run_column(svc: LLMServices, column: Any, rows: list[dict[str, Any]]) -> list[Any]:
    """Generate ``column`` for all rows concurrently (as the engine does); exceptions are returned."""

    async def go() -> list[Any]:
        generator = svc.generator_for(column)
        try:
            return await asyncio.gather(
                *(generator.generate(row, i) for i, row in enumerate(rows)), return_exceptions=True
            )
        finally:
            await svc.aclose()

    return asyncio.run(go())


def dropped(values: list[Any]) -> list[RowDropped]:
    return [v for v in values if isinstance(v, RowDropped)]
