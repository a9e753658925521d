"""Where ddbuild's warnings go during a CLI command: to one reporter, as WarningEvents.

Lower layers log warnings to the ``ddbuild`` logger (store, engine, analysis); the execution
layer emits them as events; code run by a build may call ``warnings.warn``. For the length of a
command all three reach the command's reporter, so ``-s`` silences them, plain output prints
``ddbuild: warning: ...`` on stderr and a ``--json`` build carries ``{"event": "warning", ...}``
lines. Outside a command (library use) logging is left as it is.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ddbuild.execution.events import Reporter, SerialReporter, WarningEvent

if TYPE_CHECKING:
    import click

LOGGERS = ("ddbuild",)


class _ToReporter(logging.Handler):
    """Turns each warning record into a WarningEvent on the current sink (None: dropped)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.sink: Reporter | None = None

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock: the sink serialises
        if record.levelno >= self.level and self.filter(record):
            self.emit(record)
            return True
        return False

    def emit(self, record: logging.LogRecord) -> None:
        if self.sink is not None:
            self.sink.emit(WarningEvent(record.getMessage(), stage=getattr(record, "stage", None)))


_HANDLER = _ToReporter()
_installed: list[tuple[Any, list[tuple[logging.Logger, bool]]]] = []  # (showwarning, propagate flags) per depth


def _showwarning(message: Any, category: type[Warning], filename: str, lineno: int, *_: Any, **__: Any) -> None:
    if _HANDLER.sink is not None:
        _HANDLER.sink.emit(WarningEvent(f"{category.__name__}: {message} ({filename}:{lineno})"))


@contextmanager
def routed_warnings(sink: Reporter | None) -> Iterator[None]:
    """While inside, ddbuild's warnings go to ``sink`` only (None: nowhere). Nests: the innermost
    sink wins until it exits. The sink must accept events from any thread (``SerialReporter``)."""
    previous = _HANDLER.sink
    if not _installed:
        loggers = [logging.getLogger(name) for name in LOGGERS]
        _installed.append((warnings.showwarning, [(logger, logger.propagate) for logger in loggers]))
        for logger in loggers:
            logger.addHandler(_HANDLER)
            logger.propagate = False  # not also to the root logger's (or logging's last-resort) handler
        warnings.showwarning = _showwarning
    else:
        _installed.append(_installed[-1])
    _HANDLER.sink = sink
    try:
        yield
    finally:
        _HANDLER.sink = previous
        showwarning, flags = _installed.pop()
        if not _installed:
            warnings.showwarning = showwarning
            for logger, propagate in flags:
                logger.removeHandler(_HANDLER)
                logger.propagate = propagate


def for_command(ctx: click.Context, *, silent: bool) -> None:
    """Route warnings until ``ctx`` (a command) ends: plain lines on stderr (-s: nowhere). A build
    routes them into its own display for its length (cli/build_cmd.py)."""
    import sys

    from ddbuild.cli.progress import LineReporter

    ctx.with_resource(routed_warnings(None if silent else SerialReporter(LineReporter(sys.stderr))))
