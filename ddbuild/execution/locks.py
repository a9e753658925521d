"""An exclusive per-key lock file, so two processes never build the same stage key at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def key_lock(path: Path) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``path`` (released by the kernel if the process dies).

    ``cache gc`` deletes lock files nobody holds (while holding them itself). A process that
    opened the file just before that would then hold a lock on a file that no longer has the
    name, so after locking we check that ``path`` still names the locked file, and retry if not.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock, best effort
        yield
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _still_named(fd, path):
            break
        os.close(fd)  # gc removed the file while we waited for it: lock the one now at ``path``
    try:
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _still_named(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_ino, named.st_dev) == (held.st_ino, held.st_dev)
