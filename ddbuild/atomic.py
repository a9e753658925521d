"""Atomic, durable file writes: a temp name beside the target, fsync, rename, fsync the directory.

Every file ddbuild publishes (blobs, entries, LLM responses, checkpoint batches, metadata, views'
files and JSON, stamps, exports) goes through here, in this order::

    open  <dir>/.tmp-<pid>-<random>-<name>.tmp  O_EXCL, in the target's own directory
    write, flush, fsync(file)                 the bytes are on disk before any name points at them
    rename onto <name>                        (or link: fails if <name> exists, first writer wins)
    fsync(<dir>)                              the new name itself survives a power cut

A reader (or a resumed run) therefore sees no file or a complete one, even after a crash of the
machine. A crash leaves at most a ``.tmp-*`` file, which never matches a published name; ``cache
gc`` deletes those once they are older than its grace period. Directories that are created are
made durable the same way (fsync of their parent).

Writers with bytes in hand use ``write_bytes`` / ``write_json``; writers that stream to a handle use
``open_temp`` + ``publish``; writers that need a path (pyarrow, copy_file_range) use ``replacing``.
This is the only module that renames a file into place (tests/test_atomic.py checks that).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ddbuild.errors import on_full_disk

#: Every temp file starts with this; listings skip dot files, ``cache gc`` collects stale ones.
TEMP_PREFIX = ".tmp-"


def temp_path(final: Path) -> Path:
    """A fresh temp name in ``final``'s directory: a dot file ending in ``.tmp``, so neither
    listings of 32-hex names nor readers of ``*.parquet`` / ``*.json`` in a directory take it."""
    return final.parent / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}-{final.name}.tmp"


def fsync_dir(directory: Path) -> None:
    """Make the names in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some network filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file another writer (pyarrow) produced to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(directory: Path, mode: int | None = None) -> None:
    """Create ``directory`` and its missing parents, durably; ``mode`` is forced on what is created."""
    directory = Path(directory)
    if directory.is_dir():
        return
    missing = [p for p in (directory, *directory.parents) if not p.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    for made in reversed(missing):  # top-down: each parent's new name, then the next level
        if mode is not None:
            with contextlib.suppress(OSError):  # another user made it first
                os.chmod(made, mode)
        fsync_dir(made.parent)


@contextlib.contextmanager
def open_temp(final: Path, *, mode: int | None = None, durable: bool = True) -> Iterator[tuple[Path, BinaryIO]]:
    """A new temp file beside ``final``, fsynced when the block ends; removed if the block raises.

    The directory must exist; the caller publishes the file (``publish``) after the block. ``mode``
    (e.g. 0o664) is forced on the file, otherwise the umask decides (mkstemp would force 0o600 on a
    shared cache). ``durable=False`` skips the fsyncs: only for caches of facts that are recomputed
    when lost (up-to-date stamps, the stat cache), where they would slow every no-op build.
    """
    temp = temp_path(Path(final))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with open(fd, "wb", closefd=True) as handle:
            yield temp, handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def publish(temp: Path, final: Path, *, exclusive: bool = False, durable: bool = True) -> bool:
    """Give the complete, fsynced ``temp`` its ``final`` name, then fsync the directory.

    ``exclusive``: link instead of rename, so an existing ``final`` is kept and False returned
    (the first writer wins). ``temp`` is gone afterwards in every case.
    """
    try:
        if exclusive:
            try:
                os.link(temp, final)
            except FileExistsError:
                return False
        else:
            os.replace(temp, final)
        if durable:
            fsync_dir(final.parent)
        return True
    finally:
        temp.unlink(missing_ok=True)


@on_full_disk
def write_bytes(
    final: Path, data: bytes | memoryview, *, mode: int | None = None, exclusive: bool = False,
    durable: bool = True,
) -> bool:
    """Write ``data`` to ``final`` atomically (and durably); False when ``exclusive`` and it existed."""
    ensure_dir(Path(final).parent)
    with open_temp(final, mode=mode, durable=durable) as (temp, handle):
        handle.write(data)
    return publish(temp, Path(final), exclusive=exclusive, durable=durable)


def write_json(
    final: Path, value: Any, *, indent: int | None = 2, ensure_ascii: bool = False, durable: bool = True
) -> None:
    """``value`` as key-sorted JSON (a newline after it when indented), atomically (and durably)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=ensure_ascii, default=str, indent=indent)
    write_bytes(Path(final), (text + "\n" if indent is not None else text).encode("utf-8"), durable=durable)


@contextlib.contextmanager
def replacing(final: Path, *, durable: bool = True) -> Iterator[Path]:
    """A temp path beside ``final`` for a writer that writes by path (pyarrow, a file copy, an export).

    When the block ends the file is fsynced (``durable``) and published as ``final``; if the block
    raises, the temp file is removed and ``final`` is untouched. The directory is created.
    """
    final = Path(final)
    ensure_dir(final.parent)
    temp = temp_path(final)
    try:
        yield temp
        if durable:
            fsync_file(temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    publish(temp, final, durable=durable)
