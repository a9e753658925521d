"""Explain / status / summary rendering of hand-made plans, pinned by golden files."""

from __future__ import annotations

import json

from golden import assert_golden

from ddbuild.cli import render
from ddbuild.planning.plan import Cost, FieldChange, Plan, Reason, ReasonKind, StageDecision, Status

K1 = "3f2a9c1d5e6b7a8f9e0d1c2b3a4f5e6d"
K2 = "8b1e04aa77cc11dd22ee33ff44005566"


def sample_plan() -> Plan:
    long_old = "Summarize this passage in two sentences, keeping every number:\n\n{{ text }}"
    long_new = "Summarise this passage in two sentences, keeping every number:\n\n{{ text }}"
    return Plan(
        workflow="doc-qa",
        targets=["chatml"],
        stages=[
            StageDecision("docs", 0, [], Status.HIT, K1, [Reason(ReasonKind.CACHED, "entry found")], origin="local"),
            StageDecision(
                "summary", 1, ["docs"], Status.RUN, K2,
                [Reason(ReasonKind.CONFIG_CHANGED, "2 fields differ from the last build", [
                    FieldChange("columns.summary.prompt", long_old, long_new),
                    FieldChange("models.fast.inference_parameters.temperature", 0.2, 0.7),
                ])],
                cost=Cost(40, 40, 0, 5200, "40 rows x 1 llm column; prompt ~130 tokens"),
            ),
            StageDecision(
                "question", 2, ["summary"], Status.PENDING, None,
                [Reason(ReasonKind.UPSTREAM_PENDING, "'summary' runs first")],
                cost=Cost(40, 40, 0, 2400, "40 rows x 1 llm column"),
            ),
            StageDecision("chatml", 3, ["question"], Status.PENDING, None,
                          [Reason(ReasonKind.UPSTREAM_PENDING, "'question' runs first")],
                          cost=Cost(40, 0, 0, 0, "processor only")),
        ],
    )


def test_explain_text_golden():
    assert_golden("render_explain.txt", render.explain_text([sample_plan()]))


def test_explain_text_verbose_golden():
    assert_golden("render_explain_verbose.txt", render.explain_text([sample_plan()], verbose=True))


def test_status_text_golden():
    assert_golden("render_status.txt", render.status_text([sample_plan()]))


def test_explain_json_document_shape():
    doc = json.loads(render.explain_json([sample_plan()], build_file="ddfile.py"))
    assert doc["schema"] == render.EXPLAIN_SCHEMA and doc["has_work"] is True
    stage = doc["workflows"][0]["stages"][1]
    assert stage["status"] == "run" and stage["reasons"][0]["kind"] == "config_changed"
    assert stage["reasons"][0]["changes"][1] == {
        "path": "models.fast.inference_parameters.temperature", "old": 0.2, "new": 0.7}
    assert doc["summary"]["llm_requests_to_send"] == 80


def test_abbreviate_pair_shows_where_long_strings_differ():
    old, new = render.abbreviate_pair("x" * 100 + "alpha", "x" * 100 + "beta")
    assert old.startswith("…") and "alpha" in old and "beta" in new
    assert len(old) <= render.VALUE_WIDTH


def test_changes_are_capped_without_verbose():
    reason = Reason(ReasonKind.CONFIG_CHANGED, "", [FieldChange(f"a.f{i}", i, i + 1) for i in range(8)])
    lines = render.reason_lines(reason)
    assert lines[-1].strip().startswith("(+3 more")
    assert len(render.reason_lines(reason, all_changes=True)) == 9


def test_summary_text_golden():
    summary = render.BuildSummary("doc-qa", [
        render.StageOutcome("docs", Status.HIT, K1, rows=40),
        render.StageOutcome("summary", Status.RUN, K2, rows=40, rows_generated=40, duration_s=1.25,
                            llm_requests_sent=38, llm_requests_cached=2, tokens=6100),
        render.StageOutcome("chatml", Status.RESUME, None, rows=40, duration_s=0.5),
    ], wall_s=2.0)
    assert_golden("render_summary.txt", render.summary_text([summary]))
