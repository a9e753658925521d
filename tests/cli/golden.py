"""Golden-file comparison for user-visible text; DDBUILD_UPDATE_GOLDEN=1 rewrites the files."""

from __future__ import annotations

import os
import re
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"

_VOLATILE = [
    (re.compile(r"\b\d+(\.\d+)?s\b"), "<T>s"),  # durations like 1.2s
    (re.compile(r"\b\d+m\d\ds\b"), "<T>"),
    (re.compile(r"/[^\s'\"]*/(\.ddbuild|cache)[^\s'\"]*"), "<CACHE>"),
]


def normalise(text: str) -> str:
    """Blank out what changes between runs (durations, absolute cache paths); keys stay."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    text = normalise(text)
    if os.environ.get("DDBUILD_UPDATE_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if os.environ.get("DDBUILD_UPDATE_GOLDEN") != "1":
            raise AssertionError(f"golden file {path} was missing and has been written; check it and re-run")
        return
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {path} (DDBUILD_UPDATE_GOLDEN=1 to accept):\n{text}"
