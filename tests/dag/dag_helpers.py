"""Builders shared by the DAG tests (seed files, designers, models, one-column configs)."""

from __future__ import annotations

from pathlib import Path

import ddbuild as dd
from tests.openai_server import FakeOpenAIServer


def write_seed(path: Path, rows: int = 6) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": list(range(rows)), "text": [f"t{i}" for i in range(rows)]}), path)
    return path


def designer(server: FakeOpenAIServer | None = None) -> dd.DataDesigner:
    providers = [dd.ModelProvider(name="local", endpoint=server.url)] if server else None
    return dd.DataDesigner(model_providers=providers)


def model(alias: str, model_id: str, parallel: int = 4) -> dd.ModelConfig:
    params = dd.ChatCompletionInferenceParams(max_parallel_requests=parallel)
    return dd.ModelConfig(alias=alias, model=model_id, provider="local", inference_parameters=params)


def seed_builder(path: str = "seed.parquet") -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path=path))


def expr_builder(name: str, expr: str) -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().add_column(name=name, column_type="expression", expr=expr)


def llm_builder(name: str, prompt: str, config: dd.ModelConfig) -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder(model_configs=[config]).add_column(
        name=name, column_type="llm_text", model_alias=config.alias, prompt=prompt
    )
