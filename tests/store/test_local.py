"""Local-directory specifics: processes racing, shared-drive permissions, quarantine, import cost, URLs."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import key_of, make_entry, write_blob

from ddbuild.errors import IntegrityError, StoreError
from ddbuild.store.fs import BlobState, FileSystemStore
from ddbuild.store.url import open_store


def _race(root: str, writer: int, keys: list[str], out: multiprocessing.Queue) -> None:
    store = FileSystemStore(root)
    out.put([(k, store.put_entry(k, make_entry(k, built_by=f"proc-{writer}"))) for k in keys])


def test_processes_racing_on_the_same_keys_have_one_winner_each(tmp_path: Path) -> None:
    keys = [key_of(f"proc race {i}") for i in range(20)]
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), i, keys, out)) for i in range(4)]
    for proc in procs:
        proc.start()
    results = [item for _ in procs for item in out.get(timeout=30)]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    store = FileSystemStore(tmp_path)
    for key in keys:
        assert [won for k, won in results if k == key].count(True) == 1
        assert store.get_entry(key)["built_by"].startswith("proc-")
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_group_writable_mode_for_shared_caches(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        store = FileSystemStore(tmp_path / "shared", mode=0o664)
        digest, source = write_blob(tmp_path, b"shared")
        store.put_blob(digest, source)
        key = key_of("shared entry")
        store.put_entry(key, make_entry(key))
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.blob_path(digest).stat().st_mode) == 0o444  # blobs: readable by all, never written
    assert stat.S_IMODE(store.blob_path(digest).parent.stat().st_mode) == 0o775
    assert stat.S_IMODE((tmp_path / "shared" / "objects").stat().st_mode) == 0o775
    entry_file = tmp_path / "shared" / "actions" / key[:2] / f"{key}.json"
    assert stat.S_IMODE(entry_file.stat().st_mode) == 0o664


def test_default_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = FileSystemStore(tmp_path)
        digest, source = write_blob(tmp_path, b"umask")
        store.put_blob(digest, source)
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.blob_path(digest).stat().st_mode) == 0o444  # the umask, without write bits


def test_corrupt_local_blob_is_quarantined_so_the_next_build_rebuilds(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "cache")
    digest, source = write_blob(tmp_path, b"good parquet bytes")
    store.put_blob(digest, source)
    assert store.check_blob(digest) is BlobState.OK
    store.blob_path(digest).write_bytes(b"bit rot")
    assert store.check_blob(digest) is BlobState.CORRUPT
    with pytest.raises(IntegrityError):
        store.get_blob(digest, tmp_path / "out")
    assert store.check_blob(digest) is BlobState.MISSING
    moved = [p for p in (tmp_path / "cache" / "quarantine").iterdir() if not p.name.endswith(".reason.txt")]
    assert [p.read_bytes() for p in moved] == [b"bit rot"]
    store.put_blob(digest, source)  # a rebuild puts it back
    assert store.check_blob(digest) is BlobState.OK


def test_local_extras(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    key = key_of("stage")
    assert store.partial_dir(key) == tmp_path / "partial" / key
    assert store.blob_path(key) == tmp_path / "objects" / key[:2] / key
    with pytest.raises(StoreError, match="not 32 lowercase hex"):
        store.partial_dir("../escape")


def test_open_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path), FileSystemStore) and open_store(tmp_path).is_local
    assert open_store(f"file://{tmp_path}").location == str(tmp_path)
    assert open_store("http://cache.example:8080/team").location == "http://cache.example:8080/team/"
    with pytest.raises(StoreError, match="unsupported cache location 'ftp://x/y'"):
        open_store("ftp://x/y")
    with pytest.raises(StoreError, match=r"unknown s3:// URL option\(s\) \['endpoint'\]"):
        open_store("s3://bucket/prefix?endpoint=x")


def test_local_store_never_imports_pyarrow(tmp_path: Path) -> None:
    code = (
        "import sys; from ddbuild.store import open_store, LayeredStore; "
        f"s = open_store({str(tmp_path)!r}); s.get_entry('0' * 32); "
        "print('pyarrow' in sys.modules, 'http.client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_storing_a_blob_whose_file_is_corrupt_replaces_it(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "cache")
    digest, source = write_blob(tmp_path, b"the right bytes")
    store.put_blob(digest, source)
    path = store.blob_path(digest)
    path.chmod(0o644)
    path.write_bytes(b"the wrong bytes")
    store.put_blob(digest, source)  # used to keep the corrupt file and drop the good bytes
    assert path.read_bytes() == b"the right bytes"
    assert store.check_blob(digest) is BlobState.OK


def test_pushing_a_corrupt_local_blob_quarantines_it(tmp_path: Path) -> None:
    from ddbuild.store.closure import copy_closure

    local = FileSystemStore(tmp_path / "local")
    remote = FileSystemStore(tmp_path / "remote")
    digest, source = write_blob(tmp_path, b"pushed bytes")
    local.put_blob(digest, source)
    key = key_of("pushed")
    local.put_entry(key, make_entry(key, blobs={"parquet-files/batch_00000.parquet": b"pushed bytes"}))
    local.blob_path(digest).chmod(0o644)
    local.blob_path(digest).write_bytes(b"rotten bytes")
    counts = copy_closure(local, remote, [key])
    assert counts.corrupt_blobs == [digest] and not remote.has_blob(digest) and remote.get_entry(key) is None
    assert not local.has_blob(digest)  # moved to quarantine/: the stage rebuilds next time
    assert any(p.name.startswith(digest) for p in (tmp_path / "local" / "quarantine").iterdir())


def test_quarantine_never_follows_a_planted_link(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "cache")
    digest, source = write_blob(tmp_path, b"good bytes")
    store.put_blob(digest, source)
    store.blob_path(digest).write_bytes(b"evil bytes")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "cache" / "quarantine").symlink_to(outside)
    with pytest.raises(IntegrityError):
        store.get_blob(digest, tmp_path / "dest")
    assert list(outside.iterdir()) == []
    quarantine = tmp_path / "cache" / "quarantine"
    assert quarantine.is_dir() and not quarantine.is_symlink() and len(list(quarantine.iterdir())) == 2


def test_reads_never_follow_links_or_open_special_files(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "cache")
    key = key_of("linked")
    (tmp_path / "cache" / "actions" / key[:2]).mkdir(parents=True)
    (tmp_path / "cache" / "actions" / key[:2] / f"{key}.json").symlink_to("/dev/zero")
    assert store.get_entry(key) is None  # a miss (warned), not a read until memory runs out
    fifo_key = key_of("fifo")
    (tmp_path / "cache" / "llm" / fifo_key[:2]).mkdir(parents=True)
    os.mkfifo(tmp_path / "cache" / "llm" / fifo_key[:2] / f"{fifo_key}.json")
    assert store.get_response(fifo_key) is None  # never blocks on the FIFO
    digest, source = write_blob(tmp_path, b"blob")
    store.put_blob(digest, source)
    real_shard = tmp_path / "elsewhere"
    store.blob_path(digest).parent.rename(real_shard)
    store.blob_path(digest).parent.symlink_to(real_shard)  # objects/ab -> elsewhere
    assert store.check_blob(digest) is BlobState.CORRUPT


def test_a_directory_remote_is_never_written_by_a_reader(tmp_path: Path) -> None:
    remote = open_store(tmp_path / "remote", remote=True)
    digest, source = write_blob(tmp_path, b"good bytes")
    remote.put_blob(digest, source)
    remote.blob_path(digest).write_bytes(b"evil bytes")
    with pytest.raises(IntegrityError):
        remote.get_blob(digest, tmp_path / "dest")
    assert not (tmp_path / "remote" / "quarantine").exists()
    with pytest.raises(StoreError, match="reads never write to a remote"):
        remote.quarantine(digest, "test")
