"""Command-line options shared by the group and its subcommands, and the Options they resolve to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])

RESUME_CHOICES = ("if_possible", "always", "never")


def _apply(options: list[Callable[[F], F]], function: F) -> F:
    for option in reversed(options):
        function = option(function)
    return function


GLOBAL_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("-f", "--file", "file", metavar="FILE", help="Build file (default: ./ddfile.py)."),
    click.option(
        "-C", "--directory", "directory", metavar="DIR", help="Change to DIR before doing anything."
    ),
    # Cache settings are read from the environment and pyproject.toml by ddbuild.settings
    # (one place); the flags here default to None so those sources apply when a flag is absent.
    click.option(
        "--cache",
        metavar="DIR",
        default=None,
        help="Local cache directory [env DDBUILD_CACHE; [tool.ddbuild] cache; default .ddbuild/cache beside the build file].",
    ),
    click.option(
        "--remote",
        metavar="URL|DIR",
        default=None,
        help="Shared cache read through (s3://, gs://, http(s)://, or a directory) [env DDBUILD_REMOTE; [tool.ddbuild] remote].",
    ),
    click.option(
        "--remote-upload",
        is_flag=True,
        default=None,
        help="Also write new entries to --remote [env DDBUILD_REMOTE_UPLOAD=1; [tool.ddbuild] remote_upload].",
    ),
    click.option(
        "--require-signed",
        is_flag=True,
        default=None,
        help="Refuse to start without a key; with one, remote entries and LLM responses not signed by an "
        "accepted key are misses [env DDBUILD_REQUIRE_SIGNED=1; [tool.ddbuild] require_signed; keys from "
        "DDBUILD_SIGNING_KEY, DDBUILD_TRUSTED_KEYS].",
    ),
    click.option("-v", "--verbose", count=True, help="More detail (all reasons, batch logs). Repeatable."),
    click.option("-s", "--silent", is_flag=True, help="Print nothing but errors."),
    click.option(
        "--json", "json_output", is_flag=True, help="Machine-readable output (JSON lines while building)."
    ),
    click.option(
        "--no-fast-path",
        "no_fast_path",
        is_flag=True,
        help="Always load the build file, even when an up-to-date stamp says nothing changed "
        "[env DDBUILD_NO_FASTPATH=1].",
    ),
]

BUILD_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "-n", "--explain", "explain", is_flag=True, help="Dry run: what would build and why, with costs."
    ),
    click.option(
        "-q", "--question", is_flag=True, help="Exit 1 if anything would run, 0 if up to date; print nothing."
    ),
    click.option("-B", "--always-make", is_flag=True, help="Rebuild every stage in the targets' closure."),
    click.option(
        "--rerun-from", metavar="STAGE", help="Rebuild STAGE and every stage downstream of it."
    ),
    click.option(
        "--resume",
        type=click.Choice(RESUME_CHOICES),
        default="if_possible",
        show_default=True,
        help="Reuse hits and partial checkpoints (if_possible), insist on it (always), or generate afresh, sending LLM requests again (never).",
    ),
    click.option(
        "-k", "--keep-going", is_flag=True, help="After a stage fails, keep building what does not need it."
    ),
    click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        metavar="N",
        help="Build up to N independent stages at once (default 1); branches share each model's request budget.",
    ),
    click.option(
        "--executor",
        metavar="local|ray|ray://HOST:PORT",
        default=None,
        help="Where stage batches run: this process (local, the default), a Ray instance or the cluster in "
        "RAY_ADDRESS (ray), or a Ray cluster's client address [env DDBUILD_EXECUTOR; [tool.ddbuild] executor].",
    ),
    click.option(
        "--override",
        "overrides",
        multiple=True,
        metavar="STAGE=PATH",
        help="Use PATH (parquet file or directory) as STAGE's output; downstream rebuilds from it.",
    ),
]


def global_options(function: F) -> F:
    return _apply(GLOBAL_OPTIONS, function)


def build_options(function: F) -> F:
    return _apply(BUILD_OPTIONS, function)


class InheritingCommand(click.Command):
    """A subcommand whose unset options take the value given before the subcommand name.

    ``ddbuild -C dir --cache c export ...`` and ``ddbuild export -C dir ...`` mean the same.
    """

    def invoke(self, ctx: click.Context) -> Any:
        inherit(ctx)
        return super().invoke(ctx)


class InheritingGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        inherit(ctx)
        return super().invoke(ctx)


# Which source wins when the same option is given before and after a subcommand name.
_RANK = {
    ParameterSource.COMMANDLINE: 3,
    ParameterSource.ENVIRONMENT: 2,
    ParameterSource.DEFAULT_MAP: 1,
    ParameterSource.DEFAULT: 0,
    None: 0,
}


def inherit(ctx: click.Context) -> None:
    """Fill this command's options from the enclosing commands: command line beats environment
    beats default; a command-line value given after the subcommand beats one given before."""
    parent = ctx.parent
    while parent is not None:
        for name, value in parent.params.items():
            if name not in ctx.params:
                continue
            mine = _RANK.get(ctx.get_parameter_source(name), 0)
            theirs = _RANK.get(parent.get_parameter_source(name), 0)
            if name == "verbose" and mine == theirs == 3:
                ctx.params[name] = ctx.params[name] + value  # -v before and after the command add up
            elif theirs > mine:
                ctx.params[name] = value
        parent = parent.parent


@dataclass
class Options:
    """Everything the command line said, resolved (relative paths still relative to ``base``)."""

    file: str | None = None
    directory: str | None = None
    cache: str | None = None
    remote: str | None = None
    remote_upload: bool | None = None  # None: not given, env/pyproject/default apply
    require_signed: bool | None = None
    verbose: int = 0
    silent: bool = False
    json_output: bool = False
    no_fast_path: bool = False  # only read by ddbuild.cli.fastpath, before click; accepted here
    explain: bool = False
    question: bool = False
    always_make: bool = False
    rerun_from: str | None = None
    resume: str = "if_possible"
    keep_going: bool = False
    jobs: int | None = None
    executor: str | None = None  # None: env/pyproject/default apply
    overrides: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Options:
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__ and k != "extra"}
        extra = {k: v for k, v in params.items() if k not in cls.__dataclass_fields__}
        if known.get("targets") is not None:
            known["targets"] = tuple(known["targets"])
        return cls(**known, extra=extra)
