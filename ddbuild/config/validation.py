"""The column graph of a config: which columns each reads, generation order, and config errors.

Pure: takes a built config and (when known) the seed's column names, returns the order in which
columns are generated or raises a ConfigError that names the column and suggests a valid name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ddbuild.config.columns import (
    ColumnConfig,
    CustomColumnConfig,
    EmbeddingColumnConfig,
    ExpressionColumnConfig,
    SamplerColumnConfig,
    SeedDatasetColumnConfig,
    ValidationColumnConfig,
    is_llm_column,
    produced_columns,
)
from ddbuild.config.processors import (
    DropColumnsProcessorConfig,
    ProcessorConfig,
    SchemaTransformProcessorConfig,
)
from ddbuild.config.samplers import SamplerType
from ddbuild.errors import ColumnReferenceError, ConfigError, did_you_mean
from ddbuild.templating import check_template


class ConfigParts(Protocol):
    """What ``validate_config`` reads: a built config, or a workflow stage's columns and processors."""

    @property
    def columns(self) -> Sequence[ColumnConfig]: ...

    @property
    def processors(self) -> Sequence[ProcessorConfig]: ...


def column_references(column: Any) -> set[str]:
    """Names a column reads (template variables, declared inputs, sampler parents, and the
    columns its ``skip.when`` reads: they are generated before it)."""
    refs = _own_references(column)
    skip = getattr(column, "skip", None)
    if skip is not None:
        refs = refs | check_template(skip.when, f"Column '{column.name}' skip.when")
    return refs


def _own_references(column: Any) -> set[str]:
    where = f"Column '{column.name}'"
    if isinstance(column, EmbeddingColumnConfig):
        return {column.target_column}
    if isinstance(column, ValidationColumnConfig):
        return set(column.target_columns)
    if isinstance(column, ExpressionColumnConfig):
        return check_template(column.expr, where)
    if is_llm_column(column):
        refs = check_template(column.prompt, f"{where} prompt")
        if column.system_prompt:
            refs |= check_template(column.system_prompt, f"{where} system_prompt")
        for context in column.multi_modal_context or []:
            name = getattr(context, "column_name", None)
            if isinstance(name, str):
                refs.add(name)
        return refs
    if isinstance(column, CustomColumnConfig):
        return set(column.required_columns)
    if isinstance(column, SamplerColumnConfig):
        refs = set()
        for params in (column.params, *column.conditional_params.values()):
            if column.sampler_type == SamplerType.SUBCATEGORY:
                refs.add(params.category)
            if column.sampler_type == SamplerType.TIMEDELTA:
                refs.add(params.reference_column_name)
        for condition in column.conditional_params:
            refs |= check_template(condition_template(condition), f"{where} conditional_params condition {condition!r}")
        return refs
    return set()


def condition_template(condition: str) -> str:
    """A ``conditional_params`` condition as the template whose rendering is ``True`` on the rows
    that meet it (Data Designer's rule)."""
    return "{{ " + condition + " }}"


def constraint_references(constraints: Sequence[Any] | None) -> dict[str, set[str]]:
    """Target column -> the columns its ColumnInequalityConstraints compare it with (drawn first)."""
    found: dict[str, set[str]] = {}
    for constraint in constraints or ():
        rhs = getattr(constraint, "rhs", None)
        if isinstance(rhs, str):
            found.setdefault(constraint.target_column, set()).add(rhs)
    return found


def template_strings(value: Any) -> Iterable[str]:
    """Every string inside a (nested) schema-transform template."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from template_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from template_strings(item)


def processor_references(processor: ProcessorConfig) -> set[str]:
    if isinstance(processor, SchemaTransformProcessorConfig):
        refs: set[str] = set()
        for text in template_strings(processor.template):
            refs |= check_template(text, f"Processor '{processor.name}' template")
        return refs
    return set()


def generation_order(columns: Sequence[ColumnConfig], constraints: Sequence[Any] | None = None) -> list[str]:
    """Configured columns in an order where each comes after the columns it reads (and after the
    columns its constraints compare it with).

    Stable: among columns whose inputs are ready, the configured order is kept. A cycle is a
    ConfigError naming the columns on it.
    """
    names = [c.name for c in columns]
    deps = column_dependencies(columns, constraints)
    order: list[str] = []
    done: set[str] = set()
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining if deps[n] <= done]
        if not ready:
            cycle = " -> ".join(_find_cycle(remaining, deps))
            raise ConfigError(f"Columns form a cycle: {cycle}.", hint="Break the cycle by removing one reference.")
        for name in ready:
            order.append(name)
            done.add(name)
        remaining = [n for n in remaining if n not in done]
    return order


def column_dependencies(columns: Sequence[Any], constraints: Sequence[Any] | None = None) -> dict[str, set[str]]:
    """Column -> the configured columns it must come after (references and constraints; a reference
    to a side column such as ``answer__trace`` is one to the LLM column that writes it)."""
    producer = {out: c.name for c in columns for out in produced_columns(c)}
    by_constraint = constraint_references(constraints)
    return {c.name: {producer[r] for r in column_references(c) | by_constraint.get(c.name, set()) if r in producer}
            for c in columns}


def check_constraints(constraints: Sequence[Any] | None, columns: Sequence[Any], seed_columns: Sequence[str]) -> None:
    """Constraints hold sampler columns: the target is one, a column right-hand side is a sampler or
    seed column (it is drawn, or read, before the target)."""
    samplers = {c.name for c in columns if isinstance(c, SamplerColumnConfig)}
    known = samplers | set(seed_columns)
    for constraint in constraints or ():
        what = f"{type(constraint).__name__} on '{constraint.target_column}'"
        if constraint.target_column not in samplers:
            others = {c.name for c in columns}
            kind = "is not a sampler column" if constraint.target_column in others | set(seed_columns) else "does not exist"
            raise ConfigError(
                f"{what}: target column '{constraint.target_column}' {kind}."
                f"{did_you_mean(constraint.target_column, samplers)}",
                hint="Constraints apply to sampler columns (rejection sampling); "
                f"sampler columns: {', '.join(sorted(samplers)) or '(none)'}.",
            )
        rhs = getattr(constraint, "rhs", None)
        if isinstance(rhs, str) and rhs not in known:
            raise ConfigError(
                f"{what}: rhs column '{rhs}' is not a sampler or seed column.{did_you_mean(rhs, known)}",
                hint="Compare with a sampler column or a seed column, or use ScalarInequalityConstraint.",
            )


def _find_cycle(names: list[str], deps: dict[str, set[str]]) -> list[str]:
    start = names[0]
    path = [start]
    seen = {start}
    current = start
    while True:
        nxt = sorted(d for d in deps[current] if d in names)[0]
        if nxt in seen:
            return path[path.index(nxt):] + [nxt]
        path.append(nxt)
        seen.add(nxt)
        current = nxt


def dropped_by_processors(processors: Sequence[ProcessorConfig], all_columns: Sequence[str]) -> set[str]:
    dropped: set[str] = set()
    for processor in processors:
        if isinstance(processor, DropColumnsProcessorConfig):
            for pattern in processor.column_names:
                dropped |= set(fnmatch.filter(all_columns, pattern))
    return dropped


def validate_config(config: ConfigParts, seed_columns: Sequence[str] | None) -> list[str]:
    """Check a config; return the generation order. ``seed_columns=None``: seed not known yet."""
    columns = [c for c in config.columns if not isinstance(c, SeedDatasetColumnConfig)]
    configured = [c.name for c in columns]
    seen: set[str] = set()
    for name in configured:
        if name in seen:
            raise ConfigError(f"Column '{name}' is configured twice.")
        seen.add(name)
    for column in columns:
        for side in produced_columns(column)[1:]:
            if side in seen:
                raise ConfigError(
                    f"Column '{side}' is configured, and column '{column.name}' writes a column of that name "
                    "(with_trace / extract_reasoning_content).",
                    hint=f"Rename the configured column '{side}'.")
    configured += [side for c in columns for side in produced_columns(c)[1:]]
    if seed_columns is not None:
        for name in configured:
            if name in seed_columns:
                raise ConfigError(
                    f"Column '{name}' collides with a seed dataset column of the same name.",
                    hint="Rename the configured column, or drop it and use the seed column.",
                )
    for column in columns:
        if getattr(column, "skip", None) is not None and isinstance(column, SamplerColumnConfig):
            raise ConfigError(
                f"Column '{column.name}' is a sampler column and sets skip; Data Designer skips "
                "generated columns only (not sampler or seed columns).",
                hint="Remove skip from the sampler, or put the condition on the columns that use it.",
            )
    constraints = getattr(config, "constraints", None)
    if seed_columns is not None:
        check_constraints(constraints, columns, seed_columns)
    order = generation_order(columns, constraints)
    known = set(configured) | set(seed_columns or [])
    if seed_columns is not None:
        for column in columns:
            _check_known(f"Column '{column.name}'", column_references(column), known)
        for processor in config.processors:
            _check_known(f"Processor '{processor.name}'", processor_references(processor), known)
    else:
        for processor in config.processors:
            processor_references(processor)  # still parse and sandbox-check every template
    if seed_columns is not None:
        _check_drops(config, columns, list(seed_columns))
    return order


def _check_known(where: str, refs: set[str], known: set[str]) -> None:
    for ref in sorted(refs - known):
        raise ColumnReferenceError(
            f"{where} references unknown column '{ref}'.{did_you_mean(ref, known)}",
            hint=f"Known columns: {', '.join(sorted(known)) or '(none)'}.",
        )


def _check_drops(config: ConfigParts, columns: list[Any], seed_columns: list[str]) -> None:
    all_columns = seed_columns + [n for c in columns for n in produced_columns(c)]
    for processor in config.processors:
        if not isinstance(processor, DropColumnsProcessorConfig):
            continue
        for pattern in processor.column_names:
            if not fnmatch.filter(all_columns, pattern):
                raise ColumnReferenceError(
                    f"Processor '{processor.name}' drops column '{pattern}', which does not exist."
                    f"{did_you_mean(pattern, all_columns)}"
                )
    dropped = {c.name for c in columns if c.drop} | dropped_by_processors(config.processors, all_columns)
    has_side_output = any(isinstance(p, SchemaTransformProcessorConfig) for p in config.processors)
    if all_columns and set(all_columns) <= dropped and not has_side_output:
        raise ConfigError(
            "Every column is dropped, so the dataset would have no columns: "
            f"{_drop_sources(config, columns, all_columns)}.",
            hint="Keep at least one column (remove drop=True or a drop processor entry).",
        )


def _drop_sources(config: Any, columns: list[Any], all_columns: list[str]) -> str:
    """'a (drop=True), b (processor 'p')': each column and what drops it, in column order."""
    by: dict[str, str] = {c.name: "drop=True" for c in columns if c.drop}
    for processor in config.processors:
        if isinstance(processor, DropColumnsProcessorConfig):
            for name in dropped_by_processors([processor], all_columns):
                by.setdefault(name, f"processor '{processor.name}'")
    return ", ".join(f"'{name}' ({by[name]})" for name in all_columns)
