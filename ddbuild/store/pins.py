"""Pins: the blobs and entries running builds hold in a local cache, so ``cache gc`` never deletes them.

    <cache>/pins/<pid>-<random>.pin   one per running build, flock(LOCK_EX)ed by it for its whole
                                      life; lines "blob <digest>" / "entry <key>", appended
    <cache>/locks/gc.lock             the guard: ``cache gc`` holds it exclusively while it reads
                                      pins and entries and deletes; a build holds it shared while
                                      it creates its pin or adds to it
    <cache>/locks/<key>.lock          held by the build of <key> (see execution/locks.py): its
                                      partial/<key>/ checkpoints are in use

Why nothing a running build needs can be deleted::

    build:  guard(shared){ append d to the pin }  ->  then store blob d / link or read blob d
                                                  ->  publish the entry naming d -> drop the pin
    gc:     guard(exclusive){ read live pins -> read entries -> list blobs -> delete the rest }

- An append happens either before gc reads the pins (gc sees d and keeps it) or after gc is done
  (the build then finds d gone and stores it again, or says clearly that a parent vanished).
- A pin dropped before gc read the pins belongs to a build that had already published its entry,
  and gc reads the entries after the pins: the entry keeps d.
- A pin whose lock can be taken belongs to a process that died; gc removes it.
Without ``fcntl`` (Windows) there are no locks: every pin counts as live until the grace period
of ``cache gc`` has passed since it was last written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ddbuild import atomic
from ddbuild.fingerprint import is_digest
from ddbuild.store.layout import CacheLayout

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl module on Windows: no locks (docstring)

log = logging.getLogger("ddbuild.store")


def key_lock_path(cache_dir: Path, key: str) -> Path:
    """The lock a build of ``key`` holds (its ``partial/<key>/`` is in use while it is held)."""
    return CacheLayout(Path(cache_dir)).key_lock(key)


def _open_lock(path: Path) -> int:
    atomic.ensure_dir(path.parent)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


@contextlib.contextmanager
def guard(cache_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the gc guard: exclusively (``cache gc``) or shared (a build adding to its pin)."""
    fd = _open_lock(CacheLayout(Path(cache_dir)).gc_guard)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Try to take the exclusive flock on ``path`` without waiting: True (held in the block) or False."""
    fd = _open_lock(path)
    try:
        if fcntl is None:  # pragma: no cover - Windows: cannot tell, assume in use
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class Pin:
    """What one running build holds; a context manager (the pin is dropped when it ends).

    ``hold`` is thread-safe (``-j`` builds stages on worker threads) and cheap: one append of a
    few lines under the shared guard. Pins are never fsynced: they only matter while their
    process is alive, and the page cache is shared by every process of the machine.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.path: Path | None = None
        self._fd: int | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> Pin:
        directory = CacheLayout(self.cache_dir).pins
        try:
            with guard(self.cache_dir, exclusive=False):  # gc never sees a pin before it is locked
                atomic.ensure_dir(directory)
                self.path = directory / f"{os.getpid()}-{os.urandom(4).hex()}.pin"
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666)
                if fcntl is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError as exc:  # a cache we may read but not write: build unpinned rather than fail
            log.debug("cannot pin in %s (%s); this build is not protected from cache gc", self.cache_dir, exc)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self.path is not None:
                self.path.unlink(missing_ok=True)
        return self

    def hold(self, *, blobs: Iterable[str] = (), entries: Iterable[str] = ()) -> None:
        """Pin ``blobs`` and ``entries``: from now until the pin ends, gc keeps them."""
        lines = [f"blob {d}" for d in blobs] + [f"entry {k}" for k in entries]
        with self._lock:
            new = [line for line in lines if line not in self._held]
            if not new or self._fd is None:
                return
            with guard(self.cache_dir, exclusive=False):
                os.write(self._fd, ("\n".join(new) + "\n").encode("ascii"))
            self._held.update(new)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._fd is None:
                return
            if self.path is not None:
                self.path.unlink(missing_ok=True)  # first the name, then the lock: gc never sees it dead
            os.close(self._fd)
            self._fd = None


@dataclass
class Held:
    """What the live pins of a cache hold, and the pin files of processes that died."""

    blobs: set[str] = field(default_factory=set)
    entries: set[str] = field(default_factory=set)
    live: int = 0
    dead: list[Path] = field(default_factory=list)


def read_pins(cache_dir: Path, *, grace_s: float, now: float | None = None) -> Held:
    """Every pin of the cache (call it inside ``guard(exclusive=True)``); dead ones are only listed."""
    held = Held()
    directory = CacheLayout(Path(cache_dir)).pins
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix == ".pin")
    except FileNotFoundError:
        return held
    for path in paths:
        if not _alive(path, grace_s, time.time() if now is None else now):
            held.dead.append(path)
            continue
        held.live += 1
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(encoding="ascii", errors="replace").splitlines():
                kind, _, name = line.partition(" ")
                if is_digest(name) and kind in ("blob", "entry"):
                    (held.blobs if kind == "blob" else held.entries).add(name)
    return held


def _alive(path: Path, grace_s: float, now: float) -> bool:
    """A pin is alive while its owner holds its flock (never created here: a vanished pin is dead)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        if fcntl is None:  # pragma: no cover - Windows: live while recently written
            return now - os.fstat(fd).st_mtime < grace_s
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False
    finally:
        os.close(fd)
