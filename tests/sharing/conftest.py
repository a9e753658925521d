"""Fixtures for the sharing tests: real remotes on loopback (nginx WebDAV, moto S3) and an LLM server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.openai_server import FakeOpenAIServer, start_server
from tests.store.store_servers import Moto, Nginx

ENV = ("DDBUILD_CACHE", "DDBUILD_REMOTE", "DDBUILD_REMOTE_UPLOAD", "DDBUILD_REQUIRE_SIGNED", "DDBUILD_SIGNING_KEY")


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    server = start_server()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def http_remote(nginx: Nginx) -> tuple[str, Path]:
    """(URL, directory on the server's disk) of a fresh prefix on the shared nginx."""
    prefix = uuid.uuid4().hex[:12]
    return f"{nginx.url}{prefix}/", nginx.data / prefix


@pytest.fixture
def s3_remote(moto: Moto) -> str:
    return moto.url(uuid.uuid4().hex[:12])
