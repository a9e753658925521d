"""The no-op fast path: answer a build, -q, -n or status from an up-to-date stamp, without loading
the build file (so without importing pydantic or jinja2).

    argv --parse--> Request | None (click's own tree parses it; not eligible: any option that
                    could change the plan, --help/--version, a usage error, shell completion)
         --locate-> build file, cache settings, stamp path
         --check--> stamp.check(...) -> None (serve the recorded output, exit 0) | reason (fall back)

Anything unexpected means "fall back": the normal path then decides, prints and (if the plan is
all hits) writes a fresh stamp. ``--no-fast-path`` or ``DDBUILD_NO_FASTPATH=1`` disable it;
``DDBUILD_DEBUG_FASTPATH=1`` says on stderr when it answered; ``=only`` exits 3 instead of falling
back (tests: "would the stamp answer this?" without paying for the normal path).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import click
from click.core import ParameterSource

from ddbuild.cli import stamp
from ddbuild.cli.options import Options

DISABLE_ENV = "DDBUILD_NO_FASTPATH"
DEBUG_ENV = "DDBUILD_DEBUG_FASTPATH"
# click's shell completion (``_DDBUILD_COMPLETE=bash_source ddbuild``): never answered from a stamp.
COMPLETE_ENV = "_DDBUILD_COMPLETE"
# DDBUILD_DEBUG_FASTPATH=only: answer from the stamp or exit with this code, never load the build
# file (the differential tests ask "would the fast path answer?" without paying for the normal path).
NOT_ANSWERED = 3
FAST_COMMANDS = ("build", "status")


@dataclass
class Request:
    """A command line the fast path may answer: ``build`` or ``status`` with the Options click parsed."""

    command: str
    options: Options


def _eager_given(argv: list[str]) -> bool:
    """True when argv asks for an eager option (--help, --version) anywhere in the command path.

    Parsed resiliently (no callback runs, nothing is printed), the way click's completion walks it."""
    from ddbuild.cli.app import cli

    with cli.make_context("ddbuild", list(argv), resilient_parsing=True) as ctx:
        contexts = [ctx]
        args = [*ctx._protected_args, *ctx.args]
        if args:
            name, command, rest = cli.resolve_command(ctx, args)
            if command is not None:
                contexts.append(command.make_context(name, rest, parent=ctx, resilient_parsing=True))
    return any(
        param.is_eager and not param.expose_value
        and c.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE
        for c in contexts for param in c.command.get_params(c)
    )


def parse(argv: list[str]) -> Request | None:
    """The request argv makes, parsed by the real click tree (``ddbuild.cli.app.cli``) exactly as the
    normal path will parse it; None when it is anything but a plain build/-q/-n/status, or invalid
    (the normal path then reports the usage error)."""
    from ddbuild.cli.app import cli
    from ddbuild.cli.options import inherit

    try:
        if _eager_given(argv):
            return None
        with cli.make_context("ddbuild", list(argv)) as ctx:
            args = [*ctx._protected_args, *ctx.args]
            name, command, rest = cli.resolve_command(ctx, args) if args else ("build", cli.commands["build"], [])
            if name not in FAST_COMMANDS or command is None:
                return None
            sub = command.make_context(name, rest, parent=ctx)
            inherit(sub)  # what InheritingCommand.invoke does: options given before the command name
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        return None
    request = Request(name, Options.from_params(sub.params))
    return request if _plain(request) else None


def _plain(request: Request) -> bool:
    """Options under which the stamp's recorded answer is the normal path's answer."""
    o = request.options
    if o.always_make or o.rerun_from or o.overrides or o.resume != "if_possible" or o.jobs is not None:
        return False  # options that change the plan
    if o.remote or o.remote_upload is not None or o.require_signed is not None or o.extra:
        return False
    if (o.explain and o.question) or (o.silent and o.verbose):
        return False  # usage errors: the normal path reports them
    return not (o.json_output and request.command == "build" and not o.explain)  # JSON-lines build events


def _build_file(options: Options) -> Path | None:
    base = Path(options.directory).expanduser() if options.directory else Path.cwd()
    path = base / Path(options.file).expanduser() if options.file else base / "ddfile.py"
    return path.resolve() if path.name != "ddbuild.py" and path.is_file() else None


def _cache_flag(options: Options) -> str | None:
    """``--cache`` as the normal path types it (Session.cache_flag): absolute, relative to -C."""
    if not options.cache:
        return None
    if "://" in options.cache:
        return options.cache
    base = (Path.cwd() / options.directory).resolve() if options.directory else Path.cwd()
    path = Path(options.cache).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _output(request: Request, recorded: dict[str, str]) -> str:
    o = request.options
    if o.question or o.silent:
        return ""
    if request.command == "status":
        return recorded["status_json" if o.json_output else "status"]
    if o.explain:
        if o.json_output:
            return recorded["explain_json"]
        return recorded["explain_verbose" if o.verbose else "explain"]
    return recorded["summary"]


def decide(request: Request, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(output to print, None) when the stamp answers; (None, why not) otherwise."""
    o = request.options
    if o.no_fast_path or environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None, "disabled"
    build_file = _build_file(o)
    if build_file is None:
        return None, "no build file"
    cache_flag = _cache_flag(o)
    if cache_flag and "://" in cache_flag:
        return None, "--cache is a URL"
    from ddbuild.settings import resolve_settings

    settings = resolve_settings(build_file.parent, cache=cache_flag)
    if settings.remote:
        return None, "a remote cache is configured"
    recorded = stamp.read(stamp.stamp_path(Path(settings.cache), build_file, o.targets, cache_flag))
    if recorded is None:
        return None, "no up-to-date stamp for these targets yet"
    why = stamp.check(recorded, environ, need_views=request.command == "build" and not o.explain
                      and not o.question)
    if why is not None:
        return None, why
    return _output(request, recorded["outputs"]), None


def try_fast_path(argv: list[str], out: TextIO, err: TextIO, environ: Mapping[str, str]) -> int | None:
    """Exit code 0 when the stamp answered (its output already written); None to take the normal path
    (or ``NOT_ANSWERED`` under ``DDBUILD_DEBUG_FASTPATH=only``)."""
    started = time.perf_counter()
    debug = environ.get(DEBUG_ENV, "")
    if environ.get(COMPLETE_ENV):
        return None  # click's shell completion, handled by the normal path
    request = parse(argv)
    text: str | None
    why: str | None
    if request is None:
        text, why = None, "not a plain build, -q, -n or status"
    else:
        try:
            text, why = decide(request, environ)
        except Exception as exc:  # noqa: BLE001 - never worse than the normal path: fall back
            text, why = None, f"{type(exc).__name__}: {exc}"
    if text is None:
        if debug == "only":
            err.write(f"ddbuild: fast path skipped: {why}\n")
            return NOT_ANSWERED
        if request is not None and request.options.verbose and why != "disabled":
            err.write(f"ddbuild: fast path skipped: {why}\n")
        return None
    out.write(text)
    if debug not in ("", "0"):
        err.write(f"ddbuild: fast path: up to date per stamp ({(time.perf_counter() - started) * 1000:.1f} ms)\n")
    return 0


def main_fast(argv: Sequence[str] | None) -> int | None:
    return try_fast_path(list(sys.argv[1:] if argv is None else argv), sys.stdout, sys.stderr, os.environ)
