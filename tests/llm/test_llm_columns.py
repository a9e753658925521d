"""LLM column generators end to end over HTTP: values, the response cache, draws, structured output."""

from __future__ import annotations

import json

import pytest

from ddbuild.engine.llm.cache import MemoryResponseCache
from ddbuild.errors import ConfigError, EarlyShutdownError
from tests.llm.helpers import (
    LLMCodeColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    Score,
    dropped,
    model,
    run_column,
    services,
    text_column,
)
from tests.packs_helpers import pack_files, rewrite_responses, stored_responses

SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "difficulty": {"enum": ["easy", "hard"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "points": {"type": "integer"},
    },
    "required": ["question", "difficulty", "points"],
}


def disk_cache(root):
    """The persistent response cache a build uses: the llm/ area of a local store at ``root``."""
    from ddbuild.execution.llmcache import StoreResponseCache
    from ddbuild.store.fs import FileSystemStore

    return StoreResponseCache(FileSystemStore(root))


def structured(name: str = "qa") -> LLMStructuredColumnConfig:
    return LLMStructuredColumnConfig(name=name, prompt="Write a question about {{ topic }}", model_alias="fast",
                                     output_format=SCHEMA)


def rows(n: int) -> list[dict]:
    return [{"topic": f"topic {i}"} for i in range(n)]


def test_text_column_values_and_token_stats(openai_server):
    svc = services(openai_server.url)
    column = text_column(system_prompt="You are terse about {{ topic }}.")
    assert run_column(svc, column, rows(2)) == ["reply to: Say something about topic 0",
                                                "reply to: Say something about topic 1"]
    systems = sorted(r.body["messages"][0]["content"] for r in openai_server.records)
    assert systems == ["You are terse about topic 0.", "You are terse about topic 1."]
    stats = svc.stats
    assert stats["requests_sent"] == 2 and stats["served_from_cache"] == 0
    assert stats["by_column"]["answer"]["completion_tokens"] == 2 * 7  # "reply to: Say something about topic N"
    assert stats["by_model"]["fast"]["prompt_tokens"] == stats["prompt_tokens"] > 0


def test_identical_second_pass_sends_no_requests(openai_server, tmp_path):
    first = run_column(services(openai_server.url, cache=disk_cache(tmp_path)), text_column(), rows(5))
    assert openai_server.total == 5
    svc = services(openai_server.url, cache=disk_cache(tmp_path))
    assert run_column(svc, text_column(), rows(5)) == first
    assert openai_server.total == 5
    assert svc.stats["served_from_cache"] == 5 and svc.stats["requests_sent"] == 0


HOSTILE_CACHED = [b'{"choices":[1]}', b'{"choices":[{"message":"x"}]}', b"[" * 200_000, b"[1, 2]", b"not json"]


@pytest.mark.parametrize("planted", HOSTILE_CACHED, ids=["choices-int", "message-str", "deep", "list", "garbage"])
def test_a_hostile_cached_response_is_a_miss_and_asked_again(planted, openai_server, tmp_path):
    first = run_column(services(openai_server.url, cache=disk_cache(tmp_path)), text_column(), rows(2))
    try:
        value = json.loads(planted)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict):  # a well-formed pack holding it: checked by the same code as a live reply
        assert rewrite_responses(tmp_path, lambda key, response: value) == 2
    else:
        for path in pack_files(tmp_path):
            path.write_bytes(planted)  # the pack no longer matches its name: every response in it is a miss
    svc = services(openai_server.url, cache=disk_cache(tmp_path))
    assert run_column(svc, text_column(), rows(2)) == first
    assert svc.stats["requests_sent"] == 2 and openai_server.total == 4


def test_ten_identical_prompts_get_ten_draws_and_reruns_are_hits(openai_server):
    cache = MemoryResponseCache()
    same = [{"topic": "the sea"}] * 10
    run_column(services(openai_server.url, cache=cache), text_column(), same)
    assert openai_server.total == 10 and len(cache) == 10
    run_column(services(openai_server.url, cache=cache), text_column(), same)
    assert openai_server.total == 10


def test_sampling_seed_change_sends_new_requests(openai_server):
    cache = MemoryResponseCache()
    run_column(services(openai_server.url, cache=cache, seed=1), text_column(), rows(4))
    run_column(services(openai_server.url, cache=cache, seed=2), text_column(), rows(4))
    assert openai_server.total == 8 and len(cache) == 8
    run_column(services(openai_server.url, cache=cache, seed=1), text_column(), rows(4))
    assert openai_server.total == 8


def test_sampled_temperature_is_deterministic_per_draw(openai_server):
    fast = model(temperature={"low": 0.2, "high": 1.2}, top_p={"values": [0.8, 0.9, 1.0]})
    run_column(services(openai_server.url, models=[fast]), text_column(), rows(6))
    run_column(services(openai_server.url, models=[fast]), text_column(), rows(6))  # no shared cache
    temps = [(r.last_user, r.body["temperature"], r.body["top_p"]) for r in openai_server.records]
    first, second = sorted(temps[:6]), sorted(temps[6:])
    assert first == second
    assert len({t for _, t, _ in first}) == 6 and all(0.2 <= t <= 1.2 for _, t, _ in first)


def test_endpoint_provider_and_concurrency_are_not_in_the_key(openai_server):
    from tests.openai_server import start_server

    cache = MemoryResponseCache()
    run_column(services(openai_server.url, cache=cache, models=[model(max_parallel_requests=2, timeout=30)]),
               text_column(), rows(3))
    other = start_server()
    try:
        svc = services(other.url, cache=cache, api_key="sk-other", models=[model(max_parallel_requests=9)])
        run_column(svc, text_column(), rows(3))
        assert other.total == 0
    finally:
        other.stop()


def test_api_key_never_in_cache_files_or_errors(openai_server, tmp_path, monkeypatch):
    key = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("DDBUILD_TEST_KEY", key)
    openai_server.add_fault("400", times=None, match="topic 2", body=f"Incorrect API key provided: {key}")
    svc = services(openai_server.url, cache=disk_cache(tmp_path), api_key="env:DDBUILD_TEST_KEY")
    values = run_column(svc, text_column(), rows(3))
    assert openai_server.records[0].authorization == f"Bearer {key}"
    [failure] = dropped(values)
    assert key not in str(failure) and key not in failure.detail and "Incorrect API key provided: ***" in failure.detail
    assert len(stored_responses(tmp_path)) == 2
    files = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert files and all(key.encode() not in f.read_bytes() for f in files)
    assert key not in json.dumps(svc.stats) and key not in repr(svc.client.provider_for(model()))


def test_structured_output_is_parsed_validated_and_cached(openai_server):
    cache = MemoryResponseCache()
    [value] = run_column(services(openai_server.url, cache=cache), structured(), rows(1))
    assert value == {"question": "question text", "difficulty": "easy", "tags": ["tags text"], "points": 1}
    body = openai_server.records[0].body
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert len(cache) == 1


def test_invalid_json_is_corrected_within_n_turns(openai_server):
    cache = MemoryResponseCache()
    openai_server.add_fault("invalid_json", times=1)
    svc = services(openai_server.url, cache=cache, max_correction_turns=2)
    [value] = run_column(svc, structured(), rows(1))
    assert value["difficulty"] == "easy"
    assert openai_server.total == 2
    correction = openai_server.records[1].body["messages"]
    assert correction[-2]["role"] == "assistant" and "not valid JSON" in correction[-1]["content"]
    assert svc.stats["correction_turns"] == 1
    run_column(services(openai_server.url, cache=cache), structured(), rows(1))
    assert openai_server.total == 2  # the corrected reply is cached under the row's request key


def test_invalid_structured_output_is_dropped_and_replayed_from_the_cache(openai_server):
    cache = MemoryResponseCache()
    openai_server.add_fault("schema_invalid", times=None)
    svc = services(openai_server.url, cache=cache, max_correction_turns=2)
    [failure] = dropped(run_column(svc, structured(), rows(1)))
    assert failure.reason == "invalid_structured_output" and "missing required property" in failure.detail
    assert openai_server.total == 3 and len(cache) == 3  # each reply under its own request key
    [again] = dropped(run_column(services(openai_server.url, cache=cache, max_correction_turns=2), structured(), rows(1)))
    assert openai_server.total == 3 and again.detail == failure.detail  # the conversation replays: nothing sent


@pytest.mark.parametrize("fault, reason", [("length", "finish_reason_length"), ("refusal", "refusal")])
def test_truncated_and_refused_replies_are_not_cached(openai_server, fault, reason):
    cache = MemoryResponseCache()
    openai_server.add_fault(fault, times=1)
    svc = services(openai_server.url, cache=cache)
    [failure] = dropped(run_column(svc, text_column(), rows(1)))
    assert failure.reason == reason and len(cache) == 0
    assert svc.stats["failures"] == {reason: 1}


def test_empty_prompt_drops_the_row_without_a_request(openai_server):
    svc = services(openai_server.url)
    [failure] = dropped(run_column(svc, text_column(prompt="{{ topic }}"), [{"topic": "  "}]))
    assert failure.reason == "empty_prompt" and "answer" in failure.detail
    assert openai_server.total == 0


def test_a_prompt_that_fails_for_one_row_drops_that_row_only(openai_server):
    # The prompt is compiled once per column and reused: rows after a failing one still render.
    svc = services(openai_server.url)
    column = text_column(prompt="About {{ topic.upper() }} in {{ 10 // n }} words")
    values = run_column(svc, column, [{"topic": "a", "n": 2}, {"topic": "b", "n": 0}, {"topic": "c"}, {"topic": "d", "n": 5}])
    assert values[0] == "reply to: About A in 5 words" and values[3] == "reply to: About D in 2 words"
    zero, missing = dropped(values)
    assert (zero.reason, zero.detail) == ("template_error", "Column 'answer' prompt: ZeroDivisionError: integer division or modulo by zero")
    assert (missing.reason, missing.detail) == ("template_error", "Column 'answer' prompt: 'n' is undefined")
    assert openai_server.total == 2


def test_code_column_extracts_the_fenced_block(openai_server):
    openai_server.add_fault("reply", times=None, content="Here:\n```py\nprint('hi')\n```\nDone.")
    column = LLMCodeColumnConfig(name="code", prompt="Code for {{ topic }}", model_alias="fast", code_lang="python")
    assert run_column(services(openai_server.url), column, rows(1)) == ["print('hi')"]


def test_judge_column_returns_scores_with_reasoning(openai_server):
    column = LLMJudgeColumnConfig(
        name="judge", prompt="Rate: {{ topic }}", model_alias="fast",
        scores=[Score(name="clarity", description="How clear", options={1: "bad", 2: "ok", 3: "good"}),
                Score(name="tone", options={"formal": "formal", "casual": "casual"})],
    )  # fmt: skip
    [value] = run_column(services(openai_server.url), column, rows(1))
    assert value == {"clarity": {"score": 1, "reasoning": "reasoning text"},
                     "tone": {"score": "formal", "reasoning": "reasoning text"}}
    assert "clarity: How clear" in openai_server.records[0].last_user


def test_early_shutdown_when_most_of_the_first_rows_fail(openai_server):
    key = "sk-never-shown-42424242"
    openai_server.add_fault("400", times=None, body=f"model not found (key {key})")
    svc = services(openai_server.url, api_key=key, models=[model(max_parallel_requests=2)])
    values = run_column(svc, text_column(), rows(40))
    errors = [v for v in values if isinstance(v, EarlyShutdownError)]
    assert errors, values[:3]
    message = str(errors[0])
    assert "11 of the first" in message and "HTTP 400" in message and "model not found" in message
    assert key not in message
    assert openai_server.total < 40  # stopped before sending every row


def test_validate_rejects_an_output_format_that_is_not_a_schema():
    from ddbuild.engine.llm.columns import LLMServices

    bad = LLMStructuredColumnConfig(name="qa", prompt="x", model_alias="fast",
                                    output_format={"type": "objekt", "properties": []})
    with pytest.raises(ConfigError, match=r"Column 'qa'.*'objekt'.*properties must be an object"):
        LLMServices.validate([bad], [model()], None, environ={"OPENAI_API_KEY": "k"})


def test_corrupt_cache_entry_is_a_miss_and_is_rewritten(openai_server, tmp_path):
    cache = disk_cache(tmp_path)
    run_column(services(openai_server.url, cache=cache), text_column(), rows(1))
    [path] = pack_files(tmp_path)
    [response] = stored_responses(tmp_path).values()
    assert response["choices"][0]["message"]["content"].startswith("reply to:")
    path.write_text("{not json")
    run_column(services(openai_server.url, cache=disk_cache(tmp_path)), text_column(), rows(1))
    assert openai_server.total == 2
    [fresh] = [p for p in pack_files(tmp_path) if p != path]  # the reply again, in a pack of its own
    assert json.loads(fresh.read_bytes())["responses"]
    run_column(services(openai_server.url, cache=disk_cache(tmp_path)), text_column(), rows(1))
    assert openai_server.total == 2  # served from the new pack; the damaged one is never used
    assert not [f for f in tmp_path.rglob("*") if f.name.startswith(".")]
