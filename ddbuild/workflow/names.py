"""Validation of workflow, stage and processor names, which become directory names."""

from __future__ import annotations

from ddbuild.config.checks import INVALID_PATH_CHARS, check_name
from ddbuild.errors import WorkflowError

__all__ = ["INVALID_PATH_CHARS", "validate_dir_name"]


def validate_dir_name(value: object, label: str) -> str:
    """``value`` if it can be a directory name; WorkflowError stating the rule otherwise."""
    return check_name(value, label, directory=True, error=WorkflowError)
