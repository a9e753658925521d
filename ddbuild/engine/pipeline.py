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
    is_llm_column,
)
from ddbuild.config.validation import column_references
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
from ddbuild.engine.samplers import sample_column
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


def plan_steps(columns: Sequence[Any], order: Sequence[str]) -> list[Step]:
    """Group columns (in generation ``order``) into steps: samplers first, maximal row segments."""
    by_name = {c.name: c for c in columns}
    deps = {c.name: column_references(c) & set(by_name) for c in columns}
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
    return any(is_llm_column(c) for s in steps for c in s.columns)


def needs_identity(steps: Sequence[Step]) -> bool:
    """Whether seeded rows need their identity: something draws randomness per row (sampler, LLM)."""
    return any(s.kind == StepKind.SAMPLERS for s in steps) or has_llm(steps)


class Pipeline:
    """Runs the steps of a config on one batch at a time."""

    def __init__(self, steps: list[Step], seed: int, llm: LLMBinding | None = None) -> None:
        self.steps = steps
        self.seed = seed
        self.llm = llm
        self._cells = [
            [self._cell(c) for c in s.columns] if s.kind == StepKind.ROW_SEGMENT else [] for s in steps
        ]

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
                    batch.columns[column.name] = []
            elif step.kind == StepKind.SAMPLERS:
                for column in step.columns:
                    batch.columns[column.name] = sample_column(
                        column, batch.num_rows, self.seed, batch.index, batch.columns, batch.identity
                    )
            elif step.kind == StepKind.FULL_COLUMN:
                column = step.columns[0]
                frame = batch.table(list(batch.columns)).to_pandas()
                batch.columns[column.name] = run_full_column(column, frame)
            else:
                self._run_segment(batch, cells, loop)

    def _run_segment(self, batch: Batch, cells: list[Any], loop: asyncio.AbstractEventLoop | None) -> None:
        rows = batch.row_dicts()
        ids = batch.row_ids.tolist()
        if any(cell.is_async for cell in cells):
            assert loop is not None, "an LLM segment needs the run's event loop"
            try:
                failures = loop.run_until_complete(self._run_async(cells, rows, ids, batch.draws()))
            except KeyboardInterrupt:
                _cancel_pending(loop)  # Ctrl-C lands outside the coroutine: end its row tasks quietly
                raise
        else:
            failures = [_run_row(cells, row, row_id) for row, row_id in zip(rows, ids, strict=False)]
        for cell in cells:
            batch.columns[cell.name] = [row.get(cell.name) for row in rows]
        if any(f is not None for f in failures):
            import numpy as np

            for failure in failures:  # row order: the first error kept is the lowest row's
                if failure is not None:
                    reason, message = failure
                    batch.dropped[reason] += 1
                    batch.first_errors.setdefault(reason, message[:MAX_ERROR_CHARS])
            batch.keep(np.array([f is None for f in failures], dtype=bool))

    async def _run_async(
        self, cells: list[Any], rows: list[dict[str, Any]], ids: list[int], draws: Sequence[int | str]
    ) -> list[Failure | None]:
        row_dropped = (self.llm.row_dropped, CellFailed) if self.llm else (CellFailed,)

        async def one_row(row: dict[str, Any], row_id: int, draw: int | str) -> Failure | None:
            try:
                for cell in cells:
                    row[cell.name] = (await cell(row, draw)) if cell.is_async else cell(row, row_id)
            except row_dropped as exc:  # the reason is reported beside the message: keep only the detail
                return str(getattr(exc, "reason", None) or type(exc).__name__), str(getattr(exc, "detail", None) or exc)
            return None

        tasks = [asyncio.ensure_future(one_row(row, row_id, draw))
                 for row, row_id, draw in zip(rows, ids, draws, strict=True)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


def _run_row(cells: list[Any], row: dict[str, Any], row_id: int) -> Failure | None:
    """Fill one row's cells in order; the failure that drops the row, or None."""
    try:
        for cell in cells:
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
