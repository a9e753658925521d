"""The Store protocol: everything a caller may ask of a cache backend (local dir, S3/GCS, HTTP, memory, layered).

Layout every backend presents (``ddbuild.store.layout``, DESIGN §4):

    objects/ab/<digest>             blobs (parquet files), immutable, verified on read
    actions/ab/<stage_key>.json     entries: stage key -> JSON entry (see ddbuild.store.entry)
    llm/ab/<request_key>.json       LLM responses, keyed by request key

A store with a local cache directory (``layout`` is not None) also keeps checkpoints, the
quarantine, the index, stamps, pins and locks there; a store without one (memory, S3, HTTP) says
so by ``layout is None`` and by a StoreError from ``blob_path``/``partial_dir``. Callers never
probe a backend's type or attributes: what differs between backends is a member of this protocol.

Contract (tests/store/test_contract.py runs it against every backend, and fails when a member
of this protocol is not exercised there):
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
  reported (warning) and treated as missing; ``has_entry`` still says it is there.
- Without a remote layer, ``entry_origin`` is LOCAL for a present entry, ``fetch`` has nothing to
  download, ``local_store()`` is the store itself, ``remote_location`` is None and
  ``push_closure``/``pull_closure`` raise the StoreError of ``no_remote``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ddbuild.errors import StoreError

if TYPE_CHECKING:
    from ddbuild.store.closure import ClosureCounts
    from ddbuild.store.layout import CacheLayout
    from ddbuild.store.packs import ResponseJournal

#: Called with the path of downloaded bytes that failed verification, before IntegrityError is
#: raised; it may move the file away (LayeredStore quarantines it). Otherwise the bytes are deleted.
OnCorrupt = Callable[[Path], None]


class BlobState(str, Enum):
    """Result of checking one blob in place (``cache verify``, the planner's blob check)."""

    OK = "ok"
    MISSING = "missing"
    CORRUPT = "corrupt"


class Origin(str, Enum):
    """Where a hit came from (for ``--explain``)."""

    LOCAL = "local"
    REMOTE = "remote"


def no_remote(location: str) -> StoreError:
    """The error of sharing (push/pull) through a store that has no remote behind it."""
    return StoreError(
        f"No remote cache is configured for {location}.",
        hint="Pass DataDesigner(remote=URL), set DDBUILD_REMOTE, or add remote = \"URL\" under "
             "[tool.ddbuild] in pyproject.toml.",
    )


@runtime_checkable
class Store(Protocol):
    """A content-addressed cache backend."""

    #: Human-readable location (path or URL) for messages; never contains credentials.
    location: str
    #: True when concurrent ``put_entry`` calls on one key have exactly one winner.
    atomic_create: bool

    @property
    def is_local(self) -> bool:
        """True when the store is on this machine (memory, a local directory): reads cost no network."""

    @property
    def layout(self) -> CacheLayout | None:
        """The local cache directory's layout (checkpoints, index, stamps, pins, locks); None without one."""

    @property
    def remote_location(self) -> str | None:
        """Where the shared remote behind this store is (for messages); None without a remote layer."""

    def local_store(self) -> Store:
        """The part read without the network: a LayeredStore's local cache, else the store itself."""

    # -- blobs ---------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool: ...

    def put_blob(self, digest: str, source: Path) -> None:
        """Store the complete file ``source`` whose xxh3_128 is ``digest`` (no-op if present)."""

    def get_blob(self, digest: str, dest: Path, *, on_corrupt: OnCorrupt | None = None) -> bool:
        """Copy the blob to ``dest`` after verifying it; False if absent; IntegrityError if corrupt.

        ``on_corrupt(path)`` is called with the downloaded bad bytes before IntegrityError is
        raised (LayeredStore uses it to quarantine them locally).
        """

    def check_blob(self, digest: str) -> BlobState:
        """Hash a stored blob in place: OK, MISSING or CORRUPT (nothing is moved)."""

    def blob_path(self, digest: str) -> Path:
        """The blob's local file (hard-linked into views; it may not exist); StoreError without one."""

    def quarantine(self, digest: str, reason: str, source: Path | None = None) -> Path | None:
        """Move a corrupt blob (ours, or the downloaded file ``source``) aside, saying why; where it went."""

    def delete_blob(self, digest: str) -> None: ...

    def list_blobs(self) -> Iterator[str]: ...

    # -- entries (stage key -> JSON) -------------------------------------------------------
    def has_entry(self, key: str) -> bool:
        """True when something is stored under ``key``, readable or not (get_entry None: corrupt)."""

    def get_entry(self, key: str) -> dict[str, Any] | None: ...

    def put_entry(self, key: str, entry: dict[str, Any]) -> bool:
        """Publish atomically; first writer wins (returns False when an entry already existed)."""

    def delete_entry(self, key: str) -> None: ...

    def list_entries(self) -> Iterator[str]: ...

    def entry_origin(self, key: str) -> Origin | None:
        """Where the entry for ``key`` would be read from: LOCAL, REMOTE, or None (a miss)."""

    def fetch(self, key: str) -> bool:
        """Make a hit local before it is used: entry, blobs (verified), LLM responses; False: a miss."""

    def partial_dir(self, key: str) -> Path:
        """``partial/<key>/``, the checkpoints of an unfinished stage (not created); StoreError without one."""

    # -- LLM responses (request key -> JSON), stored in packs (store/packs.py) ---------------
    def get_response(self, key: str) -> dict[str, Any] | None: ...

    def response_pack(self, key: str) -> dict[str, dict[str, Any]] | None:
        """The responses stored together with ``key``'s (its pack, ``key`` among them); None: a miss."""

    def put_response(self, key: str, response: dict[str, Any]) -> None:
        """``put_responses`` of one response (a pack of one: prefer ``put_responses``)."""

    def put_responses(self, responses: Mapping[str, dict[str, Any]]) -> None:
        """Store ``responses`` durably, packed: a few objects however many responses."""

    def list_responses(self) -> Iterator[str]: ...

    def open_journal(self) -> ResponseJournal | None:
        """Where a running stage appends responses until it packs them (None: no local disk)."""

    # -- sharing -------------------------------------------------------------------------
    def push_closure(self, keys: Iterable[str]) -> ClosureCounts:
        """Copy entries + blobs + LLM responses to the remote; ``no_remote`` without one."""

    def pull_closure(self, keys: Iterable[str]) -> ClosureCounts:
        """Copy entries + blobs + LLM responses from the remote; ``no_remote`` without one."""
