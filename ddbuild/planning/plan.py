"""The Plan: pure data describing, per stage, what a build would do and why (rendered by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal


class Status(str, Enum):
    """What a build does with a stage."""

    HIT = "hit"  # an entry for the stage key exists: reuse it, run nothing
    RUN = "run"  # no usable entry: generate from scratch
    RESUME = "resume"  # a partial checkpoint for this exact key exists: continue it
    PENDING = "pending"  # key depends on an upstream that runs first; known only after it runs
    SKIPPED = "skipped"  # an upstream completed with an empty output (allow_empty) or failed
    ERROR = "error"  # the stage cannot be planned (seed missing, invalid config); detail in reasons


class ReasonKind(str, Enum):
    """Why a stage got its status; created at the branch that decided."""

    CACHED = "cached"  # entry found for the key
    NO_ENTRY = "no_entry"  # never built with this key (and nothing to compare with)
    CONFIG_CHANGED = "config_changed"  # stage identity differs from the last entry of this stage
    UPSTREAM_CHANGED = "upstream_changed"  # a parent's output digest differs
    SEED_CHANGED = "seed_changed"  # a seed file's content digest differs
    FORCED = "forced"  # always_make / rerun_from / resume=NEVER
    ENGINE_CHANGED = "engine_changed"  # hash scheme or engine version differs
    OUTPUT_MISSING = "output_missing"  # entry exists but a blob is missing or corrupt
    ENTRY_CORRUPT = "entry_corrupt"  # the entry could not be read; treated as a miss
    PARTIAL_FOUND = "partial_found"  # completed batches for this key exist
    UPSTREAM_PENDING = "upstream_pending"  # an upstream runs first; key not known yet
    UPSTREAM_EMPTY = "upstream_empty"  # an upstream ended with an empty output
    UPSTREAM_FAILED = "upstream_failed"  # an upstream failed in this build (keep-going)
    FAILED = "failed"  # the stage itself failed in this build (keep-going); detail: the error
    OVERRIDDEN = "overridden"  # stage_output_overrides supplies the output
    CALLBACK_SOURCE = "callback_source"  # on_success identity is a digest of its source code
    NOT_TARGETED = "not_targeted"  # outside the targets' closure
    CONFIG_INVALID = "config_invalid"  # the config cannot run on its seed's columns; detail: the error
    MODEL_INVALID = "model_invalid"  # an LLM column's alias, provider or API key is unusable; detail: the error
    VIEW_EDITED = "view_edited"  # a HIT whose view files were edited by hand: restored, the edits kept aside
    NOT_RESUMABLE = "not_resumable"  # resume=ALWAYS but the stage would start fresh; detail: the refusal


def sorted_drops(dropped: dict[str, int]) -> list[tuple[str, int]]:
    """Drop reasons (reason -> rows), most rows first, then by name: how every report lists them."""
    return sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class FieldChange:
    """One differing field of a stage identity."""

    path: str  # dotted, e.g. "columns.answer.prompt"
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Reason:
    """Why a stage got its status. ``detail`` is a sentence for people and is never parsed: what
    code needs (which stage, which fields) is in the structured fields, set where it is known."""

    kind: ReasonKind
    detail: str
    changes: list[FieldChange] = field(default_factory=list)  # CONFIG/UPSTREAM/SEED_CHANGED: fields, old -> new
    origin: str | None = None  # UPSTREAM_EMPTY / UPSTREAM_FAILED: the stage that ended empty, failed or cannot run
    parents: tuple[str, ...] = ()  # UPSTREAM_CHANGED: parents whose output changed; UPSTREAM_PENDING: that run first

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "detail": self.detail}
        if self.changes:
            out["changes"] = [c.to_dict() for c in self.changes]
        if self.origin is not None:
            out["origin"] = self.origin
        if self.parents:
            out["parents"] = list(self.parents)
        return out


@dataclass(frozen=True)
class Cost:
    """Estimated work of running a stage (zero for hits)."""

    rows_to_generate: int
    llm_requests_to_send: int
    llm_requests_cached: int
    prompt_tokens_estimate: int
    estimate_basis: str  # how the numbers were obtained, e.g. "num_records x llm columns"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_to_generate": self.rows_to_generate,
            "llm_requests_to_send": self.llm_requests_to_send,
            "llm_requests_cached": self.llm_requests_cached,
            "prompt_tokens_estimate": self.prompt_tokens_estimate,
            "estimate_basis": self.estimate_basis,
        }


Origin = Literal["local", "remote"]


@dataclass(frozen=True)
class StageDecision:
    name: str
    index: int
    depends_on: list[str]
    status: Status
    key: str | None  # None while PENDING (or ERROR)
    reasons: list[Reason] = field(default_factory=list)
    cost: Cost | None = None
    origin: Origin | None = None  # where a HIT's entry lives
    dropped_rows: dict[str, int] = field(default_factory=dict)  # HIT: rows its build dropped, per reason
    # What ``key`` is the digest of (fingerprint.stage_key): a RUN/RESUME build publishes its entry
    # under ``key`` with this document, so planner and executor never compute a key twice.
    key_document: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "index": self.index,
            "depends_on": list(self.depends_on),
            "status": self.status.value,
            "key": self.key,
            "reasons": [r.to_dict() for r in self.reasons],
            "cost": self.cost.to_dict() if self.cost else None,
            "origin": self.origin,
            "dropped_rows": dict(self.dropped_rows),
        }


@dataclass(frozen=True)
class Plan:
    workflow: str
    stages: list[StageDecision]
    targets: list[str]

    def stage(self, name: str) -> StageDecision:
        for decision in self.stages:
            if decision.name == name:
                return decision
        raise KeyError(name)

    def invalid(self) -> list[StageDecision]:
        """Stages that stop the build before anything runs: a config that does not fit its seed's
        columns or a seed that cannot be read (CONFIG_INVALID), LLM columns that cannot send
        (MODEL_INVALID), a stage that resume=ALWAYS cannot reuse (NOT_RESUMABLE)."""
        kinds = (ReasonKind.CONFIG_INVALID, ReasonKind.MODEL_INVALID, ReasonKind.NOT_RESUMABLE)
        return [d for d in self.stages if d.status == Status.ERROR and d.reasons and d.reasons[0].kind in kinds]

    @property
    def has_work(self) -> bool:
        """True when building would execute something (make -q exit status)."""
        busy = {Status.RUN, Status.RESUME, Status.PENDING}
        return any(d.status in busy for d in self.stages)

    def summary(self) -> dict[str, Any]:
        counts = {s.value: 0 for s in Status}
        for decision in self.stages:
            counts[decision.status.value] += 1
        costs = [d.cost for d in self.stages if d.cost is not None]
        return {
            "stages": len(self.stages),
            "status_counts": counts,
            "rows_to_generate": sum(c.rows_to_generate for c in costs),
            "llm_requests_to_send": sum(c.llm_requests_to_send for c in costs),
            "llm_requests_cached": sum(c.llm_requests_cached for c in costs),
            "prompt_tokens_estimate": sum(c.prompt_tokens_estimate for c in costs),
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``--explain --json`` document."""
        return {
            "workflow": self.workflow,
            "targets": list(self.targets),
            "stages": [d.to_dict() for d in self.stages],
            "summary": self.summary(),
        }
