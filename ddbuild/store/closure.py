"""Copying a target's closure between two stores: entries, their output blobs, their LLM responses.

Order per entry (so a reader of ``dst`` never sees an entry whose blobs are missing)::

    blobs (verified on the way)  ->  LLM responses (packed)  ->  entry (first writer wins)

An entry whose blobs are missing or corrupt in ``src`` is not copied; the counts say which.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddbuild.errors import IntegrityError
from ddbuild.store.base import Store
from ddbuild.store.entry import blob_digests, response_keys

log = logging.getLogger("ddbuild.store")

#: Decides whether an entry read from ``src`` may be copied (LayeredStore checks signatures).
Accept = Callable[[str, dict[str, Any]], bool]
#: Turns an entry into what is published in ``dst`` (LayeredStore signs entries it pushes).
Prepare = Callable[[dict[str, Any]], dict[str, Any]]
#: Turns an LLM response (request key, response) into what is published, or None to skip it.
PrepareResponse = Callable[[str, dict[str, Any]], "dict[str, Any] | None"]


@dataclass
class ClosureCounts:
    """What ``copy_closure`` did; lists name the keys/digests concerned."""

    entries_copied: int = 0
    entries_present: int = 0
    blobs_copied: int = 0
    blobs_present: int = 0
    bytes_copied: int = 0
    responses_copied: int = 0
    missing_entries: list[str] = field(default_factory=list)
    rejected_entries: list[str] = field(default_factory=list)
    missing_blobs: list[str] = field(default_factory=list)
    corrupt_blobs: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every requested entry is now in the destination."""
        return not (self.missing_entries or self.rejected_entries or self.missing_blobs or self.corrupt_blobs)


def copy_blob(src: Store, dst: Store, digest: str, scratch: Path) -> int | None:
    """Copy one blob; returns its size, or None when ``src`` lacks it. IntegrityError if corrupt."""
    if src.layout is not None:
        # A local directory: upload straight from the store file; ``put_blob`` hashes what it sends
        # and refuses bytes that fail the digest, which are then quarantined here (rebuilt next time).
        path = src.blob_path(digest)
        if not path.exists():
            return None
        try:
            dst.put_blob(digest, path)
        except IntegrityError as exc:
            src.quarantine(digest, f"refused while copying to {dst.location}: {exc.message}")
            raise
        return path.stat().st_size
    temp = scratch / digest
    try:
        if not src.get_blob(digest, temp):
            return None
        dst.put_blob(digest, temp)
        return temp.stat().st_size
    finally:
        temp.unlink(missing_ok=True)


def _copy_blobs(src: Store, dst: Store, digests: list[str], counts: ClosureCounts, workers: int) -> bool:
    todo = [d for d in digests if not dst.has_blob(d)]
    counts.blobs_present += len(digests) - len(todo)
    ok = True
    with tempfile.TemporaryDirectory(prefix="ddbuild-copy-") as scratch:

        def one(digest: str) -> tuple[str, int | None, Exception | None]:
            try:
                return digest, copy_blob(src, dst, digest, Path(scratch)), None
            except IntegrityError as exc:
                return digest, None, exc

        from concurrent.futures import ThreadPoolExecutor  # lazy: ~20 ms of imports

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1))) as pool:
            for digest, size, error in pool.map(one, todo):
                if error is not None:
                    log.warning("not copying blob %s from %s: %s", digest, src.location, error)
                    counts.corrupt_blobs.append(digest)
                    ok = False
                elif size is None:
                    counts.missing_blobs.append(digest)
                    ok = False
                else:
                    counts.blobs_copied += 1
                    counts.bytes_copied += size
    return ok


def copy_closure(
    src: Store,
    dst: Store,
    keys: Iterable[str],
    *,
    accept: Accept | None = None,
    prepare: Prepare | None = None,
    prepare_response: PrepareResponse | None = None,
    workers: int = 4,
) -> ClosureCounts:
    """Copy the entries ``keys`` with all their blobs and LLM responses from ``src`` to ``dst``."""
    counts = ClosureCounts()
    for key in dict.fromkeys(keys):
        entry = src.get_entry(key)
        if entry is None:
            counts.missing_entries.append(key)
            continue
        if accept is not None and not accept(key, entry):
            counts.rejected_entries.append(key)
            continue
        if not _copy_blobs(src, dst, blob_digests(entry), counts, workers):
            continue
        missing: dict[str, dict[str, Any]] = {}
        for response_key in response_keys(entry):
            if response_key not in missing and dst.get_response(response_key) is None:
                response = src.get_response(response_key)
                if response is not None and prepare_response is not None:
                    response = prepare_response(response_key, response)
                if response is not None:
                    missing[response_key] = response
        dst.put_responses(missing)  # packed: a few objects however many responses
        counts.responses_copied += len(missing)
        if dst.put_entry(key, prepare(entry) if prepare is not None else entry):
            counts.entries_copied += 1
        else:
            counts.entries_present += 1
    return counts
