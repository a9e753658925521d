"""ChatClient behaviour over real HTTP: retries, Retry-After, timeouts, non-retryable errors, limits."""

from __future__ import annotations

import pytest

from ddbuild.engine.llm.client import chat_completions_url
from tests.llm.helpers import dropped, model, run_column, services, text_column


def rows(n: int, topic: str = "cats") -> list[dict]:
    return [{"topic": f"{topic} {i}"} for i in range(n)]


def test_429_is_retried_after_retry_after(openai_server):
    openai_server.add_fault("429", times=1, retry_after=1)
    svc = services(openai_server.url)
    values = run_column(svc, text_column(), rows(1))
    assert values == ["reply to: Say something about cats 0"]
    assert openai_server.total == 2
    first, second = openai_server.records
    assert second.at - first.at >= 0.95  # Retry-After: 1 honoured (backoff alone is ~10 ms here)
    assert svc.stats["retries"] == 1 and svc.stats["requests_sent"] == 2


def test_500_is_retried_with_backoff(openai_server):
    openai_server.add_fault("500", times=2)
    svc = services(openai_server.url)
    assert run_column(svc, text_column(), rows(1)) == ["reply to: Say something about cats 0"]
    assert openai_server.total == 3
    assert openai_server.by_status == {500: 2, 200: 1}


def test_retries_are_bounded_by_max_retries(openai_server):
    openai_server.add_fault("500", times=None)
    svc = services(openai_server.url, max_retries=2)
    [failure] = dropped(run_column(svc, text_column(), rows(1)))
    assert failure.reason == "server_error" and failure.status == 500
    assert openai_server.total == 3
    assert svc.stats["failures"] == {"server_error": 1}


def test_400_drops_the_row_without_retry(openai_server):
    openai_server.add_fault("400", times=1, match="cats 1", body="Unsupported value: 'temperature'")
    svc = services(openai_server.url)
    values = run_column(svc, text_column(), rows(3))
    [failure] = dropped(values)
    assert failure.reason == "http_400" and failure.status == 400
    assert "Unsupported value" in failure.detail and "answer" in str(failure)
    assert openai_server.total == 3  # one per row, no retry of the 400
    assert svc.stats["failures"] == {"http_400": 1}
    assert svc.stats["rows_dropped"] == 1 and svc.stats["values"] == 2


def test_timeout_is_retried(openai_server):
    openai_server.add_fault("slow", times=1, delay=1.6)
    svc = services(openai_server.url, models=[model(timeout=1)])
    assert run_column(svc, text_column(), rows(1)) == ["reply to: Say something about cats 0"]
    assert openai_server.total == 2
    assert svc.stats["retries"] == 1


def test_malformed_response_body_is_retried(openai_server):
    openai_server.add_fault("malformed_body", times=1)
    svc = services(openai_server.url)
    assert run_column(svc, text_column(), rows(1)) == ["reply to: Say something about cats 0"]
    assert openai_server.total == 2


def test_connection_refused_is_not_retried(openai_server):
    url, port = openai_server.url, openai_server.port
    openai_server.stop()  # nothing listens on the port now
    svc = services(url, max_retries=5)
    [error] = run_column(svc, text_column(), rows(1))  # the stage stops: every request would be refused
    assert str(error).startswith(f"Stopping the stage: Model alias 'fast': POST {url}/chat/completions failed: "
                                 f"connection refused: nothing listens at 127.0.0.1:{port}")
    assert svc.stats["failures"] == {"connection_refused": 1}
    assert svc.stats["requests_sent"] == 1 and svc.stats["retries"] == 0


@pytest.mark.parametrize("limit", [1, 4])
def test_per_alias_concurrency_limit_is_respected(limit):
    from tests.openai_server import start_server

    server = start_server(latency_ms=30)
    try:
        svc = services(server.url, models=[model(max_parallel_requests=limit)])
        values = run_column(svc, text_column(), rows(8 * limit))
        assert not dropped(values)
        assert server.total == 8 * limit
        assert server.max_in_flight == limit  # reached under load, never exceeded
    finally:
        server.stop()


def test_two_aliases_have_separate_limits():
    import asyncio

    from tests.openai_server import start_server

    server = start_server(latency_ms=30)
    try:
        svc = services(server.url, models=[model("a", "model-a", max_parallel_requests=2),
                                           model("b", "model-b", max_parallel_requests=3)])
        a, b = svc.generator_for(text_column("x", alias="a")), svc.generator_for(text_column("y", alias="b"))

        async def go():
            await asyncio.gather(*(g.generate({"topic": str(i)}, i) for g in (a, b) for i in range(15)))
            await svc.aclose()

        asyncio.run(go())
        assert server.by_model == {"model-a": 15, "model-b": 15}
        assert server.max_in_flight == 5
        assert svc.stats["by_model"]["a"]["requests_sent"] == 15
    finally:
        server.stop()


@pytest.mark.parametrize(
    "endpoint, url",
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
        ("https://integrate.api.nvidia.com/v1/", "https://integrate.api.nvidia.com/v1/chat/completions"),
        ("http://localhost:8000", "http://localhost:8000/v1/chat/completions"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1/chat/completions"),
        ("http://h/x/v1/chat/completions", "http://h/x/v1/chat/completions"),
        ("https://generativelanguage.googleapis.com/v1beta/openai", "https://generativelanguage.googleapis.com/v1beta/openai/v1/chat/completions"),
    ],
)
def test_chat_completions_url_forms(endpoint, url):
    assert chat_completions_url(endpoint) == url


def test_endpoint_without_v1_reaches_the_server(openai_server):
    base = openai_server.url.removesuffix("/v1")
    svc = services(base)
    assert run_column(svc, text_column(), rows(1)) == ["reply to: Say something about cats 0"]
    assert openai_server.total == 1
