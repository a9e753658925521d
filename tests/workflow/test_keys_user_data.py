"""The issue's reproductions: user data named like an excluded field is rebuilt when it changes.

Before HASH_SCHEME_VERSION 2, ``strip_excluded`` dropped every key named ``provider``, ``timeout``,
... at any depth, so these edits left the stage key unchanged and the stale output was served.
"""

from __future__ import annotations

import pytest

import ddbuild as dd
from ddbuild.planning.plan import Status
from tests.openai_server import FakeOpenAIServer
from tests.workflow.conftest import write_seed


def _template_workflow(template: dict) -> object:
    builder = (
        dd.DataDesignerConfigBuilder()
        .with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
        .add_processor(dd.SchemaTransformProcessorConfig(name="shape", template=template))
    )
    workflow = dd.DataDesigner().compose_workflow(name="wf")
    workflow.add_stage("shape", builder, output="processor:shape")
    return workflow


def test_a_template_key_named_provider_is_rebuilt_when_edited(project) -> None:
    write_seed(project / "seed.parquet", rows=3)
    first = _template_workflow({"provider": "{{ text }}"}).run()
    assert first.load_dataset()["provider"].tolist() == ["t0", "t1", "t2"]

    second = _template_workflow({"provider": "{{ text }}-v2"}).run()
    assert second.status("shape") == Status.RUN
    assert second.load_dataset()["provider"].tolist() == ["t0-v2", "t1-v2", "t2-v2"]


def _structured_workflow(server: FakeOpenAIServer, timeout_type: str) -> object:
    model = dd.ModelConfig(alias="fast", model="test-model", provider="local")
    builder = (
        dd.DataDesignerConfigBuilder(model_configs=[model])
        .with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
        .add_column(name="facts", column_type="llm_structured", model_alias="fast", prompt="Facts of {{ text }}",
                    output_format={"type": "object", "properties": {"timeout": {"type": timeout_type}},
                                   "required": ["timeout"]})
    )
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server.url)])
    workflow = designer.compose_workflow(name="wf")
    workflow.add_stage("facts", builder)
    return workflow


def test_a_schema_property_named_timeout_is_rebuilt_when_edited(project, server) -> None:
    write_seed(project / "seed.parquet", rows=3)
    first = _structured_workflow(server, "string").run()
    assert server.total == 3
    assert all(isinstance(row["timeout"], str) for row in first.load_dataset()["facts"])

    second = _structured_workflow(server, "integer").run()
    assert second.status("facts") == Status.RUN
    assert server.total == 6  # the new schema is a new request for every row
    assert all(isinstance(row["timeout"], int) for row in second.load_dataset()["facts"])


# -- siblings: edits that change the data must change the key; transport settings must not -------

BASE = {
    "values": [1, 2], "options": {1: "bad", 2: "good"}, "template": {"a": "{{ x }}", "b": "{{ judged }}"},
    "provider": {"endpoint": "http://localhost:1/v1", "extra_body": {"reasoning": "low"}},
    "inference": {"temperature": 0.5, "extra_body": {"timeout": 1}}, "run": {},
}
# (case, the edit, the key must change). One line per case.
CASES = [
    ("category values 1 -> 1.0 (int64 column -> float64)", {"values": [1.0, 2.0]}, True),
    ("judge options reordered (the rubric lists them in order)", {"options": {2: "good", 1: "bad"}}, True),
    ("judge option keys 1 -> '1' (the scores' type)", {"options": {"1": "bad", "2": "good"}}, True),
    ("template keys reordered (the output's column order)", {"template": {"b": "{{ judged }}", "a": "{{ x }}"}}, True),
    ("inference extra_body key named timeout", {"inference": {"temperature": 0.5, "extra_body": {"timeout": 2}}}, True),
    ("provider extra_body (merged into every request)",
     {"provider": {"endpoint": "http://localhost:1/v1", "extra_body": {"reasoning": "high"}}}, True),
    ("correction turns decide which replies survive", {"run": {"max_conversation_correction_steps": 0}}, True),
    ("restarts decide which replies survive", {"run": {"max_conversation_restarts": 0}}, True),
    ("sampling parameter", {"inference": {"temperature": 0.7, "extra_body": {"timeout": 1}}}, True),
    ("provider endpoint, key and headers", {"provider": {"endpoint": "https://other.example/v1", "api_key": "sk-x",
                                                         "extra_headers": {"X": "1"}, "extra_body": {"reasoning": "low"}}}, False),
    ("concurrency and timeout", {"inference": {"temperature": 0.5, "extra_body": {"timeout": 1},
                                               "max_parallel_requests": 64, "timeout": 5}}, False),
    ("retries and early shutdown", {"run": {"max_retries": 0, "retry_max_wait": 1, "disable_early_shutdown": True}}, False),
]


def _planned_key(edit: dict) -> str:
    spec = {**BASE, **edit}
    model = dd.ModelConfig(alias="m", model="test-model", provider="local",
                           inference_parameters=dd.ChatCompletionInferenceParams(**spec["inference"]))
    builder = (
        dd.DataDesignerConfigBuilder(model_configs=[model])
        .add_column(name="x", column_type="sampler", sampler_type="category", params={"values": spec["values"]})
        .add_column(name="judged", column_type="llm_judge", model_alias="m", prompt="Judge {{ x }}",
                    scores=[dd.Score(name="q", options=spec["options"])])
        .add_processor(dd.SchemaTransformProcessorConfig(name="shape", template=spec["template"]))
    )
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", **spec["provider"])])
    designer.set_run_config(dd.RunConfig(**spec["run"]))
    workflow = designer.compose_workflow(name="wf")
    workflow.add_stage("gen", builder, num_records=2)
    key = workflow.plan().stage("gen").key
    assert key is not None
    return key


@pytest.mark.parametrize(("case", "edit", "changes"), CASES, ids=[c[0] for c in CASES])
def test_what_changes_the_data_changes_the_key(project, case, edit, changes) -> None:
    assert (_planned_key(edit) != _planned_key({})) == changes, case


def test_a_runs_resume_digest_holds_the_providers_request_fields_not_its_endpoint(tmp_path) -> None:
    """DataDesigner.create resumes a run only when this digest matches (engine/identity.py)."""
    from ddbuild.engine.identity import config_digest

    model = dd.ModelConfig(alias="m", model="test-model", provider="local")
    config = dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
        name="a", column_type="llm_text", model_alias="m", prompt="Say {{ 1 }}").build()

    def digest(**provider: object) -> str:
        spec = {"endpoint": "http://localhost:1/v1", "extra_body": {"reasoning": "low"}, **provider}
        return config_digest(config, dd.RunConfig(), tmp_path, providers=[dd.ModelProvider(name="local", **spec)])

    assert digest(extra_body={"reasoning": "high"}) != digest()
    assert digest(endpoint="https://other.example/v1", api_key="sk-x", extra_headers={"X": "1"}) == digest()
