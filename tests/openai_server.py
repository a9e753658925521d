"""An OpenAI-compatible ``/v1/chat/completions`` (and ``/v1/embeddings``) test server on loopback,
with counters and faults.

In tests::

    server = start_server(latency_ms=0)        # or the ``openai_server`` fixture (tests/llm)
    server.url                                 # "http://127.0.0.1:<port>/v1"
    server.add_fault("429", times=1, retry_after=1)
    ...; server.total, server.count_prompt("about cats"), server.max_in_flight
    server.stop()

Standalone (benchmarks, other processes): ``python tests/openai_server.py --port 0 --latency-ms 50``
prints ``listening on http://127.0.0.1:<port>/v1``; ``GET /_stats`` returns the counters as JSON,
``POST /_reset`` clears them (``arrived_at``: each request's ``time.monotonic()`` on arrival, the
clock a client on the same machine reads).

Replies are deterministic, derived from the request: ``reply to: <first 40 chars of the last user
message>``; with ``response_format`` json_schema, a JSON object valid for the schema (strings,
numbers, enums, arrays, nested objects). Usage tokens are whitespace word counts. Embeddings:
one vector per input text (``embedding_for``: ``dimensions`` numbers, 8 by default, from the text's
hash; ``encoding_format="base64"`` as float32). ``POST …/validate`` is a remote validator
(``validation``: ``{"data": [{"is_valid", "chars"}]}``). ``by_api`` counts requests per API.

Faults (``add_fault(kind, times=1, match=None, …)``; ``match`` is a substring of the last user
message, ``times=None`` means every time): ``429`` (``retry_after=`` seconds), ``500``, ``400``,
``401`` (the error message echoes the whole bearer token, as a careless server might),
``slow`` (``delay=`` seconds, past the client's timeout), ``malformed_body`` (HTTP body not JSON),
``invalid_json`` (reply content is not JSON), ``schema_invalid`` (JSON that breaks the schema),
``length`` (finish_reason=length), ``refusal``, ``reply`` (``content=`` the reply text), ``raw``
(HTTP 200 with ``body=`` as the whole response body, e.g. ``{"choices": [1]}``), ``reasoning``
(the usual reply). ``reasoning=`` (any kind) adds that ``reasoning_content`` to the reply message.

Images: a user message whose content is a list of parts counts its ``text`` parts as the message;
its ``image_url`` parts are recorded (``RequestRecord.images``) and reflected in the usual reply as
`` [images: <label>, …]``, a label being the URL of an http(s) image or ``<media type>
sha256:<12 hex>`` of a data URI's decoded bytes (``image_label``).
Concurrency limit (``set_concurrency_limit(n, retry_after=None)``, ``--concurrency-limit``): a
request that arrives while ``n`` others are in flight gets 429 at once (no latency), as a provider's
rate limiter would; ``arrivals`` records how many were in flight at each arrival (itself
included), ``max_in_flight`` the most ever. ``connections``: TCP connections accepted since the
last reset (a keep-alive connection carries many requests); ``open_connections``: open now.
``rate=`` (0..1) applies a fault to about that fraction of matching requests, decided by a hash of
(the last user message, how many times it was seen before): the same prompts fail the same way in
any order, so ``add_fault("500", times=None, rate=0.6)`` fails the same attempts on every run
whatever order concurrent requests arrive in.

Stdlib HTTP (ThreadingHTTPServer; only the placeholder values come from ddbuild), with the fixes measured in environment-facts §5: listen
backlog 128, TCP_NODELAY on responses, daemon threads.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ddbuild.engine.llm.schema import example_for  # the same placeholder values --explain uses

FAULT_KINDS = (
    "429", "500", "400", "401", "slow", "malformed_body", "invalid_json",
    "schema_invalid", "length", "refusal", "reply", "raw", "reasoning",
)  # fmt: skip


@dataclass
class Fault:
    kind: str
    times: int | None = 1
    match: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    content: str = ""
    body: str = ""
    rate: float = 1.0  # fraction of matching requests that get the fault
    immediate: bool = False  # answered without the server's latency (the concurrency limit's 429)
    reasoning: str | None = None  # the reply message's reasoning_content


@dataclass
class RequestRecord:
    at: float
    model: str
    last_user: str
    body: dict[str, Any]
    authorization: str | None
    api: str = "chat"  # "chat" (/chat/completions) or "embeddings" (/embeddings)
    in_flight: int = 0  # requests in flight when this one arrived, itself included
    images: list[str] = field(default_factory=list)  # the image_url parts of the last user message


class FakeOpenAIServer:
    """The server, its counters and its fault list. Thread-safe; start() runs it in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0) -> None:
        self.latency = latency_ms / 1000.0
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.concurrency_limit: int | None = None
        self.limit_retry_after: float | None = None
        self.open_connections = 0  # TCP connections open now (not cleared by reset)
        self.reset()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _Server((host, port), handler)
        self.port = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/v1"
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- test controls ---------------------------------------------------------------------------
    def add_fault(self, kind: str, times: int | None = 1, match: str | None = None, **options: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(Fault(kind, times, match, **options))

    def set_concurrency_limit(self, limit: int | None, retry_after: float | None = None) -> None:
        """Answer 429 (``Retry-After: retry_after`` if given) to a request arriving while ``limit``
        others are in flight; None: no limit."""
        with self._lock:
            self.concurrency_limit, self.limit_retry_after = limit, retry_after

    @property
    def arrivals(self) -> list[int]:
        """In flight at each request's arrival (itself included), in arrival order."""
        with self._lock:
            return [r.in_flight for r in self.records]

    def reset(self) -> None:
        """Clear counters, records and faults."""
        with self._lock:
            self.total = 0
            self.by_model: Counter[str] = Counter()
            self.by_status: Counter[int] = Counter()
            self.by_api: Counter[str] = Counter()  # "chat" / "embeddings" -> requests
            self.records: list[RequestRecord] = []
            self.in_flight = 0
            self.max_in_flight = 0
            self.connections = 0  # TCP connections accepted since the reset
            self._faults = []
            self._seen: Counter[str] = Counter()  # last user message -> requests seen (rate faults)

    def count_prompt(self, substring: str) -> int:
        """Requests whose last user message contains ``substring``."""
        with self._lock:
            return sum(1 for r in self.records if substring in r.last_user)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_model": dict(self.by_model),
                "by_status": {str(k): v for k, v in self.by_status.items()},
                "max_in_flight": self.max_in_flight,
                "connections": self.connections,
                "open_connections": self.open_connections,
                "arrivals": [r.in_flight for r in self.records],
                "arrived_at": [r.at for r in self.records],  # time.monotonic() of each arrival
            }

    # -- request handling (called from handler threads) ------------------------------------------
    def _enter(self, body: dict[str, Any], authorization: str | None,
               api: str = "chat") -> tuple[RequestRecord, Fault | None]:
        images: list[str] = []
        if api == "validate":  # a remote validator's batch: its rows as JSON stand in for the message
            last_user = json.dumps(body.get("data"), sort_keys=True)
        elif api == "embeddings":  # the texts stand in for the last user message (count_prompt, match=)
            texts = body.get("input")
            last_user = "\n".join(map(str, texts)) if isinstance(texts, list) else str(texts)
        else:
            messages = body.get("messages") or []
            last_user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
            if isinstance(last_user, list):  # content parts: text and images
                images = [str((p.get("image_url") or {}).get("url")) for p in last_user if p.get("type") == "image_url"]
                last_user = "".join(str(p.get("text", "")) for p in last_user if p.get("type") == "text")
        record = RequestRecord(time.monotonic(), str(body.get("model")), str(last_user), body, authorization, api,
                               images=images)
        with self._lock:
            self.total += 1
            self.by_api[api] += 1
            self.by_model[record.model] += 1
            self.records.append(record)
            self.in_flight += 1
            record.in_flight = self.in_flight
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.concurrency_limit is not None and self.in_flight > self.concurrency_limit:
                return record, Fault("429", retry_after=self.limit_retry_after, immediate=True)
            fault = self._take_fault(record.last_user)
        return record, fault

    def _take_fault(self, last_user: str) -> Fault | None:
        seen = self._seen[last_user]
        self._seen[last_user] += 1
        for fault in self._faults:
            draw = int.from_bytes(hashlib.sha256(f"{seen}\0{last_user}".encode()).digest()[:8], "big") / 2**64
            if fault.rate < 1.0 and draw >= fault.rate:
                continue
            if fault.match is None or fault.match in last_user:
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _leave(self, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            self.by_status[status] += 1

    def respond(self, body: dict[str, Any], record: RequestRecord, fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        kind = fault.kind if fault else None
        if kind == "429":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return 429, headers, _error("Rate limit reached for requests", "rate_limit_exceeded")
        if kind == "500":
            return 500, {}, _error("The server had an error while processing your request.", "server_error")
        if kind == "401":
            token = (record.authorization or "").removeprefix("Bearer ")
            return 401, {}, _error(f"Incorrect API key provided: {token}", "invalid_api_key")
        if kind == "400":
            return 400, {}, _error(fault.body or "Invalid request: unsupported parameter", "invalid_request_error")
        if kind == "malformed_body":
            return 200, {}, b'{"id": "chatcmpl-broken", "choices": [ {"mess'
        if kind == "raw":
            return 200, {}, fault.body.encode()
        if record.api == "embeddings":
            return 200, {}, json.dumps(self.embeddings(body, record)).encode()
        if record.api == "validate":
            return 200, {}, json.dumps(self.validation(body)).encode()
        return 200, {}, json.dumps(self.completion(body, record, fault)).encode()

    @staticmethod
    def validation(body: dict[str, Any]) -> dict[str, Any]:
        """A remote validator's reply: a row is valid unless a value contains "bad"; ``chars``
        counts the characters of its values."""
        rows = body.get("data") if isinstance(body.get("data"), list) else []
        return {"data": [{"is_valid": not any("bad" in str(v) for v in row.values()),
                          "chars": sum(len(str(v)) for v in row.values())} for row in rows]}

    def embeddings(self, body: dict[str, Any], record: RequestRecord) -> dict[str, Any]:
        """One vector per input text, ``dimensions`` long (8 by default), derived from the text."""
        texts = body.get("input")
        texts = texts if isinstance(texts, list) else [texts]
        size = int(body.get("dimensions") or 8)
        data = []
        for index, text in enumerate(texts):
            vector = embedding_for(str(text), size)
            if body.get("encoding_format") == "base64":
                import base64
                import struct

                encoded: Any = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            else:
                encoded = vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(str(t).split()) for t in texts)
        return {"object": "list", "data": data, "model": record.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def completion(self, body: dict[str, Any], record: RequestRecord, fault: Fault | None) -> dict[str, Any]:
        kind = fault.kind if fault else None
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        finish, refusal = "stop", None
        if kind == "reply":
            content = fault.content
        elif kind == "invalid_json":
            content = '{"this is": not json'
        elif kind == "schema_invalid":
            content = json.dumps({"unexpected": True}) if schema is not None else "not what was asked"
        elif schema is not None:
            content = json.dumps(example_for(schema))
        else:
            content = f"reply to: {record.last_user[:40]}"
            if record.images:
                content += f" [images: {', '.join(image_label(u) for u in record.images)}]"
        if kind == "length":
            finish = "length"
        if kind == "refusal":
            content, refusal = None, "I can't help with that."
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        completion_tokens = len((content or "").split())
        return {
            "id": f"chatcmpl-{self.total}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": record.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal,
                                **({"reasoning_content": fault.reasoning} if fault and fault.reasoning else {})},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def embedding_for(text: str, size: int) -> list[float]:
    """The test server's vector for ``text``: ``size`` numbers in [-1, 1) from its SHA-256, exact
    in float32 (multiples of 1/128), so base64 and float replies decode to the same values."""
    digest = b""
    while len(digest) < size:
        digest += hashlib.sha256(f"{len(digest)}\0{text}".encode()).digest()
    return [(byte - 128) / 128 for byte in digest[:size]]


def image_label(url: str) -> str:
    """How a reply names an image it was sent: an http(s) URL as it is, a data URI by its bytes."""
    if url.startswith("data:") and ";base64," in url:
        head, data = url.split(";base64,", 1)
        digest = hashlib.sha256(base64.b64decode(data)).hexdigest()[:12]
        return f"{head.removeprefix('data:')} sha256:{digest}"
    return url


def _error(message: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": code, "code": code}}).encode()


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 resets connections when many clients connect at once
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms per keep-alive response
    server_state: FakeOpenAIServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def setup(self) -> None:  # one call per TCP connection (keep-alive: many requests each)
        super().setup()
        with self.server_state._lock:
            self.server_state.connections += 1
            self.server_state.open_connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server_state._lock:
                self.server_state.open_connections -= 1

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.rstrip("/") == "/_stats":
            self._send(200, {}, json.dumps(self.server_state.stats()).encode())
        else:
            self._send(404, {}, _error("not found", "not_found"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.server_state
        if self.path.rstrip("/") == "/_reset":
            state.reset()
            self._send(200, {}, b"{}")
            return
        path = self.path.rstrip("/")
        if not path.endswith(("/chat/completions", "/embeddings", "/validate")):
            self._send(404, {}, _error(f"no route {self.path}", "not_found"))
            return
        api = next(a for a in ("embeddings", "validate", "chat") if a == "chat" or path.endswith(f"/{a}"))
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {}, _error("request body is not JSON", "invalid_request_error"))
            return
        record, fault = state._enter(body, self.headers.get("Authorization"), api)
        status = 0
        try:
            delay = state.latency + (fault.delay if fault and fault.kind == "slow" else 0.0)
            if fault is not None and fault.immediate:
                delay = 0.0
            if delay:
                time.sleep(delay)
            status, headers, payload = state.respond(body, record, fault)
        finally:
            # Counted before the reply goes out: a client holding its answer always sees it counted.
            state._leave(status)
        try:
            self._send(status, headers, payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): nothing to answer


def start_server(latency_ms: float = 0.0, port: int = 0, host: str = "127.0.0.1") -> FakeOpenAIServer:
    """Start a server in a daemon thread on a free port; call ``.stop()`` when done."""
    return FakeOpenAIServer(host, port, latency_ms).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency-limit", type=int, default=None, help="429 above this many in flight")
    parser.add_argument("--limit-retry-after", type=float, default=None, help="Retry-After of those 429s")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(args.host, args.port, args.latency_ms)
    server.set_concurrency_limit(args.concurrency_limit, args.limit_retry_after)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server._httpd.shutdown).start())
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server._httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
