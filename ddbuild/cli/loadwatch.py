"""What loading the build file read: environment variables, files opened or stat'ed, directories
listed, modules, the module search path; and whether it did anything the stamp cannot observe.

The up-to-date stamp (``ddbuild.cli.stamp``) may skip loading the build file only if nothing the
load depended on has changed, so the load is watched:

    os.environ         replaced by a recording subclass for the duration (``os.getenv`` reads it too);
                       a variable read before the file set it is recorded, absent ones as absent
    open / listdir     a process-wide audit hook (``sys.addaudithook``; hooks cannot be removed, so one
                       hook is installed once and forwards to the active watch, if any)
    os.stat / lstat    wrapped for the duration: ``Path.exists()``, ``os.path.isfile()`` ... (existence
                       probes; the import system calls ``posix.stat`` directly and is not recorded)
    sys.modules        modules that appeared during the load (their files are re-checked)
    sys.path           as it was before the load, and the names in each of its directories (a new
                       or upgraded package, a module that now shadows another)
    opaque             reasons the load cannot be trusted to repeat: ``ddbuild.cli.opaque``

Every signature (file bytes, stat, listing) is taken when the load ends, not when a stamp is
written after a long build: a file edited during the build must not look "as loaded".
Nothing here prints or decides: it returns a ``LoadFacts`` for the stamp writer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddbuild.cli import opaque, stamp

ABSENT = None


@dataclass
class LoadFacts:
    """What one load read (absolute paths; env values as read, ``None`` when absent), with signatures."""

    env: dict[str, str | None] = field(default_factory=dict)
    env_enumerated: bool = False  # the load iterated os.environ: every variable counts
    opened: dict[str, Any] = field(default_factory=dict)  # files opened for reading -> stat signature
    listed: dict[str, Any] = field(default_factory=dict)  # directories listed (not sys.path) -> names digest
    probed: dict[str, Any] = field(default_factory=dict)  # paths stat'ed -> stamp.probe_sig
    new_modules: list[str] = field(default_factory=list)  # module names imported by the load
    build_file: str | None = None  # xxh3 of the build file's bytes as loaded
    local_modules: dict[str, Any] = field(default_factory=dict)  # project-local module files -> xxh3
    module_files: dict[str, Any] = field(default_factory=dict)  # other new modules' files -> stat
    sys_path: list[str] = field(default_factory=list)  # sys.path before the load
    path_listings: dict[str, Any] = field(default_factory=dict)  # sys.path dirs + build dir -> names digest
    opaque: list[str] = field(default_factory=list)  # why this load cannot be trusted to repeat

    # raw observations, turned into signatures when the load ends
    _opened: set[str] = field(default_factory=set, repr=False)
    _listed: set[str] = field(default_factory=set, repr=False)
    _probed: set[str] = field(default_factory=set, repr=False)
    _events: list[str] = field(default_factory=list, repr=False)


class _RecordingEnviron(os._Environ):
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
                    facts._opened.add(text)
        elif event in ("os.listdir", "os.scandir"):
            path = args[0] if args else None
            if path is None or isinstance(path, (str, os.PathLike)):
                facts._listed.add(os.path.abspath(os.fspath(path) if path is not None else "."))
        else:
            reason = opaque.event_reason(event)
            if reason and reason not in facts._events:
                facts._events.append(reason)
    except Exception:  # noqa: BLE001 - an audit hook must never break the load it watches
        facts.env_enumerated = True  # could not record precisely: be conservative


def _recording(real: Any, facts: LoadFacts) -> Any:
    """``os.stat`` / ``os.lstat`` that remember the paths asked about (existence probes)."""

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(path, (str, bytes, os.PathLike)):
            try:
                facts._probed.add(os.path.abspath(os.fsdecode(path)))
            except Exception:  # noqa: BLE001 - never break the load
                facts.env_enumerated = True
        return real(path, *args, **kwargs)

    return stat


def _stdlib_dirs() -> set[str]:
    lib = os.path.dirname(os.__file__)
    return {lib, os.path.join(lib, "lib-dynload")}


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _finish(facts: LoadFacts, build_file: Path, sys_path: list[str], before: set[str]) -> None:
    """Turn the raw observations into signatures (now: the end of the load) and scan for opaque reads."""
    build_dir = os.path.realpath(build_file.parent)
    facts.new_modules = [name for name in list(sys.modules) if name not in before]
    facts.sys_path = sys_path
    stdlib = _stdlib_dirs()
    packages = {sys.prefix, sys.base_prefix, *(p for p in sys_path if "site-packages" in p)}  # a venv in the project
    dirs = [os.path.abspath(p or ".") for p in sys_path if isinstance(p, str)]
    for directory in [*dirs, build_dir]:
        if directory not in stdlib and os.path.isdir(directory):
            facts.path_listings[directory] = stamp.import_names(directory)
    sources = {str(build_file): build_file.name}
    for name in facts.new_modules:
        file = getattr(sys.modules.get(name), "__file__", None)
        if not isinstance(file, str) or not os.path.isfile(file):
            continue
        real = os.path.realpath(file)
        if any(_under(real, d) for d in stdlib):
            continue  # the standard library changes only with Python (the stamp records its version)
        if _under(real, build_dir) and not any(_under(real, p) for p in packages):
            facts.local_modules[real] = stamp.file_digest(real)
            sources[real] = os.path.relpath(real, build_dir)
        else:
            facts.module_files[real] = stamp.stat_sig(real)
    facts.build_file = stamp.file_digest(build_file)
    modules = set(facts.local_modules) | set(facts.module_files)
    facts.opened = {p: stamp.stat_sig(p) for p in sorted(facts._opened) if p not in modules}
    # The import system lists sys.path entries and packages' directories: not a dependency.
    packages_dirs = {os.path.abspath(p) for m in list(sys.modules.values())
                     for p in (getattr(m, "__path__", None) or []) if isinstance(p, str)}
    listed = facts._listed - set(dirs) - packages_dirs
    facts.listed = {d: stamp.listing_digest(d) for d in sorted(listed)}
    facts.probed = {p: stamp.probe_sig(p) for p in sorted(facts._probed - facts._opened - modules)}
    for path, shown in sources.items():
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            facts.opaque.append(f"{shown} could not be read for its imports")
            continue
        facts.opaque += [r for r in opaque.scan_source(text, shown) if r not in facts.opaque]
    facts.opaque += [r for r in opaque.new_module_reasons(facts.new_modules) + facts._events if r not in facts.opaque]


@contextmanager
def watch_load(build_file: Path) -> Iterator[LoadFacts]:
    """Record what the code run inside the block (the import of ``build_file``) reads."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    facts = LoadFacts()
    before = set(sys.modules)
    sys_path = stamp.search_path(sys.path)
    real = os.environ
    real_stat, real_lstat = os.stat, os.lstat
    os.environ = _RecordingEnviron(real, facts)  # noqa: B003 - a wrapper over the same storage, restored below
    os.stat, os.lstat = _recording(real_stat, facts), _recording(real_lstat, facts)
    _ACTIVE.append(facts)
    try:
        yield facts
    finally:
        _ACTIVE.remove(facts)
        os.environ = real  # noqa: B003
        os.stat, os.lstat = real_stat, real_lstat
        try:
            _finish(facts, build_file, sys_path, before)
        except Exception as exc:  # noqa: BLE001 - recording must never fail the load; but then no stamp
            facts.opaque.append(f"what loading read could not be recorded ({type(exc).__name__}: {exc})")
