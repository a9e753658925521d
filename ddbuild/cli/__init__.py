"""The ``ddbuild`` command: ``main`` runs the click tree and turns exceptions into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click  # the fast path parses argv with the click tree too, so this costs nothing extra

INTERRUPTED = 130
INTERRUPTED_MESSAGE = "ddbuild: interrupted. Finished stages and batches are kept; run the same command to resume."


def headline(error: BaseException) -> str:
    """An error's one-line message: a DDBuildError's headline, else ``str(error)``, else its class name."""
    return getattr(error, "message", None) or str(error) or type(error).__name__


def format_error(error: BaseException, where: str = "error") -> str:
    """The one way the CLI prints an error: ``ddbuild: <where>: <headline>``, the hint on its own line.

    ``where`` says what failed: ``error`` for a command, ``build of W failed at stage 'S'`` for a build."""
    text = f"ddbuild: {where}: {headline(error)}"
    hint = getattr(error, "hint", None)
    return f"{text}\n  hint: {hint}" if hint else text


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point. Exit codes come from the exception classes (``exit_code``); Ctrl-C,
    wherever it lands, is handled here only: the build has already closed its display (``finally``),
    finished stages and batches are in the cache, and the exit status is 130."""
    try:
        return _main(argv)
    except (KeyboardInterrupt, click.exceptions.Abort) as interrupt:
        # Inside its tree click turns Ctrl-C into Abort after ending the "^C" line; elsewhere we end it.
        newline = "" if isinstance(interrupt, click.exceptions.Abort) else "\n"
        sys.stderr.write(f"{newline}{INTERRUPTED_MESSAGE}\n")
        return INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    """A no-op (nothing changed since an all-hit plan of the same targets) is answered from the
    up-to-date stamp before click or the build file is imported: see ``ddbuild.cli.fastpath``."""
    from ddbuild.cli.fastpath import main_fast

    served = main_fast(argv)
    if served is not None:
        return served
    from ddbuild.cli.app import cli
    from ddbuild.errors import DDBuildError

    try:
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="ddbuild", standalone_mode=False
        )
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except DDBuildError as error:
        sys.stderr.write(format_error(error) + "\n")
        return error.exit_code
    except OSError as error:  # a full disk outside the write helpers (which name their path)
        from ddbuild.errors import disk_full_error

        full = disk_full_error(error, "?")
        if full is None:
            raise
        sys.stderr.write(format_error(full) + "\n")
        return full.exit_code
    return code if isinstance(code, int) else 0


__all__ = ["main"]
