"""HttpStore: the cache layout over plain HTTP GET/PUT/HEAD/DELETE (nginx WebDAV or any such server).

Why the stdlib ``http.client``: one persistent connection per thread with 8 MiB reads streams a
blob straight into the destination file while hashing it (see the benchmark in
tests/benchmarks/bench_remote_pull.py), it costs no import time, and the store is used
sequentially by the executor. Credentials come from the environment only:

    DDBUILD_REMOTE_TOKEN                         -> Authorization: Bearer <token>
    DDBUILD_REMOTE_USER + DDBUILD_REMOTE_PASSWORD -> Authorization: Basic ...

They are never part of ``location``, ``repr`` or any error message.

Server requirements: PUT must be atomic (nginx writes the body to a temp file and renames it) and
create parent directories (nginx ``create_full_put_path on``). HTTP has no conditional create on
nginx, so ``put_entry`` is check-then-put (``atomic_create = False``). Listing uses the server's
JSON directory index (nginx ``autoindex on; autoindex_format json;``); without it ``list_*``
raises a StoreError saying so — ``cache push`` and read-through need only HEAD/GET/PUT.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import xxhash

from ddbuild.errors import StoreError
from ddbuild.fingerprint import digest_file, is_digest
from ddbuild.store._files import CHUNK, mismatch
from ddbuild.store.entry import validate_entry
from ddbuild.store.fs import (
    OnCorrupt,
    blob_rel,
    check_name,
    decode_entry,
    decode_response,
    download_verified,
    dump_json,
    encode_response,
    entry_rel,
    json_keys,
    response_rel,
)

log = logging.getLogger("ddbuild.store")

TOKEN_ENV = "DDBUILD_REMOTE_TOKEN"
USER_ENV = "DDBUILD_REMOTE_USER"
PASSWORD_ENV = "DDBUILD_REMOTE_PASSWORD"

# A reused keep-alive connection the server already closed fails with one of these; retry once.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


def auth_header(
    environ: Mapping[str, str], token_env: str = TOKEN_ENV, user_env: str = USER_ENV, password_env: str = PASSWORD_ENV
) -> str | None:
    """The Authorization header value from the environment (bearer token first), or None."""
    token = environ.get(token_env, "")
    if token:
        return f"Bearer {token}"
    user = environ.get(user_env, "")
    if user:
        pair = f"{user}:{environ.get(password_env, '')}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return None


class HttpStore:
    """A cache at ``base_url`` (``http(s)://host[:port]/prefix``) spoken to with GET/PUT/HEAD/DELETE."""

    atomic_create = False
    is_local = False

    def __init__(
        self,
        base_url: str,
        *,
        token_env: str = TOKEN_ENV,
        user_env: str = USER_ENV,
        password_env: str = PASSWORD_ENV,
        timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(f"remote cache URL {base_url!r} is not http(s)://host/prefix.")
        if parts.username or parts.password:
            raise StoreError(
                "remote cache URL must not contain credentials (URLs end up in logs).",
                hint=f"Put them in {token_env}, or {user_env} and {password_env}.",
            )
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = "/" + parts.path.strip("/") + "/" if parts.path.strip("/") else "/"
        self.location = f"{parts.scheme}://{parts.netloc}{self._prefix}"
        self.timeout = timeout
        self._auth = auth_header(os.environ if environ is None else environ, token_env, user_env, password_env)
        self._local = threading.local()
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"HttpStore({self.location!r})"

    # -- transport -----------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=self.timeout, blocksize=CHUNK)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _url(self, rel: str) -> str:
        return self._prefix + quote(rel)

    def _request(
        self,
        method: str,
        rel: str,
        *,
        body: bytes | BinaryIO | None = None,
        length: int | None = None,
        consume: Callable[[http.client.HTTPResponse], Any] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; returns (status, consume(response) or the body bytes)."""
        headers = {"Connection": "keep-alive"}
        if self._auth:
            headers["Authorization"] = self._auth
        if length is not None:
            headers["Content-Length"] = str(length)
        for attempt in (1, 2):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                if hasattr(body, "seek"):
                    body.seek(0)  # type: ignore[union-attr]
                conn.request(method, self._url(rel), body=body, headers=headers)
                response = conn.getresponse()
                if response.status < 300 and consume is not None:
                    result = consume(response)
                else:
                    result = response.read()
                if response.will_close:
                    self.close()
                return response.status, result
            except _STALE as exc:
                self.close()
                if attempt == 2 or not reused:
                    raise self._unreachable(method, rel, exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise self._unreachable(method, rel, exc) from exc
            except BaseException:
                self.close()  # the response was not read to its end: the connection is unusable
                raise
        raise AssertionError("unreachable")

    def _unreachable(self, method: str, rel: str, exc: BaseException) -> StoreError:
        reason = "timed out" if isinstance(exc, socket.timeout) else (type(exc).__name__ + f": {exc}")
        return StoreError(
            f"remote cache {self.location} is unreachable ({method} {rel}: {reason}).",
            hint="Check the URL and that the server is running; builds continue with the local cache.",
        )

    def _check(self, status: int, method: str, rel: str, ok: tuple[int, ...]) -> None:
        if status in ok:
            return
        if status in (401, 403):
            raise StoreError(
                f"remote cache {self.location} refused {method} {rel} (HTTP {status}).",
                hint=f"Set {TOKEN_ENV} (bearer) or {USER_ENV}/{PASSWORD_ENV} (basic auth) to valid credentials.",
            )
        raise StoreError(f"remote cache {self.location} answered HTTP {status} to {method} {rel}.")

    def _get_bytes(self, rel: str) -> bytes | None:
        status, data = self._request("GET", rel)
        if status == 404:
            return None
        self._check(status, "GET", rel, (200,))
        return data

    def _head(self, rel: str) -> bool:
        status, _ = self._request("HEAD", rel)
        if status == 404:
            return False
        self._check(status, "HEAD", rel, (200,))
        return True

    def _put_bytes(self, rel: str, data: bytes) -> None:
        status, _ = self._request("PUT", rel, body=data, length=len(data))
        self._check(status, "PUT", rel, (200, 201, 204))

    def _delete(self, rel: str) -> None:
        status, _ = self._request("DELETE", rel)
        self._check(status, "DELETE", rel, (200, 202, 204, 404))

    # -- blobs ---------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self._head(blob_rel(check_name(digest, "blob digest", self.location)))

    def put_blob(self, digest: str, source: Path) -> None:
        """Upload the complete file ``source`` after checking its digest (PUT is atomic on the server)."""
        rel = blob_rel(check_name(digest, "blob digest", self.location))
        if self._head(rel):
            return
        got = digest_file(source)
        if got != digest:
            raise mismatch(digest, got, f"local file {source}")
        size = os.path.getsize(source)
        with open(source, "rb") as handle:
            status, _ = self._request("PUT", rel, body=handle, length=size)
        self._check(status, "PUT", rel, (200, 201, 204))

    def get_blob(self, digest: str, dest: Path, *, on_corrupt: OnCorrupt | None = None) -> bool:
        """Stream the blob into ``dest`` while hashing; False if absent; IntegrityError if corrupt."""
        rel = blob_rel(check_name(digest, "blob digest", self.location))

        def copy_to(out: BinaryIO, hasher: xxhash.xxh3_128) -> bool:
            def stream(response: http.client.HTTPResponse) -> None:
                buffer = bytearray(CHUNK)
                view = memoryview(buffer)
                while read := response.readinto(buffer):
                    hasher.update(view[:read])
                    try:
                        out.write(view[:read])
                    except OSError as exc:  # local disk, not the network
                        raise StoreError(f"cannot write blob {digest} to {dest}: {exc.strerror or exc}.") from exc

            status, _ = self._request("GET", rel, consume=stream)
            if status == 404:
                return False
            self._check(status, "GET", rel, (200,))
            return True

        return download_verified(copy_to, digest, Path(dest), f"remote cache {self.location}", on_corrupt)

    def delete_blob(self, digest: str) -> None:
        self._delete(blob_rel(check_name(digest, "blob digest", self.location)))

    def list_blobs(self) -> Iterator[str]:
        return (name for name in self._names("objects") if is_digest(name))

    # -- entries -------------------------------------------------------------------------
    def get_entry(self, key: str) -> dict[str, Any] | None:
        data = self._get_bytes(entry_rel(check_name(key, "entry key", self.location)))
        return None if data is None else decode_entry(data, key, self.location, self._warn_once)

    def put_entry(self, key: str, entry: dict[str, Any]) -> bool:
        """Check-then-put: False when a valid entry exists; a racing writer may still replace it."""
        rel = entry_rel(check_name(key, "entry key", self.location))
        data = dump_json(validate_entry(entry, key=key))
        if self.get_entry(key) is not None:
            return False
        self._put_bytes(rel, data)
        return True

    def delete_entry(self, key: str) -> None:
        self._delete(entry_rel(check_name(key, "entry key", self.location)))

    def list_entries(self) -> Iterator[str]:
        return json_keys(self._names("actions"))

    # -- LLM responses -------------------------------------------------------------------
    def get_response(self, key: str) -> dict[str, Any] | None:
        data = self._get_bytes(response_rel(check_name(key, "response key", self.location)))
        return None if data is None else decode_response(data, key, self.location, self._warn_once)

    def put_response(self, key: str, response: dict[str, Any]) -> None:
        rel = response_rel(check_name(key, "response key", self.location))
        self._put_bytes(rel, encode_response(key, response))

    def list_responses(self) -> Iterator[str]:
        return json_keys(self._names("llm"))

    # -- listing through the server's JSON directory index ----------------------------------
    def _index(self, rel_dir: str) -> list[dict[str, Any]]:
        status, data = self._request("GET", rel_dir + "/")
        if status == 404:
            return []
        self._check(status, "GET", rel_dir + "/", (200,))
        try:
            listing = json.loads(data)
        except ValueError:
            listing = None
        if not isinstance(listing, list):
            raise StoreError(
                f"remote cache {self.location} does not serve JSON directory listings, so it cannot be listed.",
                hint="On nginx add `autoindex on; autoindex_format json;` to the cache location "
                "(docs/sharing.md); `cache push` and read-through work without it.",
            )
        return [item for item in listing if isinstance(item, dict)]

    def _names(self, prefix: str) -> Iterator[str]:
        for shard in sorted(i["name"] for i in self._index(prefix) if i.get("type") == "directory"):
            if len(shard) == 2 and all(c in "0123456789abcdef" for c in shard):
                yield from sorted(
                    str(i["name"]) for i in self._index(f"{prefix}/{shard}") if i.get("type") == "file"
                )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)
