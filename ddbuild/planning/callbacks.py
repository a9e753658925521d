"""Identity of user callables (on_success, join callables): a declared version, else a source digest."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, overload

from ddbuild.fingerprint import digest_bytes


def source_digest(function: Callable[..., object]) -> str:
    """xxh3_128 of the function's source text (its qualified name when no source is available)."""
    try:
        text = inspect.getsource(function)
    except (OSError, TypeError):
        text = f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"
    return digest_bytes(text.encode("utf-8"))


@overload
def callable_identity(function: Callable[..., object], version: str | None) -> dict[str, Any]: ...
@overload
def callable_identity(function: None, version: str | None) -> None: ...
def callable_identity(function: Callable[..., object] | None, version: str | None) -> dict[str, Any] | None:
    """``{"version": v}`` when declared, else ``{"source_digest": d}``; None without a callable."""
    if function is None:
        return None
    if version is not None:
        return {"version": version}
    return {"source_digest": source_digest(function)}
