"""Reading the column names schema.py needs: root seeds, overrides, and cached outputs' footers.

Only schemas are read (parquet footers, a DataFrame's column index), never row data of parquet
files. Anything unreadable is "unknown" (None): the planner reports a broken seed or override on
its own, and an unknown schema never produces an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ddbuild.errors import DDBuildError
from ddbuild.workflow.graph import Graph
from ddbuild.workflow.inputs import InputDigests
from ddbuild.workflow.plan import Plan, Status
from ddbuild.workflow.schema import Columns, SchemaFacts


def read_schema_facts(graph: Graph, closure: Iterable[str], inputs: InputDigests, cwd: Path) -> SchemaFacts:
    """Columns of each root's own seed ([] without one) and of each override in the closure."""
    roots: dict[str, Columns] = {}
    overrides: dict[str, Columns] = {}
    for name in closure:
        if name in inputs.overrides:
            files = inputs.overrides[name].files
            overrides[name] = parquet_columns(files[0]) if files else None
        elif not graph[name].depends_on:
            seed = inputs.seeds.get(name)
            roots[name] = None if seed is not None and seed.error else _seed_columns(graph[name].builder, cwd)
    return SchemaFacts(roots=roots, overrides=overrides)


def _seed_columns(builder: Any, cwd: Path) -> Columns:
    from ddbuild.config.builder import seed_column_names

    try:
        names = seed_column_names(builder.get_seed_config(), cwd)
    except (DDBuildError, OSError, IndexError):  # the seed's own error is reported by the planner
        return None
    return None if names is None else tuple(names)


def parquet_columns(path: Path) -> Columns:
    """Column names from a parquet footer; None when the file is missing or unreadable."""
    try:
        import pyarrow.parquet as pq

        return tuple(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - unreadable means unknown, never an error here
        return None


def observed_columns(plan: Plan, stages: Iterable[str], view: Any, store: Any) -> dict[str, Columns]:
    """For the given stages that are HITs: the columns of their cached selected output (footer)."""
    found: dict[str, Columns] = {}
    for name in stages:
        decision = plan.stage(name)
        if decision.status != Status.HIT or decision.key is None:
            continue
        entry = view.entry(decision.key) or {}
        selected = entry.get("selected_output") or {}
        digests = {o.get("path"): o.get("digest") for o in entry.get("outputs", [])}
        paths = selected.get("paths") or []
        digest = digests.get(paths[0]) if paths else None
        if digest:
            try:
                found[name] = parquet_columns(Path(store.blob_path(digest)))
            except Exception:  # noqa: BLE001 - a remote-only store has no local blob path
                continue
    return found
