"""Dataset analysis: a per-column profile of a generated dataset, computed once and cached.

``results.load_analysis()`` (of ``DataDesigner.create`` and of a workflow stage) returns a
``DatasetAnalysis`` (Data Designer's name: ``DatasetProfilerResults``): per column its type,
nulls, distinct values, most common values or a numeric summary, and LLM usage when the run
recorded it. ``print()`` shows it as a table; ``to_dict()`` / ``to_dataframe()`` give the data.

Importing this package is cheap: pyarrow and pandas load when a profile is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.analysis.cache import AnalysisCache, inputs_digest
from ddbuild.analysis.model import (
    CategoricalDistribution,
    ColumnDistributionType,
    ColumnStatistics,
    DatasetAnalysis,
    LLMColumnUsage,
    NumericalDistribution,
)

if TYPE_CHECKING:
    from ddbuild.config.builder import DataDesignerConfig

DatasetProfilerResults = DatasetAnalysis  # Data Designer's name for the same thing

SEED_COLUMN = "seed-dataset"

__all__ = [
    "AnalysisCache",
    "CategoricalDistribution",
    "ColumnDistributionType",
    "ColumnStatistics",
    "DatasetAnalysis",
    "DatasetProfilerResults",
    "LLMColumnUsage",
    "NumericalDistribution",
    "analysis_of",
    "column_types_from_config",
    "column_types_from_identity",
]


def analysis_of(
    files: Sequence[tuple[str, str]],
    open_files: Callable[[], Sequence[Path]],
    *,
    cache: AnalysisCache,
    key: str | None,
    column_types: Mapping[str, str] | None = None,
    other_columns: str = "general",
    llm_stats: Mapping[str, Any] | None = None,
    target_num_records: int | None = None,
) -> DatasetAnalysis:
    """The analysis of the files ``(path, content digest)``: from ``cache`` under ``key`` when it
    was computed before from the same inputs, else profiled now (``open_files()`` gives their
    local paths, fetched and verified only then) and kept. Columns ``column_types`` does not name
    get ``other_columns`` ("seed-dataset" in a seeded dataset, else "general")."""
    from ddbuild.analysis.profile import analyze_files

    inputs = inputs_digest(files, {**(column_types or {}), "": other_columns}, llm_stats, target_num_records)

    def compute() -> DatasetAnalysis:
        return analyze_files(open_files(), column_types=column_types, other_columns=other_columns,
                             llm_stats=llm_stats, target_num_records=target_num_records)

    return cache.get_or_compute(key, inputs, compute)


def _kind(value: Any) -> str:
    return str(getattr(value, "value", value)).replace("_", "-")


def column_types_from_identity(identity: Mapping[str, Any]) -> dict[str, str]:
    """Column name -> what generated it, from a stage entry's identity (its config as hashed)."""
    stage = identity.get("stage") if isinstance(identity, Mapping) else None
    columns = stage.get("columns") if isinstance(stage, Mapping) else None
    types = {}
    for name, column in (columns or {}).items():
        if isinstance(column, Mapping) and "column_type" in column:
            types[str(name)] = _kind(column["column_type"])
    return types


def column_types_from_config(config: DataDesignerConfig) -> dict[str, str]:
    """Column name -> what generated it, from a built config (its columns)."""
    return {c.name: _kind(c.column_type) for c in config.columns}
