"""Request keys and the request-level LLM response cache (memory and directory backends).

    request_key = xxh3_128(canonical_json({   # fingerprint.digest_request: 1.0 is spelt 1
        scheme:  fingerprint.REQUEST_KEY_SCHEME, request_scheme: REQUEST_KEY_VERSION,
        model:   model id (not the alias, endpoint, provider name or API key),
        request: the body sent minus "model" — messages as rendered, temperature / top_p as drawn,
                 max_tokens, response_format (the JSON schema), extra_body fields (provider's, then
                 the model's),
        draw:    the draw index (the row index; see docs/models.md),
        seed:    the sampling seed (DataDesignerConfigBuilder(seed=…)) }))

Not in the key: endpoint URL, provider name, API key, extra_headers, max_parallel_requests,
timeout, retry settings (fingerprint.EXCLUDED_FIELDS) — they change how we ask, not the answer. They
are simply not in the body; the body itself enters whole (an ``extra_body`` key named ``timeout`` is
data).

Only successful responses are stored (the caller decides); errors, refusals, truncated replies and
invalid structured outputs never are. Entries are JSON, never pickle: the response object itself,
in the same layout and format as ``Store.put_response`` (so a ``DirectoryResponseCache`` over a
cache directory and the store see the same entries). A directory entry is written to a temp name
and renamed. Reading is bounded like every cache read (``ddbuild.bounds``: size and depth caps,
no symlink followed) and checked by ``replies.completion_problem``, the same check a live reply
passes; a corrupt entry, or one that is not a chat completion, reads as a miss (warned once).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any, Protocol

from ddbuild import atomic
from ddbuild.bounds import ObjectKind, limits_from_env, parse_json
from ddbuild.engine.llm.replies import completion_problem
from ddbuild.errors import IntegrityError
from ddbuild.fingerprint import REQUEST_KEY_SCHEME, digest_request, is_digest

REQUEST_KEY_VERSION = 1

log = logging.getLogger(__name__)


def request_key(model: str, request: dict[str, Any], draw: int, seed: int) -> str:
    """The cache key of one logical request (``request`` = body without ``model``)."""
    return digest_request(
        {
            "scheme": REQUEST_KEY_SCHEME,  # not HASH_SCHEME_VERSION: stage-key changes keep responses
            "request_scheme": REQUEST_KEY_VERSION,
            "model": model,
            "request": request,
            "draw": draw,
            "seed": seed,
        }
    )


class ResponseCache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, response: dict[str, Any]) -> None: ...


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

    def __len__(self) -> int:
        return len(self.entries)


class DirectoryResponseCache:
    """``<root>/llm/ab/<key>.json`` files, written atomically (temp + rename); JSON only.

    The workflow layer uses the Store (``ddbuild.execution.llmcache``); this class is for the engine
    on its own (``DataDesigner`` without a workflow, scripts, tests)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._warned = False

    def path_for(self, key: str) -> Path:
        if not is_digest(key):
            raise ValueError(f"not a request key: {key!r}")
        return self.root / "llm" / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path_for(key)
        limits = limits_from_env()
        limit = limits.bytes_for(ObjectKind.RESPONSE)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb", closefd=True) as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise OSError(f"{path} is not a regular file")
                data = handle.read(limit + 1)
            entry = parse_json(data, ObjectKind.RESPONSE, f"LLM cache entry {path}", limits)
        except FileNotFoundError:
            return None
        except (OSError, IntegrityError) as exc:
            self._warn(f"unreadable LLM cache entry {path} ({exc}); treating it as a miss")
            return None
        problem = completion_problem(entry)
        if problem is not None:
            self._warn(f"LLM cache entry {path} is not a chat completion ({problem}); treating it as a miss")
            return None
        return entry  # type: ignore[no-any-return]

    def put(self, key: str, response: dict[str, Any]) -> None:
        atomic.write_json(self.path_for(key), response, indent=None)

    def keys(self) -> list[str]:
        # is_digest: a write in flight is a ``.tmp-*-<key>.json`` beside the entries (ddbuild.atomic)
        return sorted(p.stem for p in (self.root / "llm").glob("*/*.json") if is_digest(p.stem))

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)

