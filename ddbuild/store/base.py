"""The Store protocol: what every cache backend (local dir, S3/GCS, HTTP, memory) must provide.

Layout every backend presents (DESIGN §4):

    objects/ab/<digest>             blobs (parquet files), immutable, verified on read
    actions/ab/<stage_key>.json     entries: stage key -> JSON entry (see ddbuild.store.entry)
    llm/ab/<request_key>.json       LLM responses, keyed by request key

Contract (tests/store/test_contract.py runs it against every backend):
- Keys and digests are validated as 32-hex before they become paths (``fingerprint.is_digest``).
- ``put_blob`` takes a complete local file whose digest the caller computed; the backend never
  streams a blob that is still being produced. Blobs are verified against their digest on read;
  a mismatch raises ``IntegrityError`` and the bytes are never handed out.
- ``put_entry`` is first-writer-wins: if a valid entry for the key exists, it is kept and ``False``
  is returned (a corrupt one is replaced). Entries are published atomically (a reader never sees
  half an entry). ``atomic_create`` says whether concurrent creators get exactly one winner
  (local directory, memory) or check-then-put (S3/GCS/HTTP: every racer publishes a complete,
  valid entry and the last one stays).
- A missing object is ``None`` / ``False``, never an exception. An unreadable or corrupt entry is
  reported (warning) and treated as missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    """A content-addressed cache backend."""

    #: Human-readable location (path or URL) for messages; never contains credentials.
    location: str
    #: True when concurrent ``put_entry`` calls on one key have exactly one winner.
    atomic_create: bool

    # -- blobs ---------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool: ...

    def put_blob(self, digest: str, source: Path) -> None:
        """Store the complete file ``source`` whose xxh3_128 is ``digest`` (no-op if present)."""

    def get_blob(self, digest: str, dest: Path) -> bool:
        """Copy the blob to ``dest`` after verifying it; False if absent; IntegrityError if corrupt.

        Backends also accept ``on_corrupt=callable(path)``: called with the downloaded bad bytes
        before IntegrityError is raised (LayeredStore uses it to quarantine them locally).
        """

    def delete_blob(self, digest: str) -> None: ...

    def list_blobs(self) -> Iterator[str]: ...

    # -- entries (stage key -> JSON) -------------------------------------------------------
    def get_entry(self, key: str) -> dict[str, Any] | None: ...

    def put_entry(self, key: str, entry: dict[str, Any]) -> bool:
        """Publish atomically; first writer wins (returns False when an entry already existed)."""

    def delete_entry(self, key: str) -> None: ...

    def list_entries(self) -> Iterator[str]: ...

    # -- LLM responses (request key -> JSON) ----------------------------------------------
    def get_response(self, key: str) -> dict[str, Any] | None: ...

    def put_response(self, key: str, response: dict[str, Any]) -> None: ...

    def list_responses(self) -> Iterator[str]: ...
