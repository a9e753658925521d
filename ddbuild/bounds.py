"""Bounds on everything read from a cache: size per object kind, JSON depth, time per transfer.

A cache (above all a teammate's remote) is untrusted input. Every object is read with a size cap
before it is parsed, JSON is parsed with a depth cap, and a network transfer has one deadline for
the whole object (not a timeout per read, which a server dribbling one byte every few seconds
never trips). Exceeding a bound raises ``IntegrityError``: the object is a miss, reported once.

Defaults, each overridable by an environment variable (docs/sharing.md):

    entry      DDBUILD_MAX_ENTRY_BYTES       16 MiB   action entries (actions/ab/<key>.json)
    response   DDBUILD_MAX_RESPONSE_BYTES    16 MiB   one LLM response (llm/ab/<key>.json, a journal line)
    pack       DDBUILD_MAX_PACK_BYTES       256 MiB   a pack of LLM responses (llm-packs/ab/<pack>.json)
    listing    DDBUILD_MAX_LISTING_BYTES     64 MiB   a directory index served by an HTTP remote
    blob       DDBUILD_MAX_BLOB_BYTES        64 GiB   output blobs (Parquet files)
    depth      DDBUILD_MAX_JSON_DEPTH        64       nesting of objects/arrays in any JSON read
    transfer   DDBUILD_TRANSFER_TIMEOUT      600 s    one whole HTTP transfer (request to last byte, retries included)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ddbuild.errors import ConfigError, IntegrityError


class ObjectKind(str, Enum):
    """The kinds of object a cache holds, each with its own size limit."""

    ENTRY = "entry"
    RESPONSE = "response"
    PACK = "pack"
    LISTING = "listing"
    BLOB = "blob"


_ENV = {
    ObjectKind.ENTRY: "DDBUILD_MAX_ENTRY_BYTES",
    ObjectKind.RESPONSE: "DDBUILD_MAX_RESPONSE_BYTES",
    ObjectKind.PACK: "DDBUILD_MAX_PACK_BYTES",
    ObjectKind.LISTING: "DDBUILD_MAX_LISTING_BYTES",
    ObjectKind.BLOB: "DDBUILD_MAX_BLOB_BYTES",
}
DEPTH_ENV = "DDBUILD_MAX_JSON_DEPTH"
TRANSFER_ENV = "DDBUILD_TRANSFER_TIMEOUT"
_MIB = 1024 * 1024
_DEFAULT_BYTES = {
    ObjectKind.ENTRY: 16 * _MIB,
    ObjectKind.RESPONSE: 16 * _MIB,
    ObjectKind.PACK: 256 * _MIB,
    ObjectKind.LISTING: 64 * _MIB,
    ObjectKind.BLOB: 64 * 1024 * _MIB,
}


@dataclass(frozen=True)
class Limits:
    """Size caps per object kind (bytes), the JSON depth cap and the per-transfer deadline (s)."""

    max_bytes: Mapping[ObjectKind, int]
    json_depth: int = 64
    transfer_seconds: float = 600.0

    def bytes_for(self, kind: ObjectKind) -> int:
        return self.max_bytes[kind]


def _positive(environ: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name}={text!r}: expected a positive {kind.__name__}.")
    return value


def limits_from_env(environ: Mapping[str, str] | None = None) -> Limits:
    """The limits in force: the defaults above, overridden by the DDBUILD_MAX_* variables."""
    env = os.environ if environ is None else environ
    return Limits(
        max_bytes={kind: _positive(env, _ENV[kind], _DEFAULT_BYTES[kind], int) for kind in ObjectKind},
        json_depth=_positive(env, DEPTH_ENV, 64, int),
        transfer_seconds=_positive(env, TRANSFER_ENV, 600.0, float),
    )


def too_large(kind: ObjectKind, what: str, size: int | None, limit: int) -> IntegrityError:
    got = f"{size} bytes" if size is not None else "more bytes"
    return IntegrityError(
        f"{what} is {got}, over the {limit}-byte limit for a cache {kind.value}.",
        hint=f"It was not used. Raise {_ENV[kind]} if such objects are expected.",
    )


def check_size(kind: ObjectKind, what: str, size: int | None, limits: Limits | None = None) -> None:
    """IntegrityError when ``size`` (None: unknown but over) exceeds the limit for ``kind``."""
    limit = (limits or limits_from_env()).bytes_for(kind)
    if size is None or size > limit:
        raise too_large(kind, what, size, limit)


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (a hostile document cannot exhaust the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        items: Iterable[Any]
        if isinstance(item, dict):
            items = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in items if isinstance(child, (dict, list)))
    return deepest


def parse_json(data: bytes, kind: ObjectKind, what: str, limits: Limits | None = None, *, extra_depth: int = 0) -> Any:
    """Parse untrusted JSON with the size and depth caps for ``kind``; IntegrityError otherwise.

    ``extra_depth``: levels of wrapping around the documents the depth cap is about (a pack holds
    responses two levels down), allowed on top of the cap.
    """
    limits = limits or limits_from_env()
    check_size(kind, what, len(data), limits)
    try:
        value = json.loads(data)
    except RecursionError:
        value = None
        depth = None
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{what} is not valid JSON: {exc}.", hint="It was not used (a cache miss).") from None
    else:
        depth = json_depth(value)
    if depth is None or depth > limits.json_depth + extra_depth:
        shown = "deeper than the parser allows" if depth is None else f"nested {depth} levels deep"
        raise IntegrityError(
            f"{what} is {shown}; the limit is {limits.json_depth}.",
            hint=f"It was not used (a cache miss). Raise {DEPTH_ENV} if such documents are expected.",
        )
    return value
