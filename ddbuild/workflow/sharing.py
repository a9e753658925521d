"""Workflow push/pull: which entries a target's closure needs, moved between local and remote."""

from __future__ import annotations

from collections.abc import Sequence

from ddbuild.errors import ArtifactError
from ddbuild.planning.plan import StageDecision, Status
from ddbuild.store.base import Store, no_remote
from ddbuild.store.closure import ClosureCounts


def layered_store(store: Store) -> Store:
    """The store if it has a remote behind it; else a StoreError saying how to configure one."""
    if store.remote_location is None:
        raise no_remote(store.location)
    return store


def push(store: Store, decisions: Sequence[StageDecision]) -> ClosureCounts:
    """Upload every locally built entry of the closure; unbuilt stages are an ArtifactError."""
    unbuilt = [d.name for d in decisions if d.status in (Status.RUN, Status.RESUME, Status.PENDING, Status.ERROR)]
    if unbuilt:
        raise ArtifactError(f"Cannot push: not built: {', '.join(unbuilt)}.",
                            hint="Build them first: `ddbuild TARGET` (or workflow.run(targets=...) from Python).")
    hits = [d for d in decisions if d.status == Status.HIT and d.key]
    counts = store.push_closure([d.key for d in hits if d.key and d.origin == "local"])
    counts.entries_present += sum(1 for d in hits if d.origin == "remote")  # already there
    return counts


def pull(store: Store, decisions: Sequence[StageDecision]) -> ClosureCounts:
    """Download the remote hits of the closure; stages the remote lacks are listed as missing."""
    hits = [d for d in decisions if d.status == Status.HIT and d.key]
    counts = store.pull_closure([d.key for d in hits if d.key and d.origin == "remote"])
    counts.entries_present += sum(1 for d in hits if d.origin == "local")
    counts.missing_entries += [d.key for d in decisions if d.status in (Status.RUN, Status.RESUME) and d.key]
    return counts
