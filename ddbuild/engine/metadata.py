"""metadata.json: the record of a dataset run, read back to resume it.

The record is rewritten (atomically, durably) after every durable batch. A batch listed in
``batches`` whose files all still hash to the digests recorded with it is complete; anything else
on disk (a leftover of a killed run, a file torn by a power cut or corrupted since) is regenerated.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ddbuild.config.run_config import RunConfig
from ddbuild.engine.layout import PARQUET_DIR, PROCESSORS_DIR, DatasetLayout
from ddbuild.engine.writer import write_json
from ddbuild.errors import ResumeError
from ddbuild.fingerprint import ENGINE_COMPAT_VERSION

log = logging.getLogger("ddbuild.engine")

FORMAT_VERSION = 1


@dataclass
class BatchRecord:
    target: int  # rows asked of this batch (its size in the batch plan)
    num_records: int  # rows written (target minus dropped rows)
    dropped_rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # relative to the dataset dir
    first_errors: dict[str, str] = field(default_factory=dict)  # reason -> first row's message
    # file -> xxh3_128 of its bytes, taken as it was written; a resumed run reuses the batch only
    # if every file still has these bytes (a torn or corrupt checkpoint is regenerated, not used).
    # Empty in records written before digests were recorded: such batches are regenerated.
    digests: dict[str, str] = field(default_factory=dict)

    def intact(self, root: Path) -> bool:
        """Every file of the batch exists and has the bytes recorded when it was written."""
        from ddbuild.fingerprint import digest_file

        for name in self.files:
            path = root / name
            if name not in self.digests or not path.is_file() or digest_file(path) != self.digests[name]:
                return False
        return True


def merge_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum numeric leaves of two nested dicts (LLM usage across a resumed run)."""
    out = dict(a)
    for key, value in b.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge_counts(old, value)
        elif isinstance(old, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = old + value
        else:
            out[key] = value
    return out


@dataclass
class RunRecord:
    config_digest: str
    target_num_records: int
    buffer_size: int
    preserve_dropped_columns: bool
    batches: dict[int, BatchRecord] = field(default_factory=dict)
    prior_llm_usage: dict[str, Any] = field(default_factory=dict)
    llm_usage: dict[str, Any] = field(default_factory=dict)
    # (path, document) this record last wrote: saving the same document again is skipped (it is
    # durable already; the end of a run re-saves what its last checkpoint wrote: two fsyncs)
    _saved: tuple[Path, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def start(cls, digest: str, num_records: int, run_config: RunConfig, prior: RunRecord | None) -> RunRecord:
        record = cls(digest, num_records, run_config.buffer_size, run_config.preserve_dropped_columns)
        if prior is not None:
            record.batches = dict(prior.batches)
            record.prior_llm_usage = merge_counts(prior.prior_llm_usage, prior.llm_usage)
        return record

    def reusable_batches(self, layout: DatasetLayout, sizes: Sequence[int]) -> set[int]:
        keep = set()
        for index, batch in sorted(self.batches.items()):
            if index >= len(sizes) or batch.target != sizes[index]:
                continue  # another batch plan (more records): regenerated silently
            if batch.intact(layout.root):
                keep.add(index)
            else:
                log.warning("checkpoint batch %d in %s is missing or no longer has the bytes recorded when it "
                            "was written; it is generated again", index, layout.root)
        return keep

    def stale_batches(self, layout: DatasetLayout, keep: set[int]) -> list[int]:
        on_disk = {int(p.stem.split("_")[1]) for p in layout.batch_files()}
        return sorted((set(self.batches) | on_disk) - keep)

    def forget(self, index: int) -> None:
        self.batches.pop(index, None)

    def batch_rows(self, index: int) -> int:
        return self.batches[index].num_records

    def complete(self, index: int, batch: BatchRecord, llm_usage: dict[str, Any]) -> None:
        self.batches[index] = batch
        self.llm_usage = llm_usage

    def note_usage(self, llm_usage: dict[str, Any]) -> None:
        """This run's LLM usage so far, for a batch that was not kept (its requests were paid for)."""
        self.llm_usage = llm_usage

    @property
    def dropped_rows(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for batch in self.batches.values():
            total.update(batch.dropped_rows)
        return dict(sorted(total.items()))

    @property
    def first_errors(self) -> dict[str, str]:
        """Per drop reason, the message of the first dropped row (lowest batch, then lowest row)."""
        first: dict[str, str] = {}
        for index in sorted(self.batches):
            for reason, message in self.batches[index].first_errors.items():
                first.setdefault(reason, message)
        return dict(sorted(first.items()))

    @property
    def total_llm_usage(self) -> dict[str, Any]:
        """LLM usage of the whole dataset: earlier (resumed-from) runs plus this one."""
        return merge_counts(self.prior_llm_usage, self.llm_usage)

    def file_paths(self, side_names: list[str]) -> dict[str, Any]:
        """The recorded batches' files by kind (the record lists every file it wrote: no disk scan)."""
        files = sorted(f for batch in self.batches.values() for f in batch.files)
        paths: dict[str, Any] = {"parquet-files": [f for f in files if f.startswith(f"{PARQUET_DIR}/")]}
        if side_names:
            paths["processor-files"] = {
                name: [f for f in files if f.startswith(f"{PROCESSORS_DIR}/{name}/")] for name in side_names
            }
        return paths

    @property
    def actual_num_records(self) -> int:
        return sum(b.num_records for b in self.batches.values())

    def to_json(self, side_names: list[str]) -> dict[str, Any]:
        order = sorted(self.batches)
        return {
            "format_version": FORMAT_VERSION,
            "engine_compat_version": ENGINE_COMPAT_VERSION,
            "config_digest": self.config_digest,
            "target_num_records": self.target_num_records,
            "actual_num_records": self.actual_num_records,
            "buffer_size": self.buffer_size,
            "total_num_batches": -(-self.target_num_records // self.buffer_size),
            "num_completed_batches": len(order),
            "completed_batches": order,
            "batches": {str(i): asdict(self.batches[i]) for i in order},
            "dropped_rows": self.dropped_rows,
            "first_errors": self.first_errors,
            "llm_usage": self.total_llm_usage,
            "preserve_dropped_columns": self.preserve_dropped_columns,
            "file_paths": self.file_paths(side_names),
        }

    def save(self, layout: DatasetLayout, side_names: list[str]) -> None:
        document = self.to_json(side_names)
        if self._saved == (layout.metadata, document):
            return
        write_json(layout.metadata, document)
        self._saved = (layout.metadata, document)


def read_record(path: Path) -> RunRecord | None:
    """The record in ``path``; None when there is none. Unreadable is a ResumeError."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise ResumeError(
                f"'{path}' has metadata format {data.get('format_version')!r}; this ddbuild reads {FORMAT_VERSION}.",
                hint="Run without resume to start fresh.",
            )
        batches = {int(k): BatchRecord(**v) for k, v in data.get("batches", {}).items()}
        return RunRecord(
            config_digest=data["config_digest"], target_num_records=data["target_num_records"],
            buffer_size=data["buffer_size"], preserve_dropped_columns=data["preserve_dropped_columns"],
            batches=batches, prior_llm_usage=data.get("llm_usage", {}),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ResumeError(f"Cannot resume: '{path}' is unreadable ({exc}).", hint="Run without resume.") from exc
