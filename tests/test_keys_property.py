"""Stage keys change exactly when a field that is not excluded changes (hypothesis).

One edit per example: pick a config model anywhere in a stage (each column type, every sampler's
params, processors, seed spec, model configs, inference parameters and distributions, providers,
run settings, the Stage's own options), pick one of its fields, give it a new value derived from
the field's type (or from OVERRIDES), and compare stage keys before and after. The oracle never
calls ddbuild's identity code: a field changed when its JSON dump (order kept, 1 != 1.0) changed;
it must move the key unless fingerprint.EXCLUDED_FIELDS lists (its model, it). Provider fields
act through the provider each model resolves to, so for them the oracle compares that resolution.

``DDBUILD_HYPOTHESIS_EXAMPLES=5000`` runs more examples than the default.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

import ddbuild as dd
from ddbuild.config import columns as C
from ddbuild.config import constraints as K
from ddbuild.config import models as M
from ddbuild.config import processors as P
from ddbuild.config import samplers as S
from ddbuild.config import seeds as SD
from ddbuild.config.run_config import RequestAdmissionTuningConfig, RunConfig
from ddbuild.fingerprint import EXCLUDED_FIELDS, class_path, stage_key
from ddbuild.planning.identity import relative_path, stage_identity
from ddbuild.planning.joins import Concat, JoinOn
from ddbuild.planning.stage import Stage

EXAMPLES = int(os.environ.get("DDBUILD_HYPOTHESIS_EXAMPLES", "400"))
CWD = Path("/proj")
# Every excluded field's name (and the names version 1 matched at any depth).
EXCLUDED_NAMES = sorted({f for _, f in EXCLUDED_FIELDS} | {"stage_index", "absolute_path", "progress_interval"})
# ... and other words users put in templates, schemas and params.
WORDS = [*EXCLUDED_NAMES, "model", "seed", "a", "b", "{{ x }}", ""]


@dd.custom_column_generator(required_columns=["text"])
def generate_a(row: dict, params: Any) -> str:
    return f"a{row['text']}"


@dd.custom_column_generator(required_columns=["text"])
def generate_b(row: dict, params: Any) -> str:
    return f"b{row['text']}"


def validate_a(df: Any) -> Any:
    return df.assign(is_valid=True)


def validate_b(df: Any) -> Any:
    return df.assign(is_valid=False)


def on_success_a(path: Path) -> Path:
    return path


def on_success_b(path: Path) -> Path:
    return path / "b"


def join_a(paths: dict[str, Path]) -> Path:
    return next(iter(paths.values()))


# -- the stages every edit starts from ----------------------------------------------------------

def _universe() -> dict[str, Any]:
    sampler = {
        S.SamplerType.CATEGORY: {"values": ["a", 1, 2.5], "weights": [1, 2, 3]},
        S.SamplerType.SUBCATEGORY: {"category": "s_category", "values": {"a": ["x"], "b": ["y", "z"]}},
        S.SamplerType.UNIFORM: {"low": 0, "high": 10, "decimal_places": 2},
        S.SamplerType.GAUSSIAN: {"mean": 1, "stddev": 2},
        S.SamplerType.BERNOULLI: {"p": 0.5},
        S.SamplerType.BINOMIAL: {"n": 3, "p": 0.2},
        S.SamplerType.POISSON: {"mean": 2},
        S.SamplerType.UUID: {"prefix": "id-"},
        S.SamplerType.DATETIME: {"start": "2024-01-01", "end": "2024-12-31"},
        S.SamplerType.TIMEDELTA: {"dt_min": 1, "dt_max": 5, "reference_column_name": "s_datetime"},
        S.SamplerType.PERSON: {"locale": "en_GB", "sex": "Female"},
        S.SamplerType.PERSON_FROM_FAKER: {"locale": "en_US", "age_range": [20, 30]},
        S.SamplerType.SCIPY: {"dist_name": "beta", "dist_params": {"a": 2, "b": 5}, "decimal_places": 3},
        S.SamplerType.BERNOULLI_MIXTURE: {"p": 0.3, "dist_name": "expon", "dist_params": {"scale": 2}},
    }
    columns = [C.SamplerColumnConfig(name=f"s_{kind.value}", sampler_type=kind, params=params)
               for kind, params in sampler.items()]
    columns += [
        C.ExpressionColumnConfig(name="expr", expr="{{ text }} {{ timeout }}", dtype="str"),
        C.CustomColumnConfig(name="custom", generator_function=generate_a, generator_params={"timeout": 3}),
        C.SeedDatasetColumnConfig(name="text"),
        C.LLMTextColumnConfig(name="answer", prompt="Answer {{ text }}", model_alias="m", system_prompt="Be brief.",
                              multi_modal_context=[M.ImageContext(column_name="text")]),
        C.LLMCodeColumnConfig(name="code", prompt="Code for {{ text }}", model_alias="m2", code_lang="sql"),
        C.LLMStructuredColumnConfig(name="facts", prompt="Facts of {{ text }}", model_alias="m", output_format={
            "type": "object", "properties": {"timeout": {"type": "string"}, "provider": {"type": "integer"}}}),
        C.LLMJudgeColumnConfig(name="judge", prompt="Judge {{ answer }}", model_alias="m", scores=[
            C.Score(name="quality", description="How good", options={1: "bad", 2: "good"})]),
        C.EmbeddingColumnConfig(name="vec", target_column="answer", model_alias="e",
                                skip=C.SkipConfig(when="{{ text == 'x' }}", value="none")),
        C.ValidationColumnConfig(name="lint", target_columns=["code"], validator_type="code",
                                 validator_params=C.CodeValidatorParams(code_lang="python")),
        C.ValidationColumnConfig(name="local", target_columns=["answer"], validator_type="local_callable",
                                 validator_params=C.LocalCallableValidatorParams(validation_function=validate_a)),
        C.ValidationColumnConfig(name="remote", target_columns=["answer", "text"], validator_type="remote", batch_size=4,
                                 validator_params=C.RemoteValidatorParams(endpoint_url="http://v/validate",
                                                                          output_schema={"type": "object"})),
    ]
    models = [
        M.ModelConfig(alias="m", model="model-a", provider="q", inference_parameters=M.ChatCompletionInferenceParams(
            temperature=0.5, top_p=M.UniformDistribution(low=0.1, high=0.9), max_tokens=100,
            max_parallel_requests=3, timeout=30, extra_body={"timeout": 1})),
        M.ModelConfig(alias="m2", model="model-b", inference_parameters=M.ChatCompletionInferenceParams(
            temperature=M.ManualDistribution(values=[0.1, 0.2], weights=[1, 2]))),
        M.ModelConfig(alias="e", model="embed-a", inference_parameters=M.EmbeddingInferenceParams(
            dimensions=8, max_parallel_requests=2, timeout=5, extra_body={"input_type": "query"})),
    ]
    providers = [
        M.ModelProvider(name="p", endpoint="http://localhost:1/v1", api_key="env:KEY", extra_headers={"X": "1"},
                        extra_body={"provider": "x"}),
        M.ModelProvider(name="q", endpoint="https://q.example/v1", extra_body={"endpoint": 2}),
    ]
    return {
        "columns": columns,
        "constraints": [
            K.ScalarInequalityConstraint(target_column="s_uniform", operator="lt", rhs=9),
            K.ColumnInequalityConstraint(target_column="s_gaussian", operator="ge", rhs="s_uniform"),
        ],
        "processors": [
            P.DropColumnsProcessorConfig(name="drop", column_names=["expr", "s_*"]),
            P.SchemaTransformProcessorConfig(name="shape", template={"provider": "{{ answer }}", "n": 1}),
        ],
        "output_processors": [P.SchemaTransformProcessorConfig(name="out", template={"timeout": "{{ text }}"})],
        "models": models,
        "providers": providers,
        "seed": SD.SeedConfig(source=SD.LocalFileSeedSource(path="data/seed.parquet"),
                              sampling_strategy="shuffle", selection_strategy=SD.IndexRange(start=1, end=5)),
        "run": RunConfig(buffer_size=50, max_conversation_correction_steps=1,
                         request_admission=RequestAdmissionTuningConfig(cooldown_seconds=0.5)),
        "stage": {"name": "gen", "index": 0, "depends_on": (), "num_records": 20, "on_success": on_success_a,
                  "on_success_version": None, "output": "final", "allow_empty": False,
                  "sampling_strategy": SD.SamplingStrategy.ORDERED,
                  "selection_strategy": SD.PartitionBlock(index=0, num_partitions=2),
                  "join": join_a, "join_version": None, "random_seed": 7},
    }


def _child(universe: dict[str, Any]) -> dict[str, Any]:
    """The same configs as a stage with two parents (the builder's own seed is then not used)."""
    stage = {**universe["stage"], "name": "child", "index": 3, "depends_on": ("left", "right")}
    return {**universe, "stage": stage, "seed": None}


def _key(universe: dict[str, Any]) -> str:
    builder = dd.DataDesignerConfigBuilder(model_configs=universe["models"], seed=universe["stage"]["random_seed"])
    for column in universe["columns"]:
        builder.add_column(column)
    for processor in universe["processors"]:
        builder.add_processor(processor)
    for constraint in universe["constraints"]:
        builder.add_constraint(constraint)
    if universe["seed"] is not None:
        builder._seed_config = universe["seed"]
    options = {k: v for k, v in universe["stage"].items() if k != "random_seed"}
    stage = Stage(builder=builder, output_processors=tuple(universe["output_processors"]), **options)
    identity = stage_identity(stage, CWD, universe["run"], universe["providers"])
    parents = {p: "1" * 32 for p in stage.depends_on}
    return stage_key(identity, parents, {"seed_files": {"data/seed.parquet": "2" * 32}}).key


# -- where an edit can land: (path to a model, field) -------------------------------------------

def _is_model(value: Any) -> bool:
    return isinstance(value, BaseModel)


def _contains_model(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_contains_model(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_model(v) for v in value.values())
    return _is_model(value)


def _sites(value: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """Every (path to a config model, field name) reachable from ``value``."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if _is_model(value):
        for name in type(value).model_fields:
            found.append((path, name))
            found += _sites(getattr(value, name), (*path, name))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += _sites(item, (*path, i))
    return found


def _all_sites(universe: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    sites = [(("stage",), name) for name in universe["stage"]]
    for part in ("columns", "constraints", "processors", "output_processors", "models", "providers", "seed", "run"):
        sites += _sites(universe[part], (part,))
    sites += _sites(universe["stage"]["selection_strategy"], ("stage", "selection_strategy"))
    return sites


def _get(universe: dict[str, Any], path: tuple[Any, ...]) -> Any:
    value: Any = universe
    for step in path:
        value = value[step] if isinstance(value, (dict, list, tuple)) else getattr(value, step)
    return value


def _set(container: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``container`` with the value at ``path`` replaced (models copied, never mutated)."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(container, dict):
        return {**container, step: _set(container[step], rest, new)}
    if isinstance(container, (list, tuple)):
        items = list(container)
        items[step] = _set(items[step], rest, new)
        return type(container)(items)
    return container.model_copy(update={step: _set(getattr(container, step), rest, new)})


def _with_field(model: BaseModel, field: str, value: Any) -> BaseModel:
    """``model`` with ``field`` set to ``value``, validated as a user would build it."""
    fields = {name: getattr(model, name) for name in type(model).model_fields}
    try:
        return type(model).model_validate({**fields, field: value})
    except Exception:  # pydantic's ValidationError, or one of ours (SeedError, ModelConfigError)
        reject()
        raise AssertionError("unreachable") from None


# -- new values by field type --------------------------------------------------------------------

WORD = st.one_of(st.sampled_from(WORDS), st.text("abxyz_{} ", min_size=1, max_size=5))
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), WORD),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(WORD, inner, max_size=3)),
    max_leaves=6,
)
MODEL_CLASSES_WITH_EXCLUSIONS = {location for location, _ in EXCLUDED_FIELDS}


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return strategy_for(args[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([strategy_for(a) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(strategy_for(args[0]), min_size=1, max_size=3)
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), min_size=1, max_size=3)
    if annotation is type(None):
        return st.none()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-1, 12)
    if annotation is float:
        return st.one_of(st.floats(0, 1), st.floats(-5, 50, allow_nan=False))
    if annotation in (str, SecretStr):
        return WORD
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return st.fixed_dictionaries({n: strategy_for(f.annotation) for n, f in annotation.model_fields.items()})
    if annotation is Any:
        return JSON
    raise AssertionError(f"no strategy for {annotation!r}: add one to OVERRIDES")


OVERRIDES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    (class_path(C.CustomColumnConfig), "generator_function"): st.sampled_from([generate_a, generate_b]),
    (class_path(C.CustomColumnConfig), "generator_params"): st.one_of(st.none(), st.dictionaries(WORD, JSON)),
    (class_path(C.LocalCallableValidatorParams), "validation_function"): st.sampled_from([validate_a, validate_b]),
    (class_path(M.ModelProvider), "endpoint"): st.sampled_from(["http://localhost:1/v1", "https://b.example/v1"]),
    (class_path(M.ModelProvider), "provider_type"): st.sampled_from(["openai", " OpenAI", "other"]),
    (class_path(M.ModelConfig), "provider"): st.sampled_from(["p", "q", None, "missing"]),
    (class_path(M.ModelProvider), "name"): st.sampled_from(["p", "q", "r", "missing"]),
}
STAGE_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "name": WORD, "index": st.integers(0, 9),
    "depends_on": st.sampled_from([(), ("left",), ("right", "left"), ("left", "right")]),
    "num_records": st.one_of(st.none(), st.integers(1, 40)),
    "on_success": st.sampled_from([None, on_success_a, on_success_b]),
    "on_success_version": st.one_of(st.none(), WORD),
    "output": st.sampled_from(["final", "processor:shape", "processor:out"]),
    "allow_empty": st.booleans(), "sampling_strategy": st.sampled_from(list(SD.SamplingStrategy)),
    "selection_strategy": st.sampled_from([None, SD.IndexRange(start=0, end=2), SD.PartitionBlock(index=1, num_partitions=2)]),
    "join": st.sampled_from([None, Concat(), JoinOn(columns=["id"]), JoinOn(columns=["id"], how="left"), join_a]),
    "join_version": st.one_of(st.none(), WORD), "random_seed": st.integers(0, 9),
}


def _positions(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _positions(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _positions(item, (*path, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    if isinstance(value, dict):
        return {k: _replace(v, path[1:], new) if k == path[0] else v for k, v in value.items()}
    return [_replace(v, path[1:], new) if i == path[0] else v for i, v in enumerate(value)]


@st.composite
def tweaks(draw: st.DrawFn, value: Any) -> Any:
    """A small edit of user data as it is: keys reordered or renamed, 1 <-> 1.0, a word changed."""
    path = draw(st.sampled_from(_positions(value)))
    node = value
    for step in path:
        node = node[step]
    ops = []
    if isinstance(node, dict) and len(node) > 1:
        ops.append(lambda d: dict(reversed(list(d.items()))))
    if isinstance(node, dict) and node:
        word = draw(WORD)
        ops.append(lambda d: {(word if i == 0 else k): v for i, (k, v) in enumerate(d.items())})
    if isinstance(node, dict) and any(type(k) is int for k in node):
        ops.append(lambda d: {str(k): v for k, v in d.items()})
    if type(node) is int:
        ops.append(float)
    if type(node) is float and node.is_integer():
        ops.append(int)
    if isinstance(node, str):
        word = draw(WORD)
        ops.append(lambda _: word)
    if not ops:
        reject()
    return _replace(value, path, draw(st.sampled_from(ops))(node))


def _field_annotation(model: BaseModel, field: str) -> Any:
    return type(model).model_fields[field].annotation


def _mentions_excluding_model(annotation: Any) -> bool:
    """True for a field holding a model with excluded fields: edited through that model's fields."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return class_path(annotation) in MODEL_CLASSES_WITH_EXCLUSIONS
    return any(_mentions_excluding_model(a) for a in typing.get_args(annotation))


# -- the oracle ------------------------------------------------------------------------------------

def _dump(value: Any) -> str:
    """Order-keeping JSON of a value as a user wrote it (1 and 1.0 differ; callables by source)."""
    import inspect

    def plain(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return {"__model__": class_path(type(item)), **{f: plain(getattr(item, f)) for f in type(item).model_fields}}
        if dataclasses.is_dataclass(item):
            return {"__class__": type(item).__name__, **dataclasses.asdict(item)}
        if callable(item):
            return inspect.getsource(item)
        if isinstance(item, enum.Enum):
            return item.value
        if isinstance(item, (list, tuple)):
            return [plain(i) for i in item]
        if isinstance(item, dict):  # {1: ...} and {"1": ...} differ
            return {(k if isinstance(k, str) else f"<{type(k).__name__}>{k}"): plain(v) for k, v in item.items()}
        return item

    return json.dumps(plain(value), ensure_ascii=False)


def _resolved_providers(universe: dict[str, Any]) -> str:
    """Per model alias: what the provider it resolves to adds to requests (None: unresolved)."""
    providers = universe["providers"]
    by_name = {p.name: p for p in providers}
    out = {}
    for model in universe["models"]:
        provider = by_name.get(model.provider) if model.provider else providers[0]
        out[model.alias] = None if provider is None else {
            k: v for k, v in provider.model_dump(mode="json").items()
            if (class_path(M.ModelProvider), k) not in EXCLUDED_FIELDS}
    return _dump(out)


def _stage_field_matters(universe: dict[str, Any], field: str) -> bool:
    """Stage options that only mean something with another option set (documented in identity.py)."""
    stage = universe["stage"]
    if field == "on_success_version":
        return stage["on_success"] is not None
    if field == "join_version":
        return callable(stage["join"]) and not isinstance(stage["join"], (Concat, JoinOn))
    if field in ("sampling_strategy", "selection_strategy"):
        return bool(stage["depends_on"]) or universe["seed"] is not None
    return ("ddbuild.planning.stage.Stage", field) not in EXCLUDED_FIELDS


def _expect_change(before: dict[str, Any], after: dict[str, Any], path: tuple[Any, ...], field: str) -> bool:
    if _resolved_providers(before) != _resolved_providers(after):
        return True
    if path[0] == "providers":
        return False  # a provider enters only through the models that resolve to it
    if path == ("stage",):
        changed = _dump(before["stage"][field]) != _dump(after["stage"][field])
        return changed and _stage_field_matters(before, field)
    if path[0] == "seed" and before["stage"]["depends_on"]:
        return False  # a stage with parents is seeded by them
    old, new = _get(before, path), _get(after, path)
    if (class_path(type(old)), field) in EXCLUDED_FIELDS:
        return False
    for depth in range(1, len(path)):  # inside an excluded field (RunConfig.request_admission.*)
        owner = _get(before, path[:depth])
        if isinstance(owner, BaseModel) and (class_path(type(owner)), path[depth]) in EXCLUDED_FIELDS:
            return False
    a, b = getattr(old, field), getattr(new, field)
    if isinstance(old, (SD.LocalFileSeedSource, SD.DirectorySeedSource, SD.FileContentsSeedSource)) \
            and field == "path":  # fingerprint.NORMALISED_FIELDS
        a, b = relative_path(a, CWD), relative_path(b, CWD)
    return _dump(a) != _dump(b)


# -- the property --------------------------------------------------------------------------------

def _with_seed(universe: dict[str, Any], source: Any) -> dict[str, Any]:
    return {**universe, "seed": SD.SeedConfig(source=source)}


def _bases() -> dict[str, dict[str, Any]]:
    return {
        "root": _universe(), "child": _child(_universe()),
        "files": _with_seed(_universe(), SD.FileContentsSeedSource(path="docs", file_pattern="*.md",
                                                                   encoding="latin-1")),
        "dir": _with_seed(_universe(), SD.DirectorySeedSource(path="docs", recursive=False)),
        "hf": _with_seed(_universe(), SD.HuggingFaceSeedSource(path="datasets/o/n/data/*.parquet", token="T")),
    }


BASES = _bases()
BASE_KEYS = {name: _key(u) for name, u in BASES.items()}
SITES = {name: _all_sites(u) for name, u in BASES.items()}
# Fields holding user data (templates, schemas, params, values, extra_body...): drawn half the time.
DATA_SITES = {
    name: [(path, field) for path, field in sites if path != ("stage",)
           and isinstance(getattr(_get(BASES[name], path), field), (dict, list))
           and not _contains_model(getattr(_get(BASES[name], path), field))]
    for name, sites in SITES.items()
}


@st.composite
def edits(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], str, dict[str, Any]]:
    base = draw(st.sampled_from(sorted(BASES)))
    universe = BASES[base]
    path, field = draw(st.one_of(st.sampled_from(SITES[base]), st.sampled_from(DATA_SITES[base])))
    if path == ("stage",):
        value = draw(STAGE_OPTIONS[field])
        return base, path, field, _set(universe, ("stage", field), value)
    model = _get(universe, path)
    annotation = _field_annotation(model, field)
    location = class_path(type(model))
    if (location, field) not in OVERRIDES and (_mentions_excluding_model(annotation) or field == "params"):
        reject()  # inference_parameters, a sampler's params: edited field by field at their own site
    fresh = OVERRIDES[(location, field)] if (location, field) in OVERRIDES else strategy_for(annotation)
    current = getattr(model, field)
    plain = isinstance(current, (dict, list, str, int, float)) and not _contains_model(current)
    value = draw(st.one_of(fresh, tweaks(current)) if plain else fresh)
    return base, path, field, _set(universe, path, _with_field(model, field, value))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(edits())
def test_key_changes_exactly_when_a_field_that_enters_it_changes(edit) -> None:
    base, path, field, after = edit
    before = BASES[base]
    expected = _expect_change(before, after, path, field)
    owner = "Stage" if path == ("stage",) else type(_get(before, path)).__name__
    event(f"{owner}.{field}: {'changes' if expected else 'same'}")  # --hypothesis-show-statistics
    changed = BASE_KEYS[base] != _key(after)
    assert changed == expected, f"{base}: {'.'.join(map(str, path))}.{field}: key changed={changed}"


def test_every_field_of_every_config_model_is_edited() -> None:
    """A new model or field must get a strategy (and a decision: excluded or not) here."""
    reached = {(class_path(type(_get(BASES[b], path))), f) for b in BASES for path, f in SITES[b] if path != ("stage",)}
    classes = [*C.COLUMN_CLASSES.values(), *P.PROCESSOR_CLASSES.values(), *S.SAMPLER_PARAMS.values(),
               M.ModelConfig, M.ChatCompletionInferenceParams, M.EmbeddingInferenceParams, C.SkipConfig,
               C.CodeValidatorParams, C.LocalCallableValidatorParams, C.RemoteValidatorParams,
               M.ModelProvider, M.UniformDistribution,
               M.ManualDistribution, M.ImageContext, C.Score, SD.SeedConfig, SD.LocalFileSeedSource,
               SD.DirectorySeedSource, SD.FileContentsSeedSource, SD.HuggingFaceSeedSource, SD.IndexRange,
               SD.PartitionBlock, RunConfig, RequestAdmissionTuningConfig, K.ScalarInequalityConstraint,
               K.ColumnInequalityConstraint]
    wanted = {(class_path(cls), f) for cls in classes for f in cls.model_fields}
    assert wanted - reached == set()
    stage_fields = {f.name for f in dataclasses.fields(Stage)} - {"builder", "output_processors"}
    assert stage_fields <= set(STAGE_OPTIONS), stage_fields - set(STAGE_OPTIONS)


@pytest.mark.parametrize("base", sorted(BASES))
def test_a_copy_of_the_base_has_the_same_key(base) -> None:
    assert _key(BASES[base]) == _key(_bases()[base])


# -- an excluded field's name used as user data still enters the key ---------------------------

def _column(name: str) -> tuple[str, int]:
    return ("columns", next(i for i, c in enumerate(BASES["root"]["columns"]) if c.name == name))


# Where users write words: (path to a model, field, value built from (word, variant)). One line each.
PLACEMENTS: dict[str, tuple[tuple[Any, ...], str, Any]] = {
    "schema_transform template key": (("processors", 1), "template", lambda w, v: {w: "{{ answer }}" + v}),
    "output processor template key": (("output_processors", 0), "template", lambda w, v: {w: v}),
    "llm_structured schema property": (_column("facts"), "output_format",
                                       lambda w, v: {"type": "object", "properties": {w: {"type": v}}}),
    "custom column param": (_column("custom"), "generator_params", lambda w, v: {w: v}),
    "expression text": (_column("expr"), "expr", lambda w, v: "{{ " + w + " }}" + v),
    "llm prompt": (_column("answer"), "prompt", lambda w, v: f"{w}: {{{{ text }}}} {v}"),
    "judge option": (("columns", _column("judge")[1], "scores", 0), "options", lambda w, v: {w: v}),
    "category value": (("columns", 0, "params"), "values", lambda w, v: [w, v, "c"]),
    "subcategory key": (("columns", 1, "params"), "values", lambda w, v: {w: [v]}),
    "model extra_body": (("models", 0, "inference_parameters"), "extra_body", lambda w, v: {w: v}),
    "provider extra_body": (("providers", 1), "extra_body", lambda w, v: {w: v}),
    "seed path": (("seed", "source"), "path", lambda w, v: f"data/{w}/{v}.parquet"),
    "drop_columns pattern": (("processors", 0), "column_names", lambda w, v: [w + v]),
}


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_an_excluded_fields_name_as_user_data_enters_the_key(placement) -> None:
    path, field, build = PLACEMENTS[placement]
    universe = BASES["root"]
    model = _get(universe, path)
    for word in EXCLUDED_NAMES:
        keys = {_key(_set(universe, path, _with_field(model, field, build(word, v)))) for v in ("a", "b")}
        assert len(keys) == 2, f"{placement}: {word!r} as user data did not change the key"
