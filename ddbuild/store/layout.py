"""The cache's on-disk layout: every path below a cache root, named once (DESIGN §4).

    <root>/objects/ab/<digest>               blobs (parquet files), immutable, verified on read
    <root>/actions/ab/<key>.json             entries (stage key -> JSON entry)
    <root>/llm-packs/ab/<pack>.json          LLM responses, many per pack (store/packs.py)
    <root>/llm-packs/ab/<pack>.keys          a pack's request keys (its index)
    <root>/llm/ab/<key>.json                 LLM responses one per file (read, no longer written)
    <root>/llm-journal/<host>.<pid>.<r>.jsonl  responses of a running stage, not packed yet
    <root>/partial/<key>/                    batch checkpoints of an unfinished stage
    <root>/quarantine/<digest>.<time>.<pid>  corrupt blobs moved aside, with a .reason.txt beside them
    <root>/index/<workflow>/<stage>.json     the last key a stage was built with (what --explain diffs)
    <root>/index/verified-stats.json         files whose bytes were hashed, by stat (store/verify.py)
    <root>/index/stat-cache.json             seed-file digests by stat (planning/statcache.py)
    <root>/index/analysis/ab/<name>.json     computed dataset analyses (analysis/cache.py)
    <root>/stamps/<name>.json                up-to-date stamps of the no-op fast path (cli/stamp.py)
    <root>/pins/<pid>-<random>.pin           what running builds hold (store/pins.py)
    <root>/locks/<key>.lock, locks/gc.lock   per-key build locks and the gc guard (store/pins.py)

The first four are the store's objects, the same on every backend (a remote has them as object
names or URL paths, ``*_rel``); the rest exist only in a local cache directory (``CacheLayout``).
Nothing outside ``ddbuild/store`` spells these names: callers ask the store (``Store.layout``,
``Store.blob_path``, ``Store.partial_dir``) or a ``CacheLayout`` for a path. Stdlib only, so the
no-op fast path can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OBJECTS = "objects"
ACTIONS = "actions"
LLM = "llm"
LLM_PACKS = "llm-packs"
LLM_JOURNAL = "llm-journal"
PARTIAL = "partial"
QUARANTINE = "quarantine"
INDEX = "index"
STAMPS = "stamps"
PINS = "pins"
LOCKS = "locks"
GC_GUARD = "gc.lock"
VERIFIED_STATS = "verified-stats.json"
STAT_CACHE = "stat-cache.json"
ANALYSIS = "analysis"

#: Where temp files of interrupted writes can be left (partial/ goes as a whole, pins/ by liveness).
TEMP_AREAS = (OBJECTS, ACTIONS, LLM, LLM_PACKS, INDEX, STAMPS)
#: What ``cache du`` calls each top-level folder.
LABELS = {OBJECTS: "blobs", ACTIONS: "entries", LLM_PACKS: "LLM responses", LLM: "LLM per-file",
          LLM_JOURNAL: "LLM journal", PARTIAL: "checkpoints"}


def blob_rel(digest: str) -> str:
    return f"{OBJECTS}/{digest[:2]}/{digest}"


def entry_rel(key: str) -> str:
    return f"{ACTIONS}/{key[:2]}/{key}.json"


def response_rel(key: str) -> str:
    return f"{LLM}/{key[:2]}/{key}.json"


def pack_rel(name: str) -> str:
    return f"{LLM_PACKS}/{name[:2]}/{name}.json"


def pack_index_rel(name: str) -> str:
    return f"{LLM_PACKS}/{name[:2]}/{name}.keys"


def partial_rel(key: str) -> str:
    return f"{PARTIAL}/{key}"


@dataclass(frozen=True)
class CacheLayout:
    """The paths of one local cache directory (names are not checked here: the store checks them)."""

    root: Path

    def blob(self, digest: str) -> Path:
        return self.root / blob_rel(digest)

    def entry(self, key: str) -> Path:
        return self.root / entry_rel(key)

    def response(self, key: str) -> Path:
        return self.root / response_rel(key)

    def partial(self, key: str) -> Path:
        return self.root / partial_rel(key)

    @property
    def partials(self) -> Path:
        return self.root / PARTIAL

    @property
    def quarantine(self) -> Path:
        return self.root / QUARANTINE

    @property
    def index(self) -> Path:
        return self.root / INDEX

    def last_build(self, workflow: str, stage: str) -> Path:
        return self.root / INDEX / workflow / f"{stage}.json"

    @property
    def verified_stats(self) -> Path:
        return self.root / INDEX / VERIFIED_STATS

    @property
    def stat_cache(self) -> Path:
        return self.root / INDEX / STAT_CACHE

    @property
    def analyses(self) -> Path:
        return self.root / INDEX / ANALYSIS

    def stamp(self, name: str) -> Path:
        return self.root / STAMPS / f"{name}.json"

    @property
    def pins(self) -> Path:
        return self.root / PINS

    @property
    def locks(self) -> Path:
        return self.root / LOCKS

    def key_lock(self, key: str) -> Path:
        return self.root / LOCKS / f"{key}.lock"

    @property
    def gc_guard(self) -> Path:
        return self.root / LOCKS / GC_GUARD
