"""``Files`` over plain HTTP GET/PUT/HEAD/DELETE (nginx WebDAV or any such server), and HttpStore.

``HttpStore(base_url)`` is a ``FileSystemStore`` over ``HttpFiles``: the layout, verification,
first-writer-wins and listing rules are fs.py's; this module only moves bytes.

Why the stdlib ``http.client``: one persistent connection per thread with 8 MiB reads streams a
blob straight into the destination file while hashing it (see the benchmark in
tests/benchmarks/bench_remote_pull.py), it costs no import time, and the store is used
sequentially by the executor. The per-transfer deadline needs the raw socket (``_Watchdog``), which
urllib3 hides behind its pool; what urllib3 would add (proxies, retries) is the few lines below.

Proxies: ``http_proxy`` / ``https_proxy`` / ``no_proxy`` (lowercase first, then uppercase), read
the way the LLM client reads them (aiohttp's ``get_env_proxy_for_url``, which uses urllib's rules):
the variable for the remote's scheme names an ``http://[user:password@]host[:port]`` proxy, and a
host matching ``no_proxy`` (``*``, or a name that also covers its subdomains) is reached directly. An
``http://`` remote goes through the proxy as absolute-URL requests, an ``https://`` one through a
CONNECT tunnel (TLS end to end). Proxy credentials never appear in an error message.

Retries: a 5xx answer (500, 502, 503, 504) or 429, and a connection reset or a close before the
answer, are retried with exponential backoff and jitter, ``RETRY_BASE_WAIT * 2**n * U[0.5, 1)``
capped at ``RETRY_MAX_WAIT`` (or the server's ``Retry-After``, capped the same way), at most
``ATTEMPTS`` attempts in all. Every method used here (GET, HEAD, PUT, DELETE) is idempotent, and a
body half-streamed into a file is restarted from its first byte. The whole transfer, retries and
waits included, stays within DDBUILD_TRANSFER_TIMEOUT (ddbuild.bounds). A refused connection or a
timeout is not retried: the server is not there, and the build goes on with the local cache.

Credentials come from the environment only:

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
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import xxhash

from ddbuild.bounds import ObjectKind, limits_from_env, parse_json
from ddbuild.errors import ConfigError, IntegrityError, StoreError
from ddbuild.fingerprint import digest_file
from ddbuild.store._files import CHUNK, BinarySink, mismatch, over_limit
from ddbuild.store.fs import FileSystemStore

TOKEN_ENV = "DDBUILD_REMOTE_TOKEN"
USER_ENV = "DDBUILD_REMOTE_USER"
PASSWORD_ENV = "DDBUILD_REMOTE_PASSWORD"

#: At most this much of an error response's body is read (the rest is dropped with the connection).
ERROR_BODY_LIMIT = 64 * 1024

#: Answers worth another attempt: the server (or a proxy or load balancer before it) is overloaded,
#: restarting or briefly failing. 501 and 505 are permanent and not retried.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Attempts per request in all (the first one included).
ATTEMPTS = 4
RETRY_BASE_WAIT = 0.25
RETRY_MAX_WAIT = 4.0

# The connection was reset or closed before the whole answer arrived. On a reused keep-alive
# connection the server closing it idle is expected: retried at once, without counting an attempt.
_RESET = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    http.client.BadStatusLine,
    http.client.IncompleteRead,
)


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


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: where it listens and the Proxy-Authorization header value, if it has credentials."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    def __str__(self) -> str:  # for messages: never the credentials
        return f"proxy {self.host}:{self.port}"


def proxy_for(url: str, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy ``url`` goes through according to ``environ`` (``<scheme>_proxy``, ``no_proxy``), or None."""
    variables: dict[str, str] = {}
    for name in (n for n in environ if n.lower().endswith("_proxy") and not n.islower()):
        if environ[name]:
            variables[name.lower()[:-6]] = environ[name]
    for name in (n for n in environ if n.endswith("_proxy") and n.islower()):  # lowercase wins
        if environ[name]:
            variables[name[:-6]] = environ[name]
        else:
            variables.pop(name[:-6], None)
    parts = urlsplit(url)
    proxy = variables.get(parts.scheme)
    if not proxy:
        return None
    if _bypassed(parts.hostname or "", variables.get("no", "")):
        return None
    variable = f"{parts.scheme}_proxy"
    proxy_parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    try:
        port = proxy_parts.port or 80
    except ValueError:
        port = 0
    if proxy_parts.scheme != "http" or not proxy_parts.hostname or not port:
        shown = f"{proxy_parts.scheme}://{proxy_parts.hostname or ''}"
        raise ConfigError(
            f"{variable}: {shown}... is not an http://host[:port] proxy, so the remote cache {url} cannot use it.",
            hint=f"Set {variable} to http://host:port (https remotes are tunnelled with CONNECT), "
            "or add the remote's host to no_proxy.",
        )
    authorization = None
    if proxy_parts.username is not None:
        from urllib.parse import unquote

        pair = f"{unquote(proxy_parts.username)}:{unquote(proxy_parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return Proxy(proxy_parts.hostname, port, authorization)


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` exempts ``host``: ``*`` alone exempts every host, a name exempts itself
    and its subdomains (a leading dot is ignored). Ports are not compared: the LLM client passes
    only the host to urllib's check, so a ``host:port`` entry exempts nothing there either."""
    if no_proxy.strip() == "*":
        return True
    host = host.lower()
    return any(
        name and (host == name or host.endswith("." + name))
        for name in (n.strip().lstrip(".").lower() for n in no_proxy.split(","))
    )


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
        env = os.environ if environ is None else environ
        self._auth = auth_header(env, token_env, user_env, password_env)
        self.proxy = proxy_for(self.location, env)
        self._local = threading.local()
        self._jitter = random.Random()

    # -- transport -----------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            if self.proxy is None:
                conn = kind(self._host, self._port, timeout=self.timeout, blocksize=CHUNK)
            elif self._https:  # a CONNECT tunnel: the proxy sees only the host name, TLS is end to end
                conn = kind(self.proxy.host, self.proxy.port, timeout=self.timeout, blocksize=CHUNK)
                tunnel_headers = {"Proxy-Authorization": self.proxy.authorization} if self.proxy.authorization else None
                conn.set_tunnel(self._host, self._port, headers=tunnel_headers)
            else:  # plain HTTP: absolute-URL requests to the proxy
                conn = http.client.HTTPConnection(self.proxy.host, self.proxy.port, timeout=self.timeout, blocksize=CHUNK)
            self._local.conn = conn
        return conn

    def _target(self, rel: str) -> str:
        """The request target: a path, or the absolute URL when a plain-HTTP proxy forwards it."""
        path = self._prefix + quote(rel)
        if self.proxy is not None and not self._https:
            return self.location[: -len(self._prefix)] + path
        return path

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
        restart: Callable[[], None] | None = None,
    ) -> tuple[int, Any]:
        """Send one request, retried (module docstring); returns (status, consume(response) or the body bytes).

        ``consume`` reads a 2xx answer; if the connection breaks while it reads, ``restart`` undoes
        what it did before the next attempt (without ``restart`` such a break is not retried).
        """
        headers = {"Connection": "keep-alive"}
        if self._auth:
            headers["Authorization"] = self._auth
        if self.proxy is not None and self.proxy.authorization and not self._https:
            headers["Proxy-Authorization"] = self.proxy.authorization
        if length is not None:
            headers["Content-Length"] = str(length)
        deadline = time.monotonic() + self.deadline
        attempt = 0
        while True:
            attempt += 1
            conn = self._connection()
            reused = conn.sock is not None
            consuming = False
            watchdog = _Watchdog(conn, max(0.0, deadline - time.monotonic()))
            try:
                if body is not None and not isinstance(body, bytes):  # a file: resent from its start
                    body.seek(0)
                conn.request(method, self._target(rel), body=body, headers=headers)
                watchdog.watch(conn.sock)  # getresponse() may drop conn.sock (Connection: close)
                response = conn.getresponse()
                if response.status < 300 and consume is not None:
                    consuming = True
                    result = consume(response)
                else:
                    result = response.read(ERROR_BODY_LIMIT)
                    if not response.isclosed():
                        response.will_close = True  # unread bytes: the connection cannot be reused
                if watchdog.fired:  # the body was cut short: never hand out part of an object
                    raise TimeoutError
                if response.will_close:
                    self.close()
                if response.status not in RETRY_STATUSES:
                    return response.status, result
                wait = self._backoff(attempt, response.getheader("Retry-After"))
                if attempt >= ATTEMPTS or time.monotonic() + wait >= deadline:
                    raise self._failing(method, rel, response.status, attempt)
            except _RESET as exc:
                self.close()
                if watchdog.fired:
                    raise self._unreachable(method, rel, exc, watchdog) from exc
                if consuming and restart is None:
                    raise self._unreachable(method, rel, exc) from exc
                if reused and not consuming:  # the server closed an idle keep-alive connection
                    attempt -= 1
                    wait = 0.0
                else:
                    wait = self._backoff(attempt, None)
                    if attempt >= ATTEMPTS or time.monotonic() + wait >= deadline:
                        raise self._unreachable(method, rel, exc, attempts=attempt) from exc
                if consuming and restart is not None:
                    restart()
            except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
                self.close()
                raise self._unreachable(method, rel, exc, watchdog) from exc
            except BaseException:
                self.close()  # the response was not read to its end: the connection is unusable
                raise
            finally:
                watchdog.cancel()
            time.sleep(wait)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: exponential with jitter, or the server's Retry-After."""
        wait = RETRY_BASE_WAIT * 2 ** (attempt - 1) * self._jitter.uniform(0.5, 1.0)
        if retry_after is not None and retry_after.strip().isdigit():
            wait = max(wait, float(retry_after.strip()))
        return min(RETRY_MAX_WAIT, wait)

    def _failing(self, method: str, rel: str, status: int, attempts: int) -> StoreError:
        return StoreError(
            f"remote cache {self.location} answered HTTP {status} to {attempts} attempt"
            f"{'s' if attempts > 1 else ''} at {method} {self.location}{rel}; giving up.",
            hint="The server (or a proxy before it) is failing; builds continue with the local cache. "
            "Check the server's error log.",
        )

    def _unreachable(
        self,
        method: str,
        rel: str,
        exc: BaseException,
        watchdog: _Watchdog | None = None,
        *,
        attempts: int = 1,
    ) -> StoreError:
        if watchdog is not None and watchdog.fired:
            reason = f"the transfer took longer than {self.deadline:g} s (DDBUILD_TRANSFER_TIMEOUT)"
        elif isinstance(exc, socket.timeout):
            reason = "timed out"
        else:
            reason = type(exc).__name__ + f": {exc}"
        if attempts > 1:
            reason += f", {attempts} attempts"
        via = f" via {self.proxy}" if self.proxy is not None else ""
        return StoreError(
            f"remote cache {self.location} is unreachable{via} ({method} {rel}: {reason}).",
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

        status, data = self._request("GET", rel, consume=bounded, restart=lambda: None)
        if status == 404:
            return None
        self._check(status, "GET", rel, (200,))
        return data

    def copy_to(self, rel: str, out: BinarySink, hasher: xxhash.xxh3_128, limit: int | None = None) -> bool:
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

        def restart() -> None:  # the connection broke mid-body: the next attempt starts from byte 0
            if hasattr(out, "seek") and hasattr(out, "truncate"):  # a file, not a counting sink
                out.seek(0)
                out.truncate()
            hasher.reset()

        status, _ = self._request("GET", rel, consume=stream, restart=restart)
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
