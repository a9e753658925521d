"""The column graph of one batch as steps, and running them.

Steps, in an order that respects every column's inputs::

    seed columns ─► SAMPLERS ─► ROW_SEGMENT ─► FULL_COLUMN ─► ROW_SEGMENT ...
                   (vectorised)  (one coroutine  (a barrier:    (row i's next column
                                  per row)        whole frame)   starts when row i is ready)

A row segment is a maximal run of row-wise columns (expression, llm, custom cell_by_cell). When it
holds an LLM column, each row is one coroutine that walks the segment's columns in order, so row
i's ``answer`` request starts as soon as row i's ``question`` is done. Without LLM columns the
segment runs as a plain loop (no asyncio).

Seeded rows carry their identity (``engine.rowid``): samplers draw from it and LLM requests use it
as their draw, so a row's values follow the row, not its position. Unseeded rows use their position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ddbuild.config.columns import (
    CustomColumnConfig,
    ExpressionColumnConfig,
    GenerationStrategy,
    SamplerColumnConfig,
    ValidationColumnConfig,
    is_llm_column,
    produced_columns,
)
from ddbuild.config.enums import ValidatorType
from ddbuild.config.validation import column_dependencies, column_references
from ddbuild.engine.batch import Batch
from ddbuild.engine.cells import (
    MAX_ERROR_CHARS,
    CellFailed,
    CustomCell,
    DropKind,
    ExpressionCell,
    LLMCell,
    run_full_column,
)
from ddbuild.engine.gcfreeze import frozen_heap
from ddbuild.engine.samplers import sample_column
from ddbuild.engine.skips import SkipRules
from ddbuild.errors import ConfigError

Failure = tuple[str, str]  # (drop reason, its message) for one dropped row


class StepKind(str, Enum):
    SAMPLERS = "samplers"
    ROW_SEGMENT = "row_segment"
    FULL_COLUMN = "full_column"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    columns: tuple[Any, ...]


@dataclass
class LLMBinding:
    """The LLM services of a run and the exception type that means 'drop this row'."""

    services: Any
    row_dropped: type[BaseException]


def _is_row_wise(column: Any) -> bool:
    if isinstance(column, CustomColumnConfig):
        return column.generation_strategy == GenerationStrategy.CELL_BY_CELL
    return isinstance(column, ExpressionColumnConfig) or is_llm_column(column)


def plan_steps(columns: Sequence[Any], order: Sequence[str], constraints: Sequence[Any] | None = None) -> list[Step]:
    """Group columns (in generation ``order``) into steps: samplers first, maximal row segments."""
    by_name = {c.name: c for c in columns}
    deps = column_dependencies(columns, constraints)
    remaining, steps = list(order), []
    done: set[str] = set()
    while remaining:
        samplers = [n for n in remaining if isinstance(by_name[n], SamplerColumnConfig) and deps[n] <= done]
        chosen, kind = samplers, StepKind.SAMPLERS
        if not chosen:
            chosen, kind = [], StepKind.ROW_SEGMENT
            for name in remaining:  # ``order`` is topological: one pass finds the maximal run
                if _is_row_wise(by_name[name]) and deps[name] <= done | set(chosen):
                    chosen.append(name)
        if not chosen:
            chosen, kind = [next(n for n in remaining if deps[n] <= done)], StepKind.FULL_COLUMN
        steps.append(Step(kind, tuple(by_name[n] for n in chosen)))
        done |= set(chosen)
        remaining = [n for n in remaining if n not in done]
    return steps


def has_llm(steps: Sequence[Step]) -> bool:
    """Whether the run needs its LLM services: a model column, or a remote validator (which sends
    through the same transport and response cache)."""
    return any(is_llm_column(c) or _is_remote_validation(c) for s in steps for c in s.columns)


def _is_remote_validation(column: Any) -> bool:
    return isinstance(column, ValidationColumnConfig) and column.validator_type == ValidatorType.REMOTE


def needs_identity(steps: Sequence[Step]) -> bool:
    """Whether seeded rows need their identity: something draws randomness per row (sampler, LLM)."""
    return any(s.kind == StepKind.SAMPLERS for s in steps) or has_llm(steps)


class Pipeline:
    """Runs the steps of a config on one batch at a time."""

    def __init__(
        self, steps: list[Step], seed: int, llm: LLMBinding | None = None, constraints: Sequence[Any] | None = None,
    ) -> None:
        self.steps = steps
        self.seed = seed
        self.llm = llm
        self.constraints: dict[str, list[Any]] = {}  # target column -> its sampler constraints
        for constraint in constraints or ():
            self.constraints.setdefault(constraint.target_column, []).append(constraint)
        self._cells = [
            [self._cell(c) for c in s.columns] if s.kind == StepKind.ROW_SEGMENT else [] for s in steps
        ]
        columns = [c for s in steps for c in s.columns]
        self.skips = SkipRules.build(columns, [c.name for c in columns], column_references)

    def _cell(self, column: Any) -> Any:
        if isinstance(column, ExpressionColumnConfig):
            return ExpressionCell(column)
        if isinstance(column, CustomColumnConfig):
            return CustomCell(column)
        if self.llm is None:
            raise ConfigError(f"Column '{column.name}' is an LLM column but no LLM services were set up.")
        return LLMCell(column.name, self.llm.services.generator_for(column))

    def run(self, batch: Batch, loop: asyncio.AbstractEventLoop | None) -> None:
        for step, cells in zip(self.steps, self._cells, strict=False):
            if batch.num_rows == 0:
                for column in step.columns:
                    for name in produced_columns(column):
                        batch.columns[name] = []
            elif step.kind == StepKind.SAMPLERS:
                for column in step.columns:
                    batch.columns[column.name] = sample_column(
                        column, batch.num_rows, self.seed, batch.index, batch.columns, batch.identity,
                        self.constraints.get(column.name, ()),
                    )
            elif step.kind == StepKind.FULL_COLUMN:
                self._run_full_column(batch, step.columns[0], loop)
            else:
                self._run_segment(batch, cells, loop)

    def _skipped_so_far(self, batch: Batch) -> list[set[str]] | None:
        """Per row, the columns skipped in it so far; None when no column of the config can be."""
        if not self.skips:
            return None
        sets: list[set[str]] = [set() for _ in range(batch.num_rows)]
        for name, flags in batch.skipped.items():
            for row_skips, flag in zip(sets, flags, strict=True):
                if flag:
                    row_skips.add(name)
        return sets

    def _run_full_column(self, batch: Batch, column: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        """A full-column generator (or validator) sees only the rows whose cell is not skipped."""
        frame = batch.table(list(batch.columns)).to_pandas()
        rule = self.skips.get(column.name)
        if rule is None:
            batch.columns[column.name] = self._full_column_values(column, frame, loop)
            return
        skipped = self._skipped_so_far(batch) or []
        rows = batch.row_dicts()
        flags = [rule.skips(row, done) for row, done in zip(rows, skipped, strict=True)]
        kept = frame[[not f for f in flags]].reset_index(drop=True)
        values = iter(self._full_column_values(column, kept, loop) if len(kept) else [])
        batch.columns[column.name] = [rule.value if f else next(values) for f in flags]
        batch.skipped[column.name] = flags

    def _full_column_values(self, column: Any, frame: Any, loop: asyncio.AbstractEventLoop | None) -> list[Any]:
        if isinstance(column, ValidationColumnConfig):
            from ddbuild.engine.validation import validate_column

            return validate_column(column, frame, self.llm.services if self.llm else None, loop)
        return run_full_column(column, frame)

    def _run_segment(self, batch: Batch, cells: list[Any], loop: asyncio.AbstractEventLoop | None) -> None:
        rows = batch.row_dicts()
        ids = batch.row_ids.tolist()
        skipped = self._skipped_so_far(batch)
        rules = [self.skips.get(cell.name) for cell in cells] if skipped is not None else None
        if any(cell.is_async for cell in cells):
            assert loop is not None, "an LLM segment needs the run's event loop"
            try:
                with frozen_heap():  # no full collection walks the whole heap while requests are in flight
                    failures = loop.run_until_complete(self._run_async(cells, rows, ids, batch.draws(), rules, skipped))
            except KeyboardInterrupt:
                _cancel_pending(loop)  # Ctrl-C lands outside the coroutine: end its row tasks quietly
                raise
        else:
            failures = [_run_row(cells, row, row_id, rules, row_skips)
                        for row, row_id, row_skips in zip(rows, ids, _per_row(skipped, len(rows)), strict=True)]
        for cell in cells:
            for name in getattr(cell, "outputs", (cell.name,)):
                batch.columns[name] = [row.get(name) for row in rows]
        if rules is not None and skipped is not None:
            for cell, rule in zip(cells, rules, strict=True):
                if rule is not None:
                    batch.skipped[cell.name] = [cell.name in row_skips for row_skips in skipped]
        if any(f is not None for f in failures):
            import numpy as np

            for failure in failures:  # row order: the first error kept is the lowest row's
                if failure is not None:
                    reason, message = failure
                    batch.dropped[reason] += 1
                    batch.first_errors.setdefault(reason, message[:MAX_ERROR_CHARS])
            batch.keep(np.array([f is None for f in failures], dtype=bool))

    async def _run_async(
        self, cells: list[Any], rows: list[dict[str, Any]], ids: list[int], draws: Sequence[int | str],
        rules: list[Any] | None = None, skipped: list[set[str]] | None = None,
    ) -> list[Failure | None]:
        row_dropped = (self.llm.row_dropped, CellFailed) if self.llm else (CellFailed,)

        async def one_row(row: dict[str, Any], row_id: int, draw: int | str, row_skips: set[str] | None) -> Failure | None:
            try:
                for index, cell in enumerate(cells):
                    rule = rules[index] if rules is not None else None
                    if rule is not None and row_skips is not None and rule.skips(row, row_skips):
                        rule.fill(row)  # no request: Data Designer's skipped cell
                        row_skips.add(cell.name)
                        continue
                    row[cell.name] = (await cell(row, draw)) if cell.is_async else cell(row, row_id)
            except row_dropped as exc:  # the reason is reported beside the message: keep only the detail
                return str(getattr(exc, "reason", None) or type(exc).__name__), str(getattr(exc, "detail", None) or exc)
            return None

        tasks = [asyncio.ensure_future(one_row(row, row_id, draw, row_skips))
                 for row, row_id, draw, row_skips in zip(rows, ids, draws, _per_row(skipped, len(rows)), strict=True)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


def _per_row(skipped: list[set[str]] | None, n: int) -> list[set[str] | None]:
    return list(skipped) if skipped is not None else [None] * n


def _run_row(cells: list[Any], row: dict[str, Any], row_id: int, rules: list[Any] | None = None,
             row_skips: set[str] | None = None) -> Failure | None:
    """Fill one row's cells in order (a skipped cell takes its skip value); the failure that
    drops the row, or None."""
    try:
        for index, cell in enumerate(cells):
            rule = rules[index] if rules is not None else None
            if rule is not None and row_skips is not None and rule.skips(row, row_skips):
                rule.fill(row)
                row_skips.add(cell.name)
                continue
            row[cell.name] = cell(row, row_id)
    except CellFailed as exc:
        return exc.reason, str(exc)
    return None


def systematic_failure(batch: Batch, size: int) -> tuple[str, str] | None:
    """(reason, first error) when all ``size`` rows of ``batch`` failed in the same row-wise cell.

    Data Designer shuts down early on such a batch rather than dropping everything: it is a bug in
    the config (a misspelt field, a wrong dtype), not bad luck with some rows.
    """
    if size == 0 or batch.num_rows or len(batch.dropped) != 1:
        return None
    reason, count = next(iter(batch.dropped.items()))
    kinds = tuple(f"{kind.value}:" for kind in DropKind)
    if count != size or not reason.startswith(kinds):
        return None
    return reason, batch.first_errors.get(reason, "")


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the loop's unfinished tasks and let them unwind (no "Task was destroyed" warnings)."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
