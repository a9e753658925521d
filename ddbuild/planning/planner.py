"""The planner: a pure function from (graph, targets, store view, input digests) to a Plan, and the
dotted-path diff of two stage key documents that its CONFIG_CHANGED reasons carry.

    drafts ──► cleanup ──► chatml          a linear workflow (depends_on defaults to the
                                           previously added stage)
    docs ─┬──► questions ─┐
          └──► facts ─────┴──► joined      a DAG: joined has two parents and a join=

Stages are decided in topological order. A stage's key needs its parents' OUTPUT digests, so:

- a parent that is a HIT (or was settled earlier in this build) gives its digest from the entry;
- a parent that must RUN/RESUME leaves its children PENDING: their keys are known only after it
  runs. The executor settles that parent and calls ``plan`` again with the real digest — which
  is how early cutoff happens (same bytes → same child key → HIT).

A stage whose config cannot run on its seed's columns (``Facts.config_errors``, from the pure
``schema.check_schemas``) is ERROR with a ``CONFIG_INVALID`` reason before anything runs, and its
descendants are SKIPPED naming it.

A forced stage (``-B``, ``rerun_from``) below one that runs is RUN with its key still unknown:
it runs whatever the key turns out to be, so ``--explain -B`` says ``run`` for every stage.

A stage that runs or may run but whose LLM columns cannot send (``Facts.model_errors``: unknown
alias or provider, API key variable unset) is ERROR (``MODEL_INVALID``) before anything runs.

A stage that failed in this build (``Settled`` with status ERROR, under keep-going) blocks its
descendants: they are SKIPPED with an ``UPSTREAM_FAILED`` reason naming it, just as an upstream
that ended empty (allow_empty) skips them with ``UPSTREAM_EMPTY``.

No I/O happens here: entries come through a ``StoreView``, seed digests and identities are
precomputed (``Facts``). A dry run is this function plus a renderer; a build is this function
plus the executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ddbuild.config.columns import is_llm_column, is_remote_validation
from ddbuild.config.run_config import ResumeMode
from ddbuild.config.seeds import IndexRange, SelectionStrategy
from ddbuild.fingerprint import StageKey, stage_key
from ddbuild.planning.graph import Graph
from ddbuild.planning.inputs import InputDigests
from ddbuild.planning.plan import Cost, FieldChange, Plan, Reason, ReasonKind, StageDecision, Status
from ddbuild.planning.stage import Stage
from ddbuild.planning.storeview import EntryState, StoreView


@dataclass(frozen=True)
class Options:
    workflow: str
    resume: ResumeMode = ResumeMode.IF_POSSIBLE
    always_make: bool = False
    rerun_from: str | None = None


@dataclass(frozen=True)
class Facts:
    """Everything the planner needs that had to be read from disk or computed from user code."""

    identities: dict[str, dict[str, Any]]  # stage name -> identity.stage_identity(...)
    inputs: InputDigests = field(default_factory=InputDigests)
    config_errors: dict[str, str] = field(default_factory=dict)  # stage -> schema.check_schemas error
    model_errors: dict[str, str] = field(default_factory=dict)  # stage -> why its LLM columns cannot send


@dataclass(frozen=True)
class Settled:
    """A stage already finished in this build (the executor feeds these back in)."""

    status: Status  # HIT, RUN, RESUME, SKIPPED, or ERROR (failed; keep-going) : how it was settled
    key: str | None
    output_digest: str | None
    rows: int | None
    reasons: tuple[Reason, ...] = ()
    empty_origin: str | None = None  # for SKIPPED: the stage that ended empty or failed


@dataclass
class _Known:
    digest: str
    rows: int
    empty: bool  # completed with 0 rows under allow_empty: children are skipped
    ran: bool = False  # generated in this build (RUN/RESUME): its children may run under resume=ALWAYS


def forced_stages(graph: Graph, closure: list[str], options: Options) -> set[str]:
    if options.always_make or options.resume == ResumeMode.NEVER:
        return set(closure)
    if options.rerun_from is not None:
        # Data Designer's meaning: the stage and everything downstream of it in the closure.
        # (To rebuild one stage and let early cutoff decide below it, force just its closure:
        # ``run(targets=X, always_make=True)`` / ``ddbuild -B X``, then build as usual.)
        return graph.descendants(options.rerun_from) & set(closure)
    return set()


def plan(
    graph: Graph,
    targets: list[str],
    view: StoreView,
    facts: Facts,
    options: Options,
    settled: Mapping[str, Settled] | None = None,
) -> Plan:
    """Decide every stage in the targets' closure (see the module docstring)."""
    settled = settled or {}
    closure = graph.closure(targets)
    forced = forced_stages(graph, closure, options) - set(settled)
    known: dict[str, _Known] = {}
    blocked: dict[str, Reason] = {}  # stage -> why its descendants are skipped (names the origin)
    decisions = []
    for name in closure:
        stage = graph[name]
        decision = _decide(stage, view, facts, options, settled.get(name), forced, known, blocked)
        decisions.append(decision)
    return Plan(workflow=options.workflow, stages=decisions, targets=list(targets))


def _decide(
    stage: Stage,
    view: StoreView,
    facts: Facts,
    options: Options,
    done: Settled | None,
    forced: set[str],
    known: dict[str, _Known],
    blocked: dict[str, Reason],
) -> StageDecision:
    """The decision procedure for one stage, as an ordered checklist."""
    name = stage.name

    def decision(status: Status, key: str | StageKey | None, reasons: list[Reason],
                 cost: Cost | None = None) -> StageDecision:
        document = key.document if isinstance(key, StageKey) else None
        key = key.key if isinstance(key, StageKey) else key
        return StageDecision(
            name=name,
            index=stage.index,
            depends_on=list(stage.depends_on),
            status=status,
            key=key,
            reasons=reasons + _callback_note(stage),
            cost=cost,
            origin=view.origin(key) if status == Status.HIT and key else None,
            key_document=document,
        )

    # 1. Already settled in this build: report how, and pass its output on.
    if done is not None:
        if done.status == Status.SKIPPED:
            blocked[name] = done.reasons[0] if done.reasons else _empty_reason(done.empty_origin or "")
        elif done.status == Status.ERROR:
            blocked[name] = _upstream_failed(name, "failed")
        elif done.output_digest is not None:
            known[name] = _Known(done.output_digest, done.rows or 0, done.rows == 0,
                                 ran=done.status in (Status.RUN, Status.RESUME))
        return decision(done.status, done.key, list(done.reasons))

    # 2. An upstream failed, ended empty (allow_empty) or was skipped: skip, naming the origin.
    for parent in stage.depends_on:
        reason = blocked.get(parent) or (_empty_reason(parent) if parent in known and known[parent].empty else None)
        if reason:
            blocked[name] = reason
            return decision(Status.SKIPPED, None, [reason])

    # 3. An override supplies the output: nothing to build.
    override = facts.inputs.overrides.get(name)
    if override is not None:
        known[name] = _Known(override.digest, override.rows, override.rows == 0 and stage.allow_empty)
        return decision(Status.HIT, None, [Reason(ReasonKind.OVERRIDDEN, f"output overridden by {override.path}")])

    # 4. A root seed that cannot be read: the stage cannot be planned.
    seed = facts.inputs.seeds.get(name)
    if seed is not None and seed.error:
        return decision(Status.ERROR, None, [Reason(ReasonKind.CONFIG_INVALID, seed.error)])

    # 5. The config cannot run on the columns its seed will have (schema.py): fail before any
    #    work, and skip the descendants, naming this stage.
    error = facts.config_errors.get(name)
    if error is not None:
        blocked[name] = _upstream_failed(name, "has an invalid config")
        return decision(Status.ERROR, None, [Reason(ReasonKind.CONFIG_INVALID, error)])

    # 6. A parent still has to run: the key is not known yet. A forced stage runs whatever its
    #    key turns out to be, so it is RUN (key unknown) — what the build will do — not PENDING.
    #    Either may have to send LLM requests: if it cannot, ERROR now (before the parent runs).
    pending = [p for p in stage.depends_on if p not in known]
    if pending:
        waits = Reason(ReasonKind.UPSTREAM_PENDING, f"waits for {', '.join(pending)} to run first",
                       parents=tuple(pending))
        cost = _cost(stage, facts, known, None)
        if name in forced:
            return _unless_model_invalid(decision(Status.RUN, None, [_forced_reason(options), waits], cost),
                                         facts, blocked)
        return _unless_model_invalid(decision(Status.PENDING, None, [waits], cost), facts, blocked)

    # 7. Every input is known: compute the key (the one place; the executor builds under it).
    this_key = stage_key(facts.identities[name], {p: known[p].digest for p in stage.depends_on},
                         seed.key_inputs() if seed is not None else None)
    key = this_key.key
    cost = _cost(stage, facts, known, seed.rows if seed else None)

    # 8. Forced (always_make, resume=NEVER, rerun_from): run from scratch whatever is cached.
    if name in forced:
        return _unless_model_invalid(decision(Status.RUN, this_key, [_forced_reason(options)], cost), facts, blocked)

    # 9. A complete entry with all its blobs: a hit.
    state = view.entry_state(key)
    if state == EntryState.OK:
        entry = view.entry(key) or {}
        selected = entry.get("selected_output", {})
        rows = int(selected.get("rows", 0))
        known[name] = _Known(selected.get("digest", ""), rows, rows == 0)
        found = decision(Status.HIT, this_key, [Reason(ReasonKind.CACHED, f"entry {key} is in the cache")])
        return replace(found, dropped_rows=entry_drops(entry))

    # 10. Why it is not a hit: a broken entry, or what changed since the last build of this stage.
    reasons = _miss_reasons(state, key)
    reasons += _change_reasons(view, options.workflow, name, this_key)

    # 11. Completed batches for exactly this key: continue them.
    if view.has_partial(key):
        resumed = decision(Status.RESUME, this_key,
                           [Reason(ReasonKind.PARTIAL_FOUND, "completed batches found"), *reasons], cost)
        return _unless_model_invalid(resumed, facts, blocked)

    # 12. resume=ALWAYS insists on reuse: a stage that would start fresh stops the build before
    #     anything runs (ResumeError), so it is ERROR here too, and --explain says so. Below a
    #     stage that ran in this build (forced), running is expected (Data Designer's meaning).
    if options.resume == ResumeMode.ALWAYS and not any(known[p].ran for p in stage.depends_on):
        why = "; ".join(r.detail for r in reasons)
        refusal = f"Cannot resume workflow '{options.workflow}': stage '{name}' is not reusable ({why})."
        blocked[name] = _upstream_failed(name, "cannot be resumed")
        return decision(Status.ERROR, this_key, [Reason(ReasonKind.NOT_RESUMABLE, refusal), *reasons])

    # 13. Otherwise: run from scratch.
    return _unless_model_invalid(decision(Status.RUN, this_key, reasons, cost), facts, blocked)


def _unless_model_invalid(decided: StageDecision, facts: Facts, blocked: dict[str, Reason]) -> StageDecision:
    """A stage that runs or may run (RUN, RESUME, PENDING) but whose LLM columns cannot send
    (unknown alias or provider, API key variable unset) is ERROR with that message, so the build
    refuses before any stage runs; its descendants are skipped, naming it. A hit sends nothing,
    so it is never checked: a teammate's entry stays usable without an API key."""
    error = facts.model_errors.get(decided.name)
    if error is None:
        return decided
    blocked[decided.name] = _upstream_failed(decided.name, "cannot run")
    notes = [r for r in decided.reasons if r.kind == ReasonKind.CALLBACK_SOURCE]
    return replace(decided, status=Status.ERROR, reasons=[Reason(ReasonKind.MODEL_INVALID, error), *notes],
                   cost=None)


def entry_drops(entry: Mapping[str, Any]) -> dict[str, int]:
    """Rows dropped for data reasons when the entry was built (reason -> rows); {} for old entries."""
    dropped = (entry.get("row_counts") or {}).get("dropped")
    if not isinstance(dropped, Mapping):
        return {}
    return {str(k): v for k, v in dropped.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}


def _empty_reason(origin: str) -> Reason:
    return Reason(ReasonKind.UPSTREAM_EMPTY, f"upstream stage '{origin}' completed with an empty output",
                  origin=origin)


def _upstream_failed(origin: str, what: str) -> Reason:
    """Why the descendants of ``origin`` are skipped: it failed, or cannot run or be resumed."""
    return Reason(ReasonKind.UPSTREAM_FAILED, f"upstream stage '{origin}' {what}", origin=origin)


def _forced_reason(options: Options) -> Reason:
    if options.always_make:
        return Reason(ReasonKind.FORCED, "always-make (-B) rebuilds every stage")
    if options.resume == ResumeMode.NEVER:
        return Reason(ReasonKind.FORCED, "resume=NEVER generates every stage afresh: its LLM requests are sent "
                                         "again (cached replies are not read)")
    return Reason(ReasonKind.FORCED, f"rerun_from='{options.rerun_from}' rebuilds it and its descendants")


def _miss_reasons(state: EntryState, key: str) -> list[Reason]:
    if state == EntryState.CORRUPT:
        return [Reason(ReasonKind.ENTRY_CORRUPT, f"entry {key} is unreadable; it will be rebuilt")]
    if state == EntryState.BLOBS_MISSING:
        return [Reason(ReasonKind.OUTPUT_MISSING, f"entry {key} exists but an output blob is missing")]
    if state == EntryState.BLOBS_CORRUPT:
        return [Reason(ReasonKind.OUTPUT_MISSING, f"entry {key} exists but an output blob fails its digest check")]
    return []


def _change_reasons(view: StoreView, workflow: str, name: str, this_key: StageKey) -> list[Reason]:
    """Compare with the last build of this stage: engine, config, upstream, seed changes."""
    last = view.last_build(workflow, name)
    document = this_key.document
    if last is None or last.key == this_key.key:
        return [Reason(ReasonKind.NO_ENTRY, "no cache entry for this stage key")]
    old = last.document
    reasons = []
    if (old.get("scheme"), old.get("engine")) != (document["scheme"], document["engine"]):
        detail = f"scheme/engine {old.get('scheme')}/{old.get('engine')} -> {document['scheme']}/{document['engine']}"
        reasons.append(Reason(ReasonKind.ENGINE_CHANGED, detail))
    config = diff(old.get("stage", {}), document["stage"])
    if config:
        paths = ", ".join(c.path for c in config[:5]) + (" ..." if len(config) > 5 else "")
        reasons.append(Reason(ReasonKind.CONFIG_CHANGED, f"changed: {paths}", config))
    old_inputs, new_inputs = old.get("inputs", {}), document["inputs"]
    old_parents, new_parents = old_inputs.get("parents", {}), new_inputs.get("parents", {})
    upstream = diff(old_parents, new_parents, "parents")
    if upstream:
        names = tuple(p for p in sorted(set(old_parents) | set(new_parents), key=str)
                      if old_parents.get(p) != new_parents.get(p))
        reasons.append(Reason(ReasonKind.UPSTREAM_CHANGED, f"output of {', '.join(names)} changed", upstream,
                              parents=names))
    seeds = diff(
        {k: v for k, v in old_inputs.items() if k != "parents"},
        {k: v for k, v in new_inputs.items() if k != "parents"},
    )
    if seeds:
        reasons.append(Reason(ReasonKind.SEED_CHANGED, "seed content changed", seeds))
    return reasons or [Reason(ReasonKind.NO_ENTRY, "no cache entry for this stage key")]


def _callback_note(stage: Stage) -> list[Reason]:
    if stage.on_success is not None and stage.on_success_version is None:
        return [
            Reason(
                ReasonKind.CALLBACK_SOURCE,
                "on_success has no on_success_version: its identity is a digest of its source code",
            )
        ]
    return []


def selected_rows(rows: int | None, selection: SelectionStrategy | None) -> int | None:
    """Rows a selection strategy keeps out of ``rows``."""
    if rows is None or selection is None:
        return rows
    if isinstance(selection, IndexRange):
        return max(0, min(selection.end, rows - 1) - selection.start + 1)
    size = rows // selection.num_partitions
    last = selection.index == selection.num_partitions - 1
    return rows - size * selection.index if last else size


def _cost(stage: Stage, facts: Facts, known: dict[str, _Known], seed_rows: int | None) -> Cost:
    """An estimate from num_records and the LLM columns' prompt lengths (no prompt rendering)."""
    rows: int | None = stage.num_records
    basis = "num_records"
    if rows is None:
        if stage.depends_on:
            parent_rows = [known[p].rows for p in stage.depends_on if p in known]
            rows = sum(parent_rows) if len(parent_rows) == len(stage.depends_on) else None
            basis = "upstream rows"
        elif seed_rows is not None:
            rows = selected_rows(seed_rows, _seed_selection(stage))
            basis = "seed rows"
        elif name_has_no_seed(facts, stage):
            rows, basis = 10, "default 10 records"
    columns = facts.identities.get(stage.name, {}).get("columns", {})
    llm = [c for c in columns.values() if is_llm_column(c)]
    remote = [c for c in columns.values() if is_remote_validation(c)]
    prompt_chars = sum(len(c.get("prompt", "")) + len(c.get("system_prompt") or "") for c in llm)
    if rows is None:
        return Cost(0, 0, 0, 0, f"unknown until upstream runs; {len(llm)} LLM column(s) per row")
    batches = sum(-(-rows // c["batch_size"]) for c in remote)  # one request per batch (identity: always >= 1)
    return Cost(
        rows_to_generate=rows,
        llm_requests_to_send=rows * len(llm) + batches,
        llm_requests_cached=0,
        prompt_tokens_estimate=rows * prompt_chars // 4,
        estimate_basis=f"{basis} x {len(llm)} LLM column(s); tokens ~ template chars/4; cache hits unknown",
    )


def _seed_selection(stage: Stage) -> Any:
    seed = stage.builder.get_seed_config()
    return seed.selection_strategy if seed is not None else None


def name_has_no_seed(facts: Facts, stage: Stage) -> bool:
    return stage.name not in facts.inputs.seeds and not stage.depends_on


# ---- Dotted-path differences between two stage key documents (for CONFIG_CHANGED and friends)

_MISSING = None  # what a field that exists on one side only shows on the other


def diff(old: Any, new: Any, prefix: str = "") -> list[FieldChange]:
    """Every leaf that differs, as ``a.b.c`` paths (lists compared whole unless same length)."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                changes.append(FieldChange(path, _MISSING, new[key]))
            elif key not in new:
                changes.append(FieldChange(path, old[key], _MISSING))
            else:
                changes.extend(diff(old[key], new[key], path))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and old != new:
        return [c for i, (a, b) in enumerate(zip(old, new, strict=True)) for c in diff(a, b, f"{prefix}.{i}")]
    return [] if old == new else [FieldChange(prefix, old, new)]
