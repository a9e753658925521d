"""Correction turns and conversation restarts (RunConfig.max_conversation_correction_steps /
max_conversation_restarts) against the test server programmed to return unparseable replies."""

from __future__ import annotations

import pytest

from ddbuild.engine.llm.cache import MemoryResponseCache
from tests.llm.helpers import (
    LLMCodeColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    Score,
    run_column,
    services,
)

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}


def structured() -> LLMStructuredColumnConfig:
    return LLMStructuredColumnConfig(name="meta", prompt="Describe {{ topic }}", model_alias="fast", output_format=SCHEMA)


def judge() -> LLMJudgeColumnConfig:
    return LLMJudgeColumnConfig(name="grade", prompt="Judge {{ topic }}", model_alias="fast",
                                scores=[Score(name="clarity", description="Clear?", options={1: "no", 2: "yes"})])


@pytest.mark.parametrize("column", [structured(), judge()], ids=["structured", "judge"])
def test_bad_replies_are_corrected_then_restarted_each_attempt_cached(openai_server, column):
    cache = MemoryResponseCache()
    openai_server.add_fault("invalid_json", times=4)  # 3 replies of the first conversation, 1 of the second
    svc = services(openai_server.url, cache=cache, max_correction_turns=2, max_restarts=3)
    [value] = run_column(svc, column, [{"topic": "owls"}])
    assert not isinstance(value, BaseException), value
    assert openai_server.total == 5 and len(cache) == 5
    first, second, third, restarted, fixed = (r.body["messages"] for r in openai_server.records)
    assert second[:len(first)] == first and second[-2] == {"role": "assistant", "content": '{"this is": not json'}
    assert second[-1]["role"] == "user" and "the reply is not valid JSON (Expecting value at line 1 column 13)" in second[-1]["content"]
    assert len(third) == len(first) + 4
    assert restarted == first  # a fresh conversation: the first request again, under its own key
    assert len(fixed) == len(first) + 2
    stats = svc.stats["by_column"][column.name]
    assert (stats["requests_sent"], stats["correction_turns"], stats["conversation_restarts"]) == (5, 3, 1)

    again = services(openai_server.url, cache=cache, max_correction_turns=2, max_restarts=3)
    assert run_column(again, column, [{"topic": "owls"}]) == [value]
    assert openai_server.total == 5  # every attempt was cached: the rebuild sends nothing
    assert again.stats["served_from_cache"] == 5 and again.stats["requests_sent"] == 0


def test_a_reply_that_never_parses_drops_the_row_naming_the_column_and_the_error(openai_server):
    openai_server.add_fault("invalid_json", times=None)
    svc = services(openai_server.url, max_correction_turns=1, max_restarts=2)
    [failure] = run_column(svc, structured(), [{"topic": "owls"}])
    assert failure.reason == "invalid_structured_output"
    assert failure.detail == ("Column 'meta': the reply was still invalid after 1 correction turns and 2 conversation "
                              "restarts (6 replies): the reply is not valid JSON (Expecting value at line 1 column 13)")
    assert openai_server.total == 6


def test_code_replies_are_never_corrected(openai_server):
    """A code column takes the fenced block, else the whole reply: every reply parses."""
    openai_server.add_fault("reply", times=None, content="no fence here")
    column = LLMCodeColumnConfig(name="code", prompt="Code for {{ topic }}", model_alias="fast", code_lang="python")
    svc = services(openai_server.url, max_correction_turns=2, max_restarts=5)
    assert run_column(svc, column, [{"topic": "owls"}]) == ["no fence here"] and openai_server.total == 1
