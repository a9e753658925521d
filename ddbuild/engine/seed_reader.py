"""Reading seed files (parquet, csv, json, jsonl) into Arrow tables; schemas without row data; a
directory's files as one row each (DirectorySeedSource, FileContentsSeedSource)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

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


def read_file_rows(source: Any, base_dir: Path | None) -> pa.Table:
    """One row per matching file of a directory seed source, in Data Designer's columns:
    ``source_kind``, ``source_path`` (the source's ``path`` joined with the relative path, as the
    config writes it, so the rows are the same on every machine), ``relative_path`` (POSIX),
    ``file_name``, and for FileContentsSeedSource ``content`` (decoded with its ``encoding``)."""
    import pyarrow as pa

    root = source.directory(base_dir)
    columns: dict[str, list[str]] = {name: [] for name in source.output_columns}
    for file in source.files(base_dir):
        relative = file.relative_to(root).as_posix()
        columns["source_kind"].append(source.source_kind)
        columns["source_path"].append(PurePosixPath(Path(source.path).as_posix(), relative).as_posix())
        columns["relative_path"].append(relative)
        columns["file_name"].append(file.name)
        if "content" in columns:
            try:
                columns["content"].append(file.read_bytes().decode(source.encoding))
            except UnicodeDecodeError as exc:
                raise SeedError(
                    f"{type(source).__name__}: file '{file}' is not valid {source.encoding}: {exc}",
                    hint="Set encoding= to the files' encoding, or narrow file_pattern to text files.",
                ) from None
            except OSError as exc:
                raise SeedError(f"{type(source).__name__}: file '{file}' cannot be read: {exc}") from None
    return pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})
