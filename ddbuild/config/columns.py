"""Column configs: one pydantic model per ``column_type`` (Data Designer's names and fields)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from ddbuild.config.checks import check_name
from ddbuild.config.enums import CodeLang, TraceType, ValidatorType
from ddbuild.config.models import ImageContext
from ddbuild.config.samplers import SAMPLER_PARAMS, SamplerType


class ColumnType(str, Enum):
    SAMPLER = "sampler"
    EXPRESSION = "expression"
    CUSTOM = "custom"
    SEED_DATASET = "seed-dataset"
    LLM_TEXT = "llm-text"
    LLM_CODE = "llm-code"
    LLM_STRUCTURED = "llm-structured"
    LLM_JUDGE = "llm-judge"
    EMBEDDING = "embedding"
    VALIDATION = "validation"


def normalise_column_type(value: object) -> object:
    """Accept ``llm_text`` and ``llm-text`` alike (Data Designer's docs use both spellings)."""
    if isinstance(value, ColumnType):
        return value.value
    if isinstance(value, str):
        return value.strip().lower().replace("_", "-")
    return value


class SkipConfig(BaseModel):
    """Data Designer's conditional skip: when ``when`` (a Jinja expression, ``{{ }}`` included)
    is truthy for a row, the cell gets ``value`` instead of being generated and sends no request
    (engine/skips.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: str = Field(min_length=1)
    value: bool | int | float | str | None = None

    @field_validator("when")
    @classmethod
    def _reads_a_column(cls, value: str) -> str:
        from ddbuild.templating import check_template

        if not check_template(value, "skip.when"):
            raise ValueError(f"skip.when {value!r} reads no column; write it as a Jinja expression over "
                             "the row, e.g. \"{{ score < 3 }}\"")
        return value


class _Column(BaseModel):
    """Fields every column has. ``skip`` and ``propagate_skip`` are Data Designer's conditional
    skips (engine/skips.py); at their defaults they change nothing and stay out of keys
    (``fingerprint.OMITTED_AT_DEFAULT``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

    name: str = Field(min_length=1)
    drop: bool = False
    skip: SkipConfig | None = None
    propagate_skip: bool = True

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return check_name(value, "column name", directory=False)


class SamplerColumnConfig(_Column):
    column_type: Literal["sampler"] = "sampler"
    sampler_type: SamplerType
    params: Any = None
    # Data Designer's: condition (a Jinja expression over the row, e.g. ``"region == 'EU'"``) ->
    # the params rows meeting it draw with; the last condition a row meets wins, ``params`` else.
    conditional_params: dict[str, Any] = Field(default_factory=dict)
    convert_to: str | None = None

    @model_validator(mode="after")
    def _type_params(self) -> SamplerColumnConfig:
        params_cls = SAMPLER_PARAMS[self.sampler_type]

        def typed(value: Any) -> Any:
            if isinstance(value, params_cls):
                return value
            raw = value if value is not None else {}
            if isinstance(raw, BaseModel):
                raw = raw.model_dump()
            if isinstance(raw, dict) and "sampler_type" in raw:  # Data Designer's spelling
                raw = {k: v for k, v in raw.items() if k != "sampler_type"}
            return params_cls.model_validate(raw)

        object.__setattr__(self, "params", typed(self.params))
        if self.conditional_params:
            object.__setattr__(self, "conditional_params",
                               {condition: typed(value) for condition, value in self.conditional_params.items()})
        return self


class ExpressionColumnConfig(_Column):
    column_type: Literal["expression"] = "expression"
    expr: str = Field(min_length=1)
    dtype: Literal["str", "int", "float", "bool"] = "str"


class SeedDatasetColumnConfig(_Column):
    column_type: Literal["seed-dataset"] = "seed-dataset"


# -- custom columns -------------------------------------------------------------------------

CUSTOM_META_ATTR = "__ddbuild_custom_column__"


def custom_column_generator(
    required_columns: list[str] | None = None,
    side_effect_columns: list[str] | None = None,
    model_aliases: list[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function as a custom column generator and declare the columns it reads."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(
            function,
            CUSTOM_META_ATTR,
            {
                "required_columns": list(required_columns or []),
                "side_effect_columns": list(side_effect_columns or []),
                "model_aliases": list(model_aliases or []),
            },
        )
        return function

    return mark


def _resolve_function(value: object) -> object:
    """Configs loaded from JSON/YAML name the generator as ``module:qualname``; import it."""
    if isinstance(value, str) and ":" in value:
        module_name, _, qualname = value.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"generator_function {value!r} cannot be imported: {exc}") from None
        return obj
    return value


def function_reference(function: Callable[..., Any]) -> str:
    return f"{function.__module__}:{function.__qualname__}"


GeneratorFunction = Annotated[
    Any,
    BeforeValidator(_resolve_function),
    PlainSerializer(function_reference, return_type=str),
]


def takes_params(function: Callable[..., Any]) -> bool:
    """True when ``function`` takes a second positional argument (``generator_params``)."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: call with the row only
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds for p in parameters) >= 2


def _params_annotation(function: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model ``function`` declares for its second argument, if any."""
    import inspect
    import typing

    try:
        name = list(inspect.signature(function).parameters)[1]
        hint = typing.get_type_hints(function).get(name)
    except Exception:  # unresolvable annotations: pass the dict as it is
        return None
    return hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None


def _check_params(value: object) -> object:
    if value is None or isinstance(value, (BaseModel, dict)):
        return value
    raise ValueError(f"generator_params must be a pydantic BaseModel (or a dict), not {type(value).__name__}")


def _dump_params(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


GeneratorParams = Annotated[Any, BeforeValidator(_check_params), PlainSerializer(_dump_params)]


class GenerationStrategy(str, Enum):
    CELL_BY_CELL = "cell_by_cell"
    FULL_COLUMN = "full_column"


class CustomColumnConfig(_Column):
    """``generator_params`` reach the function as its second argument when it takes one; their
    dump is part of the config (so of every key): changing a parameter rebuilds the column.
    A config loaded from JSON/YAML carries them as a plain dict."""

    column_type: Literal["custom"] = "custom"
    generator_function: GeneratorFunction
    generation_strategy: GenerationStrategy = GenerationStrategy.CELL_BY_CELL
    generator_params: GeneratorParams = None

    @field_validator("generator_function")
    @classmethod
    def _decorated(cls, value: Any) -> Any:
        if not callable(value):
            raise ValueError("generator_function must be a function")
        if not hasattr(value, CUSTOM_META_ATTR):
            raise ValueError(
                f"generator_function {getattr(value, '__qualname__', value)!r} must be decorated with "
                "@dd.custom_column_generator(required_columns=[...])"
            )
        return value

    @model_validator(mode="after")
    def _params_accepted(self) -> CustomColumnConfig:
        if self.generator_params is not None and not takes_params(self.generator_function):
            raise ValueError(
                f"generator_params are set but {getattr(self.generator_function, '__qualname__', '?')} takes "
                "no second argument; define it as (row, generator_params) or (df, generator_params)"
            )
        model = _params_annotation(self.generator_function) if isinstance(self.generator_params, dict) else None
        if model is not None:
            from pydantic import ValidationError

            try:
                model.model_validate(self.generator_params)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"generator_params do not fit {model.__name__}: {problems}") from None
        return self

    def call_arguments(self) -> tuple[Any, ...]:
        """What follows the row (or DataFrame) in each call of the generator.

        Params loaded from JSON/YAML are a dict; when the function annotates its second argument
        with a pydantic model, the dict is validated into that model first.
        """
        if not takes_params(self.generator_function):
            return ()
        params = self.generator_params
        if isinstance(params, dict):
            model = _params_annotation(self.generator_function)
            if model is not None:
                params = model.model_validate(params)
        return (params,)

    @property
    def required_columns(self) -> list[str]:
        return list(getattr(self.generator_function, CUSTOM_META_ATTR)["required_columns"])


# -- LLM columns (validated config; executed by ddbuild.engine.llm) --------------------------


class _LLMColumn(_Column):
    """Fields of every LLM column. The last four are Data Designer's: at their defaults they
    change nothing and stay out of keys (keys made before they ran stay put). ``tool_alias`` and
    a non-image context are not run yet (``ddbuild.config.support`` refuses them). ``with_trace``
    adds a ``<name>__trace`` column, ``extract_reasoning_content`` a
    ``<name>__reasoning_content`` one (``produced_columns``)."""

    prompt: str = Field(min_length=1)
    model_alias: str = Field(min_length=1)
    system_prompt: str | None = None
    # An image context is run; other modalities load as dicts and are refused by config.support.
    multi_modal_context: list[Annotated[ImageContext | dict[str, Any], Field(union_mode="left_to_right")]] | None = None
    tool_alias: str | None = None
    with_trace: TraceType = TraceType.NONE
    extract_reasoning_content: bool = False

    @field_validator("multi_modal_context", mode="before")
    @classmethod
    def _image_contexts(cls, value: Any) -> Any:
        """An image context (``modality`` image, or none given) becomes an ImageContext, so a
        misspelt field is an error here; other modalities stay dicts (refused by config.support)."""
        if not isinstance(value, list):
            return value
        return [ImageContext.model_validate(item)
                if isinstance(item, Mapping) and str(getattr(item.get("modality", "image"), "value",
                                                              item.get("modality", "image"))) == "image"
                else item for item in value]


class LLMTextColumnConfig(_LLMColumn):
    column_type: Literal["llm-text"] = "llm-text"


class LLMCodeColumnConfig(_LLMColumn):
    column_type: Literal["llm-code"] = "llm-code"
    code_lang: str = "python"


def _schema_of(value: object) -> object:
    if isinstance(value, type) and issubclass(value, BaseModel):
        value = value.model_json_schema()
    return _ordered_schema(value)


def _ordered_schema(value: Any, *, keep_order: bool = False) -> Any:
    """A JSON schema with its keys sorted, except the names under ``properties``, whose order is
    the order of the reply's fields (data). Data Designer's YAML files sort every mapping; sorting
    where order is not data makes a schema read from them equal to the one written in Python."""
    if isinstance(value, dict):
        items = value.items() if keep_order else sorted(value.items(), key=lambda kv: str(kv[0]))
        return {k: _ordered_schema(v, keep_order=(k == "properties" and not keep_order)) for k, v in items}
    if isinstance(value, list):
        return [_ordered_schema(v) for v in value]
    return value


class LLMStructuredColumnConfig(_LLMColumn):
    column_type: Literal["llm-structured"] = "llm-structured"
    output_format: Annotated[dict[str, Any], BeforeValidator(_schema_of)]


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    options: dict[int | str, str] = Field(min_length=1)


class LLMJudgeColumnConfig(_LLMColumn):
    column_type: Literal["llm-judge"] = "llm-judge"
    scores: list[Score] = Field(min_length=1)


class EmbeddingColumnConfig(_Column):
    """Embeddings of ``target_column``'s text from an OpenAI-compatible ``/v1/embeddings`` model
    (its ModelConfig has EmbeddingInferenceParams). A value that is a list of strings (or a JSON
    text of one) is embedded item by item, in one request. The cell is Data Designer's
    ``{"embeddings": [[float, ...], ...], "num_embeddings": n, "dimension": d}``."""

    column_type: Literal["embedding"] = "embedding"
    target_column: str = Field(min_length=1)
    model_alias: str = Field(min_length=1)


# -- validation columns (Data Designer's validators; run by ddbuild.engine.validation) ----------


class CodeValidatorParams(BaseModel):
    """Lint code: ``python`` with ruff's JSON output, ``sql:<dialect>`` with sqlfluff (both from
    the optional extra ``pip install 'ddbuild[validators]'``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    validator_type: Literal["code"] = "code"
    code_lang: CodeLang


class LocalCallableValidatorParams(BaseModel):
    """Call ``validation_function(df) -> df`` on each batch of the target columns; the result has an
    ``is_valid`` column (bool or null) and any others. Its identity is its source, as a custom
    column generator's (a changed body rebuilds). ``output_schema``: a JSON schema the result
    ``{"data": [rows]}`` must satisfy."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    validator_type: Literal["local_callable"] = "local_callable"
    validation_function: GeneratorFunction
    output_schema: dict[str, Any] | None = None

    @field_validator("validation_function")
    @classmethod
    def _callable(cls, value: Any) -> Any:
        if not callable(value):
            raise ValueError("validation_function must be a function taking a DataFrame")
        return value


class RemoteValidatorParams(BaseModel):
    """POST ``{"data": [rows]}`` to ``endpoint_url``; the reply is ``{"data": [{"is_valid": …, …}]}``.
    ``timeout``, ``max_retries``, ``retry_backoff`` and ``max_parallel_requests`` change how we ask,
    never the reply: they stay out of keys (fingerprint.EXCLUDED_FIELDS). Replies are cached by
    request in the response cache."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    validator_type: Literal["remote"] = "remote"
    endpoint_url: str = Field(min_length=1)
    output_schema: dict[str, Any] | None = None
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff: float = Field(default=2.0, ge=0)
    max_parallel_requests: int = Field(default=4, ge=1)


VALIDATOR_PARAMS: dict[str, type[BaseModel]] = {
    "code": CodeValidatorParams, "local_callable": LocalCallableValidatorParams, "remote": RemoteValidatorParams,
}
ValidatorParams = Union[CodeValidatorParams, LocalCallableValidatorParams, RemoteValidatorParams]


class ValidationColumnConfig(_Column):
    """``is_valid`` and the validator's messages for each row, as Data Designer structures them:
    one dict per row, or, for a code validator over several columns, ``{column: dict}``."""

    column_type: Literal["validation"] = "validation"
    target_columns: list[str] = Field(min_length=1)
    validator_type: ValidatorType
    validator_params: ValidatorParams
    batch_size: int = Field(default=10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _typed_params(cls, data: Any) -> Any:
        """A dict of params is typed by the column's validator_type (Data Designer's rule)."""
        if isinstance(data, dict) and isinstance(data.get("validator_params"), dict):
            kind = getattr(data.get("validator_type"), "value", data.get("validator_type"))
            params_cls = VALIDATOR_PARAMS.get(str(kind))
            if params_cls is not None:
                data = {**data, "validator_params": params_cls.model_validate(
                    {**data["validator_params"], "validator_type": kind})}
        return data

    @model_validator(mode="after")
    def _params_match(self) -> ValidationColumnConfig:
        if self.validator_params.validator_type != self.validator_type.value:
            raise ValueError(f"validator_type is '{self.validator_type.value}' but validator_params are "
                             f"{type(self.validator_params).__name__}")
        return self


class UnsupportedColumnConfig(_Column):
    """A column of a type Data Designer has and ddbuild does not run yet (image):
    loaded and written back as it is, refused by ``build()`` (config/support.py)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    column_type: Literal["image"]


ColumnConfig = Annotated[
    Union[
        SamplerColumnConfig,
        ExpressionColumnConfig,
        CustomColumnConfig,
        SeedDatasetColumnConfig,
        LLMTextColumnConfig,
        LLMCodeColumnConfig,
        LLMStructuredColumnConfig,
        LLMJudgeColumnConfig,
        EmbeddingColumnConfig,
        ValidationColumnConfig,
        UnsupportedColumnConfig,
    ],
    Field(discriminator="column_type"),
]

COLUMN_CLASSES: dict[str, type[ColumnConfig]] = {
    ColumnType.SAMPLER.value: SamplerColumnConfig,
    ColumnType.EXPRESSION.value: ExpressionColumnConfig,
    ColumnType.CUSTOM.value: CustomColumnConfig,
    ColumnType.SEED_DATASET.value: SeedDatasetColumnConfig,
    ColumnType.LLM_TEXT.value: LLMTextColumnConfig,
    ColumnType.LLM_CODE.value: LLMCodeColumnConfig,
    ColumnType.LLM_STRUCTURED.value: LLMStructuredColumnConfig,
    ColumnType.LLM_JUDGE.value: LLMJudgeColumnConfig,
    ColumnType.EMBEDDING.value: EmbeddingColumnConfig,
    ColumnType.VALIDATION.value: ValidationColumnConfig,
}
UNSUPPORTED_COLUMN_TYPES = ("image",)  # UnsupportedColumnConfig

CHAT_COLUMN_TYPES: frozenset[str] = frozenset(
    t.value for t in (ColumnType.LLM_TEXT, ColumnType.LLM_CODE, ColumnType.LLM_STRUCTURED, ColumnType.LLM_JUDGE)
)
# Columns that send model requests: chat completions, or embeddings (one request per row each).
LLM_COLUMN_TYPES: frozenset[str] = CHAT_COLUMN_TYPES | {ColumnType.EMBEDDING.value}


TRACE_SUFFIX = "__trace"
REASONING_SUFFIX = "__reasoning_content"


def produced_columns(column: Any) -> tuple[str, ...]:
    """The columns a column config writes: its own, then an LLM column's side columns
    (``<name>__trace`` when ``with_trace`` is not none, ``<name>__reasoning_content`` when
    ``extract_reasoning_content``), as Data Designer names them."""
    name = column.name
    extra: list[str] = []
    if str(getattr(getattr(column, "with_trace", None), "value", "none")) != TraceType.NONE.value:
        extra.append(name + TRACE_SUFFIX)
    if getattr(column, "extract_reasoning_content", False):
        extra.append(name + REASONING_SUFFIX)
    return (name, *extra)


def is_llm_column(column: object) -> bool:
    """Whether a column sends model requests (chat completions or embeddings): the one answer for
    the planner's and the dry run's costs, the model checks, the engine and the designer.
    ``column`` is a column config or its identity (a mapping with ``column_type``, as stage keys
    hold it); both spellings count."""
    kind = column.get("column_type") if isinstance(column, Mapping) else getattr(column, "column_type", None)
    kind = normalise_column_type(kind)
    return isinstance(kind, str) and kind in LLM_COLUMN_TYPES


def is_remote_validation(column: object) -> bool:
    """Whether a column is a remote validator (it sends requests, one per batch of rows, through
    the run's transport and response cache). A column config or its identity, as ``is_llm_column``."""
    if isinstance(column, Mapping):
        kind, validator = column.get("column_type"), column.get("validator_type")
    else:
        kind, validator = getattr(column, "column_type", None), getattr(column, "validator_type", None)
    return normalise_column_type(kind) == ColumnType.VALIDATION.value and getattr(validator, "value", validator) == "remote"


def sends_requests(column: object) -> bool:
    """Whether a column sends requests that the dry run counts: a model column or a remote validator."""
    return is_llm_column(column) or is_remote_validation(column)

