"""Helpers for the store tests: backends with a back door for raw bytes, entry and blob makers."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from store_servers import Moto, Nginx

from ddbuild.fingerprint import digest_bytes
from ddbuild.store.entry import new_entry
from ddbuild.store.fs import FileSystemStore
from ddbuild.store.layout import blob_rel, entry_rel
from ddbuild.store.memory import MemoryStore


@dataclass
class Backend:
    """A store under test plus a back door to plant raw bytes (what a corrupt/hostile cache holds).

    ``directory``: the local cache directory the store keeps (None: memory, S3, HTTP);
    ``remote``: the store behind it (a LayeredStore's remote), None without a remote layer.
    For ``layered``, planted bytes land in the local cache (the remote's tampering is tested in
    test_layered.py).
    """

    name: str
    store: Any
    plant: Callable[[str, bytes], None]  # (relative path in the layout, raw bytes)
    directory: Path | None = None
    remote: Any = None
    is_local: bool = True

    def plant_blob(self, digest: str, data: bytes) -> None:
        self.plant(blob_rel(digest), data)

    def plant_entry(self, key: str, data: bytes) -> None:
        self.plant(entry_rel(key), data)


def _memory_plant(store: MemoryStore) -> Callable[[str, bytes], None]:
    def plant(rel: str, data: bytes) -> None:
        name = rel.rsplit("/", 1)[1]
        if rel.startswith("objects/"):
            store.blobs[name] = data
        else:
            store.entries[name.removesuffix(".json")] = data.decode("utf-8", "replace")

    return plant


def _local_plant(root: Path) -> Callable[[str, bytes], None]:
    def plant(rel: str, data: bytes) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)

    return plant


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    prefix = uuid.uuid4().hex[:12]
    if name == "memory":
        store = MemoryStore()
        return Backend(name, store, _memory_plant(store))
    if name == "local":
        return Backend(name, FileSystemStore(tmp_path / "cache"), _local_plant(tmp_path / "cache"), tmp_path / "cache")
    if name == "layered":
        from ddbuild.store.layered import LayeredStore

        remote = FileSystemStore(tmp_path / "remote", remote=True)
        store = LayeredStore(FileSystemStore(tmp_path / "cache"), remote)
        return Backend(name, store, _local_plant(tmp_path / "cache"), tmp_path / "cache", remote)
    if name == "s3":
        moto: Moto = request.getfixturevalue("moto")
        filesystem = moto.filesystem()
        root = f"{moto.bucket}/{prefix}"

        def plant_s3(rel: str, data: bytes) -> None:
            with filesystem.open_output_stream(f"{root}/{rel}") as out:
                out.write(data)

        return Backend(name, FileSystemStore(root, filesystem, location=f"s3://{root}"), plant_s3, is_local=False)
    if name == "http":
        from ddbuild.store.http import HttpStore

        nginx: Nginx = request.getfixturevalue("nginx")
        base = f"{nginx.url}{prefix}/"

        def plant_http(rel: str, data: bytes) -> None:
            req = urllib.request.Request(base + rel, data=data, method="PUT")
            with urllib.request.urlopen(req, timeout=10) as response:
                assert response.status in (201, 204)

        store = HttpStore(base, environ={})
        request.addfinalizer(store.close)
        return Backend(name, store, plant_http, is_local=False)
    raise ValueError(name)




def write_blob(directory: Path, data: bytes) -> tuple[str, Path]:
    """Write ``data`` to a file named after its digest; returns (digest, path)."""
    digest = digest_bytes(data)
    path = directory / f"src-{digest}"
    path.write_bytes(data)
    return digest, path


def make_entry(key: str, blobs: dict[str, bytes] | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid entry for ``key`` whose outputs are ``blobs`` (relative path -> bytes)."""
    blobs = blobs if blobs is not None else {"parquet-files/batch_00000.parquet": b"rows"}
    outputs = [
        {"path": path, "digest": digest_bytes(data), "rows": 2, "size": len(data)} for path, data in blobs.items()
    ]
    fields: dict[str, Any] = {
        "key": key,
        "workflow": "doc-qa",
        "stage": "drafts",
        "identity": {"columns": ["question"]},
        "inputs": {"seed.parquet": "0" * 32},
        "outputs": outputs,
        "selected_output": {"paths": list(blobs), "digest": digest_bytes(b"".join(blobs.values())), "rows": 2},
        "built_by": "tester@host",
        "created": "2026-11-28T12:00:00+00:00",
    }
    fields.update(overrides)
    return new_entry(**fields)


def key_of(text: str) -> str:
    return digest_bytes(text.encode())
