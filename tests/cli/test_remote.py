"""Two teammates sharing a cache through ``--remote DIR`` (a plain directory remote), and cache push/pull."""

from __future__ import annotations

import json

import pytest
from cli_project import CHAIN, Project


@pytest.fixture
def teammates(tmp_path):
    """Separate copies of the same project, each with its own local cache, and a shared remote directory."""
    a, b = Project(tmp_path / "a"), Project(tmp_path / "b")
    for p in (a, b):
        p.root.mkdir()
        p.write(CHAIN)
    return a, b, str(tmp_path / "remote")


def statuses(result) -> list[str]:
    return [e["status"] for e in result.json_lines() if e.get("event") == "stage_finished"]


def test_teammate_b_builds_nothing_after_a_uploads(teammates):
    a, b, remote = teammates
    built = a.main("--remote", remote, "--remote-upload", "--json")
    assert built.exit_code == 0, built.stderr
    assert statuses(built) == ["run", "run", "run"]

    explained = b.main("--remote", remote, "--explain")
    assert explained.exit_code == 0, explained.stderr
    assert explained.stdout.count("(remote)") == 3

    rebuilt = b.main("--remote", remote, "--json")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert statuses(rebuilt) == ["hit", "hit", "hit"]  # 0 stages run
    assert not any(e.get("event") == "stage_started" for e in rebuilt.json_lines())


def test_without_upload_nothing_reaches_the_remote(teammates, tmp_path):
    a, b, remote = teammates
    assert a.main("--remote", remote, "-s").exit_code == 0
    assert b.main("--remote", remote, "-q").exit_code == 1  # B would have to build


def test_pyproject_remote_and_upload_apply_without_flags(teammates):
    a, b, remote = teammates
    for p in (a, b):
        (p.root / "pyproject.toml").write_text(f'[tool.ddbuild]\nremote = {json.dumps(remote)}\nremote_upload = true\n')
    assert a.main("-s").exit_code == 0
    assert b.main("-q").exit_code == 0  # everything is a (remote) hit for B


def test_push_pull_round_trip_counts(teammates):
    a, b, remote = teammates
    assert a.main("-s").exit_code == 0  # built locally only
    pushed = a.main("--remote", remote, "cache", "push", "--json")
    assert pushed.exit_code == 0, pushed.stderr
    counts = json.loads(pushed.stdout)
    assert counts["direction"] == "pushed" and counts["complete"]
    assert counts["entries_copied"] == 3 and counts["blobs_copied"] >= 3 and counts["bytes_copied"] > 0

    again = a.main("--remote", remote, "cache", "push")
    assert again.exit_code == 0 and "0 entries copied (3 already there)" in again.stdout

    pulled = b.main("--remote", remote, "cache", "pull", "final", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    counts = json.loads(pulled.stdout)
    assert counts["entries_copied"] == 3 and counts["blobs_copied"] >= 3 and counts["complete"]
    assert b.main("-q").exit_code == 0  # now local: up to date with no remote at all


def test_pull_of_what_the_remote_lacks_exits_1(teammates):
    _, b, remote = teammates
    pulled = b.main("--remote", remote, "cache", "pull", "final")
    assert pulled.exit_code == 1
    assert "entries missing from the source" in pulled.stderr  # base; downstream keys are not known yet


def test_push_without_remote_says_how_to_configure_one(teammates):
    a, _, _ = teammates
    assert a.main("-s").exit_code == 0
    result = a.main("cache", "push")
    assert result.exit_code != 0
    assert "no remote configured: pass --remote URL or set DDBUILD_REMOTE" in result.stderr


def test_require_signed_with_the_team_key(teammates, monkeypatch):
    a, b, remote = teammates
    monkeypatch.setenv("DDBUILD_SIGNING_KEY", "team-secret")
    assert a.main("--remote", remote, "--remote-upload", "-s").exit_code == 0  # entries signed on upload
    assert b.main("--remote", remote, "--require-signed", "-q").exit_code == 0  # signed: B uses them
    monkeypatch.delenv("DDBUILD_SIGNING_KEY")
    result = b.main("--remote", remote, "--require-signed", "-q")
    assert result.exit_code == 2 and "no signing key is set" in result.stderr


def test_require_signed_from_env(teammates, monkeypatch):
    _, b, remote = teammates
    monkeypatch.setenv("DDBUILD_REQUIRE_SIGNED", "1")
    result = b.main("--remote", remote, "-q")
    assert result.exit_code != 0 and "signed entries are required" in result.stderr
