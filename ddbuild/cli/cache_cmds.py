"""``ddbuild cache ls|du|verify|gc|push|pull``: inspect, check, prune and share the cache."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ddbuild.cli.options import InheritingCommand, InheritingGroup, Options, global_options
from ddbuild.errors import UsageError

if TYPE_CHECKING:
    from ddbuild.cli.session import Session
    from ddbuild.store.base import Store
    from ddbuild.store.closure import ClosureCounts
    from ddbuild.store.gc import Collected, EntryInfo, Policy


def read_entries(store: Store) -> list[EntryInfo]:
    """Every readable entry of the store as ``store.gc.EntryInfo`` (newest first per stage)."""
    from ddbuild.store.gc import read_entries as read

    return read(store)


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


def reachable_keys(session: Session) -> set[str]:
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
    from ddbuild.cli import warnroute
    from ddbuild.cli.session import open_session

    options = Options.from_params(ctx.params)
    warnroute.for_command(ctx, silent=options.silent)
    return open_session(options)


@click.group("cache", cls=InheritingGroup)
@global_options
def cache_group(**_: object) -> None:
    """Inspect, verify, prune and share the cache."""


@cache_group.command("ls", cls=InheritingCommand)
@global_options
@click.pass_context
def cache_ls(ctx: click.Context, **_: object) -> None:
    """Entries by workflow and stage: key, rows, size, age."""
    session = _session(ctx)
    from ddbuild.cli.session import open_cache

    entries = read_entries(open_cache(session).local_store())
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
def cache_du(ctx: click.Context, **_: object) -> None:
    """Disk usage of the local cache by kind (blobs, entries, LLM responses, checkpoints)."""
    session = _session(ctx)
    location = session.cache_location()
    if "://" in location:
        raise UsageError("cache du needs a local cache directory.")
    usage = disk_usage(Path(location))
    from ddbuild.store.layout import LABELS
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
        click.echo(f"  {LABELS.get(name, name):<14} {files:>7,} files  {human_size(size):>10}")
    click.echo(f"  {'total':<14} {'':>13}  {human_size(total):>10}")


@cache_group.command("verify", cls=InheritingCommand)
@global_options
@click.pass_context
def cache_verify(ctx: click.Context, **_: object) -> None:
    """Rehash every blob (quarantine corrupt ones); check entries' blobs, inputs and LLM responses.

    Exit 1 when anything was found."""
    from ddbuild.cli.session import open_cache
    from ddbuild.store.audit import audit

    session = _session(ctx)
    store = open_cache(session).local_store()
    found = audit(store)
    if not session.options.silent:
        click.echo(f"checked {found.blobs_checked:,} blobs, {found.entries_checked:,} entries and "
                   f"{found.responses_checked:,} LLM responses in {store.location}")
        for finding in found.findings:
            click.echo(f"  {finding.message}")
        click.echo("ok" if not found.findings else f"{len(found.findings)} problem(s) found")
    ctx.exit(1 if found.findings else 0)


def parse_prune(text: str) -> float:
    """``--prune`` as seconds: ``now`` (0), ``never`` (inf) or a number with s, m, h, d or w."""
    import math

    value = text.strip().lower()
    if value in ("now", "never"):
        return 0.0 if value == "now" else math.inf
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    number, unit = value[:-1], value[-1:]
    try:
        if unit in units and float(number) >= 0:
            return float(number) * units[unit]
    except ValueError:
        pass
    raise click.BadParameter(f"{text!r} is not a duration: use now, never, or a number with s, m, h, d or w "
                             "(e.g. 30m, 2h, 14d).", param_hint="'--prune'")


@cache_group.command("gc", cls=InheritingCommand)
@global_options
@click.option(
    "--keep-last", type=click.IntRange(min=0), metavar="N", help="Keep the N newest entries of each stage."
)
@click.option(
    "--older-than", type=click.FloatRange(min=0), metavar="DAYS", help="Only delete entries older than DAYS."
)
@click.option(
    "--prune", "prune", default="2h", show_default=True, metavar="AGE",
    help="Only delete unreferenced blobs, temp files and abandoned checkpoints older than AGE "
         "(now, never, or e.g. 30m, 2h, 14d). What a running build holds is never deleted.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.pass_context
def cache_gc(
    ctx: click.Context, keep_last: int | None, older_than: float | None, prune: str, dry_run: bool, **_: object
) -> None:
    """Delete old entries and unreferenced blobs; never what the build file's targets use now,
    nor what a running build holds."""
    from ddbuild.cli.session import open_cache
    from ddbuild.store.gc import Policy, collect_garbage

    grace = parse_prune(prune)
    session = _session(ctx)
    store = open_cache(session).local_store()  # the local cache: a remote is never collected
    location = session.cache_location()
    keep = reachable_keys(session)
    policy = Policy(frozenset(keep), keep_last, older_than, grace, dry_run)
    done = collect_garbage(store, Path(location), policy, _now())
    if session.options.json_output:
        click.echo(json.dumps(gc_json(done, policy)))
    elif not session.options.silent:
        for line in gc_lines(done, policy, session.build.path.name):
            click.echo(line)


def gc_json(done: Collected, policy: Policy) -> dict[str, Any]:
    return {
        "dry_run": policy.dry_run, "grace_seconds": None if policy.grace_s == float("inf") else policy.grace_s,
        "entries": [e.key for e in done.entries], "kept_entries": done.kept_entries,
        "pinned_entries": done.pinned_entries, "blobs": done.blobs, "blob_bytes": done.blob_bytes,
        "young_blobs": done.young_blobs, "pinned_blobs": done.pinned_blobs, "live_builds": done.live_pins,
        "dead_pins": done.dead_pins, "temp_files": [str(p) for p in done.temp_files],
        "partials": done.partials, "busy_partials": done.busy_partials, "young_partials": done.young_partials,
        "locks": done.locks,
    }


def gc_lines(done: Collected, policy: Policy, build_file: str) -> list[str]:
    """What ``cache gc`` tells people: what went, what stayed and why."""
    verb = "would delete" if policy.dry_run else "deleted"
    now = _now()
    lines = [f"{verb} {e.workflow}:{e.stage} {e.key[:8]} ({human_age(e.age_days(now))} old)" for e in done.entries]
    freed = sum(e.size for e in done.entries)
    lines.append(
        f"{verb} {len(done.entries)} entries and {len(done.blobs)} unreferenced blobs (~{human_size(freed)}); "
        f"kept {done.kept_entries} entries ({done.kept_in_use} in use by {build_file})"
    )
    extra = []
    if done.temp_files:
        extra.append(f"{len(done.temp_files)} stale temp files")
    if done.partials:
        extra.append(f"{len(done.partials)} abandoned checkpoint folders")
    if done.locks:
        extra.append(f"{done.locks} unused lock files")
    if extra:
        lines.append(f"{verb} {', '.join(extra[:-1])}{' and ' if len(extra) > 1 else ''}{extra[-1]}")
    if done.live_pins or done.pinned_entries or done.pinned_blobs or done.busy_partials:
        lines.append(
            f"kept what {done.live_pins} running build(s) hold: {done.pinned_entries} entries, "
            f"{done.pinned_blobs} blobs, {done.busy_partials} checkpoint folders"
        )
    young = done.young_blobs + done.young_partials
    if young:
        lines.append(
            f"kept {done.young_blobs} unreferenced blobs and {done.young_partials} checkpoint folders "
            f"younger than {prune_text(policy.grace_s)} (--prune=now to delete them)"
        )
    if policy.keep_last is None and policy.older_than_days is None:
        lines.append("only unreferenced blobs are removed without --keep-last N or --older-than DAYS")
    return lines


def prune_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


NO_REMOTE = "no remote configured: pass --remote URL or set DDBUILD_REMOTE"


def _remote(session: Session) -> Store:
    """Bind the build file's workflows to the layered store; UsageError without a remote."""
    from ddbuild.cli.session import bind

    if not session.settings().remote:
        raise UsageError(NO_REMOTE + ".", hint="Or add remote = \"URL\" under [tool.ddbuild] in pyproject.toml.")
    bind(session)
    return session.cache()


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


def counts_json(counts: ClosureCounts) -> dict[str, Any]:
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
def cache_push(ctx: click.Context, **_: object) -> None:
    """Upload the targets' closures (entries, blobs, LLM responses) to --remote."""
    session = _session(ctx)
    _remote(session)
    counts = _share(session, "push")
    ctx.exit(_report_copy(counts, f"pushed to {session.settings().remote}", session))


@cache_group.command("pull", cls=InheritingCommand)
@global_options
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.pass_context
def cache_pull(ctx: click.Context, **_: object) -> None:
    """Download the targets' closures from --remote into the local cache."""
    session = _session(ctx)
    _remote(session)
    counts = _share(session, "pull")
    code = _report_copy(counts, f"pulled from {session.settings().remote}", session)
    if counts.missing_entries and not session.options.silent:
        click.echo("the remote lacks some stages of the closure; a build would run them", err=True)
    ctx.exit(code)
