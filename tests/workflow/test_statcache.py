"""The stat cache: seed files are hashed once per change, by the planner, never again by a build."""

from __future__ import annotations

from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.planning.statcache import StatCache
from tests.workflow.conftest import write_seed


def test_digest_reuses_what_lookup_remembered_and_records_nothing(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "seed.parquet")
    stats = StatCache(tmp_path / "stat-cache.json")
    digest, _ = stats.lookup(seed, lambda p: None)
    assert stats.digest(seed) == digest and stats.files_hashed == 1
    other = write_seed(tmp_path / "other.parquet", offset=7)
    assert stats.digest(other) != digest and stats.files_hashed == 2  # unknown: read, not remembered
    stats.save()
    assert str(other.resolve()) not in StatCache(tmp_path / "stat-cache.json")._entries


def test_a_stage_build_does_not_rehash_its_seed(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_seed(project / "seed.parquet")
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    wf = dd.DataDesigner().compose_workflow(name="s")
    wf.add_stage("load", builder.add_column(name="u", column_type="expression", expr="{{ text }}-u"))

    def unexpected(path: object) -> str:
        raise AssertionError(f"the engine re-hashed {path}")

    monkeypatch.setattr("ddbuild.engine.identity.digest_file", unexpected)
    assert wf.run().executed_stages() == ["load"]
