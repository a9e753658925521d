"""The ``ddbuild`` command: ``main`` runs the click tree and turns exceptions into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

INTERRUPTED = 130


def format_error(error: BaseException) -> str:
    """``ddbuild: error: <headline>`` plus the hint on its own line."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    hint = getattr(error, "hint", None)
    text = f"ddbuild: error: {message}"
    if hint:
        text += f"\n  hint: {hint}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point. Exit codes come from the exception classes (``exit_code``).

    A no-op (nothing changed since an all-hit plan of the same targets) is answered from the
    up-to-date stamp before click or the build file is imported: see ``ddbuild.cli.fastpath``."""
    from ddbuild.cli.fastpath import main_fast

    served = main_fast(argv)
    if served is not None:
        return served
    import click

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
    except click.exceptions.Abort:
        sys.stderr.write("\nddbuild: interrupted.\n")
        return INTERRUPTED
    except DDBuildError as error:
        sys.stderr.write(format_error(error) + "\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("\nddbuild: interrupted. Finished work is kept; run again to resume.\n")
        return INTERRUPTED
    except OSError as error:  # a full disk outside the write helpers (which name their path)
        from ddbuild.errors import disk_full_error

        full = disk_full_error(error, "?")
        if full is None:
            raise
        sys.stderr.write(format_error(full) + "\n")
        return full.exit_code
    return code if isinstance(code, int) else 0


__all__ = ["main"]
