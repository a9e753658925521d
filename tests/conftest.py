"""Fixtures shared by every test folder: the real remote-cache servers, started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.openai_server import FakeOpenAIServer, start_server
from tests.store.store_servers import Moto, Nginx, nginx_binary

NGINX_MISSING = "nginx is not installed (CI: `apt-get install -y nginx`); HTTP/WebDAV tests skipped"


@pytest.fixture(autouse=True)
def _no_data_designer_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Model providers/configs never come from the real ~/.data-designer: an empty folder instead
    (tests that need one set DATA_DESIGNER_HOME or HOME themselves)."""
    monkeypatch.setenv("DATA_DESIGNER_HOME", str(tmp_path_factory.getbasetemp() / "empty-data-designer-home"))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """The OpenAI-compatible test server on loopback, no added latency, stopped after the test.

    Folders and modules that need latency or a longer scope define their own ``server``.
    """
    running = start_server(latency_ms=0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """A moto S3 server on 127.0.0.1 (a free port), stopped by its pid at the end of the session."""
    server = Moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nginx() -> Iterator[Nginx]:
    """nginx with a WebDAV location on 127.0.0.1, stopped by its pid at the end of the session."""
    if nginx_binary() is None:
        pytest.skip(NGINX_MISSING)
    server = Nginx()
    yield server
    server.cleanup()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, made the working directory (cache: ./.ddbuild/cache).

    tests/cli has its own ``project`` (a build-file runner), which overrides this one there.
    """
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("DDBUILD_CACHE", raising=False)
    return root
