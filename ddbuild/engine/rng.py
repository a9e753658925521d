"""Seeded random streams: per (config seed, column, batch) for unseeded rows, per row for seeded ones.

Unseeded rows: one numpy Generator per (config seed, column name, batch index). Deriving each
stream from those three values alone is what lets batch k be regenerated on its own (resume) and
makes a column's values independent of which other columns exist.

Seeded rows: one stream per (config seed, column name, row identity) (``engine.rowid``), so a
row's sampled values follow the row, not its position: inserting a seed row above it changes
nothing. ``RowStreams`` draws them vectorised (draw j of row i is a hash of (row key i, j)) for
the methods the common samplers use; the others take one Philox Generator per row (``row_rng``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import xxhash

from ddbuild.engine.rowid import mix, row_stream_key

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ddbuild.engine.rowid import RowIdentity

_GOLDEN = 0x9E3779B97F4A7C15


def stream_seed(seed: int, name: str, batch_index: int) -> list[int]:
    """Entropy for numpy's SeedSequence (stable across processes and machines)."""
    return [int(seed) & 0xFFFFFFFFFFFFFFFF, xxhash.xxh64_intdigest(name.encode("utf-8")), int(batch_index)]


def rng_for(seed: int, name: str, batch_index: int) -> np.random.Generator:
    """A numpy Generator for one column in one batch."""
    import numpy as np

    return np.random.default_rng(stream_seed(seed, name, batch_index))


def row_rng(seed: int, name: str, content: int, occurrence: int) -> np.random.Generator:
    """A numpy Generator for one column of one seeded row (Philox: a key, no seeding pass)."""
    import numpy as np

    return np.random.Generator(np.random.Philox(key=row_stream_key(seed, name, content, occurrence)))


def row_keys(seed: int, name: str, identity: RowIdentity) -> npt.NDArray[np.uint64]:
    """One 64-bit stream key per row of ``identity`` for column ``name``."""
    import numpy as np

    salt = np.uint64(xxhash.xxh3_64_intdigest(f"{int(seed) & 0xFFFFFFFFFFFFFFFF}:{name}".encode()))
    with np.errstate(over="ignore"):
        return mix(mix(identity.hashes ^ salt) + identity.occurrence.astype(np.uint64))


class RowStreams:
    """numpy-Generator-like draws, one independent counter-based stream per row, vectorised.

    Implements what the category, subcategory, uniform, gaussian, bernoulli, uuid, datetime and
    timedelta samplers call; every call takes the next draw(s) of every row's stream."""

    def __init__(self, keys: npt.NDArray[np.uint64]) -> None:
        self.keys = keys
        self.counter = 0

    def _bits(self, n: int, width: int = 1) -> npt.NDArray[np.uint64]:
        import numpy as np

        if n != len(self.keys):
            raise ValueError(f"{n} draws asked of {len(self.keys)} row streams")
        counters = np.arange(self.counter, self.counter + width, dtype=np.uint64) * np.uint64(_GOLDEN)
        self.counter += width
        with np.errstate(over="ignore"):
            return mix(self.keys[:, None] + counters[None, :] + np.uint64(1))  # shape (n, width)

    def random(self, n: int) -> npt.NDArray[np.float64]:
        import numpy as np

        return (self._bits(n)[:, 0] >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

    def uniform(self, low: float, high: float, n: int) -> npt.NDArray[np.float64]:
        return low + (high - low) * self.random(n)

    def normal(self, mean: float, stddev: float, n: int) -> npt.NDArray[np.float64]:
        import numpy as np

        bits = (self._bits(n, 2) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        radius = np.sqrt(-2.0 * np.log1p(-bits[:, 0]))  # Box-Muller; 1 - u is in (0, 1]
        return mean + stddev * radius * np.cos(2.0 * np.pi * bits[:, 1])

    def integers(
        self, low: int, high: int, size: int | tuple[int, int] | None = None, dtype: str = "int64"
    ) -> npt.NDArray[Any]:
        import numpy as np

        if isinstance(size, tuple):  # (n, k) bytes, as the uuid sampler asks
            n, width = size
            if (low, high, np.dtype(dtype)) != (0, 256, np.dtype("uint8")):
                raise TypeError("RowStreams.integers draws (n, k) shapes of uint8 bytes only")
            words = self._bits(n, -(-width // 8)).astype("<u8")  # the same bytes on every machine
            return words.view(np.uint8).reshape(n, -1)[:, :width].copy()
        if size is None:
            raise TypeError("RowStreams.integers draws one value per row: pass size=n")
        span = int(high) - int(low)
        if span <= 0:
            raise ValueError(f"low >= high ({low} >= {high})")
        bits = self._bits(int(size))[:, 0]
        if span < 1 << 63:
            return (int(low) + (bits % np.uint64(span)).astype(np.int64)).astype(dtype)
        return (int(low) + (bits >> np.uint64(1)).astype(np.int64)).astype(dtype)

    def choice(
        self, options: int | Sequence[object] | npt.NDArray[Any], size: int, p: Sequence[float] | npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[Any]:
        import numpy as np

        count = options if isinstance(options, int) else len(options)
        draws = self.random(size)
        if p is None:
            index = np.minimum((draws * count).astype(np.int64), count - 1)
        else:
            index = np.minimum(np.searchsorted(np.cumsum(p), draws, side="right"), count - 1)
        return index if isinstance(options, int) else np.asarray(options)[index]
