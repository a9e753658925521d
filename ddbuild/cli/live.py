"""The live terminal display of a build: one line per stage, redrawn in place (``rich``).

Loaded only when progress goes to a terminal (cli/progress.py decides; pipes, CI logs, ``-s``
and ``--json`` never import this module or rich). rich does the terminal work: redrawing, the
width (long lines are cut, not wrapped), ``NO_COLOR``, and printing warnings and anything the
build writes to stdout/stderr above the display. A stage line reads::

    ✓ customers  ran      300 rows  0.4s
    ⠋ summary    run      ██████░░░░░░░░░░ 120/300 rows  8 requests in flight  ETA 0:42
      answers    waiting
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import singledispatchmethod
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ddbuild.cli.progress import FINISH_WORDS, warning_line
from ddbuild.execution.events import (
    BatchDone,
    Event,
    LLMRequestsInFlight,
    PlanReady,
    StageFinished,
    StageStarted,
    WarningEvent,
)
from ddbuild.planning.plan import Status

BAR = 16
FINISH_MARKS = {Status.ERROR: ("✗", "x", "red"), Status.HIT: ("=", "=", "dim"), Status.SKIPPED: ("-", "-", "dim")}
DONE_MARK = ("✓", "+", "green")


@dataclass
class _Row:
    name: str
    state: str = "waiting"
    rows_done: int = 0
    rows_total: int | None = None
    in_flight: int = 0
    started: float | None = None
    finished: StageFinished | None = None
    spinner: Spinner = field(default_factory=lambda: Spinner("dots", style="cyan"))


class LiveReporter:
    """Stage lines kept in a ``rich.live.Live``; events update them, rich redraws a few times a second."""

    def __init__(
        self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic, console: Console | None = None,
        refresh_per_second: float = 8,
    ) -> None:
        self.console = console or Console(file=stream, highlight=False, soft_wrap=False)
        self.clock = clock
        self.rows: dict[str, _Row] = {}
        self.fancy = (self.console.encoding or "").lower().replace("-", "") == "utf8"
        self._lock = threading.Lock()  # events arrive on the build's thread; rich redraws on its own
        self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=refresh_per_second,
                          transient=False)
        self._live.start()
        self._closed = False

    # -- events ---------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if isinstance(event, WarningEvent):  # printed above the display (never under the lock:
            self._print(event)                 # rich's redraw takes it to read the rows)
            return
        with self._lock:
            self._apply(event)
        if isinstance(event, (StageStarted, StageFinished)):
            self._live.refresh()

    def _print(self, event: WarningEvent) -> None:
        self.console.print(Text(warning_line(event), style="yellow"), overflow="fold")

    @singledispatchmethod
    def _apply(self, event: Event) -> None:  # the stage lines' state, updated by event type
        return None

    @_apply.register(PlanReady)
    def _on_plan(self, event: PlanReady) -> None:
        for decision in event.plan.stages:
            self._row(decision.name)

    @_apply.register(StageStarted)
    def _on_started(self, event: StageStarted) -> None:
        row = self._row(event.stage)
        row.state, row.rows_total, row.started = event.status.value, event.rows_total, self.clock()

    @_apply.register(BatchDone)
    def _on_batch(self, event: BatchDone) -> None:
        row = self._row(event.stage)
        row.rows_done, row.rows_total = event.rows_done, event.rows_total

    @_apply.register(LLMRequestsInFlight)
    def _on_in_flight(self, event: LLMRequestsInFlight) -> None:
        self._row(event.stage).in_flight = event.in_flight

    @_apply.register(StageFinished)
    def _on_finished(self, event: StageFinished) -> None:
        row = self._row(event.stage)
        row.state, row.in_flight, row.finished = "done", 0, event

    def _row(self, name: str) -> _Row:
        return self.rows.setdefault(name, _Row(name))

    def close(self) -> None:
        """Draw the final state and leave it on screen (idempotent: also called on Ctrl-C)."""
        if not self._closed:
            self._closed = True
            self._live.stop()

    # -- drawing --------------------------------------------------------------------------
    def render(self) -> Table:
        grid = Table.grid(padding=(0, 1), expand=True)  # the terminal's width: the last column gives way
        grid.add_column(no_wrap=True)  # mark or spinner
        grid.add_column(no_wrap=True)  # stage name
        grid.add_column(no_wrap=True, min_width=8)  # state
        grid.add_column(no_wrap=True, overflow="ellipsis", ratio=1)  # bar, rows, requests, ETA: cut to fit
        with self._lock:
            for row in self.rows.values():
                grid.add_row(*self._cells(row))
        return grid

    def _cells(self, row: _Row) -> tuple[Any, Text, Text, Text]:
        name = Text(row.name, style="bold")
        if row.finished is not None:
            return self._finished_cells(row.finished, name)
        if row.state == "waiting":
            return Text(" "), name, Text("waiting", style="dim"), Text("")
        total = row.rows_total or 0
        fraction = min(row.rows_done / total, 1.0) if total else 0.0
        detail = Text.assemble(self._bar(fraction), f" {row.rows_done:,}/{total:,} rows")
        if row.in_flight:
            detail.append(f"  {row.in_flight} requests in flight")
        if row.started is not None and row.rows_done and total:
            rate = row.rows_done / max(self.clock() - row.started, 1e-6)
            detail.append(f"  ETA {_clock_text((total - row.rows_done) / rate)}")
        mark: Any = row.spinner if self.fancy else Text(">")
        return mark, name, Text(row.state, style="cyan"), detail

    def _finished_cells(self, event: StageFinished, name: Text) -> tuple[Text, Text, Text, Text]:
        fancy, plain, style = FINISH_MARKS.get(event.status, DONE_MARK)
        word = FINISH_WORDS.get(event.status, event.status.value)
        detail = Text(f"{event.rows:,} rows" if event.rows is not None else "")
        if event.status in (Status.RUN, Status.RESUME):
            detail.append(f"  {event.duration_s:.1f}s")
        return Text(fancy if self.fancy else plain, style=style), name, Text(word, style=style), detail

    def _bar(self, fraction: float) -> Text:
        full = int(round(fraction * BAR))
        done, todo = ("█", "░") if self.fancy else ("#", "-")
        return Text.assemble((done * full, "green"), (todo * (BAR - full), "dim"))


def _clock_text(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
