"""Garbage collection of a local cache: what ``cache gc`` deletes, and never what a running build holds.

    under the exclusive gc guard (store/pins.py):
      1. read the live pins           what running builds store or read now
      2. read the entries             after the pins: an entry published meanwhile is seen
      3. entries to delete            beyond keep-last / older-than, never kept or pinned ones
      4. blobs to delete              named by no remaining entry and no live pin, and last
                                      written longer ago than the grace period
      5. pins of dead processes
    then, without the guard (a build's key lock protects its checkpoints):
      6. stale temp files             ``.tmp-*`` (and older writers' dot files) past the grace
                                      period, and never younger than 10 minutes (in flight)
      7. orphaned checkpoints         partial/<key>/ of a key not kept, whose lock no build holds,
                                      untouched for the grace period (with its lock file)
      8. unused lock files            locks/<key>.lock of a key without checkpoints, held by no
                                      build, created longer ago than the grace period (deleted
                                      while gc holds them; execution/locks.py re-checks the name)

The grace period (``--prune``, 2 hours by default, as git's ``gc --prune``) is the second line
of defence: it also covers writers that hold no pin (``cache pull``, a read-through download,
older ddbuild versions), whose fresh files are always younger than it.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ddbuild.fingerprint import is_digest
from ddbuild.store.base import Store
from ddbuild.store.layout import TEMP_AREAS, CacheLayout
from ddbuild.store.pins import guard, key_lock_path, read_pins, try_lock

DEFAULT_GRACE_S = 2 * 3600.0
#: Temp files are kept this long even with --prune=now: one being written was modified seconds
#: ago (every write moves its mtime), and no writer holds a pin or lock on it.
TEMP_MIN_AGE_S = 600.0


@dataclass
class EntryInfo:
    key: str
    workflow: str
    stage: str
    created: datetime
    size: int
    rows: int | None
    blobs: list[str]

    def age_days(self, now: datetime) -> float:
        return (now - self.created).total_seconds() / 86400


def _parse_created(text: str) -> datetime:
    created = datetime.fromisoformat(text)
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def read_entries(store: Store) -> list[EntryInfo]:
    """Every readable entry of the store (unreadable ones are skipped and reported by the store)."""
    out = []
    for key in store.list_entries():
        entry = store.get_entry(key)
        if entry is None:
            continue
        sizes = {o["digest"]: o.get("size", 0) for o in entry["outputs"]}
        out.append(
            EntryInfo(
                key=key,
                workflow=entry["workflow"],
                stage=entry["stage"],
                created=_parse_created(entry["created"]),
                size=sum(sizes.values()),
                rows=entry["selected_output"].get("rows"),
                blobs=list(sizes),
            )
        )
    return sorted(out, key=lambda e: (e.workflow, e.stage, -e.created.timestamp()))


def select_garbage(
    entries: Iterable[EntryInfo],
    keep: set[str],
    *,
    keep_last: int | None,
    older_than: float | None,
    now: datetime,
) -> list[EntryInfo]:
    """Entries to delete: never one in ``keep``; beyond the newest ``keep_last`` of their stage
    and/or older than ``older_than`` days (both conditions when both are given)."""
    if keep_last is None and older_than is None:
        return []
    doomed: list[EntryInfo] = []
    seen: dict[tuple[str, str], int] = {}
    for e in sorted(entries, key=lambda e: (e.workflow, e.stage, -e.created.timestamp())):
        group = (e.workflow, e.stage)
        rank = seen.get(group, 0)
        seen[group] = rank + 1
        if e.key in keep:
            continue
        beyond = keep_last is None or rank >= keep_last
        old = older_than is None or e.age_days(now) > older_than
        if beyond and old:
            doomed.append(e)
    return doomed


@dataclass(frozen=True)
class Policy:
    """What the user asked ``cache gc`` for."""

    keep: frozenset[str] = frozenset()  # entry keys never deleted (what the build file uses now)
    keep_last: int | None = None
    older_than_days: float | None = None
    grace_s: float = DEFAULT_GRACE_S  # 0 = --prune=now; math.inf = --prune=never
    dry_run: bool = False


@dataclass
class Collected:
    """What one gc deleted (or would delete, on a dry run) and what it kept, with why."""

    entries: list[EntryInfo] = field(default_factory=list)
    kept_entries: int = 0
    kept_in_use: int = 0  # of the kept entries: in the policy's keep set
    pinned_entries: int = 0  # doomed by the limits but held by a running build
    blobs: list[str] = field(default_factory=list)
    blob_bytes: int = 0
    young_blobs: int = 0  # unreferenced, but younger than the grace period
    pinned_blobs: int = 0  # unreferenced by any entry, held by a running build
    live_pins: int = 0
    dead_pins: int = 0
    temp_files: list[Path] = field(default_factory=list)
    partials: list[str] = field(default_factory=list)
    busy_partials: int = 0  # a build holds their key's lock
    young_partials: int = 0  # touched within the grace period
    locks: int = 0  # unused lock files deleted


def collect_garbage(store: Store, cache_dir: Path, policy: Policy, now: datetime) -> Collected:
    """Delete what ``policy`` makes garbage in the local ``store`` at ``cache_dir`` (module docstring)."""
    out = Collected()
    stamp = now.timestamp()
    with guard(cache_dir, exclusive=True):
        held = read_pins(cache_dir, grace_s=policy.grace_s, now=stamp)  # 1
        entries = read_entries(store)  # 2
        limited = select_garbage(entries, set(policy.keep), keep_last=policy.keep_last,
                                 older_than=policy.older_than_days, now=now)
        out.entries = [e for e in limited if e.key not in held.entries]  # 3
        out.pinned_entries = len(limited) - len(out.entries)
        doomed = {e.key for e in out.entries}
        out.kept_entries = len(entries) - len(doomed)
        out.kept_in_use = len(policy.keep & {e.key for e in entries})
        referenced = {d for e in entries if e.key not in doomed for d in e.blobs}
        for e in out.entries:
            if not policy.dry_run:
                store.delete_entry(e.key)
        _collect_blobs(store, referenced, held.blobs, policy, stamp, out)  # 4
        out.live_pins, out.dead_pins = held.live, len(held.dead)
        if not policy.dry_run:  # 5
            for path in held.dead:
                path.unlink(missing_ok=True)
    out.temp_files = _stale_temp_files(Path(cache_dir), policy, stamp)  # 6
    _collect_partials(Path(cache_dir), policy, stamp, out)  # 7
    _collect_locks(Path(cache_dir), policy, stamp, out)  # 8
    return out


def _age_s(path: Path, now: float) -> float:
    """Seconds since ``path`` was last written (inf when it is gone)."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return math.inf


def _collect_blobs(
    store: Store, referenced: set[str], pinned: set[str], policy: Policy, now: float, out: Collected
) -> None:
    for digest in list(store.list_blobs()):
        if digest in referenced:
            continue
        if digest in pinned:
            out.pinned_blobs += 1
            continue
        path = store.blob_path(digest)
        if _age_s(path, now) < policy.grace_s:
            out.young_blobs += 1
            continue
        try:
            out.blob_bytes += path.stat().st_size
        except FileNotFoundError:
            continue
        out.blobs.append(digest)
        if not policy.dry_run:
            store.delete_blob(digest)


def _stale_temp_files(cache_dir: Path, policy: Policy, now: float) -> list[Path]:
    """Dot files in the published areas (the store never publishes one) past the grace period."""
    stale = []
    for area in TEMP_AREAS:
        for dirpath, _dirs, names in os.walk(cache_dir / area):
            for name in names:
                path = Path(dirpath) / name
                if name.startswith(".") and _age_s(path, now) >= max(policy.grace_s, TEMP_MIN_AGE_S):
                    stale.append(path)
                    if not policy.dry_run:
                        path.unlink(missing_ok=True)
    return sorted(stale)


def _newest_write(directory: Path) -> float:
    newest = -math.inf
    for dirpath, _dirs, names in os.walk(directory):
        for name in [*names, "."]:
            try:
                newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
            except FileNotFoundError:
                pass
    return newest


def _collect_partials(cache_dir: Path, policy: Policy, now: float, out: Collected) -> None:
    try:
        folders = sorted(p for p in CacheLayout(cache_dir).partials.iterdir() if p.is_dir() and is_digest(p.name))
    except FileNotFoundError:
        return
    for folder in folders:
        key = folder.name
        if key in policy.keep:
            continue  # the build file's next build resumes from it
        with try_lock(key_lock_path(cache_dir, key)) as free:  # held: no build can start on it
            if not free:
                out.busy_partials += 1
            elif now - _newest_write(folder) < policy.grace_s:
                out.young_partials += 1
            else:
                out.partials.append(key)
                if not policy.dry_run:
                    shutil.rmtree(folder, ignore_errors=True)
                    key_lock_path(cache_dir, key).unlink(missing_ok=True)  # still held: safe


def _collect_locks(cache_dir: Path, policy: Policy, now: float, out: Collected) -> None:
    try:
        paths = sorted(p for p in CacheLayout(cache_dir).locks.iterdir() if p.suffix == ".lock" and is_digest(p.stem))
    except FileNotFoundError:
        return
    for path in paths:
        if CacheLayout(cache_dir).partial(path.stem).exists() or _age_s(path, now) < policy.grace_s:
            continue
        with try_lock(path) as free:
            if free:
                out.locks += 1
                if not policy.dry_run:
                    path.unlink(missing_ok=True)
