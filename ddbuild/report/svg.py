"""Inline SVG for the report: the stage graph, each stage coloured by its state.

Pure functions from report values to SVG text. Every stage name goes through ``esc``; nothing
here emits script or loads anything. The per-column charts are ``ddbuild.analysis.html``'s.

Graph layout: a stage's column is its depth (longest path from a root), its row its order among
the stages of that depth; edges run from a parent's right side to a child's left side::

    [base] ──▶ [good]
          └──▶ [bad ] ──▶ [final]
"""

from __future__ import annotations

from ddbuild.analysis.html import esc
from ddbuild.report.model import StageRow, StageState

# state -> (stroke, fill): readable on white, distinguishable without colour by the label inside
STATE_COLOURS: dict[StageState, tuple[str, str]] = {
    StageState.BUILT: ("#1b5e20", "#a5d6a7"),
    StageState.CACHED: ("#2e7d32", "#e8f5e9"),
    StageState.WOULD_BUILD: ("#e65100", "#ffe0b2"),
    StageState.PENDING: ("#546e7a", "#eceff1"),
    StageState.FAILED: ("#b71c1c", "#ffcdd2"),
    StageState.ERROR: ("#880e4f", "#f8bbd0"),
    StageState.SKIPPED: ("#757575", "#f5f5f5"),
}

NODE_H, GAP_X, GAP_Y, PAD = 46, 56, 18, 12
NAME_CHARS = 30  # longer stage names are cut in the box (the full name is its tooltip and in the table)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _depths(stages: list[StageRow]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for stage in stages:  # stages come in add order: parents before children
        depth[stage.name] = 1 + max((depth.get(p, 0) for p in stage.depends_on), default=-1)
    return depth


def graph_svg(stages: list[StageRow]) -> str:
    depth = _depths(stages)
    width = int(min(max((len(s.name) for s in stages), default=4), NAME_CHARS) * 7.4 + 28)
    width = max(width, 110)
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for stage in stages:
        column = depth[stage.name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        where[stage.name] = (PAD + column * (width + GAP_X), PAD + row * (NODE_H + GAP_Y))
    total_w = PAD * 2 + (max(depth.values(), default=0) + 1) * (width + GAP_X) - GAP_X
    total_h = PAD * 2 + max(rows.values(), default=1) * (NODE_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" role="img" aria-label="stage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#607d8b"/></marker></defs>',
    ]
    for stage in stages:
        x2, y2 = where[stage.name]
        for parent in stage.depends_on:
            if parent not in where:
                continue
            x1, y1 = where[parent]
            sx, sy, ex, ey = x1 + width, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
            mid = (sx + ex) / 2
            parts.append(f'<path d="M{sx},{sy} C{mid},{sy} {mid},{ey} {ex - 2},{ey}" fill="none" '
                         'stroke="#607d8b" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for stage in stages:
        x, y = where[stage.name]
        stroke, fill = STATE_COLOURS[stage.state]
        dash = ' stroke-dasharray="4 3"' if stage.state in (StageState.SKIPPED, StageState.PENDING) else ""
        parts.append(
            f'<g class="node state-{esc(stage.state.name.lower())}"><title>{esc(stage.name)}: '
            f'{esc(stage.state.value)}</title>'
            f'<rect x="{x}" y="{y}" width="{width}" height="{NODE_H}" rx="7" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="2"{dash}/>'
            f'<text x="{x + width / 2}" y="{y + 19}" text-anchor="middle" class="node-name">'
            f'{esc(_cut(stage.name, NAME_CHARS))}</text>'
            f'<text x="{x + width / 2}" y="{y + 36}" text-anchor="middle" class="node-state" fill="{stroke}">'
            f'{esc(stage.state.value)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
