"""Seeded random streams: one numpy Generator per (config seed, column name, batch index).

Deriving each stream from those three values alone is what lets batch k be regenerated on its own
(resume) and makes a column's values independent of which other columns exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import xxhash

if TYPE_CHECKING:
    import numpy as np


def stream_seed(seed: int, name: str, batch_index: int) -> list[int]:
    """Entropy for numpy's SeedSequence (stable across processes and machines)."""
    return [int(seed) & 0xFFFFFFFFFFFFFFFF, xxhash.xxh64_intdigest(name.encode("utf-8")), int(batch_index)]


def rng_for(seed: int, name: str, batch_index: int) -> np.random.Generator:
    """A numpy Generator for one column in one batch."""
    import numpy as np

    return np.random.default_rng(stream_seed(seed, name, batch_index))
