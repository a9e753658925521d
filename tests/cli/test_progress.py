"""Reporters: live display (fake clock), JSON lines, plain lines, tally of outcomes; event types."""

from __future__ import annotations

import io
import json
from typing import get_args

from rich.console import Console

from ddbuild.cli.live import LiveReporter
from ddbuild.cli.progress import (
    JsonLinesReporter,
    LineReporter,
    TallyReporter,
    event_to_dict,
    make_reporter,
    wants_live,
)
from ddbuild.execution.events import (
    EVENT_NAMES,
    BatchDone,
    Event,
    LLMRequestsInFlight,
    PlanReady,
    StageFinished,
    StageStarted,
    WarningEvent,
)
from ddbuild.planning.plan import Plan, Status


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rendered(live: LiveReporter) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(live.render())
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def test_live_display_shows_rows_eta_in_flight_and_warnings():
    out, clock = io.StringIO(), Clock()
    live = LiveReporter(out, clock=clock, console=Console(file=out, force_terminal=True, width=120))
    try:
        live.emit(StageStarted("summary", Status.RUN, "ab" * 16, rows_total=100))
        live.emit(StageStarted("answers", Status.RESUME, "cd" * 16, rows_total=10))
        clock.now += 10
        live.emit(BatchDone("summary", 25, 100))
        live.emit(LLMRequestsInFlight("summary", 8))
        summary, answers = rendered(live).splitlines()
        assert summary.split()[1:3] == ["summary", "run"]
        assert summary.endswith(" 25/100 rows  8 requests in flight  ETA 0:30")
        assert answers.split()[1:3] == ["answers", "resume"] and answers.endswith(" 0/10 rows")
        live.emit(WarningEvent("slow endpoint", stage="summary"))
        live.emit(StageFinished("summary", Status.RUN, "ab" * 16, rows=100, duration_s=40.0))
        assert rendered(live).splitlines()[0].split() == ["✓", "summary", "ran", "100", "rows", "40.0s"]
    finally:
        live.close()
    assert "warning: summary: slow endpoint" in out.getvalue()


def test_json_lines_are_one_object_per_event():
    out = io.StringIO()
    reporter = JsonLinesReporter(out)
    reporter.emit(StageStarted("a", Status.RESUME, None, rows_total=5))
    reporter.emit(WarningEvent("careful"))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {"event": "stage_started", "stage": "a", "status": "resume", "key": None, "rows_total": 5}
    assert second["event"] == "warning" and second["message"] == "careful"


def test_tally_knows_the_failing_stage():
    tally = TallyReporter()
    tally.begin("wf")
    tally.emit(StageFinished("a", Status.HIT, "k"))
    tally.emit(StageStarted("b", Status.RUN, "k2"))
    tally.emit(BatchDone("b", 20, 40))
    assert tally.completed() == ["a"] and tally.failed() == ["b"] and tally.rows_done["b"] == 20


def test_tally_does_not_count_skipped_stages_as_kept():
    tally = TallyReporter()
    tally.begin("wf")
    tally.emit(StageFinished("a", Status.HIT, "k"))
    tally.emit(StageFinished("b", Status.ERROR, "k2"))
    tally.emit(StageFinished("c", Status.SKIPPED, None))  # below the failed stage (-k)
    assert tally.completed() == ["a"] and tally.failed() == ["b"]


def test_reporter_choice():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    live, close = make_reporter(Tty(), json_lines=False, silent=False, verbose=0)
    close()
    assert isinstance(live, LiveReporter)
    assert isinstance(make_reporter(io.StringIO(), json_lines=False, silent=False, verbose=0)[0], LineReporter)
    assert make_reporter(Tty(), json_lines=False, silent=True, verbose=0)[0] is None
    assert isinstance(make_reporter(Tty(), json_lines=True, silent=False, verbose=0)[0], JsonLinesReporter)
    assert wants_live(Tty(), {"TERM": "xterm"}) and not wants_live(Tty(), {"TERM": "dumb"})


ONE_OF_EACH = [
    PlanReady(Plan(workflow="wf", targets=["a"], stages=[])),
    StageStarted("a", Status.RUN, "k", rows_total=3),
    BatchDone("a", 1, 3),
    LLMRequestsInFlight("a", 2),
    WarningEvent("careful", stage="a"),
    StageFinished("a", Status.RUN, "k", rows=3),
]


def test_every_event_type_has_a_wire_name_and_every_reporter_takes_it():
    assert {type(e) for e in ONE_OF_EACH} == set(get_args(Event)) == set(EVENT_NAMES)
    assert [event_to_dict(e)["event"] for e in ONE_OF_EACH] == [
        "plan_ready", "stage_started", "batch_done", "llm_requests_in_flight", "warning", "stage_finished"]
    out = io.StringIO()
    live = LiveReporter(out, console=Console(file=out, force_terminal=True, width=80))
    lines, tally = LineReporter(out, verbose=1), TallyReporter()
    for event in ONE_OF_EACH:
        for reporter in (live, lines, tally, JsonLinesReporter(io.StringIO())):
            reporter.emit(event)
    live.close()
    assert tally.completed() == ["a"] and "ddbuild: warning: a: careful" in out.getvalue()


def test_every_event_type_is_emitted_by_a_build():
    """An event nobody emits is dead weight: each type is constructed somewhere outside events.py."""
    import ast
    from pathlib import Path

    import ddbuild

    root = Path(ddbuild.__file__).parent
    built = set()
    for path in root.rglob("*.py"):
        if path.name == "events.py" or "cli" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                built.add(node.func.id)
    assert {t.__name__ for t in get_args(Event)} <= built
