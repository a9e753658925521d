"""Stat cache: (size, mtime_ns, inode) → content digest and row count, so unchanged files are not re-read."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddbuild import atomic
from ddbuild.fingerprint import digest_file

FORMAT = 1


class StatCache:
    """A small JSON file mapping absolute paths to their last known stat and digest."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: remember nothing across runs
        self._entries: dict[str, dict[str, Any]] = self._load()
        self._dirty = False
        self.files_hashed = 0  # how many files this process actually read (benchmarks, tests)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # missing or corrupt: start empty (it is only a cache)
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
            return {}
        return data["files"]

    def lookup(self, path: Path, count_rows: Callable[[Path], int | None]) -> tuple[str, int | None]:
        """(digest, rows) of ``path``, reading the file only when its stat changed."""
        key = str(path.resolve())
        stamp = _stamp(key)
        known = self._entries.get(key)
        if known and known.get("stat") == stamp:
            return known["digest"], known.get("rows")
        digest = digest_file(key)
        self.files_hashed += 1
        rows = count_rows(path)
        self._entries[key] = {"stat": stamp, "digest": digest, "rows": rows}
        self._dirty = True
        return digest, rows

    def digest(self, path: Path) -> str:
        """The content digest of ``path`` (an engine ``file_digest``): remembered, else read.

        Read-only, so stage builds on worker threads may share it, and a stage's scratch files
        (its partial/<key>/inputs/) never enter the cache."""
        known = self._known(path)
        if known is not None:
            return known["digest"]
        self.files_hashed += 1
        return digest_file(path)

    def _known(self, path: Path) -> dict[str, Any] | None:
        key = str(path.resolve())
        known = self._entries.get(key)
        return known if known and known.get("stat") == _stamp(key) else None

    def save(self) -> None:
        """Write atomically (temp + rename); concurrent writers: the last one wins, harmlessly."""
        if self.path is None or not self._dirty:
            return
        atomic.write_json(self.path, {"format": FORMAT, "files": self._entries}, indent=None, ensure_ascii=True,
                          durable=False)  # a cache of facts: unreadable means rehash
        self._dirty = False


def _stamp(path: str) -> list[int]:
    """What must be unchanged for a remembered digest to stand: size, mtime and inode."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]
