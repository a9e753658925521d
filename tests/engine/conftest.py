"""Fixtures for engine tests: a runner that writes real Parquet under tmp_path."""

from __future__ import annotations

import pytest

from tests.openai_server import FakeOpenAIServer


@pytest.fixture
def openai_server(server: FakeOpenAIServer) -> FakeOpenAIServer:
    """The shared test server (tests/conftest.py), under the name the engine tests use."""
    return server
