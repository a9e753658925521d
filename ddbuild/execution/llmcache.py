"""ResponseCache over the Store's ``llm/`` area, remembering which responses a stage used.

A cached response is checked by ``replies.response_problem``, the check a live reply passes
(a malformed one is a miss and is asked again). A response marked ``ddbuild_unverified`` (pulled
from a remote without an accepted signature) taints the stage: its entry is marked unverified and
is never signed (docs/sharing.md, "Trust").

Writes happen on writer threads: ``store.put_response`` makes each response durable (fsync of the
file and its directory, ~1 ms each here), which on the stage's event loop stalled every request in
flight (doc-qa at 64 in flight: 78 req/s). ``put`` hands the response to the writers and keeps it
in ``_pending`` so a ``get`` sees it at once; ``flush`` (before each batch checkpoint, engine) and
``close`` (end of the stage, before its entry is published) wait for the writers and raise their
first error, so nothing ever refers to a response that is not durable yet.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ddbuild.engine.llm.replies import response_problem
from ddbuild.store.base import Store
from ddbuild.store.entry import RESPONSE_UNVERIFIED, response_digest

log = logging.getLogger("ddbuild.store")

# Threads writing responses. fsync waits release the GIL, and concurrent fsyncs share journal
# commits: measured on this machine's disk, 1 thread ~1,000 durable writes/s, 8 ~2,100, 32 ~2,900.
WRITERS = 8


class StoreResponseCache:
    """The engine's ResponseCache protocol (get/put) backed by ``store.get/put_response``."""

    def __init__(self, store: Store, *, read: bool = True) -> None:
        self.store = store
        self.read = read  # False (resume=NEVER): every get is a miss, puts still store
        self.used: list[str] = []  # response keys served or stored, in first-use order
        self.digests: dict[str, str] = {}  # key -> digest of the response as used (cache verify checks it)
        self._seen: set[str] = set()
        self.hits = 0
        self.misses = 0
        #: Why this stage's output is not verified (an unverified response served), or None.
        self.unverified: str | None = None
        self._warned = False
        self._pending: dict[str, dict[str, Any]] = {}  # put, maybe not durable yet
        self._writes: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None

    def _note(self, key: str, response: dict[str, Any]) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.used.append(key)
            self.digests[key] = response_digest(response)

    def get(self, key: str) -> dict[str, Any] | None:
        response = self._pending.get(key) if self.read else None
        if response is None and self.read:
            response = self.store.get_response(key)
        if response is not None:
            problem = response_problem(response)
            if problem is not None:
                if not self._warned:
                    self._warned = True
                    log.warning("ignoring cached LLM response %s: %s (treated as a miss)", key, problem)
                response = None
        if response is None:
            self.misses += 1
            return None
        self.hits += 1
        self._note(key, response)
        marker = response.get(RESPONSE_UNVERIFIED)
        if marker and self.unverified is None:
            self.unverified = f"LLM response {key} {marker} without an accepted signature"
        return response

    def put(self, key: str, response: dict[str, Any]) -> None:
        self._note(key, response)
        self._pending[key] = response
        if self._pool is None:
            self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="ddbuild-llm-cache")
        self._writes.append(self._pool.submit(self.store.put_response, key, response))

    def flush(self) -> None:
        """Wait until every response put so far is durable; raise the first write error. The
        writer threads end here (the next put starts them again): nothing lingers after a batch."""
        writes, self._writes = self._writes, []
        errors = [error for error in (write.exception() for write in writes) if error is not None]
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if errors:
            raise errors[0]

    def close(self, *, raise_errors: bool = True) -> None:
        """``flush`` and stop the writer threads (``raise_errors=False``: while another error unwinds)."""
        try:
            self.flush()
        except Exception:
            if raise_errors:
                raise
            log.warning("an LLM response could not be stored while the stage was failing", exc_info=True)
