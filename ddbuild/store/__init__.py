"""The content-addressed cache: the Store protocol, its backends, layering, the layout and the entry format.

Importing this package is cheap: every name below is loaded on first use (no pyarrow, no HTTP
client, not even the backends), so the no-op fast path can read ``ddbuild.store.layout``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ddbuild.store.base import BlobState, Origin, Store
    from ddbuild.store.closure import ClosureCounts, copy_closure
    from ddbuild.store.entry import (
        FORMAT_VERSION,
        blob_digests,
        new_entry,
        response_keys,
        safe_join,
        safe_relpath,
        sign_entry,
        signing_key_from_env,
        validate_entry,
        verify_signature,
    )
    from ddbuild.store.fs import FileSystemStore
    from ddbuild.store.http import HttpStore
    from ddbuild.store.layered import LayeredStore
    from ddbuild.store.layout import CacheLayout
    from ddbuild.store.memory import MemoryStore
    from ddbuild.store.url import open_store

_EXPORTS: dict[str, str] = {
    "Store": "base", "BlobState": "base", "Origin": "base",
    "ClosureCounts": "closure", "copy_closure": "closure",
    **{name: "entry" for name in (
        "FORMAT_VERSION", "blob_digests", "new_entry", "response_keys", "safe_join", "safe_relpath",
        "sign_entry", "signing_key_from_env", "validate_entry", "verify_signature",
    )},
    "FileSystemStore": "fs",
    "HttpStore": "http",
    "LayeredStore": "layered",
    "CacheLayout": "layout",
    "MemoryStore": "memory",
    "open_store": "url",
}

__all__ = [
    "BlobState",
    "CacheLayout",
    "ClosureCounts",
    "FORMAT_VERSION",
    "FileSystemStore",
    "HttpStore",
    "LayeredStore",
    "MemoryStore",
    "Origin",
    "Store",
    "blob_digests",
    "copy_closure",
    "new_entry",
    "open_store",
    "response_keys",
    "safe_join",
    "safe_relpath",
    "sign_entry",
    "signing_key_from_env",
    "validate_entry",
    "verify_signature",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ddbuild.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ddbuild.store.{module}"), name)
    globals()[name] = value
    return value
