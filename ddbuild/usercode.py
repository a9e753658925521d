"""Calling user code (custom columns, on_success, join callables): what it raises names it.

Exits and interrupts it raises become errors naming it; only a real Ctrl-C of the process stays a
KeyboardInterrupt.

``raise SystemExit`` in a custom column used to end the whole build with exit status 0 and nothing
built. User code is a function of the config, so anything it raises, ``BaseException`` included,
is a failure of that column or callback. A real Ctrl-C is told apart from ``raise
KeyboardInterrupt`` by counting SIGINTs: the first call from the main thread chains a counting
handler in front of Python's default one (same behaviour: it raises KeyboardInterrupt). Signals
only ever reach the main thread, so a KeyboardInterrupt in a worker thread is never a real one.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from ddbuild.errors import DDBuildError, GenerationError

_T = TypeVar("_T")

_sigints = 0
_installed = False


def _count_sigint(signum: int, frame: Any) -> None:
    global _sigints
    _sigints += 1
    signal.default_int_handler(signum, frame)


def interrupts() -> int:
    """SIGINTs received so far (take it before calling user code; pass it to ``reraise``)."""
    global _installed
    if not _installed and threading.current_thread() is threading.main_thread():
        _installed = True
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _count_sigint)
    return _sigints


def _real_interrupt(exc: BaseException, before: int) -> bool:
    if not isinstance(exc, KeyboardInterrupt) or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not _count_sigint:
        return True  # someone else handles SIGINT: we cannot tell, so honour it
    return _sigints > before


def reraise(exc: BaseException, what: str, before: int) -> NoReturn:
    """From ``except BaseException`` around user code: a real Ctrl-C propagates, anything else that
    is not an ``Exception`` (SystemExit, KeyboardInterrupt, GeneratorExit, ...) is a GenerationError
    naming ``what`` (e.g. "Column 'x': custom generator f")."""
    if isinstance(exc, Exception) or _real_interrupt(exc, before):
        raise exc
    detail = f"{type(exc).__name__}({', '.join(repr(a) for a in exc.args)})"
    raise GenerationError(
        f"{what} raised {detail}.",
        hint="User code must return or raise an Exception; it may not exit or interrupt the build.",
    ) from exc


def call_user(function: Callable[..., _T], what: str, *args: object) -> _T:
    """``function(*args)``: a DDBuildError passes, any other Exception is a GenerationError naming
    ``what`` (its cause chained), and BaseExceptions follow ``reraise``."""
    before = interrupts()
    try:
        return function(*args)
    except DDBuildError:
        raise
    except Exception as exc:
        raise GenerationError(f"{what} raised {type(exc).__name__}: {exc}") from exc
    except BaseException as exc:
        reraise(exc, what, before)
