"""The engine-facing LLM API: ``LLMServices`` (one per stage run) and one generator per LLM column.

How the engine uses it::

    LLMServices.validate(columns, model_configs, providers)      # before anything is sent
    services = LLMServices.create(model_configs, providers, cache, sampling_seed=…,
                                  max_retries=…, retry_max_wait=…)
    gen = services.generator_for(column)                          # per LLM column
    value = await gen.generate(row, draw)                         # from many row coroutines
    …  RowDropped → drop that row;  EarlyShutdownError → propagate (stop the stage)
    services.stats                                                # into metadata.json
    await services.aclose()

One cell, in order: render the prompts (empty → RowDropped) → draw sampled parameters from a
seeded RNG → a conversation of attempts (``_generate``): each attempt's request has its own
key (the first one's is the cell's key, follow-ups' hold the conversation so far, a restart's its
restart number) and is served from the cache or sent (client retries) and stored → parse and check
the reply; a reply that fails to parse (structured, judge, code) gets up to
``max_correction_turns`` correction turns with the parse error, then up to ``max_restarts``
fresh conversations → the value, plus the ``<name>__trace`` / ``<name>__reasoning_content``
side columns when the column asks for them.

The draw = the row's identity: for seeded rows its content and occurrence number among identical
rows (``engine.rowid``), else its row index. Ten rows with the same prompt are ten keys, so ten
samples; a rerun finds the same keys, a seed row inserted above another does not change that
row's keys, and a row never waits for another row.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ddbuild.config.columns import (
    REASONING_SUFFIX,
    TRACE_SUFFIX,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    is_llm_column,
    produced_columns,
)
from ddbuild.config.enums import TraceType
from ddbuild.config.models import ChatCompletionInferenceParams, ImageContext, ModelConfig, ModelProvider
from ddbuild.config.run_config import RequestAdmissionTuningConfig
from ddbuild.engine.llm import messages as messages_mod
from ddbuild.engine.llm import replies
from ddbuild.engine.llm.cache import ResponseCache, request_key
from ddbuild.engine.llm.client import ChatClient, RequestFailure, default_providers, resolve_api_key
from ddbuild.engine.llm.embeddings import EmbeddingColumnGenerator
from ddbuild.engine.llm.limits import ModelLimits
from ddbuild.engine.llm.schema import check_schema
from ddbuild.engine.llm.transport import ChatTransport
from ddbuild.engine.secret_resolver import SecretResolver
from ddbuild.errors import (
    ConfigError,
    EarlyShutdownError,
    GenerationError,
    ModelConfigError,
    TemplateError,
    TemplateLimitError,
    did_you_mean,
)
from ddbuild.fingerprint import digest_json
from ddbuild.templating import compile_template


class RowDropped(GenerationError):
    """This row gets no value for this column (a non-retryable failure); the engine drops the row."""

    def __init__(self, reason: str, detail: str, *, column: str = "", status: int | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.column = column
        self.status = status
        super().__init__(f"Column '{column}': row dropped ({reason}): {detail}")


def column_type_of(column: object) -> str:
    kind = getattr(column, "column_type", "")
    return str(getattr(kind, "value", kind)).replace("_", "-")


def response_schema(column: object) -> dict[str, Any] | None:
    """The JSON schema a column's reply must satisfy (structured and judge columns), else None."""
    if isinstance(column, LLMStructuredColumnConfig):
        return column.output_format  # a pydantic model class was turned into its schema at config time
    if isinstance(column, LLMJudgeColumnConfig):
        return replies.judge_schema(column.scores)
    return None


class _Stats:
    """Counters per (model alias, column); ``as_dict`` sums them into the plain dict for metadata.json."""

    KEYS = ("requests_sent", "served_from_cache", "retries", "correction_turns", "conversation_restarts",
            "prompt_tokens", "completion_tokens", "values", "rows_dropped")  # fmt: skip

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], dict[str, int]] = {}
        self.failures: Counter[str] = Counter()

    def add(self, alias: str, column: str, **counts: int) -> None:
        cell = self.cells.get((alias, column))
        if cell is None:
            cell = self.cells[(alias, column)] = dict.fromkeys(self.KEYS, 0)
        for name, value in counts.items():
            cell[name] += value

    def as_dict(self) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        by_model: dict[str, Counter[str]] = {}
        by_column: dict[str, Counter[str]] = {}
        for (alias, column), cell in self.cells.items():
            totals.update(cell)
            by_model.setdefault(alias, Counter()).update(cell)
            by_column.setdefault(column, Counter()).update(cell)

        def view(counter: Counter[str]) -> dict[str, int]:
            return {k: counter.get(k, 0) for k in self.KEYS}

        return {
            **view(totals),
            "failures": dict(sorted(self.failures.items())),
            "by_model": {a: view(c) for a, c in sorted(by_model.items())},
            "by_column": {n: view(c) for n, c in sorted(by_column.items())},
        }


class _EarlyStop:
    """Stops the stage when more than ``rate`` of the first ``window`` LLM row outcomes failed."""

    def __init__(self, rate: float, window: int, enabled: bool) -> None:
        self.rate, self.window, self.enabled = rate, window, enabled
        self.seen = 0
        self.failed = 0
        self.example: RowDropped | None = None
        self.error: EarlyShutdownError | None = None

    def record(self, failure: RowDropped | None) -> None:
        if failure is not None and failure.reason == "connection_refused" and self.error is None:
            # Nothing listens at the endpoint: every other request would be refused the same way.
            self.error = EarlyShutdownError(
                f"Stopping the stage: {failure.detail}",
                hint="Start the server, or fix the endpoint of the model's provider, then build again.",
            )
            return
        if not self.enabled or self.seen >= self.window:
            return
        self.seen += 1
        if failure is None:
            return
        self.failed += 1
        self.example = self.example or failure
        if self.failed > self.rate * self.window and self.error is None:
            self.error = EarlyShutdownError(
                f"Stopping the stage: {self.failed} of the first {self.seen} LLM rows failed "
                f"(the limit is {self.rate:.0%} of the first {self.window}). One failing request: "
                f"{self.example.detail}",
                hint="Fix the model configuration or endpoint shown above, then rebuild; responses "
                "that succeeded are cached and will not be requested again.",
            )


class LLMServices:
    """Everything a stage run needs to generate LLM columns: client, cache, counters, early stop."""

    def __init__(
        self,
        client: ChatClient,
        models: dict[str, ModelConfig],
        cache: ResponseCache,
        transport: ChatTransport,
        *,
        sampling_seed: int,
        max_correction_turns: int,
        early_stop: _EarlyStop,
        max_restarts: int = 0,
        base_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.models = models
        self.cache = cache
        self.sampling_seed = sampling_seed
        self.max_correction_turns = max_correction_turns
        self.max_restarts = max_restarts
        self.base_dir = base_dir  # where relative image paths of multi_modal_context are read from
        self._transport = transport
        self._early_stop = early_stop
        self._stats = _Stats()
        client.before_send = self._check_running  # rows queued for a slot stop once tripped
        # Admission per alias: at most 2 x max_parallel_requests rows are past "render" at once.
        # Without it, a batch of N row coroutines renders and keys all N rows before the first
        # request leaves (N x ~50 µs of dead time); with it, that work overlaps in-flight requests.
        self._admission = {
            alias: asyncio.Semaphore(2 * m.inference_parameters.max_parallel_requests)
            for alias, m in models.items()
        }

    @classmethod
    def create(
        cls,
        model_configs: list[ModelConfig],
        providers: list[ModelProvider] | None,  # None: default_providers()
        cache: ResponseCache,
        *,
        sampling_seed: int,
        max_retries: int,
        retry_max_wait: float,
        transport: ChatTransport | None = None,
        extra_connections: int = 0,
        max_correction_turns: int = 2,
        max_restarts: int = 0,
        base_dir: Path | None = None,
        shutdown_error_rate: float = 0.5,
        shutdown_error_window: int = 20,
        disable_early_shutdown: bool = False,
        retry_base_wait: float = 0.5,
        limits: ModelLimits | None = None,
        request_admission: RequestAdmissionTuningConfig | None = None,
        secret_resolver: SecretResolver | None = None,
    ) -> LLMServices:
        """Wire a stage run. Builds nothing on the network; the aiohttp session opens on first send."""
        if transport is None:
            from ddbuild.engine.llm.transport import AiohttpTransport

            transport = AiohttpTransport(max_connections=http_connections(model_configs, extra_connections))
        client = ChatClient(
            model_configs,
            providers,
            transport,
            max_retries=max_retries,
            retry_max_wait=retry_max_wait,
            retry_base_wait=retry_base_wait,
            limits=limits,
            request_admission=request_admission,
            secret_resolver=secret_resolver,
        )
        return cls(
            client,
            {m.alias: m for m in model_configs},
            cache,
            transport,
            sampling_seed=sampling_seed,
            max_correction_turns=max_correction_turns,
            max_restarts=max_restarts,
            base_dir=base_dir,
            early_stop=_EarlyStop(shutdown_error_rate, shutdown_error_window, not disable_early_shutdown),
        )

    @staticmethod
    def validate(
        columns: Iterable[Any],
        model_configs: list[ModelConfig],
        providers: list[ModelProvider] | None,
        environ: Mapping[str, str] | None = None,
        secret_resolver: SecretResolver | None = None,
    ) -> None:
        """Raise ModelConfigError / ConfigError for anything that would fail every request."""
        models = _models_by_alias(model_configs)
        provider_list = list(providers or default_providers(environ))
        by_name = {p.name: p for p in provider_list}
        for column in columns:
            if not is_llm_column(column):
                continue
            alias = column.model_alias
            if alias not in models:
                configured = ", ".join(sorted(models)) or "none"
                raise ModelConfigError(
                    f"Column '{column.name}' uses model_alias '{alias}', which is not configured."
                    f"{did_you_mean(alias, models)}",
                    hint=f"Configured aliases: {configured}. Add a ModelConfig(alias='{alias}', …) "
                    "to model_configs or fix the column's model_alias."
                    + ("" if models else " A builder without model configs may name a default alias "
                       "(e.g. 'nvidia-text'; see DataDesigner().get_default_model_configs())."),
                )
            name = models[alias].provider or provider_list[0].name
            if name not in by_name:
                raise ModelConfigError(
                    f"Model alias '{alias}' (column '{column.name}') names provider '{name}', "
                    f"which is not configured.{did_you_mean(name, by_name)}",
                    hint=f"Configured providers: {', '.join(sorted(by_name))}.",
                )
            provider = by_name[name]
            if not provider.endpoint.strip():
                raise ModelConfigError(f"Model provider '{name}' has no endpoint.")
            resolve_api_key(provider, environ, needed_by=f"model alias '{alias}' (column '{column.name}')",
                            secret_resolver=secret_resolver)
            _check_model_kind(column, models[alias])
            schema = response_schema(column)
            if schema is not None:
                check_schema(schema, f"Column '{column.name}'")

    def generator_for(self, column: Any) -> LLMColumnGenerator | EmbeddingColumnGenerator:
        if not is_llm_column(column):
            raise ConfigError(f"Column '{column.name}' is not an LLM column ({column_type_of(column)}).")
        if column.model_alias not in self.models:
            self.validate([column], list(self.models.values()), list(self.client._providers.values()),
                          secret_resolver=self.client.secret_resolver)
        _check_model_kind(column, self.models[column.model_alias])
        self.client.route(column.model_alias)  # resolves the API key now, not mid-run
        if column_type_of(column) == EMBEDDING:
            return EmbeddingColumnGenerator(self, column)
        return LLMColumnGenerator(self, column)

    @property
    def stats(self) -> dict[str, Any]:
        return self._stats.as_dict()

    @property
    def transport(self) -> ChatTransport:
        """The run's HTTP transport (remote validators send through it too)."""
        return self._transport

    async def aclose(self) -> None:
        await self._transport.aclose()
        self.cache.flush()  # every reply received is durable when the services close

    # -- used by generators -------------------------------------------------------------------
    def _check_running(self) -> None:
        if self._early_stop.error is not None:
            raise self._early_stop.error

    def _record(self, alias: str, column: str, failure: RowDropped | None) -> None:
        if failure is None:
            self._stats.add(alias, column, values=1)
        else:
            self._stats.add(alias, column, rows_dropped=1)
            self._stats.failures[failure.reason] += 1
        self._early_stop.record(failure)
        self._check_running()


EMBEDDING = "embedding"


def http_connections(model_configs: list[ModelConfig], extra: int = 0) -> int:
    """Connections a stage run's HTTP transport admits at once: every model's max_parallel_requests
    (so the connection limit never binds before admission does), plus ``extra`` (remote validators)."""
    return max(sum(m.inference_parameters.max_parallel_requests for m in model_configs), 1) + extra


def _check_model_kind(column: Any, model: ModelConfig) -> None:
    """An embedding column needs an embedding model, a chat column a chat model."""
    wants_embedding = column_type_of(column) == EMBEDDING
    if wants_embedding == model.is_embedding:
        return
    if wants_embedding:
        raise ModelConfigError(
            f"Column '{column.name}' is an embedding column, but model alias '{model.alias}' is a chat model.",
            hint="Give the alias inference_parameters=dd.EmbeddingInferenceParams(...) (served at /v1/embeddings), "
            "or name an embedding alias (e.g. 'openai-embedding').",
        )
    raise ModelConfigError(
        f"Column '{column.name}' ({column_type_of(column)}) uses model alias '{model.alias}', which is an "
        "embedding model (EmbeddingInferenceParams).",
        hint="Name a chat-completion alias for this column.",
    )


def _models_by_alias(model_configs: list[ModelConfig]) -> dict[str, ModelConfig]:
    models: dict[str, ModelConfig] = {}
    for model in model_configs:
        if model.alias in models:
            raise ModelConfigError(f"Model alias '{model.alias}' is configured twice.")
        models[model.alias] = model
    return models


class LLMColumnGenerator:
    """Generates one LLM column's cells for one row; safe to call from many row coroutines."""

    def __init__(self, services: LLMServices, column: Any) -> None:
        self.services = services
        self.column = column
        self.kind = column_type_of(column)
        self.alias: str = column.model_alias
        self.model = services.models[self.alias]
        self.schema = response_schema(column)
        self._extra_body = services.client.route(self.alias).extra_body
        self.outputs = produced_columns(column)  # the column, then its side columns
        self._trace = TraceType(column.with_trace)
        self._reasoning = bool(column.extract_reasoning_content)
        self._images = [c for c in column.multi_modal_context or [] if isinstance(c, ImageContext)]
        self._renderers: dict[str, Callable[[dict[str, Any]], str]] = {}  # field -> its compiled template

    async def generate(self, row: dict[str, Any], draw: int | str) -> Any:
        """The column value for ``row`` (str for text/code, dict for structured/judge)."""
        return (await self.generate_cells(row, draw))[self.column.name]

    async def generate_cells(self, row: dict[str, Any], draw: int | str) -> dict[str, Any]:
        """Every column of ``self.outputs`` for ``row``: the value and its side columns."""
        self.services._check_running()
        try:
            async with self.services._admission[self.alias]:
                cells = await self._generate(row, draw)
        except RowDropped as failure:
            self.services._record(self.alias, self.column.name, failure)
            raise
        self.services._record(self.alias, self.column.name, None)
        return cells

    async def _generate(self, row: dict[str, Any], draw: int | str) -> dict[str, Any]:
        """A conversation per restart; in each, a correction turn per reply that fails to parse."""
        messages = self._messages(row)
        problem = ""
        turns, restarts = self.services.max_correction_turns, self.services.max_restarts
        for restart in range(restarts + 1):
            if restart:
                self._count(conversation_restarts=1)
            body = self._body(messages, draw, restart)
            entries = [messages_mod.trace_message(m) for m in messages]
            for turn in range(turns + 1):
                if turn:
                    self._count(correction_turns=1)
                message = await self._ask(body, draw, restart)
                content = message["content"]
                text, think = messages_mod.split_think(content) if self._reasoning else (content, None)
                entries.append(messages_mod.reply_message(message))
                try:
                    value = self._value(text)
                except replies.ReplyError as exc:
                    problem = str(exc)
                    follow_up = {"role": "user", "content": replies.correction_message(problem)}
                    body = {**body, "messages": [*body["messages"], {"role": "assistant", "content": content},
                                                 follow_up]}
                    entries.append(messages_mod.trace_message(follow_up))
                    continue
                cells: dict[str, Any] = {self.column.name: value}
                if self._trace != TraceType.NONE:
                    cells[self.column.name + TRACE_SUFFIX] = messages_mod.trace(self._trace, entries)
                if self._reasoning:
                    cells[self.column.name + REASONING_SUFFIX] = messages_mod.reasoning_of(message) or think
                return cells
        attempts = (turns + 1) * (restarts + 1)
        raise RowDropped(
            "invalid_structured_output",
            f"Column '{self.column.name}': the reply was still invalid after {turns} correction turns and "
            f"{restarts} conversation restarts ({attempts} replies): {problem}",
            column=self.column.name,
        )

    # -- request building -----------------------------------------------------------------------
    def _messages(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        prompt = self._render(self.column.prompt, row, "prompt")
        if self.kind == "llm-judge":
            prompt += replies.judge_rubric(self.column.scores)
        if self.schema is not None:
            prompt += replies.structured_instructions(self.schema)
        messages: list[dict[str, Any]] = []
        if self.column.system_prompt:
            messages.append({"role": "system", "content": self._render(self.column.system_prompt, row, "system_prompt")})
        content: Any = prompt
        if self._images:
            try:
                images = messages_mod.image_parts(self._images, row, self.services.base_dir or Path.cwd())
            except messages_mod.ImageError as exc:
                raise RowDropped("image_error", f"Column '{self.column.name}' multi_modal_context: {exc}",
                                 column=self.column.name) from None
            if images:
                content = [{"type": "text", "text": prompt}, *images]
        messages.append({"role": "user", "content": content})
        return messages

    def _render(self, template: str, row: dict[str, Any], field: str) -> str:
        where = f"Column '{self.column.name}' {field}"
        try:
            renderer = self._renderers.get(field)
            if renderer is None:  # compiled on first use, inside the try: a compile error drops rows as before
                renderer = self._renderers[field] = compile_template(template, where)
            text = renderer(row)
        except TemplateLimitError:
            raise  # a size or time limit: wrong for every row, not a row drop
        except TemplateError as exc:
            raise RowDropped("template_error", str(exc), column=self.column.name) from exc
        if not text.strip():
            raise RowDropped("empty_prompt", f"{where} rendered to an empty string.", column=self.column.name)
        return text

    def _body(self, messages: list[dict[str, Any]], draw: int | str, restart: int = 0) -> dict[str, Any]:
        params = self.model.inference_parameters
        assert isinstance(params, ChatCompletionInferenceParams), "LLMServices checks the model's kind"
        body: dict[str, Any] = {**self._extra_body, **(params.extra_body or {})}
        body["model"] = self.model.model
        body["messages"] = messages
        if params.is_sampled:
            # Seeded by what the request is and its draw, so the draw is the same on every run
            # whatever order rows finish in; a restarted conversation draws afresh.
            what: dict[str, Any] = {"seed": self.services.sampling_seed, "draw": draw,
                                    "model": self.model.model, "messages": messages}
            if restart:
                what["restart"] = restart
            rng = random.Random(int(digest_json(what)[:16], 16))
        for name in ("temperature", "top_p"):
            value = getattr(params, name)
            if value is not None:
                body[name] = value.sample(rng) if hasattr(value, "sample") else value
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if self.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": self.schema},
            }
        return body

    # -- one attempt: from the cache, else sent and stored ----------------------------------------
    async def _ask(self, body: dict[str, Any], draw: int | str, restart: int) -> dict[str, Any]:
        """The reply message of one attempt (``content`` a non-empty string). Every usable reply
        is stored under the attempt's own key, one that fails to parse too: a rebuild replays the
        whole conversation from the cache and sends nothing."""
        key = request_key(self.model.model, {k: v for k, v in body.items() if k != "model"},
                          draw, self.services.sampling_seed, restart=restart)
        cached = self.services.cache.get(key)
        if cached is not None:
            try:
                message = _message(cached)
            except _Unusable:
                pass  # an entry we cannot use: ask again
            else:
                self._count(served_from_cache=1)
                return message
        try:
            sent = await self.services.client.send(self.alias, body)
        except RequestFailure as exc:
            self._count(requests_sent=exc.attempts, retries=exc.attempts - 1)
            raise RowDropped(exc.reason, str(exc), column=self.column.name, status=exc.status) from exc
        usage = sent.response.get("usage") or {}
        self._count(
            requests_sent=sent.attempts,
            retries=sent.attempts - 1,
            prompt_tokens=_tokens(usage.get("prompt_tokens")),
            completion_tokens=_tokens(usage.get("completion_tokens")),
        )
        try:
            message = _message(sent.response, checked=True)  # the client checked its shape
        except _Unusable as exc:
            raise RowDropped(exc.reason, f"Column '{self.column.name}': {exc}", column=self.column.name) from None
        self.services.cache.put(key, sent.response)
        return message

    def _value(self, content: str) -> Any:
        if self.kind == "llm-text":
            return content.strip()
        if self.kind == "llm-code":
            return replies.extract_code(content, self.column.code_lang)
        assert self.schema is not None, "response_schema() gives judge and structured columns a schema"
        if self.kind == "llm-judge":
            return replies.parse_judge(content, self.column.scores, self.schema)
        return replies.parse_structured(content, self.schema)

    def _count(self, **counts: int) -> None:
        self.services._stats.add(self.alias, self.column.name, **counts)


def _tokens(value: Any) -> int:
    """A token count from a reply's usage block; anything but a non-negative number counts as 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 2**53:
        return 0
    return int(value)


class _Unusable(Exception):
    """A 200 reply that no correction can fix (refusal, truncation, no content)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _message(response: dict[str, Any], *, checked: bool = False) -> dict[str, Any]:
    """The reply message of a chat completion, its ``content`` a non-empty string (checked by
    ``replies.completion_problem``, live or cached; ``checked``: it was already, by the client,
    which retries a malformed live reply)."""
    problem = None if checked else replies.completion_problem(response)
    if problem is not None:
        raise _Unusable("malformed_response", problem)
    choice = response["choices"][0]
    message = choice["message"]
    finish = choice.get("finish_reason")
    if message.get("refusal"):
        raise _Unusable("refusal", f"the model refused: {str(message['refusal'])[:200]}")
    if finish == "length":
        raise _Unusable("finish_reason_length", "the reply was cut off at max_tokens (finish_reason=length); "
                        "raise max_tokens in the model's inference_parameters")
    if finish == "content_filter":
        raise _Unusable("content_filter", "the reply was withheld by the provider's content filter")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise _Unusable("empty_reply", "the reply has no text content")
    return message
