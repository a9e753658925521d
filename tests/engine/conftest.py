"""Fixtures for engine tests: a runner that writes real Parquet under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def openai_server() -> Iterator[Any]:
    from tests.openai_server import start_server

    server = start_server(latency_ms=0)
    try:
        yield server
    finally:
        server.stop()
