"""ResponseCache over the Store's ``llm/`` area, remembering which responses a stage used."""

from __future__ import annotations

from typing import Any

from ddbuild.fingerprint import digest_json


class StoreResponseCache:
    """The engine's ResponseCache protocol (get/put) backed by ``store.get/put_response``."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.used: list[str] = []  # response keys served or stored, in first-use order
        self.digests: dict[str, str] = {}  # key -> digest of the response as used (cache verify checks it)
        self._seen: set[str] = set()
        self.hits = 0
        self.misses = 0

    def _note(self, key: str, response: dict[str, Any]) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.used.append(key)
            self.digests[key] = digest_json(response)

    def get(self, key: str) -> dict[str, Any] | None:
        response = self.store.get_response(key)
        if response is None:
            self.misses += 1
        else:
            self.hits += 1
            self._note(key, response)
        return response

    def put(self, key: str, response: dict[str, Any]) -> None:
        self.store.put_response(key, response)
        self._note(key, response)
