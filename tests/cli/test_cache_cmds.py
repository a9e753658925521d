"""ddbuild cache ls / du / verify / gc / push / pull."""

from __future__ import annotations

import json
from pathlib import Path

from ddbuild.store.gc import EntryInfo, select_garbage


def blobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".ddbuild" / "cache" / "objects").rglob("*") if p.is_file())


def test_ls_and_du(chain):
    chain.run()
    listing = chain.main("cache", "ls").stdout
    assert "chain:base" in listing and "chain:final" in listing and "40 rows" in listing
    entries = [json.loads(line) for line in chain.main("cache", "ls", "--json").stdout.splitlines()]
    assert {e["stage"] for e in entries} == {"base", "middle", "final"}
    du = json.loads(chain.main("cache", "du", "--json").stdout)
    assert du["kinds"]["objects"]["files"] >= 3 and du["total"] > 0


def test_verify_quarantines_corrupt_blob_and_exits_1(chain):
    chain.run()
    assert chain.main("cache", "verify").exit_code == 0
    victim = blobs(chain.root)[0]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    result = chain.main("cache", "verify")
    assert result.exit_code == 1 and "corrupt blob" in result.stdout
    assert not victim.exists()
    assert any((chain.root / ".ddbuild" / "cache" / "quarantine").iterdir())
    assert chain.main("-q").exit_code == 1  # the stage using it rebuilds next time


def test_build_after_quarantine_rebuilds(chain):
    chain.run()
    victim = blobs(chain.root)[0]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    assert chain.main("cache", "verify").exit_code == 1
    assert chain.main("-s").exit_code == 0 and chain.main("-q").exit_code == 0


def test_gc_never_deletes_what_targets_use(chain):
    chain.run()
    chain.run(env={"TEST_LABEL": "v2"})  # a second middle/final entry; v1's are now unreachable
    dry = chain.main("cache", "gc", "--keep-last", "0", "--dry-run")
    assert dry.exit_code == 0 and "would delete 2 entries" in dry.stdout
    assert chain.main("cache", "gc", "--keep-last", "0").exit_code == 0
    # the build file still says v1, so v1's entries are reachable and survived; v2's are gone
    assert chain.main("-q").exit_code == 0
    left = {json.loads(line)["key"] for line in chain.main("cache", "ls", "--json").stdout.splitlines()}
    assert len(left) == 3


def test_gc_without_limits_only_removes_orphan_blobs(chain):
    chain.run()
    orphan = chain.root / ".ddbuild" / "cache" / "objects" / "ff" / ("ff" * 16)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody references me")
    kept = chain.main("cache", "gc")  # just written: younger than the default grace period (2h)
    assert "deleted 0 entries and 0 unreferenced blobs" in kept.stdout and orphan.exists()
    result = chain.main("cache", "gc", "--prune=now")
    assert "deleted 0 entries and 1 unreferenced blobs" in result.stdout and not orphan.exists()
    assert chain.main("-q").exit_code == 0


def test_select_garbage_rules():
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 1, 10, tzinfo=timezone.utc)

    def entry(key: str, days: int) -> EntryInfo:
        return EntryInfo(key, "wf", "s", now - timedelta(days=days), 10, 1, [])

    entries = [entry("a", 1), entry("b", 5), entry("c", 9), entry("d", 20)]
    keep = {"d"}
    assert [e.key for e in select_garbage(entries, keep, keep_last=2, older_than=None, now=now)] == ["c"]
    assert [e.key for e in select_garbage(entries, keep, keep_last=None, older_than=4, now=now)] == ["b", "c"]
    assert [e.key for e in select_garbage(entries, keep, keep_last=1, older_than=6, now=now)] == ["c"]
    assert select_garbage(entries, keep, keep_last=None, older_than=None, now=now) == []


def test_push_then_pull_into_a_fresh_cache(chain, tmp_path):
    remote = tmp_path.parent / (tmp_path.name + "-remote")
    chain.run()
    pushed = chain.main("--remote", str(remote), "cache", "push")
    assert pushed.exit_code == 0 and "3 entries copied" in pushed.stdout
    assert chain.main("--cache", "fresh", "-q").exit_code == 1
    pulled = chain.main("--cache", "fresh", "--remote", str(remote), "cache", "pull", "final")
    assert pulled.exit_code == 0, pulled.stderr
    assert chain.main("--cache", "fresh", "-q").exit_code == 0  # everything local now, no remote needed


def test_push_unbuilt_target_fails(chain, tmp_path):
    result = chain.main("--remote", str(tmp_path / "r"), "cache", "push", "middle")
    assert result.exit_code == 1 and "not built" in result.stderr


def test_remote_env_and_read_through(chain, tmp_path, monkeypatch):
    remote = tmp_path.parent / (tmp_path.name + "-shared")
    monkeypatch.setenv("DDBUILD_REMOTE", str(remote))
    monkeypatch.setenv("DDBUILD_REMOTE_UPLOAD", "1")
    assert chain.main("-s").exit_code == 0
    assert (remote / "actions").is_dir()  # uploaded because of DDBUILD_REMOTE_UPLOAD=1
    explained = json.loads(chain.main("--cache", "other", "-n", "--json").stdout)
    assert [s["status"] for s in explained["workflows"][0]["stages"]] == ["hit", "hit", "hit"]
