"""Row-wise column executors: expression, custom cell-by-cell, LLM; and custom full-column.

A cell takes one row dict (plus its global row id; an LLM cell its draw) and returns the new column's value. A failure
that belongs to one row (an expression that does not render or cast, a custom generator that
raises) is a ``CellFailed``: the pipeline drops that row, as Data Designer does. Failures that are
bugs of the whole config (sandbox violations, a generator returning the wrong type) stay errors.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from ddbuild.config.columns import CustomColumnConfig, ExpressionColumnConfig
from ddbuild.errors import DDBuildError, GenerationError, TemplateError, TemplateLimitError
from ddbuild.templating import compile_template
from ddbuild.usercode import interrupts, reraise

if TYPE_CHECKING:
    import pandas as pd

    from ddbuild.engine.llm.columns import LLMColumnGenerator
    from ddbuild.engine.llm.embeddings import EmbeddingColumnGenerator

MAX_ERROR_CHARS = 500  # first error kept per drop reason in metadata.json


class DropKind(str, Enum):
    """Why a row-wise cell dropped its row; the reason recorded is ``<kind>:<column>``."""

    EXPRESSION_ERROR = "expression_error"
    CUSTOM_ERROR = "custom_error"


class CellFailed(GenerationError):
    """This row gets no value for ``column``: the row is dropped, counted under ``reason``."""

    def __init__(self, kind: DropKind, column: str, message: str) -> None:
        self.kind = kind
        self.column = column
        self.reason = f"{kind.value}:{column}"
        super().__init__(message[:MAX_ERROR_CHARS])


def _is_sandbox_violation(exc: TemplateError) -> bool:
    from jinja2.sandbox import SecurityError

    return isinstance(exc.__cause__, SecurityError)

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
        try:
            text = self.render(row)
        except TemplateError as exc:
            if isinstance(exc, TemplateLimitError) or _is_sandbox_violation(exc):  # a bug, not a row
                raise
            raise CellFailed(DropKind.EXPRESSION_ERROR, self.name, f"{exc.message} (row {row_id})") from exc
        if self.dtype == "str":
            return text
        try:
            return self.cast(text.strip())
        except ValueError as exc:
            raise CellFailed(
                DropKind.EXPRESSION_ERROR, self.name,
                f"Column '{self.name}': cannot cast rendered value {text[:200]!r} to {self.dtype} (row {row_id}).",
            ) from exc


def _describe(function: Any) -> str:
    return getattr(function, "__qualname__", repr(function))


class CustomCell:
    """A ``cell_by_cell`` custom generator: gets a copy of the row, returns it with the column set."""

    is_async = False

    def __init__(self, column: CustomColumnConfig) -> None:
        self.name = column.name
        self.function = column.generator_function
        self.extra = column.call_arguments()  # (generator_params,) when the function takes them

    def __call__(self, row: dict[str, Any], row_id: int) -> Any:
        before = interrupts()
        try:
            result = self.function(dict(row), *self.extra)
        except DDBuildError:
            raise
        except Exception as exc:
            raise CellFailed(
                DropKind.CUSTOM_ERROR, self.name,
                f"Column '{self.name}': custom generator {_describe(self.function)} raised "
                f"{type(exc).__name__}: {exc} (row {row_id}).",
            ) from exc
        except BaseException as exc:  # SystemExit, KeyboardInterrupt: an error of the column
            reraise(exc, f"Column '{self.name}': custom generator {_describe(self.function)} (row {row_id})", before)
        if not isinstance(result, dict) or self.name not in result:
            raise GenerationError(
                f"Column '{self.name}': custom generator {_describe(self.function)} must return the row dict "
                f"with '{self.name}' set; it returned {type(result).__name__}."
            )
        return result[self.name]


class LLMCell:
    """An LLM column: ``await generator.generate(row, draw)``; RowDropped propagates to the runner.

    ``draw`` is the row's identity (``engine.rowid``) for seeded rows, its row id otherwise."""

    is_async = True

    def __init__(self, name: str, generator: LLMColumnGenerator | EmbeddingColumnGenerator) -> None:
        self.name = name
        self.generator = generator
        # the column, then its side columns (a chat column's trace and reasoning)
        self.outputs: tuple[str, ...] = getattr(generator, "outputs", (name,))

    async def __call__(self, row: dict[str, Any], draw: int | str) -> Any:
        """The column's value; its side columns (trace, reasoning) are written into ``row``."""
        if len(self.outputs) == 1:
            return await self.generator.generate(row, draw)
        from ddbuild.engine.llm.columns import LLMColumnGenerator  # loaded by now: the generator is one

        assert isinstance(self.generator, LLMColumnGenerator), "only chat columns have side columns"
        cells = await self.generator.generate_cells(row, draw)
        row.update(cells)
        return cells[self.name]


def run_full_column(column: CustomColumnConfig, frame: pd.DataFrame) -> list[Any]:
    """A ``full_column`` custom generator: DataFrame in, DataFrame with the column added out."""
    function = column.generator_function
    before = interrupts()
    try:
        result = function(frame, *column.call_arguments())
    except DDBuildError:
        raise
    except Exception as exc:
        raise GenerationError(
            f"Column '{column.name}': custom generator {_describe(function)} raised {type(exc).__name__}: {exc}."
        ) from exc
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: an error of the column
        reraise(exc, f"Column '{column.name}': custom generator {_describe(function)}", before)
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
