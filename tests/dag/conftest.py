"""Fixtures for DAG tests: a project folder as the working directory, the LLM test server, builders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.openai_server import FakeOpenAIServer, start_server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, made the working directory (cache: ./.ddbuild/cache)."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("DDBUILD_CACHE", raising=False)
    return root


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """The OpenAI-compatible test server with 20 ms latency, so concurrent requests overlap."""
    running = start_server(latency_ms=20)
    try:
        yield running
    finally:
        running.stop()
