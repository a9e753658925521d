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
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import xxhash

from ddbuild.bounds import ObjectKind, limits_from_env, parse_json
from ddbuild.errors import ConfigError, IntegrityError, StoreError
from ddbuild.fingerprint import digest_file
from ddbuild.store._files import CHUNK, mismatch, over_limit
from ddbuild.store.fs import FileSystemStore

TOKEN_ENV = "DDBUILD_REMOTE_TOKEN"
USER_ENV = "DDBUILD_REMOTE_USER"
PASSWORD_ENV = "DDBUILD_REMOTE_PASSWORD"

#: At most this much of an error response's body is read (the rest is dropped with the connection).
ERROR_BODY_LIMIT = 64 * 1024

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
        deadline: float | None = None,
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
        self.timeout = timeout  # per socket operation
        # Per transfer (request to last byte): a server dribbling a byte every few seconds never
        # trips the per-read timeout, so a watchdog closes the socket when the deadline passes.
        self.deadline = deadline if deadline is not None else limits_from_env(environ).transfer_seconds
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
            watchdog = _Watchdog(conn, self.deadline)
            try:
                if hasattr(body, "seek"):
                    body.seek(0)  # type: ignore[union-attr]
                conn.request(method, self._prefix + quote(rel), body=body, headers=headers)
                watchdog.watch(conn.sock)  # getresponse() may drop conn.sock (Connection: close)
                response = conn.getresponse()
                if response.status < 300 and consume is not None:
                    result = consume(response)
                else:
                    result = response.read(ERROR_BODY_LIMIT)
                    if not response.isclosed():
                        response.will_close = True  # unread bytes: the connection cannot be reused
                if watchdog.fired:  # the body was cut short: never hand out part of an object
                    raise TimeoutError
                if response.will_close:
                    self.close()
                return response.status, result
            except _STALE as exc:
                self.close()
                if watchdog.fired:
                    raise self._unreachable(method, rel, exc, watchdog) from exc
                if attempt == 2 or not reused:
                    raise self._unreachable(method, rel, exc) from exc
            except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
                self.close()
                raise self._unreachable(method, rel, exc, watchdog) from exc
            except BaseException:
                self.close()  # the response was not read to its end: the connection is unusable
                raise
            finally:
                watchdog.cancel()
        raise AssertionError("unreachable")

    def _unreachable(
        self, method: str, rel: str, exc: BaseException, watchdog: _Watchdog | None = None
    ) -> StoreError:
        if watchdog is not None and watchdog.fired:
            reason = f"the transfer took longer than {self.deadline:g} s (DDBUILD_TRANSFER_TIMEOUT)"
        elif isinstance(exc, socket.timeout):
            reason = "timed out"
        else:
            reason = type(exc).__name__ + f": {exc}"
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
    def read_bytes(self, rel: str, limit: int) -> bytes | None:
        def bounded(response: http.client.HTTPResponse) -> bytes:
            if response.length is not None and response.length > limit:
                raise over_limit(f"{rel} in remote cache {self.location}", limit)
            data = response.read(limit + 1)
            if len(data) > limit:
                raise over_limit(f"{rel} in remote cache {self.location}", limit)
            return data

        status, data = self._request("GET", rel, consume=bounded)
        if status == 404:
            return None
        self._check(status, "GET", rel, (200,))
        return data  # type: ignore[no-any-return]

    def copy_to(self, rel: str, out: BinaryIO, hasher: xxhash.xxh3_128, limit: int | None = None) -> bool:
        def stream(response: http.client.HTTPResponse) -> None:
            if limit is not None and response.length is not None and response.length > limit:
                raise over_limit(f"{rel} in remote cache {self.location}", limit)
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            total = 0
            while read := response.readinto(buffer):
                total += read
                if limit is not None and total > limit:
                    raise over_limit(f"{rel} in remote cache {self.location}", limit)
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
        limits = limits_from_env()
        data = self.read_bytes(rel_dir + "/", limits.bytes_for(ObjectKind.LISTING))
        if data is None:
            return []
        try:
            listing = parse_json(data, ObjectKind.LISTING, f"directory index {rel_dir}/", limits)
        except IntegrityError:
            listing = None
        if not isinstance(listing, list):
            raise StoreError(
                f"remote cache {self.location} does not serve JSON directory listings, so it cannot be listed.",
                hint="On nginx add `autoindex on; autoindex_format json;` to the cache location "
                "(docs/sharing.md); `cache push` and read-through work without it.",
            )
        return [item for item in listing if isinstance(item, dict)]


class _Watchdog:
    """Shuts a connection's socket down when a transfer outlives its deadline (then ``fired``)."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.fired = False
        self._conn = conn
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        """The socket of this transfer (the response keeps reading it after the connection lets go)."""
        self._sock = sock
        if self.fired:
            self._fire()

    def _fire(self) -> None:
        self.fired = True
        sock = self._sock or self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


class HttpStore(FileSystemStore):
    """The cache at ``base_url``: a ``FileSystemStore`` over ``HttpFiles`` (same keyword arguments)."""

    def __init__(self, base_url: str, **options: Any) -> None:
        self._http = HttpFiles(base_url, **options)
        super().__init__(files=self._http)

    def close(self) -> None:
        """Close this thread's keep-alive connection."""
        self._http.close()
