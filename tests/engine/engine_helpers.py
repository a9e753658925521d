"""Helpers for engine tests: a runner that writes real Parquet under tmp_path, and file snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ddbuild as dd
from ddbuild.engine.dataset import DatasetRunSummary, generate_dataset


def run(
    builder: Any,
    out: Path,
    *,
    num_records: int = 10,
    buffer_size: int = 1000,
    resume: bool = False,
    base_dir: Path | None = None,
    **kw: Any,
) -> DatasetRunSummary:
    """Build and generate into ``out``; ``base_dir`` defaults to the parent of ``out``."""
    base = base_dir or out.parent
    config = builder.build(base_dir=base) if hasattr(builder, "build") else builder
    return generate_dataset(
        config, num_records=num_records, dataset_dir=out, run_config=dd.RunConfig(buffer_size=buffer_size),
        resume=resume, base_dir=base, **kw,
    )


def load(out: Path, sub: str = "parquet-files") -> Any:
    import pandas as pd

    files = sorted((out / sub).glob("batch_*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def file_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def sampler(builder: Any, name: str, kind: str, **params: Any) -> Any:
    return builder.add_column(name=name, column_type="sampler", sampler_type=kind, params=params)
