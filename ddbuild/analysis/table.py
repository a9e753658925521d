"""The analysis as a plain-text table (what ``print(results.load_analysis())`` shows).

One row per column: type, dtype, nulls, distinct values, and a one-line summary by kind. Values
from the data are shown as text with control characters escaped and long ones cut, so a value
cannot break the layout of the terminal it is printed on.
"""

from __future__ import annotations

from typing import Any

from ddbuild.analysis.model import ColumnStatistics, DatasetAnalysis, NumericalDistribution

VALUE_WIDTH = 32  # characters of a value shown in a summary
SUMMARY_WIDTH = 72


def render_table(analysis: DatasetAnalysis) -> str:
    complete = analysis.percent_complete
    head = f"Dataset analysis: {analysis.num_records:,} records"
    if analysis.target_num_records:
        head += f" of {analysis.target_num_records:,} requested ({complete:.1f}% complete)"
    with_llm = any(c.llm_usage is not None for c in analysis.column_statistics)
    header = ("column", "type", "dtype", "nulls", "unique") + (LLM_HEADER if with_llm else ()) + ("summary",)
    rows = [header] + [_row(c, with_llm) for c in analysis.column_statistics]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = [head]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  " + "  ".join(cells + [row[-1]]).rstrip())
    return "\n".join(lines)


LLM_HEADER = ("llm sent", "llm cached", "tokens in/value", "tokens out/value")


def _row(c: ColumnStatistics, with_llm: bool) -> tuple[str, ...]:
    nulls = f"{c.num_null:,}" + (f" ({c.percent_null:.0f}%)" if c.num_null else "")
    unique = f"{c.num_unique:,} ({c.percent_unique:.0f}%)"
    llm: tuple[str, ...] = ()
    if with_llm:
        u = c.llm_usage
        llm = (f"{u.requests_sent:,}", f"{u.served_from_cache:,}", _num(u.input_tokens_mean),
               _num(u.output_tokens_mean)) if u else ("",) * len(LLM_HEADER)
    return (shown(c.column_name), c.column_type, c.simple_dtype, nulls, unique, *llm,
            _cut(summary(c), SUMMARY_WIDTH))


def summary(c: ColumnStatistics) -> str:
    """One line: the distribution by kind."""
    parts = []
    if c.numerical is not None:
        parts.append(_numbers(c.numerical))
    if c.text_length is not None:
        parts.append(f"{_num(c.text_length.min)}-{_num(c.text_length.max)} chars, mean {_num(c.text_length.mean)}")
    repeated = c.top_values is not None and bool(c.top_values.counts) and c.top_values.counts[0] > 1
    if c.top_values is not None and c.numerical is None and (repeated or c.text_length is None):
        shown_values = [f"{shown(v)} ×{n}" for v, n in zip(c.top_values.categories[:3], c.top_values.counts[:3], strict=True)]
        if shown_values:
            parts.append("top: " + ", ".join(shown_values))
    return "; ".join(parts) or "all null"


def _numbers(d: NumericalDistribution) -> str:
    std = f", std {_num(d.stddev)}" if d.stddev is not None else ""
    return f"min {_num(d.min)}, max {_num(d.max)}, mean {_num(d.mean)}, median {_num(d.median)}{std}"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.2f}".rstrip("0").rstrip(".")


def shown(value: Any, width: int = VALUE_WIDTH) -> str:
    """A value as one short line: repr-style escapes for control characters, cut at ``width``."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return _cut(text, width)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
