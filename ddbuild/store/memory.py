"""MemoryStore: an in-process Store with the same contract as the real ones, for tests of the core.

Entries and responses are kept as JSON text, so a caller mutating a returned dict cannot change
the store, and blobs are verified on read exactly like on disk. ``blobs``/``entries`` are public
so tests can plant corrupt or hostile data (the way a tampered remote would).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.errors import IntegrityError, StoreError
from ddbuild.fingerprint import digest_bytes
from ddbuild.store._files import mismatch
from ddbuild.store.base import BlobState, OnCorrupt, Origin, Store, no_remote
from ddbuild.store.entry import validate_entry
from ddbuild.store.fs import check_name, download_verified

if TYPE_CHECKING:
    from ddbuild.store.closure import ClosureCounts
    from ddbuild.store.layout import CacheLayout

log = logging.getLogger("ddbuild.store")


class MemoryStore:
    """A Store kept in dictionaries (thread-safe; put_entry is atomic first-writer-wins)."""

    atomic_create = True
    is_local = True
    layout: CacheLayout | None = None  # no directory: no checkpoints, index, pins or blob files
    remote_location: str | None = None

    def __init__(self, location: str = "memory://") -> None:
        self.location = location
        self.blobs: dict[str, bytes] = {}
        self.entries: dict[str, str] = {}
        self.responses: dict[str, str] = {}
        self._packs: dict[str, tuple[str, ...]] = {}  # request key -> the keys stored with it
        self.quarantined: dict[str, str] = {}  # digest -> reason
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"MemoryStore({self.location!r})"

    def local_store(self) -> Store:
        return self

    def _no_files(self, what: str) -> StoreError:
        return StoreError(f"{what} needs a local cache directory; {self.location} is kept in memory.")

    # -- blobs ---------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return check_name(digest, "blob digest", self.location) in self.blobs

    def put_blob(self, digest: str, source: Path) -> None:
        check_name(digest, "blob digest", self.location)
        data = Path(source).read_bytes()
        if digest_bytes(data) != digest:
            raise mismatch(digest, digest_bytes(data), f"local file {source}")
        with self._lock:
            self.blobs.setdefault(digest, data)

    def get_blob(self, digest: str, dest: Path, *, on_corrupt: OnCorrupt | None = None) -> bool:
        check_name(digest, "blob digest", self.location)
        data = self.blobs.get(digest)

        def copy_to(out: Any, hasher: Any) -> bool:
            if data is None:
                return False
            hasher.update(data)
            out.write(data)
            return True

        return download_verified(copy_to, digest, Path(dest), f"cache {self.location}", on_corrupt)

    def check_blob(self, digest: str) -> BlobState:
        data = self.blobs.get(check_name(digest, "blob digest", self.location))
        if data is None:
            return BlobState.MISSING
        return BlobState.OK if digest_bytes(data) == digest else BlobState.CORRUPT

    def delete_blob(self, digest: str) -> None:
        self.blobs.pop(check_name(digest, "blob digest", self.location), None)

    def list_blobs(self) -> Iterator[str]:
        return iter(sorted(self.blobs))

    def blob_path(self, digest: str) -> Path:
        check_name(digest, "blob digest", self.location)
        raise self._no_files("blob_path")

    def quarantine(self, digest: str, reason: str, source: Path | None = None) -> Path | None:
        """Drop the bytes (ours, or the file ``source``) and remember why; nothing is kept aside."""
        check_name(digest, "blob digest", self.location)
        with self._lock:
            self.quarantined[digest] = reason
            if source is None:
                self.blobs.pop(digest, None)
        if source is not None:
            Path(source).unlink(missing_ok=True)
        return None

    # -- entries -------------------------------------------------------------------------
    def has_entry(self, key: str) -> bool:
        return check_name(key, "entry key", self.location) in self.entries

    def get_entry(self, key: str) -> dict[str, Any] | None:
        text = self.entries.get(check_name(key, "entry key", self.location))
        if text is None:
            return None
        try:
            return validate_entry(json.loads(text), key=key)
        except (ValueError, IntegrityError) as exc:
            if key not in self._warned:
                self._warned.add(key)
                log.warning("ignoring unreadable cache entry %s in %s: %s", key, self.location, exc)
            return None

    def put_entry(self, key: str, entry: dict[str, Any]) -> bool:
        check_name(key, "entry key", self.location)
        text = json.dumps(validate_entry(entry, key=key), sort_keys=True)
        with self._lock:
            if key in self.entries and self.get_entry(key) is not None:
                return False
            self.entries[key] = text
            return True

    def delete_entry(self, key: str) -> None:
        self.entries.pop(check_name(key, "entry key", self.location), None)

    def list_entries(self) -> Iterator[str]:
        return iter(sorted(self.entries))

    def entry_origin(self, key: str) -> Origin | None:
        return Origin.LOCAL if self.has_entry(key) else None

    def fetch(self, key: str) -> bool:
        return self.get_entry(key) is not None

    def partial_dir(self, key: str) -> Path:
        check_name(key, "entry key", self.location)
        raise self._no_files("partial_dir")

    # -- LLM responses -------------------------------------------------------------------
    def get_response(self, key: str) -> dict[str, Any] | None:
        text = self.responses.get(check_name(key, "response key", self.location))
        try:
            value = None if text is None else json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def response_pack(self, key: str) -> dict[str, dict[str, Any]] | None:
        if self.get_response(key) is None:
            return None
        mates = ((k, self.get_response(k)) for k in self._packs.get(key, (key,)))
        return {k: r for k, r in mates if r is not None}

    def put_response(self, key: str, response: dict[str, Any]) -> None:
        self.put_responses({key: response})

    def put_responses(self, responses: Mapping[str, dict[str, Any]]) -> None:
        for key, response in responses.items():
            if not isinstance(response, dict):
                raise TypeError(f"LLM response {key} must be a dict, got {type(response).__name__}")
            self.responses[check_name(key, "response key", self.location)] = json.dumps(response, sort_keys=True)
        pack = tuple(responses)
        for key in pack:
            self._packs[key] = pack

    def open_journal(self) -> None:
        return None  # nothing survives the process anyway

    def list_responses(self) -> Iterator[str]:
        return iter(sorted(self.responses))

    # -- sharing -------------------------------------------------------------------------
    def push_closure(self, keys: Iterable[str]) -> ClosureCounts:
        raise no_remote(self.location)

    def pull_closure(self, keys: Iterable[str]) -> ClosureCounts:
        raise no_remote(self.location)
