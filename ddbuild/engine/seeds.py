"""Seed rows for a batch: selection, seeded shuffle and cycling over files read lazily.

Global output row ``r`` maps to position ``r mod S`` of the selection (``S`` rows), so batch k can
be read on its own (resume) and ordered reads are continuous across batches::

    output rows   0 1 2 3 4 5 6 ...
    selection     s0 s1 s2 s0 s1 s2 s0 ...     (S = 3: cycling)
    shuffle       perm[p] instead of p: rows ordered by a hash of (config seed, row identity)

Each output row also has an identity (``engine.rowid``: its content and occurrence number, the
cycle counted on), computed once for the whole selection the first time it is asked for.

Parquet files are read by row group, only the groups a batch needs; csv/json files are read whole
once (they have no random access).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.config.seeds import DataFrameSeedSource, IndexRange, PartitionBlock, SamplingStrategy, SeedConfig
from ddbuild.engine.rowid import RowIdentity, SelectionIdentity, content_hashes
from ddbuild.engine.seed_reader import read_file_rows, read_table
from ddbuild.errors import SeedError

if TYPE_CHECKING:
    import pyarrow as pa

IDENTITY_CHUNK = 65_536  # selection rows hashed per read (bounds memory on large seeds)


@dataclass
class _SeedFile:
    """One file (or an in-memory table) with its row count; ``table`` is loaded on demand."""

    path: Path | None
    num_rows: int
    table: Any = None
    row_group_starts: Any = None  # parquet only: first row of each row group

    def take(self, local: Any) -> Any:
        import numpy as np

        if self.table is not None or self.row_group_starts is None:
            if self.table is None:
                assert self.path is not None, "an in-memory seed is opened with its table"
                self.table = read_table(self.path)
            return self.table.take(local)
        import pyarrow.parquet as pq

        groups = np.unique(np.searchsorted(self.row_group_starts, local, side="right") - 1)
        table = pq.ParquetFile(self.path).read_row_groups(groups.tolist())
        starts = self.row_group_starts[groups]
        sizes = np.diff(np.append(self.row_group_starts, self.num_rows))[groups]
        # Position of each wanted row inside the concatenation of the groups read.
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        group_pos = np.searchsorted(starts, local, side="right") - 1
        return table.take(offsets[group_pos] + (local - starts[group_pos]))


def _open_file(path: Path) -> _SeedFile:
    if path.suffix.lower() != ".parquet":
        table = read_table(path)
        return _SeedFile(path, table.num_rows, table=table)
    import numpy as np
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad seed file
        raise SeedError(f"Seed file '{path}' could not be read as parquet: {exc}") from exc
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int64") if sizes else np.zeros(0, "int64")
    return _SeedFile(path, meta.num_rows, row_group_starts=starts)


@dataclass
class SeedReader:
    """Reads the seed rows of any batch; memory is bounded by the batch plus one row group."""

    files: list[_SeedFile]
    start: int  # first selected row (over all files)
    size: int  # number of selected rows (S)
    shuffle_seed: int | None = None  # shuffle: the config seed; None keeps the seed's order
    column_names: list[str] = field(default_factory=list)
    _identity: SelectionIdentity | None = None
    _permutation: Any = None

    def rows(self, first_row: int, n: int) -> pa.Table:
        """Seed rows for output rows ``first_row .. first_row + n - 1`` as a pyarrow Table."""
        return self._take(self._positions(first_row, n) + self.start)

    def identity(self, first_row: int, n: int) -> RowIdentity:
        """The identity of output rows ``first_row .. first_row + n - 1``."""
        import numpy as np

        cycles = np.arange(first_row, first_row + n, dtype="int64") // self.size
        return self.selection_identity().rows(self._positions(first_row, n), cycles)

    def selection_identity(self) -> SelectionIdentity:
        """Content hash and occurrence number of every selected row (hashed once, in chunks)."""
        if self._identity is None:
            import numpy as np

            chunks = [
                content_hashes(self._take(np.arange(first, min(first + IDENTITY_CHUNK, self.size),
                                                    dtype="int64") + self.start))
                for first in range(0, self.size, IDENTITY_CHUNK)
            ]
            self._identity = SelectionIdentity.of(np.concatenate(chunks))
        return self._identity

    def _positions(self, first_row: int, n: int) -> Any:
        import numpy as np

        positions = (np.arange(first_row, first_row + n, dtype="int64")) % self.size
        if self.shuffle_seed is not None:
            if self._permutation is None:
                self._permutation = self.selection_identity().shuffle_order(self.shuffle_seed)
            positions = self._permutation[positions]
        return positions

    def _take(self, global_rows: Any) -> Any:
        import numpy as np
        import pyarrow as pa

        bounds = np.cumsum([f.num_rows for f in self.files])
        which = np.searchsorted(bounds, global_rows, side="right")
        pieces, order = [], []
        for index in np.unique(which).tolist():
            mask = which == index
            first = bounds[index - 1] if index else 0
            pieces.append(self.files[index].take(global_rows[mask] - first))
            order.append(np.nonzero(mask)[0])
        table = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces, promote_options="permissive")
        if len(pieces) > 1:
            table = table.take(np.argsort(np.concatenate(order), kind="stable"))
        return table


def open_seed(seed_config: SeedConfig, seed: int, base_dir: Path | None) -> SeedReader:
    """Resolve files, apply the selection strategy and the (seeded) sampling strategy."""
    files = _open_source(seed_config, base_dir)
    total = sum(f.num_rows for f in files)
    start, size = _selection(seed_config.selection_strategy, total)
    shuffle = seed if seed_config.sampling_strategy == SamplingStrategy.SHUFFLE else None
    return SeedReader(files, start, size, shuffle, _column_names(files))


def _open_source(seed_config: SeedConfig, base_dir: Path | None) -> list[_SeedFile]:
    source = seed_config.source
    if isinstance(source, DataFrameSeedSource):
        import pyarrow as pa

        table = pa.Table.from_pandas(source.df, preserve_index=False)
        return [_SeedFile(None, table.num_rows, table=table)]
    if getattr(source, "one_row_per_file", False):  # a directory's files, one row each
        table = read_file_rows(source, base_dir)
        return [_SeedFile(None, table.num_rows, table=table)]
    return [_open_file(path) for path in source.files(base_dir)]


def _column_names(files: list[_SeedFile]) -> list[str]:
    first = files[0]
    if first.table is not None:
        return list(first.table.column_names)
    import pyarrow.parquet as pq

    return list(pq.read_schema(first.path).names)


def _selection(selection: IndexRange | PartitionBlock | None, total: int) -> tuple[int, int]:
    if total == 0:
        raise SeedError("The seed dataset has no rows.")
    if isinstance(selection, IndexRange):
        if selection.end >= total:
            raise SeedError(
                f"Seed selection IndexRange({selection.start}, {selection.end}) is out of bounds: "
                f"the seed has {total} rows (last index {total - 1})."
            )
        return selection.start, selection.end - selection.start + 1
    if isinstance(selection, PartitionBlock):
        block = total // selection.num_partitions
        if block == 0:
            raise SeedError(
                f"Seed selection PartitionBlock splits {total} rows into {selection.num_partitions} partitions: "
                "some partitions would be empty."
            )
        start = selection.index * block
        last = selection.index == selection.num_partitions - 1
        return start, (total - start) if last else block
    return 0, total
