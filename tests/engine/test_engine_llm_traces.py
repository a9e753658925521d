"""LLM columns' with_trace, extract_reasoning_content and multi_modal_context (ImageContext), built
end to end against the OpenAI-compatible test server: the values written, what was sent, and a
rebuild from the response cache that sends nothing."""

from __future__ import annotations

import base64
import hashlib

import pandas as pd
import pytest
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.engine.llm.cache import MemoryResponseCache
from ddbuild.errors import ConfigError

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _builder(*columns: dict, seed: dict | None = None) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[dd.ModelConfig(alias="fast", model="test-model", provider="local")])
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame(seed or {"topic": ["owls", "bats"]})))
    for column in columns:
        b.add_column(**column)
    return b


def _providers(server):
    return [dd.ModelProvider(name="local", endpoint=server.url)]


def _text(entry: dict) -> str:
    [part] = [p for p in entry["content"] if p["type"] == "text"]
    return part["text"]


def test_all_messages_trace_holds_the_conversation_with_its_correction(tmp_path, openai_server):
    openai_server.add_fault("invalid_json", times=1, match="owls")
    column = dict(name="meta", column_type="llm-structured", model_alias="fast", prompt="Describe {{ topic }}",
                  system_prompt="Be brief.", output_format=SCHEMA, with_trace="all_messages")
    cache = MemoryResponseCache()
    run(_builder(column), tmp_path / "ds", num_records=2, model_providers=_providers(openai_server), response_cache=cache)
    df = load(tmp_path / "ds")
    assert list(df.columns) == ["topic", "meta", "meta__trace"]
    owls = list(df["meta__trace"][0])
    assert [e["role"] for e in owls] == ["system", "user", "assistant", "user", "assistant"]
    assert _text(owls[0]) == "Be brief." and _text(owls[1]).startswith("Describe owls\n\nReply with only a JSON object")
    assert _text(owls[2]) == '{"this is": not json' and "not valid JSON" in _text(owls[3])
    assert _text(owls[4]) == '{"title": "title text"}' and owls[4]["reasoning_content"] is None
    assert [e["role"] for e in df["meta__trace"][1]] == ["system", "user", "assistant"]
    assert openai_server.total == 3
    run(_builder(column), tmp_path / "again", num_records=2, model_providers=_providers(openai_server),
        response_cache=cache)
    assert openai_server.total == 3  # the corrected conversation replays from the cache
    assert load(tmp_path / "again").equals(df)


def test_last_message_trace_and_reasoning_content_from_the_endpoint(tmp_path, openai_server):
    openai_server.add_fault("reasoning", times=None, reasoning="  owls hunt at night  ")
    columns = [dict(name="answer", column_type="llm-text", model_alias="fast", prompt="Tell me of {{ topic }}",
                    with_trace="last_message", extract_reasoning_content=True),
               dict(name="why", column_type="expression", expr="{{ answer__reasoning_content }}!")]
    run(_builder(*columns), tmp_path / "ds", num_records=2, model_providers=_providers(openai_server))
    df = load(tmp_path / "ds")
    assert list(df.columns) == ["topic", "answer", "answer__trace", "answer__reasoning_content", "why"]
    assert df["answer"].tolist() == ["reply to: Tell me of owls", "reply to: Tell me of bats"]
    assert df["answer__reasoning_content"].tolist() == ["owls hunt at night"] * 2
    assert df["why"].tolist() == ["owls hunt at night!"] * 2
    [last] = df["answer__trace"][0]
    assert last["role"] == "assistant" and _text(last) == "reply to: Tell me of owls"
    assert last["reasoning_content"] == "owls hunt at night"


def test_think_blocks_become_the_reasoning_and_leave_the_value(tmp_path, openai_server):
    openai_server.add_fault("reply", times=None, content="<think>\nfirst, parse\n</think>\n```python\nprint(1)\n```")
    code = dict(name="code", column_type="llm-code", model_alias="fast", prompt="Code for {{ topic }}", code_lang="python")
    run(_builder({**code, "extract_reasoning_content": True}), tmp_path / "on", num_records=1,
        model_providers=_providers(openai_server))
    on = load(tmp_path / "on")
    assert on["code"][0] == "print(1)" and on["code__reasoning_content"][0] == "first, parse"
    text = dict(name="t", column_type="llm-text", model_alias="fast", prompt="Say {{ topic }}")
    run(_builder(text), tmp_path / "off", num_records=1, model_providers=_providers(openai_server))
    assert load(tmp_path / "off")["t"][0] == "<think>\nfirst, parse\n</think>\n```python\nprint(1)\n```"  # off: the reply as sent


def test_a_reasoning_column_is_null_when_the_reply_has_none(tmp_path, openai_server):
    column = dict(name="a", column_type="llm-text", model_alias="fast", prompt="Say {{ topic }}",
                  extract_reasoning_content=True)
    run(_builder(column), tmp_path / "ds", num_records=2, model_providers=_providers(openai_server))
    assert load(tmp_path / "ds")["a__reasoning_content"].isna().all()


def test_a_configured_column_named_like_a_side_column_is_an_error(tmp_path, openai_server):
    columns = [dict(name="a", column_type="llm-text", model_alias="fast", prompt="Say {{ topic }}", with_trace="all_messages"),
               dict(name="a__trace", column_type="expression", expr="x")]
    with pytest.raises(ConfigError, match="Column 'a__trace' is configured, and column 'a' writes a column of that name"):
        run(_builder(*columns), tmp_path / "ds", num_records=1, model_providers=_providers(openai_server))


def test_image_contexts_send_image_parts_by_url_and_base64_and_refuse_file_paths(tmp_path, openai_server):
    (tmp_path / "img").mkdir()
    (tmp_path / "img/dot.png").write_bytes(PNG)
    digest = hashlib.sha256(PNG).hexdigest()[:12]
    seed = {"topic": ["owls", "bats", "cats"],
            "picture": ["https://example.com/owl.jpg", "img/dot.png", base64.b64encode(PNG).decode()]}
    column = dict(name="caption", column_type="llm-text", model_alias="fast", prompt="Caption {{ topic }}",
                  multi_modal_context=[dd.ImageContext(column_name="picture")], with_trace="all_messages")
    cache = MemoryResponseCache()
    summary = run(_builder(column, seed=seed), tmp_path / "ds", num_records=3, base_dir=tmp_path,
                  model_providers=_providers(openai_server), response_cache=cache)
    df = load(tmp_path / "ds")
    assert df["caption"].tolist() == [
        "reply to: Caption owls [images: https://example.com/owl.jpg]",
        f"reply to: Caption cats [images: image/png sha256:{digest}]",
    ]
    # A file path is never read: the stage key holds the path, not the bytes, so an image edited in
    # place would be served stale by a stage hit.
    assert summary.dropped_rows == {"image_error": 1}
    assert summary.first_errors["image_error"] == (
        "Column 'caption' multi_modal_context: the image value 'img/dot.png' names a file; ddbuild does not "
        "read images by path (a stage's key cannot see the file's contents, so an edited image would be "
        "served from the cache): give it as a URL or as base64 data")
    [cats] = [r for r in openai_server.records if r.last_user == "Caption cats"]  # requests arrive in any order
    user = cats.body["messages"][0]
    assert user["content"][0] == {"type": "text", "text": "Caption cats"}
    assert user["content"][1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert df["caption__trace"][1][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    # the request key holds the image: the rebuild sends nothing
    run(_builder(column, seed=seed), tmp_path / "again", num_records=3, base_dir=tmp_path,
        model_providers=_providers(openai_server), response_cache=cache)
    assert openai_server.total == 2


def test_an_image_that_cannot_be_read_drops_the_row_naming_the_column(tmp_path, openai_server):
    seed = {"topic": ["owls", "bats"], "picture": ["img/missing.png", "https://example.com/bat.png"]}
    column = dict(name="caption", column_type="llm-text", model_alias="fast", prompt="Caption {{ topic }}",
                  multi_modal_context=[{"modality": "image", "column_name": "picture"}])
    summary = run(_builder(column, seed=seed), tmp_path / "ds", num_records=2, base_dir=tmp_path,
                  model_providers=_providers(openai_server))
    assert summary.dropped_rows == {"image_error": 1} and openai_server.total == 1
    assert summary.first_errors["image_error"] == (
        "Column 'caption' multi_modal_context: the image value 'img/missing.png' is not a URL or valid base64 "
        "data")


def test_base64_image_context_needs_its_format():
    with pytest.raises(ValueError, match="image_format is required when data_type is 'base64'"):
        dd.ImageContext(column_name="picture", data_type="base64")


def test_run_config_corrections_and_restarts_in_a_build(tmp_path, openai_server):
    from ddbuild.engine.dataset import generate_dataset

    openai_server.add_fault("invalid_json", times=3)  # the first conversation's 2 replies, then 1 of the second
    column = dict(name="meta", column_type="llm-structured", model_alias="fast", prompt="Describe {{ topic }}",
                  output_format=SCHEMA, with_trace="all_messages")
    run_config = dd.RunConfig(max_conversation_correction_steps=1, max_conversation_restarts=2)
    cache = MemoryResponseCache()

    def build(out: str):
        return generate_dataset(_builder(column, seed={"topic": ["owls"]}).build(base_dir=tmp_path), num_records=1,
                                dataset_dir=tmp_path / out, run_config=run_config, resume=False, base_dir=tmp_path,
                                model_providers=_providers(openai_server), response_cache=cache)

    summary = build("ds")
    df = load(tmp_path / "ds")
    assert df["meta"][0] == {"title": "title text"} and openai_server.total == 4
    assert [e["role"] for e in df["meta__trace"][0]] == ["user", "assistant", "user", "assistant"]  # the last conversation
    assert summary.llm_stats["conversation_restarts"] == 1 and summary.llm_stats["correction_turns"] == 2
    build("again")
    assert openai_server.total == 4 and load(tmp_path / "again").equals(df)
