"""Reporters: live display (fake clock), JSON lines, tally of outcomes."""

from __future__ import annotations

import io
import json

from ddbuild.cli.progress import JsonLinesReporter, LiveReporter, TallyReporter, make_reporter
from ddbuild.execution.events import BatchDone, LLMRequestsInFlight, StageFinished, StageStarted, WarningEvent
from ddbuild.planning.plan import Status


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_live_display_rewrites_lines_with_eta_and_in_flight():
    out, clock = io.StringIO(), Clock()
    live = LiveReporter(out, clock=clock, interval=0)
    live.emit(StageStarted("summary", Status.RUN, "ab" * 16, rows_total=100))
    clock.now += 10
    live.emit(BatchDone("summary", 25, 100))
    live.emit(LLMRequestsInFlight("summary", 8))
    text = out.getvalue()
    assert "25/100 rows" in text and "8 requests in flight" in text and "ETA 0:30" in text
    assert "\x1b[1F" in text  # moved up to redraw, not appended
    live.emit(WarningEvent("slow endpoint", stage="summary"))
    live.emit(StageFinished("summary", Status.RUN, "ab" * 16, rows=100, duration_s=40.0))
    assert "slow endpoint" in out.getvalue() and "100 rows  40.0s" in out.getvalue()


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

    assert isinstance(make_reporter(Tty(), json_lines=False, silent=False, verbose=0)[0], LiveReporter)
    assert type(make_reporter(io.StringIO(), json_lines=False, silent=False, verbose=0)[0]).__name__ == "LineReporter"
    assert make_reporter(Tty(), json_lines=False, silent=True, verbose=0)[0] is None
