"""Costs from rendered prompts: a post-pass over a Plan that dry-runs stages whose inputs are known,
with a transport that counts and never sends and a read-only response cache.

    plan (pure, template-size costs) ──► estimate_costs ──► Plan with dry-run costs
                                           │
                                           └─ per RUN/RESUME stage with LLM columns whose parents
                                              are hits (blobs local) or overrides, or a root:
                                              prepare_generation (as a build) → generate_dataset
                                              into a temp dir with CountingTransport +
                                              ReadOnlyResponseCache → count, then delete the dir

A conversation (engine/llm/columns.py) replays its cached attempts; the first uncached one gets the
placeholder, which parses: requests "to send" count no correction turn or restart not yet made.

The planner stays pure; this pass does I/O (reads seeds, parent blobs and the response cache,
writes only its own temporary directory) and runs the stage's non-LLM columns, custom ones
included. PENDING stages keep the planner's template-size estimate, which says so.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ddbuild.config.columns import sends_requests
from ddbuild.engine.llm.schema import example_for
from ddbuild.execution.build import ParentOutput, entry_output, prepare_generation
from ddbuild.execution.context import BuildContext
from ddbuild.planning.graph import Graph
from ddbuild.planning.plan import Cost, Plan, StageDecision, Status
from ddbuild.planning.planner import Facts
from ddbuild.planning.stage import Stage
from ddbuild.store.base import Store

DRY_RUN_MAX_ROWS = 2000  # bigger stages are dry-run on their first batches and scaled linearly


def estimate_costs(
    plan: Plan, graph: Graph, facts: Facts, ctx: BuildContext, *, max_rows: int | None = None
) -> Plan:
    """A copy of ``plan`` whose costable stages carry costs from rendered prompts (see module doc)."""
    max_rows = max_rows or DRY_RUN_MAX_ROWS
    decisions = {d.name: d for d in plan.stages}
    stages = [_estimate(d, graph, decisions, facts, ctx, max_rows) for d in plan.stages]
    return replace(plan, stages=stages)


def _estimate(
    decision: StageDecision, graph: Graph, decisions: dict[str, StageDecision], facts: Facts,
    ctx: BuildContext, max_rows: int,
) -> StageDecision:
    if decision.status not in (Status.RUN, Status.RESUME) or decision.cost is None:
        return decision
    if not _llm_columns(facts, decision.name):
        return decision  # no LLM request either way: the planner's numbers are exact
    stage = graph[decision.name]
    parents = _known_parents(stage, decisions, facts, ctx)
    if parents is None:
        note = "a parent's output is not in the local cache, so prompts were not rendered"
        return replace(decision, cost=replace(decision.cost, estimate_basis=f"{decision.cost.estimate_basis}; {note}"))
    try:
        cost = dry_run_cost(stage, parents, ctx, max_rows, resume=decision.status == Status.RESUME)
    except Exception as exc:  # noqa: BLE001 - a failed estimate must not fail --explain; the build will say why
        headline = str(getattr(exc, "message", None) or exc).splitlines()[0][:160]
        note = f"dry run failed ({type(exc).__name__}: {headline})"
        cost = replace(decision.cost, estimate_basis=f"{decision.cost.estimate_basis}; {note}")
    return replace(decision, cost=cost)


def _llm_columns(facts: Facts, name: str) -> list[Any]:
    columns = facts.identities.get(name, {}).get("columns", {})
    return [c for c in columns.values() if sends_requests(c)]


def _known_parents(
    stage: Stage, decisions: dict[str, StageDecision], facts: Facts, ctx: BuildContext
) -> dict[str, ParentOutput] | None:
    """Each parent's selected output as local files, or None when one is not available locally."""
    local = ctx.store.local_store()  # never download in a dry run
    if local.layout is None:  # no local blob files to read the parents from
        return None
    parents: dict[str, ParentOutput] = {}
    for name in stage.depends_on:
        override = facts.inputs.overrides.get(name)
        if override is not None:
            parents[name] = ParentOutput(list(override.files), override.rows)
            continue
        parent = decisions.get(name)
        entry = local.get_entry(parent.key) if parent and parent.status == Status.HIT and parent.key else None
        if entry is None:
            return None
        digests = {o["path"]: o["digest"] for o in entry["outputs"]}
        if not all(local.has_blob(digests[p]) for p in entry["selected_output"]["paths"]):
            return None
        parents[name] = entry_output(ctx.verifier, entry)
    return parents


def sample_rows(rows: int, buffer_size: int, max_rows: int) -> int:
    """Rows to dry-run: all, or whole batches up to ``max_rows`` (so each batch matches the build's)."""
    if rows <= max_rows:
        return rows
    return min(rows, max(1, max_rows // buffer_size) * buffer_size)


def dry_run_cost(
    stage: Stage, parents: dict[str, ParentOutput], ctx: BuildContext, max_rows: int, *, resume: bool = False
) -> Cost:
    """Generate (a sample of) the stage into a temporary directory, counting what would be sent."""
    from ddbuild.engine.dataset import generate_dataset

    temp_parent = ctx.cache_dir if ctx.cache_dir.is_dir() else None  # same filesystem: parents hard-link
    transport = CountingTransport()
    with tempfile.TemporaryDirectory(prefix=".explain-", dir=temp_parent) as tmp:
        folder = Path(tmp)
        config, rows = prepare_generation(stage, folder, parents, ctx.cwd)
        sample = sample_rows(rows, ctx.run_config.buffer_size, max_rows)
        summary = generate_dataset(
            config, num_records=sample, dataset_dir=folder / "dataset", run_config=ctx.run_config,
            resume=False, base_dir=ctx.cwd, response_cache=ReadOnlyResponseCache(ctx.store, read=not ctx.fresh_replies),
            model_providers=ctx.model_providers, llm_transport=transport, file_digest=ctx.file_digest(),
            secret_resolver=ctx.secret_resolver,
        )
    cached = int(summary.llm_stats.get("served_from_cache", 0) or 0)
    scale = rows / sample
    which = f"all {rows:,} rows" if sample == rows else f"the first {sample:,} of {rows:,} rows, scaled"
    basis = f"rendered prompts of {which}; tokens ~ chars/4 of the requests to send"
    if resume:
        basis += "; rows of completed batches count as cached"
    return Cost(
        rows_to_generate=rows,
        llm_requests_to_send=round(transport.requests * scale),
        llm_requests_cached=round(cached * scale),
        prompt_tokens_estimate=round(transport.prompt_tokens * scale),
        estimate_basis=basis,
    )


# ---- The LLM side of the --explain dry run: a transport that counts and never sends, a read-only cache

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with OpenAI-style tokenizers


def placeholder_content(body: Mapping[str, Any]) -> str:
    """A reply the column accepts: JSON valid for the request's schema, else a short text."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    return json.dumps(example_for(schema)) if schema is not None else "placeholder reply (ddbuild --explain)"


class CountingTransport:
    """A ``ChatTransport`` that answers every request locally with a placeholder and counts it."""

    def __init__(self) -> None:
        self.requests = 0
        self.prompt_chars = 0

    async def post(
        self, url: str, headers: Mapping[str, str], json_body: dict[str, Any], timeout: float | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        self.requests += 1
        if "model" not in json_body and isinstance(json_body.get("data"), list):  # a remote validator's batch
            rows = [{"is_valid": None} for _ in json_body["data"]]
            return 200, {"Content-Type": "application/json"}, json.dumps({"data": rows}).encode("utf-8")
        if url.rstrip("/").endswith("/embeddings"):  # one placeholder vector per text
            texts = json_body.get("input") or []
            self.prompt_chars += sum(len(str(t)) for t in texts)
            data = [{"object": "embedding", "index": i, "embedding": [0.0]} for i in range(len(texts))]
            payload = {"object": "list", "data": data, "model": json_body.get("model"), "usage": {"prompt_tokens": 0}}
            return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode("utf-8")
        chars = sum(len(str(m.get("content") or "")) for m in json_body.get("messages") or [])
        self.prompt_chars += chars
        reply = {
            "id": f"dry-run-{self.requests}", "object": "chat.completion", "model": json_body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": placeholder_content(json_body)}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0},  # not real usage: report none
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode("utf-8")

    @property
    def prompt_tokens(self) -> int:
        return self.prompt_chars // CHARS_PER_TOKEN

    async def aclose(self) -> None:
        return None


class ReadOnlyResponseCache:
    """The engine's ResponseCache over a Store: ``get`` reads it (unless ``read=False``: the build
    will not read it either, resume=NEVER), ``put`` is dropped."""

    def __init__(self, store: Store, *, read: bool = True) -> None:
        self.store = store
        self.read = read
        self.dropped_puts = 0

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get_response(key) if self.read else None

    def put(self, key: str, response: dict[str, Any]) -> None:
        self.dropped_puts += 1  # a dry run must never write the cache

    def flush(self) -> None:
        return None
