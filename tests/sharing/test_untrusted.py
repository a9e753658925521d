"""What a remote cannot do to a teammate: serve tampered blobs, hostile entries, unsigned entries, or fail a build."""

from __future__ import annotations

import json
import logging

import pytest

from ddbuild.errors import ArtifactError
from ddbuild.store.fs import FileSystemStore
from tests.packs_helpers import rewrite_responses
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


def _rows(teammate, stage):
    import pyarrow.parquet as pq

    files = sorted((teammate.root / "artifacts" / "shared").glob(f"stage-*-{stage}/parquet-files/*.parquet"))
    return [row for f in files for row in pq.read_table(f).column("y" if stage == "b" else "x").to_pylist()]


def _poison_responses(disk):
    """What the attacker in issue 11 did: rewrite every LLM response on the remote to say PWNED."""

    def pwn(key, doc):
        doc["choices"][0]["message"]["content"] = "PWNED"
        return doc

    assert rewrite_responses(disk, pwn)


def test_signatures_do_not_launder_unsigned_responses(http_remote, tmp_path, llm, monkeypatch):
    url, disk = http_remote
    monkeypatch.setenv("DDBUILD_SIGNING_KEY", "team-key")
    alice = Teammate(tmp_path / "alice", llm.url, remote=url, remote_upload=True)
    assert alice.run() == {"a": RUN, "b": RUN}
    honest = _rows(alice, "b")
    for path in (disk / "actions").rglob("*.json"):
        path.unlink()
    _poison_responses(disk)

    bob = Teammate(tmp_path / "bob", llm.url, remote=url, remote_upload=True, require_signed=True)
    assert bob.run() == {"a": RUN, "b": RUN}  # the forged responses were misses: asked again
    assert _rows(bob, "b") == honest and llm.total == 8
    carol = Teammate(tmp_path / "carol", llm.url, remote=url, require_signed=True)
    assert carol.run() == {"a": HIT, "b": HIT}  # Bob's signed entries, and nothing PWNED in them
    assert _rows(carol, "b") == honest and llm.total == 8


def test_a_key_holder_never_signs_what_it_pulled_unverified(http_remote, s3_remote, tmp_path, llm, monkeypatch, caplog):
    url, disk = http_remote
    alice = Teammate(tmp_path / "alice", llm.url, remote=url, remote_upload=True)  # nobody has a key yet
    alice.run()
    honest = _rows(alice, "b")
    for path in (disk / "actions").rglob("*.json"):
        if json.loads(path.read_text())["stage"] == "b":
            path.unlink()
    _poison_responses(disk)
    bob = Teammate(tmp_path / "bob", llm.url, remote=url)
    assert bob.run() == {"a": HIT, "b": RUN}
    assert set(_rows(bob, "b")) == {"PWNED"}  # without keys nothing can tell; but it is marked

    monkeypatch.setenv("DDBUILD_SIGNING_KEY", "team-key")  # Bob gets the key and pushes to a team remote
    with caplog.at_level(logging.WARNING, logger=STORE_LOG), pytest.raises(ArtifactError, match="not built: a, b"):
        Teammate(tmp_path / "bob", llm.url, remote=s3_remote).call("push")  # marked: never signed, never pushed
    assert _warnings(caplog, "is not verified (pulled from")
    carol = Teammate(tmp_path / "carol", llm.url, remote=s3_remote, require_signed=True)
    assert carol.run() == {"a": RUN, "b": RUN} and _rows(carol, "b") == honest
    again = Teammate(tmp_path / "bob", llm.url, remote=url, require_signed=True)  # Bob, now with the key
    assert again.run() == {"a": RUN, "b": RUN} and _rows(again, "b") == honest


def test_an_entry_whose_blob_is_not_parquet_is_rebuilt_and_verify_reports_it(tmp_path, llm):
    from ddbuild.fingerprint import digest_bytes

    bob = Teammate(tmp_path / "bob", llm.url)  # no remote at all
    bob.run()
    honest = (_rows(bob, "a"), _rows(bob, "b"))
    cache = FileSystemStore(tmp_path / "bob" / ".ddbuild" / "cache")
    key = bob.keys()["a"]
    entry = cache.get_entry(key)
    garbage = b"digest matches, not parquet " * 20
    source = tmp_path / "garbage"
    source.write_bytes(garbage)
    cache.put_blob(digest_bytes(garbage), source)
    index = next(i for i, o in enumerate(entry["outputs"]) if o["path"].endswith(".parquet"))
    entry["outputs"][index].update(digest=digest_bytes(garbage), size=len(garbage))
    cache.delete_entry(key)
    cache.put_entry(key, entry)  # an unsigned, well-formed entry: only a Parquet check can tell

    from click.testing import CliRunner

    from ddbuild.cli.app import cli

    (tmp_path / "ddfile.py").write_text(  # the CLI wants a build file; cache verify uses none of it
        "import ddbuild as dd\nworkflow = dd.DataDesigner().compose_workflow(name='shared')\n")
    verify = CliRunner().invoke(cli, ["--cache", str(cache.location), "cache", "verify"])
    assert verify.exit_code == 1, verify.output
    assert f"blob {digest_bytes(garbage)} is not Parquet: entry {key[:8]} (shared:a)" in verify.output
    cache.put_blob(digest_bytes(garbage), source)  # planted again: the build must notice by itself
    assert bob.run() == {"a": RUN, "b": HIT}
    assert (_rows(bob, "a"), _rows(bob, "b")) == honest
    assert list((tmp_path / "bob" / ".ddbuild" / "cache" / "quarantine").glob("*.reason.txt"))


class _Dribble:
    """An HTTP server that answers every GET with one byte every ``gap`` seconds (never finishing)."""

    def __init__(self, gap: float) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                try:
                    while not stopped.wait(gap):
                        self.wfile.write(b"[")
                        self.wfile.flush()
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                pass

        stopped = self.stopped = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cache/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_remote_that_dribbles_is_cut_off_by_the_transfer_deadline(tmp_path, llm, monkeypatch, caplog):
    import time

    server = _Dribble(gap=0.3)  # every read succeeds within the socket timeout; the transfer never ends
    try:
        monkeypatch.setenv("DDBUILD_TRANSFER_TIMEOUT", "1")
        bob = Teammate(tmp_path / "bob", llm.url, remote=server.url)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger=STORE_LOG):
            assert bob.run() == {"a": RUN, "b": RUN}
        assert time.monotonic() - started < 15
        warned = _warnings(caplog, "took longer than 1 s (DDBUILD_TRANSFER_TIMEOUT)")
        assert len(warned) == 1 and "continuing with the local cache" in warned[0]
    finally:
        server.stop()
