"""Shell completion of TARGET arguments: the stage names of the build file that -f/-C point at.

click drives completion (``_DDBUILD_COMPLETE=bash_source|zsh_source|fish_source ddbuild`` prints
the script; ``…_complete`` answers one request). This module only supplies the names: it loads the
build file as the CLI would (its output silenced; a file that fails to load completes nothing).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import click
from click.shell_completion import CompletionItem


def _option(ctx: click.Context, name: str) -> Any:
    """An option's value as typed so far, on this command or a parent (``ddbuild -C d build <TAB>``)."""
    current: click.Context | None = ctx
    while current is not None:
        value = current.params.get(name)
        if value:
            return value
        current = current.parent
    return None


def target_names(ctx: click.Context) -> list[str]:
    """Every target spelling of the build file: stages (``wf:stage`` and unique bare names when it
    defines several workflows) and workflow names; [] when it cannot be loaded."""
    from ddbuild.cli.buildfile import load, locate
    from ddbuild.cli.targets import all_targets

    try:
        path = locate(_option(ctx, "file"), _option(ctx, "directory"))
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            os.chdir(path.parent)
            build = load(path)
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []
    names = all_targets(build)
    if len(build.workflows) > 1:
        bare = [s for wf in build.workflows for s in wf.stage_names]
        names += [s for s in dict.fromkeys(bare) if bare.count(s) == 1] + build.workflow_names()
    return list(dict.fromkeys(names))


def complete_targets(
    ctx: click.Context, _param: click.Parameter | None, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(name) for name in target_names(ctx) if name.startswith(incomplete)]
