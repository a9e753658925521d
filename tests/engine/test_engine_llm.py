"""LLM columns in the pipeline, against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import json

import pandas as pd
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.engine.llm.cache import MemoryResponseCache


def _builder(n_docs: int = 6) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(alias="fast", model="test-model", provider="local")
    b = dd.DataDesignerConfigBuilder(model_configs=[model], seed=3)
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"topic": [f"topic{i}" for i in range(n_docs)]})))
    b.add_column(name="question", column_type="llm_text", model_alias="fast", prompt="Ask about {{ topic }}")
    b.add_column(name="q_len", column_type="expression", expr="{{ question | length }}", dtype="int")
    b.add_column(name="answer", column_type="llm-text", model_alias="fast", prompt="Answer: {{ question }}")
    return b


def _providers(server):
    return [dd.ModelProvider(name="local", endpoint=server.url)]


def test_llm_chain_runs_per_row_and_caches(tmp_path, openai_server):
    cache = MemoryResponseCache()
    summary = run(_builder(), tmp_path / "ds", num_records=6, buffer_size=4,
                  model_providers=_providers(openai_server), response_cache=cache)
    df = load(tmp_path / "ds")
    assert summary.num_records == 6 and openai_server.total == 12
    assert df["question"][0] == "reply to: Ask about topic0"
    assert df["answer"][0] == "reply to: Answer: reply to: Ask about topic0"
    assert (df["q_len"] == df["question"].str.len()).all()
    meta = json.loads((tmp_path / "ds/metadata.json").read_text())
    assert meta["llm_usage"] and summary.llm_stats
    run(_builder(), tmp_path / "again", num_records=6, buffer_size=4,
        model_providers=_providers(openai_server), response_cache=cache)
    assert openai_server.total == 12  # every request answered from the cache
    assert (tmp_path / "again/parquet-files/batch_00000.parquet").read_bytes() == (
        tmp_path / "ds/parquet-files/batch_00000.parquet").read_bytes()


def test_row_dropped_is_counted(tmp_path, openai_server):
    openai_server.add_fault("refusal", times=None, match="topic2")
    summary = run(_builder(), tmp_path / "ds", num_records=6, buffer_size=10,
                  model_providers=_providers(openai_server))
    assert summary.num_records == 5 and sum(summary.dropped_rows.values()) == 1
    assert "topic2" not in set(load(tmp_path / "ds")["topic"])
    meta = json.loads((tmp_path / "ds/metadata.json").read_text())
    assert meta["actual_num_records"] == 5 and meta["dropped_rows"] == summary.dropped_rows


def test_ctrl_c_while_requests_are_in_flight_cancels_the_row_tasks(tmp_path):
    # A SIGINT arrives outside the coroutine (in the loop's select), like this raising callback:
    # the rows' tasks must be cancelled and unwound, not left pending on a closed loop.
    import asyncio

    import pytest

    from ddbuild.engine.llm.transport import FunctionTransport

    in_flight: list[asyncio.Task] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    async def handler(url, headers, body):
        in_flight.append(asyncio.current_task())
        if len(in_flight) == 1:
            asyncio.get_running_loop().call_later(0.05, interrupt)
        await asyncio.sleep(30)

    with pytest.raises(KeyboardInterrupt):
        run(_builder(), tmp_path / "ds", num_records=6, llm_transport=FunctionTransport(handler),
            model_providers=[dd.ModelProvider(name="local", endpoint="http://127.0.0.1:9/v1")])
    assert in_flight and all(task.done() for task in in_flight)
