"""Validation of workflow, stage and processor names, which become directory names."""

from __future__ import annotations

from ddbuild.errors import WorkflowError

INVALID_PATH_CHARS = '<>:"/\\|?*'


def validate_dir_name(value: object, label: str) -> str:
    """``value`` if it can be a directory name; WorkflowError (Data Designer's messages) otherwise."""
    if not isinstance(value, str) or not value:
        raise WorkflowError(f"The {label} must be a non-empty string.")
    if value in (".", ".."):
        raise WorkflowError(f"The {label} {value!r} is not allowed.")
    bad = sorted({ch for ch in value if ch in INVALID_PATH_CHARS})
    if bad:
        raise WorkflowError(
            f"The {label} {value!r} contains invalid path characters: {' '.join(bad)}.",
            hint=f"Names become directory names; avoid any of {' '.join(INVALID_PATH_CHARS)}.",
        )
    return value
