"""Request keys and the engine's LLM response-cache protocol (with an in-memory cache).

    request_key = xxh3_128(canonical_json({   # fingerprint.digest_request: 1.0 is spelt 1
        scheme:  fingerprint.REQUEST_KEY_SCHEME, request_scheme: REQUEST_KEY_VERSION,
        model:   model id (not the alias, endpoint, provider name or API key),
        request: the body sent minus "model" — messages as rendered, temperature / top_p as drawn,
                 max_tokens, response_format (the JSON schema), extra_body fields (provider's, then
                 the model's),
        draw:    the row's identity (see docs/models.md): "<content hash>.<occurrence>" for a
                 seeded row (ddbuild.engine.rowid), the row index (an int) for an unseeded one,
        seed:    the sampling seed (DataDesignerConfigBuilder(seed=…)),
        restart: the conversation restart number, only when > 0 }))

One key per attempt of a conversation: a correction turn's request holds the conversation so far
(the failed reply and the parse error), so its key differs from the first turn's.

Not in the key: endpoint URL, provider name, API key, extra_headers, max_parallel_requests,
timeout, retry settings (fingerprint.EXCLUDED_FIELDS) — they change how we ask, not the answer. They
are simply not in the body; the body itself enters whole (an ``extra_body`` key named ``timeout`` is
data).

Only usable responses are stored (the caller decides): errors, refusals and truncated replies
never are; a reply that fails to parse is (its correction turn is the next key), so a rebuild
replays a whole conversation without sending anything. Responses are JSON, never pickle. The persistent cache is the
Store's ``llm/`` area (``ddbuild.execution.llmcache.StoreResponseCache``, which checks a cached
response with ``replies.completion_problem`` like a live reply); the engine knows no cache layout.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from ddbuild.fingerprint import REQUEST_KEY_SCHEME, digest_request

REQUEST_KEY_VERSION = 1
# Still 1 after row identities (ENGINE_COMPAT_VERSION 2): the recipe is unchanged, only the draw of a
# seeded row is now a string, which no key of an older run holds. Unseeded rows keep their int draw,
# so their cached responses still hit; a seeded row's old entries are never read again (never wrong).

log = logging.getLogger(__name__)


def request_key(model: str, request: dict[str, Any], draw: int | str, seed: int, *, restart: int = 0) -> str:
    """The cache key of one logical request (``request`` = body without ``model``). ``restart``:
    which fresh conversation of a cell this is (its first request is otherwise the same as the
    first conversation's); 0 stays out of the key, so keys made before restarts ran still hit."""
    what: dict[str, Any] = {
        "scheme": REQUEST_KEY_SCHEME,  # not HASH_SCHEME_VERSION: stage-key changes keep responses
        "request_scheme": REQUEST_KEY_VERSION,
        "model": model,
        "request": request,
        "draw": draw,
        "seed": seed,
    }
    if restart:
        what["restart"] = restart
    return digest_request(what)


class ResponseCache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, response: dict[str, Any]) -> None:
        """Store ``response``; it may become durable later (at ``flush``), but ``get`` sees it now."""
        ...

    def flush(self) -> None:
        """Make every ``put`` so far durable; the engine calls it before checkpointing a batch."""
        ...


class MemoryResponseCache:
    """Responses in a dict; for tests and for runs that must not persist anything."""

    def __init__(self) -> None:
        # Stored as JSON text: what comes back is exactly what a directory cache would give back.
        self.entries: dict[str, str] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        return json.loads(entry) if entry is not None else None

    def put(self, key: str, response: dict[str, Any]) -> None:
        self.entries[key] = json.dumps(response, ensure_ascii=False)

    def flush(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self.entries)
