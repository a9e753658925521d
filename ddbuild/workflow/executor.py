"""The executor: runs a Plan stage by stage, re-planning after each build from real output digests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ddbuild.fingerprint import digest_json, stage_key_document
from ddbuild.workflow.build import ParentOutput, build_stage
from ddbuild.workflow.context import BuildContext
from ddbuild.workflow.events import StageFinished, StageStarted
from ddbuild.workflow.graph import Graph
from ddbuild.workflow.plan import Plan, ReasonKind, StageDecision, Status
from ddbuild.workflow.planner import Facts, Options, Settled, plan
from ddbuild.workflow.storeview import StoreView
from ddbuild.workflow.view import materialise


@dataclass
class StageRecord:
    """How one stage was satisfied in this build (what tests count and metadata records)."""

    decision: StageDecision
    status: Status  # HIT, RUN, RESUME, SKIPPED
    entry: dict[str, Any] | None = None
    rows_generated: int = 0
    duration_s: float = 0.0
    skipped_by: str | None = None


@dataclass
class BuildLog:
    records: dict[str, StageRecord] = field(default_factory=dict)
    plans: list[Plan] = field(default_factory=list)


def key_document(graph: Graph, name: str, facts: Facts, digests: dict[str, str]) -> dict[str, Any]:
    """The same key document the planner hashed (parents' digests now known)."""
    stage = graph[name]
    inputs: dict[str, Any] = {"parents": {p: digests[p] for p in sorted(stage.depends_on)}}
    seed = facts.inputs.seeds.get(name)
    if seed is not None:
        inputs.update(seed.key_inputs())
    return stage_key_document(facts.identities[name], inputs)


def execute(
    graph: Graph, targets: list[str], view: StoreView, facts: Facts, options: Options, ctx: BuildContext
) -> BuildLog:
    """Settle every stage of the targets' closure in topological order."""
    log = BuildLog()
    settled: dict[str, Settled] = {}
    while True:
        current = plan(graph, targets, view, facts, options, settled)
        log.plans.append(current)
        todo = [d for d in current.stages if d.name not in settled]
        if not todo:
            return log
        decision = todo[0]  # topological: its parents are settled
        record = _settle(graph, decision, facts, ctx, log, options.workflow)
        log.records[decision.name] = record
        settled[decision.name] = _as_settled(record, facts)


def _as_settled(record: StageRecord, facts: Facts) -> Settled:
    decision = record.decision
    digest, rows = None, None
    if record.entry is not None:
        digest, rows = record.entry["selected_output"]["digest"], record.entry["selected_output"]["rows"]
    elif decision.name in facts.inputs.overrides:
        override = facts.inputs.overrides[decision.name]
        digest, rows = override.digest, override.rows
    return Settled(
        status=record.status, key=record.entry["key"] if record.entry else decision.key,
        output_digest=digest, rows=rows, reasons=tuple(decision.reasons), empty_origin=record.skipped_by,
    )


def _settle(
    graph: Graph, decision: StageDecision, facts: Facts, ctx: BuildContext, log: BuildLog, workflow: str
) -> StageRecord:
    stage = graph[decision.name]
    if decision.status == Status.SKIPPED:
        origin = decision.reasons[0].detail.split("'")[1] if decision.reasons else None
        ctx.reporter.emit(StageFinished(stage.name, Status.SKIPPED, None))
        return StageRecord(decision, Status.SKIPPED, skipped_by=origin)
    if decision.status == Status.ERROR:
        from ddbuild.errors import SeedError

        raise SeedError(decision.reasons[0].detail)
    if decision.status == Status.HIT:
        return _hit(stage, decision, facts, ctx)
    return _build(graph, stage, decision, facts, ctx, log, workflow)


def _hit(stage: Any, decision: StageDecision, facts: Facts, ctx: BuildContext) -> StageRecord:
    if decision.key is None:  # an override: nothing cached to show
        override = facts.inputs.overrides[stage.name]
        ctx.reporter.emit(StageFinished(stage.name, Status.HIT, None, rows=override.rows))
        return StageRecord(decision, Status.HIT)
    entry = ctx.store.get_entry(decision.key)
    materialise(ctx.store, entry, ctx.stage_view(stage))
    rows = entry["selected_output"]["rows"]
    ctx.reporter.emit(StageFinished(stage.name, Status.HIT, decision.key, rows=rows))
    return StageRecord(decision, Status.HIT, entry=entry)


def _build(
    graph: Graph, stage: Any, decision: StageDecision, facts: Facts, ctx: BuildContext, log: BuildLog,
    workflow: str,
) -> StageRecord:
    parents = {p: _parent_output(p, facts, ctx, log) for p in stage.depends_on}
    digests = {p: _parent_digest(p, facts, log) for p in stage.depends_on}
    document = key_document(graph, stage.name, facts, digests)
    key = digest_json(document)
    assert decision.key in (None, key), "planner and executor disagree on a stage key"
    ctx.reporter.emit(StageStarted(stage.name, decision.status, key))
    started = ctx.clock()
    forced = any(r.kind == ReasonKind.FORCED for r in decision.reasons)
    built = build_stage(ctx, workflow, stage, key, document, decision.status, parents, forced=forced)
    materialise(ctx.store, built.entry, ctx.stage_view(stage))
    duration = ctx.clock() - started
    rows = built.entry["selected_output"]["rows"]
    ctx.reporter.emit(StageFinished(stage.name, built.status, key, rows=rows,
                                    rows_generated=built.rows_generated, duration_s=duration))
    return StageRecord(decision, built.status, built.entry, built.rows_generated, duration)


def _parent_digest(name: str, facts: Facts, log: BuildLog) -> str:
    if name in facts.inputs.overrides:
        return facts.inputs.overrides[name].digest
    return log.records[name].entry["selected_output"]["digest"]


def _parent_output(name: str, facts: Facts, ctx: BuildContext, log: BuildLog) -> ParentOutput:
    """The parent's selected files: the override's files, or the blobs of its entry."""
    override = facts.inputs.overrides.get(name)
    if override is not None:
        return ParentOutput(list(override.files), override.rows)
    entry = log.records[name].entry
    by_path = {o["path"]: o["digest"] for o in entry["outputs"]}
    files = [ctx.store.blob_path(by_path[p]) for p in entry["selected_output"]["paths"]]
    return ParentOutput(files, entry["selected_output"]["rows"])
