"""Fixtures for LLM tests: a real OpenAI-compatible server on loopback, and services wired to it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # so ``tests.openai_server`` imports from any test folder
    sys.path.insert(0, str(_ROOT))

from tests.openai_server import FakeOpenAIServer, start_server  # noqa: E402


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    server = start_server(latency_ms=0)
    try:
        yield server
    finally:
        server.stop()
