"""The one exception tree of ddbuild, with the CLI exit code carried by each class.

    DDBuildError (exit 1)                    base of everything ddbuild raises on purpose
    ├── ConfigError (exit 2)                 a config, builder or parameter is invalid
    │   ├── NotSupportedError                a Data Designer name or field ddbuild does not run yet
    │   ├── ColumnReferenceError             a template names a column that does not exist
    │   ├── SeedError                        a seed source is missing, empty or unreadable
    │   ├── ModelConfigError                 model aliases, providers, API key variables
    │   │   └── APIKeyError                  a provider's api_key reference resolves to nothing
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

Data Designer's exception names are classes of their own (``DataDesignerError`` at the root, the
rest below it, as in Data Designer 0.9.7) and ddbuild's classes subclass the ones that mean the
same, so a ported ``except`` clause catches what it caught before; exit codes stay on ours:

    DataDesignerError                        base of DDBuildError and of every name below
    ├── InvalidConfigError, BuilderConfigurationError   <- ConfigError (and NotSupportedError)
    ├── InvalidFilePathError                 <- SeedError
    ├── UnknownProviderError, NoModelProvidersError     <- ModelConfigError
    ├── SecretResolutionError                <- APIKeyError
    ├── UserJinjaTemplateSyntaxError         <- TemplateError
    ├── DataDesignerWorkflowError            <- WorkflowError, ResumeError, StagesFailed
    ├── DataDesignerGenerationError, DatasetGenerationError  <- GenerationError
    │   └── DataDesignerEarlyShutdownError   <- EarlyShutdownError
    └── the others Data Designer exports (BuilderSerializationError, InvalidColumnTypeError,
        InvalidFileFormatError, DataDesignerProfilingError, ...), which
        ddbuild does not raise yet; they exist so that ported code imports and catches them.

They are exported from the modules where Data Designer has them: ``ddbuild.config.errors``,
``ddbuild.config.utils.errors``, ``ddbuild.interface.errors``, ``ddbuild.engine.errors``.
"""

from __future__ import annotations

import difflib
import errno as _errno
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


# -- Data Designer's names (one class each, no behaviour) -------------------------------------


class DataDesignerError(Exception):
    """Data Designer's root exception: ``except DataDesignerError`` catches every ddbuild error."""


class InvalidConfigError(DataDesignerError): ...


class BuilderConfigurationError(DataDesignerError): ...


class BuilderSerializationError(DataDesignerError): ...


class InvalidColumnTypeError(DataDesignerError): ...


class InvalidFilePathError(DataDesignerError): ...


class InvalidFileFormatError(DataDesignerError): ...


class UserJinjaTemplateSyntaxError(DataDesignerError): ...


class InvalidEnumValueError(DataDesignerError): ...


class InvalidTypeUnionError(DataDesignerError): ...


class InvalidDiscriminatorFieldError(DataDesignerError): ...


class DatasetSampleDisplayError(DataDesignerError): ...


class DataDesignerProfilingError(DataDesignerError): ...


class DataDesignerGenerationError(DataDesignerError): ...


class DataDesignerWorkflowError(DataDesignerError): ...


class DataDesignerEarlyShutdownError(DataDesignerGenerationError): ...


class InvalidBufferValueError(DataDesignerError): ...


class UnknownProviderError(DataDesignerError): ...


class NoModelProvidersError(DataDesignerError): ...


class SecretResolutionError(DataDesignerError): ...


class DatasetGenerationError(DataDesignerError): ...


class ConfigCompilationError(DataDesignerError): ...


class DAGCircularDependencyError(DataDesignerError): ...


# -- ddbuild's tree ------------------------------------------------------------------------------


class DDBuildError(DataDesignerError):
    """Base class: a headline message, optional hint; ``exit_code`` tells the CLI what to return."""

    exit_code = 1
    stage: str | None = None  # the stage whose build raised it (set by the executor), for reports

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} {hint}")


class ConfigError(DDBuildError, InvalidConfigError, BuilderConfigurationError):
    exit_code = 2


class ColumnReferenceError(ConfigError):
    pass


class NotSupportedError(ConfigError):
    """A Data Designer name, field value or config section that ddbuild does not run yet.

    Made by ``not_supported``: the message says ``not supported by ddbuild yet: <name>`` so that
    users (and tests) can find every such place."""


def not_supported(name: str, detail: str = "", *, hint: str | None = None) -> NotSupportedError:
    """The NotSupportedError for ``name`` (a Data Designer class, field or value)."""
    return NotSupportedError(f"not supported by ddbuild yet: {name}{detail}.", hint=hint)


class SeedError(ConfigError, InvalidFilePathError):
    pass


class ModelConfigError(ConfigError, UnknownProviderError, NoModelProvidersError):
    pass


class APIKeyError(ModelConfigError, SecretResolutionError):
    """An API key reference that no resolver resolves (an unset variable, a name missing from a
    secrets file). Its message names the reference only when it is spelled like a variable name."""


class WorkflowError(ConfigError, DataDesignerWorkflowError):
    pass


class TargetError(WorkflowError):
    pass


class TemplateError(DDBuildError, UserJinjaTemplateSyntaxError):
    exit_code = 2


class TemplateLimitError(TemplateError):
    """A template crossed a size or time limit of the sandbox: wrong for every row, never a row drop."""


class UsageError(DDBuildError):
    exit_code = 2


class BuildOnLoadError(UsageError):
    pass


class GenerationError(DDBuildError, DataDesignerGenerationError, DatasetGenerationError):
    pass


class EarlyShutdownError(GenerationError, DataDesignerEarlyShutdownError):
    pass


class LLMRequestError(GenerationError):
    pass


class RowsLostError(GenerationError):
    """Rows lost to transient request failures: nothing is stored for the stage; the next build
    resumes it and asks only for those rows. ``lost`` maps reason -> rows."""

    def __init__(self, message: str, *, lost: dict[str, int], hint: str | None = None) -> None:
        self.lost = lost
        super().__init__(message, hint=hint)


class StagesFailed(DDBuildError, DataDesignerWorkflowError):
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


class ResumeError(DDBuildError, DataDesignerWorkflowError):
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


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a misspelt ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' Did you mean 'x'?' when a candidate is close, else an empty string."""
    match = closest(name, candidates)
    return f" Did you mean '{match}'?" if match else ""
