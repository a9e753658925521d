"""Parquet export streams batch files through one writer (a row group per batch, schemas unified)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ddbuild.engine import io
from ddbuild.engine.writer import write_parquet
from ddbuild.errors import ArtifactError


def _batches(tmp_path, *tables):
    paths = []
    for index, table in enumerate(tables):
        path = tmp_path / f"parquet-files/batch_{index:05d}.parquet"
        write_parquet(table, path)
        paths.append(path)
    return paths


def test_parquet_export_streams_one_row_group_per_batch(tmp_path, monkeypatch):
    paths = _batches(
        tmp_path,
        pa.table({"id": [1, 2, 3], "note": pa.nulls(3), "score": [1, 2, 3]}),
        pa.table({"id": [4, 5], "note": ["a", None], "score": [0.5, 1.5]}),
        pa.table({"id": [6], "score": [7]}),  # a column absent from one batch
    )
    monkeypatch.setattr(io, "read_table", lambda *_: pytest.fail("export must not load the whole dataset"))
    out = io.export_files(paths, tmp_path / "out/data.parquet")
    first = out.read_bytes()
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == 6 and meta.num_row_groups == 3
    table = pq.read_table(out)
    assert table.schema == pa.schema([("id", pa.int64()), ("note", pa.string()), ("score", pa.float64())])
    assert table.to_pydict() == {
        "id": [1, 2, 3, 4, 5, 6],
        "note": [None, None, None, "a", None, None],
        "score": [1.0, 2.0, 3.0, 0.5, 1.5, 7.0],
    }
    io.export_files(paths, out)
    assert out.read_bytes() == first  # deterministic bytes
    assert [p.name for p in out.parent.iterdir()] == ["data.parquet"]  # no temp file left


def test_parquet_export_incompatible_schemas_is_an_artifact_error(tmp_path):
    paths = _batches(tmp_path, pa.table({"x": [1]}), pa.table({"x": [[1, 2]]}))
    with pytest.raises(ArtifactError, match="incompatible schemas"):
        io.export_files(paths, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
