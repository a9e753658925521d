"""``Files`` over any ``pyarrow.fs`` filesystem (S3, GCS, ...); pyarrow is imported only here.

Object-store rules this module follows (measured, see environment-facts §3):

- A pyarrow output stream that raises mid-write is still closed, and closing *commits the partial
  object*. So a blob is never written under its final name while it streams: it goes to a temp key
  in the same "directory", is hashed on the way, and only a complete, verified upload is moved to
  ``objects/ab/<digest>``. A crash leaves at most a ``.tmp-*`` object, which no reader looks at.
- Reads use ``open_input_file().read()`` (one GET) for objects up to ``WHOLE_READ_LIMIT``, and
  64 MiB ranged reads above it; ``open_input_stream()`` without a buffer issues tiny ranged GETs.
- pyarrow has no conditional PUT, so ``create`` is check-then-put (``atomic_create = False``): two
  writers racing on one key both publish complete, valid entries and the last one stays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xxhash

from ddbuild.errors import StoreError
from ddbuild.store._files import CHUNK, BinarySink, mismatch, over_limit, temp_name

WHOLE_READ_LIMIT = 256 * 1024 * 1024
RANGE_READ = 64 * 1024 * 1024


@contextlib.contextmanager
def arrow_errors(location: str, action: str) -> Iterator[None]:
    """pyarrow raises OSError for network, auth and server failures; name the store and the action."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(
            f"remote cache {location}: cannot {action}: {exc}",
            hint="Check the URL, network access and credentials (AWS_* / GOOGLE_* environment variables).",
        ) from exc


class ArrowFiles:
    """``Files`` over ``filesystem`` (a ``pyarrow.fs.FileSystem``) below the path ``root``."""

    is_local = False
    atomic_create = False

    def __init__(self, filesystem: Any, root: str, location: str) -> None:
        self.fs = filesystem
        self.root = root.rstrip("/")
        self.location = location

    def _p(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.root else rel

    def read_bytes(self, rel: str, limit: int) -> bytes | None:
        try:
            with arrow_errors(self.location, f"read {rel}"), self.fs.open_input_file(self._p(rel)) as f:
                if f.size() > limit:  # the object's size is known before any byte is fetched
                    raise over_limit(f"{rel} in remote cache {self.location}", limit)
                return f.read()
        except FileNotFoundError:
            return None

    def copy_to(self, rel: str, out: BinarySink, hasher: xxhash.xxh3_128, limit: int | None = None) -> bool:
        try:
            with arrow_errors(self.location, f"read {rel}"), self.fs.open_input_file(self._p(rel)) as f:
                size = f.size()
                if limit is not None and size > limit:
                    raise over_limit(f"{rel} in remote cache {self.location}", limit)
                step = size if size <= WHOLE_READ_LIMIT else RANGE_READ
                while True:
                    buffer = f.read_buffer(step)  # a pyarrow Buffer: no copy into a bytes object
                    if not buffer.size:
                        break
                    view = memoryview(buffer)
                    hasher.update(view)
                    out.write(view)
        except FileNotFoundError:
            return False
        return True

    def commit_file(self, rel: str, source: Path, digest: str) -> None:
        parent, _, name = rel.rpartition("/")
        temp = f"{parent}/{temp_name(name)}"
        hasher = xxhash.xxh3_128()
        try:
            with arrow_errors(self.location, f"upload blob {digest}"):
                with self.fs.open_output_stream(self._p(temp)) as out, open(source, "rb", buffering=0) as src:
                    buffer = bytearray(CHUNK)
                    view = memoryview(buffer)
                    while read := src.readinto(buffer):
                        hasher.update(view[:read])
                        out.write(view[:read])
                if hasher.hexdigest() != digest:
                    raise mismatch(digest, hasher.hexdigest(), f"local file {source}")
                self.fs.move(self._p(temp), self._p(rel))
        except BaseException:
            # The stream's close committed whatever was sent; remove it (best effort).
            with contextlib.suppress(OSError):
                self.fs.delete_file(self._p(temp))
            raise

    def create(self, rel: str, data: bytes) -> bool:
        if self.exists(rel):
            return False
        self.replace(rel, data)
        return True

    def replace(self, rel: str, data: bytes) -> None:
        # Small JSON written with one call: a failure mid-way can leave a truncated object, which
        # readers reject as a corrupt entry (a miss) and the next writer replaces.
        with arrow_errors(self.location, f"write {rel}"), self.fs.open_output_stream(self._p(rel)) as out:
            out.write(data)

    def exists(self, rel: str) -> bool:
        from pyarrow.fs import FileType

        with arrow_errors(self.location, f"look up {rel}"):
            return self.fs.get_file_info(self._p(rel)).type == FileType.File

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError), arrow_errors(self.location, f"delete {rel}"):
            self.fs.delete_file(self._p(rel))

    def move(self, src: str, dst: str) -> None:
        with arrow_errors(self.location, f"move {src}"):
            self.fs.move(self._p(src), self._p(dst))

    def names(self, prefix: str) -> Iterator[str]:
        from pyarrow.fs import FileSelector, FileType

        selector = FileSelector(self._p(prefix), allow_not_found=True, recursive=True)
        with arrow_errors(self.location, f"list {prefix}"):
            infos = self.fs.get_file_info(selector)
        for info in sorted(infos, key=lambda i: i.path):
            if info.type == FileType.File:
                yield info.base_name
