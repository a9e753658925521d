"""Column schemas across stages: which columns each stage's selected output holds, and reading them.

The propagation is pure; ``read_schema_facts`` at the end reads only column names (parquet footers, a
DataFrame's index) of root seeds, overrides and cached outputs.

A stage's config can only be checked against the columns of its seed, and a child's seed is its
parent's selected output. So the schema is propagated in topological order, and every stage
whose seed columns are known is checked with the same ``validate_config`` the engine runs:

    root seed columns (files, DataFrame; [] without a seed)      read once, outside: SchemaFacts
      └─► stage output = seed + configured − dropped             drop=True, drop_columns processors
            └─► output_processors: main − their drops            (they run on the main output)
                  └─► output="processor:<n>"                     the template's top-level keys
    several parents: Concat → union; JoinOn → keys + other columns (clashes get ``_<parent>``)

``None`` means "unknown until the stage runs" (on_success callbacks, join callables, an invalid
parent) and switches the check off for the children: an unknown schema never yields an error.
When derivation says unknown but the stage is a HIT, the caller may supply the columns read from
its cached output's parquet footer (``SchemaFacts.observed``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.config.columns import SeedDatasetColumnConfig, produced_columns
from ddbuild.config.processors import DropColumnsProcessorConfig, SchemaTransformProcessorConfig
from ddbuild.config.support import check_builder_supported
from ddbuild.config.validation import validate_config
from ddbuild.errors import ConfigError, DDBuildError, NotSupportedError, TemplateError
from ddbuild.planning.graph import Graph
from ddbuild.planning.inputs import InputDigests
from ddbuild.planning.joins import Concat, JoinOn
from ddbuild.planning.plan import Plan, Status
from ddbuild.planning.stage import Stage

if TYPE_CHECKING:
    from ddbuild.planning.storeview import StoreView
    from ddbuild.store.base import Store

Columns = tuple[str, ...] | None  # None: unknown until the stage runs


@dataclass(frozen=True)
class SchemaFacts:
    """Column names that had to be read from disk (gathered by the caller)."""

    roots: dict[str, Columns] = field(default_factory=dict)  # root stage -> its own seed's columns
    overrides: dict[str, Columns] = field(default_factory=dict)  # overridden stage -> override columns
    observed: dict[str, Columns] = field(default_factory=dict)  # HIT stage -> its cached output's columns


@dataclass(frozen=True)
class SchemaCheck:
    outputs: dict[str, Columns]  # stage -> columns of its selected output (None: unknown)
    errors: dict[str, DDBuildError]  # stage -> why its config cannot run on its seed (names the stage)

    def messages(self) -> dict[str, str]:
        return {name: error.message for name, error in self.errors.items()}


@dataclass(frozen=True)
class _Config:
    """The part of a config validate_config reads (a stage builder has no seed of its own)."""

    columns: list[Any]
    processors: list[Any]


def check_schemas(graph: Graph, closure: Sequence[str], facts: SchemaFacts) -> SchemaCheck:
    """Derive every stage's output columns in topological order; check each stage whose seed is known."""
    outputs: dict[str, Columns] = {}
    errors: dict[str, DDBuildError] = {}
    for name in closure:
        stage = graph[name]
        if name in facts.overrides:  # not run at all: its override is its output
            outputs[name] = facts.overrides[name]
            continue
        try:
            check_builder_supported(stage.builder)  # whatever its seed: a Data Designer feature not run
        except NotSupportedError as exc:
            errors[name] = _naming_stage(name, exc)
            outputs[name] = None
            continue
        seed = seed_columns(stage, outputs, facts)
        derived: Columns = None
        if seed is not None:
            try:
                derived = stage_output(stage, seed)
            except (ConfigError, TemplateError) as exc:
                errors[name] = _naming_stage(name, exc)
                outputs[name] = None  # no cascade of errors below an invalid stage
                continue
        outputs[name] = derived if derived is not None else facts.observed.get(name)
    return SchemaCheck(outputs, errors)


def seed_columns(stage: Stage, outputs: dict[str, Columns], facts: SchemaFacts) -> Columns:
    """The columns ``stage`` will be seeded with: its own seed (a root) or its parents' outputs."""
    if not stage.depends_on:
        return facts.roots.get(stage.name)
    parents = [cols for p in stage.depends_on if (cols := outputs.get(p)) is not None]
    if len(parents) < len(stage.depends_on):
        return None  # a parent's columns are unknown until it runs
    if len(parents) == 1:
        return parents[0]
    known = dict(zip(stage.depends_on, parents, strict=True))
    if isinstance(stage.join, Concat):
        return tuple(dict.fromkeys(c for cols in parents for c in cols))
    if isinstance(stage.join, JoinOn):
        return join_on_columns(stage.join, known)
    return None  # a join callable: whatever it returns


def join_on_columns(join: JoinOn, parents: dict[str, tuple[str, ...]]) -> Columns:
    """joins._join_on's columns: keys once, clashing non-key columns renamed ``<col>_<parent>``."""
    if any(k not in cols for cols in parents.values() for k in join.columns):
        return None  # the join itself fails at run time, with its own message
    counts: dict[str, int] = {}
    for cols in parents.values():
        for col in cols:
            counts[col] = counts.get(col, 0) + 1
    clashing = {c for c, n in counts.items() if n > 1 and c not in join.columns}
    merged: list[str] = []
    for i, (name, cols) in enumerate(parents.items()):
        renamed = [f"{c}_{name}" if c in clashing else c for c in cols]
        merged += renamed if i == 0 else [c for c in renamed if c not in join.columns]
    if len(set(merged)) != len(merged):
        return None  # a renamed column meets an existing one: pandas would add suffixes of its own
    return tuple(merged)


def stage_output(stage: Stage, seed: tuple[str, ...]) -> Columns:
    """Validate ``stage`` on ``seed`` (raises the engine's ConfigError) and return its selected columns."""
    builder = stage.builder
    config = _Config(
        [c for c in builder.get_column_configs() if not isinstance(c, SeedDatasetColumnConfig)],
        builder.get_processor_configs(),
    )
    validate_config(config, list(seed))
    main = kept_columns(config, seed)
    selected = main
    if stage.output_processors:  # a second run seeded with the main output, processors only
        ops = _Config([], list(stage.output_processors))
        validate_config(ops, list(main))
        selected = kept_columns(ops, main)
    if stage.on_success is not None:
        return None  # the callback chooses the output
    if stage.output_processor is not None:
        return _template_keys(stage.output_processor, [*config.processors, *stage.output_processors])
    return selected


def kept_columns(config: Any, seed: tuple[str, ...]) -> tuple[str, ...]:
    """engine.processors.Processors.apply: seed + configured columns minus every drop."""
    every = [*seed, *(n for c in config.columns for n in produced_columns(c))]
    patterns = [p for d in config.processors if isinstance(d, DropColumnsProcessorConfig) for p in d.column_names]
    flagged = {c.name for c in config.columns if getattr(c, "drop", False)}
    return tuple(c for c in every if c not in flagged and not any(fnmatch.fnmatchcase(c, p) for p in patterns))


def _template_keys(name: str, processors: Sequence[Any]) -> Columns:
    for processor in processors:
        if processor.name == name and isinstance(processor, SchemaTransformProcessorConfig):
            return tuple(str(k) for k in processor.template)
    return None


def _naming_stage(stage: str, error: DDBuildError) -> DDBuildError:
    """The same error class and hint, its message prefixed with the stage it belongs to."""
    named = type(error)(f"Stage '{stage}': {error.message}", hint=error.hint)
    named.__cause__ = error
    return named


# ---- Reading the column names this module needs: root seeds, overrides, and cached outputs' footers


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


def observed_columns(plan: Plan, stages: Iterable[str], view: StoreView, store: Store) -> dict[str, Columns]:
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
