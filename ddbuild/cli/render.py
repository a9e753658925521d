"""Plans and build outcomes as text for people and JSON for tools (pure: returns strings)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbuild.planning.plan import (
    Cost,
    FieldChange,
    Plan,
    Reason,
    ReasonKind,
    StageDecision,
    Status,
    sorted_drops,
)

EXPLAIN_SCHEMA = "ddbuild.explain/1"
KEY_CHARS = 8
VALUE_WIDTH = 40
CHANGES_SHOWN = 5

# How each reason kind reads at the start of a WHY cell.
REASON_LABELS: dict[ReasonKind, str] = {
    ReasonKind.CACHED: "cached",
    ReasonKind.NO_ENTRY: "no entry in the cache",
    ReasonKind.CONFIG_CHANGED: "config changed",
    ReasonKind.UPSTREAM_CHANGED: "upstream output changed",
    ReasonKind.SEED_CHANGED: "seed file changed",
    ReasonKind.FORCED: "forced",
    ReasonKind.ENGINE_CHANGED: "engine or hash scheme changed",
    ReasonKind.OUTPUT_MISSING: "cached output missing",
    ReasonKind.ENTRY_CORRUPT: "cache entry unreadable",
    ReasonKind.PARTIAL_FOUND: "resuming from checkpoint",
    ReasonKind.UPSTREAM_PENDING: "waits for upstream",
    ReasonKind.UPSTREAM_EMPTY: "upstream output empty",
    ReasonKind.OVERRIDDEN: "output overridden",
    ReasonKind.CALLBACK_SOURCE: "on_success identity from its source",
    ReasonKind.NOT_TARGETED: "not targeted",
    ReasonKind.CONFIG_INVALID: "invalid config",
    ReasonKind.MODEL_INVALID: "model unusable",
}

WORK = (Status.RUN, Status.RESUME, Status.PENDING)


def short_key(key: str | None) -> str:
    return key[:KEY_CHARS] if key else "-"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _show(value: Any) -> str:
    if isinstance(value, str):
        if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
            return value[:KEY_CHARS]  # a digest: the short form is enough to tell two apart
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def abbreviate_pair(old: Any, new: Any, width: int = VALUE_WIDTH) -> tuple[str, str]:
    """Both values shown short; two long strings are shown from just before they first differ."""
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > width - 2:
        common = 0
        for a, b in zip(old, new, strict=False):
            if a != b:
                break
            common += 1
        start = max(common - 12, 0)
        if start > 0:
            return _cut("…" + _show(old[start:])[1:], width), _cut("…" + _show(new[start:])[1:], width)
    return _cut(_show(old), width), _cut(_show(new), width)


def render_change(change: FieldChange) -> str:
    old, new = abbreviate_pair(change.old, change.new)
    return f"{change.path}: {old} -> {new}"


def reason_headline(reason: Reason) -> str:
    """The first line of a WHY cell. The planner's detail is a sentence; a few kinds read better
    with a fixed phrase (the detail would repeat the key or the field list shown below it)."""
    kind, detail = reason.kind, reason.detail.strip()
    if kind is ReasonKind.CACHED:
        return "cached"
    if kind is ReasonKind.NO_ENTRY:
        return REASON_LABELS[kind]
    if kind is ReasonKind.CONFIG_CHANGED and reason.changes:
        if len(reason.changes) == 1:
            return f"config changed: {render_change(reason.changes[0])}"
        return f"config changed ({len(reason.changes)} fields)"
    if kind is ReasonKind.FORCED:
        return f"forced: {detail}" if detail else "forced"
    return detail or REASON_LABELS.get(kind, kind.value.replace("_", " "))


def reason_lines(reason: Reason, *, all_changes: bool = False) -> list[str]:
    """The WHY cell: a headline, then one line per changed field (capped unless verbose)."""
    lines = [reason_headline(reason)]
    changes = reason.changes
    if reason.kind is ReasonKind.CONFIG_CHANGED and len(changes) == 1:
        changes = []
    shown = changes if all_changes else changes[:CHANGES_SHOWN]
    lines += [f"  {render_change(c)}" for c in shown]
    hidden = len(changes) - len(shown)
    if hidden > 0:
        lines.append(f"  (+{hidden} more; -v shows all)")
    return lines


def cost_line(cost: Cost, status: Status = Status.RUN, *, key_known: bool = True) -> str:
    """The cost cell; a stage whose key waits for an upstream (PENDING, or RUN under -B below a
    stage that runs) has no row count yet, and says so instead of printing zeros."""
    basis = f" ({cost.estimate_basis})" if cost.estimate_basis else ""
    if (status is Status.PENDING or not key_known) and not cost.rows_to_generate:
        return f"cost: {cost.estimate_basis or 'known once upstream has run'}"
    requests = (
        f"{cost.llm_requests_to_send:,} LLM requests to send, {cost.llm_requests_cached:,} cached"
        if cost.llm_requests_to_send or cost.llm_requests_cached
        else "no LLM requests"
    )
    tokens = f", ~{cost.prompt_tokens_estimate:,} prompt tokens" if cost.prompt_tokens_estimate else ""
    return f"cost: {cost.rows_to_generate:,} rows to generate, {requests}{tokens}{basis}"


def _why_lines(decision: StageDecision, verbose: bool) -> list[str]:
    if not decision.reasons:
        return [decision.status.value]
    lines = reason_lines(decision.reasons[0], all_changes=verbose)
    if decision.status is Status.HIT and decision.origin:
        lines[0] += f" ({decision.origin})"
    if verbose:
        for extra in decision.reasons[1:]:
            lines += [
                "also " + line if i == 0 else line
                for i, line in enumerate(reason_lines(extra, all_changes=True))
            ]
    if decision.status is Status.HIT and decision.dropped_rows:
        lines.append(f"built with {drops_text(decision.dropped_rows)}")
    if decision.cost is not None and decision.status in WORK:
        lines.append(cost_line(decision.cost, decision.status, key_known=decision.key is not None))
    return lines


def drops_text(dropped: dict[str, int]) -> str:
    """'3 rows dropped (invalid_structured_output: 2, expression_error:label: 1)'."""
    total = sum(dropped.values())
    reasons = ", ".join(f"{reason}: {n:,}" for reason, n in sorted_drops(dropped))
    return f"{total:,} row{'s' if total != 1 else ''} dropped ({reasons})"


def _table(rows: Sequence[tuple[str, str, str, list[str]]], indent: str = "  ") -> list[str]:
    name_w = max([len(r[0]) for r in rows] + [5])
    status_w = max([len(r[1]) for r in rows] + [7])
    out = []
    for name, status, key, why in rows:
        head = f"{indent}{name:<{name_w}}  {status:<{status_w}}  {key:<{KEY_CHARS}}"
        pad = " " * len(head)
        lines = why or [""]
        out.append(f"{head}  {lines[0]}".rstrip())
        out += [f"{pad}  {line}" for line in lines[1:]]
    return out


def plan_header(plan: Plan) -> str:
    targets = ", ".join(plan.targets) if plan.targets else "(default)"
    return f"workflow {plan.workflow} -> {targets}"


def _counts_phrase(counts: dict[str, int]) -> str:
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    return ", ".join(parts) if parts else "nothing to do"


def _merge_summaries(plans: Sequence[Plan]) -> dict[str, Any]:
    total: dict[str, Any] = {"stages": 0, "status_counts": {s.value: 0 for s in Status}}
    for key in ("rows_to_generate", "llm_requests_to_send", "llm_requests_cached", "prompt_tokens_estimate"):
        total[key] = 0
    for plan in plans:
        summary = plan.summary()
        total["stages"] += summary["stages"]
        for status, n in summary["status_counts"].items():
            total["status_counts"][status] = total["status_counts"].get(status, 0) + n
        for key in (
            "rows_to_generate",
            "llm_requests_to_send",
            "llm_requests_cached",
            "prompt_tokens_estimate",
        ):
            total[key] += summary[key]
    return total


def total_line(plans: Sequence[Plan]) -> str:
    s = _merge_summaries(plans)
    parts = [_counts_phrase(s["status_counts"])]
    if s["rows_to_generate"]:
        parts.append(f"{s['rows_to_generate']:,} rows to generate")
    if s["llm_requests_to_send"] or s["llm_requests_cached"]:
        parts.append(
            f"{s['llm_requests_to_send']:,} LLM requests to send, {s['llm_requests_cached']:,} cached"
        )
    if s["prompt_tokens_estimate"]:
        parts.append(f"~{s['prompt_tokens_estimate']:,} prompt tokens")
    if any(d.status in WORK and d.key is None for p in plans for d in p.stages):
        parts.append("costs of stages that wait for an upstream are known once it has run")
    return "total: " + "; ".join(parts)


def is_linear(plan: Plan) -> bool:
    """True when every stage's only parent is the stage listed before it (a plain chain)."""
    previous: list[str] = []
    for decision in plan.stages:
        if list(decision.depends_on) != previous:
            return False
        previous = [decision.name]
    return True


def stage_label(decision: StageDecision, linear: bool) -> str:
    """The stage name; in a DAG, followed by ``<- parents`` so branches and joins are visible."""
    if linear or not decision.depends_on:
        return decision.name
    return f"{decision.name} <- {', '.join(decision.depends_on)}"


def parallel_groups(plan: Plan) -> list[list[str]]:
    """Stages with work that are independent of each other, by depth in the DAG.

    Depth = 1 + the deepest parent; stages of one depth never depend on each other, so each
    group of two or more can build at the same time with ``-j``.
    """
    depth: dict[str, int] = {}
    groups: dict[int, list[str]] = {}
    for decision in plan.stages:  # plans list stages in topological order
        depth[decision.name] = 1 + max((depth[p] for p in decision.depends_on if p in depth), default=-1)
        if decision.status in WORK:
            groups.setdefault(depth[decision.name], []).append(decision.name)
    return [groups[level] for level in sorted(groups) if len(groups[level]) > 1]


def explain_text(plans: Sequence[Plan], *, verbose: bool = False) -> str:
    """The ``--explain`` report: per stage status, short key, WHY and cost; then a total line."""
    out: list[str] = []
    for plan in plans:
        out.append(plan_header(plan))
        linear = is_linear(plan)
        rows = [
            (stage_label(d, linear), d.status.value, short_key(d.key), _why_lines(d, verbose)) for d in plan.stages
        ]
        out += _table(rows)
        for group in parallel_groups(plan):
            out.append(f"  independent, can build together with -j {len(group)}: {', '.join(group)}")
    out.append(total_line(plans))
    return "\n".join(out) + "\n"


def explain_document(plans: Sequence[Plan], *, build_file: str) -> dict[str, Any]:
    """The ``--explain --json`` document (schema in docs/cli.md)."""
    return {
        "schema": EXPLAIN_SCHEMA,
        "build_file": build_file,
        "workflows": [plan.to_dict() for plan in plans],
        "summary": _merge_summaries(plans),
        "has_work": any(plan.has_work for plan in plans),
    }


def explain_json(plans: Sequence[Plan], *, build_file: str) -> str:
    return json.dumps(explain_document(plans, build_file=build_file), indent=2, default=str) + "\n"


def status_text(plans: Sequence[Plan]) -> str:
    """``ddbuild status``: the explain table without costs; reasons only for a stage in error."""
    out: list[str] = []
    for plan in plans:
        out.append(plan_header(plan))
        linear = is_linear(plan)
        rows = [(stage_label(d, linear), d.status.value, short_key(d.key), _status_cell(d)) for d in plan.stages]
        out += _table(rows)
    out.append("total: " + _counts_phrase(_merge_summaries(plans)["status_counts"]))
    return "\n".join(out) + "\n"


def _status_cell(decision: StageDecision) -> list[str]:
    if decision.status is Status.ERROR and decision.reasons:
        return [reason_headline(decision.reasons[0])]
    return [decision.origin or ""]


# -- build summary ---------------------------------------------------------------------------


@dataclass
class StageOutcome:
    """What a build did with one stage (collected from reporter events)."""

    name: str
    status: Status | None = None
    key: str | None = None
    rows: int | None = None
    rows_generated: int = 0
    duration_s: float = 0.0
    llm_requests_sent: int | None = None
    llm_requests_cached: int | None = None
    tokens: int | None = None
    dropped_rows: dict[str, int] = field(default_factory=dict)  # rows dropped for data reasons


OUTCOME_WORDS = {
    Status.HIT: "hit",
    Status.RUN: "ran",
    Status.RESUME: "resumed",
    Status.SKIPPED: "skipped",
    Status.ERROR: "failed",
    Status.PENDING: "not run",
}


def _fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


@dataclass
class BuildSummary:
    workflow: str
    outcomes: list[StageOutcome] = field(default_factory=list)
    wall_s: float = 0.0


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def summary_text(summaries: Sequence[BuildSummary]) -> str:
    """The table printed after a build: per stage outcome, rows, LLM requests, tokens, time."""
    out: list[str] = []
    for summary in summaries:
        out.append(f"workflow {summary.workflow}: built in {_fmt_seconds(summary.wall_s)}")
        header = ("stage", "result", "rows", "llm sent", "llm cached", "tokens", "time")
        rows = [header] + [
            (
                o.name,
                OUTCOME_WORDS.get(o.status, "not run") if o.status else "not run",
                _opt(o.rows),
                _opt(o.llm_requests_sent),
                _opt(o.llm_requests_cached),
                _opt(o.tokens),
                _fmt_seconds(o.duration_s) if o.status in (Status.RUN, Status.RESUME) else "-",
            )
            for o in summary.outcomes
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for row in rows:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [
                cell.rjust(widths[i]) for i, cell in enumerate(row[2:], start=2)
            ]
            out.append("  " + "  ".join(cells).rstrip())
        out += [f"  {o.name}: {drops_text(o.dropped_rows)}" for o in summary.outcomes if o.dropped_rows]
    return "\n".join(out) + "\n"


def summary_document(summaries: Sequence[BuildSummary]) -> dict[str, Any]:
    return {
        "event": "build_finished",
        "workflows": [
            {
                "workflow": s.workflow,
                "wall_s": round(s.wall_s, 3),
                "stages": [
                    {
                        "name": o.name,
                        "status": o.status.value if o.status else None,
                        "key": o.key,
                        "rows": o.rows,
                        "rows_generated": o.rows_generated,
                        "llm_requests_sent": o.llm_requests_sent,
                        "llm_requests_cached": o.llm_requests_cached,
                        "tokens": o.tokens,
                        "dropped_rows": dict(o.dropped_rows),
                        "duration_s": round(o.duration_s, 3),
                    }
                    for o in s.outcomes
                ],
            }
            for s in summaries
        ],
    }


def entry_usage(entry: dict[str, Any]) -> dict[str, int]:
    """LLM requests sent / served from cache and tokens recorded in a stage's published entry: the
    record for every stage, one built by another process included (``StageFinished`` carries only
    what this process's executor timed)."""
    stats = (entry.get("usage") or {}).get("llm_stats") or {}
    return {
        "llm_requests_sent": int(stats.get("requests_sent", 0) or 0),
        "llm_requests_cached": int(stats.get("served_from_cache", 0) or 0),
        "tokens": int(stats.get("prompt_tokens", 0) or 0) + int(stats.get("completion_tokens", 0) or 0),
    }
