"""Checks shared by the config models and the workflow API: names, counts and finite numbers.

Names of workflows, stages and processors become directory names; column names become Parquet
field names and template variables. One rule for all, stated in every message it fails::

    1 to 128 characters (at most 200 bytes of UTF-8), no control characters (NUL, newline,
    tab, ...), no surrogates; directory names also no / \\ < > : " | ? * and not . or ..
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

MAX_NAME_CHARS = 128
MAX_NAME_BYTES = 200  # a stage directory is "stage-<i>-<name>": well under the 255-byte limit
INVALID_PATH_CHARS = '<>:"/\\|?*'
NAME_RULE = (f"1 to {MAX_NAME_CHARS} characters (at most {MAX_NAME_BYTES} bytes of UTF-8), "
             "no control characters (NUL, newline, tab, ...)")
DIR_NAME_RULE = f"{NAME_RULE}, none of {' '.join(INVALID_PATH_CHARS)}, and not '.' or '..'"


def name_problem(value: object, *, directory: bool) -> str | None:
    """What is wrong with ``value`` as a name (None when nothing is)."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value:
        return "must be a non-empty string"
    if len(value) > MAX_NAME_CHARS:
        return f"is {len(value)} characters long"
    bad = sorted({repr(ch)[1:-1] for ch in value if unicodedata.category(ch) in ("Cc", "Cs", "Cf", "Zl", "Zp")})
    if bad:
        return f"contains control characters: {' '.join(bad)}"
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        return f"is {len(value.encode('utf-8'))} bytes of UTF-8 long"
    if directory:
        if value in (".", ".."):
            return "is not allowed"
        path_chars = sorted({ch for ch in value if ch in INVALID_PATH_CHARS})
        if path_chars:
            return f"contains invalid path characters: {' '.join(path_chars)}"
    return None


def check_name(value: object, label: str, *, directory: bool, error: type[Exception] = ValueError) -> str:
    """``value`` when it is a valid name; else ``error`` naming the label, the problem and the rule."""
    problem = name_problem(value, directory=directory)
    if problem is None:
        assert isinstance(value, str)
        return value
    rule = DIR_NAME_RULE if directory else NAME_RULE
    raise error(f"The {label} {shown(value)} {problem}; names must be {rule}.")


def shown(value: object, limit: int = 40) -> str:
    """A name as it can be printed in a message: quoted, escaped, cut to ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "..."
    return repr(value)


def positive_count(value: object, label: str, error: type[Exception]) -> int:
    """``value`` when it is an int >= 1 (bool refused: ``num_records=True`` is a mistake, not 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{label} must be a positive integer, got {type(value).__name__} {value!r}.")
    if value < 1:
        raise error(f"{label} must be a positive integer, got {value} (at least 1).")
    return value


def check_finite(value: Any, label: str) -> Any:
    """Raise ValueError naming ``label`` when a float (at any depth of lists/dicts) is NaN or infinite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{label} must be a finite number, got {value}")
    if isinstance(value, (list, tuple)):
        for item in value:
            check_finite(item, label)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{label}.{key}")
    return value
