"""``ddbuild report``: write one HTML page of the targets' workflows (read-only: builds nothing).

The page shows the plan a build would start from (the same ``--explain`` computes), each stage's
numbers from its cache entry (rows, LLM requests sent and cached, tokens), the time the last
build took when that build made the entry (``workflow-metadata.json``), and the analysis of each
target's selected output, computed once and cached under its stage key.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.cli import render
from ddbuild.cli.build_cmd import Streams, make_plans
from ddbuild.cli.session import Session
from ddbuild.planning.plan import StageDecision, Status

if TYPE_CHECKING:
    from ddbuild.workflow.workflow import Workflow

LAST_RUN_LIMIT = 16 * 1024 * 1024  # workflow-metadata.json of even a large workflow is far smaller


def report(session: Session, raw_path: str, streams: Streams) -> int:
    from ddbuild._version import __version__
    from ddbuild.atomic import write_bytes
    from ddbuild.report.html import report_page
    from ddbuild.report.model import Report

    path = session.user_path(raw_path)
    plans = make_plans(session)
    workflows = [_workflow(session, selection, plan) for selection, plan in zip(session.selections(), plans,
                                                                                 strict=True)]
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    page = report_page(Report(session.build.path.name, now, __version__, workflows))
    write_bytes(path, page.encode("utf-8"))
    if not session.options.silent:
        stages = sum(len(w.stages) for w in workflows)
        streams.err.write(f"ddbuild: wrote a report of {stages} stage(s) to {path}\n")
    return 0


def _workflow(session: Session, selection: Any, plan: Any) -> Any:
    from ddbuild.report.model import TargetAnalysis, WorkflowReport

    last = last_run(selection.workflow)
    rows, entries = [], {}
    for decision in plan.stages:
        entry = session.cache().get_entry(decision.key) if decision.status is Status.HIT and decision.key else None
        if entry is not None:
            entries[decision.name] = entry
        rows.append(_stage_row(decision, entry, last.get(decision.name)))
    analyses = []
    for target in plan.targets:
        entry = entries.get(target)
        if entry is None:
            why = render.reason_headline(plan.stage(target).reasons[0]) if plan.stage(target).reasons else ""
            note = f"Not built yet ({plan.stage(target).status.value}{': ' + why if why else ''}): build it to see its data."
            analyses.append(TargetAnalysis(target, None, note))
            continue
        from ddbuild.analysis.entry import entry_analysis

        analyses.append(TargetAnalysis(target, entry_analysis(session.cache(), entry, session.settings().cache)))
    return WorkflowReport(selection.name, list(plan.targets), rows, analyses)


def _stage_row(decision: StageDecision, entry: dict[str, Any] | None, last: dict[str, Any] | None) -> Any:
    from ddbuild.report.model import StageRow, StageState, stage_state

    state = stage_state(decision.status.value, last, decision.key)
    reason = render.reason_headline(decision.reasons[0]) if decision.reasons else ""
    if state is StageState.FAILED:
        reason = f"the last build failed here ({reason})" if reason else "the last build failed here"
    if entry is None:
        return StageRow(decision.name, list(decision.depends_on), state, decision.key, reason)
    usage = render.entry_usage(entry)
    same_build = last is not None and last.get("key") == decision.key and last.get("status") in ("run", "resume")
    duration = last.get("duration_sec") if same_build and last is not None else None
    seconds = duration if isinstance(duration, (int, float)) else None
    return StageRow(
        decision.name, list(decision.depends_on), state, decision.key, reason,
        rows=entry["selected_output"].get("rows"), llm_sent=usage["llm_requests_sent"],
        llm_cached=usage["llm_requests_cached"], tokens=usage["tokens"], seconds=seconds,
        created=entry.get("created"),
    )


def last_run(workflow: Workflow) -> dict[str, dict[str, Any]]:
    """Stage name -> its record in the last build's workflow-metadata.json ({} when there is none)."""
    path = Path(workflow.artifact_root) / "workflow-metadata.json"
    try:
        if path.stat().st_size > LAST_RUN_LIMIT:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    stages = data.get("stages") if isinstance(data, dict) else None
    return {s["name"]: s for s in stages or [] if isinstance(s, dict) and isinstance(s.get("name"), str)}
