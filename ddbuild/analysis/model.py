"""The dataset profile as data: per-column statistics, their dict form, and a plain-text table.

Names follow Data Designer's analysis classes (``DatasetProfilerResults``, ``column_statistics``,
``num_null``, ``num_unique``, ``simple_dtype``, ``most_common_value``, ``input_tokens_mean`` ...);
the shapes are ddbuild's. Everything here is plain values: the profile is computed once
(``analysis.profile``), cached as JSON (``analysis.cache``) and read back with ``from_dict``,
which checks every field (a cache file is untrusted input: a malformed one is a miss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1


class ColumnDistributionType(str, Enum):
    """How a column's values are summarised (and charted)."""

    CATEGORICAL = "categorical"  # few distinct values: counts per value
    NUMERICAL = "numerical"  # numbers: min/max/mean/stddev/median and a histogram
    TEXT = "text"  # many distinct strings: characters per value, most common values
    OTHER = "other"  # lists, structs, dates, binary: most common values as JSON text


Scalar = str | int | float | bool


class AnalysisFormatError(ValueError):
    """A cached analysis that does not have the expected shape (treated as a cache miss)."""


@dataclass(frozen=True)
class CategoricalDistribution:
    """The most common values (at most ``analysis.profile.TOP_VALUES``), most frequent first."""

    categories: list[Scalar]
    counts: list[int]
    other_count: int = 0  # non-null values outside ``categories``

    @property
    def most_common_value(self) -> Scalar | None:
        return self.categories[0] if self.categories else None

    @property
    def least_common_value(self) -> Scalar | None:
        """Least common among those listed (the true least common when ``other_count`` is 0)."""
        return self.categories[-1] if self.categories else None

    def to_dict(self) -> dict[str, Any]:
        return {"categories": list(self.categories), "counts": list(self.counts), "other_count": self.other_count}

    @classmethod
    def from_dict(cls, data: object) -> CategoricalDistribution:
        fields = _mapping(data, "top_values")
        categories = _list(fields.get("categories"), "top_values.categories")
        counts = [_count(c, "top_values.counts") for c in _list(fields.get("counts"), "top_values.counts")]
        if len(categories) != len(counts) or not all(isinstance(c, (str, int, float, bool)) for c in categories):
            raise AnalysisFormatError("top_values: categories and counts do not match")
        return cls(categories, counts, _count(fields.get("other_count", 0), "top_values.other_count"))


@dataclass(frozen=True)
class NumericalDistribution:
    """Summary of numbers; ``edges`` has one more item than ``counts`` (the histogram's bins)."""

    min: float | int
    max: float | int
    mean: float
    median: float
    stddev: float | None  # None for a single value
    edges: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "mean": self.mean, "median": self.median, "stddev": self.stddev,
                "histogram": {"edges": list(self.edges), "counts": list(self.counts)}}

    @classmethod
    def from_dict(cls, data: object, where: str) -> NumericalDistribution:
        fields = _mapping(data, where)
        hist = _mapping(fields.get("histogram", {}), f"{where}.histogram")
        edges = [_number(e, f"{where}.histogram.edges") for e in _list(hist.get("edges", []), where)]
        counts = [_count(c, f"{where}.histogram.counts") for c in _list(hist.get("counts", []), where)]
        if counts and len(edges) != len(counts) + 1:
            raise AnalysisFormatError(f"{where}.histogram: {len(edges)} edges for {len(counts)} bins")
        stddev = fields.get("stddev")
        return cls(_number(fields.get("min"), f"{where}.min"), _number(fields.get("max"), f"{where}.max"),
                   _number(fields.get("mean"), f"{where}.mean"), _number(fields.get("median"), f"{where}.median"),
                   None if stddev is None else _number(stddev, f"{where}.stddev"), edges, counts)


@dataclass(frozen=True)
class LLMColumnUsage:
    """What generating an LLM column cost, from the run's recorded usage (``llm_stats.by_column``)."""

    requests_sent: int
    served_from_cache: int
    input_tokens: int  # prompt tokens, all requests
    output_tokens: int  # completion tokens, all requests
    values: int  # values the column got (rows the LLM filled)

    @property
    def input_tokens_mean(self) -> float | None:
        return self.input_tokens / self.values if self.values else None

    @property
    def output_tokens_mean(self) -> float | None:
        return self.output_tokens / self.values if self.values else None

    KEYS = ("requests_sent", "served_from_cache", "input_tokens", "output_tokens", "values")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.KEYS}

    @classmethod
    def from_dict(cls, data: object) -> LLMColumnUsage:
        fields = _mapping(data, "llm_usage")
        return cls(*(_count(fields.get(k), f"llm_usage.{k}") for k in cls.KEYS))


@dataclass(frozen=True)
class ColumnStatistics:
    """One column's profile."""

    column_name: str
    column_type: str  # what generated it: "sampler", "llm-text", "expression", "seed-dataset", "general"...
    num_records: int
    num_null: int
    num_unique: int  # distinct non-null values (lists and structs compared as JSON text)
    pyarrow_dtype: str
    simple_dtype: str  # "int", "float", "bool", "string", "list", "dict", "datetime", ...
    distribution_type: ColumnDistributionType
    top_values: CategoricalDistribution | None = None  # every kind but numerical
    numerical: NumericalDistribution | None = None  # numerical: the values
    text_length: NumericalDistribution | None = None  # text: characters per value
    llm_usage: LLMColumnUsage | None = None  # LLM columns whose run recorded usage

    @property
    def percent_null(self) -> float:
        return 100.0 * self.num_null / self.num_records if self.num_records else 0.0

    @property
    def percent_unique(self) -> float:
        return 100.0 * self.num_unique / self.num_records if self.num_records else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "column_name": self.column_name, "column_type": self.column_type, "num_records": self.num_records,
            "num_null": self.num_null, "num_unique": self.num_unique, "pyarrow_dtype": self.pyarrow_dtype,
            "simple_dtype": self.simple_dtype, "distribution_type": self.distribution_type.value,
            "top_values": self.top_values.to_dict() if self.top_values else None,
            "numerical": self.numerical.to_dict() if self.numerical else None,
            "text_length": self.text_length.to_dict() if self.text_length else None,
            "llm_usage": self.llm_usage.to_dict() if self.llm_usage else None,
        }

    @classmethod
    def from_dict(cls, data: object) -> ColumnStatistics:
        fields = _mapping(data, "column")
        try:
            kind = ColumnDistributionType(fields.get("distribution_type"))
        except ValueError:
            raise AnalysisFormatError(f"unknown distribution_type {fields.get('distribution_type')!r}") from None
        top, num, text, llm = (fields.get(k) for k in ("top_values", "numerical", "text_length", "llm_usage"))
        return cls(
            _text(fields.get("column_name"), "column_name"), _text(fields.get("column_type"), "column_type"),
            _count(fields.get("num_records"), "num_records"), _count(fields.get("num_null"), "num_null"),
            _count(fields.get("num_unique"), "num_unique"), _text(fields.get("pyarrow_dtype"), "pyarrow_dtype"),
            _text(fields.get("simple_dtype"), "simple_dtype"), kind,
            CategoricalDistribution.from_dict(top) if top is not None else None,
            NumericalDistribution.from_dict(num, "numerical") if num is not None else None,
            NumericalDistribution.from_dict(text, "text_length") if text is not None else None,
            LLMColumnUsage.from_dict(llm) if llm is not None else None,
        )


@dataclass(frozen=True)
class DatasetAnalysis:
    """A dataset's profile (Data Designer's ``DatasetProfilerResults``): what ``load_analysis()`` returns.

    ``print(analysis)`` / ``analysis.display()`` show it as a table; ``to_dict()`` and
    ``to_dataframe()`` give it as data.
    """

    num_records: int
    target_num_records: int | None
    column_statistics: list[ColumnStatistics]

    @property
    def percent_complete(self) -> float | None:
        if not self.target_num_records:
            return None
        return 100.0 * self.num_records / self.target_num_records

    @property
    def column_names(self) -> list[str]:
        return [c.column_name for c in self.column_statistics]

    def __getitem__(self, column: str) -> ColumnStatistics:
        for stats in self.column_statistics:
            if stats.column_name == column:
                return stats
        from ddbuild.errors import did_you_mean

        raise KeyError(f"No column '{column}' in the analysis.{did_you_mean(column, self.column_names)}")

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "num_records": self.num_records,
                "target_num_records": self.target_num_records,
                "column_statistics": [c.to_dict() for c in self.column_statistics]}

    @classmethod
    def from_dict(cls, data: object) -> DatasetAnalysis:
        fields = _mapping(data, "analysis")
        if fields.get("format_version") != FORMAT_VERSION:
            raise AnalysisFormatError(f"format_version {fields.get('format_version')!r}, expected {FORMAT_VERSION}")
        target = fields.get("target_num_records")
        columns = _list(fields.get("column_statistics"), "column_statistics")
        return cls(_count(fields.get("num_records"), "num_records"),
                   None if target is None else _count(target, "target_num_records"),
                   [ColumnStatistics.from_dict(c) for c in columns])

    def to_dataframe(self) -> pd.DataFrame:
        """One row per column: the table's fields as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([_flat_row(c) for c in self.column_statistics])

    def to_table(self) -> str:
        from ddbuild.analysis.table import render_table

        return render_table(self)

    def __str__(self) -> str:
        return self.to_table()

    def display(self) -> None:
        print(self.to_table())

    def to_report(self, save_path: str | None = None) -> None:
        """Print the table (Data Designer's name); with ``save_path`` also write it as an HTML page."""
        self.display()
        if save_path is not None:
            from pathlib import Path

            from ddbuild.analysis.html import analysis_page

            Path(save_path).write_text(analysis_page(self), encoding="utf-8")


def _flat_row(c: ColumnStatistics) -> dict[str, Any]:
    row: dict[str, Any] = {
        "column_name": c.column_name, "column_type": c.column_type, "simple_dtype": c.simple_dtype,
        "pyarrow_dtype": c.pyarrow_dtype, "num_records": c.num_records, "num_null": c.num_null,
        "num_unique": c.num_unique, "distribution_type": c.distribution_type.value,
        "most_common_value": c.top_values.most_common_value if c.top_values else None,
    }
    for prefix, dist in (("", c.numerical), ("length_", c.text_length)):
        for stat in ("min", "max", "mean", "median", "stddev"):
            row[prefix + stat] = getattr(dist, stat) if dist else None
    usage = c.llm_usage
    row.update({
        "llm_requests_sent": usage.requests_sent if usage else None,
        "llm_served_from_cache": usage.served_from_cache if usage else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "input_tokens_mean": usage.input_tokens_mean if usage else None,
        "output_tokens_mean": usage.output_tokens_mean if usage else None,
    })
    return row


# -- checked reading of cached JSON --------------------------------------------------------------


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AnalysisFormatError(f"{where} is not an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise AnalysisFormatError(f"{where} is not a list")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise AnalysisFormatError(f"{where} is not a string")
    return value


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AnalysisFormatError(f"{where} is not a count")
    return value


def _number(value: object, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        raise AnalysisFormatError(f"{where} is not a number")
    return value
