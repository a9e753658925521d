"""Golden stage keys: changing any of these literals requires bumping HASH_SCHEME_VERSION."""

from __future__ import annotations

import dataclasses
import importlib
import math
from pathlib import Path

import ddbuild as dd
from ddbuild.fingerprint import (
    ENGINE_COMPAT_VERSION,
    EXCLUDED_FIELDS,
    HASH_SCHEME_VERSION,
    NORMALISED_FIELDS,
    canonical_json,
    output_digest,
    stage_key,
)
from ddbuild.planning.graph import Graph
from ddbuild.planning.identity import stage_identity

PROVIDERS = [dd.ModelProvider(name="local", endpoint="http://localhost:8000/v1")]


def _stages() -> Graph:
    model = dd.ModelConfig(alias="fast", model="llama-3-8b", provider="local")
    first = dd.DataDesignerConfigBuilder(model_configs=[model]).with_seed_dataset(
        dd.LocalFileSeedSource(path="/proj/data/docs.parquet"))
    first.add_column(name="answer", column_type="llm_text", model_alias="fast", prompt="Answer: {{ text }}")
    second = dd.DataDesignerConfigBuilder().add_column(name="n", column_type="expression", expr="{{ answer }}")
    wf = dd.DataDesigner().compose_workflow(name="golden")
    wf.add_stage("drafts", first, num_records=4).add_stage("clean", second)
    return Graph(tuple(wf.stages))


def test_golden_stage_keys() -> None:
    graph = _stages()
    ident = {s.name: stage_identity(s, Path("/proj"), dd.RunConfig(), PROVIDERS) for s in graph.stages}
    assert ident["drafts"]["seed"]["source"]["path"] == "data/docs.parquet"  # relative to the project
    drafts = stage_key(ident["drafts"], {}, {"seed_files": {"data/docs.parquet": "1" * 32}}).key
    clean = stage_key(ident["clean"], {"drafts": "2" * 32}).key
    assert (HASH_SCHEME_VERSION, ENGINE_COMPAT_VERSION) == (2, 2)  # engine 2: rows keep their identity
    assert drafts == "ac643a26ad0f7f3e2646d995cca6b937"
    assert clean == "8d3bf55b4b2636c51ca78e2bde4f1f69"
    assert output_digest(["1" * 32, "2" * 32]) == "5f0757065ebddf297d00c2b1f7dcc3d3"


def test_excluded_fields_do_not_change_keys() -> None:
    base = stage_identity(_stages()["drafts"], Path("/proj"), dd.RunConfig(), PROVIDERS)
    other = [dd.ModelProvider(name="other", endpoint="https://elsewhere.example/v1", api_key="sk-secret",
                              extra_headers={"X-Trace": "1"})]
    fast = dd.ModelConfig(alias="fast", model="llama-3-8b", provider="other", skip_health_check=True,
                          inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=64, timeout=5))
    builder = dd.DataDesignerConfigBuilder(model_configs=[fast]).with_seed_dataset(
        dd.LocalFileSeedSource(path="/elsewhere/proj/data/docs.parquet"))
    builder.add_column(name="answer", column_type="llm_text", model_alias="fast", prompt="Answer: {{ text }}")
    wf = dd.DataDesigner().compose_workflow(name="other")
    wf.add_stage("x", dd.DataDesignerConfigBuilder().add_column(name="q", column_type="expression", expr="1"))
    wf.add_stage("renamed", builder, num_records=4, depends_on=[])  # another position and name
    run = dd.RunConfig(max_retries=0, retry_max_wait=1, disable_early_shutdown=True, shutdown_error_rate=1,
                       shutdown_error_window=3)
    moved = stage_identity(Graph(tuple(wf.stages))["renamed"], Path("/elsewhere/proj"), run, other)
    assert moved == base


def _resolve(location: str) -> type:
    module, _, name = location.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_every_table_entry_names_a_real_field_of_a_real_model() -> None:
    """A renamed field would silently start entering keys (or the table would lie): pin both."""
    for (location, field), reason in {**EXCLUDED_FIELDS, **NORMALISED_FIELDS}.items():
        cls = _resolve(location)
        fields = cls.model_fields if hasattr(cls, "model_fields") else {f.name for f in dataclasses.fields(cls)}
        assert field in fields, (location, field)
        assert reason.strip(), (location, field)


def test_canonical_json_keeps_number_types_and_nan_apart() -> None:
    assert canonical_json([1]) != canonical_json([1.0])
    assert canonical_json([math.nan]) != canonical_json(["nan"])
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_digest_file_equals_the_digest_of_its_bytes(tmp_path):
    import xxhash

    from ddbuild.fingerprint import digest_file

    for name, data in {"empty": b"", "small": b"ddbuild", "large": bytes(range(256)) * 50_000}.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert digest_file(path) == xxhash.xxh3_128_hexdigest(data), name


def test_request_keys_outlive_the_stage_key_scheme() -> None:
    """Literals computed by HASH_SCHEME_VERSION 1: a stage-key change must not re-ask every LLM request."""
    from ddbuild.engine.llm.cache import request_key

    schema = {"type": "object", "properties": {"score": {"enum": [1, 2]}}}
    body = {"messages": [{"role": "user", "content": "Say hi {1}"}], "temperature": 1.0, "top_p": 0.9,
            "max_tokens": 5, "response_format": {"type": "json_schema", "json_schema": {"name": "response",
                                                                                          "schema": schema}},
            "chat_template_kwargs": {"thinking": False, "budget": 2.0}}
    assert request_key("test-model", body, 3, 7) == "78fee4f88de77ea7981606a64eac6686"
    assert request_key("test-model", {"messages": [{"role": "user", "content": "x"}]}, 0, 0) == (
        "ec0e1e176a1e5124d91da9961ac4a055")
    # 1 and 1.0 are one JSON number to the server: one request
    assert request_key("m", {"temperature": 1}, 0, 0) == request_key("m", {"temperature": 1.0}, 0, 0)
