"""While ``ddbuild`` loads a build file: building from it is refused (a build file only defines workflows).

The CLI imports ``ddfile.py`` to find its workflows, then plans and builds the targets itself. A
file that calls ``workflow.run()``, ``DataDesigner.create()`` or ``preview()`` at module level
would build (and send every LLM request) during that import, even for ``--explain``. The CLI's
loader marks the import with ``loading(path)``; those entry points call ``refuse_build`` first, so
the call fails before any work with the file, line and fix.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ddbuild.errors import BuildOnLoadError

_LOADING: list[Path] = []  # build files being imported by the CLI right now (any thread)


@contextmanager
def loading(path: Path) -> Iterator[None]:
    """Mark the import of build file ``path``: run(), create() and preview() raise meanwhile."""
    _LOADING.append(path)
    try:
        yield
    finally:
        _LOADING.remove(path)


def _caller_line(path: Path) -> int | None:
    """The line of ``path`` (the build file) that the refused call came from, if on the stack."""
    frame: FrameType | None = sys._getframe(2)
    target = str(path)
    while frame is not None:
        if frame.f_code.co_filename == target:
            return frame.f_lineno
        frame = frame.f_back
    return None


def refuse_build(call: str) -> None:
    """Raise ``BuildOnLoadError`` if a build file is being loaded; ``call`` names the entry point."""
    if not _LOADING:
        return
    path = _LOADING[-1]
    line = _caller_line(path)
    where = f"{path}:{line}" if line else str(path)
    raise BuildOnLoadError(
        f"{where}: the build file calls {call} while ddbuild loads it; nothing was built, no request sent.",
        hint=f'Put the call under `if __name__ == "__main__":` ({path.name} then still builds with '
        f"`python {path.name}`); ddbuild loads the file only to find its workflows and builds the targets itself.",
    )
