"""Dotted-path differences between two stage key documents (for CONFIG_CHANGED and friends)."""

from __future__ import annotations

from typing import Any

from ddbuild.workflow.plan import FieldChange

_MISSING = None  # what a field that exists on one side only shows on the other


def diff(old: Any, new: Any, prefix: str = "") -> list[FieldChange]:
    """Every leaf that differs, as ``a.b.c`` paths (lists compared whole unless same length)."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                changes.append(FieldChange(path, _MISSING, new[key]))
            elif key not in new:
                changes.append(FieldChange(path, old[key], _MISSING))
            else:
                changes.extend(diff(old[key], new[key], path))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and old != new:
        return [c for i, (a, b) in enumerate(zip(old, new, strict=True)) for c in diff(a, b, f"{prefix}.{i}")]
    return [] if old == new else [FieldChange(prefix, old, new)]
