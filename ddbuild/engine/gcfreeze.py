"""The garbage collector while a batch's LLM rows are in flight: the heap that existed before is frozen.

A full (oldest-generation) collection walks every tracked object of the process: after pandas,
pyarrow, aiohttp and the config are loaded that is ~100k objects, and a stage of 1,000 LLM rows
triggered three of them, 60-85 ms each with the GIL held, during which no request was sent or
read (measured on the doc-qa benchmark: ~0.2 s of a 4 s build). ``frozen_heap()`` moves the
objects that exist when the rows start into the permanent generation (``gc.freeze``), so
collections during the rows only walk what the rows allocate; on leaving, the frozen objects
go back to the oldest generation (``gc.unfreeze``) and are collected as before.

Nothing else changes: the thresholds stay as they are and young garbage is collected as usual.
Cyclic garbage that reached the oldest generation waits: it is frozen with the heap at the next
batch's start, and between batches few allocations happen to trigger a full collection. So that it
cannot pile up over a long build, every ``FULL_COLLECTION_EVERY`` frozen periods without a full
collection of Python's own, leaving the last one runs ``gc.collect()`` (nothing is in flight then;
one full walk per ~16 batches instead of ~3 per batch). Nested and concurrent users (stages on
threads) share one freeze: the first to enter freezes, the last to leave unfreezes. A process that
froze objects itself (a pre-fork server) is left alone.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FULL_COLLECTION_EVERY = 16  # frozen periods between two full collections, at most

_lock = threading.Lock()
_holders = 0  # frozen_heap() blocks currently open (any thread)
_ours = False  # whether the freeze in place is ours to undo
_periods = 0  # frozen periods ended since the last full collection
_full_collections = 0  # gc.get_stats()[2]["collections"] when _periods was last reset


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the current heap for the duration of the block (see the module docstring)."""
    global _holders, _ours, _periods, _full_collections
    with _lock:
        if _holders == 0:
            _ours = gc.get_freeze_count() == 0  # someone else's freeze: not ours to undo
            if _ours:
                gc.freeze()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _ours:
                gc.unfreeze()
                _ours = False
                full = gc.get_stats()[2]["collections"]
                _periods = 1 if full != _full_collections else _periods + 1
                _full_collections = full
                if _periods >= FULL_COLLECTION_EVERY:
                    gc.collect()
                    _periods, _full_collections = 0, gc.get_stats()[2]["collections"]
