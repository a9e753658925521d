"""The click command tree: ``ddbuild [OPTIONS] [TARGET]...`` plus build/export/status/graph/cache."""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem

from ddbuild._version import __version__
from ddbuild.cli.complete import complete_targets
from ddbuild.cli.options import InheritingCommand, InheritingGroup, Options, build_options, global_options

HELP = """Build synthetic datasets the way make builds programs.

Reads ./ddfile.py (-f FILE, -C DIR) and builds the TARGETs (stage names; `workflow:stage` when the
file defines several workflows). No TARGET builds the final stages (those nothing depends on) of
the first workflow. A TARGET named like a command is built with `ddbuild build TARGET`.

\b
Exit status: 0 success; 1 a build failed (or -q: work is pending); 2 usage or config error;
130 interrupted.
"""


# Subcommands imported only when used (or listed): the no-op fast path parses with this tree.
LAZY_COMMANDS = {"cache": ("ddbuild.cli.cache_cmds", "cache_group")}


class TargetGroup(InheritingGroup):
    """A group whose first free argument is a subcommand if it names one, else a build target."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            import importlib

            module, attribute = LAZY_COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.list_commands(ctx) and not args[0].startswith("-"):
            return "build", self.commands["build"], args
        return super().resolve_command(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Subcommands and options as click completes them, and the build file's targets."""
        items = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            return items
        return items + complete_targets(ctx, None, incomplete)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] [TARGET]... | COMMAND [ARGS]...")


def _options(ctx: click.Context, **params: Any) -> Options:
    return Options.from_params({**ctx.params, **params})


def _session(ctx: click.Context, options: Options) -> Any:
    from ddbuild.cli import warnroute
    from ddbuild.cli.session import open_session

    warnroute.for_command(ctx, silent=options.silent)

    root = ctx.find_root()
    commands = tuple(root.command.list_commands(root)) if isinstance(root.command, click.Group) else ()
    return open_session(options, commands)


def _streams() -> Any:
    from ddbuild.cli.build_cmd import Streams

    return Streams.default()


@click.group(
    cls=TargetGroup,
    invoke_without_command=True,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="ddbuild", message="%(prog)s %(version)s")
@global_options
@build_options
@click.pass_context
def cli(ctx: click.Context, **_: object) -> None:
    if ctx.invoked_subcommand is None:
        sub = build_command.make_context("build", [], parent=ctx)
        with sub:
            ctx.exit(build_command.invoke(sub) or 0)


@cli.command("build", cls=InheritingCommand)
@global_options
@build_options
@click.argument("targets", nargs=-1, metavar="[TARGET]...", shell_complete=complete_targets)
@click.pass_context
def build_command(ctx: click.Context, **_: object) -> int:
    """Build TARGETs (the explicit form, for a stage named like a command)."""
    from ddbuild.cli import build_cmd

    options = _options(ctx)
    code = build_cmd.build(_session(ctx, options), _streams())
    ctx.exit(code)
    return code


@cli.command("status", cls=InheritingCommand)
@global_options
@click.option(
    "--resume", type=click.Choice(("if_possible", "always", "never")), default="if_possible", hidden=True
)
@click.argument("targets", nargs=-1, metavar="[TARGET]...", shell_complete=complete_targets)
@click.pass_context
def status_command(ctx: click.Context, **_: object) -> None:
    """Each stage's status and key (the --explain table without reasons)."""
    from ddbuild.cli import build_cmd

    ctx.exit(build_cmd.status(_session(ctx, _options(ctx)), _streams()))


@cli.command("export", cls=InheritingCommand)
@global_options
@click.argument("target")
@click.argument("path")
@click.option(
    "--format", "fmt", type=click.Choice(("jsonl", "csv", "parquet")), help="Default: from PATH's suffix."
)
@click.pass_context
def export_command(ctx: click.Context, target: str, path: str, fmt: str | None, **_: object) -> None:
    """Write TARGET's built output to PATH (builds nothing)."""
    from ddbuild.cli import inspect_cmds

    options = _options(ctx)
    ctx.exit(inspect_cmds.export(_session(ctx, options), target, path, fmt, _streams()))


@cli.command("report", cls=InheritingCommand)
@global_options
@click.option(
    "--resume", type=click.Choice(("if_possible", "always", "never")), default="if_possible", hidden=True
)
@click.option("-o", "--output", "output", metavar="PATH", default="report.html", show_default=True,
              help="Where to write the page.")
@click.argument("targets", nargs=-1, metavar="[TARGET]...", shell_complete=complete_targets)
@click.pass_context
def report_command(ctx: click.Context, output: str, **_: object) -> None:
    """Write one self-contained HTML page: the stage graph coloured by state, each stage's rows,
    LLM requests and tokens, and a per-column analysis of the TARGETs' output (builds nothing)."""
    from ddbuild.cli import report_cmd

    ctx.exit(report_cmd.report(_session(ctx, _options(ctx)), output, _streams()))


@cli.command("graph", cls=InheritingCommand)
@global_options
@click.option(
    "--format", "fmt", type=click.Choice(("text", "mermaid", "dot")), default="text", show_default=True
)
@click.argument("targets", nargs=-1, metavar="[WORKFLOW|TARGET]...")
@click.pass_context
def graph_command(ctx: click.Context, fmt: str, **_: object) -> None:
    """The stage graph of each workflow (text, Mermaid or Graphviz dot)."""
    from ddbuild.cli import inspect_cmds

    ctx.exit(inspect_cmds.graph(_session(ctx, _options(ctx)), fmt, _streams()))
