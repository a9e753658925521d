"""``ddbuild export`` and ``ddbuild graph``: read-only commands that never build anything."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ddbuild.cli import render
from ddbuild.cli.build_cmd import Streams
from ddbuild.cli.session import Session, bind
from ddbuild.errors import ArtifactError, UsageError
from ddbuild.planning.plan import Status

if TYPE_CHECKING:
    from ddbuild.store.base import Store
    from ddbuild.workflow.workflow import Workflow

FORMATS = ("jsonl", "csv", "parquet")


def export_format(path: Path, fmt: str | None) -> str:
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise UsageError(
            f"Cannot tell the export format of '{path.name}'.",
            hint="Use a .jsonl, .csv or .parquet path, or pass --format jsonl|csv|parquet.",
        )
    return chosen


def export(session: Session, target: str, raw_path: str, fmt: str | None, streams: Streams) -> int:
    """Write the target's selected output, which must already be in the cache."""
    path = session.user_path(raw_path)
    chosen = export_format(path, fmt)
    (selection,) = session.selections((target,))
    stages = selection.resolved_stages()
    if len(stages) != 1:
        raise UsageError(
            f"Workflow '{selection.name}' has several final stages: {', '.join(stages)}.",
            hint=f"Name the one to export: ddbuild export {stages[0]} {raw_path}",
        )
    (stage,) = stages
    bind(session)
    plan = selection.workflow.plan(targets=[stage])
    decision = plan.stage(stage)
    if decision.status is not Status.HIT or not decision.key:
        why = render.reason_headline(decision.reasons[0]) if decision.reasons else decision.status.value
        spelled = target if ":" in target else stage
        raise ArtifactError(
            f"Target '{spelled}' is not built ({decision.status.value}: {why}).",
            hint=f"Build it first with `ddbuild {spelled}` (or see why with `ddbuild --explain {spelled}`).",
        )
    rows = write_entry_output(session.cache(), decision.key, path, chosen)
    if not session.options.silent:
        streams.err.write(f"ddbuild: exported {rows:,} rows of {stage} to {path}\n")
    return 0


def write_entry_output(store: Store, key: str, path: Path, fmt: str) -> int:
    """Fetch the entry's selected-output blobs (verified) and export them as one file.

    The writing is the engine's (``engine.io.export_files``): the same JSONL, CSV (nested values
    as JSON) and streamed Parquet as ``results.export()``, published atomically (``ddbuild.atomic``).
    """
    from ddbuild.engine.io import count_rows, export_files

    entry = store.get_entry(key)
    if entry is None:
        raise ArtifactError(f"Cache entry {key[:8]} vanished before export.", hint="Build the target again.")
    digest_of = {o["path"]: o["digest"] for o in entry["outputs"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ddbuild-export-", dir=path.parent) as scratch:  # the blobs
        files = []
        for i, rel in enumerate(entry["selected_output"]["paths"]):
            local = Path(scratch) / f"{i:05d}.parquet"
            if not store.get_blob(digest_of[rel], local):
                raise ArtifactError(f"Output blob of {rel} is missing from the cache.", hint="Rebuild the target.")
            files.append(local)
        export_files(files, path, fmt)
        return count_rows(files)


# -- graph -------------------------------------------------------------------------------------


def _edges(workflow: Workflow) -> list[tuple[str, list[str]]]:
    return [(s.name, list(s.depends_on)) for s in workflow.stages]


def graph_text(workflow: Workflow) -> str:
    lines = [f"workflow {workflow.name}"]
    for name, parents in _edges(workflow):
        lines.append(f"  {name}" + (f" <- {', '.join(parents)}" if parents else ""))
    return "\n".join(lines) + "\n"


def _mermaid_id(name: str) -> str:
    return "s_" + "".join(c if c.isalnum() else "_" for c in name)


def graph_mermaid(workflow: Workflow) -> str:
    lines = ["flowchart LR", f"  %% workflow {workflow.name}"]
    for name, parents in _edges(workflow):
        lines.append(f'  {_mermaid_id(name)}["{name}"]')
        lines += [f"  {_mermaid_id(p)} --> {_mermaid_id(name)}" for p in parents]
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph_dot(workflow: Workflow) -> str:
    lines = [f"digraph {_dot_quote(str(workflow.name))} {{", "  rankdir=LR;", "  node [shape=box];"]
    for name, parents in _edges(workflow):
        lines.append(f"  {_dot_quote(name)};")
        lines += [f"  {_dot_quote(p)} -> {_dot_quote(name)};" for p in parents]
    lines.append("}")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": graph_text, "mermaid": graph_mermaid, "dot": graph_dot}


def graph(session: Session, fmt: str, streams: Streams) -> int:
    workflows = session.build.workflows
    if session.options.targets:
        chosen = {id(s.workflow) for s in session.selections()}
        workflows = [wf for wf in workflows if id(wf) in chosen]
    streams.out.write("\n".join(RENDERERS[fmt](wf) for wf in workflows))
    return 0
