"""RemoteCheckpoints: the batch checkpoints of unfinished stages on a remote every node reaches.

    <remote>/checkpoints/<stage key>/record.json       which batches are complete, with the digest of
                                                        each of their files (JSON, written by the driver)
    <remote>/checkpoints/<stage key>/<ab>/<digest>      each batch file, content-addressed (xxh3_128),
                                                        uploaded by the worker that generated it

A multi-node Ray build keeps them there so that a driver restarted on another machine resumes the
stage from its completed batches (execution/checkpoints.py decides what to do with them). They
sit apart from ``objects/``: the whole prefix of a stage goes when its entry is published, and
no entry ever names these files. Everything read back is untrusted: the record is parsed with
the entry size and depth bounds, each file is verified against its digest while it streams in.
Only byte moving and bounds live here; the record's meaning is the caller's.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

from ddbuild.bounds import ObjectKind, parse_json
from ddbuild.errors import StoreError
from ddbuild.fingerprint import is_digest
from ddbuild.store._files import LocalFiles
from ddbuild.store.fs import FileSystemStore, check_name, download_verified, dump_json

CHECKPOINTS = "checkpoints"  # beside the store's own folders (store/layout.py), never named by an entry
RECORD = "record.json"


class RemoteCheckpoints:
    """Checkpoint objects below ``checkpoints/`` of one remote store (a directory, S3/GCS, HTTP)."""

    def __init__(self, store: FileSystemStore) -> None:
        self.files = store.files
        self.location = store.location
        self.limits = store.limits  # the store's bounds (the same DDBUILD_MAX_* it reads with)

    @classmethod
    def open(cls, url: str) -> RemoteCheckpoints:
        from ddbuild.store.url import open_store

        store = open_store(url, remote=True)
        if not isinstance(store, FileSystemStore):
            raise StoreError(f"remote cache {url} keeps no batch checkpoints.")
        return cls(store)

    def _folder(self, key: str) -> str:
        return f"{CHECKPOINTS}/{check_name(key, 'stage key', self.location)}"

    def _file(self, key: str, digest: str) -> str:
        check_name(digest, "checkpoint file digest", self.location)
        return f"{self._folder(key)}/{digest[:2]}/{digest}"

    def put_file(self, key: str, source: Path, digest: str) -> None:
        """Upload the complete batch file ``source`` (its bytes must hash to ``digest``)."""
        rel = self._file(key, digest)
        if not self.files.exists(rel):
            self.files.commit_file(rel, source, digest)

    def get_file(self, key: str, digest: str, dest: Path) -> bool:
        """Download a batch file to ``dest``, verified; False when absent, IntegrityError when corrupt."""
        rel = self._file(key, digest)
        limit = self.limits.bytes_for(ObjectKind.BLOB)
        return download_verified(lambda out, hasher: self.files.copy_to(rel, out, hasher, limit), digest, dest,
                                 f"checkpoints of remote cache {self.location}", None)

    def put_record(self, key: str, record: dict[str, Any]) -> None:
        self.files.replace(f"{self._folder(key)}/{RECORD}", dump_json(record))

    def get_record(self, key: str) -> Any:
        """The record parsed within the entry bounds (any JSON value: the caller checks its shape);
        None when there is none; IntegrityError when it is too large, too deep or not JSON."""
        rel = f"{self._folder(key)}/{RECORD}"
        data = self.files.read_bytes(rel, self.limits.bytes_for(ObjectKind.ENTRY))
        if data is None:
            return None
        return parse_json(data, ObjectKind.ENTRY, f"checkpoint record {rel} in {self.location}", self.limits)

    def drop(self, key: str, digests: list[str]) -> None:
        """Delete the stage's checkpoints: the record first (no reader then trusts a file that is
        going), then ``digests`` and every file a listing finds (uploads the record never named)."""
        folder = self._folder(key)
        self.files.delete(f"{folder}/{RECORD}")
        found = set(digests)
        with contextlib.suppress(StoreError):  # an HTTP remote without listings: the named files only
            found.update(self.files.names(folder))
        for name in sorted(found):
            if is_digest(name):
                self.files.delete(self._file(key, name))
        if isinstance(self.files, LocalFiles):  # a shared directory: its empty folders too
            shutil.rmtree(self.files.path(folder), ignore_errors=True)
