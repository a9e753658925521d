"""``ddbuild cache ls|du|verify|gc|push|pull``: inspect, check, prune and share the cache."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from ddbuild.cli.options import InheritingCommand, InheritingGroup, Options, global_options
from ddbuild.errors import UsageError


@dataclass
class EntryInfo:
    key: str
    workflow: str
    stage: str
    created: datetime
    size: int
    rows: int | None
    blobs: list[str]

    def age_days(self, now: datetime) -> float:
        return (now - self.created).total_seconds() / 86400


def _local_store(store: Any) -> Any:
    return getattr(store, "local", store)


def _parse_created(text: str) -> datetime:
    created = datetime.fromisoformat(text)
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def read_entries(store: Any) -> list[EntryInfo]:
    """Every readable entry of the store (unreadable ones are skipped and reported by the store)."""
    out = []
    for key in store.list_entries():
        entry = store.get_entry(key)
        if entry is None:
            continue
        sizes = {o["digest"]: o.get("size", 0) for o in entry["outputs"]}
        out.append(
            EntryInfo(
                key=key,
                workflow=entry["workflow"],
                stage=entry["stage"],
                created=_parse_created(entry["created"]),
                size=sum(sizes.values()),
                rows=entry["selected_output"].get("rows"),
                blobs=list(sizes),
            )
        )
    return sorted(out, key=lambda e: (e.workflow, e.stage, -e.created.timestamp()))


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_age(days: float) -> str:
    seconds = days * 86400
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m"
    if days < 2:
        return f"{int(seconds // 3600)}h"
    return f"{int(days)}d"


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- reachability ------------------------------------------------------------------------------


def reachable_keys(session: Any) -> set[str]:
    """Keys the build file's workflows use now (hits and partial checkpoints of every stage)."""
    from ddbuild.cli.session import bind

    bind(session)
    keys: set[str] = set()
    for workflow in session.build.workflows:
        names = workflow.stage_names
        if not names:
            continue
        plan = workflow.plan(targets=names)
        keys.update(d.key for d in plan.stages if d.key)
    return keys


# -- click plumbing ------------------------------------------------------------------------------


def _session(ctx: click.Context) -> Any:
    from ddbuild.cli.session import open_session

    return open_session(Options.from_params(ctx.params))


@click.group("cache", cls=InheritingGroup)
@global_options
def cache_group(**_: Any) -> None:
    """Inspect, verify, prune and share the cache."""


@cache_group.command("ls", cls=InheritingCommand)
@global_options
@click.pass_context
def cache_ls(ctx: click.Context, **_: Any) -> None:
    """Entries by workflow and stage: key, rows, size, age."""
    session = _session(ctx)
    from ddbuild.cli.session import open_cache

    entries = read_entries(_local_store(open_cache(session)))
    now = _now()
    if session.options.json_output:
        for e in entries:
            click.echo(
                json.dumps(
                    {
                        "workflow": e.workflow,
                        "stage": e.stage,
                        "key": e.key,
                        "rows": e.rows,
                        "size": e.size,
                        "created": e.created.isoformat(),
                    }
                )
            )
        return
    if not entries:
        click.echo(f"cache {session.cache_location()}: no entries")
        return
    current = None
    for e in entries:
        if (e.workflow, e.stage) != current:
            current = (e.workflow, e.stage)
            click.echo(f"{e.workflow}:{e.stage}")
        rows = "-" if e.rows is None else f"{e.rows:,}"
        click.echo(
            f"  {e.key[:8]}  {rows:>8} rows  {human_size(e.size):>10}  {human_age(e.age_days(now)):>5} ago"
        )


def disk_usage(root: Path) -> dict[str, tuple[int, int]]:
    """Top-level cache folder -> (files, bytes)."""
    usage: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return usage
    for child in sorted(root.iterdir()):
        files = size = 0
        for dirpath, _, names in os.walk(child):
            for name in names:
                try:
                    size += os.stat(os.path.join(dirpath, name)).st_size
                    files += 1
                except OSError:
                    pass
        usage[child.name] = (files, size)
    return usage


@cache_group.command("du", cls=InheritingCommand)
@global_options
@click.pass_context
def cache_du(ctx: click.Context, **_: Any) -> None:
    """Disk usage of the local cache by kind (blobs, entries, LLM responses, checkpoints)."""
    session = _session(ctx)
    location = session.cache_location()
    if "://" in location:
        raise UsageError("cache du needs a local cache directory.")
    usage = disk_usage(Path(location))
    labels = {"objects": "blobs", "actions": "entries", "llm": "LLM responses", "partial": "checkpoints"}
    total = sum(size for _, size in usage.values())
    if session.options.json_output:
        click.echo(
            json.dumps(
                {
                    "location": location,
                    "total": total,
                    "kinds": {k: {"files": f, "bytes": b} for k, (f, b) in usage.items()},
                }
            )
        )
        return
    click.echo(f"cache {location}")
    for name, (files, size) in usage.items():
        click.echo(f"  {labels.get(name, name):<14} {files:>7,} files  {human_size(size):>10}")
    click.echo(f"  {'total':<14} {'':>13}  {human_size(total):>10}")


@cache_group.command("verify", cls=InheritingCommand)
@global_options
@click.pass_context
def cache_verify(ctx: click.Context, **_: Any) -> None:
    """Rehash every blob; quarantine corrupt ones (exit 1 if any were found)."""
    from ddbuild.cli.session import open_cache
    from ddbuild.store import BlobState

    session = _session(ctx)
    store = _local_store(open_cache(session))
    checked = 0
    corrupt: list[str] = []
    for digest in list(store.list_blobs()):
        checked += 1
        if store.check_blob(digest) is BlobState.CORRUPT:
            corrupt.append(digest)
            store.quarantine(digest, "content does not match its digest (ddbuild cache verify)")
    entries = read_entries(store)
    broken = [e for e in entries if any(not store.has_blob(d) for d in e.blobs)]
    quiet = session.options.silent
    if not quiet:
        click.echo(f"checked {checked:,} blobs and {len(entries):,} entries in {store.location}")
        for digest in corrupt:
            click.echo(f"  corrupt blob {digest} (moved to quarantine/)")
        for e in broken:
            click.echo(
                f"  entry {e.key[:8]} ({e.workflow}:{e.stage}) lacks a blob; that stage rebuilds next time"
            )
        click.echo("ok" if not corrupt else f"{len(corrupt)} corrupt blob(s) quarantined")
    ctx.exit(1 if corrupt else 0)


def select_garbage(
    entries: Iterable[EntryInfo],
    keep: set[str],
    *,
    keep_last: int | None,
    older_than: float | None,
    now: datetime,
) -> list[EntryInfo]:
    """Entries to delete: never one in ``keep``; beyond the newest ``keep_last`` of their stage
    and/or older than ``older_than`` days (both conditions when both are given)."""
    if keep_last is None and older_than is None:
        return []
    doomed: list[EntryInfo] = []
    seen: dict[tuple[str, str], int] = {}
    for e in sorted(entries, key=lambda e: (e.workflow, e.stage, -e.created.timestamp())):
        group = (e.workflow, e.stage)
        rank = seen.get(group, 0)
        seen[group] = rank + 1
        if e.key in keep:
            continue
        beyond = keep_last is None or rank >= keep_last
        old = older_than is None or e.age_days(now) > older_than
        if beyond and old:
            doomed.append(e)
    return doomed


@cache_group.command("gc", cls=InheritingCommand)
@global_options
@click.option(
    "--keep-last", type=click.IntRange(min=0), metavar="N", help="Keep the N newest entries of each stage."
)
@click.option(
    "--older-than", type=click.FloatRange(min=0), metavar="DAYS", help="Only delete entries older than DAYS."
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.pass_context
def cache_gc(
    ctx: click.Context, keep_last: int | None, older_than: float | None, dry_run: bool, **_: Any
) -> None:
    """Delete old entries and unreferenced blobs; never what the build file's targets use now."""
    from ddbuild.cli.session import open_cache

    session = _session(ctx)
    store = _local_store(open_cache(session))
    keep = reachable_keys(session)
    entries = read_entries(store)
    doomed = select_garbage(entries, keep, keep_last=keep_last, older_than=older_than, now=_now())
    doomed_keys = {e.key for e in doomed}
    live_blobs = {d for e in entries if e.key not in doomed_keys for d in e.blobs}
    orphans = [d for d in store.list_blobs() if d not in live_blobs]
    freed = sum(e.size for e in doomed)
    verb = "would delete" if dry_run else "deleted"
    for e in doomed:
        if not dry_run:
            store.delete_entry(e.key)
        if not session.options.silent:
            click.echo(f"{verb} {e.workflow}:{e.stage} {e.key[:8]} ({human_age(e.age_days(_now()))} old)")
    for digest in orphans:
        if not dry_run:
            store.delete_blob(digest)
    if not session.options.silent:
        click.echo(
            f"{verb} {len(doomed)} entries and {len(orphans)} unreferenced blobs (~{human_size(freed)}); "
            f"kept {len(entries) - len(doomed)} entries ({len(keep & {e.key for e in entries})} in use by {session.build.path.name})"
        )
        if keep_last is None and older_than is None:
            click.echo("only unreferenced blobs are removed without --keep-last N or --older-than DAYS")


NO_REMOTE = "no remote configured: pass --remote URL or set DDBUILD_REMOTE"


def _remote(session: Any) -> Any:
    """Bind the build file's workflows to the layered store; UsageError without a remote."""
    from ddbuild.cli.session import bind

    if not session.settings().remote:
        raise UsageError(NO_REMOTE + ".", hint="Or add remote = \"URL\" under [tool.ddbuild] in pyproject.toml.")
    bind(session)
    return session.store


def _add(total: Any, counts: Any) -> Any:
    """Sum two ClosureCounts field by field (ints add, lists concatenate)."""
    from dataclasses import fields

    for f in fields(total):
        setattr(total, f.name, getattr(total, f.name) + getattr(counts, f.name))
    return total


def _share(session: Any, direction: str) -> Any:
    """``Workflow.push``/``Workflow.pull`` over every selected workflow; counts summed."""
    from ddbuild.store.closure import ClosureCounts

    total = ClosureCounts()
    for selection in session.selections(session.options.targets):
        method = getattr(selection.workflow, direction)
        _add(total, method(selection.resolved_stages()))
    return total


def counts_json(counts: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {**asdict(counts), "complete": counts.complete}


def _report_copy(counts: Any, direction: str, session: Any) -> int:
    if session.options.json_output:
        click.echo(json.dumps({"direction": direction.split()[0], "remote": session.settings().remote,
                               **counts_json(counts)}))
    elif not session.options.silent:
        click.echo(
            f"{direction}: {counts.entries_copied} entries copied ({counts.entries_present} already there), "
            f"{counts.blobs_copied} blobs ({human_size(counts.bytes_copied)}; {counts.blobs_present} already there), "
            f"{counts.responses_copied} LLM responses"
        )
    if counts.complete:
        return 0
    parts = [
        (counts.missing_entries, "entries missing from the source"),
        (counts.rejected_entries, "entries rejected (unsigned or wrongly signed)"),
        (counts.missing_blobs, "blobs missing"),
        (counts.corrupt_blobs, "blobs corrupt"),
    ]
    detail = "; ".join(f"{len(items)} {what} ({', '.join(i[:8] for i in items)})" for items, what in parts if items)
    click.echo(f"incomplete: {detail}", err=True)
    return 1


@cache_group.command("push", cls=InheritingCommand)
@global_options
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.pass_context
def cache_push(ctx: click.Context, **_: Any) -> None:
    """Upload the targets' closures (entries, blobs, LLM responses) to --remote."""
    session = _session(ctx)
    _remote(session)
    counts = _share(session, "push")
    ctx.exit(_report_copy(counts, f"pushed to {session.settings().remote}", session))


@cache_group.command("pull", cls=InheritingCommand)
@global_options
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.pass_context
def cache_pull(ctx: click.Context, **_: Any) -> None:
    """Download the targets' closures from --remote into the local cache."""
    session = _session(ctx)
    _remote(session)
    counts = _share(session, "pull")
    code = _report_copy(counts, f"pulled from {session.settings().remote}", session)
    if counts.missing_entries and not session.options.silent:
        click.echo("the remote lacks some stages of the closure; a build would run them", err=True)
    ctx.exit(code)
