"""``Files`` over plain HTTP GET/PUT/HEAD/DELETE (nginx WebDAV or any such server), and HttpStore.

``HttpStore(base_url)`` is a ``FileSystemStore`` over ``HttpFiles``: the layout, verification,
first-writer-wins and listing rules are fs.py's; this module only moves bytes.

Why the stdlib ``http.client``: one persistent connection per thread with 8 MiB reads streams a
blob straight into the destination file while hashing it (see the benchmark in
tests/benchmarks/bench_remote_pull.py), it costs no import time, and the store is used
sequentially by the executor. Credentials come from the environment only:

    DDBUILD_REMOTE_TOKEN                         -> Authorization: Bearer <token>
    DDBUILD_REMOTE_USER + DDBUILD_REMOTE_PASSWORD -> Authorization: Basic ...

They are never part of ``location``, ``repr`` or any error message.

Server requirements: PUT must be atomic (nginx writes the body to a temp file and renames it) and
create parent directories (nginx ``create_full_put_path on``). HTTP has no conditional create on
nginx, so ``create`` is check-then-put (``atomic_create = False``). Listing uses the server's
JSON directory index (nginx ``autoindex on; autoindex_format json;``); without it ``names``
raises a StoreError saying so — ``cache push`` and read-through need only HEAD/GET/PUT.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import xxhash

from ddbuild.errors import ConfigError, StoreError
from ddbuild.fingerprint import digest_file
from ddbuild.store._files import CHUNK, mismatch
from ddbuild.store.fs import FileSystemStore

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


class HttpFiles:
    """``Files`` below ``base_url`` (``http(s)://host[:port]/prefix``) with GET/PUT/HEAD/DELETE."""

    is_local = False
    atomic_create = False

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
            raise ConfigError(f"remote cache URL {base_url!r} is not http(s)://host/prefix.")
        if parts.username or parts.password:
            raise ConfigError(
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
                conn.request(method, self._prefix + quote(rel), body=body, headers=headers)
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

    # -- Files ---------------------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes | None:
        status, data = self._request("GET", rel)
        if status == 404:
            return None
        self._check(status, "GET", rel, (200,))
        return data

    def copy_to(self, rel: str, out: BinaryIO, hasher: xxhash.xxh3_128) -> bool:
        def stream(response: http.client.HTTPResponse) -> None:
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while read := response.readinto(buffer):
                hasher.update(view[:read])
                try:
                    out.write(view[:read])
                except OSError as exc:  # the local disk, not the network: not "unreachable"
                    where = getattr(out, "name", "the local file")
                    raise StoreError(f"cannot write {rel} to {where}: {exc.strerror or exc}.") from exc

        status, _ = self._request("GET", rel, consume=stream)
        if status == 404:
            return False
        self._check(status, "GET", rel, (200,))
        return True

    def commit_file(self, rel: str, source: Path, digest: str) -> None:
        """Check the digest, then one PUT of the complete file (atomic on the server)."""
        got = digest_file(source)
        if got != digest:
            raise mismatch(digest, got, f"local file {source}")
        with open(source, "rb") as handle:
            status, _ = self._request("PUT", rel, body=handle, length=os.path.getsize(source))
        self._check(status, "PUT", rel, (200, 201, 204))

    def create(self, rel: str, data: bytes) -> bool:
        if self.exists(rel):
            return False
        self.replace(rel, data)
        return True

    def replace(self, rel: str, data: bytes) -> None:
        status, _ = self._request("PUT", rel, body=data, length=len(data))
        self._check(status, "PUT", rel, (200, 201, 204))

    def exists(self, rel: str) -> bool:
        status, _ = self._request("HEAD", rel)
        if status == 404:
            return False
        self._check(status, "HEAD", rel, (200,))
        return True

    def delete(self, rel: str) -> None:
        status, _ = self._request("DELETE", rel)
        self._check(status, "DELETE", rel, (200, 202, 204, 404))

    def move(self, src: str, dst: str) -> None:
        # FileSystemStore moves files only to quarantine a local cache; plain PUT/GET has no move.
        raise StoreError(f"remote cache {self.location} cannot move {src}: HTTP caches support no move.")

    def names(self, prefix: str) -> Iterator[str]:
        """File names under ``prefix/<2 hex>/`` from the server's JSON directory index."""
        for shard in sorted(i["name"] for i in self._index(prefix) if i.get("type") == "directory"):
            if len(shard) == 2 and all(c in "0123456789abcdef" for c in shard):
                yield from sorted(
                    str(i["name"]) for i in self._index(f"{prefix}/{shard}") if i.get("type") == "file"
                )

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


class HttpStore(FileSystemStore):
    """The cache at ``base_url``: a ``FileSystemStore`` over ``HttpFiles`` (same keyword arguments)."""

    def __init__(self, base_url: str, **options: Any) -> None:
        self._http = HttpFiles(base_url, **options)
        super().__init__(files=self._http)

    def close(self) -> None:
        """Close this thread's keep-alive connection."""
        self._http.close()
