"""Fixtures for CLI tests: small build files in a temp directory (see cli_project.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_project import CHAIN, DAG, Project

from tests.openai_server import FakeOpenAIServer, start_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "doc_qa"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DDBUILD_CACHE", "DDBUILD_REMOTE", "DDBUILD_REMOTE_UPLOAD", "DDBUILD_REQUIRE_SIGNED",
                 "DDBUILD_SIGNING_KEY", "TEST_FAIL_STAGE", "TEST_FAIL_BRANCH",
                 "TEST_ROWS", "TEST_LABEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def chain(project: Project) -> Project:
    project.write(CHAIN)
    return project


@pytest.fixture
def dag(project: Project) -> Project:
    project.write(DAG)
    return project


@pytest.fixture
def doc_qa(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Project, FakeOpenAIServer]]:
    """examples/doc_qa copied into the project, its OPENAI_BASE_URL pointing at a fresh test server."""
    for name in ("ddfile.py", "passages.jsonl"):
        shutil.copy(EXAMPLE / name, project.root / name)
    server = start_server()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    try:
        yield project, server
    finally:
        server.stop()
