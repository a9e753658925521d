"""Model concurrency budgets shared by every stage run of a build, across threads and event loops.

Each stage run has its own asyncio loop (and, with ``max_parallel_stages > 1``, its own thread),
so an ``asyncio.Semaphore`` cannot be shared between two branches. A ``ModelLimits`` registry
holds one ``SharedLimit`` per model (endpoint URL + model id); every ChatClient that is given the
same registry draws slots from the same budget:

    branch b (loop 1) ──┐                       ┌── slot ──► POST
                        ├──► SharedLimit(url, model) ──┤
    branch c (loop 2) ──┘     in_flight <= limit  └── a queue per loop, loops served in turn

A released slot is handed straight to a waiter (no barging). Waiters queue per event loop (one
loop = one stage run) and loops take turns, so two saturated branches alternate and each gets
half of the budget however many rows one of them has queued. A waiter only takes a slot while the total in
flight is below *its own* ``max_parallel_requests``, so when two stages configure the same model
with different limits, neither limit is ever exceeded from that stage's point of view.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(eq=False)
class _Waiter:
    limit: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False  # set under the lock: the slot is this waiter's, even if it was cancelled


@dataclass(eq=False)
class SharedLimit:
    """At most ``limit`` holders at once across every thread and loop that uses this object."""

    in_flight: int = 0
    peak: int = 0  # highest in_flight seen (tests and benchmarks read it)
    # loop -> its waiters in arrival order; dict order is the turn order (served loop goes last)
    _queues: dict[asyncio.AbstractEventLoop, deque[_Waiter]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def acquire(self, limit: int) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._queues and self.in_flight < limit:
                self._take()
                return
            waiter = _Waiter(limit, loop, loop.create_future())
            self._queues.setdefault(loop, deque()).append(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if not waiter.granted:
                    self._drop(waiter)
                    raise
            self.release()  # granted while being cancelled: give the slot back
            raise

    def release(self) -> None:
        granted = []
        with self._lock:
            self.in_flight -= 1
            while (waiter := self._next()) is not None:
                waiter.granted = True
                self._take()
                granted.append(waiter)
        for waiter in granted:
            _wake(waiter)

    def _next(self) -> _Waiter | None:
        """The head waiter of the first loop in turn whose limit allows one more (under the lock)."""
        for loop, queue in self._queues.items():
            if self.in_flight < queue[0].limit:
                waiter = queue.popleft()
                del self._queues[loop]
                if queue:
                    self._queues[loop] = queue  # re-inserted: its next turn is after the others
                return waiter
        return None

    def _drop(self, waiter: _Waiter) -> None:
        queue = self._queues[waiter.loop]
        queue.remove(waiter)
        if not queue:
            del self._queues[waiter.loop]

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)


def _wake(waiter: _Waiter) -> None:
    try:
        same_loop = asyncio.get_running_loop() is waiter.loop
    except RuntimeError:
        same_loop = False
    if same_loop:
        _resolve(waiter.future)
    elif not waiter.loop.is_closed():
        waiter.loop.call_soon_threadsafe(_resolve, waiter.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled waiter returns the slot itself (see acquire)
        future.set_result(None)


class Slot:
    """``async with slot:`` holds one unit of a SharedLimit under a caller's own limit."""

    def __init__(self, shared: SharedLimit, limit: int) -> None:
        self.shared = shared
        self.limit = max(1, limit)

    async def __aenter__(self) -> None:
        await self.shared.acquire(self.limit)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shared.release()


class ModelLimits:
    """One SharedLimit per model key; pass the same registry to every client of a build."""

    def __init__(self) -> None:
        self._limits: dict[Hashable, SharedLimit] = {}
        self._lock = threading.Lock()

    def shared(self, key: Hashable) -> SharedLimit:
        with self._lock:
            return self._limits.setdefault(key, SharedLimit())

    def slot(self, key: Hashable, limit: int) -> Slot:
        return Slot(self.shared(key), limit)

    def peaks(self) -> dict[Hashable, int]:
        with self._lock:
            return {k: v.peak for k, v in self._limits.items()}
