"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

The page frame is ``analysis.html.page``: a Content-Security-Policy of ``default-src 'none'``
(inline styles and data: images allowed) makes "nothing loaded, nothing run" checkable, as a
browser refuses and reports any script or fetch whatever text the data holds. All user text is
escaped (``esc``).
"""

from __future__ import annotations

from typing import Any

from ddbuild.analysis.html import analysis_section, esc, page
from ddbuild.report.model import Report, StageRow, TargetAnalysis, WorkflowReport
from ddbuild.report.svg import STATE_COLOURS, graph_svg


def report_page(report: Report) -> str:
    body = [f"<h1>ddbuild report: {esc(report.title)}</h1>",
            f'<div class="meta">generated {esc(report.generated)} by ddbuild {esc(report.version)}</div>',
            _legend()]
    for workflow in report.workflows:
        body.append(_workflow(workflow))
    return page(f"ddbuild report: {report.title}", "".join(body))


def _legend() -> str:
    items = "".join(
        f'<span><i class="swatch" style="background:{fill};border-color:{stroke}"></i>{esc(state.value)}</span>'
        for state, (stroke, fill) in STATE_COLOURS.items()
    )
    return f'<div class="legend">{items}</div>'


def _workflow(workflow: WorkflowReport) -> str:
    targets = ", ".join(esc(t) for t in workflow.targets)
    parts = [f"<h2>workflow {esc(workflow.workflow)}</h2>",
             f'<div class="meta">targets: {targets}</div>',
             graph_svg(workflow.stages), _stage_table(workflow.stages)]
    parts += [_target(t) for t in workflow.analyses]
    return f'<section class="workflow">{"".join(parts)}</section>'


def _cell(value: Any, fmt: str = "{:,}") -> str:
    return '<td class="num">' + ("" if value is None else esc(fmt.format(value))) + "</td>"


def _stage_table(stages: list[StageRow]) -> str:
    head = ("stage", "state", "key", "rows", "llm sent", "llm cached", "tokens", "time", "why")
    rows = []
    for s in stages:
        stroke, _ = STATE_COLOURS[s.state]
        seconds = None if s.seconds is None else f"{s.seconds:.2f}s"
        rows.append(
            f'<tr class="stage"><td class="stage-name">{esc(s.name)}</td>'
            f'<td class="state" style="color:{stroke}">{esc(s.state.value)}</td>'
            f"<td><code>{esc((s.key or '')[:8])}</code></td>"
            f"{_cell(s.rows)}{_cell(s.llm_sent)}{_cell(s.llm_cached)}{_cell(s.tokens)}"
            f'<td class="num">{esc(seconds or "")}</td><td>{esc(s.reason)}</td></tr>'
        )
    header = "".join(f"<th>{h}</th>" for h in head)
    return f'<table class="stages"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _target(target: TargetAnalysis) -> str:
    title = f"<h3>output of {esc(target.stage)}</h3>"
    if target.analysis is None:
        return f'{title}<p class="muted">{esc(target.note)}</p>'
    return title + analysis_section(target.analysis)
