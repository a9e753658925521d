"""Reporters over build events: a live terminal display, plain log lines, JSON lines, a tally."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ddbuild.cli.render import BuildSummary, StageOutcome, short_key
from ddbuild.execution.events import (
    BatchDone,
    Event,
    LLMRequestsInFlight,
    PlanReady,
    Reporter,
    StageFinished,
    StageStarted,
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


def _warning_event(event: Event) -> tuple[str, str | None] | None:
    """(message, stage) for the workflow's warning event, whatever its class is called."""
    if type(event).__name__ in ("WarningEvent", "Warning") and hasattr(event, "message"):
        return str(event.message), getattr(event, "stage", None)
    return None


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-able dict for one event: ``{"event": "stage_started", ...fields}``."""
    name = type(event).__name__
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    if snake == "warning_event":
        snake = "warning"
    if isinstance(event, PlanReady):
        return {"event": "plan_ready", "plan": event.plan.to_dict()}
    out: dict[str, Any] = {"event": snake}
    for key, value in vars(event).items():
        out[key] = value.value if isinstance(value, Status) else value
    return out


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

    def emit(self, event: Event) -> None:
        if isinstance(event, PlanReady):
            for decision in event.plan.stages:
                self._outcome(decision.name).key = decision.key
        elif isinstance(event, StageStarted):
            self._outcome(event.stage).key = event.key
            self.running.append(event.stage)
        elif isinstance(event, BatchDone):
            self.rows_done[event.stage] = event.rows_done
        elif isinstance(event, StageFinished):
            outcome = self._outcome(event.stage)
            if event.stage in self.running:
                self.running.remove(event.stage)
            outcome.status, outcome.key, outcome.rows = event.status, event.key or outcome.key, event.rows
            outcome.rows_generated, outcome.duration_s = event.rows_generated, event.duration_s
            for attr in ("llm_requests_sent", "llm_requests_cached", "tokens"):
                if getattr(event, attr, None) is not None:
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

    def emit(self, event: Event) -> None:
        warning = _warning_event(event)
        if warning is not None:
            message, stage = warning
            self._say(f"warning: {stage + ': ' if stage else ''}{message}")
        elif isinstance(event, StageStarted) and event.status in (Status.RUN, Status.RESUME):
            total = f", {event.rows_total:,} rows" if event.rows_total else ""
            verb = "resuming" if event.status is Status.RESUME else "running"
            self._say(f"{event.stage}: {verb} (key {short_key(event.key)}{total})")
        elif isinstance(event, BatchDone) and self.verbose:
            self._say(f"{event.stage}: {event.rows_done:,}/{event.rows_total:,} rows")
        elif isinstance(event, StageFinished):
            word = FINISH_WORDS.get(event.status, event.status.value)
            rows = f", {event.rows:,} rows" if event.rows is not None else ""
            took = f" in {event.duration_s:.1f}s" if event.status in (Status.RUN, Status.RESUME) else ""
            if event.status is Status.HIT and not self.verbose:
                return
            self._say(f"{event.stage}: {word}{took} (key {short_key(event.key)}{rows})")


@dataclass
class _Row:
    name: str
    state: str = "waiting"
    rows_done: int = 0
    rows_total: int | None = None
    in_flight: int = 0
    started: float | None = None
    finished_line: str | None = None


class LiveReporter:
    """A redrawn block of one line per stage (ANSI cursor movement only; no dependency)."""

    BAR = 16

    def __init__(self, stream: TextIO, *, clock: Clock = time.monotonic, interval: float = 0.1) -> None:
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self.rows: dict[str, _Row] = {}
        self._drawn = 0
        self._last_draw = 0.0
        encoding = (getattr(stream, "encoding", None) or "").lower()
        self.fancy = encoding.replace("-", "") in ("utf8",)

    # -- events ---------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        warning = _warning_event(event)
        force = True
        if isinstance(event, PlanReady):
            for decision in event.plan.stages:
                self.rows.setdefault(decision.name, _Row(decision.name))
        elif isinstance(event, StageStarted):
            row = self.rows.setdefault(event.stage, _Row(event.stage))
            row.state, row.rows_total, row.started = event.status.value, event.rows_total, self.clock()
        elif isinstance(event, BatchDone):
            row = self.rows.setdefault(event.stage, _Row(event.stage))
            row.rows_done, row.rows_total = event.rows_done, event.rows_total
            force = False
        elif isinstance(event, LLMRequestsInFlight):
            self.rows.setdefault(event.stage, _Row(event.stage)).in_flight = event.in_flight
            force = False
        elif isinstance(event, StageFinished):
            row = self.rows.setdefault(event.stage, _Row(event.stage))
            row.state, row.in_flight = "done", 0
            row.finished_line = self._finished(event)
        elif warning is not None:
            self._print_above(f"warning: {warning[1] + ': ' if warning[1] else ''}{warning[0]}")
            return
        self.draw(force=force)

    def close(self) -> None:
        self.draw(force=True)

    # -- drawing --------------------------------------------------------------------------
    def _finished(self, event: StageFinished) -> str:
        mark = {Status.ERROR: "x", Status.HIT: "="}.get(event.status, "+")
        if self.fancy:
            mark = {Status.ERROR: "✗", Status.HIT: "="}.get(event.status, "✓")
        word = FINISH_WORDS.get(event.status, event.status.value)
        rows = f"{event.rows:,} rows" if event.rows is not None else ""
        took = f"  {event.duration_s:.1f}s" if event.status in (Status.RUN, Status.RESUME) else ""
        return f"{mark} {{name}}  {word:<8} {rows}{took}"

    def _bar(self, fraction: float) -> str:
        full = int(round(fraction * self.BAR))
        if self.fancy:
            return "█" * full + "░" * (self.BAR - full)
        return "#" * full + "-" * (self.BAR - full)

    def line(self, row: _Row, width: int) -> str:
        name = row.name.ljust(width)
        if row.finished_line is not None:
            return row.finished_line.replace("{name}", name)
        if row.state == "waiting":
            return f"  {name}  waiting"
        total = row.rows_total or 0
        fraction = min(row.rows_done / total, 1.0) if total else 0.0
        eta = ""
        if row.started is not None and row.rows_done and total:
            rate = row.rows_done / max(self.clock() - row.started, 1e-6)
            eta = f"  ETA {_clock_text((total - row.rows_done) / rate)}"
        flight = f"  {row.in_flight} requests in flight" if row.in_flight else ""
        spin = ">" if not self.fancy else "▸"
        return f"{spin} {name}  {row.state:<8} {self._bar(fraction)} {row.rows_done:,}/{total:,} rows{flight}{eta}"

    def draw(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        width = max((len(n) for n in self.rows), default=0)
        lines = [self.line(row, width) for row in self.rows.values()]
        out = [f"\x1b[{self._drawn}F"] if self._drawn else []
        out += [f"\x1b[2K{line}\n" for line in lines]
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn = len(lines)

    def _print_above(self, text: str) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0
        self.stream.write(text + "\n")
        self.draw(force=True)


def _clock_text(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def make_reporter(
    stream: TextIO, *, json_lines: bool, silent: bool, verbose: int, live: bool | None = None
) -> tuple[Reporter | None, Callable[[], None]]:
    """The display reporter for these options (None when silent) and a function to close it."""
    if silent:
        return None, lambda: None
    if json_lines:
        return JsonLinesReporter(stream), lambda: None
    if live is None:
        live = bool(getattr(stream, "isatty", lambda: False)())
    if live:
        reporter = LiveReporter(stream)
        return reporter, reporter.close
    return LineReporter(stream, verbose=verbose), lambda: None


def reporters(*items: Reporter | None) -> Sequence[Reporter]:
    return [r for r in items if r is not None]
