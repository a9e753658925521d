"""What a remote cannot do to a teammate: serve tampered blobs, hostile entries, unsigned entries, or fail a build."""

from __future__ import annotations

import json
import logging

import pytest

from ddbuild.store.fs import FileSystemStore
from tests.sharing.teammates import HIT, RUN, Teammate
from tests.store.store_servers import Nginx

STORE_LOG = "ddbuild.store"


def _alice_uploads(tmp_path, llm, url, **settings):
    alice = Teammate(tmp_path / "alice", llm.url, remote=url, remote_upload=True, **settings)
    assert alice.run() == {"a": RUN, "b": RUN}
    key = alice.keys()["a"]
    entry = FileSystemStore(tmp_path / "alice" / ".ddbuild" / "cache").get_entry(key)
    return alice, key, entry


def _warnings(caplog, text):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def test_tampered_remote_blob_is_quarantined_and_the_stage_rebuilt(http_remote, tmp_path, llm, caplog):
    url, disk = http_remote
    alice, _, entry = _alice_uploads(tmp_path, llm, url)
    digest = entry["outputs"][0]["digest"]
    blob = disk / "objects" / digest[:2] / digest
    blob.write_bytes(b"X" * len(blob.read_bytes()))  # same size, other bytes

    bob = Teammate(tmp_path / "bob", llm.url, remote=url)
    assert bob.plan()["a"] == (HIT, "remote")  # the dry run downloads nothing, so it cannot know
    with caplog.at_level(logging.WARNING, logger=STORE_LOG):
        assert bob.run() == {"a": RUN, "b": HIT}  # a rebuilt locally; same bytes, so b is still a hit
    assert any(url.rstrip("/") in m and digest in m for m in _warnings(caplog, "corrupt"))
    assert list((tmp_path / "bob" / ".ddbuild" / "cache" / "quarantine").glob(f"*{digest}*"))
    assert llm.total == 4 and bob.output("a") == alice.output("a")


@pytest.mark.parametrize("field", ["path", "digest"])
def test_hostile_remote_entry_is_a_miss(field, http_remote, tmp_path, llm, caplog):
    url, disk = http_remote
    _, key, _ = _alice_uploads(tmp_path, llm, url)
    planted = disk / "actions" / key[:2] / f"{key}.json"
    entry = json.loads(planted.read_text())
    entry["outputs"][0][field] = "../../../escaped.parquet" if field == "path" else "../../" + "0" * 26 + "/passwd"
    planted.write_text(json.dumps(entry))

    bob = Teammate(tmp_path / "bob", llm.url, remote=url)
    with caplog.at_level(logging.WARNING, logger=STORE_LOG):
        assert bob.plan()["a"] == (RUN, None)
        assert bob.run() == {"a": RUN, "b": HIT}
    assert _warnings(caplog, key)
    assert not list(tmp_path.rglob("escaped.parquet")) and not list(tmp_path.rglob("passwd"))


def test_remote_stopped_mid_build_finishes_locally(tmp_path, llm, caplog):
    server = Nginx()  # our own: this test kills it
    try:
        bob = Teammate(tmp_path / "bob", llm.url, remote=server.url, remote_upload=True)

        class StopAfterA:
            def emit(self, event):
                if type(event).__name__ == "StageFinished" and event.stage == "a":
                    server.stop()

        with caplog.at_level(logging.WARNING, logger=STORE_LOG):
            assert bob.run(reporter=StopAfterA()) == {"a": RUN, "b": RUN}
        warned = _warnings(caplog, "unreachable")
        assert len(warned) == 1 and "continuing with the local cache" in warned[0]
        assert bob.plan() == {"a": (HIT, "local"), "b": (HIT, "local")}  # warns again, once, and carries on
    finally:
        server.cleanup()


def test_signing_key_rejects_unsigned_and_accepts_signed(http_remote, s3_remote, tmp_path, llm, monkeypatch, caplog):
    unsigned_url, _ = http_remote
    _alice_uploads(tmp_path / "unsigned", llm, unsigned_url)  # Alice has no key
    monkeypatch.setenv("DDBUILD_SIGNING_KEY", "team-secret-1")
    bob = Teammate(tmp_path / "bob", llm.url, remote=unsigned_url)
    with caplog.at_level(logging.WARNING, logger=STORE_LOG):
        assert bob.plan()["a"] == (RUN, None)
    assert _warnings(caplog, "is unsigned")
    assert not any("team-secret-1" in r.getMessage() for r in caplog.records)  # never log the key
    strict = Teammate(tmp_path / "bob", llm.url, remote=unsigned_url, require_signed=True)
    assert strict.plan()["a"] == (RUN, None)  # a miss (reported once), never a failed build

    _, _, entry = _alice_uploads(tmp_path / "signed", llm, s3_remote)  # Alice now has the key too
    assert entry["signature"]
    assert Teammate(tmp_path / "carol", llm.url, remote=s3_remote).run() == {"a": HIT, "b": HIT}
    assert llm.total == 8  # Carol sent nothing
    monkeypatch.setenv("DDBUILD_SIGNING_KEY", "another-key")
    assert Teammate(tmp_path / "dave", llm.url, remote=s3_remote).plan()["a"] == (RUN, None)


def test_push_signs_entries_built_before_the_remote_was_set(http_remote, tmp_path, llm, monkeypatch):
    url, _ = http_remote
    monkeypatch.setenv("DDBUILD_SIGNING_KEY", "team-secret-2")
    assert Teammate(tmp_path / "alice", llm.url).run() == {"a": RUN, "b": RUN}  # no remote yet
    assert Teammate(tmp_path / "alice", llm.url, remote=url).call("push").entries_copied == 2
    strict = Teammate(tmp_path / "bob", llm.url, remote=url, require_signed=True)
    assert strict.plan() == {"a": (HIT, "remote"), "b": (HIT, "remote")}
