"""The tiny file-operations interface FileSystemStore is written against, and its local (os) version.

FileSystemStore knows the cache layout and the verification rules; a ``Files`` object only moves
bytes. Three implementations: ``LocalFiles`` (plain os calls, no pyarrow import, so the CLI starts
fast) here, ``ArrowFiles`` (any ``pyarrow.fs`` filesystem) in ``_arrow.py`` and ``HttpFiles``
(GET/PUT/HEAD/DELETE, WebDAV) in ``http.py``. All paths are
relative POSIX strings inside the store root, built by the store from validated 32-hex names.

Atomicity on a local (or network-drive) directory (``ddbuild.atomic``)::

    write temp file in the target's own directory -> fsync -> os.replace (blobs, responses) -> fsync dir
                                                           \\-> os.link (entries: fails if the name
                                                                        exists, first writer wins)

A reader therefore sees either no file or a complete one, even after a power cut. After a crash
only ``.tmp-*`` files remain; they never match a 32-hex name, so listings skip them and ``cache
gc`` deletes them once older than its grace period.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import xxhash

from ddbuild import atomic
from ddbuild.errors import IntegrityError, StoreError, disk_full_error

CHUNK = 8 * 1024 * 1024


class BinarySink(Protocol):
    """What ``copy_to`` streams a file into: an open binary file, or a sink that only counts."""

    def write(self, data: bytes | memoryview, /) -> object: ...


class Files(Protocol):
    """Byte moving inside one store root. Missing files are None/False, other failures StoreError."""

    location: str
    is_local: bool
    #: True when ``create`` is atomic (exactly one concurrent creator wins); False = check-then-put.
    atomic_create: bool

    def read_bytes(self, rel: str, limit: int) -> bytes | None:
        """The whole file, or None when absent; IntegrityError when it is over ``limit`` bytes."""

    def copy_to(self, rel: str, out: BinarySink, hasher: xxhash.xxh3_128, limit: int | None = None) -> bool:
        """Stream the file into ``out`` and ``hasher``; False when absent; IntegrityError over ``limit``."""

    def commit_file(self, rel: str, source: Path, digest: str) -> None: ...

    def create(self, rel: str, data: bytes) -> bool: ...

    def replace(self, rel: str, data: bytes) -> None: ...

    def exists(self, rel: str) -> bool: ...

    def delete(self, rel: str) -> None: ...

    def move(self, src: str, dst: str) -> None: ...

    def names(self, prefix: str) -> Iterator[str]: ...


def temp_name(final_name: str) -> str:
    """A unique temp name for ``final_name`` (never 32-hex, so listings ignore it)."""
    return atomic.temp_path(Path(final_name)).name


def mismatch(digest: str, got: str, where: str) -> IntegrityError:
    return IntegrityError(
        f"blob {digest} from {where} has digest {got}: the bytes are corrupt or were tampered with.",
        hint="It was not used; the stage that needs it will be rebuilt. `ddbuild cache verify` checks the rest.",
    )


def over_limit(what: str, limit: int) -> IntegrityError:
    return IntegrityError(
        f"{what} is larger than the {limit}-byte limit for this kind of cache object.",
        hint="It was not used (a cache miss); see docs/sharing.md for the DDBUILD_MAX_* limits.",
    )


def open_regular(root: Path, rel: str) -> int | None:
    """A read-only fd of ``root/rel`` that followed no symlink below ``root``; None when absent.

    Every directory component is opened with O_NOFOLLOW relative to its parent, so a planted
    ``objects/ab`` -> ``/`` link is refused, and the file must be a regular file: a link to
    ``/dev/zero`` or a FIFO is an IntegrityError (a miss), never read. O_NONBLOCK keeps opening a
    FIFO from blocking; it has no effect on reads of a regular file.
    """
    try:
        dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        *dirs, name = rel.split("/")
        for part in dirs:
            step = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            os.close(dirfd)
            dirfd = step
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise
        raise _not_regular(root, rel, "goes through a symbolic link") from None
    finally:
        os.close(dirfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_regular(root, rel, "is not a regular file")
    return fd


def _not_regular(root: Path, rel: str, problem: str) -> IntegrityError:
    return IntegrityError(
        f"{rel} in cache {root} {problem}; links and special files in a cache are never followed.",
        hint="It was not used (a cache miss). Remove it, or run `ddbuild cache verify`.",
    )


@contextlib.contextmanager
def os_errors(location: str, action: str) -> Iterator[None]:
    """Turn an unexpected OSError into a StoreError that names the store and says what failed."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        full = disk_full_error(exc, location)
        if full is not None:
            raise full from exc
        raise StoreError(
            f"cannot {action} in cache {location}: {exc.strerror or exc}.",
            hint="Check that the directory exists, is writable by you and the disk is not full.",
        ) from exc


class LocalFiles:
    """``Files`` over a local or network-mounted directory using plain os calls."""

    is_local = True
    atomic_create = True

    def __init__(self, root: Path, mode: int | None = None) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.mode = mode
        # Directories get the file mode plus x wherever r is set (0o664 -> 0o775).
        self.dir_mode = None if mode is None else mode | ((mode & 0o444) >> 2)
        self._known_dirs: set[Path] = set()

    def path(self, rel: str) -> Path:
        return self.root / rel

    def ensure_dir(self, directory: Path) -> None:
        if directory in self._known_dirs:
            return
        with os_errors(self.location, f"create directory {directory}"):
            atomic.ensure_dir(directory, self.dir_mode)
        self._known_dirs.add(directory)

    def _write(self, final: Path, data: bytes, *, exclusive: bool) -> bool:
        self.ensure_dir(final.parent)
        with atomic.open_temp(final, mode=self.mode) as (temp, handle):
            handle.write(data)
        return atomic.publish(temp, final, exclusive=exclusive)

    def read_bytes(self, rel: str, limit: int) -> bytes | None:
        with os_errors(self.location, f"read {rel}"):
            fd = open_regular(self.root, rel)
            if fd is None:
                return None
            with open(fd, "rb", closefd=True) as handle:
                # read(n) allocates n bytes up front: ask for the file's size, not the limit (256 MiB
                # for a pack), and read on only if the file grew meanwhile.
                data = handle.read(min(limit, os.fstat(fd).st_size) + 1)
                while len(data) <= limit and (more := handle.read(min(CHUNK, limit + 1 - len(data)))):
                    data += more
        if len(data) > limit:
            raise over_limit(f"{rel} in cache {self.location}", limit)
        return data

    def copy_to(self, rel: str, out: BinarySink, hasher: xxhash.xxh3_128, limit: int | None = None) -> bool:
        with os_errors(self.location, f"read {rel}"):
            fd = open_regular(self.root, rel)
        if fd is None:
            return False
        with open(fd, "rb", buffering=0, closefd=True) as source, os_errors(self.location, f"read {rel}"):
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            total = 0
            while read := source.readinto(buffer):
                total += read
                if limit is not None and total > limit:
                    raise over_limit(f"{rel} in cache {self.location}", limit)
                hasher.update(view[:read])
                out.write(view[:read])
        return True

    def commit_file(self, rel: str, source: Path, digest: str) -> None:
        final = self.root / rel
        with os_errors(self.location, f"store blob {digest}"):
            self.ensure_dir(final.parent)
            with atomic.open_temp(final, mode=self.mode) as (temp, out), open(source, "rb", buffering=0) as src:
                hasher = xxhash.xxh3_128()
                buffer = bytearray(CHUNK)
                view = memoryview(buffer)
                while read := src.readinto(buffer):
                    hasher.update(view[:read])
                    out.write(view[:read])
                if hasher.hexdigest() != digest:  # raised inside: the temp file is removed
                    raise mismatch(digest, hasher.hexdigest(), f"local file {source}")
                # Blobs are read-only (0444 under the default umask): a stray write fails loudly.
                os.fchmod(out.fileno(), stat.S_IMODE(os.fstat(out.fileno()).st_mode) & ~0o222)
            atomic.publish(temp, final)

    def create(self, rel: str, data: bytes) -> bool:
        with os_errors(self.location, f"write {rel}"):
            return self._write(self.root / rel, data, exclusive=True)  # link: the first writer wins

    def replace(self, rel: str, data: bytes) -> None:
        with os_errors(self.location, f"write {rel}"):
            self._write(self.root / rel, data, exclusive=False)

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.root / rel)

    def delete(self, rel: str) -> None:
        with os_errors(self.location, f"delete {rel}"):
            (self.root / rel).unlink(missing_ok=True)

    def move(self, src: str, dst: str) -> None:
        target = self.root / dst
        self.ensure_dir(target.parent)
        with os_errors(self.location, f"move {src}"):
            os.replace(self.root / src, target)

    def names(self, prefix: str) -> Iterator[str]:
        """File names under ``prefix/<2 hex>/`` (temp files included; the store filters)."""
        try:
            shards = sorted(e.name for e in os.scandir(self.root / prefix) if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return
        for shard in shards:
            with contextlib.suppress(FileNotFoundError), os.scandir(self.root / prefix / shard) as it:
                yield from sorted(e.name for e in it if e.is_file(follow_symlinks=False))
