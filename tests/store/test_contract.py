"""The one Store contract, run against every backend: memory, local dir, layered, S3 (moto), HTTP (nginx).

Every member of the ``Store`` protocol is exercised here on every backend;
``test_every_protocol_member_is_exercised_by_the_contract_suite`` fails when one is not.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import threading
from pathlib import Path

import pytest
from store_helpers import Backend, key_of, make_entry, write_blob

from ddbuild.errors import IntegrityError, StoreError
from ddbuild.fingerprint import digest_bytes
from ddbuild.store.base import BlobState, Origin, Store
from ddbuild.store.layout import LLM_PACKS


def test_every_backend_implements_the_protocol(backend: Backend) -> None:
    assert isinstance(backend.store, Store)
    assert "@" not in backend.store.location


def test_blob_round_trip_is_byte_equal(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    data = bytes(range(256)) * 4099  # ~1 MiB, not a multiple of any chunk size
    digest, source = write_blob(tmp_path, data)
    store.put_blob(digest, source)
    store.put_blob(digest, source)  # idempotent
    dest = tmp_path / "out" / "batch.parquet"
    assert store.has_blob(digest)
    assert store.get_blob(digest, dest) is True
    assert dest.read_bytes() == data
    assert list(store.list_blobs()) == [digest]
    store.delete_blob(digest)
    assert not store.has_blob(digest)
    assert list(store.list_blobs()) == []


def test_absent_objects_are_misses_not_errors(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    absent = key_of("absent")
    out = tmp_path / "out"
    out.mkdir()
    assert store.has_blob(absent) is False
    assert store.get_blob(absent, out / "never") is False
    assert list(out.iterdir()) == []  # no temp file left behind
    assert store.get_entry(absent) is None
    assert store.get_response(absent) is None
    assert list(store.list_entries()) == []
    store.delete_blob(absent)
    store.delete_entry(absent)


def test_corrupt_blob_is_detected_and_never_returned(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    digest, source = write_blob(tmp_path, b"the real bytes" * 1000)
    store.put_blob(digest, source)
    backend.plant_blob(digest, b"tampered bytes" * 1000)
    out = tmp_path / "out"
    out.mkdir()
    bad = digest_bytes(b"tampered bytes" * 1000)
    handed: list[bytes] = []
    if backend.remote is not None:  # layered: a corrupt local copy is quarantined and is a miss
        assert store.get_blob(digest, out / "batch.parquet", on_corrupt=lambda p: handed.append(p.read_bytes())) is False
    else:
        with pytest.raises(IntegrityError, match=f"blob {digest} from .* has digest {bad}"):
            store.get_blob(digest, out / "batch.parquet", on_corrupt=lambda p: handed.append(p.read_bytes()))
        assert handed == [b"tampered bytes" * 1000]  # the bad bytes, for the caller to quarantine
    assert list(out.iterdir()) == []  # neither the blob nor a partial download


def test_put_blob_refuses_a_source_that_does_not_match_its_digest(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    claimed = digest_bytes(b"what the caller thinks")
    source = tmp_path / "src"
    source.write_bytes(b"what is on disk")
    with pytest.raises(IntegrityError, match=f"blob {claimed} from local file {source}"):
        store.put_blob(claimed, source)
    assert not store.has_blob(claimed)
    assert list(store.list_blobs()) == []


def test_entry_round_trip_and_first_writer_wins(backend: Backend) -> None:
    store = backend.store
    key = key_of("stage drafts v1")
    first = make_entry(key, built_by="alice")
    second = make_entry(key, built_by="bob")
    assert store.put_entry(key, first) is True
    assert store.put_entry(key, second) is False
    assert store.get_entry(key) == first
    assert list(store.list_entries()) == [key]
    store.delete_entry(key)
    assert store.get_entry(key) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outputs": [{"path": "../../etc/passwd", "digest": "0" * 32, "rows": 1, "size": 1}]},
         "outputs[0]: output path '../../etc/passwd' has an empty, '.' or '..' component"),
        ({"outputs": [{"path": "/etc/passwd", "digest": "0" * 32, "rows": 1, "size": 1}]},
         "outputs[0]: output path '/etc/passwd' is absolute"),
        ({"outputs": [{"path": "a.parquet", "digest": "../" + "0" * 29, "rows": 1, "size": 1}]},
         "outputs[0].digest '../00000000000000000000000000000' is not 32 lowercase hex"),
        ({"format_version": 2}, "format_version 2 is not 1 (written by a different ddbuild version)"),
    ],
)
def test_hostile_entries_are_rejected_on_write_and_on_read(
    backend: Backend, change: dict, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = backend.store
    key = key_of("hostile")
    hostile = {**make_entry(key, blobs={}), "selected_output": {"paths": [], "digest": "0" * 32, "rows": 0}}
    hostile.update(change)
    with pytest.raises(IntegrityError, match=re.escape(f"cache entry '{key}' is malformed: {message}.")):
        store.put_entry(key, hostile)
    assert store.get_entry(key) is None
    # A cache that already holds it (a hostile remote): a warned-once miss, never an exception.
    backend.plant_entry(key, json.dumps(hostile).encode())
    with caplog.at_level(logging.WARNING, logger="ddbuild.store"):
        assert store.get_entry(key) is None
        assert store.get_entry(key) is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "ddbuild.store"]
    assert len(warnings) == 1
    assert message in warnings[0]


def test_keys_that_are_not_hex_never_become_paths(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    for bad in ("../../../../etc/passwd", "A" * 32, "0" * 31, ""):
        with pytest.raises(StoreError, match="is not 32 lowercase hex; refusing to use it as a path"):
            store.get_entry(bad)
        with pytest.raises(StoreError, match="is not 32 lowercase hex"):
            store.get_blob(bad, tmp_path / "x")


def test_entry_stored_under_another_key_is_a_miss(backend: Backend) -> None:
    store = backend.store
    key, other = key_of("a"), key_of("b")
    backend.plant_entry(key, json.dumps(make_entry(other)).encode())
    assert store.get_entry(key) is None


def test_truncated_entry_is_a_miss_and_the_next_writer_repairs_it(backend: Backend) -> None:
    store = backend.store
    key = key_of("truncated")
    full = json.dumps(make_entry(key)).encode()
    backend.plant_entry(key, full[: len(full) // 2])
    assert store.get_entry(key) is None
    assert store.put_entry(key, make_entry(key)) is True
    assert store.get_entry(key) == make_entry(key)


def test_llm_responses_round_trip(backend: Backend) -> None:
    store = backend.store
    key = key_of("request 1")
    response = {"choices": [{"message": {"content": "Paris"}}], "usage": {"total_tokens": 12}}
    store.put_response(key, response)
    assert store.get_response(key) == response
    assert list(store.list_responses()) == [key]


def test_a_batch_of_responses_is_one_pack_found_by_each_request_key(backend: Backend) -> None:
    store = backend.store
    responses = {key_of(f"batch request {i}"): {"choices": [{"message": {"content": f"answer {i}"}}]}
                 for i in range(300)}
    store.put_responses(responses)
    assert sorted(store.list_responses()) == sorted(responses)
    for key, response in responses.items():
        assert store.get_response(key) == response
    some = next(iter(responses))
    assert store.response_pack(some) == responses  # its batch-mates come with it
    assert store.response_pack(key_of("never asked")) is None
    if backend.directory is not None:
        packs = sorted(p.name for p in (backend.directory / LLM_PACKS).rglob("*") if p.is_file())
        assert len(packs) == 2 and {Path(p).suffix for p in packs} == {".json", ".keys"}  # 300 responses, 2 files


def test_a_journal_outlives_its_process_and_is_packed_by_the_next_reader(backend: Backend) -> None:
    store = backend.store
    journal = store.open_journal()
    if backend.directory is None:
        assert journal is None  # no local disk: nothing to append to
        return
    assert journal is not None
    key = key_of("answered before the kill")
    journal.append(key, {"choices": [{"message": {"content": "kept"}}]})
    # The writer "dies": its journal now names a process that is gone (pid 2**22 + 1 is never live).
    assert journal.path is not None
    dead = journal.path.with_name(journal.path.name.replace(f".{os.getpid()}.", f".{2**22 + 1}."))
    journal.path.rename(dead)
    with open(dead, "ab") as torn:
        torn.write(b'{"key": "')  # the kill landed mid-line: this tail is skipped
    reader = type(store)(backend.directory) if backend.remote is None else store
    assert reader.get_response(key) == {"choices": [{"message": {"content": "kept"}}]}
    assert not dead.exists() and list(dead.parent.iterdir()) == []


def test_concurrent_writers_never_leave_a_corrupt_entry(backend: Backend) -> None:
    store = backend.store
    keys = [key_of(f"race {i}") for i in range(4)]
    writers = 6
    results: dict[str, list[bool]] = {k: [] for k in keys}
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(writer: int) -> None:
        try:
            barrier.wait()
            for key in keys:
                won = store.put_entry(key, make_entry(key, built_by=f"writer-{writer}"))
                results[key].append(won)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for key in keys:
        stored = store.get_entry(key)
        assert stored is not None
        assert stored["built_by"] in {f"writer-{i}" for i in range(writers)}
        assert stored == make_entry(key, built_by=stored["built_by"])
        assert results[key].count(True) >= 1
        if store.atomic_create:  # local dir and memory: exactly one winner
            assert results[key].count(True) == 1


def test_readers_never_see_half_an_entry(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    store = backend.store
    blobs = {f"parquet-files/batch_{i:05d}.parquet": f"rows {i}".encode() * 50 for i in range(40)}
    keys = [key_of(f"atomic {i}") for i in range(10)]
    seen: list[dict | None] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.extend(store.get_entry(k) for k in keys)

    reader = threading.Thread(target=read)
    with caplog.at_level(logging.WARNING, logger="ddbuild.store"):
        reader.start()
        for key in keys:
            store.put_entry(key, make_entry(key, blobs=blobs))
        done.set()
        reader.join()
    assert [r.getMessage() for r in caplog.records if r.name == "ddbuild.store"] == []
    assert all(entry is None or entry == make_entry(entry["key"], blobs=blobs) for entry in seen)
    assert all(store.get_entry(k) == make_entry(k, blobs=blobs) for k in keys)


# -- what differs between backends is said by the protocol, never probed -------------------------


def test_locality_layout_and_remote_are_stated(backend: Backend) -> None:
    store = backend.store
    assert store.is_local is backend.is_local
    if backend.directory is None:
        assert store.layout is None
    else:
        assert store.layout.root == backend.directory
    if backend.remote is None:
        assert store.remote_location is None
        assert store.local_store() is store
    else:
        assert store.remote_location == backend.remote.location
        local = store.local_store()
        assert isinstance(local, Store) and local.remote_location is None
        assert local.layout == store.layout


def test_blob_files_and_checkpoints_only_in_a_local_directory(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    digest, source = write_blob(tmp_path, b"blob bytes" * 100)
    store.put_blob(digest, source)
    key = key_of("stage with checkpoints")
    if backend.directory is None:
        with pytest.raises(StoreError, match="blob_path needs a local cache directory"):
            store.blob_path(digest)
        with pytest.raises(StoreError, match="partial_dir needs a local cache directory"):
            store.partial_dir(key)
        return
    assert store.blob_path(digest) == store.layout.blob(digest) == backend.directory / "objects" / digest[:2] / digest
    assert store.blob_path(digest).read_bytes() == b"blob bytes" * 100
    assert store.partial_dir(key) == store.layout.partial(key) == backend.directory / "partial" / key
    assert not store.partial_dir(key).exists()  # named, not created
    with pytest.raises(StoreError, match="is not 32 lowercase hex"):
        store.blob_path("../" + "0" * 29)


def test_check_blob_hashes_in_place_and_moves_nothing(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    digest, source = write_blob(tmp_path, b"checked bytes" * 100)
    assert store.check_blob(digest) is BlobState.MISSING
    store.put_blob(digest, source)
    assert store.check_blob(digest) is BlobState.OK
    backend.plant_blob(digest, b"flipped bytes" * 100)
    assert store.check_blob(digest) is BlobState.CORRUPT
    assert store.has_blob(digest)  # still there: checking never quarantines


def test_quarantine_moves_a_blob_aside_only_where_the_store_owns_files(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    digest, source = write_blob(tmp_path, b"suspect bytes" * 100)
    store.put_blob(digest, source)
    if not backend.is_local:  # S3/HTTP: a remote is never written by a reader
        with pytest.raises(StoreError, match="quarantine needs a local cache directory"):
            store.quarantine(digest, "test")
        assert store.has_blob(digest)
        return
    moved = store.quarantine(digest, "looked wrong")
    assert not store.has_blob(digest)
    if backend.directory is None:
        assert moved is None  # memory: the bytes are dropped, the reason remembered
    else:
        assert moved is not None and moved.parent == store.layout.quarantine
        assert moved.read_bytes() == b"suspect bytes" * 100
        assert Path(f"{moved}.reason.txt").read_text() == "looked wrong\n"
    downloaded = tmp_path / "downloaded"  # bytes that failed verification on their way in
    downloaded.write_bytes(b"bad download")
    store.quarantine(digest, "bad download", source=downloaded)
    assert not downloaded.exists()


def test_has_entry_tells_a_corrupt_entry_from_an_absent_one(backend: Backend) -> None:
    store = backend.store
    key, corrupt = key_of("present"), key_of("corrupt")
    assert store.has_entry(key) is False
    store.put_entry(key, make_entry(key))
    assert store.has_entry(key) is True
    backend.plant_entry(corrupt, b'{"key": "half')
    assert store.get_entry(corrupt) is None
    assert store.has_entry(corrupt) is True
    store.delete_entry(key)
    assert store.has_entry(key) is False


def test_origin_and_fetch_of_an_entry(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    blobs = {"rows.bin": b"fetched rows"}  # not .parquet: a remote hit must be Parquet to be fetched
    key, absent = key_of("fetched"), key_of("never built")
    assert store.entry_origin(absent) is None
    assert store.fetch(absent) is False
    if backend.remote is not None:  # built by a teammate: only on the remote until fetched
        home = backend.remote
    else:
        home = store
    digest, source = write_blob(tmp_path, blobs["rows.bin"])
    home.put_blob(digest, source)
    home.put_entry(key, make_entry(key, blobs=blobs))
    expected = Origin.REMOTE if backend.remote is not None else Origin.LOCAL
    assert store.entry_origin(key) is expected
    assert store.fetch(key) is True
    local = store.local_store()
    assert local.get_entry(key) == make_entry(key, blobs=blobs) | (
        {"unverified": f"pulled from {backend.remote.location} without an accepted signature"}
        if backend.remote is not None else {}
    )
    assert local.has_blob(digest)


def test_push_and_pull_need_a_remote_layer(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    blobs = {"parquet-files/batch_00000.parquet": b"shared rows"}
    key = key_of("shared")
    digest, source = write_blob(tmp_path, blobs["parquet-files/batch_00000.parquet"])
    store.put_blob(digest, source)
    store.put_entry(key, make_entry(key, blobs=blobs))
    if backend.remote is None:
        for share in (store.push_closure, store.pull_closure):
            with pytest.raises(StoreError, match=re.escape(f"No remote cache is configured for {store.location}.")):
                share([key])
        return
    pushed = store.push_closure([key])
    assert (pushed.entries_copied, pushed.blobs_copied, pushed.complete) == (1, 1, True)
    assert backend.remote.get_entry(key) == make_entry(key, blobs=blobs)
    store.local_store().delete_entry(key)
    store.local_store().delete_blob(digest)
    pulled = store.pull_closure([key])
    assert (pulled.entries_copied, pulled.blobs_copied, pulled.complete) == (1, 1, True)
    assert store.local_store().has_blob(digest) and store.entry_origin(key) is Origin.LOCAL


def _members(protocol: type) -> set[str]:
    names = {n for n in vars(protocol) if not n.startswith("_")} | set(protocol.__annotations__)
    return names - {"register"}


def test_every_protocol_member_is_exercised_by_the_contract_suite() -> None:
    """Each Store member is read as ``.member`` in a test of this file that runs on every backend."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and "backend" in {a.arg for a in node.args.args}:
            used |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    members = _members(Store)
    assert {"location", "get_blob", "fetch", "layout", "push_closure"} <= members  # the introspection works
    assert sorted(members - used) == []
