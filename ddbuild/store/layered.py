"""LayeredStore: the local cache first, a shared remote read through (and written back when allowed).

Trust and failure rules (docs/sharing.md, "Trust"):

- Everything from the remote is checked: entries are schema-validated (with size and depth
  bounds) by the remote store; blobs are verified against their digest while they stream in, and
  blobs an entry names as ``.parquet`` must be Parquet (magic bytes and footer). A tampered blob is
  quarantined locally (never on the remote), reported with the remote URL, and counts as a miss.
- With keys (``Keyring``: a signing key and/or accepted keys), every object used from the remote
  — entries, and LLM responses — must carry a signature of an accepted key; otherwise it is a
  miss, reported once. Blobs are covered by the signed entry that names their digest.
- Without keys, remote objects are used but copied into the local store marked ``unverified``
  (entries) / ``ddbuild_unverified`` (responses). Entries built from marked data are marked too
  (execution/build.py), and no marked entry is ever signed: trust is transitive or it is nothing.
  Once keys are set, a marked local object counts only if it carries an accepted signature.
- The remote is an optimisation, never a reason to fail a build: the first connection, server or
  auth failure is logged once and the store carries on local-only (``remote_error`` says why).
- Invariant: a remote entry is copied into the local store only once all its blobs are local, so
  a later local-only build never finds a local entry whose outputs live elsewhere::

      get_entry(k) --remote hit--> pending[k] --get_blob(...) for each output--> local.put_entry(k)
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ddbuild.errors import ConfigError, IntegrityError, StoreError
from ddbuild.store.base import BlobState, OnCorrupt, Origin, Store
from ddbuild.store.closure import ClosureCounts, copy_closure
from ddbuild.store.entry import (
    RESPONSE_SIGNATURE,
    RESPONSE_UNVERIFIED,
    SIGNING_KEY_ENV,
    TRUSTED_KEYS_ENV,
    Keyring,
    blob_digests,
    response_keys,
    sign_entry,
    sign_response,
)
from ddbuild.store.packs import ResponseJournal, copy_response
from ddbuild.store.parquet import parquet_problem

if TYPE_CHECKING:
    from ddbuild.store.layout import CacheLayout

log = logging.getLogger("ddbuild.store")

T = TypeVar("T")


class _RemoteDown(Exception):
    """Internal: the remote failed (already reported once); continue local-only."""


class LayeredStore:
    """``local`` in front of ``remote``; uploads only with ``upload=True``."""

    def __init__(
        self,
        local: Store,
        remote: Store,
        *,
        upload: bool = False,
        signing_key: bytes | None = None,
        require_signed: bool = False,
        trusted_keys: tuple[bytes, ...] = (),
    ) -> None:
        self.keys = Keyring(signing_key, trusted_keys)
        if require_signed and not self.keys:
            raise ConfigError(
                f"remote cache {remote.location}: signed entries are required but no signing key is set.",
                hint=f"Set {SIGNING_KEY_ENV} to the team's shared key (or {TRUSTED_KEYS_ENV} to verify only).",
            )
        self.local = local
        self.remote = remote
        self.upload = upload
        self.signing_key = signing_key  # kept for callers; policy uses self.keys
        self.require_signed = require_signed
        self.location = local.location
        self.atomic_create = local.atomic_create
        #: Why the remote was switched off for this session (None while it works).
        self.remote_error: str | None = None
        self._origins: dict[str, Origin] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # remote entries waiting for their blobs
        self._bad_blobs: set[str] = set()  # remote blobs that failed verification this session
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LayeredStore({self.local.location!r} -> {self.remote.location!r})"

    # -- remote guard --------------------------------------------------------------------
    def _remote(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a remote call; on a non-integrity StoreError switch the remote off (warn once)."""
        if self.remote_error is not None:
            raise _RemoteDown
        try:
            return call(*args, **kwargs)
        except IntegrityError:
            raise
        except StoreError as exc:
            with self._lock:  # stages built in parallel may fail together: still one warning
                first = self.remote_error is None
                self.remote_error = self.remote_error or str(exc)
            if first:
                log.warning("%s; continuing with the local cache %s only.", exc.message.rstrip("."),
                            self.local.location)
            raise _RemoteDown from exc

    def _warn_once(self, tag: str, message: str) -> None:
        if tag not in self._warned:
            self._warned.add(tag)
            log.warning("%s", message)

    def trusted(self, key: str, entry: dict[str, Any]) -> bool:
        """Signature policy for an entry that came from the remote (no keys: used, but marked)."""
        if not self.keys or self.keys.entry_ok(entry):
            return True
        state = "is unsigned" if entry.get("signature") is None else "has a signature that matches no accepted key"
        self._warn_once(f"sig:{key}", f"remote cache {self.remote.location}: entry {key} {state}; "
                        "ignoring it (treated as a miss).")
        return False

    def _local_entry_usable(self, key: str, entry: dict[str, Any]) -> bool:
        """A local entry marked unverified counts, once keys are set, only with an accepted signature."""
        if not self.keys or not entry.get("unverified") or self.keys.entry_ok(entry):
            return True
        self._warn_once(f"taint:{key}", f"local cache entry {key} is not verified ({entry['unverified']}) "
                        "and carries no accepted signature; ignoring it (it will be rebuilt).")
        return False

    def _mark(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A remote entry as it is kept locally: marked unverified unless an accepted key signed it."""
        if entry.get("unverified") or self.keys.entry_ok(entry):
            return entry
        return {**entry, "unverified": f"pulled from {self.remote.location} without an accepted signature"}

    # -- entries -------------------------------------------------------------------------
    def get_entry(self, key: str) -> dict[str, Any] | None:
        entry = self.local.get_entry(key)
        if entry is not None and not self._local_entry_usable(key, entry):
            entry = None
        if entry is not None:
            self._origins[key] = Origin.LOCAL
            return entry
        if key in self._pending:
            return self._pending[key]
        try:
            entry = self._remote(self.remote.get_entry, key)
        except _RemoteDown:
            entry = None
        if entry is None or not self.trusted(key, entry):
            self._origins.pop(key, None)
            return None
        entry = self._mark(entry)
        self._origins[key] = Origin.REMOTE
        self._pending[key] = entry
        self._publish_complete()
        return entry

    def has_entry(self, key: str) -> bool:
        """Whether the local cache holds something under ``key``. A remote entry that fails to
        validate is reported by the remote store and is simply absent here: it is never copied."""
        return self.local.has_entry(key)

    def entry_origin(self, key: str) -> Origin | None:
        """LOCAL, REMOTE or None (a miss), looking the entry up if needed."""
        if key not in self._origins:
            self.get_entry(key)
        return self._origins.get(key)

    def put_entry(self, key: str, entry: dict[str, Any]) -> bool:
        """Publish locally (signed when a key is set and the entry is not marked unverified);
        with ``upload``, push blobs then the entry."""
        entry = self._signed(entry)
        won = self.local.put_entry(key, entry)
        self._origins[key] = Origin.LOCAL
        if self.upload:
            try:
                self._remote(copy_closure, self.local, self.remote, [key], prepare=self._signed)
            except _RemoteDown:
                pass
        return won

    def delete_entry(self, key: str) -> None:
        """Delete locally only; the shared remote is changed only by explicit remote commands."""
        self.local.delete_entry(key)
        self._origins.pop(key, None)

    def list_entries(self) -> Iterator[str]:
        return self._union(self.local.list_entries, self.remote.list_entries)

    def _publish_complete(self) -> None:
        for key, entry in list(self._pending.items()):
            if all(self.local.has_blob(d) for d in blob_digests(entry)):
                stale = self.local.get_entry(key)
                if stale is not None and not self._local_entry_usable(key, stale):
                    self.local.delete_entry(key)  # an unverified copy must not win the publish
                self.local.put_entry(key, self._mark(entry))
                self._pending.pop(key, None)  # pop: parallel stages may race here

    # -- blobs ---------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        if self.local.has_blob(digest):
            return True
        if digest in self._bad_blobs:
            return False
        try:
            return self._remote(self.remote.has_blob, digest)
        except _RemoteDown:
            return False

    def put_blob(self, digest: str, source: Path) -> None:
        """Local only; blobs go to the remote with their entry (``put_entry``), never alone."""
        self.local.put_blob(digest, source)

    def get_blob(self, digest: str, dest: Path, *, on_corrupt: OnCorrupt | None = None) -> bool:
        """The local copy, else the remote's (verified, kept locally); a corrupt local copy is
        quarantined and replaced from the remote, so corruption here is a miss, not an error."""
        try:
            if self.local.get_blob(digest, dest):
                return True
        except IntegrityError:
            pass  # the local store reported and quarantined it; a good copy may be on the remote
        return self.fetch_blob(digest) and self.local.get_blob(digest, dest, on_corrupt=on_corrupt)

    def fetch_blob(self, digest: str) -> bool:
        """Make the blob local: download it from the remote, verified; False if absent or corrupt."""
        if self.local.has_blob(digest):
            return True
        if digest in self._bad_blobs or self.remote_error is not None:
            return False
        fd, name = tempfile.mkstemp(prefix=f".{digest}.", suffix=".remote")
        os.close(fd)
        temp = Path(name)
        try:
            if not self._remote(self.remote.get_blob, digest, temp, on_corrupt=self._quarantine_hook(digest)):
                return False
            self.local.put_blob(digest, temp)
        except _RemoteDown:
            return False
        except IntegrityError as exc:
            self._bad_blobs.add(digest)
            log.warning("remote cache %s served a corrupt blob %s; quarantined locally, treated as a miss: %s",
                        self.remote.location, digest, exc.message)
            return False
        finally:
            temp.unlink(missing_ok=True)
        self._publish_complete()
        return True

    def fetch(self, key: str) -> bool:
        """Make a hit local before it is used: entry, blobs (verified) and the LLM responses it lists.

        True when the entry is now in the local store; False (a miss) when it is absent, untrusted,
        or a blob is missing or corrupt on the remote.
        """
        entry = self.get_entry(key)
        if entry is None:
            return False
        if self._origins.get(key) is Origin.LOCAL:
            return True
        if not all(self.fetch_blob(d) for d in blob_digests(entry)):
            return False
        if not self._all_parquet(key, entry):
            return False
        for response_key in response_keys(entry):
            self.get_response(response_key)  # read through: copied locally when the remote has it
        self._publish_complete()
        return self.local.get_entry(key) is not None

    def _all_parquet(self, key: str, entry: dict[str, Any]) -> bool:
        """Every ``.parquet`` output of a remote entry is Parquet; else quarantine it locally: a miss."""
        if self.local.layout is None:  # no blob files to look into (an in-memory local store)
            return True
        for output in entry["outputs"]:
            if not output["path"].endswith(".parquet"):
                continue
            problem = parquet_problem(self.local.blob_path(output["digest"]))
            if problem is not None:
                self._bad_blobs.add(output["digest"])
                self.local.quarantine(output["digest"], f"entry {key} from remote cache {self.remote.location} "
                                      f"names it as {output['path']}, but {problem}")
                self._pending.pop(key, None)
                return False
        return True

    def _quarantine_hook(self, digest: str) -> Callable[[Path], None]:
        def hook(path: Path) -> None:
            reason = f"downloaded from remote cache {self.remote.location}; bytes do not match the digest"
            self.local.quarantine(digest, reason, source=path)

        return hook

    def delete_blob(self, digest: str) -> None:
        self.local.delete_blob(digest)

    # -- local-only parts (checkpoints, blob files, quarantine) belong to the local store -----
    @property
    def is_local(self) -> bool:
        return self.local.is_local

    @property
    def layout(self) -> CacheLayout | None:
        return self.local.layout

    @property
    def remote_location(self) -> str | None:
        return self.remote.location

    def local_store(self) -> Store:
        return self.local

    def blob_path(self, digest: str) -> Path:
        """The local file of a blob (``fetch``/``fetch_blob`` first for one that is only remote)."""
        return self.local.blob_path(digest)

    def partial_dir(self, key: str) -> Path:
        return self.local.partial_dir(key)

    def quarantine(self, digest: str, reason: str, source: Path | None = None) -> Path | None:
        return self.local.quarantine(digest, reason, source=source)

    def check_blob(self, digest: str) -> BlobState:
        """The local copy's state (``cache verify`` checks the local cache, never the remote)."""
        return self.local.check_blob(digest)

    def list_blobs(self) -> Iterator[str]:
        return self._union(self.local.list_blobs, self.remote.list_blobs)

    # -- LLM responses -------------------------------------------------------------------
    def get_response(self, key: str) -> dict[str, Any] | None:
        pack = self.response_pack(key)
        return None if pack is None else copy_response(pack[key])

    def response_pack(self, key: str) -> dict[str, dict[str, Any]] | None:
        """Local first; else the remote's pack holding ``key``, all of it copied locally as one pack
        (its batch-mates are likely asked next) after the pull policy: an accepted signature, or
        (no keys) marked unverified."""
        pack = self.local.response_pack(key)
        if pack is not None:
            response = pack[key]
            if not self.keys or not response.get(RESPONSE_UNVERIFIED) or self.keys.response_ok(key, response):
                return pack
            self._warn_once("taint:responses", f"local cache {self.local.location} holds LLM responses pulled "
                            "without an accepted signature; ignoring them (they are requested again).")
            return None
        try:
            pack = self._remote(self.remote.response_pack, key)
        except _RemoteDown:
            return None
        if pack is None:
            return None
        pulled = {k: r for k, r in ((k, self._pulled_response(k, r)) for k, r in pack.items()) if r is not None}
        if key not in pulled:
            self._warn_once("sig:responses", f"remote cache {self.remote.location}: LLM responses without a "
                            "signature of an accepted key are ignored (treated as misses).")
            return None
        # Only what the local cache lacks: a local reply stays the one used (it may be newer, e.g.
        # from a resume=NEVER build) — the pulled pack is written now and would otherwise win.
        self.local.put_responses({k: r for k, r in pulled.items() if k == key or self.local.response_pack(k) is None})
        return pulled

    def put_response(self, key: str, response: dict[str, Any]) -> None:
        self.put_responses({key: response})

    def put_responses(self, responses: Mapping[str, dict[str, Any]]) -> None:
        """Store responses we received from the endpoint: signed when a key is set; uploaded as the
        same pack when the remote takes uploads."""
        signed = {key: self._signed_response(key, response) for key, response in responses.items()}
        self.local.put_responses(signed)
        if self.upload:
            try:
                self._remote(self.remote.put_responses, signed)
            except _RemoteDown:
                pass

    def open_journal(self) -> ResponseJournal | None:
        return self.local.open_journal()

    def _signed_response(self, key: str, response: dict[str, Any]) -> dict[str, Any]:
        if response.get(RESPONSE_UNVERIFIED) or self.keys.signing is None:
            return response
        if isinstance(response.get(RESPONSE_SIGNATURE), str) and self.keys.response_ok(key, response):
            return response
        return sign_response(key, response, self.keys.signing)

    def _pulled_response(self, key: str, response: dict[str, Any]) -> dict[str, Any] | None:
        """Pull policy for one response: accepted signature, or (no keys) marked unverified."""
        if not self.keys:
            return {**response, RESPONSE_UNVERIFIED: f"pulled from {self.remote.location}"}
        return response if self.keys.response_ok(key, response) else None

    def list_responses(self) -> Iterator[str]:
        return self._union(self.local.list_responses, self.remote.list_responses)

    # -- closures (cache push / pull) -------------------------------------------------------
    def push_closure(self, keys: Iterable[str]) -> ClosureCounts:
        """Copy entries + blobs + responses local -> remote. Remote errors propagate (explicit command).

        With a signing key, entries without a valid signature (built before the key was set, or
        pulled unsigned) are signed on the way out: pushing is the key holder vouching for them.
        """
        return copy_closure(self.local, self.remote, keys, prepare=self._signed,
                            prepare_response=self._signed_response)

    def _signed(self, entry: dict[str, Any]) -> dict[str, Any]:
        """What we publish: signed with our key, unless it is marked unverified (never laundered)."""
        if entry.get("unverified"):
            if self.keys.signing is not None and not self.keys.entry_ok(entry):
                self._warn_once(f"nosign:{entry['key']}", f"not signing entry {entry['key']}: it is not verified "
                                f"({entry['unverified']}); rebuild it with the key set to share it signed.")
            return entry
        if self.keys.signing is None or self.keys.entry_ok(entry):
            return entry
        return sign_entry(entry, self.keys.signing)

    def pull_closure(self, keys: Iterable[str]) -> ClosureCounts:
        """Copy entries + blobs + responses remote -> local, enforcing the signature policy."""
        keys = list(keys)
        counts = copy_closure(self.remote, self.local, keys, accept=self.trusted, prepare=self._mark,
                              prepare_response=self._pulled_response)
        for key in keys:
            if self.local.get_entry(key) is not None:
                self._origins[key] = Origin.LOCAL
                self._pending.pop(key, None)
        return counts

    def _union(self, local: Callable[[], Iterator[str]], remote: Callable[[], Iterator[str]]) -> Iterator[str]:
        seen = set(local())
        yield from sorted(seen)
        try:
            extra = sorted(set(self._remote(lambda: list(remote()))) - seen)
        except _RemoteDown:
            return
        yield from extra
