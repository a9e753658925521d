"""Fixtures for the store tests: real servers (session-wide) and the parametrised ``backend``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import Backend, make_backend
from store_servers import Moto, Nginx, nginx_binary

NGINX_MISSING = "nginx is not installed (CI: `apt-get install -y nginx`); HTTP/WebDAV store tests skipped"


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    server = Moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nginx() -> Iterator[Nginx]:
    if nginx_binary() is None:
        pytest.skip(NGINX_MISSING)
    server = Nginx()
    yield server
    server.cleanup()


@pytest.fixture(params=["memory", "local", "s3", "http"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)
