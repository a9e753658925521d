"""Fixtures for the store tests: the parametrised ``backend`` (servers come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import Backend, make_backend


@pytest.fixture(params=["memory", "local", "layered", "s3", "http"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)
