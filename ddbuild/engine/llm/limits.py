"""Per-model request admission: an adaptive (AIMD) in-flight limit shared by every stage run of a build.

Each stage run has its own asyncio loop (and, with ``max_parallel_stages > 1``, its own thread),
so an ``asyncio.Semaphore`` cannot be shared between two branches. A ``ModelLimits`` registry
holds one ``SharedLimit`` per model (endpoint URL + model id); every ChatClient that is given the
same registry draws from the same budget:

    branch b (loop 1) ──┐                                 ┌── admitted ──► POST ──► release(outcome)
                        ├──► SharedLimit(url, model) ─────┤
    branch c (loop 2) ──┘  in_flight < min(own cap, adaptive limit), not cooling down
                           a queue per loop, loops served in turn

Admission adapts (Data Designer's request admission, ``RunConfig.request_admission``): the adaptive
limit starts at the cap (``max_parallel_requests``), or at 1 ramping linearly to the cap over
``startup_ramp_seconds`` counted from the first request. A rate-limit outcome (429 / 503) or a
timeout multiplies it by ``multiplicative_decrease_factor`` (at least 1), once per burst: only an
attempt admitted under the current limit lowers it, so 40 requests refused together count as one
signal. A rate-limit outcome also stops admissions for a cooldown (the server's Retry-After, else
``cooldown_seconds``). Every ``successes_until_increase`` successes outside a cooldown add
``additive_increase_step``, up to the cap.

A released slot is handed straight to a waiter (no barging). Waiters queue per event loop (one
loop = one stage run) and loops take turns, so two saturated branches alternate and each gets
half of the budget however many rows one of them has queued. A waiter only takes a slot while the
total in flight is below *its own* ``max_parallel_requests``, so when two stages configure the
same model with different limits, neither limit is ever exceeded from that stage's point of view.
When admission is held by time (cooldown, ramp), a timer on each waiting loop re-checks it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType

from ddbuild.config.run_config import RequestAdmissionTuningConfig

MIN_LIMIT = 1


class Outcome(Enum):
    """What one admitted attempt tells the admission controller."""

    SUCCESS = "success"  # a 2xx reply: counts toward additive increase
    RATE_LIMITED = "rate_limited"  # 429 / 503: decrease, cooldown
    TIMEOUT = "timeout"  # no reply in time: decrease
    NEUTRAL = "neutral"  # anything else (4xx, 500, connection error): no signal


@dataclass(eq=False)
class _Waiter:
    limit: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False  # set under the lock: the slot is this waiter's, even if it was cancelled
    admitted_at: int = 0  # the adaptive limit when the slot was granted


@dataclass(eq=False)
class SharedLimit:
    """At most min(caller's cap, adaptive limit) holders at once across every thread and loop."""

    tuning: RequestAdmissionTuningConfig = field(default_factory=RequestAdmissionTuningConfig)
    in_flight: int = 0
    peak: int = 0  # highest in_flight seen (tests and benchmarks read it)
    cap: int = 0  # the highest max_parallel_requests a caller has asked for
    current: int = 0  # the adaptive limit (0 until the first caller sets the cap)
    blocked_until: float = 0.0  # monotonic time before which nothing is admitted (cooldown)
    decreases: int = 0  # how many times the adaptive limit went down (stats, tests)
    _streak: int = 0
    _ramp_started: float | None = None  # set while the startup ramp runs
    _ramp_pending: bool = False  # a ramp whose clock starts at the first request, not at registration
    # loop -> its waiters in arrival order; dict order is the turn order (served loop goes last)
    _queues: dict[asyncio.AbstractEventLoop, deque[_Waiter]] = field(default_factory=dict)
    _timers: dict[asyncio.AbstractEventLoop, float] = field(default_factory=dict)  # loop -> wake time
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, limit: int) -> None:
        """A caller with cap ``limit`` will use this model (sets the starting limit on first use)."""
        with self._lock:
            if self.current == 0:
                ramp = self.tuning.startup_ramp_seconds > 0 and limit > MIN_LIMIT
                self.current = MIN_LIMIT if ramp else limit
                self._ramp_pending = ramp  # seed reading and setup before the first request do not ramp
            elif self._ramp_started is None and self.current == self.cap and limit > self.cap:
                self.current = limit  # at full speed: a larger cap is full speed too
            self.cap = max(self.cap, limit)

    async def acquire(self, limit: int) -> int:
        """Wait for a slot under ``limit``; returns the adaptive limit it was admitted under."""
        loop = asyncio.get_running_loop()
        with self._lock:
            now = time.monotonic()
            if not self._queues and self._admits(limit, now):
                return self._take()
            waiter = _Waiter(limit, loop, loop.create_future())
            self._queues.setdefault(loop, deque()).append(waiter)
            self._arm_timers(now)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if not waiter.granted:
                    self._drop(waiter)
                    raise
            self.release()  # granted while being cancelled: give the slot back
            raise
        return waiter.admitted_at

    def try_acquire(self, limit: int) -> bool:
        """Take a slot under ``limit`` only if one is free now and nobody waits for one."""
        with self._lock:
            if not self._queues and self._admits(limit, time.monotonic()):
                self._take()
                return True
            return False

    def release(self, outcome: Outcome = Outcome.NEUTRAL, admitted_at: int = 0, cooldown: float = 0.0) -> None:
        """Give a slot back and tell the controller how the attempt went (``cooldown``: seconds to
        hold admissions after a rate limit)."""
        self._settle(1, outcome, admitted_at, cooldown)

    def learn(self, outcome: Outcome, admitted_at: int = 0, cooldown: float = 0.0) -> None:
        """Tell the controller how an attempt went whose slot stays held (handed on to the next
        request of the same holder: execution/ray_admission.py)."""
        self._settle(0, outcome, admitted_at, cooldown)

    def _settle(self, freed: int, outcome: Outcome, admitted_at: int, cooldown: float) -> None:
        with self._lock:
            now = time.monotonic()
            self.in_flight -= freed
            self._learn(outcome, admitted_at, cooldown, now)
            granted = self._grant(now)
            self._arm_timers(now)
        for waiter in granted:
            _wake(waiter)

    # -- the controller (all under the lock) ----------------------------------------------------
    def _learn(self, outcome: Outcome, admitted_at: int, cooldown: float, now: float) -> None:
        self._ramp(now)
        if outcome in (Outcome.RATE_LIMITED, Outcome.TIMEOUT):
            self._ramp_started = None  # a rate limit ends the startup ramp
            self._streak = 0
            if outcome is Outcome.RATE_LIMITED and cooldown > 0:
                self.blocked_until = max(self.blocked_until, now + cooldown)
            if admitted_at <= self.current:  # one decrease per burst of refusals
                lowered = max(MIN_LIMIT, math.floor(self.current * self.tuning.multiplicative_decrease_factor))
                self.decreases += lowered < self.current
                self.current = lowered
        elif outcome is Outcome.SUCCESS and self._ramp_started is None and now >= self.blocked_until:
            self._streak += 1
            if self._streak >= self.tuning.successes_until_increase:
                self._streak = 0
                self.current = min(self.cap, self.current + self.tuning.additive_increase_step)

    def _ramp(self, now: float) -> None:
        if self._ramp_started is None:
            return
        fraction = (now - self._ramp_started) / self.tuning.startup_ramp_seconds
        if fraction >= 1:
            self.current, self._ramp_started = self.cap, None
        else:
            self.current = min(self.cap, MIN_LIMIT + math.floor((self.cap - MIN_LIMIT) * fraction))

    def _admits(self, limit: int, now: float) -> bool:
        if self._ramp_pending:
            self._ramp_pending, self._ramp_started = False, now
        if now < self.blocked_until:
            return False
        self._ramp(now)
        return self.in_flight < min(limit, self.current)

    def _grant(self, now: float) -> list[_Waiter]:
        granted = []
        while (waiter := self._next(now)) is not None:
            waiter.granted = True
            waiter.admitted_at = self._take()
            granted.append(waiter)
        return granted

    def _next(self, now: float) -> _Waiter | None:
        """The head waiter of the first loop in turn whose limit allows one more."""
        for loop, queue in self._queues.items():
            if self._admits(queue[0].limit, now):
                waiter = queue.popleft()
                del self._queues[loop]
                if queue:
                    self._queues[loop] = queue  # re-inserted: its next turn is after the others
                return waiter
            if now < self.blocked_until:
                return None
        return None

    def _take(self) -> int:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self.current

    def _drop(self, waiter: _Waiter) -> None:
        queue = self._queues[waiter.loop]
        queue.remove(waiter)
        if not queue:
            del self._queues[waiter.loop]

    def _arm_timers(self, now: float) -> None:
        """Waiters held by time (cooldown, ramp) with no release to come: wake each loop later."""
        if not self._queues:
            return
        if now < self.blocked_until:
            at = self.blocked_until
        elif self._ramp_started is not None and self.in_flight >= self.current:
            step = self.tuning.startup_ramp_seconds / max(1, self.cap - MIN_LIMIT)
            at = now + step
        elif self.in_flight == 0:
            at = now  # nothing in flight to release: grant now (a limit may have been lowered)
        else:
            return  # a release will come and grant
        for loop in self._queues:
            if self._timers.get(loop, math.inf) <= at or loop.is_closed():
                continue
            self._timers[loop] = at
            loop.call_soon_threadsafe(_later, loop, max(0.0, at - now), self._pump)

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._timers.pop(loop, None)
            now = time.monotonic()
            granted = self._grant(now)
            self._arm_timers(now)
        for waiter in granted:
            _wake(waiter)


def _later(loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[], object]) -> None:
    loop.call_later(delay, callback)


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
    """``async with slot:`` holds one unit of a SharedLimit under a caller's own cap (no signal)."""

    def __init__(self, shared: SharedLimit, limit: int) -> None:
        self.shared = shared
        self.limit = max(MIN_LIMIT, limit)
        shared.register(self.limit)

    async def acquire(self) -> int:
        return await self.shared.acquire(self.limit)

    def release(self, outcome: Outcome = Outcome.NEUTRAL, admitted_at: int = 0, cooldown: float = 0.0) -> None:
        self.shared.release(outcome, admitted_at, cooldown)

    async def __aenter__(self) -> None:
        await self.shared.acquire(self.limit)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shared.release()


class ModelLimits:
    """One SharedLimit per model key; pass the same registry to every client of a build.

    ``tuning`` (``RunConfig.request_admission``; None: Data Designer's defaults) applies to every
    model of the registry."""

    def __init__(self, tuning: RequestAdmissionTuningConfig | None = None) -> None:
        self.tuning = tuning if tuning is not None else RequestAdmissionTuningConfig()
        self._limits: dict[Hashable, SharedLimit] = {}
        self._lock = threading.Lock()

    def shared(self, key: Hashable) -> SharedLimit:
        with self._lock:
            if key not in self._limits:
                self._limits[key] = SharedLimit(self.tuning)
            return self._limits[key]

    def slot(self, key: Hashable, limit: int) -> Slot:
        return Slot(self.shared(key), limit)

    def peaks(self) -> dict[Hashable, int]:
        with self._lock:
            return {k: v.peak for k, v in self._limits.items()}
