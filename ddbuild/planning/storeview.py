"""The view of the cache that the planner consults: read-only for plans, fetching for builds.

``CacheView`` answers from the store as it is (a remote hit is checked with HEAD requests only,
so ``--explain`` downloads nothing). ``FetchingCacheView`` is what ``run`` injects instead: before
it calls a remote hit OK it pulls the entry, its blobs (verified) and its LLM responses into the
local store, so a tampered or vanished remote blob becomes BLOBS_MISSING (rebuilt) instead of a
failure while the view is materialised.

Local blobs are checked against their digests (``store.verify.BlobVerifier``: a stat record, a
rehash when the file changed): a corrupt one makes the entry BLOBS_CORRUPT, a miss. The plan
only reads; the build's view also quarantines it (reported once) so the stage is rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from ddbuild.store.entry import blob_digests
from ddbuild.store.fs import BlobState
from ddbuild.store.verify import BlobVerifier


class EntryState(str, Enum):
    ABSENT = "absent"
    OK = "ok"
    CORRUPT = "corrupt"  # the entry file exists but does not validate
    BLOBS_MISSING = "blobs_missing"  # the entry is fine but an output blob is gone
    BLOBS_CORRUPT = "blobs_corrupt"  # the entry is fine but an output blob fails its digest check


@dataclass(frozen=True)
class LastBuild:
    """What the previous build of a stage (by workflow and name) was keyed on."""

    key: str
    document: dict[str, Any]  # fingerprint.stage_key(...).document of that build


class StoreView(Protocol):
    def entry_state(self, key: str) -> EntryState: ...

    def entry(self, key: str) -> dict[str, Any] | None: ...

    def has_partial(self, key: str) -> bool: ...

    def last_build(self, workflow: str, stage: str) -> LastBuild | None: ...

    def origin(self, key: str) -> str:
        """Where an OK entry lives: "local", or "remote" (found only on the remote)."""


class CacheView:
    """StoreView over a FileSystemStore plus the cache's ``index/`` of last builds."""

    def __init__(self, store: Any, index_dir: Path | None, verifier: BlobVerifier | None = None) -> None:
        self.store = store
        self.index_dir = index_dir
        self.verifier = verifier or BlobVerifier(store)
        self._entries: dict[str, dict[str, Any] | None] = {}

    def entry(self, key: str) -> dict[str, Any] | None:
        if key not in self._entries:
            self._entries[key] = self.store.get_entry(key)  # None when absent or corrupt
        return self._entries[key]

    def entry_state(self, key: str) -> EntryState:
        entry = self.entry(key)
        if entry is None:
            return EntryState.CORRUPT if self._entry_file_exists(key) else EntryState.ABSENT
        states = {self._blob_state(d, f"{entry['workflow']}:{entry['stage']}") for d in blob_digests(entry)}
        if BlobState.CORRUPT in states:
            return EntryState.BLOBS_CORRUPT
        if BlobState.MISSING in states:
            return EntryState.BLOBS_MISSING
        return EntryState.OK

    def _blob_state(self, digest: str, stage: str) -> BlobState:
        return self.verifier.state(digest)  # a plan only reads: nothing is moved

    def _entry_file_exists(self, key: str) -> bool:
        location = Path(getattr(self.store, "location", ""))
        return (location / "actions" / key[:2] / f"{key}.json").exists()

    def origin(self, key: str) -> str:
        entry_origin = getattr(self.store, "entry_origin", None)
        found = entry_origin(key) if callable(entry_origin) else None
        return str(getattr(found, "value", found) or "local")

    def has_partial(self, key: str) -> bool:
        try:
            partial = self.store.partial_dir(key) / "dataset" / "parquet-files"
        except Exception:  # noqa: BLE001 - a remote-only store has no partials
            return False
        return partial.is_dir() and any(partial.glob("batch_*.parquet"))

    def last_build(self, workflow: str, stage: str) -> LastBuild | None:
        if self.index_dir is None:
            return None
        path = self.index_dir / workflow / f"{stage}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return LastBuild(key=data["key"], document=data["document"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


class FetchingCacheView(CacheView):
    """CacheView for a build: a remote hit is made local (and verified) before it counts as OK,
    and a hit whose ``.parquet`` outputs are not Parquet is quarantined and rebuilt (never used)."""

    def __init__(self, store: Any, index_dir: Path | None, verifier: BlobVerifier | None = None) -> None:
        super().__init__(store, index_dir, verifier)
        self._parquet_ok: set[str] = set()

    def entry_state(self, key: str) -> EntryState:
        fetch = getattr(self.store, "fetch", None)
        if callable(fetch) and self.entry(key) is not None and self.origin(key) != "local":
            if not fetch(key):
                return EntryState.BLOBS_MISSING  # tampered or missing on the remote: rebuild
        state = super().entry_state(key)
        if state is EntryState.OK and key not in self._parquet_ok:
            if not self._outputs_are_parquet(key):
                return EntryState.BLOBS_CORRUPT
            self._parquet_ok.add(key)
        return state

    def _outputs_are_parquet(self, key: str) -> bool:
        """Cheap Parquet check (magic bytes, footer length) of a hit's blobs; quarantine failures."""
        from ddbuild.store.parquet import parquet_problem

        blob_path, quarantine = getattr(self.store, "blob_path", None), getattr(self.store, "quarantine", None)
        entry = self.entry(key)
        if entry is None or not callable(blob_path) or not callable(quarantine):
            return True
        for output in entry["outputs"]:
            if output["path"].endswith(".parquet"):
                problem = parquet_problem(blob_path(output["digest"]), footer=False)
                if problem is not None:
                    quarantine(output["digest"], f"entry {key} names it as {output['path']}, but {problem}")
                    self._entries.pop(key, None)
                    return False
        return True

    def _blob_state(self, digest: str, stage: str) -> BlobState:
        return self.verifier.verify(digest, stage)  # a corrupt blob is quarantined: it is rebuilt


@dataclass
class MemoryView:
    """A StoreView made of dictionaries: the fake for planner tests."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    missing_blobs: set[str] = field(default_factory=set)
    partials: set[str] = field(default_factory=set)
    remote: set[str] = field(default_factory=set)  # keys whose entry is only on the remote
    last: dict[tuple[str, str], LastBuild] = field(default_factory=dict)

    def entry(self, key: str) -> dict[str, Any] | None:
        return None if key in self.corrupt else self.entries.get(key)

    def entry_state(self, key: str) -> EntryState:
        if key in self.corrupt:
            return EntryState.CORRUPT
        if key not in self.entries:
            return EntryState.ABSENT
        return EntryState.BLOBS_MISSING if key in self.missing_blobs else EntryState.OK

    def has_partial(self, key: str) -> bool:
        return key in self.partials

    def origin(self, key: str) -> str:
        return "remote" if key in self.remote else "local"

    def last_build(self, workflow: str, stage: str) -> LastBuild | None:
        return self.last.get((workflow, stage))
