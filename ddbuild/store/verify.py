"""Blob verification before use: digests checked through a verified-stat record, corrupt blobs quarantined.

Every blob's bytes are checked against its digest before they are used (plan, view, child input,
results, push). Rehashing every blob on every no-op would cost a full read of the cache, so a
record remembers, per file, the stat under which its bytes last hashed to a digest::

    path -> [size, mtime_ns, inode, ctime_ns, digest]

A file whose stat still matches is known to hold those bytes (writing a file changes its mtime
and ctime, replacing it changes its inode; nobody can set ctime back); any other file is hashed
again. View files are remembered the same way, which is how an edited view is noticed.

``BlobVerifier.state`` only reads (``--explain``); ``BlobVerifier.verify`` also quarantines a
corrupt blob and reports it once, naming the blob and the stage. ``check_bytes`` is the one place
that decides whether bytes may be used: extend it (e.g. "is Parquet") and every use follows.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ddbuild import atomic
from ddbuild.errors import IntegrityError
from ddbuild.fingerprint import digest_file
from ddbuild.store.base import BlobState, Store
from ddbuild.store.layout import CacheLayout

log = logging.getLogger("ddbuild.store")

FORMAT = 1


def stat_of(path: str | os.PathLike[str]) -> list[int] | None:
    """What must be unchanged for a remembered digest to stand; None when the file is absent."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def check_bytes(path: Path, digest: str) -> str | None:
    """None when the file at ``path`` holds exactly the blob ``digest``; else what is wrong with it."""
    got = digest_file(path)
    return None if got == digest else f"its bytes hash to {got}, not {digest}"


class VerifiedStats:
    """A JSON record of files whose bytes were hashed: path -> stat and digest (a cache only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: remember within this process only
        self._files = self._load()
        self._dirty = False
        self._lock = threading.Lock()
        self.files_hashed = 0  # how many files this process hashed (tests, benchmarks)

    def _load(self) -> dict[str, list[Any]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        files = data.get("files") if isinstance(data, dict) and data.get("format") == FORMAT else None
        return files if isinstance(files, dict) else {}

    def known(self, path: Path, stat: list[int] | None = None) -> str | None:
        """The digest ``path`` is known to hold, if its stat is unchanged since it was hashed."""
        record = self._files.get(str(path))
        if not isinstance(record, list) or len(record) != 5:
            return None
        stat = stat if stat is not None else stat_of(path)
        return record[4] if stat is not None and record[:4] == stat else None

    def remember(self, path: Path, digest: str, stat: list[int] | None = None) -> None:
        stat = stat if stat is not None else stat_of(path)
        if stat is None:
            return
        with self._lock:
            self._files[str(path)] = [*stat, digest]
            self._dirty = True

    def forget(self, path: Path) -> None:
        with self._lock:
            if self._files.pop(str(path), None) is not None:
                self._dirty = True

    def hash(self, path: Path) -> str | None:
        """Hash ``path`` now (remembering the result); None when it is absent."""
        before = stat_of(path)
        if before is None:
            return None
        digest = digest_file(path)
        self.files_hashed += 1
        if stat_of(path) == before:  # unchanged while we read it
            self.remember(path, digest, before)
        return digest

    def digest(self, path: Path) -> str | None:
        """The digest of the file at ``path``: remembered when its stat is unchanged, else hashed."""
        stat = stat_of(path)
        if stat is None:
            return None
        return self.known(path, stat) or self.hash(path)

    def save(self) -> None:
        """Write atomically; concurrent writers: the last one wins, harmlessly (it is a cache)."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            files = {p: r for p, r in self._files.items() if os.path.exists(p)}
            self._dirty = False
        try:  # not fsynced: a cache of facts, recomputed (rehashed) when lost
            atomic.write_json(self.path, {"format": FORMAT, "files": files}, indent=None, durable=False)
        except OSError as exc:  # a read-only cache: verification still happened, we just forget it
            log.debug("cannot save %s: %s", self.path, exc)


class BlobVerifier:
    """Checks blobs of ``store`` (local files) against their digests before their bytes are used."""

    def __init__(self, store: Store, stats: VerifiedStats | None = None) -> None:
        self.store = store
        self.stats = stats or VerifiedStats(None)
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    def local_path(self, digest: str) -> Path | None:
        """Where the blob's local file is, or None for a store without local files (memory, remote)."""
        if self.store.layout is None:
            return None
        return self.store.blob_path(digest)

    def state(self, digest: str) -> BlobState:
        """OK / MISSING / CORRUPT without moving anything (a blob only on a remote counts as OK)."""
        path = self.local_path(digest)
        if path is None:  # bytes that are not local are verified when downloaded (get_blob)
            return BlobState.OK if self.store.has_blob(digest) else BlobState.MISSING
        stat = stat_of(path)
        if stat is None:
            return BlobState.OK if self.store.has_blob(digest) else BlobState.MISSING
        if self.stats.known(path, stat) == digest:
            return BlobState.OK
        self.stats.files_hashed += 1
        problem = check_bytes(path, digest)
        if problem is None:
            if stat_of(path) == stat:
                self.stats.remember(path, digest, stat)
            return BlobState.OK
        self.stats.forget(path)
        return BlobState.CORRUPT

    def verify(self, digest: str, stage: str | None = None) -> BlobState:
        """``state``, and a corrupt blob is quarantined (so it is rebuilt) and reported once."""
        found = self.state(digest)
        if found is BlobState.CORRUPT:
            self.corrupt(digest, stage, "its bytes no longer match its digest")
        return found

    def corrupt(self, digest: str, stage: str | None, why: str) -> None:
        """Quarantine ``digest`` and say so once: which blob, which stage, what happens next."""
        path = self.local_path(digest)
        if path is not None:
            self.stats.forget(path)
        with self._lock:
            first = digest not in self._reported
            self._reported.add(digest)
        who = f"an output of stage '{stage}'" if stage else "a cached output"
        reason = f"{who}: {why}; it was not used and will be rebuilt"
        if first or (path is not None and path.exists()):
            self.store.quarantine(digest, reason)  # moves the bytes aside and logs the warning: the one report

    def path(self, digest: str, stage: str | None = None) -> Path:
        """The local file of a verified blob; IntegrityError when it is corrupt (now quarantined)."""
        found = self.verify(digest, stage)
        path = self.local_path(digest)
        if found is BlobState.CORRUPT:
            raise IntegrityError(
                f"blob {digest} ({f'stage {stage!r}' if stage else 'a cached output'}) failed its digest check "
                "and was quarantined.",
                hint="Build again: the stage that produced it is rebuilt.",
            )
        if found is BlobState.MISSING or path is None or not path.exists():
            raise IntegrityError(
                f"blob {digest} ({f'stage {stage!r}' if stage else 'a cached output'}) is not in the cache "
                f"{self.store.location}.",
                hint="Build again: the stage that produced it is rebuilt.",
            )
        return path

    def save(self) -> None:
        self.stats.save()


def verifier_for(store: Store, cache_dir: Path | None) -> BlobVerifier:
    """The verifier of a build: its record lives in ``<cache_dir>/index/`` (None: in memory only)."""
    record = None if cache_dir is None else CacheLayout(Path(cache_dir)).verified_stats
    return BlobVerifier(store, VerifiedStats(record))
