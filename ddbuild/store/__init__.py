"""The content-addressed cache: the Store protocol, its backends, layering and the entry format.

Importing this package is cheap (no pyarrow, no HTTP client); backends load what they need.
"""

from ddbuild.store.base import Store
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
from ddbuild.store.fs import BlobState, FileSystemStore
from ddbuild.store.layered import LayeredStore, Origin
from ddbuild.store.memory import MemoryStore
from ddbuild.store.url import open_store

__all__ = [
    "FORMAT_VERSION",
    "BlobState",
    "ClosureCounts",
    "FileSystemStore",
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
    # HttpStore is loaded on first use so `import ddbuild.store` never pulls in http.client.
    if name == "HttpStore":
        from ddbuild.store.http import HttpStore

        return HttpStore
    raise AttributeError(name)
