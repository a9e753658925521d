"""The tiny file-operations interface FileSystemStore is written against, and its local (os) version.

FileSystemStore knows the cache layout and the verification rules; a ``Files`` object only moves
bytes. Three implementations: ``LocalFiles`` (plain os calls, no pyarrow import, so the CLI starts
fast) here, ``ArrowFiles`` (any ``pyarrow.fs`` filesystem) in ``_arrow.py`` and ``HttpFiles``
(GET/PUT/HEAD/DELETE, WebDAV) in ``http.py``. All paths are
relative POSIX strings inside the store root, built by the store from validated 32-hex names.

Atomicity on a local (or network-drive) directory::

    write temp file in the target's own directory  ->  fsync  ->  os.replace (blobs, responses)
                                                               \\-> os.link   (entries: fails if
                                                                              the name exists, so
                                                                              the first writer wins)

A reader therefore sees either no file or a complete one. After a crash only ``.tmp-*`` files
remain; they never match a 32-hex name, so listings skip them and ``cache gc`` may delete them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import xxhash

from ddbuild.errors import IntegrityError, StoreError

CHUNK = 8 * 1024 * 1024


class Files(Protocol):
    """Byte moving inside one store root. Missing files are None/False, other failures StoreError."""

    location: str
    is_local: bool
    #: True when ``create`` is atomic (exactly one concurrent creator wins); False = check-then-put.
    atomic_create: bool

    def read_bytes(self, rel: str) -> bytes | None: ...

    def copy_to(self, rel: str, out: BinaryIO, hasher: xxhash.xxh3_128) -> bool: ...

    def commit_file(self, rel: str, source: Path, digest: str) -> None: ...

    def create(self, rel: str, data: bytes) -> bool: ...

    def replace(self, rel: str, data: bytes) -> None: ...

    def exists(self, rel: str) -> bool: ...

    def delete(self, rel: str) -> None: ...

    def move(self, src: str, dst: str) -> None: ...

    def names(self, prefix: str) -> Iterator[str]: ...


def temp_name(final_name: str) -> str:
    """A unique temp name for ``final_name`` (never 32-hex, so listings ignore it)."""
    return f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{final_name}"


def mismatch(digest: str, got: str, where: str) -> IntegrityError:
    return IntegrityError(
        f"blob {digest} from {where} has digest {got}: the bytes are corrupt or were tampered with.",
        hint="It was not used; the stage that needs it will be rebuilt. `ddbuild cache verify` checks the rest.",
    )


@contextlib.contextmanager
def os_errors(location: str, action: str) -> Iterator[None]:
    """Turn an unexpected OSError into a StoreError that names the store and says what failed."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
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
            if not directory.is_dir():
                missing = [directory, *[p for p in directory.parents if not p.exists()]]
                directory.mkdir(parents=True, exist_ok=True)
                if self.dir_mode is not None:
                    for made in missing:
                        with contextlib.suppress(OSError):  # another user made it first
                            os.chmod(made, self.dir_mode)
        self._known_dirs.add(directory)

    def _open_temp(self, final: Path) -> tuple[Path, int]:
        self.ensure_dir(final.parent)
        temp = final.parent / temp_name(final.name)
        # os.open with 0o666 lets the umask decide (mkstemp would force 0o600 on a shared cache).
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        if self.mode is not None:
            os.fchmod(fd, self.mode)
        return temp, fd

    def _write_temp(self, final: Path, data: bytes) -> Path:
        temp, fd = self._open_temp(final)
        try:
            with open(fd, "wb", closefd=True) as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            with open(self.root / rel, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def copy_to(self, rel: str, out: BinaryIO, hasher: xxhash.xxh3_128) -> bool:
        try:
            source = open(self.root / rel, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return False
        with source, os_errors(self.location, f"read {rel}"):
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while read := source.readinto(buffer):
                hasher.update(view[:read])
                out.write(view[:read])
        return True

    def commit_file(self, rel: str, source: Path, digest: str) -> None:
        final = self.root / rel
        with os_errors(self.location, f"store blob {digest}"):
            temp, fd = self._open_temp(final)
            try:
                hasher = xxhash.xxh3_128()
                with open(fd, "wb", closefd=True) as out:
                    with open(source, "rb", buffering=0) as src:
                        buffer = bytearray(CHUNK)
                        view = memoryview(buffer)
                        while read := src.readinto(buffer):
                            hasher.update(view[:read])
                            out.write(view[:read])
                    out.flush()
                    os.fsync(out.fileno())
                if hasher.hexdigest() != digest:
                    raise mismatch(digest, hasher.hexdigest(), f"local file {source}")
                os.replace(temp, final)
            finally:
                temp.unlink(missing_ok=True)

    def create(self, rel: str, data: bytes) -> bool:
        final = self.root / rel
        with os_errors(self.location, f"write {rel}"):
            temp = self._write_temp(final, data)
            try:
                os.link(temp, final)  # atomic create: fails if another writer got there first
                return True
            except FileExistsError:
                return False
            finally:
                temp.unlink(missing_ok=True)

    def replace(self, rel: str, data: bytes) -> None:
        final = self.root / rel
        with os_errors(self.location, f"write {rel}"):
            temp = self._write_temp(final, data)
            try:
                os.replace(temp, final)
            finally:
                temp.unlink(missing_ok=True)

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
            shards = sorted(e.name for e in os.scandir(self.root / prefix) if e.is_dir())
        except FileNotFoundError:
            return
        for shard in shards:
            with contextlib.suppress(FileNotFoundError), os.scandir(self.root / prefix / shard) as it:
                yield from sorted(e.name for e in it if e.is_file())
