"""Where stage builds run: inline on the caller's thread (-j1) or on up to N worker threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ddbuild.workflow.events import Event, Reporter

Outcome = tuple[str, Any, BaseException | None]  # (stage, result, error)


class StagePool:
    """Runs stage jobs and hands back their outcomes one at a time, in completion order.

    With ``max_parallel == 1`` a job runs inline when submitted (the order, the thread, and
    Ctrl-C behave exactly as a sequential build). Otherwise each job gets a daemon thread (each
    stage run creates its own asyncio loop there); Ctrl-C interrupts the scheduling thread, the
    process exits, and the next build resumes from the batch checkpoints already written.
    """

    def __init__(self, max_parallel: int) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel_stages must be at least 1")
        self.max_parallel = max_parallel
        self.running: set[str] = set()
        self._done: queue.Queue[Outcome] = queue.Queue()

    @property
    def threaded(self) -> bool:
        return self.max_parallel > 1

    @property
    def has_room(self) -> bool:
        return len(self.running) < self.max_parallel

    def submit(self, name: str, job: Callable[[], Any]) -> None:
        self.running.add(name)
        if not self.threaded:
            self._done.put(_call(name, job, Exception))
            return
        thread = threading.Thread(
            target=lambda: self._done.put(_call(name, job, BaseException)), name=f"ddbuild-stage-{name}", daemon=True
        )
        thread.start()

    def wait(self) -> Outcome:
        """The next finished job (blocks; Ctrl-C still interrupts the waiting thread)."""
        outcome = self._done.get()
        self.running.discard(outcome[0])
        return outcome


def _call(name: str, job: Callable[[], Any], catch: type[BaseException]) -> Outcome:
    try:
        return name, job(), None
    except catch as error:  # handed to the scheduler, which records or re-raises it
        return name, None, error


class SerialReporter:
    """Forwards events from worker threads one at a time (reporters need not be thread-safe)."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.inner.emit(event)
