"""Per-batch processors: drop_columns (globs, dropped values kept aside) and schema_transform.

Schema transforms render against every column of the batch, dropped ones included, whatever the
processor order: a transform may read a scratch column that the main dataset drops (validation
accepts such references, so rendering must too). They never change the main dataset. Drops
(processors, then ``drop=True`` columns, as Data Designer appends its implicit drop processor)
decide which columns the main dataset keeps.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbuild.config.processors import (
    DropColumnsProcessorConfig,
    ProcessorConfig,
    SchemaTransformProcessorConfig,
)
from ddbuild.engine.batch import Batch
from ddbuild.errors import GenerationError
from ddbuild.templating import compile_template


def _escape(value: Any) -> Any:
    """Row values made safe to paste inside a JSON string literal (recursively for dicts/lists)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


class SchemaTransform:
    """Render the JSON template once per row; values are JSON-escaped so the result parses."""

    def __init__(self, config: SchemaTransformProcessorConfig) -> None:
        self.name = config.name
        self.where = f"Processor '{config.name}' template"
        self.render = compile_template(json.dumps(config.template, ensure_ascii=False), self.where)

    def transform(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            text = self.render({k: _escape(v) for k, v in row.items()})
            try:
                out.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise GenerationError(
                    f"{self.where} rendered invalid JSON ({exc.msg} at char {exc.pos}): {text[:200]!r}"
                ) from exc
        return out


@dataclass
class ProcessedBatch:
    """What a batch becomes: the main columns, the dropped columns, and one table per side dataset."""

    main_columns: list[str]
    dropped_columns: list[str] = field(default_factory=list)
    side_tables: dict[str, Any] = field(default_factory=dict)


class Processors:
    def __init__(self, processors: Sequence[ProcessorConfig], drop_flagged: Sequence[str]) -> None:
        self.processors = list(processors)
        self.drop_flagged = list(drop_flagged)
        self._transforms = {
            p.name: SchemaTransform(p) for p in processors if isinstance(p, SchemaTransformProcessorConfig)
        }

    def side_names(self) -> list[str]:
        return list(self._transforms)

    def apply(self, batch: Batch, columns: list[str]) -> ProcessedBatch:
        """Decide which of ``columns`` stay; render the side datasets from the whole batch."""
        import pyarrow as pa

        sides: dict[str, Any] = {}
        if self._transforms and batch.num_rows:
            rows = _rows(batch, columns)
            for name, transform in self._transforms.items():
                side = transform.transform(rows)
                sides[name] = pa.Table.from_pylist(side) if side else pa.table({})
        patterns = [p for d in self.processors if isinstance(d, DropColumnsProcessorConfig) for p in d.column_names]
        gone = [c for c in columns if any(fnmatch.fnmatchcase(c, p) for p in patterns) or c in self.drop_flagged]
        return ProcessedBatch([c for c in columns if c not in gone], gone, sides)


def _rows(batch: Batch, names: list[str]) -> list[dict[str, Any]]:
    view = Batch(batch.index, batch.row_ids, {n: batch.columns[n] for n in names})
    return view.row_dicts()
