"""The garbage collector while a batch's LLM rows are in flight: the heap that existed before is frozen.

A full (oldest-generation) collection walks every tracked object of the process: after pandas,
pyarrow, aiohttp and the config are loaded that is ~100k objects, and a stage of 1,000 LLM rows
triggered three of them, 60-85 ms each with the GIL held, during which no request was sent or
read (measured on the doc-qa benchmark: ~0.2 s of a 4 s build). ``frozen_heap()`` moves the
objects that exist when the rows start into the permanent generation (``gc.freeze``), so
collections during the rows only walk what the rows allocate; on leaving, the frozen objects
go back to the oldest generation (``gc.unfreeze``) and are collected as before.

Nothing else changes: the thresholds stay as they are, garbage made while frozen is collected
normally, and cyclic garbage that existed before is collected after (it waits, it does not leak).
Nested and concurrent users (stages on threads) share one freeze: the first to enter freezes, the
last to leave unfreezes. A process that froze objects itself (a pre-fork server) is left alone.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # frozen_heap() blocks currently open (any thread)
_ours = False  # whether the freeze in place is ours to undo


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the current heap for the duration of the block (see the module docstring)."""
    global _holders, _ours
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
