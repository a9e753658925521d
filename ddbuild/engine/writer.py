"""Deterministic, atomic file writes: Parquet batches and JSON metadata.

Same table -> same bytes: fixed writer options, no timestamps, schemas built from column data
(never carrying pandas metadata). Every file goes through ``ddbuild.atomic`` (temp name, fsync,
rename, fsync of the directory), so a reader or a resumed run never sees half a file, even after
a power cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild import atomic
from ddbuild.errors import on_full_disk
from ddbuild.fingerprint import digest_bytes

if TYPE_CHECKING:
    import pyarrow as pa

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


def write_parquet(table: pa.Table, path: Path) -> str:
    """Write ``table`` to ``path`` atomically and durably with the fixed options above.

    Serialised in memory first (a batch is small), so the bytes are hashed on the way: returns
    their xxh3_128, which a checkpoint records so a resumed run can tell a torn file from a good one.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if table.schema.metadata:
        table = table.replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    data = memoryview(sink.getvalue())
    atomic.write_bytes(path, data)
    return digest_bytes(data)


@on_full_disk
def write_parquet_stream(schema: pa.Schema, tables: Iterable[pa.Table], path: Path) -> None:
    """Write ``tables`` (each already of ``schema``) to one Parquet file, one row group per table,
    atomically and with the options above: memory is bounded by the largest table, not the sum."""
    import pyarrow.parquet as pq

    with atomic.replacing(path) as temp, pq.ParquetWriter(temp, schema.remove_metadata(), **PARQUET_OPTIONS) as writer:
        for table in tables:
            writer.write_table(table)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as indented, key-sorted JSON atomically and durably (``ddbuild.atomic``)."""
    atomic.write_json(path, data)
