"""Settling one planned stage: reuse a hit, record a skip, or prepare and run a build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ddbuild.errors import StoreError
from ddbuild.execution.build import ParentOutput, build_stage, entry_output, llm_counts
from ddbuild.execution.context import BuildContext
from ddbuild.execution.events import StageFinished, WarningEvent
from ddbuild.execution.view import materialise, view_edited_reason
from ddbuild.planning.graph import Graph
from ddbuild.planning.plan import ReasonKind, StageDecision, Status
from ddbuild.planning.planner import Facts, Settled, entry_drops
from ddbuild.planning.stage import Stage
from ddbuild.store.entry import blob_digests


@dataclass
class StageRecord:
    """How one stage was settled in this build (what tests count and metadata records)."""

    decision: StageDecision
    status: Status  # HIT, RUN, RESUME, SKIPPED, or ERROR (failed under keep-going)
    entry: dict[str, Any] | None = None
    rows_generated: int = 0
    duration_s: float = 0.0
    skipped_by: str | None = None  # SKIPPED: the stage that ended empty or failed
    error: BaseException | None = None  # ERROR: what the stage raised


def as_settled(record: StageRecord, facts: Facts) -> Settled:
    """What the planner is told about a settled stage when it re-plans."""
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


def skipped(decision: StageDecision, ctx: BuildContext) -> StageRecord:
    """A SKIPPED decision: the planner's first reason names the stage that ended empty or failed."""
    origin = decision.reasons[0].origin if decision.reasons else None
    ctx.reporter.emit(StageFinished(decision.name, Status.SKIPPED, None))
    return StageRecord(decision, Status.SKIPPED, skipped_by=origin)


def hit(stage: Stage, decision: StageDecision, facts: Facts, ctx: BuildContext) -> StageRecord:
    """A HIT: materialise the entry's files in the view; nothing runs."""
    if decision.key is None:  # an override: nothing cached to show
        override = facts.inputs.overrides[stage.name]
        ctx.reporter.emit(StageFinished(stage.name, Status.HIT, None, rows=override.rows))
        return StageRecord(decision, Status.HIT)
    entry = ctx.store.get_entry(decision.key)
    if entry is None:  # deleted between the plan and now (cache gc --prune=now, by hand)
        raise StoreError(
            f"Stage '{stage.name}': the cached output {decision.key[:8]} vanished while this build started.",
            hint="Run the build again: the stage is then rebuilt. Was `ddbuild cache gc` running?",
        )
    held_blobs(ctx, decision.key, entry, stage.name)
    decision = show_view(ctx, stage, entry, decision)
    rows = entry["selected_output"]["rows"]
    ctx.reporter.emit(StageFinished(stage.name, Status.HIT, decision.key, rows=rows, dropped_rows=entry_drops(entry)))
    return StageRecord(decision, Status.HIT, entry=entry)


def held_blobs(ctx: BuildContext, key: str, entry: dict[str, Any], stage: str) -> None:
    """Pin a hit's entry and blobs for this build, then check they survived until pinned."""
    digests = blob_digests(entry)
    ctx.hold(entries=[key], blobs=digests)
    local = ctx.store.local_store()  # a remote hit was made local by the plan's view
    missing = [d for d in digests if not local.has_blob(d)]
    if missing:  # deleted between the plan and the pin (cache gc --prune=now, by hand)
        raise StoreError(
            f"Stage '{stage}': the cached output {key[:8]} lost {len(missing)} blob(s) while this build "
            f"started (first: {missing[0]}).",
            hint="Run the build again: the stage is then rebuilt. Was `ddbuild cache gc` running?",
        )


def show_view(ctx: BuildContext, stage: Stage, entry: dict[str, Any], decision: StageDecision) -> StageDecision:
    """Materialise the stage's view; files edited by hand are restored, kept aside and reported."""
    changes = materialise(ctx.verifier, entry, ctx.stage_view(stage), f"{entry['workflow']}:{stage.name}")
    if not changes.edited:
        return decision
    shown = ", ".join(changes.edited[:3]) + (" ..." if len(changes.edited) > 3 else "")
    ctx.reporter.emit(WarningEvent(
        f"view edited by hand: restored {shown} from the cache; your version was moved to {changes.aside}",
        stage=stage.name))
    if any(r.kind == ReasonKind.VIEW_EDITED for r in decision.reasons):
        return decision
    return replace(decision, reasons=[view_edited_reason(changes.edited), *decision.reasons])


@dataclass
class BuildJob:
    """A RUN/RESUME stage with its inputs resolved; ``run`` may execute on a worker thread."""

    stage: Stage
    decision: StageDecision
    key: str
    document: dict[str, Any]
    parents: dict[str, ParentOutput] = field(default_factory=dict)

    def run(self, ctx: BuildContext, workflow: str) -> StageRecord:
        stage, decision, key = self.stage, self.decision, self.key
        started = ctx.clock()
        forced = any(r.kind == ReasonKind.FORCED for r in decision.reasons)
        built = build_stage(ctx, workflow, stage, key, self.document, decision.status, self.parents, forced=forced)
        decision = show_view(ctx, stage, built.entry, decision)
        duration = ctx.clock() - started
        rows = built.entry["selected_output"]["rows"]
        llm = llm_counts(built.llm_this_run) if built.llm_this_run is not None else {}
        ctx.reporter.emit(StageFinished(stage.name, built.status, key, rows=rows,
                                        rows_generated=built.rows_generated, duration_s=duration,
                                        dropped_rows=entry_drops(built.entry), **llm))
        return StageRecord(decision, built.status, built.entry, built.rows_generated, duration)


def prepare_build(
    graph: Graph, decision: StageDecision, facts: Facts, ctx: BuildContext, records: Mapping[str, StageRecord]
) -> BuildJob:
    """Resolve parents' files (on the scheduling thread, from settled records only); the stage
    builds under the key the plan computed (fingerprint.stage_key), with the document it hashed."""
    stage = graph[decision.name]
    # Only stages whose parents are all settled are dispatched, and planner step 7 keys every one.
    if decision.key is None or decision.key_document is None:
        raise RuntimeError(f"stage '{stage.name}' was dispatched before its key was known")
    parents = {p: _parent_output(p, facts, ctx, records) for p in stage.depends_on}
    return BuildJob(stage, decision, decision.key, decision.key_document, parents)


def _parent_output(name: str, facts: Facts, ctx: BuildContext, records: Mapping[str, StageRecord]) -> ParentOutput:
    """The parent's selected files: the override's files, or the blobs of its entry."""
    override = facts.inputs.overrides.get(name)
    if override is not None:
        return ParentOutput(list(override.files), override.rows)
    entry = records[name].entry
    assert entry is not None
    return entry_output(ctx.verifier, entry)
