"""Writing an up-to-date stamp after an all-hit plan: gather every fact the decision depended on.

Called by the normal path (``build_cmd``) after a successful build (re-planned: a stamp is only
written when a plan of the same targets is all HIT from the local cache) and after an explain,
status or ``-q`` whose plans were all HIT. Any doubt (a remote, an in-memory seed, a store that is
not a local directory) means no stamp: the fast path then simply never applies.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.cli import stamp
from ddbuild.errors import on_full_disk

if TYPE_CHECKING:
    from ddbuild.cli.session import Session
    from ddbuild.planning.plan import Plan
    from ddbuild.store.base import Store
    from ddbuild.workflow.results import WorkflowResults


def all_local_hits(plans: list[Plan]) -> bool:
    from ddbuild.planning.plan import Status

    return bool(plans) and all(
        d.status is Status.HIT and d.origin == "local" and d.key for p in plans for d in p.stages
    )



def _ddbuild_modules() -> dict[str, Any]:
    """Every ddbuild module file by stat: planning code decides keys."""
    out: dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if (name == "ddbuild" or name.startswith("ddbuild.")) and isinstance(file, str) and os.path.isfile(file):
            real = os.path.realpath(file)
            out[real] = stamp.stat_sig(real)
    return out


def _seeds(session: Any, plans: list[Any]) -> tuple[dict[str, Any], set[str]] | None:
    """Root seed files of the planned stages by stat (with inode), and the directories a glob or
    directory seed lists; None when a seed is an in-memory frame (its content is not on disk)."""
    files: dict[str, Any] = {}
    listed: set[str] = set()
    planned = {(p.workflow, d.name) for p in plans for d in p.stages}
    for workflow in session.build.workflows:
        stages = getattr(workflow, "stages", None)
        for stage in stages if isinstance(stages, list) else workflow._stages:
            if (workflow.name, stage.name) not in planned or stage.depends_on:
                continue
            seed = stage.builder.get_seed_config()
            if seed is None:
                continue
            source = seed.source
            if getattr(source, "seed_type", None) == "df" or not hasattr(source, "files"):
                return None
            for file in source.files(session.build.directory):
                path = os.path.realpath(file)
                files[path] = stamp.stat_sig(path, inode=True)
                text = str(getattr(source, "path", ""))
                if any(ch in text for ch in "*?[") or not os.path.isfile(os.path.join(session.build.directory, text)):
                    listed.add(os.path.dirname(path))
    return files, listed


def _stage_records(store: Store, plans: list[Any]) -> list[dict[str, Any]] | None:
    """Each stage's entry and blob files by stat; None for a store without a local directory."""
    layout = store.layout
    if layout is None:
        return None
    stages = []
    for plan in plans:
        for decision in plan.stages:
            entry = store.get_entry(decision.key)
            if entry is None:
                return None
            paths = [layout.entry(decision.key)]
            paths += [store.blob_path(o["digest"]) for o in entry["outputs"]]
            stages.append({
                "workflow": plan.workflow, "name": decision.name, "status": decision.status.value,
                "key": decision.key, "origin": decision.origin,
                "rows": (entry.get("selected_output") or {}).get("rows"),
                "cache_files": {str(p): stamp.stat_sig(p) for p in paths},
            })
    return stages


def _outputs(session: Any, plans: list[Any], stages: list[dict[str, Any]]) -> dict[str, str]:
    """What each fast-path mode prints, rendered now by the same code the normal path uses."""
    from ddbuild.cli import render
    from ddbuild.planning.plan import Status

    rows = {(s["workflow"], s["name"]): s["rows"] for s in stages}
    summaries = [
        render.BuildSummary(plan.workflow, [
            render.StageOutcome(d.name, Status.HIT, d.key, rows=rows[(plan.workflow, d.name)])
            for d in plan.stages
        ])
        for plan in plans
    ]
    plan_json = render.explain_json(plans, build_file=session.build.path.name)
    return {
        "explain": render.explain_text(plans),
        "explain_verbose": render.explain_text(plans, verbose=True),
        "explain_json": plan_json,
        "status": render.status_text(plans),
        "status_json": plan_json,
        "summary": render.summary_text(summaries),
    }


def view_files(results: list[WorkflowResults]) -> dict[str, Any]:
    """Every file of the views a build materialised (size + mtime_ns), from its WorkflowResults,
    and every folder of them (its mtime changes when a file is added: the build keeps that aside)."""
    out: dict[str, Any] = {}
    for result in results:
        views = getattr(result, "views", None) or getattr(result, "_views", None) or {}
        for view in views.values():
            for root, _dirs, names in os.walk(view):
                out[root] = stamp.stat_sig(root)
                for name in names:
                    if not name.startswith("."):
                        path = os.path.join(root, name)
                        out[path] = stamp.stat_sig(path)
    return out


def build_stamp(session: Session, plans: list[Plan], views: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stamp document for these all-hit plans, or None when this build cannot have one."""
    facts = getattr(session.build, "load_facts", None)
    settings = session.settings()
    if facts is None or settings.remote or not all_local_hits(plans):
        return None
    seeds = _seeds(session, plans)
    stages = _stage_records(session.cache(), plans)
    if seeds is None or stages is None:
        return None
    build_dir = os.path.realpath(session.build.directory)
    module_files = {**_ddbuild_modules(), **facts.module_files}
    return {
        "format": stamp.FORMAT,
        "opaque": list(facts.opaque),
        "runtime": stamp.runtime(),
        "sys_path": list(facts.sys_path),
        "build_file": {"path": str(session.build.path), "digest": facts.build_file},
        "pyproject": stamp.file_digest(os.path.join(build_dir, "pyproject.toml")),
        "env": {name: stamp.env_digest(value) for name, value in sorted(facts.env.items())},
        "env_all": stamp.whole_env(os.environ) if facts.env_enumerated else None,
        "ddbuild_env": stamp.ddbuild_env(os.environ),
        "local_modules": dict(facts.local_modules),
        "module_files": module_files,
        "opened_files": dict(facts.opened),
        "probed": dict(facts.probed),
        "seed_files": seeds[0],
        "listed_dirs": {**facts.listed, **{d: stamp.listing_digest(d) for d in sorted(seeds[1])}},
        "path_listings": dict(facts.path_listings),
        "stages": stages,
        "views": views,
        "outputs": _outputs(session, plans, stages),
    }


@on_full_disk
def _write_atomic(path: Path, document: dict[str, Any]) -> None:
    from ddbuild import atomic

    # durable=False: a stamp lost to a power cut only sends the next build down the full path.
    atomic.write_json(path, document, indent=None, ensure_ascii=True, durable=False)


def record(session: Session, plans: list[Plan], *, views: dict[str, Any] | None = None) -> Path | None:
    """Write the stamp for this invocation's targets if its plans were all local hits.

    Without ``views`` (explain/status/-q), the views of a still-valid stamp with the same stage
    keys are kept, so that an explain between two builds does not cost the next build its fast path.
    """
    try:
        document = build_stamp(session, plans, views)
        if document is None:
            return None
        path = stamp.stamp_path(Path(session.settings().cache), session.build.path,
                                session.options.targets, session.cache_flag())
        if views is None:
            old = stamp.read(path)
            keys = [(s["name"], s["key"]) for s in document["stages"]]
            if old and old.get("views") and [(s["name"], s["key"]) for s in old["stages"]] == keys:
                document["views"] = old["views"]
        _write_atomic(path, document)
        return path
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a stamp is an optimisation: failing to write one never fails the command
