"""The HTTP seam for LLM requests: a one-method ``ChatTransport`` protocol and its implementations.

``AiohttpTransport`` is the real one (aiohttp, imported lazily on the first request so the CLI
starts fast). aiohttp because, measured on loopback at 50 ms latency, it holds ~1,200 req/s at
64 in flight where httpx's AsyncClient collapses above ~32 (docs/models.md). ``FunctionTransport``
is the fake that ships with the package: it answers from a plain function, for unit tests of
code above the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

Response = tuple[int, Mapping[str, str], bytes]


class TransportError(Exception):
    """The request got no HTTP response; retryable."""


class TransportTimeout(TransportError):
    """No complete response within the timeout."""


class TransportConnectionError(TransportError):
    """Connecting, sending or reading failed (reset, server disconnected, DNS); retryable."""


class TransportRefused(TransportConnectionError):
    """Nothing listens at the endpoint (ECONNREFUSED): not retried, waiting will not change it."""


class ChatTransport(Protocol):
    async def post(
        self, url: str, headers: Mapping[str, str], json_body: dict[str, Any], timeout: float | None
    ) -> Response:
        """POST ``json_body``; return (status, headers, body bytes) or raise ``TransportError``."""
        ...

    async def aclose(self) -> None: ...


# A timeout of None means "no limit" to the user; we still stop a request that hangs forever.
DEFAULT_TIMEOUT_S = 600.0


class AiohttpTransport:
    """One aiohttp ClientSession per stage run (a build's SessionPool hands it to the next stage run,
    connections open: engine/llm/sessions.py); the connector admits ``max_connections`` at once."""

    def __init__(self, max_connections: int) -> None:
        self._max_connections = max(1, max_connections)
        self._session: Any = None
        self._proxies: dict[str, Any] = {}
        self._timeouts: dict[float, Any] = {}  # seconds -> aiohttp.ClientTimeout (one per model, not per request)

    def _open(self) -> Any:
        import aiohttp  # lazy: only stages with LLM columns pay for the import

        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300)
        # trust_env=False: with it aiohttp reads ~/.netrc and the proxy variables in a worker
        # thread on *every* request (2 thread hops, ~40 % of client CPU at 64 in flight). We read
        # the proxy variables once per URL instead (_proxy_for); auth is our own header.
        return aiohttp.ClientSession(
            connector=connector, auto_decompress=True, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        )

    def _proxy_for(self, url: str) -> Any:
        """HTTP(S)_PROXY / NO_PROXY for ``url``, looked up once per URL."""
        if url not in self._proxies:
            from aiohttp.helpers import get_env_proxy_for_url
            from yarl import URL

            try:
                self._proxies[url] = get_env_proxy_for_url(URL(url))[0]
            except LookupError:
                self._proxies[url] = None
        return self._proxies[url]

    async def post(
        self, url: str, headers: Mapping[str, str], json_body: dict[str, Any], timeout: float | None
    ) -> Response:
        import aiohttp

        if self._session is None:
            self._session = self._open()
        data = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        seconds = timeout or DEFAULT_TIMEOUT_S
        client_timeout = self._timeouts.get(seconds)
        if client_timeout is None:
            client_timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        try:
            async with self._session.post(
                url, data=data, headers=headers, timeout=client_timeout, proxy=self._proxy_for(url)
            ) as resp:
                body = await resp.read()
                return resp.status, resp.headers, body
        except asyncio.TimeoutError as exc:
            raise TransportTimeout(f"no response within {timeout or DEFAULT_TIMEOUT_S:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                raise TransportRefused(f"nothing listens at {exc.host}:{exc.port}") from exc
            raise TransportConnectionError(f"{type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise TransportConnectionError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


Handler = Callable[[str, Mapping[str, str], dict[str, Any]], Awaitable[Response] | Response]


class FunctionTransport:
    """A fake transport that answers each request by calling ``handler(url, headers, body)``."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[dict[str, Any]] = []

    async def post(
        self, url: str, headers: Mapping[str, str], json_body: dict[str, Any], timeout: float | None
    ) -> Response:
        self.requests.append(json_body)
        result = self._handler(url, headers, json_body)
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        return result

    async def aclose(self) -> None:
        return None


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    """A (status, headers, body) triple for ``FunctionTransport`` handlers."""
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode("utf-8")
