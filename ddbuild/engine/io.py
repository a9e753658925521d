"""Reading and exporting datasets stored as lists of Parquet files (shared by results classes)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild import atomic
from ddbuild.engine.writer import write_parquet_stream
from ddbuild.errors import ArtifactError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class ExportFormat(str, Enum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


def _check_present(paths: Sequence[Path]) -> None:
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise ArtifactError(f"Dataset file '{missing[0]}' is missing.", hint="Rebuild the dataset.")


def read_table(paths: Sequence[Path]) -> pa.Table:
    """All files as one Arrow table (schemas unified: a column all-null in one batch is fine)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_present(paths)
    tables = [pq.read_table(p) for p in paths]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


def load_dataframe(paths: Sequence[Path]) -> pd.DataFrame:
    """The files as one pandas DataFrame."""
    return read_table(paths).to_pandas()


def count_rows(paths: Sequence[Path]) -> int:
    """Row count from Parquet footers only (no row data is read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def export_format(path: Path, format: str | ExportFormat | None) -> ExportFormat:
    name = format.value if isinstance(format, ExportFormat) else (format or path.suffix.lstrip("."))
    try:
        return ExportFormat(str(name).lower())
    except ValueError:
        raise ArtifactError(
            f"Unsupported export format {name!r} for '{path}'.",
            hint=f"Use one of: {', '.join(f.value for f in ExportFormat)}.",
        ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def export_files(paths: Sequence[Path], out: str | Path, format: str | ExportFormat | None = None) -> Path:
    """Write the dataset to ``out`` as jsonl (one record per line), csv or parquet."""
    out = Path(out)
    kind = export_format(out, format)
    if kind == ExportFormat.PARQUET:
        _export_parquet(paths, out)  # atomic itself (write_parquet_stream)
    else:
        with atomic.replacing(out) as temp:  # a reader never sees half an export
            (_export_jsonl if kind == ExportFormat.JSONL else _export_csv)(paths, temp)
    return out


def unified_schema(paths: Sequence[Path]) -> pa.Schema:
    """The schema every file can be cast to, read from footers only (permissive promotion:
    null -> any type, int -> float, ...)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(p) for p in paths]
    if not schemas:
        return pa.schema([])
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ArtifactError(f"The dataset's batch files have incompatible schemas: {exc}.") from exc


def _conformed(table: Any, schema: Any) -> Any:
    """``table`` with exactly ``schema``'s columns and types (absent columns are all null)."""
    import pyarrow as pa

    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _export_parquet(paths: Sequence[Path], out: Path) -> None:
    import pyarrow.parquet as pq

    _check_present(paths)
    schema = unified_schema(paths).remove_metadata()
    write_parquet_stream(schema, (_conformed(pq.read_table(p), schema) for p in paths), out)


def _export_jsonl(paths: Sequence[Path], out: Path) -> None:
    import pyarrow.parquet as pq

    with open(out, "w", encoding="utf-8") as handle:
        for path in paths:  # one file at a time: memory is bounded by a batch
            for record in pq.read_table(path).to_pylist():
                handle.write(json.dumps(record, ensure_ascii=False, default=_json_default) + "\n")


def _export_csv(paths: Sequence[Path], out: Path) -> None:
    import pyarrow.parquet as pq

    with open(out, "w", encoding="utf-8", newline="") as handle:
        for index, path in enumerate(paths):
            frame = pq.read_table(path).to_pandas()
            for name in frame.columns:
                if frame[name].map(lambda v: isinstance(v, (dict, list)) or hasattr(v, "tolist")).any():
                    frame[name] = frame[name].map(lambda v: json.dumps(_plain(v), ensure_ascii=False, default=_json_default))
            frame.to_csv(handle, index=False, header=index == 0)


def _plain(value: Any) -> Any:
    """numpy arrays inside pandas object columns back to lists (for JSON)."""
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
