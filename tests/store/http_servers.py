"""Loopback HTTP servers for the HTTP remote's transport tests: a flaky origin and a counting proxy.

``Origin`` is a tiny in-memory WebDAV-like server (GET/PUT/HEAD/DELETE on paths) that can be told to
fail the next requests: ``origin.fail("503", times=2)``, ``"reset"`` (the connection is reset
before an answer), ``"reset-mid-body"`` (headers and half the body of a GET, then a reset). With
``tls=True`` it serves HTTPS with a throwaway self-signed certificate for 127.0.0.1 (``cert_file``).

``Proxy`` is a forward proxy: absolute-URL requests are forwarded, ``CONNECT`` opens a tunnel.
It counts both, and with ``credentials`` it answers 407 to requests without them.

Both record what they saw (``requests``: (method, target) in arrival order) and bind 127.0.0.1.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets are the point of these servers; nothing to report


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST (SO_LINGER 0), as a crashing server or load balancer does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


class Origin:
    """An in-memory file server with scripted faults (module docstring)."""

    def __init__(self, *, tls_dir: Path | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.faults: list[tuple[str, str | None]] = []
        self.retry_after: str | None = None
        self._lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _fault(self) -> str | None:
                with origin._lock:
                    origin.requests.append((self.command, self.path))
                    for i, (_kind, method) in enumerate(origin.faults):
                        if method in (None, self.command):
                            return origin.faults.pop(i)[0]
                    return None

            def _answer(self, status: int, body: bytes = b"", *, send_body: bool = True) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status >= 500 and origin.retry_after is not None:
                    self.send_header("Retry-After", origin.retry_after)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                fault = self._fault()
                if fault == "reset":
                    self.close_connection = True
                    _reset(self.connection)
                    return
                if fault is not None and fault.isdigit():
                    self._answer(int(fault), b"server trouble\n", send_body=self.command != "HEAD")
                    return
                path = urlsplit(self.path).path
                if self.command == "PUT":
                    origin.files[path] = data
                    self._answer(201)
                elif self.command == "DELETE":
                    self._answer(204 if origin.files.pop(path, None) is not None else 404)
                elif path not in origin.files:
                    self._answer(404, b"not found\n", send_body=self.command != "HEAD")
                elif fault == "reset-mid-body":
                    body = origin.files[path]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    time.sleep(0.2)  # the client reads the half (a reset drops what it has not read)
                    self.close_connection = True
                    _reset(self.connection)
                else:
                    self._answer(200, origin.files[path], send_body=self.command != "HEAD")

            do_GET = do_PUT = do_HEAD = do_DELETE = _handle

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.cert_file: Path | None = None
        scheme = "http"
        if tls_dir is not None:
            self.cert_file, key_file = tls_dir / "origin.pem", tls_dir / "origin.key"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                 "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key_file), "-out", str(self.cert_file)],
                check=True, capture_output=True,
            )  # fmt: skip
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file, key_file)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.port = self._server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self._thread = _serve(self._server)

    def fail(self, kind: str, times: int = 1, method: str | None = None) -> None:
        """Fail the next ``times`` requests (of ``method``) with ``kind`` ("503", "reset", "reset-mid-body", ...)."""
        with self._lock:
            self.faults.extend([(kind, method)] * times)

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.requests if method is None or m == method)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Proxy:
    """A counting forward proxy on loopback: forwards absolute-URL requests, tunnels CONNECT."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        expected = None
        if credentials is not None:
            expected = "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _admit(self) -> bool:
                given = self.headers.get("Proxy-Authorization")
                proxy.requests.append((self.command, self.path))
                proxy.authorizations.append(given)
                if expected is not None and given != expected:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                return True

            def do_CONNECT(self) -> None:
                if not self._admit():
                    return
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=10)
                except OSError:
                    self.send_error(502)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                sockets = [self.connection, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(sockets, [], [], 10)
                        if not readable:
                            return
                        for sock in readable:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is self.connection else self.connection).sendall(data)
                except OSError:
                    return
                finally:
                    upstream.close()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if not self._admit():
                    return
                target = urlsplit(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization", "connection")}
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    conn.request(self.command, path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                except OSError:
                    self.send_error(502)
                    return
                finally:
                    conn.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                        self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = _forward

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = _serve(self._server)

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.requests if method is None or m == method)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running(server: Origin | Proxy) -> Iterator[Any]:
    try:
        yield server
    finally:
        server.stop()
