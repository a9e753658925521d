"""Reporters over build events: plain log lines, JSON lines, a tally; and which one a run gets
(the live terminal display is cli/live.py, loaded only for a terminal)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import singledispatchmethod
from typing import Any, TextIO

from ddbuild.cli.render import BuildSummary, StageOutcome, short_key
from ddbuild.execution.events import (
    EVENT_NAMES,
    BatchDone,
    Event,
    PlanReady,
    Reporter,
    StageFinished,
    StageStarted,
    WarningEvent,
)
from ddbuild.planning.plan import Status

Clock = Callable[[], float]

FINISH_WORDS = {
    Status.HIT: "hit",
    Status.RUN: "ran",
    Status.RESUME: "resumed",
    Status.SKIPPED: "skipped",
    Status.ERROR: "FAILED",
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-able dict for one event: ``{"event": "stage_started", ...fields}``."""
    if isinstance(event, PlanReady):
        return {"event": EVENT_NAMES[PlanReady], "plan": event.plan.to_dict()}
    out: dict[str, Any] = {"event": EVENT_NAMES[type(event)]}
    for key, value in vars(event).items():
        out[key] = value.value if isinstance(value, Status) else value
    return out


def warning_line(event: WarningEvent) -> str:
    return f"warning: {event.text()}"


class Tee:
    """Sends every event to several reporters."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = [r for r in reporters if r is not None]

    def emit(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.emit(event)


@dataclass
class TallyReporter:
    """Collects what happened to each stage, for the summary and the failure report."""

    clock: Clock = time.monotonic
    summaries: list[BuildSummary] = field(default_factory=list)
    rows_done: dict[str, int] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)  # started, not finished (the failing stage)
    _started: float | None = None

    def begin(self, workflow: str) -> BuildSummary:
        summary = BuildSummary(workflow=workflow)
        self.summaries.append(summary)
        self._started = self.clock()
        return summary

    def end(self) -> None:
        if self.summaries and self._started is not None:
            self.summaries[-1].wall_s = self.clock() - self._started

    def _outcome(self, stage: str) -> StageOutcome:
        if not self.summaries:
            self.begin("?")
        summary = self.summaries[-1]
        for outcome in summary.outcomes:
            if outcome.name == stage:
                return outcome
        outcome = StageOutcome(name=stage)
        summary.outcomes.append(outcome)
        return outcome

    @singledispatchmethod
    def emit(self, event: Event) -> None:  # warnings, requests in flight: nothing to tally
        return None

    @emit.register(PlanReady)
    def _on_plan(self, event: PlanReady) -> None:
        for decision in event.plan.stages:
            self._outcome(decision.name).key = decision.key

    @emit.register(StageStarted)
    def _on_started(self, event: StageStarted) -> None:
        self._outcome(event.stage).key = event.key
        self.running.append(event.stage)

    @emit.register(BatchDone)
    def _on_batch(self, event: BatchDone) -> None:
        self.rows_done[event.stage] = event.rows_done

    @emit.register(StageFinished)
    def _on_finished(self, event: StageFinished) -> None:
        outcome = self._outcome(event.stage)
        if event.stage in self.running:
            self.running.remove(event.stage)
        outcome.status, outcome.key, outcome.rows = event.status, event.key or outcome.key, event.rows
        outcome.rows_generated, outcome.duration_s = event.rows_generated, event.duration_s
        for attr in ("llm_requests_sent", "llm_requests_cached", "tokens"):
            if getattr(event, attr) is not None:
                setattr(outcome, attr, getattr(event, attr))
        outcome.dropped_rows = dict(event.dropped_rows)

    def completed(self) -> list[str]:
        """Stages whose output is complete and cached (a skipped stage has none)."""
        ok = (Status.HIT, Status.RUN, Status.RESUME)
        return [o.name for s in self.summaries for o in s.outcomes if o.status in ok]

    def failed(self) -> list[str]:
        """Stages that failed: finished with ERROR, or started and never finished."""
        errors = [o.name for s in self.summaries for o in s.outcomes if o.status is Status.ERROR]
        return errors + [name for name in self.running if name not in errors]


class JsonLinesReporter:
    """One JSON object per line per event (``--json``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def emit(self, event: Event) -> None:
        self.stream.write(json.dumps(event_to_dict(event), default=str) + "\n")
        self.stream.flush()


class LineReporter:
    """Plain log lines for pipes and CI logs; batch progress only with -v."""

    def __init__(self, stream: TextIO, *, verbose: int = 0) -> None:
        self.stream = stream
        self.verbose = verbose

    def _say(self, text: str) -> None:
        self.stream.write(f"ddbuild: {text}\n")
        self.stream.flush()

    @singledispatchmethod
    def emit(self, event: Event) -> None:  # the plan, requests in flight: not logged
        return None

    @emit.register(WarningEvent)
    def _on_warning(self, event: WarningEvent) -> None:
        self._say(warning_line(event))

    @emit.register(StageStarted)
    def _on_started(self, event: StageStarted) -> None:
        total = f", {event.rows_total:,} rows" if event.rows_total else ""
        verb = "resuming" if event.status is Status.RESUME else "running"
        self._say(f"{event.stage}: {verb} (key {short_key(event.key)}{total})")

    @emit.register(BatchDone)
    def _on_batch(self, event: BatchDone) -> None:
        if self.verbose:
            llm = (f"; LLM requests {event.llm_requests_sent:,} sent, {event.llm_requests_cached:,} cached"
                   if event.llm_requests_sent or event.llm_requests_cached else "")
            self._say(f"{event.stage}: {event.rows_done:,}/{event.rows_total:,} rows, "
                      f"batch {event.batches_done:,}/{event.batches_total:,}{llm}")

    @emit.register(StageFinished)
    def _on_finished(self, event: StageFinished) -> None:
        if event.status is Status.HIT and not self.verbose:
            return
        word = FINISH_WORDS.get(event.status, event.status.value)
        rows = f", {event.rows:,} rows" if event.rows is not None else ""
        took = f" in {event.duration_s:.1f}s" if event.status in (Status.RUN, Status.RESUME) else ""
        self._say(f"{event.stage}: {word}{took} (key {short_key(event.key)}{rows})")


def wants_live(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """A live display only on a terminal that can redraw: a TTY, and TERM is not ``dumb``."""
    environ = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and environ.get("TERM", "") != "dumb"


def make_reporter(
    stream: TextIO, *, json_lines: bool, silent: bool, verbose: int, live: bool | None = None
) -> tuple[Reporter | None, Callable[[], None]]:
    """The display reporter for these options (None when silent) and a function to close it.

    The live display (``rich``) is imported only here, only for a terminal: pipes, CI logs, -s
    and --json never load it."""
    if silent:
        return None, lambda: None
    if json_lines:
        return JsonLinesReporter(stream), lambda: None
    if live is None:
        live = wants_live(stream)
    if live:
        from ddbuild.cli.live import LiveReporter

        reporter = LiveReporter(stream)
        return reporter, reporter.close
    return LineReporter(stream, verbose=verbose), lambda: None
