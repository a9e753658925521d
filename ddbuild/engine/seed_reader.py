"""Reading seed files (parquet, csv, json, jsonl) into Arrow tables; schemas without row data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ddbuild.errors import SeedError

if TYPE_CHECKING:
    import pyarrow as pa


def read_schema_names(path: Path) -> list[str]:
    """Column names of one seed file: parquet reads only the footer, csv only its first block."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            with pacsv.open_csv(path) as reader:
                return list(reader.schema.names)
        return list(read_table(path).column_names)  # json/jsonl: keys may first appear on any row
    except SeedError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad seed file
        raise SeedError(f"Seed file '{path}' could not be read as {suffix[1:]}: {exc}") from exc


def read_table(path: Path) -> pa.Table:
    """One seed file as a pyarrow Table."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(path)
        if suffix == ".jsonl":
            import pyarrow.json as pajson

            return pajson.read_json(path)
        if suffix == ".json":
            import pandas as pd
            import pyarrow as pa

            try:
                frame = pd.read_json(path)
            except ValueError:
                frame = pd.read_json(path, lines=True)
            return pa.Table.from_pandas(frame, preserve_index=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad seed file
        raise SeedError(f"Seed file '{path}' could not be read as {suffix[1:]}: {exc}") from exc
    raise SeedError(f"Seed file '{path}' has an unsupported type '{suffix}'.", hint="Use parquet, csv, json or jsonl.")
