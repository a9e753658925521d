"""Model configs and providers (Data Designer's names): validated configuration only, no I/O.

Identity: every field of these models enters a stage key (``fingerprint.model_identity``) except
the ones ``fingerprint.EXCLUDED_FIELDS`` names (concurrency, timeout, provider wiring). Secrets never do:
``ModelProvider.api_key`` is a ``SecretStr`` excluded from ``model_dump`` and from ``repr``.
Resolving keys (Data Designer's rule: the name of an environment variable if one is set, else the
key itself; ``"env:VAR"`` too) and building URLs happens in ``ddbuild.engine.llm.client``.
"""

from __future__ import annotations

import random
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from ddbuild.config.checks import check_finite
from ddbuild.config.enums import ImageFormat, Modality, ModalityDataType
from ddbuild.config.samplers import check_weights, normalise_weights
from ddbuild.errors import ModelConfigError

ENV_PREFIX = "env:"
# A bare api_key spelled like this (NVIDIA_API_KEY) names a variable: unset, it is an error rather
# than a literal key sent as a bearer token (Data Designer's check for missing keys, made stricter).
VARIABLE_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def _flatten_params(value: Any) -> Any:
    """Data Designer nests a distribution's numbers under ``params``; ddbuild keeps them inline
    (so keys made before this spelling was accepted stay put). Both spellings build one model."""
    if isinstance(value, dict) and "params" in value:
        params = value["params"]
        if isinstance(params, BaseModel):
            params = params.model_dump()
        if isinstance(params, dict):
            return {**{k: v for k, v in value.items() if k != "params"}, **params}
    return value


class ImageContext(BaseModel):
    """An image sent with an LLM column's prompt (Data Designer's fields): the value of
    ``column_name`` in each row, one image or a list (a JSON list in a string too).

    ``data_type`` None detects each value: an http(s) URL or a ``data:`` URI is sent as it is,
    anything else is taken as base64 image bytes; a value naming a file is refused (a stage's key
    could not see the file's contents). ``"url"`` sends the value as a URL; ``"base64"`` needs
    ``image_format`` (the MIME type of the data sent). Sent as an ``image_url`` content part of
    the user message (``engine.llm.messages``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modality: Literal[Modality.IMAGE] = Modality.IMAGE
    column_name: str = Field(min_length=1)
    data_type: ModalityDataType | None = None
    image_format: ImageFormat | None = None

    @model_validator(mode="after")
    def _format_for_base64(self) -> ImageContext:
        if self.data_type == ModalityDataType.BASE64 and self.image_format is None:
            raise ValueError("ImageContext: image_format is required when data_type is 'base64' "
                             "(e.g. image_format='png')")
        return self


class UniformDistributionParams(BaseModel):
    """Data Designer's ``params`` of a uniform distribution."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    low: float
    high: float


class ManualDistributionParams(BaseModel):
    """Data Designer's ``params`` of a manual distribution."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None


class UniformDistribution(BaseModel):
    """A sampling parameter drawn uniformly from [low, high] for each request.

    Built as ``UniformDistribution(low=, high=)`` or, as in Data Designer,
    ``UniformDistribution(params=UniformDistributionParams(low=, high=))``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    distribution_type: Literal["uniform"] = "uniform"
    low: float
    high: float

    @model_validator(mode="before")
    @classmethod
    def _params_spelling(cls, value: Any) -> Any:
        return _flatten_params(value)

    @property
    def params(self) -> UniformDistributionParams:
        return UniformDistributionParams(low=self.low, high=self.high)

    @model_validator(mode="after")
    def _ordered(self) -> UniformDistribution:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


class ManualDistribution(BaseModel):
    """A sampling parameter drawn from listed values (optionally weighted) for each request."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    distribution_type: Literal["manual"] = "manual"
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _params_spelling(cls, value: Any) -> Any:
        return _flatten_params(value)

    @property
    def params(self) -> ManualDistributionParams:
        return ManualDistributionParams(values=self.values, weights=self.weights)

    @model_validator(mode="after")
    def _weights(self) -> ManualDistribution:
        check_weights(self.values, self.weights)
        object.__setattr__(self, "weights", normalise_weights(self.weights))  # Data Designer's rule
        return self

    def sample(self, rng: random.Random) -> float:
        if self.weights is None:
            return rng.choice(self.values)
        return rng.choices(self.values, weights=self.weights, k=1)[0]


Distribution = Annotated[
    Union[UniformDistribution, ManualDistribution], Field(discriminator="distribution_type")
]


def _check_range(value: Any, low: float, high: float) -> Any:
    """Range-check a float or both ends of a distribution."""
    points: list[float]
    if isinstance(value, UniformDistribution):
        points = [value.low, value.high]
    elif isinstance(value, ManualDistribution):
        points = list(value.values)
    elif value is None:
        return value
    else:
        points = [float(value)]
    for point in points:
        if not low <= point <= high:
            raise ValueError(f"must be between {low} and {high}, got {point}")
    return value


def _distribution_dict(value: Any) -> Any:
    """Accept ``{"low":…, "high":…}`` / ``{"values": […]}`` without an explicit distribution_type."""
    if isinstance(value, dict) and "distribution_type" not in value:
        if "values" in value:
            return {**value, "distribution_type": "manual"}
        if "low" in value or "high" in value:
            return {**value, "distribution_type": "uniform"}
    return value


class ChatCompletionInferenceParams(BaseModel):
    """Sampling and request settings for chat completions (Data Designer's field names)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    generation_type: Literal["chat-completion"] = "chat-completion"
    temperature: Union[float, Distribution, None] = None
    top_p: Union[float, Distribution, None] = None
    max_tokens: int | None = Field(default=None, ge=1)
    # max_parallel_requests, timeout: not identity (fingerprint.EXCLUDED_FIELDS), never change a reply.
    max_parallel_requests: int = Field(default=4, ge=1)
    timeout: float | None = Field(default=None, ge=1)
    extra_body: dict[str, Any] | None = None

    @field_validator("extra_body")
    @classmethod
    def _finite_body(cls, value: Any) -> Any:
        return check_finite(value, "extra_body")  # NaN is not JSON: the endpoint would get garbage

    @field_validator("temperature", "top_p", mode="before")
    @classmethod
    def _typed(cls, value: Any) -> Any:
        return _distribution_dict(value)

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, value: Any) -> Any:
        return _check_range(value, 0.0, 2.0)

    @field_validator("top_p")
    @classmethod
    def _top_p(cls, value: Any) -> Any:
        return _check_range(value, 0.0, 1.0)

    @property
    def is_sampled(self) -> bool:
        """True when some parameter is a distribution drawn per request."""
        return isinstance(self.temperature, BaseModel) or isinstance(self.top_p, BaseModel)


class EmbeddingInferenceParams(BaseModel):
    """Request settings for ``/v1/embeddings`` (Data Designer's field names): ``encoding_format``
    (``float`` or ``base64``; both arrive as floats) and ``dimensions`` (None: the model's own)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    generation_type: Literal["embedding"] = "embedding"
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    # max_parallel_requests, timeout: not identity (fingerprint.EXCLUDED_FIELDS), never change a reply.
    max_parallel_requests: int = Field(default=4, ge=1)
    timeout: float | None = Field(default=None, ge=1)
    extra_body: dict[str, Any] | None = None

    @field_validator("extra_body")
    @classmethod
    def _finite_body(cls, value: Any) -> Any:
        return check_finite(value, "extra_body")

    @property
    def is_sampled(self) -> bool:
        return False


EMBEDDING_FIELDS = ("encoding_format", "dimensions")


def _typed_params(value: Any) -> Any:
    """A dict of inference parameters is typed by its ``generation_type``, else by the presence of
    an embedding field (Data Designer's rule); anything else is chat-completion parameters."""
    if isinstance(value, dict) and "generation_type" not in value:
        kind = "embedding" if any(f in value for f in EMBEDDING_FIELDS) else "chat-completion"
        return {**value, "generation_type": kind}
    return value


InferenceParams = Annotated[
    Union[ChatCompletionInferenceParams, EmbeddingInferenceParams],
    BeforeValidator(_typed_params),
    Field(discriminator="generation_type"),
]


class ModelProvider(BaseModel):
    """An OpenAI-compatible endpoint.

    ``api_key`` as in Data Designer: the name of an environment variable (``"NVIDIA_API_KEY"``),
    used when that variable is set, else the key itself; ``"env:VAR_NAME"`` always names a variable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    endpoint: str = ""
    provider_type: str = "openai"
    # exclude=True: never in model_dump (identity, artifacts); SecretStr: never in repr or logs.
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    extra_headers: dict[str, str] = Field(default_factory=dict)
    extra_body: dict[str, Any] | None = None

    @field_validator("provider_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        value = value.strip().lower()
        if value != "openai":
            raise ValueError(
                f"provider_type {value!r} is not supported; use 'openai' for any "
                "OpenAI-compatible endpoint (OpenAI, NVIDIA NIM, vLLM, Ollama, llama.cpp)"
            )
        return value

    @field_validator("extra_body")
    @classmethod
    def _finite_body(cls, value: Any) -> Any:
        return check_finite(value, "extra_body")

    @field_validator("extra_headers", mode="before")
    @classmethod
    def _no_headers(cls, value: Any) -> Any:
        return {} if value is None else value  # Data Designer writes extra_headers: null

    @model_validator(mode="after")
    def _endpoint(self) -> ModelProvider:
        if not self.endpoint.strip():
            raise ModelConfigError(
                f"Model provider '{self.name}' has no endpoint.",
                hint="Set endpoint= to the base URL of an OpenAI-compatible API, "
                "e.g. 'https://api.openai.com/v1' or 'http://localhost:8000/v1'.",
            )
        if not self.endpoint.startswith(("http://", "https://")):
            raise ModelConfigError(
                f"Model provider '{self.name}' has endpoint {self.endpoint!r}, which is not an http(s) URL.",
                hint="Write the full URL, e.g. 'http://localhost:11434/v1'.",
            )
        return self

    @property
    def api_key_env_var(self) -> str | None:
        """The variable the key must come from: ``"env:VAR"``'s, or a bare key spelled like a
        variable name (``NVIDIA_API_KEY``); None for no key or a literal one."""
        if self.api_key is None:
            return None
        secret = self.api_key.get_secret_value()
        if secret.startswith(ENV_PREFIX):
            return secret[len(ENV_PREFIX) :].strip()
        return secret if VARIABLE_NAME.fullmatch(secret) else None


class ModelConfig(BaseModel):
    """A model alias used by LLM columns: the model id, its provider and inference parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    alias: str = Field(min_length=1)
    model: str = Field(min_length=1)
    provider: str | None = None
    inference_parameters: InferenceParams = Field(default_factory=ChatCompletionInferenceParams)
    skip_health_check: bool = False

    @property
    def is_embedding(self) -> bool:
        """True for a model served at ``/v1/embeddings`` (EmbeddingInferenceParams)."""
        return isinstance(self.inference_parameters, EmbeddingInferenceParams)


__all__ = [
    "ChatCompletionInferenceParams",
    "EmbeddingInferenceParams",
    "ManualDistribution",
    "ManualDistributionParams",
    "ModelConfig",
    "ModelProvider",
    "UniformDistribution",
    "UniformDistributionParams",
]
