"""Embedding columns end to end against the test server's ``/v1/embeddings``: values, request
counts, the response cache, EmbeddingInferenceParams, skips and the default ``-embedding`` aliases."""

from __future__ import annotations

import pandas as pd
import pytest
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.engine.llm.cache import MemoryResponseCache
from ddbuild.errors import ModelConfigError
from tests.openai_server import embedding_for

TEXTS = ["a cat", "a dog", "an owl", '["two", "texts"]']


def _builder(params: object = None, **column: object) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(alias="embed", model="embed-model", provider="local",
                           inference_parameters=params or dd.EmbeddingInferenceParams())
    b = dd.DataDesignerConfigBuilder(model_configs=[model], seed=3)
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"text": TEXTS})))
    b.add_column(dd.EmbeddingColumnConfig(name="vec", target_column="text", model_alias="embed", **column))
    return b


def _providers(server):
    return [dd.ModelProvider(name="local", endpoint=server.url)]


def test_an_embedding_column_holds_data_designers_value_and_is_cached(tmp_path, openai_server):
    cache = MemoryResponseCache()
    summary = run(_builder(), tmp_path / "a", num_records=4, model_providers=_providers(openai_server),
                  response_cache=cache)
    df = load(tmp_path / "a")
    assert openai_server.by_api == {"embeddings": 4} and summary.llm_stats["requests_sent"] == 4
    first = df["vec"][0]
    assert list(first["embeddings"][0]) == embedding_for("a cat", 8)
    assert first["num_embeddings"] == 1 and first["dimension"] == 8
    pair = df["vec"][3]  # a JSON list of texts: one request, one vector per text
    assert pair["num_embeddings"] == 2 and [list(v) for v in pair["embeddings"]] == [
        embedding_for("two", 8), embedding_for("texts", 8)]
    [cat] = [r for r in openai_server.records if r.last_user == "a cat"]
    assert cat.body == {"model": "embed-model", "input": ["a cat"], "encoding_format": "float"}
    run(_builder(), tmp_path / "b", num_records=4, model_providers=_providers(openai_server), response_cache=cache)
    assert openai_server.total == 4  # every row answered from the response cache
    assert (tmp_path / "a/parquet-files/batch_00000.parquet").read_bytes() == (
        tmp_path / "b/parquet-files/batch_00000.parquet").read_bytes()


def test_dimensions_and_base64_are_sent_and_decoded(tmp_path, openai_server):
    cache = MemoryResponseCache()
    params = dd.EmbeddingInferenceParams(encoding_format="base64", dimensions=4)
    run(_builder(params), tmp_path / "a", num_records=4, model_providers=_providers(openai_server),
        response_cache=cache)
    assert {r.body["dimensions"] for r in openai_server.records} == {4}
    assert {r.body["encoding_format"] for r in openai_server.records} == {"base64"}
    assert list(load(tmp_path / "a")["vec"][1]["embeddings"][0]) == embedding_for("a dog", 4)
    run(_builder(dd.EmbeddingInferenceParams(dimensions=4)), tmp_path / "b", num_records=4,
        model_providers=_providers(openai_server), response_cache=cache)
    assert openai_server.total == 8  # another encoding is another request
    assert list(load(tmp_path / "b")["vec"][1]["embeddings"][0]) == embedding_for("a dog", 4)


def test_skipped_rows_send_no_embedding_request(tmp_path, openai_server):
    run(_builder(skip=dd.SkipConfig(when="{{ text in ['a dog', 'an owl'] }}")), tmp_path / "a", num_records=4,
        model_providers=_providers(openai_server))
    df = load(tmp_path / "a")
    assert openai_server.total == 2  # "a dog" and "an owl" are skipped
    assert df["vec"].isna().tolist() == [False, True, True, False]


def test_embedding_params_enter_the_stage_key_and_concurrency_does_not():
    from ddbuild.fingerprint import model_identity

    def ident(params: dd.EmbeddingInferenceParams) -> object:
        return model_identity(dd.ModelConfig(alias="e", model="m", inference_parameters=params))

    base = ident(dd.EmbeddingInferenceParams())
    assert ident(dd.EmbeddingInferenceParams(dimensions=256)) != base
    assert ident(dd.EmbeddingInferenceParams(encoding_format="base64")) != base
    assert ident(dd.EmbeddingInferenceParams(max_parallel_requests=32, timeout=9)) == base


def test_a_dict_with_embedding_fields_is_embedding_params():
    model = dd.ModelConfig(alias="e", model="m", inference_parameters={"encoding_format": "float", "dimensions": 3})
    assert model.inference_parameters == dd.EmbeddingInferenceParams(dimensions=3)


def test_a_chat_model_for_an_embedding_column_is_refused_before_sending(tmp_path, openai_server):
    b = _builder(dd.ChatCompletionInferenceParams())
    with pytest.raises(ModelConfigError, match="Column 'vec' is an embedding column, but model alias 'embed' "
                                               "is a chat model"):
        run(b, tmp_path / "a", num_records=2, model_providers=_providers(openai_server))
    assert openai_server.total == 0


def test_the_default_embedding_aliases_are_data_designers():
    from ddbuild.engine.llm.catalogue import builtin_model_configs

    found = {m.alias: m for m in builtin_model_configs() if m.alias.endswith("-embedding")}
    assert {a: m.model for a, m in found.items()} == {
        "nvidia-embedding": "nvidia/nemotron-3-embed-1b", "openai-embedding": "text-embedding-3-large",
        "openrouter-embedding": "openai/text-embedding-3-large"}
    assert all(m.is_embedding for m in found.values())
