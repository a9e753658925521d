"""The workflow view: ``<artifact_path>/<workflow>/stage-<i>-<name>/`` materialised from the store.

The view is derived: hard links to blobs (copies where links fail), plus workflow-metadata.json.
Deleting it loses nothing; the next run restores it without executing any stage. A file that
is already the blob (same inode) or matches the recorded size is left alone, so a no-op run
only stats files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ddbuild import atomic
from ddbuild.store.entry import safe_join


def _same_file(dest: Path, blob: Path, size: int) -> bool:
    try:
        d, b = dest.stat(), blob.stat()
    except OSError:
        return False
    if d.st_size != size:
        return False
    linked = d.st_ino == b.st_ino and d.st_dev == b.st_dev
    return linked or d.st_mtime_ns == b.st_mtime_ns  # a copy made by ``place`` keeps the mtime


def place(blob: Path, dest: Path) -> None:
    """Put ``blob`` at ``dest`` atomically: hard link, or copy when linking is impossible."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
    temp.unlink(missing_ok=True)
    try:
        os.link(blob, temp)
    except OSError:
        shutil.copy2(blob, temp)
    os.replace(temp, dest)


def materialise(store: Any, entry: dict[str, Any], stage_dir: Path) -> int:
    """Make ``stage_dir`` hold exactly the entry's outputs; returns how many files were placed."""
    placed = 0
    stage_dir.mkdir(parents=True, exist_ok=True)
    stage_dir = stage_dir.resolve()
    wanted: set[Path] = set()
    for output in entry["outputs"]:
        dest = safe_join(stage_dir, output["path"])
        wanted.add(dest)
        blob = store.blob_path(output["digest"])
        if not _same_file(dest, blob, output["size"]):
            place(blob, dest)
            placed += 1
    _prune(stage_dir, wanted)
    return placed


def _prune(stage_dir: Path, wanted: set[Path]) -> None:
    """Remove files a previous build of this stage left behind (another key's batches)."""
    for root, _dirs, files in os.walk(stage_dir):
        for name in files:
            path = Path(root) / name
            if path not in wanted and not name.startswith("."):
                path.unlink(missing_ok=True)


def write_json_atomic(path: Path, value: Any) -> None:
    """Derived JSON (workflow-metadata.json, index/): atomic, not fsynced (rebuilt when lost)."""
    atomic.write_json(path, value, ensure_ascii=True, durable=False)
