"""The one exception tree of ddbuild, with the CLI exit code carried by each class.

    DDBuildError (exit 1)                    base of everything ddbuild raises on purpose
    ├── ConfigError (exit 2)                 a config, builder or parameter is invalid
    │   ├── ColumnReferenceError             a template names a column that does not exist
    │   ├── SeedError                        a seed source is missing, empty or unreadable
    │   ├── ModelConfigError                 model aliases, providers, API key variables
    │   └── WorkflowError                    add_stage / run arguments (Data Designer's name)
    │       └── TargetError                  unknown target / rerun_from / override stage
    ├── TemplateError (exit 2)               a Jinja2 template fails to parse or escapes the sandbox
    │   └── TemplateLimitError               a template built too much or rendered too long
    ├── UsageError (exit 2)                  bad command line or build file
    │   └── BuildOnLoadError                 a build file runs/creates/previews while ddbuild loads it
    ├── GenerationError (exit 1)             a stage failed while generating data
    │   ├── EarlyShutdownError               too many rows failed; carries one failing request
    │   ├── RowsLostError                    rows got no reply (5xx, 429, timeouts) after the retries
    │   └── LLMRequestError                  one request failed for good (status, body excerpt)
    ├── StagesFailed (exit 1)                keep-going build: lists every failed stage and what it skipped
    ├── ResumeError (exit 1)                 resume=ALWAYS cannot reuse, digests disagree
    ├── StoreError (exit 1)                  the cache or a remote could not be read or written
    │   ├── IntegrityError                   a blob or entry failed verification or signature
    │   └── DiskFullError                    no space (or quota) left writing a named path
    └── ArtifactError (exit 1)               an artifact to load/export is missing or unreadable

The CLI reads ``exit_code`` from the class; it never maps exceptions to codes by hand.
Data Designer's names (``DataDesignerWorkflowError`` ...) are aliases, so ported code that catches
them keeps working.
"""

from __future__ import annotations

import difflib
import errno as _errno
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class DDBuildError(Exception):
    """Base class: a headline message, optional hint; ``exit_code`` tells the CLI what to return."""

    exit_code = 1
    stage: str | None = None  # the stage whose build raised it (set by the executor), for reports

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} {hint}")


class ConfigError(DDBuildError):
    exit_code = 2


class ColumnReferenceError(ConfigError):
    pass


class SeedError(ConfigError):
    pass


class ModelConfigError(ConfigError):
    pass


class WorkflowError(ConfigError):
    pass


class TargetError(WorkflowError):
    pass


class TemplateError(DDBuildError):
    exit_code = 2


class TemplateLimitError(TemplateError):
    """A template crossed a size or time limit of the sandbox: wrong for every row, never a row drop."""


class UsageError(DDBuildError):
    exit_code = 2


class BuildOnLoadError(UsageError):
    pass


class GenerationError(DDBuildError):
    pass


class EarlyShutdownError(GenerationError):
    pass


class LLMRequestError(GenerationError):
    pass


class RowsLostError(GenerationError):
    """Rows lost to transient request failures: nothing is stored for the stage; the next build
    resumes it and asks only for those rows. ``lost`` maps reason -> rows."""

    def __init__(self, message: str, *, lost: dict[str, int], hint: str | None = None) -> None:
        self.lost = lost
        super().__init__(message, hint=hint)


class StagesFailed(DDBuildError):
    """A keep-going build finished the branches it could; ``failures`` maps stage -> its error,
    ``skipped`` maps each skipped dependent -> the failed stage it needed, ``results`` is what the
    build did produce (a WorkflowResults)."""

    def __init__(
        self, workflow: str, failures: dict[str, BaseException], skipped: dict[str, str], results: object = None
    ) -> None:
        self.failures = failures
        self.skipped = skipped
        self.results = results
        lines = [f"  {name}: {type(error).__name__}: {error}" for name, error in failures.items()]
        skips = ", ".join(f"{name} (needs {origin})" for name, origin in skipped.items())
        message = f"Workflow '{workflow}': {len(failures)} stage(s) failed:\n" + "\n".join(lines)
        if skips:
            message += f"\nSkipped: {skips}"
        super().__init__(message, hint="Fix the failures and build again; completed stages are cached.")


class ResumeError(DDBuildError):
    pass


class StoreError(DDBuildError):
    pass


class IntegrityError(StoreError):
    pass


class DiskFullError(StoreError):
    """A write failed because the disk (or a quota, or the file size limit) is full; names the path."""

    def __init__(self, path: object, error: OSError | None = None) -> None:
        self.path = str(path)
        why = (error.strerror or "no space left on device") if error is not None else "no space left on device"
        super().__init__(
            f"Disk full: cannot write '{self.path}' ({why.lower()}).",
            hint="Free space (e.g. `ddbuild cache gc`, old artifacts) or move the cache (--cache, DDBUILD_CACHE); "
            "finished stages and batches are kept, so the next build resumes.",
        )


class ArtifactError(DDBuildError):
    pass


_FULL_ERRNOS = frozenset({_errno.ENOSPC, _errno.EDQUOT, _errno.EFBIG})


def disk_full_error(error: BaseException, path: object) -> DiskFullError | None:
    """The DiskFullError for an OSError of a full disk, quota or file size limit; None otherwise.

    The one mapping every write helper uses (``raise full from error``): pyarrow's write errors
    carry the errno but no file name, so the helper passes the path it was writing.
    """
    if isinstance(error, DiskFullError):
        return error
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return DiskFullError(getattr(error, "filename", None) or path, error)
    return None


def on_full_disk(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator for a write helper with a ``path`` (or ``dest``, ``final``) argument: a full disk
    raises DiskFullError naming that path."""
    import functools
    import inspect

    names = list(inspect.signature(function).parameters)
    name = next(n for n in ("path", "dest", "final") if n in names)
    position = names.index(name)

    @functools.wraps(function)
    def write(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except OSError as exc:
            full = disk_full_error(exc, kwargs.get(name, args[position] if len(args) > position else "?"))
            if full is None:
                raise
            raise full from exc

    return write


# Data Designer's names, so a ported pipeline's ``except`` clauses keep working.
DataDesignerError = DDBuildError
DataDesignerWorkflowError = WorkflowError
DataDesignerGenerationError = GenerationError
DataDesignerEarlyShutdownError = EarlyShutdownError


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a misspelt ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' Did you mean 'x'?' when a candidate is close, else an empty string."""
    match = closest(name, candidates)
    return f" Did you mean '{match}'?" if match else ""
