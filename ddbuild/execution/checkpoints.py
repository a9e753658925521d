"""One stage's batch checkpoints on the remote (multi-node Ray builds): kept, restored, dropped.

    worker, batch generated         its files -> checkpoints/<key>/<ab>/<digest>   (store/checkpoints.py)
    driver, after each durable batch
                                    checkpoints/<key>/record.json <- the local record's batches
                                    (a batch whose worker could not upload: the driver uploads it)
    driver, stage starts with no local checkpoints (another machine, a fresh cache)
                                    record.json -> each batch's files, verified, and metadata.json
                                    in partial/<key>/dataset/: the engine resumes from them as from
                                    its own checkpoints
    driver, entry published         the stage's checkpoints/<key>/ is deleted

The record lives under the stage key, which covers everything that decides a batch's bytes, so a
batch recorded there is the batch this build would generate. What is read back is untrusted: a
record that does not parse, a batch whose fields have the wrong shape or name a file other than
its own, a file that is missing, corrupt or not Parquet: that batch (or the whole record) is not
used, a warning says so, and it is generated again. Nothing read is executed or unpickled. The
remote is an optimisation: when it fails, a warning says so and the build goes on without it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.engine.layout import DROPPED_DIR, PARQUET_DIR, PROCESSORS_DIR, DatasetLayout
from ddbuild.engine.metadata import BatchRecord, RunRecord
from ddbuild.engine.writer import batch_file_name
from ddbuild.errors import StoreError
from ddbuild.fingerprint import is_digest
from ddbuild.store.checkpoints import RemoteCheckpoints

if TYPE_CHECKING:
    from ddbuild.config.run_config import RunConfig

log = logging.getLogger("ddbuild.ray")

FORMAT = 1
_FIELDS = ("target", "num_records", "dropped_rows", "first_errors", "digests")


class _Unusable(Exception):
    """Internal: why a recorded batch (or the whole record) is not used."""


@dataclass
class StageCheckpoints:
    """The checkpoints of the stage ``key`` on ``remote`` (see the module docstring)."""

    remote: RemoteCheckpoints
    key: str
    on_remote: set[int] = field(default_factory=set)  # batches whose files the remote holds
    digests: set[str] = field(default_factory=set)  # every file uploaded or restored (dropped at the end)
    restored: int = 0
    failed: str | None = None  # why the remote stopped being used for this stage

    @property
    def unverified(self) -> str | None:
        """The entry's mark when batches came from the remote (no signature covers a checkpoint)."""
        if not self.restored:
            return None
        return f"resumed from batch checkpoints on {self.remote.location}, which carry no signature"

    # -- driver: a stage that starts without local checkpoints --------------------------------
    def restore(self, dataset: Path, config_digest: str, num_records: int, run_config: RunConfig) -> int:
        """Lay the remote's completed batches out in ``dataset`` with a record the engine resumes
        from (``config_digest``: this build's, for the key's batches); how many were restored."""
        try:
            raw = self.remote.get_record(self.key)
        except StoreError as exc:  # IntegrityError (too large, too deep, not JSON) included
            self._warn(f"its batch checkpoints on {self.remote.location} cannot be read ({exc.message}); "
                       "the stage starts over")
            return 0
        if raw is None:
            return 0
        try:
            batches = _batches(raw, self.key)
        except _Unusable as exc:
            self._warn(f"its batch checkpoint record on {self.remote.location} is not usable ({exc}); "
                       "the stage starts over")
            return 0
        layout = DatasetLayout(dataset)
        kept: dict[int, BatchRecord] = {}
        for index, batch in sorted(batches.items()):
            problem = batch if isinstance(batch, str) else self._fetch(layout, index, batch)
            if problem is None and isinstance(batch, BatchRecord):
                kept[index] = batch
            else:
                self._warn(f"batch checkpoint {index} on {self.remote.location} {problem}; the batch is "
                           "generated again")
                layout.remove_batch(index, layout.side_names())
        if kept:
            usage = raw.get("llm_usage")
            record = RunRecord(config_digest, num_records, run_config.buffer_size, run_config.preserve_dropped_columns,
                               batches=kept, llm_usage=usage if isinstance(usage, dict) else {})
            record.save(layout, layout.side_names())
        self.on_remote.update(kept)
        self.restored = len(kept)
        return self.restored

    def _fetch(self, layout: DatasetLayout, index: int, batch: BatchRecord) -> str | None:
        from ddbuild.store.parquet import parquet_problem

        for rel, digest in batch.digests.items():
            dest = layout.root / rel
            try:
                if not self.remote.get_file(self.key, digest, dest):
                    return f"names {rel}, which the remote does not hold"
            except StoreError as exc:  # IntegrityError: the bytes are not the recorded ones
                return f"cannot be used ({exc.message})"
            problem = parquet_problem(dest)
            if problem is not None:
                return f"names {rel}, but {problem}"
            self.digests.add(digest)
        return None

    # -- driver: after each durable batch ------------------------------------------------------
    def uploaded(self, index: int, digests: list[str]) -> None:
        """The worker that generated batch ``index`` uploaded its files."""
        self.on_remote.add(index)
        self.digests.update(digests)

    def save(self, dataset: Path) -> None:
        """Copy the local record (just saved by the engine) to the remote, uploading first the
        files of any batch the remote does not hold yet."""
        if self.failed is not None:
            return
        layout = DatasetLayout(dataset)
        try:
            local = json.loads(layout.metadata.read_text(encoding="utf-8"))  # ours, written a moment ago
            batches = {}
            for name, batch in local["batches"].items():
                if int(name) not in self.on_remote:
                    for rel, digest in batch["digests"].items():
                        self.remote.put_file(self.key, layout.root / rel, digest)
                        self.digests.add(digest)
                    self.on_remote.add(int(name))
                batches[name] = {f: batch[f] for f in _FIELDS}
            self.remote.put_record(self.key, {"format": FORMAT, "key": self.key, "batches": batches,
                                              "llm_usage": local.get("llm_usage", {})})
        except (StoreError, OSError) as exc:  # IntegrityError is a StoreError
            self.failed = getattr(exc, "message", None) or str(exc)
            self._warn(f"its batch checkpoints cannot be written to {self.remote.location} ({self.failed}); "
                       "they stay on this machine only")

    # -- driver: the entry is published ----------------------------------------------------------
    def drop(self) -> None:
        try:
            self.remote.drop(self.key, sorted(self.digests))
        except StoreError as exc:
            self._warn(f"its batch checkpoints on {self.remote.location} could not be deleted ({exc.message}); "
                       f"they are no longer needed (checkpoints/{self.key}/)")

    def _warn(self, message: str) -> None:
        log.warning("stage key %s: %s", self.key, message)


def _batches(raw: Any, key: str) -> dict[int, BatchRecord | str]:
    """The record's batches, each checked for shape (what is wrong with it instead, as text);
    _Unusable says why the record as a whole is not used."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise _Unusable(f"not a format-{FORMAT} checkpoint record")
    if raw.get("key") != key:
        raise _Unusable(f"it is the record of stage key {str(raw.get('key'))[:40]!r}")
    batches = raw.get("batches")
    if not isinstance(batches, dict):
        raise _Unusable("it has no batches")
    found: dict[int, BatchRecord | str] = {}
    for name, batch in batches.items():
        if not (name.isdigit() and len(name) < 12):
            raise _Unusable(f"batch {name[:40]!r} is not a batch index")
        try:
            found[int(name)] = _batch(int(name), batch)
        except _Unusable as exc:
            found[int(name)] = f"is not usable ({exc})"
    return found


def _batch(index: int, raw: Any) -> BatchRecord:
    """One recorded batch as the engine's BatchRecord, once every field has the right shape."""
    if not isinstance(raw, dict) or set(raw) != set(_FIELDS):
        raise _Unusable(f"it does not have exactly the fields {', '.join(_FIELDS)}")
    counts = [raw["target"], raw["num_records"], *raw["dropped_rows"].values()] if isinstance(
        raw["dropped_rows"], dict) else None
    if counts is None or not all(type(n) is int and n >= 0 for n in counts):
        raise _Unusable("it has counts that are not non-negative integers")
    texts = raw["first_errors"]
    if not (isinstance(texts, dict) and all(isinstance(v, str) for v in texts.values())):
        raise _Unusable("it has first_errors that are not text")
    digests = raw["digests"]
    if not isinstance(digests, dict):  # empty: every row of the batch was dropped
        raise _Unusable("it has no file digests")
    for rel, digest in digests.items():
        if not (_own_file(rel, index) and isinstance(digest, str) and is_digest(digest)):
            raise _Unusable(f"it names {rel[:80]!r}, which is not one of its own files with a digest")
    return BatchRecord(raw["target"], raw["num_records"], dict(raw["dropped_rows"]), list(digests), dict(texts),
                       digests=dict(digests))


def _own_file(rel: str, index: int) -> bool:
    """``rel`` is a file batch ``index`` writes: parquet-files/, dropped-columns-parquet-files/ or
    processors-files/<name>/, then batch_<index>.parquet (never a path that climbs or is absolute)."""
    folder, _, name = rel.rpartition("/")
    if name != batch_file_name(index):
        return False
    if folder in (PARQUET_DIR, DROPPED_DIR):
        return True
    top, _, side = folder.partition("/")
    return (top == PROCESSORS_DIR and bool(side) and "/" not in side and "\\" not in side
            and side not in (".", "..") and not side.startswith(".") and "\x00" not in side)
