"""A build's chained LLM stages reuse the connections the first one opened, and the build closes
them; a session idle past IDLE_SECONDS, or one whose stage failed, is not reused. Connections are
counted at the test server (TCP connections accepted, open now)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import ddbuild as dd
from ddbuild.engine.llm import sessions
from ddbuild.engine.llm.sessions import SessionPool
from ddbuild.errors import EarlyShutdownError
from tests.openai_server import FakeOpenAIServer, start_server

ROWS, PARALLEL = 12, 3


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    s = start_server(latency_ms=20)  # replies take a while: every row of a round needs its own connection
    try:
        yield s
    finally:
        s.stop()


@dd.custom_column_generator(required_columns=["b"])
def pause(df):
    time.sleep(0.3)
    df["paused"] = df["b"]
    return df


def _workflow(server: FakeOpenAIServer, *, pause_before_c: bool = False):
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server.url)])
    model = dd.ModelConfig(alias="m", model="test-model", provider="local",
                           inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=PARALLEL))

    def llm(name: str, prompt: str) -> dd.DataDesignerConfigBuilder:
        return dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
            name=name, column_type="llm-text", model_alias="m", prompt=prompt)

    workflow = designer.compose_workflow(name="chain")
    first = llm("a", "First {{ n }}").add_column(
        name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1000})
    workflow.add_stage("one", first, num_records=ROWS)
    workflow.add_stage("two", llm("b", "Second {{ a }}"))
    if pause_before_c:  # a stage without LLM columns that takes a while
        workflow.add_stage("slow", dd.DataDesignerConfigBuilder().add_column(
            dd.CustomColumnConfig(name="paused", generator_function=pause, generation_strategy="full_column")))
        workflow.add_stage("three", llm("c", "Third {{ paused }}"))
    else:
        workflow.add_stage("three", llm("c", "Third {{ b }}"))
    return workflow


def _closed(server: FakeOpenAIServer) -> bool:
    deadline = time.monotonic() + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.open_connections == 0


@pytest.mark.parametrize("jobs", [1, 2])  # -j2: each stage on a thread of its own, sessions lent across them
def test_a_chain_of_llm_stages_connects_once_and_the_build_closes_the_connections(project, server, jobs):
    results = _workflow(server).run(max_parallel_stages=jobs)
    assert server.total == 3 * ROWS and server.connections == PARALLEL  # not PARALLEL per stage
    assert list(results.load_stage_output("three")["c"])[0].startswith("reply to: Third reply to: Second reply to: First")
    assert _closed(server)


def test_a_session_idle_past_the_limit_is_closed_not_lent(project, server, monkeypatch):
    monkeypatch.setattr(sessions, "IDLE_SECONDS", 0.1)  # the slow stage in between takes 0.3 s
    _workflow(server, pause_before_c=True).run()
    assert server.total == 3 * ROWS and server.connections == 2 * PARALLEL  # stage three connected again
    assert _closed(server)


def test_a_failed_stage_run_closes_its_session(project, server):
    server.add_fault("401", times=None, match="Second")  # every request of stage two is refused
    with pytest.raises(EarlyShutdownError, match="HTTP 401"):
        _workflow(server).run()
    assert _closed(server)


def test_the_pool_lends_an_idle_session_once_and_closes_what_it_keeps():
    now = [0.0]
    pool = SessionPool(clock=lambda: now[0])
    first = pool.lend(4)
    pool.give_back(first, reusable=True)
    assert pool.lend(8) is not first  # another connection limit: another session
    assert pool.lend(4) is first and pool.idle() == 0  # lent once, not twice
    pool.give_back(first, reusable=True)
    now[0] += sessions.IDLE_SECONDS + 1
    fresh = pool.lend(4)
    assert fresh is not first and first.loop.is_closed()  # too long idle: closed, not lent
    pool.give_back(fresh, reusable=False)
    assert fresh.loop.is_closed()
    kept = pool.lend(4)
    pool.give_back(kept, reusable=True)
    pool.close()
    assert kept.loop.is_closed() and pool.idle() == 0
