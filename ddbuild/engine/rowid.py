"""Row identity: what a seeded row is, not where it is (draw of its LLM requests and sampled values).

A seeded row is identified by its content plus its occurrence number among identical rows::

    content     64-bit hash of the row's cells, combined in column-name order: xxh3_64 of each
                text/binary cell, a fixed mix of each number's bits (int and float told apart,
                widths normalised), xxh3_64 of the canonical JSON of anything else. A null cell
                counts as absent, so a column promoted from null to string, or a column that only
                another seed file has, leaves the rows without a value where they were
    occurrence  k for the k-th row of that content among the output rows (seed order, cycles
                counted on), so two identical rows still get two independent draws

The draw written into request keys is ``"<content:016x>.<occurrence>"``; unseeded rows keep their
position (an int), so the two never meet. A stage reads its upstream's output as its seed, so a
row's identity below the first stage covers the upstream row it came from, generated columns
included. The hash only has to tell rows apart *within* one seed: a collision merges nothing
(the occurrence number still separates the rows, and the request key holds the rendered prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import xxhash

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

_START = 0x243F6A8885A308D3
_INT_TAG, _FLOAT_TAG, _BOOL_TAG = 0x1, 0x2, 0x3
_MASK = 0xFFFFFFFFFFFFFFFF


def mix(values: Any) -> Any:
    """splitmix64's finaliser over a uint64 array (wrapping arithmetic)."""
    import numpy as np

    with np.errstate(over="ignore"):
        z = values ^ (values >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _text_hashes(values: list[Any]) -> list[int]:
    hash64 = xxhash.xxh3_64_intdigest
    return [0 if v is None else hash64(v.encode("utf-8") if isinstance(v, str) else v) for v in values]


def _json_hashes(values: list[Any]) -> list[int]:
    from ddbuild.fingerprint import canonical_json

    hash64 = xxhash.xxh3_64_intdigest
    out = []
    for value in values:
        if value is None:
            out.append(0)
            continue
        try:
            text = canonical_json(value)
        except (TypeError, ValueError):  # datetimes, decimals, bytes inside structs: their text
            text = repr(value)
        out.append(hash64(text.encode("utf-8")))
    return out


def _column_hashes(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.uint64]:
    """One uint64 per cell (any value for a null cell); vectorised for numbers and booleans, one
    xxh3 call per text cell."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):  # a dictionary-encoded column is its values
        return _column_hashes(column.cast(kind.value_type))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        if pa.types.is_floating(kind):
            values = np.asarray(pc.fill_null(column.cast(pa.float64()), 0.0))
            values = np.where(np.isnan(values), np.nan, values)  # one NaN payload
            bits = values.view(np.uint64) ^ np.uint64(_FLOAT_TAG << 60)
        elif pa.types.is_boolean(kind):
            bits = np.asarray(pc.fill_null(column, False)).astype(np.uint64) ^ np.uint64(_BOOL_TAG << 60)
        else:
            values = np.asarray(pc.fill_null(column.cast(pa.int64(), safe=False), 0))  # uint64: same bits
            bits = values.astype(np.int64).view(np.uint64) ^ np.uint64(_INT_TAG << 60)
        return mix(bits)
    if (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)):
        return np.fromiter(_text_hashes(column.to_pylist()), dtype=np.uint64, count=len(column))
    if pa.types.is_null(kind):
        return np.zeros(len(column), dtype=np.uint64)
    return np.fromiter(_json_hashes(column.to_pylist()), dtype=np.uint64, count=len(column))


def content_hashes(table: pa.Table) -> npt.NDArray[np.uint64]:
    """The content hash of each row of ``table`` (column order does not matter, names do; a null
    cell is skipped, as if the row had no such column)."""
    import numpy as np

    hashes = np.full(table.num_rows, _START, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in sorted(table.column_names):
            column = table.column(name)
            name_hash = np.uint64(xxhash.xxh3_64_intdigest(name.encode("utf-8")))
            mixed = mix(hashes * np.uint64(0x100000001B3) + (_column_hashes(column) ^ name_hash))
            hashes = np.where(np.asarray(column.is_null()), hashes, mixed) if column.null_count else mixed
    return hashes


@dataclass(frozen=True)
class SelectionIdentity:
    """The identity of every selected seed row (selection order), and how often each content occurs."""

    hashes: npt.NDArray[np.uint64]  # content hash of selection position p
    occurrence: npt.NDArray[np.int64]  # p is the k-th row of its content in the selection
    copies: npt.NDArray[np.int64]  # how many rows of the selection share p's content

    @classmethod
    def of(cls, hashes: npt.NDArray[np.uint64]) -> SelectionIdentity:
        import numpy as np

        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        starts = np.ones(len(ordered), dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        group = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        sizes = np.diff(np.append(first, len(ordered)))
        occurrence = np.empty(len(hashes), dtype=np.int64)
        copies = np.empty(len(hashes), dtype=np.int64)
        occurrence[order] = np.arange(len(ordered)) - first[group]
        copies[order] = sizes[group]
        return cls(hashes, occurrence, copies)

    def shuffle_order(self, seed: int) -> npt.NDArray[np.int64]:
        """A seeded permutation that orders rows by a keyed hash of their identity: inserting or
        removing a row moves no other row relative to the rest."""
        import numpy as np

        salt = np.uint64(xxhash.xxh3_64_intdigest(f"shuffle:{int(seed) & _MASK}".encode()))
        with np.errstate(over="ignore"):
            keys = mix(mix(self.hashes ^ salt) + self.occurrence.astype(np.uint64))
        return np.argsort(keys, kind="stable").astype(np.int64)

    def rows(self, positions: npt.NDArray[np.int64], cycles: npt.NDArray[np.int64]) -> RowIdentity:
        """Identities of output rows at selection ``positions``, in cycle ``cycles`` over the selection."""
        occurrence = cycles * self.copies[positions] + self.occurrence[positions]
        return RowIdentity(self.hashes[positions], occurrence)


@dataclass(frozen=True)
class RowIdentity:
    """The identity of each row of one batch: content hash and occurrence number."""

    hashes: npt.NDArray[np.uint64]
    occurrence: npt.NDArray[np.int64]

    def draws(self) -> list[str]:
        """The draw of each row as written into request keys."""
        return [f"{h:016x}.{k}" for h, k in zip(self.hashes.tolist(), self.occurrence.tolist(), strict=True)]

    def take(self, mask: Any) -> RowIdentity:
        return RowIdentity(self.hashes[mask], self.occurrence[mask])


def row_stream_key(seed: int, name: str, content: int, occurrence: int) -> int:
    """The 128-bit Philox key of one row's stream for one column (see ``engine.rng.row_rng``)."""
    high = xxhash.xxh3_64_intdigest(f"{int(seed) & _MASK}:{name}:{content}".encode())
    return (high << 64) | (int(occurrence) & _MASK)
