"""Cluster-wide request admission of a Ray build: the Limiter actor, and the slots a batch leases from it.

    worker, one batch attempt                              Limiter actor, one per build
    LeasedSlots (one per model) ──── lease(want) ────────► SharedLimit per model (the engine's: the
      requests wait here         ◄── Grant(slots, quota) ── cap, the adaptive limit, cooldowns);
      a request's slot, once it is answered, goes to        the slots each batch attempt holds
      the next request waiting here (no round trip),
      or back to the actor ─── report(outcomes, returned) ──►

Asking the actor for each request put two actor messages on the path of every request (a freed
slot reached the next request only through the actor): ~0.25 s per batch of 600 requests at 16
in flight (bench_ray.py, one worker). A batch now leases slots and hands an answered request's
slot straight to its next waiting request; the actor is asked only when the batch needs more.

What holds:
- The cap: every request in flight holds a slot leased from the actor, which leases no more than
  the model's SharedLimit admits (``max_parallel_requests`` cluster-wide). Handing a slot on
  never adds one.
- A batch holds only slots in use: a slot is handed on only to a request already waiting; with
  none waiting it goes back at once, and so does a leased slot that finds no request waiting.
- Fair shares: a batch's quota is ceil(adaptive limit / batches holding or asking for slots of
  the model); a batch at its quota asks for no more, one above it returns slots as they free up.
  Quotas travel with the actor's answers; reports go out at least every ``REPORT_SECONDS`` while
  slots are handed on.
- Adaptive admission: every outcome reaches the actor's SharedLimit (batched in reports), so
  additive increase, multiplicative decrease and cooldowns are the local build's. A rate limit or
  timeout stops a batch from handing slots on until the actor has answered its report; during a
  cooldown the quota is 0, so every batch returns its slots as they free up.
- One model, different caps (two stages): only a batch whose cap is the model's highest hands
  slots on; a smaller cap is checked at the actor for each request.
- Dead workers: slots are leased under the batch attempt, whose worker owns an object the actor
  probes twice a second; when the worker is gone, its slots are taken back. A retry buries the
  earlier attempts of its batch at once; the end of a batch (worker, then driver) buries it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ddbuild import errors
from ddbuild.config.run_config import RequestAdmissionTuningConfig
from ddbuild.engine.llm.limits import MIN_LIMIT, Outcome, SharedLimit

REPORT_SECONDS = 0.02  # outcomes of slots handed on reach the actor at least this often
SIGNALS = (Outcome.RATE_LIMITED, Outcome.TIMEOUT)  # outcomes that may lower the limit or hold admissions

Lease = tuple[str, str]  # (batch token, attempt id)


@dataclass(frozen=True)
class Grant:
    """The actor's answer to a lease or a report."""

    slots: int  # slots newly leased to the batch (0 for a report)
    quota: int  # how many the batch may hold: above it, freed slots go back
    cap: int  # the highest max_parallel_requests asked for the model
    current: int  # the adaptive limit (what an attempt on a slot handed on was admitted under)
    seq: int  # the actor's answer counter: a batch keeps the newest quota


# ---- the worker's side

class ClusterLimits:
    """The engine's ModelLimits interface (``slot(key, limit)``) for one batch attempt, over the
    build's Limiter actor (see the module docstring); ``begin`` before the batch, ``end`` after."""

    def __init__(self, limiter: Any, token: str, tuning: RequestAdmissionTuningConfig) -> None:
        self.limiter = limiter
        self.token = token
        self.tuning = tuning
        self.attempt = uuid.uuid4().hex
        self.alive: Any = None
        self._slots: dict[tuple[str, int], LeasedSlots] = {}

    def begin(self) -> None:
        import ray

        self.alive = ray.put(None)  # owned by this worker: when the worker dies, fetching it fails
        ray.get(self.limiter.begin.remote(self.token, self.attempt, [self.alive]))

    def slot(self, key: Hashable, limit: int) -> LeasedSlots:
        limit = max(MIN_LIMIT, limit)
        name = repr(key)
        slots = self._slots.get((name, limit))
        if slots is None:
            slots = self._slots[(name, limit)] = LeasedSlots(self, name, limit)
        return slots

    def end(self) -> None:
        """The batch attempt is over (its event loop no longer runs): send the outcomes not yet
        reported, and have the actor take back whatever the attempt still holds."""
        for slots in self._slots.values():
            slots.close()
        self.limiter.end.remote(self.token, self.attempt)


class LeasedSlots:
    """One model's admission for one batch attempt: ``acquire`` / ``release`` like the engine's
    Slot, on the batch's event loop (see the module docstring for the rules)."""

    def __init__(self, owner: ClusterLimits, key: str, limit: int) -> None:
        self.owner, self.key, self.limit = owner, key, limit
        self.held = 0  # slots leased from the actor, each in use by a request
        self.waiters: deque[asyncio.Future[int]] = deque()
        self.asking = False  # a lease is on its way to the actor
        self.quota, self.cap, self.current, self.seq = limit, limit, limit, 0
        self.paused = 0  # reports with a rate limit or timeout the actor has not answered yet
        self.outcomes: list[tuple[str, int, float]] = []  # not reported yet
        self.returned = 0  # slots given back, not reported yet
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> int:
        """Wait for a slot; returns the adaptive limit it counts as admitted under."""
        self.loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = self.loop.create_future()
        self.waiters.append(future)
        self._ask()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted while being cancelled: hand it on or give it back
            elif future in self.waiters:
                self.waiters.remove(future)
            raise

    def release(self, outcome: Outcome = Outcome.NEUTRAL, admitted_at: int = 0, cooldown: float = 0.0) -> None:
        self.outcomes.append((outcome.value, admitted_at, cooldown))
        signal = outcome in SIGNALS
        if not signal and self._may_hand_on():
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set_result(self.current)
                self._report_soon()
                return
        self.held -= 1
        self.returned += 1
        self._report(pause=signal)
        self._ask()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()

    def close(self) -> None:
        """Send what is not reported yet, without waiting for the answer (the loop has stopped)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.outcomes or self.returned:
            owner = self.owner
            owner.limiter.report.remote(self.key, owner.token, owner.attempt, self.outcomes, self.returned)
            self.outcomes, self.returned = [], 0

    # -- on the batch's loop -------------------------------------------------------------------
    def _may_hand_on(self) -> bool:
        return not self.paused and self.limit >= self.cap and self.held <= self.quota

    def _next_waiter(self) -> asyncio.Future[int] | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():  # a cancelled request leaves its future behind
                return waiter
        return None

    def _ask(self) -> None:
        """One lease on its way at a time, while requests wait and the batch is under its quota
        (holding nothing, it may always ask: the actor holds the lease through a cooldown)."""
        if self.asking or not self.waiters or (self.held and self.held >= min(self.quota, self.limit)):
            return
        self.asking = True
        owner = self.owner
        ref = owner.limiter.lease.remote(self.key, self.limit, owner.tuning, owner.token, owner.attempt,
                                         len(self.waiters))
        _on_answer(ref, self.loop, self._granted)

    def _granted(self, answer: concurrent.futures.Future[Grant]) -> None:
        self.asking = False
        try:
            grant = answer.result()
        except Exception as exc:  # noqa: BLE001 - the actor is gone: the waiting requests fail with it
            while (waiter := self._next_waiter()) is not None:
                waiter.set_exception(exc)
            return
        self._adopt(grant)
        if not grant.slots:  # the attempt was buried (another attempt has its batch): nothing will come
            error = errors.GenerationError(f"the request slots of {self.owner.token} were taken back by the "
                                           "cluster's limiter: another attempt of the batch runs")
            while (waiter := self._next_waiter()) is not None:
                waiter.set_exception(error)
            return
        self.held += grant.slots
        for _ in range(grant.slots):
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set_result(grant.current)
            else:  # answered by slots handed on meanwhile: not kept idle
                self.held -= 1
                self.returned += 1
        if self.returned:
            self._report()
        self._ask()

    def _report_soon(self) -> None:
        if self.timer is None and self.loop is not None:
            self.timer = self.loop.call_later(REPORT_SECONDS, self._report)

    def _report(self, pause: bool = False) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.outcomes and not self.returned:
            return
        owner = self.owner
        ref = owner.limiter.report.remote(self.key, owner.token, owner.attempt, self.outcomes, self.returned)
        self.outcomes, self.returned = [], 0
        self.paused += pause
        _on_answer(ref, self.loop, lambda answer: self._answered(answer, pause))

    def _answered(self, answer: concurrent.futures.Future[Grant], pause: bool) -> None:
        self.paused -= pause
        try:
            self._adopt(answer.result())
        except Exception:  # noqa: BLE001 - the actor is gone: the next lease says so
            return
        self._ask()

    def _adopt(self, grant: Grant) -> None:
        if grant.seq > self.seq:
            self.seq, self.quota, self.cap, self.current = grant.seq, grant.quota, grant.cap, grant.current


def _on_answer(ref: Any, loop: asyncio.AbstractEventLoop | None,
               callback: Callable[[concurrent.futures.Future[Any]], None]) -> None:
    """Run ``callback(answer)`` on ``loop`` when the actor has answered (nothing waits for it)."""

    def arrived(answer: concurrent.futures.Future[Any]) -> None:
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(callback, answer)
        except RuntimeError:
            pass  # the batch's loop is closed: the actor takes back what the attempt holds at its end

    ref.future().add_done_callback(arrived)


# ---- the actor

class Limiter:
    """The actor behind ClusterLimits (an async Ray actor): one engine ``SharedLimit`` per model,
    and the slots each batch attempt holds (see the module docstring).

    A worker killed mid-batch never gives back what it holds. So every attempt registers an object
    its worker owns; twice a second the actor fetches those objects, and an attempt whose object
    is lost (its worker died) is buried: its slots are released, and a lease of it still queued
    here is released as soon as it is admitted. A retry of the same batch buries earlier attempts
    at once.
    """

    PROBE_SECONDS = 0.5

    def __init__(self) -> None:
        self.shared: dict[str, SharedLimit] = {}
        self.held: dict[Lease, Counter[str]] = {}  # attempt -> model key -> slots it holds
        self.asking: dict[Lease, Counter[str]] = {}  # attempt -> model key -> its leases waiting here
        self.alive: dict[Lease, Any] = {}  # attempt -> an object its worker owns
        self.dead: set[Lease] = set()
        self.seq = 0
        self._reaper: asyncio.Task[None] | None = None

    def _bury(self, lease: Lease) -> None:
        self.dead.add(lease)
        self.alive.pop(lease, None)
        for key, count in self.held.pop(lease, Counter()).items():
            for _ in range(count):
                self.shared[key].release()

    def _bury_token(self, token: str) -> None:
        for lease in [lease for lease in {*self.held, *self.alive} if lease[0] == token]:
            self._bury(lease)

    async def begin(self, token: str, attempt: str, alive: list[Any]) -> None:
        """A batch attempt starts: earlier attempts of the same batch are dead."""
        self._bury_token(token)
        self.alive[(token, attempt)] = alive[0]
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while self.alive:
            await asyncio.sleep(self.PROBE_SECONDS)
            for lease, probe in list(self.alive.items()):
                try:
                    await asyncio.wait_for(asyncio.ensure_future(probe), 10)
                except asyncio.TimeoutError:
                    continue  # slow to answer is not dead
                except Exception:  # noqa: BLE001 - OwnerDiedError & co: the worker is gone
                    self._bury(lease)

    async def lease(self, key: str, limit: int, tuning: RequestAdmissionTuningConfig, token: str,
                    attempt: str, want: int) -> Grant:
        """Wait until the model admits one more request under ``limit``; lease that slot and as
        many more as are free now, up to ``want`` and the attempt's quota."""
        shared = self.shared.get(key)
        if shared is None:
            shared = self.shared[key] = SharedLimit(tuning)
        shared.register(limit)
        lease = (token, attempt)
        asking = self.asking.setdefault(lease, Counter())
        asking[key] += 1
        try:
            await shared.acquire(limit)
        finally:
            asking[key] -= 1
            if not +asking:
                self.asking.pop(lease, None)
        if lease in self.dead:
            shared.release()  # its worker is gone (or its batch is over): nobody else would give it back
            return self._answer(key, lease, 0)
        held = self.held.setdefault(lease, Counter())
        quota = self._answer(key, lease, 0).quota
        slots = 1
        while slots < want and held[key] + slots < quota and shared.try_acquire(limit):
            slots += 1
        held[key] += slots
        return self._answer(key, lease, slots)

    async def report(self, key: str, token: str, attempt: str, outcomes: list[tuple[str, int, float]],
                     returned: int) -> Grant:
        """Outcomes of the attempt's requests; ``returned`` slots it gives back."""
        shared = self.shared[key]
        for outcome, admitted_at, cooldown in outcomes:
            shared.learn(Outcome(outcome), admitted_at, cooldown)
        lease = (token, attempt)
        held = self.held.get(lease)
        if held is not None:  # else buried: its slots were taken back already
            count = min(returned, held[key])
            held[key] -= count
            for _ in range(count):
                shared.release()
        return self._answer(key, lease, 0)

    def _answer(self, key: str, lease: Lease, slots: int) -> Grant:
        """A grant of ``slots`` to ``lease`` with the model's quota per attempt: the adaptive limit
        shared by the attempts holding or asking for its slots, ``lease`` among them."""
        shared = self.shared[key]
        active = {other for other, held in self.held.items() if held[key] > 0}
        active |= {other for other, asking in self.asking.items() if asking[key] > 0 and other not in self.dead}
        active.add(lease)
        if time.monotonic() < shared.blocked_until:
            quota = 0  # a cooldown: every attempt gives its slots back as they free up
        else:
            quota = max(MIN_LIMIT, math.ceil(shared.current / len(active)))
        self.seq += 1
        return Grant(slots, quota, shared.cap, shared.current, self.seq)

    async def end(self, token: str, attempt: str) -> None:
        """The attempt's batch is over (its worker says so): take back anything it still holds."""
        self._bury((token, attempt))

    async def finish(self, token: str) -> None:
        """The batch is settled (the driver says so): release anything its attempts still hold."""
        self._bury_token(token)

    def peaks(self) -> dict[str, int]:
        return {key: shared.peak for key, shared in self.shared.items()}
