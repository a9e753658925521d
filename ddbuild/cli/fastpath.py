"""The no-op fast path: answer a build, -q, -n or status from an up-to-date stamp, without loading
the build file (so without importing click, pydantic or jinja2).

    argv --parse--> Request | None (not eligible: any option that could change the plan)
         --locate-> build file, cache settings, stamp path
         --check--> stamp.check(...) -> None (serve the recorded output, exit 0) | reason (fall back)

Anything unexpected means "fall back": the normal path then decides, prints and (if the plan is
all hits) writes a fresh stamp. ``--no-fast-path`` or ``DDBUILD_NO_FASTPATH=1`` disable it;
``DDBUILD_DEBUG_FASTPATH=1`` says on stderr when it answered.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ddbuild.cli import stamp

DISABLE_ENV = "DDBUILD_NO_FASTPATH"
DEBUG_ENV = "DDBUILD_DEBUG_FASTPATH"
COMMANDS = ("build", "status", "export", "graph", "cache")  # keep in step with the click tree
_VALUE_OPTIONS = {"-f": "file", "--file": "file", "-C": "directory", "--directory": "directory",
                  "--cache": "cache", "--resume": "resume"}
_FLAGS = {"-s": "silent", "--silent": "silent", "--json": "json_output", "-n": "explain",
          "--explain": "explain", "-q": "question", "--question": "question", "--no-fast-path": "disabled",
          "-v": "verbose", "--verbose": "verbose", "-k": None, "--keep-going": None}


@dataclass
class Request:
    """The few options a fast answer may be given for (every other option: not eligible)."""

    command: str = "build"  # "build" or "status"
    file: str | None = None
    directory: str | None = None
    cache: str | None = None
    resume: str = "if_possible"
    silent: bool = False
    json_output: bool = False
    explain: bool = False
    question: bool = False
    disabled: bool = False
    verbose: int = 0
    targets: tuple[str, ...] = ()


def _short_cluster(arg: str) -> list[str] | None:
    """``-sv`` as ``-s -v`` (click's short-flag clusters), flags only."""
    flags = [f"-{ch}" for ch in arg[1:]]
    return flags if all(f in _FLAGS for f in flags) else None


def parse(argv: list[str]) -> Request | None:
    """The request argv makes, or None when it is anything but a plain build/-q/-n/status."""
    request = Request()
    targets: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if arg.startswith("--") and eq and name in _VALUE_OPTIONS:
            setattr(request, _VALUE_OPTIONS[name], inline)
        elif arg in _VALUE_OPTIONS:
            if not args:
                return None
            setattr(request, _VALUE_OPTIONS[arg], args.pop(0))
        elif arg in _FLAGS or (arg.startswith("-") and not arg.startswith("--") and _short_cluster(arg)):
            for flag in [arg] if arg in _FLAGS else (_short_cluster(arg) or []):
                field = _FLAGS[flag]
                if field == "verbose":
                    request.verbose += 1
                elif field is not None:
                    setattr(request, field, True)
        elif arg.startswith("-"):
            return None  # -B, --rerun-from, --override, --remote, -j, -h, --version, ...
        elif not targets and request.command == "build" and arg in COMMANDS:
            if arg not in ("build", "status"):
                return None
            request.command = arg
        else:
            targets.append(arg)
    request.targets = tuple(targets)
    return request if _consistent(request) else None


def _consistent(request: Request) -> bool:
    if request.resume != "if_possible" or (request.explain and request.question):
        return False
    if request.silent and request.verbose:
        return False
    if request.command == "status" and (request.explain or request.question):
        return False  # status has no -n/-q: click reports the usage error
    return not (request.json_output and request.command == "build" and not request.explain)


def _build_file(request: Request) -> Path | None:
    base = Path(request.directory).expanduser() if request.directory else Path.cwd()
    path = base / Path(request.file).expanduser() if request.file else base / "ddfile.py"
    return path.resolve() if path.name != "ddbuild.py" and path.is_file() else None


def _cache_flag(request: Request) -> str | None:
    """``--cache`` as the normal path types it (Session.cache_flag): absolute, relative to -C."""
    if not request.cache:
        return None
    if "://" in request.cache:
        return request.cache
    base = (Path.cwd() / request.directory).resolve() if request.directory else Path.cwd()
    path = Path(request.cache).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _output(request: Request, recorded: dict[str, str]) -> str:
    if request.question or request.silent:
        return ""
    if request.command == "status":
        return recorded["status_json" if request.json_output else "status"]
    if request.explain:
        if request.json_output:
            return recorded["explain_json"]
        return recorded["explain_verbose" if request.verbose else "explain"]
    return recorded["summary"]


def decide(request: Request, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(output to print, None) when the stamp answers; (None, why not) otherwise."""
    if request.disabled or environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None, "disabled"
    build_file = _build_file(request)
    if build_file is None:
        return None, "no build file"
    cache_flag = _cache_flag(request)
    if cache_flag and "://" in cache_flag:
        return None, "--cache is a URL"
    from ddbuild.settings import resolve_settings

    settings = resolve_settings(build_file.parent, cache=cache_flag)
    if settings.remote:
        return None, "a remote cache is configured"
    recorded = stamp.read(stamp.stamp_path(Path(settings.cache), build_file, request.targets, cache_flag))
    if recorded is None:
        return None, "no up-to-date stamp for these targets yet"
    why = stamp.check(recorded, environ, need_views=request.command == "build" and not request.explain
                      and not request.question)
    if why is not None:
        return None, why
    return _output(request, recorded["outputs"]), None


def try_fast_path(argv: list[str], out: TextIO, err: TextIO) -> int | None:
    """Exit code 0 when the stamp answered (its output already written); None to take the normal path."""
    started = time.perf_counter()
    request = parse(argv)
    if request is None:
        return None
    try:
        text, why = decide(request, os.environ)
    except Exception as exc:  # noqa: BLE001 - never worse than the normal path: fall back
        text, why = None, f"{type(exc).__name__}: {exc}"
    if text is None:
        if request.verbose and why != "disabled":
            err.write(f"ddbuild: fast path skipped: {why}\n")
        return None
    out.write(text)
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        err.write(f"ddbuild: fast path: up to date per stamp ({(time.perf_counter() - started) * 1000:.1f} ms)\n")
    return 0


def main_fast(argv: list[str] | None) -> int | None:
    return try_fast_path(list(sys.argv[1:] if argv is None else argv), sys.stdout, sys.stderr)
