"""The workflow view: ``<artifact_path>/<workflow>/stage-<i>-<name>/`` materialised from the store.

The view is derived: COPIES of blobs (a reflink where the filesystem can, else an in-kernel copy),
never hard links, so nothing done to a view file can change a stored blob. Every copy is hashed
before it is put in place, so a view never shows bytes that fail their digest.

A view file whose stat is unchanged since it was placed (the verified-stat record) is left alone,
so a no-op run only stats files. A file that changed is hashed: the right bytes stay, the bytes of
another cached blob (a previous build of the stage) are replaced, and anything else was edited
by hand: it is moved to ``<artifact_path>/<workflow>/edited/<time>/<stage dir>/`` and the stage's
file is restored from the store. Nothing a user wrote there is deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ddbuild import atomic
from ddbuild.errors import on_full_disk
from ddbuild.fingerprint import digest_file
from ddbuild.planning.plan import Plan, Reason, ReasonKind, Status
from ddbuild.store.entry import safe_join
from ddbuild.store.verify import BlobVerifier, stat_of

EDITED_DIR = "edited"  # beside the stage folders: <artifact_path>/<workflow>/edited/
FICLONE = 0x40049409  # linux/fs.h: share the source's extents (btrfs, XFS, ...), copy-on-write


@dataclass
class ViewChanges:
    """What materialising a view did."""

    placed: int = 0  # files copied in from the store
    edited: list[str] = field(default_factory=list)  # view-relative paths edited by hand, kept aside
    aside: Path | None = None  # where the edited files went


def copy_bytes(source: Path, dest: Path) -> None:
    """Copy ``source`` to a new file ``dest``: reflink, else copy_file_range, else a plain copy."""
    with open(source, "rb") as src, open(dest, "wb") as out:
        try:
            import fcntl

            fcntl.ioctl(out.fileno(), FICLONE, src.fileno())
            return
        except (ImportError, OSError):
            pass
        left = os.fstat(src.fileno()).st_size
        try:
            while left > 0:
                sent = os.copy_file_range(src.fileno(), out.fileno(), left)
                if sent == 0:
                    break
                left -= sent
            if left == 0:
                return
        except (AttributeError, OSError):
            pass
        src.seek(0)
        out.seek(0)
        out.truncate()
        shutil.copyfileobj(src, out, 8 << 20)


@on_full_disk
def place(verifier: BlobVerifier, digest: str, dest: Path, stage: str | None = None) -> None:
    """Put a verified copy of blob ``digest`` at ``dest`` atomically (IntegrityError if corrupt)."""
    blob = verifier.path(digest, stage)  # missing: IntegrityError; stat-known or hashed otherwise
    before = stat_of(blob)
    with atomic.replacing(dest, durable=False) as temp:  # a copy, rebuilt from the cache when lost
        copy_bytes(blob, temp)  # a new file: the user's umask decides its mode (writable: it is theirs)
        if digest_file(temp) != digest:  # the blob changed after it was checked: never show it
            verifier.corrupt(digest, stage, "its bytes changed while they were copied into the view")
            verifier.path(digest, stage)  # raises: the blob is now quarantined
    verifier.stats.remember(dest, digest)
    if before is not None and stat_of(blob) == before:
        verifier.stats.remember(blob, digest, before)


def materialise(verifier: BlobVerifier, entry: dict[str, Any], stage_dir: Path, stage: str | None = None) -> ViewChanges:
    """Make ``stage_dir`` hold exactly the entry's outputs (verified copies); see the module docstring."""
    changes = ViewChanges()
    stage_dir.mkdir(parents=True, exist_ok=True)
    stage_dir = stage_dir.resolve()
    wanted: set[Path] = set()
    for output in entry["outputs"]:
        dest = safe_join(stage_dir, output["path"])
        wanted.add(dest)
        digest = output["digest"]
        found = _content(verifier, dest)
        if found == digest and os.stat(dest).st_nlink == 1:
            continue  # (a view made by an older ddbuild may still be a hard link: replace it)
        if found is not None and found != digest and not verifier.store.has_blob(found):
            _keep_aside(dest, stage_dir, changes)
        place(verifier, digest, dest, stage)
        changes.placed += 1
    for path in _others(stage_dir, wanted):
        found = _content(verifier, path)
        if found is not None and verifier.store.has_blob(found):
            path.unlink(missing_ok=True)  # a copy of another build's blob: ours to remove
            verifier.stats.forget(path)
        elif found is not None:
            _keep_aside(path, stage_dir, changes)
    return changes


def edited_files(verifier: BlobVerifier, entry: dict[str, Any], stage_dir: Path) -> list[str]:
    """View-relative paths that ``materialise`` would keep aside as edited by hand (reads only)."""
    if not stage_dir.is_dir():
        return []
    stage_dir = stage_dir.resolve()
    edited, wanted = [], set()
    for output in entry["outputs"]:
        dest = safe_join(stage_dir, output["path"])
        wanted.add(dest)
        found = _content(verifier, dest)
        if found is not None and found != output["digest"] and not verifier.store.has_blob(found):
            edited.append(output["path"])
    for path in _others(stage_dir, wanted):
        found = _content(verifier, path)
        if found is not None and not verifier.store.has_blob(found):
            edited.append(path.relative_to(stage_dir).as_posix())
    return edited


def view_edited_reason(edited: list[str]) -> Reason:
    """The reason a HIT carries when its view was edited by hand (explain and build say the same)."""
    shown = ", ".join(edited[:3]) + (" ..." if len(edited) > 3 else "")
    return Reason(ReasonKind.VIEW_EDITED, f"view edited by hand: restored {shown} (your version is kept aside)")


def note_edited_views(plan: Plan, views: dict[str, Path], entry_of: Callable[[str], Any],
                      verifier: BlobVerifier) -> Plan:
    """``plan`` with a VIEW_EDITED reason first on each HIT whose view ``materialise`` will restore."""
    stages = []
    for decision in plan.stages:
        entry = entry_of(decision.key) if decision.status == Status.HIT and decision.key else None
        edited = edited_files(verifier, entry, views[decision.name]) if entry else []
        if edited:
            decision = replace(decision, reasons=[view_edited_reason(edited), *decision.reasons])
        stages.append(decision)
    return replace(plan, stages=stages)


def _content(verifier: BlobVerifier, path: Path) -> str | None:
    """The digest of the file at ``path`` (remembered when its stat is unchanged); None if absent."""
    return verifier.stats.digest(path) if path.is_file() else None


def _others(stage_dir: Path, wanted: set[Path]) -> list[Path]:
    """Files in the stage folder that are not outputs of the entry (hidden and temp files skipped)."""
    found = []
    for root, _dirs, files in os.walk(stage_dir):
        for name in files:
            path = Path(root) / name
            if path not in wanted and not name.startswith("."):
                found.append(path)
    return sorted(found)


def _keep_aside(path: Path, stage_dir: Path, changes: ViewChanges) -> None:
    """Move a file edited by hand to ``<workflow view>/edited/<time>/<stage dir>/<same path>``."""
    if changes.aside is None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        changes.aside = stage_dir.parent / EDITED_DIR / stamp / stage_dir.name
    rel = path.relative_to(stage_dir)
    target = changes.aside / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
        changes.edited.append(rel.as_posix())


def write_json_atomic(path: Path, value: object) -> None:
    """Derived JSON (workflow-metadata.json, index/): atomic, not fsynced (rebuilt when lost)."""
    atomic.write_json(path, value, ensure_ascii=True, durable=False)
