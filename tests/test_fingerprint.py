"""Golden stage keys: changing any of these literals requires bumping HASH_SCHEME_VERSION."""

from __future__ import annotations

from pathlib import Path

import ddbuild as dd
from ddbuild.fingerprint import EXCLUDED_FIELDS, output_digest, stage_key
from ddbuild.workflow.graph import Graph
from ddbuild.workflow.identity import stage_identity


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
    ident = {s.name: stage_identity(s, Path("/proj"), dd.RunConfig()) for s in graph.stages}
    assert ident["drafts"]["seed"]["source"]["path"] == "data/docs.parquet"  # relative to the project
    drafts = stage_key(ident["drafts"], {"parents": {}, "seed_files": {"data/docs.parquet": "1" * 32}})
    clean = stage_key(ident["clean"], {"parents": {"drafts": "2" * 32}})
    assert drafts == "b2448a1c6d51f9548d0aa4be204928f0"
    assert clean == "2f61a52edfc0710157071885b59b9bcf"
    assert output_digest(["1" * 32, "2" * 32]) == "5f0757065ebddf297d00c2b1f7dcc3d3"


def test_excluded_fields_do_not_change_keys() -> None:
    base = stage_identity(_stages()["drafts"], Path("/proj"), dd.RunConfig())
    fast = dd.ModelConfig(alias="fast", model="llama-3-8b", provider="other",
                          inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=64, timeout=5))
    builder = dd.DataDesignerConfigBuilder(model_configs=[fast]).with_seed_dataset(
        dd.LocalFileSeedSource(path="/elsewhere/proj/data/docs.parquet"))
    builder.add_column(name="answer", column_type="llm_text", model_alias="fast", prompt="Answer: {{ text }}")
    wf = dd.DataDesigner().compose_workflow(name="other")
    wf.add_stage("x", dd.DataDesignerConfigBuilder().add_column(name="q", column_type="expression", expr="1"))
    wf.add_stage("drafts", builder, num_records=4, depends_on=[])  # another position
    moved = stage_identity(Graph(tuple(wf.stages))["drafts"], Path("/elsewhere/proj"), dd.RunConfig())
    assert moved == base
    for field in ("max_parallel_requests", "timeout", "endpoint", "provider", "api_key", "stage_index",
                  "absolute_path"):
        assert field in EXCLUDED_FIELDS


def test_digest_file_equals_the_digest_of_its_bytes(tmp_path):
    import xxhash

    from ddbuild.fingerprint import digest_file

    for name, data in {"empty": b"", "small": b"ddbuild", "large": bytes(range(256)) * 50_000}.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert digest_file(path) == xxhash.xxh3_128_hexdigest(data), name
