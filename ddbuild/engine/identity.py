"""The config digest recorded in metadata.json: what must match for a run to be resumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddbuild.config.builder import DataDesignerConfig
from ddbuild.config.models import ModelConfig, ModelProvider
from ddbuild.config.run_config import RunConfig
from ddbuild.config.seeds import DataFrameSeedSource
from ddbuild.engine.samplers import behaviour_versions
from ddbuild.fingerprint import (
    ENGINE_COMPAT_VERSION,
    HASH_SCHEME_VERSION,
    digest_bytes,
    digest_file,
    digest_json,
    model_identity,
)

FileDigest = Callable[[Path], str]  # a seed file's content digest (a caller may memoise or stat-cache it)


def seed_content(config: DataDesignerConfig, base_dir: Path | None, file_digest: FileDigest | None = None) -> list[str]:
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


def provider_identities(
    model_configs: list[ModelConfig], providers: list[ModelProvider] | None
) -> dict[str, Any]:
    """Model alias -> the identity of the provider its requests go through (None: not configured).

    A provider's ``extra_body`` is merged into every request body, so it changes replies as the
    model's own ``extra_body`` does; its name, endpoint, key and headers are EXCLUDED_FIELDS.
    Resolved as ``ChatClient.provider_for`` does: the named provider, else the first one.
    """
    if not providers:
        from ddbuild.engine.llm.client import default_providers

        providers = default_providers()
    by_name = {p.name: p for p in providers}
    found = {}
    for model in model_configs:
        provider = by_name.get(model.provider) if model.provider else providers[0]
        found[model.alias] = model_identity(provider) if provider is not None else None
    return found


def config_identity(
    config: DataDesignerConfig, run_config: RunConfig, base_dir: Path | None,
    file_digest: FileDigest | None = None, providers: list[ModelProvider] | None = None,
) -> dict[str, Any]:
    """Everything that decides the bytes of a batch (the number of records is not part of it)."""
    behaviours = behaviour_versions(config.columns)
    return {
        **({"engine_behaviours": behaviours} if behaviours else {}),  # engine.samplers.BEHAVIOUR_VERSIONS
        "hash_scheme_version": HASH_SCHEME_VERSION,
        "engine_compat_version": ENGINE_COMPAT_VERSION,
        "config": model_identity(config),  # its fields minus fingerprint.EXCLUDED_FIELDS
        "providers": provider_identities(config.model_configs, providers),
        "seed_content": seed_content(config, base_dir, file_digest),
        "run_config": model_identity(run_config),
    }


def config_digest(
    config: DataDesignerConfig, run_config: RunConfig, base_dir: Path | None,
    file_digest: FileDigest | None = None, providers: list[ModelProvider] | None = None,
) -> str:
    return digest_json(config_identity(config, run_config, base_dir, file_digest, providers))
