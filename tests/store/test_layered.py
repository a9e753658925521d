"""LayeredStore: read-through, write-back, a remote that goes down, a tampered remote, signatures."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from store_helpers import key_of, make_entry, write_blob
from store_servers import Moto, Nginx, nginx_binary

from ddbuild.errors import ConfigError, StoreError
from ddbuild.fingerprint import digest_bytes
from ddbuild.store.base import Origin, Store
from ddbuild.store.entry import sign_entry
from ddbuild.store.fs import FileSystemStore
from ddbuild.store.layered import LayeredStore
from ddbuild.store.url import open_store

KEY = b"team-secret"


def _parquet(values: list[int]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"x": values}), sink)
    return sink.getvalue()


BLOBS = {"parquet-files/batch_00000.parquet": _parquet([0, 1, 2]), "parquet-files/batch_00001.parquet": _parquet([3])}


def publish(store, tmp_path: Path, name: str, *, signing_key: bytes | None = None, responses: int = 0) -> str:
    """Put a stage's blobs (and entry) into ``store`` the way a teammate's build would."""
    key = key_of(name)
    for data in BLOBS.values():
        digest, source = write_blob(tmp_path, data)
        store.put_blob(digest, source)
    response_keys = [key_of(f"{name} request {i}") for i in range(responses)]
    for i, response_key in enumerate(response_keys):
        store.put_response(response_key, {"answer": i})
    entry = make_entry(key, blobs=BLOBS, usage={"response_keys": response_keys})
    store.put_entry(key, sign_entry(entry, signing_key) if signing_key else entry)
    return key


def store_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ddbuild.store"]


def test_remote_hit_is_read_through_and_copied_locally(tmp_path: Path) -> None:
    remote = FileSystemStore(tmp_path / "remote")
    local = FileSystemStore(tmp_path / "local")
    key = publish(remote, tmp_path, "drafts")
    layered = LayeredStore(local, remote)
    assert isinstance(layered, Store)

    assert layered.entry_origin(key) is Origin.REMOTE
    unverified = f"pulled from {remote.location} without an accepted signature"  # no keys: used, but marked
    assert layered.get_entry(key) == remote.get_entry(key) | {"unverified": unverified}
    assert local.get_entry(key) is None  # not local until its blobs are
    for path, data in BLOBS.items():
        dest = tmp_path / "view" / path
        assert layered.get_blob(digest_bytes(data), dest) is True
        assert dest.read_bytes() == data
    assert local.get_entry(key) == remote.get_entry(key) | {"unverified": unverified}
    assert sorted(local.list_blobs()) == sorted(digest_bytes(d) for d in BLOBS.values())
    assert LayeredStore(local, remote).entry_origin(key) is Origin.LOCAL
    assert LayeredStore(local, remote).entry_origin(key_of("never built")) is None


def test_writes_reach_the_remote_only_with_upload(tmp_path: Path) -> None:
    remote = FileSystemStore(tmp_path / "remote")
    reader = LayeredStore(FileSystemStore(tmp_path / "a"), remote)
    publish(reader, tmp_path, "drafts")
    assert list(remote.list_entries()) == [] and list(remote.list_blobs()) == []

    writer = LayeredStore(FileSystemStore(tmp_path / "b"), remote, upload=True, signing_key=KEY)
    key = publish(writer, tmp_path, "chatml", responses=2)
    assert list(remote.list_entries()) == [key]
    assert sorted(remote.list_blobs()) == sorted(digest_bytes(d) for d in BLOBS.values())
    assert remote.get_entry(key)["signature"].startswith("hmac-sha256:")


def test_tampered_remote_blob_is_quarantined_and_a_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    remote = FileSystemStore(tmp_path / "remote")
    local = FileSystemStore(tmp_path / "local")
    key = publish(remote, tmp_path, "drafts")
    digest = digest_bytes(BLOBS["parquet-files/batch_00000.parquet"])
    remote.blob_path(digest).write_bytes(b"evil bytes")
    layered = LayeredStore(local, remote)

    with caplog.at_level(logging.WARNING, logger="ddbuild.store"):
        assert layered.get_entry(key) is not None
        assert layered.get_blob(digest, tmp_path / "view" / "b0.parquet") is False
        assert layered.get_blob(digest, tmp_path / "view" / "b0.parquet") is False  # not fetched again
    assert not (tmp_path / "view" / "b0.parquet").exists()
    assert not local.has_blob(digest)
    assert local.get_entry(key) is None  # the entry is never published without its blobs
    quarantined = sorted((tmp_path / "local" / "quarantine").iterdir())
    assert [p.read_bytes() for p in quarantined if not p.name.endswith(".reason.txt")] == [b"evil bytes"]
    reason = next(p for p in quarantined if p.name.endswith(".reason.txt")).read_text()
    assert f"downloaded from remote cache {remote.location}" in reason
    served = [m for m in store_messages(caplog) if m.startswith("remote cache")]
    assert len(served) == 1
    assert served[0].startswith(f"remote cache {remote.location} served a corrupt blob {digest}; quarantined locally")


def test_signing_policy_for_remote_entries(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    remote = FileSystemStore(tmp_path / "remote")
    unsigned = publish(remote, tmp_path, "unsigned")
    signed = publish(remote, tmp_path, "signed", signing_key=KEY)
    foreign = publish(remote, tmp_path, "foreign", signing_key=b"someone else")

    layered = LayeredStore(FileSystemStore(tmp_path / "local"), remote, signing_key=KEY)
    with caplog.at_level(logging.WARNING, logger="ddbuild.store"):
        assert layered.get_entry(unsigned) is None
        assert layered.get_entry(unsigned) is None
        assert layered.get_entry(foreign) is None
    assert layered.get_entry(signed) == remote.get_entry(signed)
    assert store_messages(caplog) == [
        f"remote cache {remote.location}: entry {unsigned} is unsigned; ignoring it (treated as a miss).",
        f"remote cache {remote.location}: entry {foreign} has a signature that matches no accepted key; "
        "ignoring it (treated as a miss).",
    ]
    strict = LayeredStore(FileSystemStore(tmp_path / "strict"), remote, signing_key=KEY, require_signed=True)
    assert strict.get_entry(unsigned) is None  # a miss, not a failed build
    rotated = LayeredStore(FileSystemStore(tmp_path / "rotated"), remote, signing_key=b"new key",
                           trusted_keys=(b"someone else", KEY), require_signed=True)
    assert rotated.get_entry(signed) is not None and rotated.get_entry(foreign) is not None
    assert rotated.get_entry(unsigned) is None
    # A signed entry edited after signing (e.g. a row count) fails too.
    doctored = remote.get_entry(signed) | {"row_counts": {"final": 10**6}}
    remote.delete_entry(signed)
    remote.put_entry(signed, doctored)
    assert LayeredStore(FileSystemStore(tmp_path / "x"), remote, signing_key=KEY).get_entry(signed) is None


def test_push_and_pull_closure_copy_entries_blobs_and_responses(tmp_path: Path) -> None:
    local = FileSystemStore(tmp_path / "local")
    remote = FileSystemStore(tmp_path / "remote")
    keys = [publish(local, tmp_path, name, responses=3) for name in ("a", "b")]
    layered = LayeredStore(local, remote, signing_key=None)

    pushed = layered.push_closure([*keys, key_of("missing")])
    assert (pushed.entries_copied, pushed.blobs_copied, pushed.blobs_present, pushed.responses_copied) == (2, 2, 2, 6)
    assert pushed.missing_entries == [key_of("missing")]
    again = layered.push_closure(keys)
    assert (again.entries_copied, again.entries_present, again.blobs_copied, again.responses_copied) == (0, 2, 0, 0)

    fresh = FileSystemStore(tmp_path / "fresh")
    pulled = LayeredStore(fresh, remote).pull_closure(keys)
    assert (pulled.entries_copied, pulled.blobs_copied, pulled.responses_copied, pulled.complete) == (2, 2, 6, True)
    assert sorted(fresh.list_entries()) == sorted(keys)
    assert pulled.bytes_copied == sum(len(d) for d in BLOBS.values())


def _remote_goes_down(layered: LayeredStore, stop, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = publish(layered, tmp_path, "before")  # uploads while the remote is up
    assert layered.remote.get_entry(key) is not None
    stop()
    with caplog.at_level(logging.WARNING, logger="ddbuild.store"):
        assert layered.get_entry(key_of("not cached anywhere")) is None
        assert layered.get_entry(key_of("also not cached")) is None
        assert layered.has_blob(key_of("no blob")) is False
        after = publish(layered, tmp_path, "after")  # the build carries on, local only
        assert layered.get_entry(after) == layered.local.get_entry(after)
    warnings = store_messages(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"remote cache {layered.remote.location}")
    assert warnings[0].endswith(f"; continuing with the local cache {layered.local.location} only.")
    assert layered.remote_error is not None


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (CI: `apt-get install -y nginx`)")
def test_http_remote_down_means_local_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = Nginx()
    try:
        remote = open_store(server.url + "team/")
        layered = LayeredStore(FileSystemStore(tmp_path / "local"), remote, upload=True)
        _remote_goes_down(layered, server.stop, tmp_path, caplog)
        assert "is unreachable" in layered.remote_error
    finally:
        server.cleanup()


def test_s3_remote_down_means_local_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = Moto()
    try:
        remote = open_store(server.url("team"))
        assert remote.location == f"s3://{server.bucket}/team"
        layered = LayeredStore(FileSystemStore(tmp_path / "local"), remote, upload=True)
        _remote_goes_down(layered, server.stop, tmp_path, caplog)
    finally:
        server.stop()


def test_http_credentials_are_used_and_never_shown(nginx: Nginx, tmp_path: Path) -> None:
    from ddbuild.store.http import HttpStore

    base = nginx.url.replace("/cache/", "/private/team/")
    good = HttpStore(base, environ={"DDBUILD_REMOTE_USER": nginx.USER, "DDBUILD_REMOTE_PASSWORD": nginx.PASSWORD})
    digest, source = write_blob(tmp_path, b"private bytes")
    good.put_blob(digest, source)
    assert good.get_blob(digest, tmp_path / "back") and (tmp_path / "back").read_bytes() == b"private bytes"

    wrong = HttpStore(base, environ={"DDBUILD_REMOTE_USER": nginx.USER, "DDBUILD_REMOTE_PASSWORD": "s3cr3t-guess"})
    with pytest.raises(StoreError) as refused:
        wrong.has_blob(digest)
    assert str(refused.value) == (
        f"remote cache {base} refused HEAD objects/{digest[:2]}/{digest} (HTTP 401). Set DDBUILD_REMOTE_TOKEN "
        "(bearer) or DDBUILD_REMOTE_USER/DDBUILD_REMOTE_PASSWORD (basic auth) to valid credentials."
    )
    down = HttpStore("http://127.0.0.1:9/", environ={"DDBUILD_REMOTE_TOKEN": "s3cr3t-token"}, timeout=2)
    with pytest.raises(StoreError) as unreachable:
        down.get_entry(key_of("x"))
    for text in (str(refused.value), str(unreachable.value), repr(wrong), repr(down), down.location):
        assert "s3cr3t" not in text
    assert str(unreachable.value).startswith("remote cache http://127.0.0.1:9/ is unreachable (GET actions/")
    with pytest.raises(ConfigError, match="must not contain credentials"):
        HttpStore("http://user:s3cr3t@127.0.0.1:9/cache/")


def test_pulling_a_remote_pack_keeps_the_local_replies_it_overlaps(tmp_path: Path) -> None:
    """A remote pack is pulled whole for its batch-mates, but a reply the local cache already has
    (maybe newer: a resume=NEVER build asked again) stays the one served."""
    mine, theirs = key_of("asked here and there"), key_of("asked only there")
    local = FileSystemStore(tmp_path / "cache")
    local.put_responses({mine: {"answer": "local, newer"}})
    remote = FileSystemStore(tmp_path / "remote")
    remote.put_responses({mine: {"answer": "remote, older"}, theirs: {"answer": "remote"}})
    store = LayeredStore(FileSystemStore(tmp_path / "cache"), FileSystemStore(tmp_path / "remote", remote=True))
    assert store.get_response(theirs)["answer"] == "remote"  # pulls the remote's pack
    fresh = LayeredStore(FileSystemStore(tmp_path / "cache"), FileSystemStore(tmp_path / "remote", remote=True))
    assert fresh.get_response(mine) == {"answer": "local, newer"}
    assert fresh.get_response(theirs)["answer"] == "remote"
