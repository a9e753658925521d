"""The config digest recorded in metadata.json: what must match for a run to be resumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddbuild.config.run_config import RunConfig
from ddbuild.config.seeds import DataFrameSeedSource
from ddbuild.fingerprint import (
    ENGINE_COMPAT_VERSION,
    HASH_SCHEME_VERSION,
    digest_bytes,
    digest_file,
    digest_json,
    model_identity,
)

FileDigest = Callable[[Path], str]  # a seed file's content digest (a caller may memoise or stat-cache it)


def seed_content(config: Any, base_dir: Path | None, file_digest: FileDigest | None = None) -> list[str]:
    """Digests of the seed's data: file bytes (in path order) or the DataFrame's rows."""
    if config.seed_config is None:
        return []
    source = config.seed_config.source
    if isinstance(source, DataFrameSeedSource):
        import pyarrow as pa

        table = pa.Table.from_pandas(source.df, preserve_index=False).replace_schema_metadata(None)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:  # Arrow IPC: same table, same bytes
            writer.write_table(table)
        return [digest_bytes(sink.getvalue())]
    return [(file_digest or digest_file)(path) for path in source.files(base_dir)]


def config_identity(
    config: Any, run_config: RunConfig, base_dir: Path | None, file_digest: FileDigest | None = None
) -> dict[str, Any]:
    """Everything that decides the bytes of a batch (the number of records is not part of it)."""
    return {
        "hash_scheme_version": HASH_SCHEME_VERSION,
        "engine_compat_version": ENGINE_COMPAT_VERSION,
        "config": model_identity(config),  # its fields minus fingerprint.EXCLUDED_FIELDS
        "seed_content": seed_content(config, base_dir, file_digest),
        "run_config": model_identity(run_config),
    }


def config_digest(
    config: Any, run_config: RunConfig, base_dir: Path | None, file_digest: FileDigest | None = None
) -> str:
    return digest_json(config_identity(config, run_config, base_dir, file_digest))
