"""Is a blob a Parquet file: magic bytes and footer length (cheap), and a footer pyarrow can read.

Blobs are content-addressed, so a digest check proves the bytes are the ones an entry names, not
that they are Parquet: a hostile (or broken) entry can name any bytes. Before a blob becomes an
output (a view file, a child's input) it is checked here; a blob that fails is a miss, quarantined
and rebuilt, never handed to a child that would crash on it.

    cheap (no pyarrow):  "PAR1" at both ends, footer length + 12 <= file size
    full:                pyarrow.parquet.read_metadata (imported lazily) reads the footer
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

MAGIC = b"PAR1"


def parquet_problem(path: str | os.PathLike[str], *, footer: bool = True) -> str | None:
    """Why ``path`` is not a Parquet file, or None when it is (``footer=False``: cheap checks only)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 12:
                return f"it is {size} bytes, too short for Parquet"
            head = handle.read(4)
            handle.seek(size - 8)
            tail = handle.read(8)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if head != MAGIC or tail[4:] != MAGIC:
        return "it does not start and end with the Parquet magic bytes PAR1"
    (length,) = struct.unpack("<I", tail[:4])
    if length + 12 > size:
        return f"its footer length {length} does not fit in its {size} bytes"
    if footer:
        import pyarrow.parquet as pq

        try:
            pq.read_metadata(Path(path))
        except Exception as exc:  # noqa: BLE001 - any failure to read the footer is the answer
            return f"its Parquet footer cannot be read ({type(exc).__name__}: {exc})"
    return None
