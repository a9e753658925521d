"""HTTP sessions (an event loop and its open transport) kept between the LLM stage runs of one build.

Every stage run with LLM columns needs an asyncio event loop and an HTTP transport bound to it
(engine/dataset.py). Made afresh for each run, every stage of a chain opened its connections
again: 64 at once took ~65 ms of wall before the stage's first reply on loopback (a TLS
handshake each on a real endpoint), and cost the server a connection each. A ``SessionPool``
(one per build, ``Workflow.run``) lends a stage run an idle session and takes it back at the
end of the run with its connections open; the build closes them when it ends. A Ray worker
process keeps one for the batches it runs one after the other (execution/ray_worker.py).

A session idle for longer than ``IDLE_SECONDS`` is closed instead of lent: servers close
keep-alive connections they have not seen used for a while (uvicorn after 5 s), and a POST sent
on a connection the server has just closed fails without being retried by aiohttp, so only
sessions used moments ago are lent (within a stage, connections are busy). A session serves one
stage run at a time, on any thread (a loop that is not running is bound to no thread), and only
runs that ended normally give theirs back: after an error or Ctrl-C it is closed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ddbuild.engine.llm.transport import AiohttpTransport, Response

IDLE_SECONDS = 2.0  # a session idle for longer is closed, not lent


@dataclass(eq=False)
class Session:
    """An event loop and the HTTP transport bound to it (opened on its first request)."""

    loop: asyncio.AbstractEventLoop
    transport: AiohttpTransport
    max_connections: int
    idle_since: float = 0.0


class Borrowed:
    """A lent session's transport as a run's ``ChatTransport``: closing it is the pool's business."""

    def __init__(self, transport: AiohttpTransport) -> None:
        self._transport = transport

    async def post(
        self, url: str, headers: Mapping[str, str], json_body: dict[str, Any], timeout: float | None
    ) -> Response:
        return await self._transport.post(url, headers, json_body, timeout)

    async def aclose(self) -> None:
        return None  # the connections stay open for the next stage run; SessionPool.close closes them


class SessionPool:
    """Idle sessions of one build; ``lend`` one to a stage run, ``give_back`` it, ``close`` at the end."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: list[Session] = []
        self._closed = False

    def lend(self, max_connections: int) -> Session:
        """An idle session with this connection limit used less than ``IDLE_SECONDS`` ago, else a new one."""
        lent: Session | None = None
        stale: list[Session] = []
        with self._lock:
            now = self._clock()
            for session in list(self._idle):
                if now - session.idle_since > IDLE_SECONDS:
                    self._idle.remove(session)
                    stale.append(session)
                elif lent is None and session.max_connections == max_connections:
                    self._idle.remove(session)
                    lent = session
        for session in stale:
            close_session(session)
        if lent is None:
            lent = Session(asyncio.new_event_loop(), AiohttpTransport(max_connections), max_connections)
        return lent

    def give_back(self, session: Session, *, reusable: bool) -> None:
        """End a stage run's loan: kept for the next run when ``reusable`` (the run ended normally)."""
        with self._lock:
            if reusable and not self._closed and not session.loop.is_closed():
                session.idle_since = self._clock()
                self._idle.append(session)
                return
        close_session(session)

    def idle(self) -> int:
        """How many sessions wait to be lent (tests)."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Close the idle sessions; a session still lent is closed when it is given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for session in idle:
            close_session(session)


def close_session(session: Session) -> None:
    """Close the transport's connections on its loop, then the loop."""
    try:
        if not session.loop.is_closed():
            session.loop.run_until_complete(session.transport.aclose())
    finally:
        session.loop.close()
