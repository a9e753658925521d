"""Row-wise column executors: expression, custom cell-by-cell, LLM; and custom full-column.

A cell takes one row dict (plus its global row id) and returns the new column's value. Errors
from user code are wrapped with the column's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ddbuild.config.columns import CustomColumnConfig, ExpressionColumnConfig
from ddbuild.errors import DDBuildError, GenerationError
from ddbuild.templating import compile_template

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})


def _to_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


CASTS: dict[str, Callable[[str], Any]] = {"str": str, "int": _to_int, "float": float, "bool": _to_bool}


class ExpressionCell:
    """Render ``expr`` against the row and cast to ``dtype``."""

    is_async = False

    def __init__(self, column: ExpressionColumnConfig) -> None:
        self.name = column.name
        self.render = compile_template(column.expr, f"Column '{column.name}' expr")
        self.dtype = column.dtype
        self.cast = CASTS[column.dtype]

    def __call__(self, row: dict[str, Any], row_id: int) -> Any:
        text = self.render(row)
        if self.dtype == "str":
            return text
        try:
            return self.cast(text.strip())
        except ValueError as exc:
            raise GenerationError(
                f"Column '{self.name}': cannot cast rendered value {text!r} to {self.dtype} (row {row_id})."
            ) from exc


def _describe(function: Any) -> str:
    return getattr(function, "__qualname__", repr(function))


class CustomCell:
    """A ``cell_by_cell`` custom generator: gets a copy of the row, returns it with the column set."""

    is_async = False

    def __init__(self, column: CustomColumnConfig) -> None:
        self.name = column.name
        self.function = column.generator_function

    def __call__(self, row: dict[str, Any], row_id: int) -> Any:
        try:
            result = self.function(dict(row))
        except DDBuildError:
            raise
        except Exception as exc:
            raise GenerationError(
                f"Column '{self.name}': custom generator {_describe(self.function)} raised "
                f"{type(exc).__name__}: {exc} (row {row_id})."
            ) from exc
        if not isinstance(result, dict) or self.name not in result:
            raise GenerationError(
                f"Column '{self.name}': custom generator {_describe(self.function)} must return the row dict "
                f"with '{self.name}' set; it returned {type(result).__name__}."
            )
        return result[self.name]


class LLMCell:
    """An LLM column: ``await generator.generate(row, row_id)``; RowDropped propagates to the runner."""

    is_async = True

    def __init__(self, name: str, generator: Any) -> None:
        self.name = name
        self.generator = generator

    async def __call__(self, row: dict[str, Any], row_id: int) -> Any:
        return await self.generator.generate(row, row_id)


def run_full_column(column: CustomColumnConfig, frame: Any) -> list[Any]:
    """A ``full_column`` custom generator: DataFrame in, DataFrame with the column added out."""
    function = column.generator_function
    try:
        result = function(frame)
    except DDBuildError:
        raise
    except Exception as exc:
        raise GenerationError(
            f"Column '{column.name}': custom generator {_describe(function)} raised {type(exc).__name__}: {exc}."
        ) from exc
    if not hasattr(result, "columns") or column.name not in result.columns:
        raise GenerationError(
            f"Column '{column.name}': custom generator {_describe(function)} must return the DataFrame "
            f"with a '{column.name}' column added."
        )
    if len(result) != len(frame):
        raise GenerationError(
            f"Column '{column.name}': custom generator returned {len(result)} rows for {len(frame)}; "
            "a full_column generator must keep the row count."
        )
    return result[column.name].tolist()
