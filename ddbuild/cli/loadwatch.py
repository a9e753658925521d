"""What loading the build file read: environment variables, files opened, directories listed, modules.

The up-to-date stamp (``ddbuild.cli.stamp``) may skip loading the build file only if nothing the
load depended on has changed, so the load is watched:

    os.environ         replaced by a recording subclass for the duration (``os.getenv`` reads it too);
                       a variable read before the file set it is recorded, absent ones as absent
    open / listdir     a process-wide audit hook (``sys.addaudithook``; hooks cannot be removed, so one
                       hook is installed once and forwards to the active watch, if any)
    sys.modules        modules that appeared during the load (their files are re-checked)

Nothing here prints or decides: it returns a ``LoadFacts`` for the stamp writer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ABSENT = None


@dataclass
class LoadFacts:
    """What one load read (absolute paths; env values as read, ``None`` when absent)."""

    env: dict[str, str | None] = field(default_factory=dict)
    env_enumerated: bool = False  # the load iterated os.environ: every variable counts
    opened: set[str] = field(default_factory=set)  # files opened for reading
    listed: set[str] = field(default_factory=set)  # directories listed (not sys.path entries)
    new_modules: list[str] = field(default_factory=list)  # module names imported by the load


class _RecordingEnviron(os._Environ):  # type: ignore[misc,name-defined]
    """``os.environ`` that remembers which variables were read (shares the real storage)."""

    def __init__(self, real: Any, facts: LoadFacts) -> None:
        super().__init__(real._data, real.encodekey, real.decodekey, real.encodevalue, real.decodevalue)
        self._facts = facts
        self._written: set[str] = set()

    def __getitem__(self, key: str) -> str:
        try:
            value = super().__getitem__(key)
        except KeyError:
            self._note(key, ABSENT)
            raise
        self._note(key, value)
        return value

    def _note(self, key: str, value: str | None) -> None:
        # A variable the build file set itself does not depend on the caller's environment.
        if key not in self._written and key not in self._facts.env:
            self._facts.env[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        self._written.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._written.add(key)
        super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        self._facts.env_enumerated = True
        return super().__iter__()


_ACTIVE: list[LoadFacts] = []  # the watches in progress (audit hooks are process-wide)
_HOOKED = False


def _is_read(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return not any(ch in mode for ch in "wax+")
    if isinstance(flags, int):
        return flags & (os.O_WRONLY | os.O_RDWR) == 0
    return True


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _ACTIVE:
        return
    facts = _ACTIVE[-1]
    try:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, (str, os.PathLike)) and _is_read(mode, flags):
                text = os.path.abspath(os.fspath(path))
                if not text.endswith(".pyc"):
                    facts.opened.add(text)
        elif event in ("os.listdir", "os.scandir"):
            path = args[0] if args else None
            if path is None or isinstance(path, (str, os.PathLike)):
                text = os.path.abspath(os.fspath(path) if path is not None else ".")
                if text not in {os.path.abspath(p) for p in sys.path if isinstance(p, str)}:
                    facts.listed.add(text)  # import machinery lists sys.path entries: not a dependency
    except Exception:  # noqa: BLE001 - an audit hook must never break the load it watches
        facts.env_enumerated = True  # could not record precisely: be conservative


@contextmanager
def watch_load() -> Iterator[LoadFacts]:
    """Record what the code run inside the block reads from the environment and the disk."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    facts = LoadFacts()
    before = set(sys.modules)
    real = os.environ
    os.environ = _RecordingEnviron(real, facts)  # noqa: B003 - a wrapper over the same storage, restored below
    _ACTIVE.append(facts)
    try:
        yield facts
    finally:
        _ACTIVE.remove(facts)
        os.environ = real  # noqa: B003
        facts.new_modules = [name for name in list(sys.modules) if name not in before]
