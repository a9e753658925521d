"""The analysis as HTML: one small inline SVG chart per column, the column table, a whole page.

Pure functions from an analysis to HTML text. Every piece of user text (column names, values)
goes through ``esc`` after ``shown`` (control characters escaped, long values cut); nothing here
emits script or loads anything. ``ddbuild report`` embeds ``analysis_section`` in its page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ddbuild.analysis.model import ColumnDistributionType, ColumnStatistics, DatasetAnalysis
from ddbuild.analysis.table import shown, summary

# No script, nothing fetched: a browser refuses (and reports) anything else, whatever the data holds.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212121;margin:24px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e0e0e0}
h3{font-size:15px;margin:18px 0 6px}.muted{color:#757575}.meta{color:#616161;margin-bottom:12px}
table{border-collapse:collapse;margin:6px 0 14px}th,td{padding:4px 10px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{background:#fafafa;font-weight:600}td.num{text-align:right;
font-variant-numeric:tabular-nums}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.graph{display:block;margin:8px 0 4px;max-width:100%;height:auto}.node-name{font:600 13px system-ui,sans-serif}
.node-state{font:12px system-ui,sans-serif}.axis{font:10px system-ui,sans-serif;fill:#616161}
.legend span{display:inline-block;margin-right:12px}.swatch{display:inline-block;width:12px;height:12px;
border-radius:3px;vertical-align:-1px;margin-right:4px;border:2px solid}.state{font-weight:600}
.value{max-width:340px;overflow-wrap:anywhere}
"""


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


CHART_W, CHART_H = 240, 64


def column_chart(column: ColumnStatistics) -> str:
    """A histogram for numbers (and for text lengths), bars of the most common values otherwise."""
    if column.distribution_type is ColumnDistributionType.NUMERICAL and column.numerical is not None:
        d = column.numerical
        return _histogram(d.counts, _number(d.min), _number(d.max), f"{column.column_name}: values")
    if column.distribution_type is ColumnDistributionType.TEXT and column.text_length is not None:
        d = column.text_length
        return _histogram(d.counts, f"{_number(d.min)} chars", f"{_number(d.max)} chars",
                          f"{column.column_name}: characters per value")
    if column.top_values is not None and column.top_values.counts:
        top = column.top_values
        pairs = list(zip(top.categories[:5], top.counts[:5], strict=False))
        return _bars(pairs, column.num_records, f"{column.column_name}: most common values")
    return '<span class="muted">no values</span>'


def _number(value: Any) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _histogram(counts: list[int], low: str, high: str, label: str) -> str:
    peak = max(counts, default=0) or 1
    n = max(len(counts), 1)
    bar_w = (CHART_W - 2) / n
    plot_h = CHART_H - 16
    bars = []
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        bars.append(f'<rect x="{1 + i * bar_w:.1f}" y="{plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                    f'height="{h:.1f}" fill="#5c6bc0"><title>{count:,}</title></rect>')
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" '
            f'viewBox="0 0 {CHART_W} {CHART_H}" role="img" aria-label="{esc(label)}">{"".join(bars)}'
            f'<line x1="0" y1="{plot_h}" x2="{CHART_W}" y2="{plot_h}" stroke="#9e9e9e"/>'
            f'<text x="1" y="{CHART_H - 3}" class="axis">{esc(low)}</text>'
            f'<text x="{CHART_W - 1}" y="{CHART_H - 3}" text-anchor="end" class="axis">{esc(high)}</text></svg>')


def _bars(pairs: list[tuple[Any, int]], total: int, label: str) -> str:
    row_h = 12
    height = row_h * len(pairs) + 2
    peak = max((n for _, n in pairs), default=1) or 1
    label_w, bar_space = 96, CHART_W - 96 - 40
    rows = []
    for i, (value, count) in enumerate(pairs):
        y = 1 + i * row_h
        w = bar_space * count / peak
        rows.append(
            f'<text x="{label_w - 4}" y="{y + 9}" text-anchor="end" class="axis"><title>{esc(shown(value, 200))}'
            f'</title>{esc(shown(value, 16))}</text>'
            f'<rect x="{label_w}" y="{y + 1}" width="{w:.1f}" height="{row_h - 3}" fill="#26a69a"/>'
            f'<text x="{label_w + w + 3:.1f}" y="{y + 9}" class="axis">{count:,}</text>'
        )
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{height}" '
            f'viewBox="0 0 {CHART_W} {height}" role="img" aria-label="{esc(label)}">{"".join(rows)}</svg>')


def analysis_page(analysis: DatasetAnalysis, title: str = "Dataset analysis") -> str:
    """One analysis on its own page (``DatasetAnalysis.to_report(save_path)``)."""
    return page(title, f"<h1>{esc(title)}</h1>{analysis_section(analysis)}")


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>{body}</body></html>\n"
    )


def analysis_section(analysis: DatasetAnalysis) -> str:
    done = f"{analysis.num_records:,} records"
    if analysis.target_num_records:
        done += f" of {analysis.target_num_records:,} requested ({analysis.percent_complete:.1f}% complete)"
    head = ("column", "type", "dtype", "nulls", "unique", "llm sent / cached", "tokens in / out per value",
            "summary", "chart")
    rows = []
    for c in analysis.column_statistics:
        usage = c.llm_usage
        llm = f"{usage.requests_sent:,} / {usage.served_from_cache:,}" if usage else ""
        tokens = (f"{_mean(usage.input_tokens_mean)} / {_mean(usage.output_tokens_mean)}" if usage else "")
        rows.append(
            f'<tr class="column"><td class="column-name value">{esc(shown(c.column_name, 200))}</td>'
            f"<td>{esc(c.column_type)}</td><td>{esc(c.simple_dtype)}</td>"
            f'<td class="num">{c.num_null:,}</td><td class="num">{c.num_unique:,}</td>'
            f'<td class="num">{esc(llm)}</td><td class="num">{esc(tokens)}</td>'
            f'<td class="value">{esc(summary(c))}</td><td>{column_chart(c)}</td></tr>'
        )
    header = "".join(f"<th>{h}</th>" for h in head)
    return (f'<div class="meta">{esc(done)}</div><table class="analysis"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
