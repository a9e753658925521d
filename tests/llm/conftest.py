"""Fixtures for LLM tests: a real OpenAI-compatible server on loopback, and services wired to it."""

from __future__ import annotations

import pytest

from tests.openai_server import FakeOpenAIServer


@pytest.fixture
def openai_server(server: FakeOpenAIServer) -> FakeOpenAIServer:
    """The shared test server (tests/conftest.py), under the name the LLM tests use."""
    return server
