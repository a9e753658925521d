"""Identity: canonical JSON, xxh3_128 digests, and the table of fields that never enter a key.

Only this module computes keys. Everything hashed goes through ``canonical_json`` (sorted keys,
no whitespace, UTF-8, floats in repr form) so that the same identity gives the same digest on
every machine. ``HASH_SCHEME_VERSION`` is inside every key: changing how keys are computed
means bumping it (golden tests in tests/test_fingerprint.py pin literal keys).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

if TYPE_CHECKING:
    import pandas as pd

HASH_SCHEME_VERSION = 2
# 2: exclusion by (model, field) instead of by key name at any depth; 1 and 1.0, NaN and "nan"
#    are told apart; run settings and the model's provider request fields enter the key.
# Bumped whenever the engine would generate different bytes for the same config.
ENGINE_COMPAT_VERSION = 2
# 2: seeded rows have an identity (content + occurrence, ddbuild.engine.rowid): samplers on seeded
#    rows, seed shuffles and LLM draws follow it instead of the row's position. Stage keys are
#    computed as before (HASH_SCHEME_VERSION unchanged); they change because this number is in them.

DIGEST_HEX_LEN = 32  # xxh3_128 as lowercase hex

_MODELS = "ddbuild.config.models"
INFERENCE_PARAMS = f"{_MODELS}.ChatCompletionInferenceParams"
EMBEDDING_PARAMS = f"{_MODELS}.EmbeddingInferenceParams"
MODEL_CONFIG = f"{_MODELS}.ModelConfig"
MODEL_PROVIDER = f"{_MODELS}.ModelProvider"
RUN_CONFIG = "ddbuild.config.run_config.RunConfig"
STAGE = "ddbuild.planning.stage.Stage"
SEED_SOURCE = "ddbuild.config.seeds.LocalFileSeedSource"
DIRECTORY_SOURCES = ("ddbuild.config.seeds.DirectorySeedSource", "ddbuild.config.seeds.FileContentsSeedSource")
HF_SOURCE = "ddbuild.config.seeds.HuggingFaceSeedSource"

# The fields that never enter an identity, each with the reason: (model class, field name).
# Exclusion is by field of a known model, never by a name found in a dump: a template, prompt,
# schema, custom parameter, expression or seed option that says ``timeout`` or ``provider`` is
# user data and enters the key (tests/test_keys_property.py checks both directions).
EXCLUDED_FIELDS: dict[tuple[str, str], str] = {
    (INFERENCE_PARAMS, "max_parallel_requests"): "concurrency changes speed, never the data",
    (INFERENCE_PARAMS, "timeout"): "a timeout changes when we give up, never a successful reply",
    (EMBEDDING_PARAMS, "max_parallel_requests"): "concurrency changes speed, never the data",
    (EMBEDDING_PARAMS, "timeout"): "a timeout changes when we give up, never a successful reply",
    **{("ddbuild.config.columns.RemoteValidatorParams", f): "how a remote validator is asked (time, retries, "
       "concurrency), never its reply" for f in ("timeout", "max_retries", "retry_backoff", "max_parallel_requests")},
    (MODEL_CONFIG, "provider"): "the provider name is local wiring; the model id identifies the model "
    "(the provider's request fields enter the key through the model, see ModelProvider)",
    (MODEL_CONFIG, "skip_health_check"): "a start-up probe setting, not part of what is generated",
    (MODEL_PROVIDER, "name"): "the provider name is local wiring; the model id identifies the model",
    (MODEL_PROVIDER, "endpoint"): "two teammates with different endpoints for the same model share entries",
    (MODEL_PROVIDER, "api_key"): "secrets never enter keys, artifacts or logs",
    (MODEL_PROVIDER, "extra_headers"): "transport headers (auth, tracing) do not change the model",
    (RUN_CONFIG, "max_retries"): "retries change how hard we try, never a successful reply",
    (RUN_CONFIG, "retry_max_wait"): "retries change how hard we try, never a successful reply",
    (RUN_CONFIG, "disable_early_shutdown"): "decides whether a failing run stops, never the rows of "
    "a finished one (a stopped run is never stored)",
    (RUN_CONFIG, "shutdown_error_rate"): "decides whether a failing run stops, never the rows of a finished one",
    (RUN_CONFIG, "shutdown_error_window"): "decides whether a failing run stops, never the rows of a finished one",
    **{(RUN_CONFIG, f): "Data Designer's scheduler, tracing or display setting: accepted, ddbuild has no such "
       "machinery, so it never changes the data" for f in (
           "max_concurrent_row_groups", "max_in_flight_tasks", "non_inference_max_parallel_workers",
           "async_trace", "write_scheduler_events", "display_tui", "progress_interval", "otel_metrics_port")},
    (RUN_CONFIG, "jinja_rendering_engine"): "ddbuild renders every template in its own bounded sandbox "
    "whatever this says, so it never changes the data",
    (RUN_CONFIG, "request_admission"): "how many requests are in flight (AIMD tuning) changes speed, never a reply",
    (HF_SOURCE, "token"): "secrets never enter keys, artifacts or logs",
    (HF_SOURCE, "endpoint"): "where the dataset is fetched from; its files' bytes enter through inputs.seed_files",
    (STAGE, "index"): "stage position: inserting an unrelated stage must not invalidate others",
    (STAGE, "name"): "entries are shared by content; a parent's name enters its child's key with its digest",
}

# Data Designer's fields that select a feature ddbuild does not run yet: they enter an identity
# only when set to something other than their default, so keys made before they were accepted (and
# a config that spells the default, as Data Designer's YAML does) stay the same. A non-default value
# is refused at build time (config/support.py) and enters the key, should it ever be run.
_COLUMNS = "ddbuild.config.columns"
_ALL_COLUMNS = ("SamplerColumnConfig", "ExpressionColumnConfig", "CustomColumnConfig", "SeedDatasetColumnConfig",
                "LLMTextColumnConfig", "LLMCodeColumnConfig", "LLMStructuredColumnConfig", "LLMJudgeColumnConfig")
_LLM_COLUMNS = _ALL_COLUMNS[4:]
_NOT_RUN = "a Data Designer feature ddbuild does not run yet; at its default it changes nothing"
_ADDED_LATER = "run since issue 14; at its default it changes nothing, so keys made before it stay the same"
OMITTED_AT_DEFAULT: dict[tuple[str, str], str] = {
    **{(f"{_COLUMNS}.{c}", f): _ADDED_LATER for c in _ALL_COLUMNS for f in ("skip", "propagate_skip")},
    **{(f"{_COLUMNS}.{c}", "tool_alias"): _NOT_RUN for c in _LLM_COLUMNS},
    **{(f"{_COLUMNS}.{c}", f): _ADDED_LATER for c in _LLM_COLUMNS
       for f in ("multi_modal_context", "with_trace", "extract_reasoning_content")},
    (RUN_CONFIG, "max_conversation_restarts"): "which replies survive (a row whose conversation keeps "
    "failing to parse may parse after a restart); enters keys when not Data Designer's default 5, so keys "
    "made before restarts ran stay put (a stage stored then may hold drops a restart would now save)",
    (f"{_COLUMNS}.SamplerColumnConfig", "conditional_params"): "runs; at its default (no conditions) it "
    "changes nothing, so keys made before it ran stay the same",
    **{("ddbuild.config.samplers.PersonSamplerParams", f): _NOT_RUN
       for f in ("city", "select_field_values", "with_synthetic_personas")},
    ("ddbuild.config.samplers.PersonFromFakerSamplerParams", "city"): "runs (the Faker person's city is drawn "
    "from it); at its default it changes nothing, so keys made before it ran stay the same",
}

# Fields that enter an identity in a normal form rather than as written (planning/identity.py).
NORMALISED_FIELDS: dict[tuple[str, str], str] = {
    (SEED_SOURCE, "path"): "relative to the working directory, POSIX separators: absolute paths "
    "differ per machine; the files' bytes enter through inputs.seed_files",
    **{(d, "path"): "relative to the working directory, POSIX separators; the files' bytes (by relative "
       "path) enter through inputs.seed_files, never their modification times" for d in DIRECTORY_SOURCES},
    (STAGE, "builder"): "its config models, field by field (model_identity)",
    (STAGE, "on_success"): "on_success_version when given, else a digest of the callback's source",
    (STAGE, "join"): "the join's identity (kind, columns, how; a callable's version or source digest)",
}


def class_path(cls: type) -> str:
    """``module.QualName``: how EXCLUDED_FIELDS names a model (a user's class never matches)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def model_identity(model: Any) -> Any:
    """The JSON a ddbuild config model contributes to a key: its fields, minus EXCLUDED_FIELDS.

    Walks ddbuild's own config models (pydantic) field by field; every other value (a template,
    prompt, schema, custom column's params, expression, seed option, a user's pydantic model) is
    user data and enters whole, as ``model_dump(mode="json")`` gives it.
    """
    return _walk(model, model.model_dump(mode="json"), [])


_SCALARS = (str, int, float, bool, type(None))
_KNOWN_FIELDS: dict[type, tuple[str, ...] | None] = {}  # class -> fields that enter; None: not ours


def _fields_that_enter(cls: type) -> tuple[str, ...] | None:
    """The fields of one of ddbuild's config models that enter keys; None for any other class."""
    if cls not in _KNOWN_FIELDS:
        fields = getattr(cls, "model_fields", None) if cls.__module__.startswith("ddbuild.") else None
        owner = class_path(cls)
        _KNOWN_FIELDS[cls] = (
            tuple(f for f in fields if (owner, f) not in EXCLUDED_FIELDS) if fields is not None else None
        )
        _DEFAULTS[cls] = {
            f: info.get_default(call_default_factory=True)
            for f, info in (fields or {}).items() if (owner, f) in OMITTED_AT_DEFAULT
        }
    return _KNOWN_FIELDS[cls]


_DEFAULTS: dict[type, dict[str, Any]] = {}  # class -> {OMITTED_AT_DEFAULT field: its default}


def _walk(raw: Any, dumped: Any, orders: list[list[str]]) -> Any:
    """``raw``'s identity, ``dumped`` its JSON dump; user mappings' key orders go to ``orders``."""
    if type(raw) in _SCALARS:
        return raw  # as written: the json dump turns NaN into None
    fields = _fields_that_enter(type(raw))
    if fields is not None and isinstance(dumped, dict):
        return _model_fields(raw, dumped, fields)
    if isinstance(raw, (list, tuple)) and isinstance(dumped, list) and len(raw) == len(dumped):
        return [_walk(r, d, orders) for r, d in zip(raw, dumped, strict=True)]
    if isinstance(raw, dict) and isinstance(dumped, dict) and len(raw) == len(dumped):
        orders.append(list(raw))  # as written: {1: ...} and {"1": ...} dump alike but differ
        return {k: _walk(r, d, orders) for (k, d), r in zip(dumped.items(), raw.values(), strict=True)}
    return dumped


def _plain_keys(keys: list[Any]) -> bool:
    """True when canonical JSON says all there is to say about these keys: sorted strings."""
    return all(type(k) is str for k in keys) and keys == sorted(keys)


def _model_fields(model: Any, dumped: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    defaults = _DEFAULTS[type(model)]
    for name in fields:
        if name not in dumped:  # Field(exclude=True), e.g. ModelProvider.api_key
            continue
        value = getattr(model, name)
        if name in defaults and value == defaults[name]:
            continue  # OMITTED_AT_DEFAULT
        if type(value) in _SCALARS:
            out[name] = value
            continue
        orders: list[list[str]] = []
        out[name] = _walk(value, dumped[name], orders)
        if not all(_plain_keys(keys) for keys in orders):
            # canonical_json sorts keys and writes them as strings, but in user data both can be
            # data: a schema_transform template's key order is its output's column order, a
            # judge's option order is its prompt and its option keys' type the type of its scores.
            # ":" cannot be in a field name, so this never clashes with a real field.
            out[f"{name}:key_order"] = orders
    return out


# Values that normalise to themselves, by exact type: a dict's or list's items of these types are
# copied without a call (most of a request body and of a config's dump).
_AS_IS = frozenset({str, int, float, bool, type(None)})
_AS_IS_JSON_NUMBERS = frozenset({str, int, bool, type(None)})  # floats: 1.0 is spelt 1


def _normalise(value: Any) -> Any:
    kind = type(value)  # exact-type fast paths first: isinstance(x, Mapping) is an ABC check (slow)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): v if type(v) in _AS_IS else _normalise(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _AS_IS else _normalise(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(_normalise(v) for v in value)
    return value


def canonical_json(value: object) -> str:
    """Sorted-key, whitespace-free JSON of ``value``.

    Numbers keep their type: ``1`` and ``1.0`` differ (a category sampler over ``[1, 2]`` writes an
    int64 column, over ``[1.0, 2.0]`` a float64 one), and NaN / infinities are the JSON tokens
    ``NaN`` / ``Infinity``, never the string ``"nan"``. Typed float fields are already floats.
    """
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- request keys: JSON-number semantics --------------------------------------------------------
# A request body is JSON read by a server, where 1 and 1.0 are the same number: request keys keep
# version 1's spelling (integer-valued floats as ints), so their documents, and every cached LLM
# response, outlive stage-key scheme changes that do not touch the request recipe.
REQUEST_KEY_SCHEME = 1  # the "scheme" inside request keys; bump only when their recipe changes


def _normalise_json_numbers(value: Any) -> Any:
    kind = type(value)  # exact-type fast paths first, as in _normalise
    if kind in _AS_IS_JSON_NUMBERS:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): v if type(v) in _AS_IS_JSON_NUMBERS else _normalise_json_numbers(v)
                for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _AS_IS_JSON_NUMBERS else _normalise_json_numbers(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _normalise_json_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise_json_numbers(v) for v in value]
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(_normalise_json_numbers(v) for v in value)
    return value


def digest_request(value: object) -> str:
    """xxh3_128 of a request document: canonical JSON with numbers as a JSON reader sees them."""
    text = json.dumps(_normalise_json_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return digest_bytes(text.encode("utf-8"))


def digest_bytes(data: bytes | memoryview) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def digest_json(value: object) -> str:
    """xxh3_128 (hex) of the canonical JSON of ``value``."""
    return digest_bytes(canonical_json(value).encode("utf-8"))


_CHUNK = 8 * 1024 * 1024


def digest_file(path: str | os.PathLike[str]) -> str:
    """xxh3_128 of a file's bytes.

    Memory-mapped and hashed in one call (~10 GB/s warm here, against ~5.6 GB/s for 8 MiB
    ``readinto`` chunks): the mapping is backed by the page cache, so memory stays flat. Empty and
    unmappable files are streamed instead.
    """
    import mmap

    with open(path, "rb", buffering=0) as handle:
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return xxhash.xxh3_128_hexdigest(mapped)
        except (ValueError, OSError):  # empty file, or a file that cannot be mapped
            return _digest_stream(handle)


def _digest_stream(handle: Any) -> str:
    hasher = xxhash.xxh3_128()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    while True:
        read = handle.readinto(buffer)
        if not read:
            break
        hasher.update(view[:read])
    return hasher.hexdigest()


def digest_files(digests: Iterable[str]) -> str:
    """One digest over an ordered list of file digests (the digest of a multi-file output)."""
    return digest_json(list(digests))


_DIGEST = re.compile(f"[0-9a-f]{{{DIGEST_HEX_LEN}}}")


def is_digest(text: object) -> bool:
    """True when ``text`` is a well-formed digest: only then may it become part of a path."""
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None  # a regex: ~7 per LLM request


# -- workflow stages -------------------------------------------------------------------------

@dataclass(frozen=True)
class StageKey:
    """A stage key and the document it is the digest of (entries keep the document, so a later
    plan can name the fields that changed)."""

    key: str
    document: dict[str, Any]


def stage_key(
    identity: Mapping[str, Any], parents: Mapping[str, str], seed: Mapping[str, Any] | None = None
) -> StageKey:
    """The stage key (DESIGN §3): xxh3_128 of {scheme, engine, stage identity, inputs}.

    The one place a stage key is computed: the planner calls it once a stage's inputs are known,
    and the executor builds and publishes under the key the plan carries.

    ``identity``: planning.identity.stage_identity(...). ``parents``: parent name -> the parent's
    selected OUTPUT digest (not its key: equal bytes give equal child keys, early cutoff).
    ``seed``: a root stage's own seed, planning.inputs.SeedInput.key_inputs(): {"seed_files":
    {relative path -> content digest}} or {"seed_frame": digest of an in-memory DataFrame}.
    """
    inputs: dict[str, Any] = {"parents": {name: parents[name] for name in sorted(parents)}, **(seed or {})}
    document = {
        "scheme": HASH_SCHEME_VERSION,
        "engine": ENGINE_COMPAT_VERSION,
        "stage": dict(identity),  # planning/identity.py: built from model_identity(...)
        "inputs": inputs,
    }
    return StageKey(digest_json(document), document)


def output_digest(file_digests: Iterable[str]) -> str:
    """Digest of a selected output: one digest over its files' content digests, in order.

    Equal bytes in the same order give the same digest, whatever the files are called, so a
    stage that reproduces its output leaves downstream keys unchanged (early cutoff).
    """
    return digest_files(file_digests)


def frame_digest(frame: pd.DataFrame) -> str:
    """Content digest of an in-memory pandas DataFrame seed (column names, dtypes, values)."""
    import pandas as pd

    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return digest_json(
        {
            "columns": [str(c) for c in frame.columns],
            "dtypes": [str(t) for t in frame.dtypes],
            "rows": digest_bytes(rows.tobytes()),
        }
    )
