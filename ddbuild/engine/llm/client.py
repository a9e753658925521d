"""ChatClient: chat-completions URLs, API keys, per-model admission, and retries with backoff.

One ``ChatClient`` per stage run. Per model alias it holds a route (URL, headers, the provider's
extra body) and a slot of the model's admission controller (limits.py): at most
``max_parallel_requests`` in flight, fewer while the endpoint pushes back (AIMD, tuned by
``RunConfig.request_admission``). Slots come from a ``ModelLimits`` registry keyed by (URL, model
id): the client's own by default, or one shared by every stage run of a build so concurrent
branches on one model share its budget.

Retry policy (one request):

    attempt ──► 2xx with a JSON object ─────────────────────────────► return it
        │       429 ───────────────────────────────────────────────► admission lowers the limit and
        │                                                            cools down; try again (free
        │                                                            while the limit was above 1)
        │       408, 5xx, timeout, connection reset, bad JSON ──────► wait, try again
        │                                                            (at most max_retries times)
        ├─────► connection refused (nothing listening) ─────────────► RequestFailure (no retry)
        └─────► any other status (400, 401, 404, …) ────────────────► RequestFailure (no retry)

    wait = min(retry_max_wait, max(Retry-After, base · 2^n · jitter)),  jitter ∈ [0.5, 1)
    cooldown after 429/503 = min(retry_max_wait, Retry-After or cooldown_seconds)

No health checks and no probes: every HTTP request sent is one the caller asked for, so request
counts are exact.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ddbuild.config.models import ModelConfig, ModelProvider
from ddbuild.config.run_config import RequestAdmissionTuningConfig
from ddbuild.engine.llm.limits import ModelLimits, Outcome, Slot
from ddbuild.engine.llm.replies import completion_problem, embedding_problem
from ddbuild.engine.llm.transport import ChatTransport, TransportError, TransportRefused, TransportTimeout
from ddbuild.engine.secret_resolver import SecretResolver, default_secret_resolver, shown
from ddbuild.errors import APIKeyError, LLMRequestError, ModelConfigError, SecretResolutionError

EXCERPT_CHARS = 500
# 429s admitted while the model's limit was above 1 are the admission controller's signal, not a
# failure of the request: retried without counting against max_retries, at most this many times.
MAX_ADMISSION_RETRIES = 32
REDACTED = "***"
_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*$")


def default_providers(environ: Mapping[str, str] | None = None) -> list[ModelProvider]:
    """The providers a run uses when none are given (``catalogue.runtime_providers``)."""
    from ddbuild.engine.llm.catalogue import runtime_providers

    return runtime_providers(environ)


def resolve_api_key(provider: ModelProvider, environ: Mapping[str, str] | None = None, *,
                    needed_by: str = "", secret_resolver: SecretResolver | None = None) -> str | None:
    """The key to send, by Data Designer's rule: ``secret_resolver`` (default: the environment
    variable the key names if one is set, else the key itself) resolves the reference; an empty
    result means no key. ``"env:VAR"`` and a key spelled like a variable name (``NVIDIA_API_KEY``)
    must resolve to something other than themselves and "" (ddbuild's stricter check: not sent as a
    literal bearer token). Failures are APIKeyError (also Data Designer's SecretResolutionError)
    naming the provider, the reference if it is spelled like a variable, and ``needed_by`` (which
    alias/column needs it). No message ever holds a key."""
    if provider.api_key is None:
        return None
    raw = provider.api_key.get_secret_value()
    if not raw:
        return None
    variable = provider.api_key_env_var
    reference = variable if variable is not None else raw
    resolver = secret_resolver if secret_resolver is not None else default_secret_resolver(environ)
    needs = f"; {needed_by} needs it" if needed_by else ""
    try:
        value = resolver.resolve(reference)
    except SecretResolutionError as exc:
        literal = [raw] if variable is None else []  # a reference not spelled like a variable may be the key
        detail = redact(getattr(exc, "message", None) or str(exc), literal)
        raise APIKeyError(
            f"Model provider '{provider.name}' cannot resolve its API key {shown(reference)}{needs}: {detail}",
            hint="Make the secret resolver find it (DataDesigner(secret_resolver=...)), or give the provider "
            "another api_key (None for an endpoint without authentication).",
        ) from None
    if variable is not None and value in (reference, ""):  # fell through to plain text, or set empty: unset
        raise APIKeyError(
            f"Model provider '{provider.name}' reads its API key from the environment variable "
            f"{variable}, which is not set{needs}.",
            hint=f"export {variable}=… (or give DataDesigner(model_providers=[...]) a provider with "
            "another api_key; api_key=None for an endpoint without authentication).",
        )
    return value or None


class Api(str, Enum):
    """The OpenAI-compatible APIs ddbuild calls; the value is the path under ``/v1``."""

    CHAT = "chat/completions"
    EMBEDDINGS = "embeddings"


def api_url(endpoint: str, api: Api = Api.CHAT) -> str:
    """The URL of ``api`` for the common endpoint spellings.

    ``…/chat/completions`` (or ``…/embeddings``) is used as given for that API and replaced for
    the other; ``…/v1`` (any ``/vN`` last segment) gets ``/<api>``; a bare host or other path
    gets ``/v1/<api>``.
    """
    base = endpoint.strip().rstrip("/")
    for known in Api:
        if base.endswith(f"/{known.value}"):
            return base if known is api else f"{base[: -len(known.value)]}{api.value}"
    if _VERSION_SEGMENT.search(base):
        return f"{base}/{api.value}"
    return f"{base}/v1/{api.value}"


def chat_completions_url(endpoint: str) -> str:
    """The chat-completions URL for the common endpoint spellings (``api_url``)."""
    return api_url(endpoint, Api.CHAT)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def excerpt(body: bytes, secrets: list[str]) -> str:
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    text = redact(text, secrets)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


class RequestFailure(LLMRequestError):
    """One request failed for good: why (``reason``), the HTTP status and a redacted body excerpt."""

    def __init__(
        self, *, reason: str, alias: str, url: str, status: int | None, body_excerpt: str, attempts: int
    ) -> None:
        self.reason = reason
        self.alias = alias
        self.url = url
        self.status = status
        self.body_excerpt = body_excerpt
        self.attempts = attempts
        got = f"HTTP {status}" if status is not None else reason.replace("_", " ")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        message = f"Model alias '{alias}': POST {url} failed{tries}: {got}"
        super().__init__(message + (f": {body_excerpt}" if body_excerpt else "."))


@dataclass
class Sent:
    """A successful response and how many HTTP attempts it took."""

    response: dict[str, Any]
    attempts: int


@dataclass
class _Route:
    alias: str
    model: ModelConfig
    url: str
    headers: dict[str, str]
    extra_body: dict[str, Any]
    secrets: list[str]
    slot: Slot  # admission to the model's adaptive max_parallel_requests budget
    counters: dict[str, int] = field(default_factory=lambda: {"requests_sent": 0, "retries": 0})


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class _Outcome:
    """One attempt that did not succeed: retryable or not, and what to report."""

    reason: str
    retryable: bool
    status: int | None = None
    body: bytes = b""
    retry_after: float | None = None


class ChatClient:
    """Sends chat completions for configured model aliases; safe for many concurrent callers."""

    def __init__(
        self,
        model_configs: list[ModelConfig],
        providers: list[ModelProvider] | None,  # None: default_providers()
        transport: ChatTransport,
        *,
        max_retries: int,
        retry_max_wait: float,
        retry_base_wait: float = 0.5,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        limits: ModelLimits | None = None,
        request_admission: RequestAdmissionTuningConfig | None = None,  # tuning of a client's own limits
        secret_resolver: SecretResolver | None = None,  # None: Data Designer's default (env, then plain text)
    ) -> None:
        self._models = {m.alias: m for m in model_configs}
        self._providers = {p.name: p for p in (providers or default_providers(environ))}
        self._default_provider = next(iter(self._providers))
        self._transport = transport
        self._max_retries = max_retries
        self._retry_max_wait = retry_max_wait
        self._retry_base_wait = retry_base_wait
        self._environ = environ
        self._secret_resolver = secret_resolver
        self._sleep = sleep
        self._clock = clock
        self._jitter = random.Random()  # timing only; never affects a key or a reply
        self._routes: dict[str, _Route] = {}
        self._limits = limits if limits is not None else ModelLimits(request_admission)
        # Called with a slot held, right before each POST; may raise to stop sending (early stop).
        self.before_send: Callable[[], None] = lambda: None
        # Called with the number of this client's POSTs awaiting a reply, each time it changes.
        self.on_in_flight: Callable[[int], None] = lambda in_flight: None
        self._in_flight = 0

    @property
    def secret_resolver(self) -> SecretResolver | None:
        return self._secret_resolver

    def provider_for(self, model: ModelConfig) -> ModelProvider:
        name = model.provider or self._default_provider
        if name not in self._providers:
            raise ModelConfigError(
                f"Model alias '{model.alias}' names provider '{name}', which is not configured.",
                hint=f"Configured providers: {', '.join(sorted(self._providers))}.",
            )
        return self._providers[name]

    def route(self, alias: str) -> _Route:
        """The route of ``alias``, built on first use (resolves the API key: may raise)."""
        if alias in self._routes:
            return self._routes[alias]
        model = self._models[alias]
        provider = self.provider_for(model)
        key = resolve_api_key(provider, self._environ, needed_by=f"model alias '{alias}'",
                              secret_resolver=self._secret_resolver)
        headers = {"Content-Type": "application/json", **provider.extra_headers}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = api_url(provider.endpoint, Api.EMBEDDINGS if model.is_embedding else Api.CHAT)
        route = _Route(
            alias=alias,
            model=model,
            url=url,
            headers=headers,
            extra_body=dict(provider.extra_body or {}),
            secrets=[key] if key else [],
            slot=self._limits.slot((url, model.model), model.inference_parameters.max_parallel_requests),
        )
        self._routes[alias] = route
        return route

    def counters(self) -> dict[str, dict[str, int]]:
        return {alias: dict(route.counters) for alias, route in self._routes.items()}

    async def send(self, alias: str, body: dict[str, Any]) -> Sent:
        """POST ``body`` for ``alias`` with retries; ``RequestFailure`` when it fails for good."""
        route = self.route(alias)
        timeout = route.model.inference_parameters.timeout
        attempt = counted = admission_retries = 0
        while True:
            attempt += 1
            outcome, admitted_at = await self._attempt(route, body, timeout)
            if isinstance(outcome, dict):
                return Sent(outcome, attempt)
            free = (outcome.status == 429 and admitted_at > 1 and admission_retries < MAX_ADMISSION_RETRIES)
            if not free:
                counted += 1
            if not outcome.retryable or counted > self._max_retries:
                raise RequestFailure(
                    reason=outcome.reason,
                    alias=alias,
                    url=route.url,
                    status=outcome.status,
                    body_excerpt=excerpt(outcome.body, route.secrets),
                    attempts=attempt,
                )
            route.counters["retries"] += 1
            if outcome.status == 429:
                admission_retries += free
                continue  # the admission controller holds the next attempt for the cooldown
            await self._sleep(self._backoff(counted, outcome.retry_after))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = self._retry_base_wait * (2 ** (attempt - 1)) * self._jitter.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(self._retry_max_wait, wait)

    def _cooldown(self, retry_after: float | None) -> float:
        given = retry_after if retry_after is not None and retry_after > 0 else None
        return min(self._retry_max_wait, given if given is not None else self._limits.tuning.cooldown_seconds)

    async def _attempt(
        self, route: _Route, body: dict[str, Any], timeout: float | None
    ) -> tuple[dict[str, Any] | _Outcome, int]:
        """One admitted POST: the reply (or why not) and the adaptive limit it was admitted under."""
        admitted_at = await route.slot.acquire()
        signal, cooldown = Outcome.NEUTRAL, 0.0
        try:
            self.before_send()
            route.counters["requests_sent"] += 1
            self._in_flight += 1  # one event loop per client: no lock needed
            self.on_in_flight(self._in_flight)
            try:
                status, headers, raw = await self._transport.post(route.url, route.headers, body, timeout)
            except TransportTimeout:
                signal = Outcome.TIMEOUT
                return _Outcome("timeout", retryable=True), admitted_at
            except TransportRefused as exc:
                return _Outcome("connection_refused", retryable=False, body=str(exc).encode()), admitted_at
            except TransportError as exc:
                return _Outcome("connection_error", retryable=True, body=str(exc).encode()), admitted_at
            finally:
                self._in_flight -= 1
                self.on_in_flight(self._in_flight)
            if 200 <= status < 300:
                signal = Outcome.SUCCESS
            elif status in (429, 503):
                signal, cooldown = Outcome.RATE_LIMITED, self._cooldown(_retry_after(headers))
            elif status == 408:
                signal = Outcome.TIMEOUT
        finally:
            route.slot.release(signal, admitted_at, cooldown)
        return _classify(status, headers, raw, embedding_problem if route.model.is_embedding else completion_problem), \
            admitted_at


# Reasons a request fails for good that say nothing about the row: the endpoint was busy, down or
# garbled (the retryable outcomes of ``_classify`` and ``_attempt``, after the retries ran out).
# A row lost to one of them is never part of a stored output: the stage fails and the next build
# asks again (engine/dataset.py). Every other reason (400, a refusal, invalid JSON) is a property
# of the request and drops the row as data.
TRANSIENT_REASONS = frozenset(
    {"server_error", "rate_limited", "timeout", "connection_error", "connection_refused", "malformed_response"}
)


def _classify(status: int, headers: Mapping[str, str], raw: bytes,
              problem: Callable[[object], str | None] = completion_problem) -> dict[str, Any] | _Outcome:
    if 200 <= status < 300:
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser (a hostile reply)
            payload = None
        if problem(payload) is None:
            return payload
        return _Outcome("malformed_response", retryable=True, status=status, body=raw)
    if status == 429:
        return _Outcome("rate_limited", True, status, raw, _retry_after(headers))
    if status == 408 or status >= 500:
        return _Outcome("server_error" if status >= 500 else "timeout", True, status, raw, _retry_after(headers))
    return _Outcome(f"http_{status}", retryable=False, status=status, body=raw)
