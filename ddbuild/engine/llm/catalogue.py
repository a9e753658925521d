"""Data Designer's predefined model providers and default model aliases, and the user's files that replace them.

Facts carried over from Data Designer 0.9.7 (names, endpoints, key variables, default models):

    provider     endpoint                              key variable
    nvidia       https://integrate.api.nvidia.com/v1   NVIDIA_API_KEY
    openai       https://api.openai.com/v1             OPENAI_API_KEY      (OPENAI_BASE_URL overrides: ddbuild)
    openrouter   https://openrouter.ai/api/v1          OPENROUTER_API_KEY

Each provider has default aliases ``<provider>-text``, ``-reasoning``, ``-vision`` and
``-embedding`` (the table below; the embedding ones have EmbeddingInferenceParams).

The user's ``model_providers.yaml`` (``providers: [...]``) and ``model_configs.yaml``
(``model_configs: [...]``) in ``$DATA_DESIGNER_HOME`` (default ``~/.data-designer``), when present,
replace the built-in lists, as in Data Designer (which writes the built-ins there on first use);
their image configs are left out (no image columns in ddbuild yet).
Everything is read when a ``DataDesigner`` is constructed, so the build file's load sees the reads
(the no-op stamp notices an edited file).

A builder that declares no model configs may use the default aliases: only the ones its LLM columns
name are added (``effective_model_configs``), so they enter the keys of stages that use them and of
no other stage.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from ddbuild.config.columns import is_llm_column
from ddbuild.config.models import (
    ChatCompletionInferenceParams,
    EmbeddingInferenceParams,
    ModelConfig,
    ModelProvider,
)
from ddbuild.errors import ModelConfigError

_Model = TypeVar("_Model", bound=BaseModel)

HOME_ENV = "DATA_DESIGNER_HOME"
PROVIDERS_FILE = "model_providers.yaml"
MODEL_CONFIGS_FILE = "model_configs.yaml"
MAX_FILE_BYTES = 1 << 20  # a settings file, not data: anything bigger is a mistake
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"

# name -> (endpoint, the environment variable holding its key)
PREDEFINED_PROVIDERS: dict[str, tuple[str, str]] = {
    "nvidia": ("https://integrate.api.nvidia.com/v1", "NVIDIA_API_KEY"),
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
}

# provider -> role -> (model id, inference parameters)
DEFAULT_MODELS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "nvidia": {
        "text": ("nvidia/nemotron-3.5-lightning-30b-a3b",
                 {"temperature": 1.0, "top_p": 0.95, "extra_body": {"chat_template_kwargs": {"enable_thinking": False}}}),
        "reasoning": ("nvidia/nemotron-3-super-120b-a12b",
                      {"temperature": 1.0, "top_p": 0.95, "extra_body": {"reasoning_effort": "medium"}}),
        "vision": ("nvidia/nemotron-3-nano-omni-30b-a3b-reasoning", {"temperature": 0.6, "top_p": 0.95}),
        "embedding": ("nvidia/nemotron-3-embed-1b",
                      {"encoding_format": "float", "extra_body": {"input_type": "query"}}),
    },
    "openai": {
        "text": ("gpt-4.1", {"temperature": 0.85, "top_p": 0.95}),
        "reasoning": ("gpt-5", {"extra_body": {"reasoning_effort": "medium"}}),
        "vision": ("gpt-5", {"extra_body": {"reasoning_effort": "medium"}}),
        "embedding": ("text-embedding-3-large", {"encoding_format": "float"}),
    },
    "openrouter": {
        "text": ("nvidia/nemotron-3-nano-30b-a3b", {"temperature": 1.0, "top_p": 1.0}),
        "reasoning": ("openai/gpt-oss-20b", {"temperature": 0.35, "top_p": 0.95}),
        "vision": ("nvidia/nemotron-3-nano-omni-30b-a3b-reasoning:free", {"temperature": 0.6, "top_p": 0.95}),
        "embedding": ("openai/text-embedding-3-large", {"encoding_format": "float"}),
    },
}

# ModelConfig(provider=None) goes to the first provider; with the built-ins that is openai, as
# ddbuild has always done (Data Designer requires a provider name).
_RUNTIME_ORDER = ("openai", "nvidia", "openrouter")


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$DATA_DESIGNER_HOME``, else ``~/.data-designer`` (``~`` from ``$HOME``)."""
    environ = os.environ if environ is None else environ
    if environ.get(HOME_ENV):
        return Path(environ[HOME_ENV])
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".data-designer"


def builtin_providers() -> list[ModelProvider]:
    """Data Designer's predefined providers, in its order; each key is the name of a variable."""
    return [ModelProvider(name=name, endpoint=endpoint, api_key=SecretStr(variable))
            for name, (endpoint, variable) in PREDEFINED_PROVIDERS.items()]


def builtin_model_configs() -> list[ModelConfig]:
    """The default aliases ``<provider>-<role>`` of every predefined provider."""
    return [
        ModelConfig(alias=f"{provider}-{role}", model=model, provider=provider,
                    inference_parameters=(EmbeddingInferenceParams(**params) if role == "embedding"
                                          else ChatCompletionInferenceParams(**params)))
        for provider, roles in DEFAULT_MODELS.items()
        for role, (model, params) in roles.items()
    ]


def default_model_providers(environ: Mapping[str, str] | None = None) -> list[ModelProvider]:
    """What ``DataDesigner.get_default_model_providers()`` returns: the user's file, else the built-ins."""
    listed = _read_list(home_dir(environ) / PROVIDERS_FILE, "providers")
    if listed is None:
        return builtin_providers()
    return [_parse(ModelProvider, item, PROVIDERS_FILE, "providers", i) for i, item in enumerate(listed)]


def default_model_configs(environ: Mapping[str, str] | None = None) -> list[ModelConfig]:
    """What ``DataDesigner.get_default_model_configs()`` returns: the user's file, else the built-ins."""
    listed = _read_list(home_dir(environ) / MODEL_CONFIGS_FILE, "model_configs")
    if listed is None:
        return builtin_model_configs()
    return [_parse(ModelConfig, item, MODEL_CONFIGS_FILE, "model_configs", i)
            for i, item in enumerate(listed) if _runs(item)]


def _runs(item: Any) -> bool:
    """False for the image configs Data Designer writes into the file (ddbuild has no image
    columns yet): they are left out, so a column naming one is told its alias is not configured."""
    params = item.get("inference_parameters") if isinstance(item, dict) else None
    kind = params.get("generation_type", "chat-completion") if isinstance(params, dict) else "chat-completion"
    return kind in ("chat-completion", "embedding")


def runtime_providers(environ: Mapping[str, str] | None = None) -> list[ModelProvider]:
    """The providers a run uses when none are given: the user's file, else the built-ins with
    ``openai`` first (the default for ``provider=None``) at ``$OPENAI_BASE_URL`` when that is set."""
    environ = os.environ if environ is None else environ
    if (home_dir(environ) / PROVIDERS_FILE).is_file():
        return default_model_providers(environ)
    by_name = {p.name: p for p in builtin_providers()}
    base_url = environ.get(OPENAI_BASE_URL_ENV)
    if base_url:
        by_name["openai"] = by_name["openai"].model_copy(update={"endpoint": base_url})
    return [by_name[name] for name in _RUNTIME_ORDER]


def effective_model_configs(
    declared: Iterable[ModelConfig], columns: Iterable[Any], defaults: Iterable[ModelConfig] | None
) -> list[ModelConfig]:
    """``declared`` when it is not empty; else the default configs whose aliases the LLM columns
    name (Data Designer gives a builder without model configs the default aliases)."""
    declared = list(declared)
    if declared or defaults is None:
        return declared
    wanted = {c.model_alias for c in columns if is_llm_column(c)}
    return [m for m in defaults if m.alias in wanted]


def _read_list(path: Path, field: str) -> list[Any] | None:
    """The list under ``field`` in a YAML file; None when the file is absent or has no such field."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ModelConfigError(f"Cannot read '{path}': {exc.strerror or exc}.") from None
    if len(data) > MAX_FILE_BYTES:
        raise ModelConfigError(f"'{path}' is larger than {MAX_FILE_BYTES} bytes; it should list a few {field}.")
    import yaml

    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ModelConfigError(f"'{path}' is not valid YAML: {exc}",
                               hint=f"Fix or delete it (ddbuild then uses Data Designer's built-in {field}).") from None
    if document is None or (isinstance(document, dict) and field not in document):
        return None
    listed = document.get(field) if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise ModelConfigError(f"'{path}' must hold a mapping with a list under '{field}:'.")
    return listed


def _parse(cls: type[_Model], item: Any, file: str, field: str, index: int) -> _Model:

    try:
        return cls.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or field}: {e['msg']}" for e in exc.errors())
        raise ModelConfigError(f"{file}: {field}[{index}] is not valid: {problems}.") from None
