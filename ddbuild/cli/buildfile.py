"""The build file (``ddfile.py``): locate it, import it without building, find its workflows."""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeGuard

from ddbuild.cli import headline
from ddbuild.errors import BuildOnLoadError, UsageError
from ddbuild.loading import loading

if TYPE_CHECKING:
    from ddbuild.cli.loadwatch import LoadFacts
    from ddbuild.workflow.workflow import Workflow

BUILD_FILE_NAME = "ddfile.py"
# A build file of this name would shadow the ddbuild package for every script run beside it.
FORBIDDEN_NAME = "ddbuild.py"


@dataclass
class BuildFile:
    """A loaded build file: its path and the workflows it defines, in definition order."""

    path: Path
    workflows: list[Workflow] = field(default_factory=list)
    module: ModuleType | None = None
    load_facts: LoadFacts | None = None  # what loading read (env, files, modules): see ddbuild.cli.loadwatch

    @property
    def directory(self) -> Path:
        return self.path.parent

    def workflow_names(self) -> list[str]:
        return [str(getattr(wf, "name", "?")) for wf in self.workflows]

    def workflow(self, name: str) -> Workflow:
        for wf in self.workflows:
            if getattr(wf, "name", None) == name:
                return wf
        raise KeyError(name)


def locate(file: str | os.PathLike[str] | None, directory: str | os.PathLike[str] | None) -> Path:
    """The build file path for ``-C DIR`` / ``-f FILE`` (make semantics: -f is relative to -C)."""
    base = Path(directory).expanduser() if directory else Path.cwd()
    if directory and not base.is_dir():
        raise UsageError(f"-C {directory}: no such directory.")
    path = base / Path(file).expanduser() if file else base / BUILD_FILE_NAME
    if path.name == FORBIDDEN_NAME:
        raise UsageError(
            f"Build file '{path}' is named {FORBIDDEN_NAME}, which shadows the ddbuild package.",
            hint=f"Rename it to {BUILD_FILE_NAME}.",
        )
    if not path.is_file():
        if file:
            raise UsageError(f"Build file '{path}' does not exist.")
        hint = f"Create {BUILD_FILE_NAME} there, or pass -f FILE / -C DIR."
        if (base / FORBIDDEN_NAME).is_file():
            hint = f"Found {FORBIDDEN_NAME}: rename it to {BUILD_FILE_NAME} (that name shadows the ddbuild package)."
        raise UsageError(f"No {BUILD_FILE_NAME} in '{base.resolve()}'.", hint=hint)
    return path.resolve()


def is_workflow(value: object) -> TypeGuard[Workflow]:
    """A module-level object counts as a workflow if it is ddbuild's Workflow.

    Looked up in ``sys.modules`` rather than imported: a build file that made no Workflow has not
    imported the workflow package, and the loader should not pay for importing it."""
    module = sys.modules.get("ddbuild.workflow.workflow")
    return module is not None and isinstance(value, module.Workflow)


def _module_name(path: Path) -> str:
    # A stable name: custom column functions are identified by module:qualname, so the build file
    # must import under the same name on every run (never "__main__").
    return path.stem if path.stem.isidentifier() else "ddfile"


def _location(path: Path, exc: BaseException) -> tuple[int | None, str]:
    """The line of the build file where ``exc`` was raised from (and a caret line for syntax)."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path:
        text = (exc.text or "").rstrip("\n")
        caret = f"\n    {text}\n    {' ' * max((exc.offset or 1) - 1, 0)}^" if text else ""
        return exc.lineno, caret
    line = None
    source = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            line, source = frame.lineno, (frame.line or "")
    return line, (f"\n    {source}" if source else "")


def _import(path: Path) -> ModuleType:
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"Build file '{path}' cannot be imported.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # The build file may import helpers that sit beside it.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        with loading(path):
            spec.loader.exec_module(module)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BuildOnLoadError:
        sys.modules.pop(name, None)
        raise  # already names the file, the line and the fix
    except BaseException as exc:
        sys.modules.pop(name, None)
        line, snippet = _location(path, exc)
        where = f"{path}:{line}" if line else str(path)
        raise UsageError(
            f"{where}: build file failed to load: {type(exc).__name__}: {headline(exc)}{snippet}",
            hint=getattr(exc, "hint", None),
        ) from exc
    return module


def collect_workflows(module: ModuleType, path: Path) -> list[Workflow]:
    """``WORKFLOWS`` if the module defines it, else module-level workflows in definition order."""
    declared = getattr(module, "WORKFLOWS", None)
    if declared is not None:
        items = list(declared) if isinstance(declared, (list, tuple)) else [declared]
        bad = [repr(item)[:60] for item in items if not is_workflow(item)]
        if bad:
            raise UsageError(f"{path}: WORKFLOWS must list Workflow objects; got {', '.join(bad)}.")
    else:
        items = [
            value for key, value in vars(module).items() if not key.startswith("__") and is_workflow(value)
        ]
    unique: list[Workflow] = []
    for item in items:
        if not any(item is seen for seen in unique):
            unique.append(item)
    names = [wf.name for wf in unique]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"{path}: two workflows are named {', '.join(repr(d) for d in duplicates)}.")
    if not unique:
        raise UsageError(
            f"{path}: defines no workflow.",
            hint="Assign one at module level, e.g. `workflow = DataDesigner().compose_workflow(name=...)`, "
            "or list them in WORKFLOWS = [...].",
        )
    return unique


def load(path: Path) -> BuildFile:
    """Import the build file (which must not build anything on import) and collect its workflows.

    The import is watched (env reads, files opened, modules imported) so that an up-to-date stamp
    can later tell, without importing it again, that nothing it read has changed."""
    from ddbuild.cli.loadwatch import watch_load

    with watch_load(path) as facts:
        module = _import(path)
    return BuildFile(path=path, workflows=collect_workflows(module, path), module=module, load_facts=facts)
