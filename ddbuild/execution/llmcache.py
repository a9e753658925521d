"""ResponseCache over the Store's ``llm/`` area, remembering which responses a stage used.

A cached response is checked by ``replies.response_problem``, the check a live reply passes
(a malformed one is a miss and is asked again). A response marked ``ddbuild_unverified`` (pulled
from a remote without an accepted signature) taints the stage: its entry is marked unverified and
is never signed (docs/sharing.md, "Trust").
"""

from __future__ import annotations

import logging
from typing import Any

from ddbuild.engine.llm.replies import response_problem
from ddbuild.store.base import Store
from ddbuild.store.entry import RESPONSE_UNVERIFIED, response_digest

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

    def _note(self, key: str, response: dict[str, Any]) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.used.append(key)
            self.digests[key] = response_digest(response)

    def get(self, key: str) -> dict[str, Any] | None:
        response = self.store.get_response(key) if self.read else None
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
        self.store.put_response(key, response)
        self._note(key, response)
