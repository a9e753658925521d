"""One batch in flight: its columns (numpy arrays, lists or Arrow arrays), row ids and drops.

Columns stay in whatever form produced them (numpy for samplers, Arrow for seeds, lists for
row-wise columns) and are converted once: to Python lists when row dicts are needed, to one
Arrow table when the batch is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ddbuild.errors import GenerationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from ddbuild.engine.rowid import RowIdentity


def to_list(values: Any) -> list[Any]:
    """Python values of a column (numpy datetimes become ``datetime``)."""
    if isinstance(values, list):
        return values
    if hasattr(values, "to_pylist"):
        return values.to_pylist()
    if getattr(getattr(values, "dtype", None), "kind", "") == "M":
        return values.astype("datetime64[us]").tolist()
    return values.tolist()


def to_arrow(values: Any) -> pa.Array | pa.ChunkedArray:
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    return pa.array(values)


def _filter(values: Any, mask: Any) -> Any:
    if isinstance(values, list):
        return [v for v, keep in zip(values, mask.tolist(), strict=False) if keep]
    if hasattr(values, "filter"):
        import pyarrow as pa

        return values.filter(pa.array(mask))
    return values[mask]


@dataclass
class Batch:
    """Rows ``row_ids`` (global row numbers) of batch ``index``; ``dropped`` counts rows removed
    per reason and ``first_errors`` keeps the message of the first (lowest) row dropped for each.
    ``identity`` is the seeded rows' identity (``engine.rowid``); None: rows are their position."""

    index: int
    row_ids: Any
    columns: dict[str, Any] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    first_errors: dict[str, str] = field(default_factory=dict)
    identity: RowIdentity | None = None
    # column -> one bool per row: the cell was skipped (engine.skips); only columns that can be skipped
    skipped: dict[str, list[bool]] = field(default_factory=dict)

    def draws(self) -> Sequence[int | str]:
        """Each row's draw in request keys: its identity when seeded, else its row id."""
        return self.identity.draws() if self.identity is not None else self.row_ids.tolist()

    @property
    def num_rows(self) -> int:
        return len(self.row_ids)

    def row_dicts(self) -> list[dict[str, Any]]:
        """One plain dict per row (the input of row-wise columns)."""
        names = list(self.columns)
        if not names:
            return [{} for _ in range(self.num_rows)]
        lists = [to_list(self.columns[name]) for name in names]
        return [dict(zip(names, values, strict=False)) for values in zip(*lists, strict=False)]

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Remove the rows where ``mask`` is False from every column."""
        self.row_ids = self.row_ids[mask]
        if self.identity is not None:
            self.identity = self.identity.take(mask)
        self.columns = {name: _filter(values, mask) for name, values in self.columns.items()}
        self.skipped = {name: _filter(flags, mask) for name, flags in self.skipped.items()}

    def table(self, names: list[str]) -> pa.Table:
        """The named columns as one Arrow table (in that order)."""
        import pyarrow as pa

        if not names:
            return pa.table({})
        return pa.table({name: self._arrow_column(name) for name in names})

    def _arrow_column(self, name: str) -> Any:
        """One column as Arrow; values Arrow cannot store are a GenerationError naming the column."""
        import pyarrow as pa

        values = self.columns[name]
        try:
            array = to_arrow(values)
            problem = None
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            array, problem = None, exc
        if array is not None and not _parquet_can_store(array.type):
            problem = ValueError("an empty dict (a struct with no fields)")
        if problem is not None:
            raise GenerationError(
                f"Column '{name}' holds values Parquet cannot store in one column: {_types_of(values, self.row_ids)}"
                f" ({problem}).",
                hint=_skip_value_hint(values, self.skipped.get(name)) or (
                    "Give each column one type (None for a missing value): str, int, float, bool, datetime, "
                    "or lists / non-empty dicts of those; convert other objects first (e.g. str(value))."),
            ) from problem
        return array


def _skip_value_hint(values: Any, skipped: list[bool] | None) -> str | None:
    """What to do when the skipped cells' value (skip.value) is of another type than the generated
    ones (a structured or judge column skipped with a string); None when that is not the cause."""
    if not skipped or not any(skipped):
        return None
    held = {type(v).__name__ for v, f in zip(to_list(values), skipped, strict=True) if f and v is not None}
    generated = {type(v).__name__ for v, f in zip(to_list(values), skipped, strict=True) if not f and v is not None}
    if not held or not generated or held == generated:
        return None
    return (f"Its skipped cells hold its skip.value ({', '.join(sorted(held))}) and its generated cells "
            f"{', '.join(sorted(generated))}: set skip.value to None (a missing value) or to a value of the "
            "generated type.")


def _parquet_can_store(kind: Any) -> bool:
    """False for a struct without fields at any depth (Arrow infers one from ``{}``; Parquet refuses it)."""
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return kind.num_fields > 0 and all(_parquet_can_store(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _parquet_can_store(kind.value_type)
    if pa.types.is_map(kind):
        return _parquet_can_store(kind.key_type) and _parquet_can_store(kind.item_type)
    return True


def _types_of(values: Any, row_ids: Any) -> str:
    """'int (rows 0-4), str (first at row 5)': the Python types of a column's values."""
    first: dict[str, int] = {}
    count: Counter[str] = Counter()
    for row_id, value in zip(row_ids.tolist(), to_list(values), strict=False):
        kind = type(value).__name__
        count[kind] += 1
        first.setdefault(kind, row_id)
    return ", ".join(f"{kind} x{count[kind]} (first at row {row})" for kind, row in first.items())
