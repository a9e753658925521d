"""ResponseCache over the Store's ``llm/`` area, remembering which responses a stage used.

A cached response is checked by ``replies.response_problem``, the check a live reply passes
(a malformed one is a miss and is asked again). A response marked ``ddbuild_unverified`` (pulled
from a remote without an accepted signature) taints the stage: its entry is marked unverified and
is never signed (docs/sharing.md, "Trust").

Writes are packed (``store/packs.py``): ``put`` appends the response to the stage's journal (one
``write``, no fsync: it survives a killed process, so a retried batch re-sends only what was in
flight) and keeps it in ``_pending`` so a ``get`` sees it at once; ``flush`` (before each batch
checkpoint, engine) and ``close`` (end of the stage, before its entry is published) store the
pending responses as one durable pack and drop the journal, so nothing ever refers to a response
that is not durable yet. One fsync'd write per batch instead of one per response: per-response
fsyncs (~1 ms each here) were the engine's throughput ceiling, and on an object store a PUT each.
"""

from __future__ import annotations

import logging
from typing import Any

from ddbuild.engine.llm.replies import response_problem
from ddbuild.store.base import Store
from ddbuild.store.entry import RESPONSE_UNVERIFIED, response_digest
from ddbuild.store.packs import ResponseJournal

log = logging.getLogger("ddbuild.store")


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
        self._pending: dict[str, dict[str, Any]] = {}  # put, journaled, not packed yet
        self._journal: ResponseJournal | None = None
        self._journal_opened = False

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
        if not self._journal_opened:
            self._journal_opened = True
            self._journal = self.store.open_journal()
        if self._journal is not None:
            self._journal.append(key, response)

    def flush(self) -> None:
        """Store every response put so far as one durable pack, then drop the journal."""
        if not self._pending:
            return
        self.store.put_responses(self._pending)
        self._pending = {}
        if self._journal is not None:
            self._journal.clear()

    def close(self, *, raise_errors: bool = True) -> None:
        """``flush`` at the end of the stage (``raise_errors=False``: while another error unwinds)."""
        try:
            self.flush()
        except Exception:
            if raise_errors:
                raise
            log.warning("an LLM response could not be stored while the stage was failing", exc_info=True)
