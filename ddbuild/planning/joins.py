"""How a stage with several parents combines their outputs into one seed (Concat, JoinOn, callable)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ddbuild.errors import WorkflowError

JoinCallable = Callable[[dict[str, Path]], "str | Path"]


@dataclass(frozen=True)
class Concat:
    """Rows of every parent, parents in ``depends_on`` order; columns unified (missing → null)."""

    def identity(self) -> dict[str, Any]:
        return {"kind": "concat"}


@dataclass(frozen=True)
class JoinOn:
    """A relational join of the parents on ``columns``; clashing non-key columns get ``_<parent>``."""

    columns: list[str] = field(default_factory=list)
    how: Literal["inner", "left"] = "inner"

    def __post_init__(self) -> None:
        if not self.columns:
            raise WorkflowError("JoinOn needs at least one key column: JoinOn(columns=['id']).")
        if self.how not in ("inner", "left"):
            raise WorkflowError(f"JoinOn how={self.how!r} is not supported; use 'inner' or 'left'.")

    def identity(self) -> dict[str, Any]:
        return {"kind": "join_on", "columns": list(self.columns), "how": self.how}


Join = Concat | JoinOn | JoinCallable  # what ``add_stage(join=...)`` takes for several parents


def join_identity(join: Join | None, join_version: str | None) -> dict[str, Any] | None:
    """The key-relevant description of a join (None for single-parent stages)."""
    if join is None:
        return None
    if isinstance(join, (Concat, JoinOn)):
        return join.identity()
    from ddbuild.planning.callbacks import callable_identity

    return {"kind": "callable", **callable_identity(join, join_version)}


def _read(paths: list[Path]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in paths]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def apply_join(join: Join, parents: dict[str, list[Path]], parent_dirs: dict[str, Path], dest: Path) -> Path:
    """Write the joined seed to ``dest`` (a parquet file) and return the seed path to use."""
    import pyarrow.parquet as pq

    if isinstance(join, Concat):
        table = _read([p for name in parents for p in parents[name]])
    elif isinstance(join, JoinOn):
        table = _join_on(join, {name: _read(files) for name, files in parents.items()})
    else:
        from ddbuild.usercode import call_user

        result = _returned_path(call_user(join, "The join callable", dict(parent_dirs)), "The join callable")
        if not result.exists():
            raise WorkflowError(f"The join callable returned {result}, which does not exist.")
        return result
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dest)
    return dest


def _returned_path(value: Any, what: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise WorkflowError(f"{what} returned {type(value).__name__}; it must return a path (str or Path).")
    return Path(value)


def _join_on(join: JoinOn, tables: dict[str, Any]) -> Any:
    import pyarrow as pa

    names = list(tables)
    frames = {n: tables[n].to_pandas() for n in names}
    for name, frame in frames.items():
        missing = [c for c in join.columns if c not in frame.columns]
        if missing:
            raise WorkflowError(f"JoinOn key column(s) {missing} missing from the output of stage '{name}'.")
    counts: dict[str, int] = {}
    for frame in frames.values():
        for col in frame.columns:
            counts[col] = counts.get(col, 0) + 1
    clashing = {c for c, n in counts.items() if n > 1 and c not in join.columns}
    renamed = [
        frames[n].rename(columns={c: f"{c}_{n}" for c in frames[n].columns if c in clashing}) for n in names
    ]
    merged = renamed[0]
    for frame in renamed[1:]:
        merged = merged.merge(frame, on=list(join.columns), how=join.how)
    return pa.Table.from_pandas(merged.reset_index(drop=True), preserve_index=False)
