"""FileSystemStore: the Store over a local directory, any pyarrow filesystem or HTTP (layout.py's paths).

    <root>/objects/ab/<digest>          blobs, verified (streaming xxh3_128) on every read
    <root>/actions/ab/<key>.json        entries, schema-checked on every read, first writer wins
    <root>/llm-packs/ab/<pack>.json     LLM responses, packed (store/packs.py), and <pack>.keys, the index
    <root>/llm/ab/<key>.json            LLM responses one per file (older caches; read, not written)
    <root>/llm-journal/                 responses of running stages not packed yet (local only)
    <root>/partial/<key>/               batch checkpoints of an unfinished stage (local only)
    <root>/quarantine/<digest>.<time>   corrupt blobs moved aside, with a .reason.txt beside them

One class for every filesystem: the trust rules live here, the names in ``layout``, byte moving
in a ``Files`` object (``LocalFiles`` with plain os calls; ``ArrowFiles`` for S3/GCS, imported
lazily so a local build never pays for ``import pyarrow``; ``HttpFiles`` for WebDAV, see
``HttpStore``). Only a ``LocalFiles`` store has a ``layout`` (blob files, checkpoints, quarantine).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from ddbuild import atomic
from ddbuild.bounds import Limits, ObjectKind, limits_from_env, parse_json
from ddbuild.errors import IntegrityError, StoreError, on_full_disk
from ddbuild.fingerprint import digest_file, is_digest
from ddbuild.store._files import BinarySink, Files, LocalFiles, mismatch
from ddbuild.store.base import BlobState, OnCorrupt, Origin, Store, no_remote
from ddbuild.store.entry import validate_entry
from ddbuild.store.layout import (
    ACTIONS,
    LLM,
    OBJECTS,
    QUARANTINE,
    CacheLayout,
    blob_rel,
    entry_rel,
    partial_rel,
    response_rel,
)
from ddbuild.store.packs import PackIndex, ResponseJournal, copy_response

if TYPE_CHECKING:
    from ddbuild.store.closure import ClosureCounts

log = logging.getLogger("ddbuild.store")


def check_name(name: str, what: str, location: str) -> str:
    """``name`` if it is 32 lowercase hex (safe as a path component), else StoreError."""
    if not is_digest(name):
        raise StoreError(f"{what} {name!r} for cache {location} is not 32 lowercase hex; refusing to use it as a path.")
    return name


def dump_json(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def json_keys(names: Iterator[str]) -> Iterator[str]:
    """Keys of the ``<key>.json`` files among ``names`` (temp files and strays are skipped)."""
    return (n[:-5] for n in names if n.endswith(".json") and is_digest(n[:-5]))


@on_full_disk
def download_verified(
    copy_to: Callable[[BinarySink, xxhash.xxh3_128], bool],
    digest: str,
    dest: Path,
    where: str,
    on_corrupt: OnCorrupt | None,
) -> bool:
    """Stream a blob into a temp file beside ``dest``, verify it, then publish it as ``dest``.

    Not fsynced: ``dest`` is a copy (a view, a download on its way into the local store, which
    fsyncs when it stores it); the blob itself stays in the store.
    """
    dest = Path(dest)
    atomic.ensure_dir(dest.parent)
    hasher = xxhash.xxh3_128()
    with atomic.open_temp(dest, durable=False) as (temp, out):
        found = copy_to(out, hasher)
        got = hasher.hexdigest()
        if found and got != digest:
            out.flush()
            if on_corrupt is not None:
                on_corrupt(temp)
            raise mismatch(digest, got, where)  # raised inside: the temp file is removed
    if not found:
        temp.unlink(missing_ok=True)
        return False
    return atomic.publish(temp, dest, durable=False)


class FileSystemStore:
    """A content-addressed cache below ``root`` on ``filesystem`` (None = the local disk).

    ``mode`` (e.g. ``0o664``) forces file permissions on a cache shared through a network drive;
    directories get the matching ``0o775``. Without it the process umask decides. ``files`` is a
    ready ``Files`` object instead of ``root``/``filesystem`` (``HttpStore`` passes ``HttpFiles``).
    ``remote=True`` marks a teammate's remote: reading it never writes to it (a corrupt blob is
    reported and left where it is; quarantine happens in the reader's own local cache).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        filesystem: Any = None,
        *,
        mode: int | None = None,
        location: str | None = None,
        files: Files | None = None,
        remote: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.remote = remote
        self.limits = limits or limits_from_env()
        self._files: Files
        if files is not None:
            self._files = files
        elif root is None:
            raise TypeError("FileSystemStore needs a root directory (or a Files object)")
        elif filesystem is None or _is_arrow_local(filesystem):
            self._files = LocalFiles(Path(root), mode)
        else:
            from ddbuild.store._arrow import ArrowFiles

            self._files = ArrowFiles(filesystem, os.fspath(root), location or os.fspath(root))
        self.location = location or self._files.location
        self.atomic_create = self._files.atomic_create
        self._layout = CacheLayout(self._files.root) if isinstance(self._files, LocalFiles) else None
        self._warned: set[str] = set()
        self._packs = PackIndex(self._files, self.location, self.limits, writable_journals=not remote)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    @property
    def is_local(self) -> bool:
        return self._files.is_local

    @property
    def files(self) -> Files:
        """The byte mover under the root, for store modules that keep objects of their own there
        (``checkpoints.py``: batch checkpoints on a remote)."""
        return self._files

    @property
    def layout(self) -> CacheLayout | None:
        return self._layout

    @property
    def remote_location(self) -> str | None:
        return None  # no remote layer: this store may itself be someone's remote

    def local_store(self) -> Store:
        return self

    # -- blobs ---------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self._files.exists(blob_rel(check_name(digest, "blob digest", self.location)))

    def put_blob(self, digest: str, source: Path) -> None:
        """Store the complete file ``source``; its bytes are hashed on the way and must match."""
        rel = blob_rel(check_name(digest, "blob digest", self.location))
        if self._files.exists(rel) and self._intact(rel, digest):
            return
        self._files.commit_file(rel, Path(source), digest)  # absent, or corrupt: (re)place it

    def _intact(self, rel: str, digest: str) -> bool:
        """An existing local blob is rehashed before it is kept (a corrupt one is replaced, so
        ``-B`` repairs it); a remote one is trusted to exist (reads verify it on download)."""
        if not isinstance(self._files, LocalFiles):
            return True
        try:
            return digest_file(self._files.path(rel)) == digest
        except FileNotFoundError:
            return False

    def get_blob(self, digest: str, dest: Path, *, on_corrupt: OnCorrupt | None = None) -> bool:
        """Copy the verified blob to ``dest``; False if absent; IntegrityError (nothing written) if corrupt.

        A corrupt blob of a *local* store is moved to ``quarantine/`` so the next build rebuilds it.
        """
        rel = blob_rel(check_name(digest, "blob digest", self.location))
        where = f"{'cache' if self.is_local and not self.remote else 'remote cache'} {self.location}"
        limit = self.limits.bytes_for(ObjectKind.BLOB)
        try:
            return download_verified(
                lambda out, hasher: self._files.copy_to(rel, out, hasher, limit), digest, Path(dest), where, on_corrupt
            )
        except IntegrityError as exc:
            if self.is_local and not self.remote:  # reads never write to a remote
                self.quarantine(digest, str(exc))
            raise

    def check_blob(self, digest: str) -> BlobState:
        """Hash a stored blob in place: OK, MISSING or CORRUPT (nothing is moved)."""
        hasher = xxhash.xxh3_128()
        try:
            found = self._files.copy_to(blob_rel(check_name(digest, "blob digest", self.location)), _Sink(), hasher)
        except IntegrityError:  # a link or special file where a blob should be
            return BlobState.CORRUPT
        if not found:
            return BlobState.MISSING
        return BlobState.OK if hasher.hexdigest() == digest else BlobState.CORRUPT

    def delete_blob(self, digest: str) -> None:
        self._files.delete(blob_rel(check_name(digest, "blob digest", self.location)))

    def list_blobs(self) -> Iterator[str]:
        return (name for name in self._files.names(OBJECTS) if is_digest(name))

    # -- entries -------------------------------------------------------------------------
    def has_entry(self, key: str) -> bool:
        return self._files.exists(entry_rel(check_name(key, "entry key", self.location)))

    def get_entry(self, key: str) -> dict[str, Any] | None:
        """The validated entry for ``key``; None when absent or unreadable (warned once per key)."""
        try:
            data = self._files.read_bytes(entry_rel(check_name(key, "entry key", self.location)),
                                          self.limits.bytes_for(ObjectKind.ENTRY))
            if data is None:
                return None
            return validate_entry(parse_json(data, ObjectKind.ENTRY, f"entry {key}", self.limits), key=key)
        except IntegrityError as exc:
            self._warn_once(key, f"ignoring unreadable cache entry {key} in {self.location}: {exc}")
            return None

    def put_entry(self, key: str, entry: dict[str, Any]) -> bool:
        """Publish atomically; False when a valid entry already existed (a corrupt one is replaced).

        On a filesystem without atomic create (S3/GCS/HTTP) this is check-then-put: racing writers
        all publish complete, valid entries and the last one stays.
        """
        rel = entry_rel(check_name(key, "entry key", self.location))
        data = dump_json(validate_entry(entry, key=key))
        if self._files.create(rel, data):
            return True
        if self.get_entry(key) is not None:
            return False
        self._files.replace(rel, data)  # the existing file was corrupt: repair it
        return True

    def delete_entry(self, key: str) -> None:
        self._files.delete(entry_rel(check_name(key, "entry key", self.location)))

    def list_entries(self) -> Iterator[str]:
        return json_keys(self._files.names(ACTIONS))

    def entry_origin(self, key: str) -> Origin | None:
        return Origin.LOCAL if self.has_entry(key) else None

    def fetch(self, key: str) -> bool:
        return self.get_entry(key) is not None  # nothing behind this store to download from

    # -- LLM responses -------------------------------------------------------------------
    def get_response(self, key: str) -> dict[str, Any] | None:
        pack = self.response_pack(key)
        return None if pack is None else copy_response(pack[key])

    def response_pack(self, key: str) -> dict[str, dict[str, Any]] | None:
        """The pack holding ``key`` (read it, never change it: the index keeps it for the next lookup)."""
        pack = self._packs.pack_of(check_name(key, "response key", self.location))
        if pack is not None:
            return pack
        single = self._single_response(key)
        return None if single is None else {key: single}

    def _single_response(self, key: str) -> dict[str, Any] | None:
        """A response stored one per file (``llm/ab/<key>.json``, caches written before packs)."""
        try:
            data = self._files.read_bytes(response_rel(key), self.limits.bytes_for(ObjectKind.RESPONSE))
            if data is None:
                return None
            value = parse_json(data, ObjectKind.RESPONSE, f"LLM response {key}", self.limits)
        except IntegrityError as exc:
            self._warn_once(key, f"ignoring unreadable LLM response {key} in {self.location}: {exc}")
            return None
        if not isinstance(value, dict):
            self._warn_once(key, f"ignoring LLM response {key} in {self.location}: not a JSON object")
            return None
        return value

    def put_response(self, key: str, response: dict[str, Any]) -> None:
        self.put_responses({key: response})

    def put_responses(self, responses: Mapping[str, dict[str, Any]]) -> None:
        for key, response in responses.items():
            check_name(key, "response key", self.location)
            if not isinstance(response, dict):
                raise TypeError(f"LLM response {key} must be a dict, got {type(response).__name__}")
        if responses:
            self._packs.write(responses)

    def list_responses(self) -> Iterator[str]:
        return iter(sorted({*self._packs.keys(), *json_keys(self._files.names(LLM))}))

    def open_journal(self) -> ResponseJournal | None:
        if self.remote or not isinstance(self._files, LocalFiles):
            return None
        return ResponseJournal(self._files)

    # -- sharing -------------------------------------------------------------------------
    def push_closure(self, keys: Iterable[str]) -> ClosureCounts:
        raise no_remote(self.location)

    def pull_closure(self, keys: Iterable[str]) -> ClosureCounts:
        raise no_remote(self.location)

    # -- local extras --------------------------------------------------------------------
    def _local(self, what: str) -> LocalFiles:
        if not isinstance(self._files, LocalFiles):
            raise StoreError(f"{what} needs a local cache directory; {self.location} is remote.")
        return self._files

    def blob_path(self, digest: str) -> Path:
        """Where the blob lives on disk (for hard-linking into a view); it may not exist."""
        return self._local("blob_path").path(blob_rel(check_name(digest, "blob digest", self.location)))

    def partial_dir(self, key: str) -> Path:
        """``partial/<key>/``: batch checkpoints of an unfinished stage (not created here)."""
        return self._local("partial_dir").path(partial_rel(check_name(key, "entry key", self.location)))

    def quarantine(self, digest: str, reason: str, source: Path | None = None) -> Path | None:
        """Move a corrupt blob (ours, or the downloaded file ``source``) to ``quarantine/``.

        Returns where the bytes went (None when there was nothing to move); a ``.reason.txt``
        beside them says why. Only ever called with bytes that failed verification.
        """
        files = self._local("quarantine")
        if self.remote:
            raise StoreError(f"refusing to quarantine inside remote cache {self.location}: reads never write to a remote.")
        check_name(digest, "blob digest", self.location)
        stem = f"{QUARANTINE}/{digest}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
        target = files.path(stem)
        _real_directory(target.parent)
        try:
            if source is not None:
                shutil.move(source, target)  # source may be on another filesystem
            else:
                files.move(blob_rel(digest), stem)
        except FileNotFoundError:
            moved = None
        else:
            moved = target
        files.replace(f"{stem}.reason.txt", (reason + "\n").encode("utf-8"))
        log.warning("quarantined blob %s in %s: %s", digest, self.location, reason)
        return moved

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)


def _real_directory(path: Path) -> None:
    """Make ``path`` a real directory: a symlink planted in its place is removed, never followed."""
    try:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the quarantine directory {path}: {exc.strerror or exc}.") from exc


class _Sink:
    """A write-only file that discards bytes (hash a blob without copying it)."""

    def write(self, data: Any) -> int:
        return len(data)


def _is_arrow_local(filesystem: Any) -> bool:
    kind = type(filesystem)
    return kind.__name__ == "LocalFileSystem" and kind.__module__.startswith("pyarrow")
