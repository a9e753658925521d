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
from typing import Any, Protocol

from ddbuild.planning.plan import Origin as HitOrigin
from ddbuild.store.base import BlobState, Origin, Store
from ddbuild.store.entry import blob_digests
from ddbuild.store.layout import CacheLayout
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

    def origin(self, key: str) -> HitOrigin:
        """Where an OK entry lives: "local", or "remote" (found only on the remote)."""


class CacheView:
    """StoreView over a Store plus the ``index/`` of last builds in the local cache ``layout``."""

    def __init__(self, store: Store, layout: CacheLayout | None, verifier: BlobVerifier | None = None) -> None:
        self.store = store
        self.layout = layout
        self.verifier = verifier or BlobVerifier(store)
        self._entries: dict[str, dict[str, Any] | None] = {}

    def entry(self, key: str) -> dict[str, Any] | None:
        if key not in self._entries:
            self._entries[key] = self.store.get_entry(key)  # None when absent or corrupt
        return self._entries[key]

    def entry_state(self, key: str) -> EntryState:
        entry = self.entry(key)
        if entry is None:
            return EntryState.CORRUPT if self.store.has_entry(key) else EntryState.ABSENT
        states = {self._blob_state(d, f"{entry['workflow']}:{entry['stage']}") for d in blob_digests(entry)}
        if BlobState.CORRUPT in states:
            return EntryState.BLOBS_CORRUPT
        if BlobState.MISSING in states:
            return EntryState.BLOBS_MISSING
        return EntryState.OK

    def _blob_state(self, digest: str, stage: str) -> BlobState:
        return self.verifier.state(digest)  # a plan only reads: nothing is moved

    def origin(self, key: str) -> HitOrigin:
        return "remote" if self.store.entry_origin(key) is Origin.REMOTE else "local"

    def has_partial(self, key: str) -> bool:
        if self.store.layout is None:  # a store without a local directory keeps no checkpoints
            return False
        partial = self.store.partial_dir(key) / "dataset" / "parquet-files"
        return partial.is_dir() and any(partial.glob("batch_*.parquet"))

    def last_build(self, workflow: str, stage: str) -> LastBuild | None:
        if self.layout is None:
            return None
        path = self.layout.last_build(workflow, stage)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return LastBuild(key=data["key"], document=data["document"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


class FetchingCacheView(CacheView):
    """CacheView for a build: a remote hit is made local (and verified) before it counts as OK,
    and a hit whose ``.parquet`` outputs are not Parquet is quarantined and rebuilt (never used)."""

    def __init__(self, store: Store, layout: CacheLayout | None, verifier: BlobVerifier | None = None) -> None:
        super().__init__(store, layout, verifier)
        self._parquet_ok: set[str] = set()

    def entry_state(self, key: str) -> EntryState:
        if self.entry(key) is not None and self.origin(key) != Origin.LOCAL.value:
            if not self.store.fetch(key):
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

        entry = self.entry(key)
        if entry is None or self.store.layout is None:  # no blob files to look into
            return True
        for output in entry["outputs"]:
            if output["path"].endswith(".parquet"):
                problem = parquet_problem(self.store.blob_path(output["digest"]), footer=False)
                if problem is not None:
                    self.store.quarantine(output["digest"], f"entry {key} names it as {output['path']}, but {problem}")
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

    def origin(self, key: str) -> HitOrigin:
        return "remote" if key in self.remote else "local"

    def last_build(self, workflow: str, stage: str) -> LastBuild | None:
        return self.last.get((workflow, stage))
