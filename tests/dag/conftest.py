"""Fixtures for DAG tests: a project folder as the working directory, the LLM test server, builders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.openai_server import FakeOpenAIServer, start_server


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """The OpenAI-compatible test server with 20 ms latency, so concurrent requests overlap."""
    running = start_server(latency_ms=20)
    try:
        yield running
    finally:
        running.stop()
