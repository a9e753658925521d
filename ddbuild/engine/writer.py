"""Deterministic, atomic file writes: Parquet batches and JSON metadata.

Same table -> same bytes: fixed writer options, no timestamps, schemas built from column data
(never carrying pandas metadata). Every file is written to a temp name then renamed, so a reader
(or a resumed run) never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}

BATCH_FILE_FORMAT = "batch_{:05d}.parquet"


def batch_file_name(index: int) -> str:
    return BATCH_FILE_FORMAT.format(index)


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_parquet(table: Any, path: Path) -> None:
    """Write ``table`` to ``path`` atomically with the fixed options above."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    if table.schema.metadata:
        table = table.replace_schema_metadata(None)
    temp = _temp_path(path)
    pq.write_table(table, temp, **PARQUET_OPTIONS)
    os.replace(temp, path)


def write_parquet_stream(schema: Any, tables: Iterable[Any], path: Path) -> None:
    """Write ``tables`` (each already of ``schema``) to one Parquet file, one row group per table,
    atomically and with the options above: memory is bounded by the largest table, not the sum."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(path)
    try:
        with pq.ParquetWriter(temp, schema.remove_metadata(), **PARQUET_OPTIONS) as writer:
            for table in tables:
                writer.write_table(table)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, path)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON atomically (temp + fsync + replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(path)
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
