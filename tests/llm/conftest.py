"""Fixtures for LLM tests: a real OpenAI-compatible server on loopback, and services wired to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.openai_server import FakeOpenAIServer, start_server


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    server = start_server(latency_ms=0)
    try:
        yield server
    finally:
        server.stop()
