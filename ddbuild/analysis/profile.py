"""Computing a dataset's profile from its Parquet files (pure: files and facts in, DatasetAnalysis out).

Per column: nulls (NaN counts as null, as pandas does), distinct values (lists and structs
compared as JSON text), then by kind: numbers get min/max/mean/median/stddev and a histogram;
few distinct values get counts per value; many distinct strings get characters per value and
their most common values; anything else (lists, structs, dates) its most common values as JSON.
LLM usage per column comes from the run's recorded ``llm_stats.by_column``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.analysis.model import (
    CategoricalDistribution,
    ColumnDistributionType,
    ColumnStatistics,
    DatasetAnalysis,
    LLMColumnUsage,
    NumericalDistribution,
)

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("ddbuild.analysis")

TOP_VALUES = 10  # most common values kept per column
CATEGORICAL_MAX_UNIQUE = 20  # a string column with at most this many distinct values ...
HISTOGRAM_BINS = 10
GENERAL = "general"  # column_type of a column no config names (processor outputs, unknown origin)

_runs = Counter[str]()  # profiles computed by this process (tests count them: a cached one is not)


def profiles_computed() -> int:
    """How many profiles this process computed from data (not read from the cache)."""
    return _runs["profiles"]


def analyze_files(
    paths: Sequence[Path],
    *,
    column_types: Mapping[str, str] | None = None,
    other_columns: str = GENERAL,
    llm_stats: Mapping[str, Any] | None = None,
    target_num_records: int | None = None,
) -> DatasetAnalysis:
    """The profile of the dataset in ``paths``; ``column_types``: column name -> what generated it."""
    from ddbuild.engine.io import read_table

    table = read_table(list(paths))
    _runs["profiles"] += 1
    log.debug("profiled %d rows x %d columns", table.num_rows, table.num_columns)
    by_column = (llm_stats or {}).get("by_column") or {}
    columns = [
        column_statistics(name, table.column(name), (column_types or {}).get(name, other_columns), by_column.get(name))
        for name in table.column_names
    ]
    return DatasetAnalysis(table.num_rows, target_num_records, columns)


def column_statistics(
    name: str, column: pa.ChunkedArray, column_type: str, usage: object = None
) -> ColumnStatistics:
    """One column's profile; ``usage``: the run's recorded LLM usage for it (``llm_stats.by_column``)."""
    import pyarrow as pa

    kind = column.type
    rows = len(column)
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    numeric = (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind))
    if numeric:
        values = _numbers(column)
        num_null = rows - len(values)
        num_unique = len(set(values.tolist()))
        dist = ColumnDistributionType.NUMERICAL
        summary = _summary(values, integer=pa.types.is_integer(kind))
        return ColumnStatistics(name, column_type, rows, num_null, num_unique, str(kind), _simple(kind), dist,
                                numerical=summary, llm_usage=_usage(usage))
    counts = Counter(_key(v) for v in column.drop_null().to_pylist())
    num_null = column.null_count
    is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if pa.types.is_boolean(kind) or (is_text and _few(len(counts), rows - num_null)):
        dist = ColumnDistributionType.CATEGORICAL
    elif is_text:
        dist = ColumnDistributionType.TEXT
    else:
        dist = ColumnDistributionType.OTHER
    lengths = _summary(_lengths(column), integer=True) if dist is ColumnDistributionType.TEXT else None
    return ColumnStatistics(name, column_type, rows, num_null, len(counts), str(kind), _simple(kind), dist,
                            top_values=_top(counts), text_length=lengths, llm_usage=_usage(usage))


def _few(unique: int, non_null: int) -> bool:
    """Categorical: few distinct values, each seen at least twice on average."""
    return unique <= CATEGORICAL_MAX_UNIQUE and unique <= max(1, non_null // 2)


def _numbers(column: Any) -> Any:
    """The non-null, non-NaN values as a float64 numpy array (ints stay exact up to 2**53)."""
    import numpy as np
    import pyarrow as pa

    values = column.drop_null()
    if pa.types.is_decimal(column.type):
        values = values.cast(pa.float64())
    array = np.asarray(values.to_numpy(), dtype=np.float64) if len(values) else np.array([], dtype=np.float64)
    return array[~np.isnan(array)]


def _lengths(column: Any) -> Any:
    import numpy as np
    import pyarrow.compute as pc

    values = pc.utf8_length(column.drop_null())
    return np.asarray(values.to_numpy(), dtype=np.float64) if len(values) else np.array([], dtype=np.float64)


def _summary(values: Any, *, integer: bool) -> NumericalDistribution | None:
    import numpy as np

    if not len(values):
        return None
    low, high = float(values.min()), float(values.max())
    bins = max(1, min(HISTOGRAM_BINS, len(np.unique(values))))
    counts, edges = np.histogram(values, bins=bins, range=(low, high) if high > low else (low - 0.5, low + 0.5))
    as_number = (lambda x: int(x)) if integer else float  # noqa: E731
    return NumericalDistribution(
        min=as_number(low), max=as_number(high), mean=float(values.mean()), median=float(np.median(values)),
        stddev=float(values.std(ddof=1)) if len(values) > 1 else None,
        edges=[float(e) for e in edges], counts=[int(c) for c in counts],
    )


def _key(value: Any) -> Any:
    """A hashable, JSON-able stand-in for a value: scalars as they are, anything else as JSON text."""
    if isinstance(value, (str, int, bool)) or (isinstance(value, float) and value == value):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _top(counts: Counter[Any]) -> CategoricalDistribution:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    top = ranked[:TOP_VALUES]
    other = sum(n for _, n in ranked[TOP_VALUES:])
    return CategoricalDistribution([v for v, _ in top], [n for _, n in top], other)


def _simple(kind: Any) -> str:
    import pyarrow as pa

    checks = (
        (pa.types.is_boolean, "bool"), (pa.types.is_integer, "int"), (pa.types.is_floating, "float"),
        (pa.types.is_decimal, "decimal"), (pa.types.is_string, "string"), (pa.types.is_large_string, "string"),
        (pa.types.is_timestamp, "datetime"), (pa.types.is_date, "date"), (pa.types.is_time, "time"),
        (pa.types.is_duration, "timedelta"), (pa.types.is_list, "list"), (pa.types.is_large_list, "list"),
        (pa.types.is_struct, "dict"), (pa.types.is_map, "dict"), (pa.types.is_binary, "bytes"),
        (pa.types.is_null, "null"),
    )
    return next((label for check, label in checks if check(kind)), str(kind))


def _usage(stats: object) -> LLMColumnUsage | None:
    if not isinstance(stats, Mapping):
        return None

    def count(key: str) -> int:
        value = stats.get(key, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    return LLMColumnUsage(count("requests_sent"), count("served_from_cache"), count("prompt_tokens"),
                          count("completion_tokens"), count("values"))
