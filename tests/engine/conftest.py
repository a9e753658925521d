"""Fixtures for engine tests: a runner that writes real Parquet under tmp_path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


@pytest.fixture
def openai_server() -> Iterator[Any]:
    from tests.openai_server import start_server

    server = start_server(latency_ms=0)
    try:
        yield server
    finally:
        server.stop()
