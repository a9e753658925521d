"""docs/architecture.md's module table is the modules' opening docstring lines, kept in step.

Regenerate after adding, moving or re-describing a module:
``DDBUILD_REGENERATE_DOCS=1 python -m pytest tests/test_architecture_doc.py``.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import ddbuild

PACKAGE = Path(ddbuild.__file__).parent
DOC = PACKAGE.parent / "docs" / "architecture.md"
START, END = "<!-- modules:start -->", "<!-- modules:end -->"


def _first_line(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"ddbuild/{path.relative_to(PACKAGE)} has no opening docstring saying what it owns"
    # The first sentence may wrap over several lines: join up to the first blank line.
    return " ".join(docstring.split("\n\n")[0].split())


def module_table() -> str:
    rows = ["| module | owns |", "|---|---|"]
    for path in sorted(PACKAGE.rglob("*.py"), key=lambda p: p.relative_to(PACKAGE).parts):
        owns = _first_line(path).replace("|", "\\|")
        rows.append(f"| `{path.relative_to(PACKAGE).as_posix()}` | {owns} |")
    return "\n".join(rows)


def test_module_table_matches_the_docstrings() -> None:
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    expected = f"{head}{START}\n{module_table()}\n{END}{tail}"
    if os.environ.get("DDBUILD_REGENERATE_DOCS") == "1":
        DOC.write_text(expected, encoding="utf-8")
    assert text == expected, (
        "docs/architecture.md's module table is out of date: run "
        "DDBUILD_REGENERATE_DOCS=1 python -m pytest tests/test_architecture_doc.py"
    )
