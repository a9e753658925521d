"""Fixtures for CLI tests: small build files in a temp directory (see cli_project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_project import CHAIN, DAG, Project


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
