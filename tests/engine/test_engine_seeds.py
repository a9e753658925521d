"""Seeds: file formats, globs, errors, ordered / shuffled / selected / cycled reads per batch."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.errors import SeedError


def _frame(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"doc_id": list(range(n)), "text": [f"t{i}" for i in range(n)]})


def _write(frame: pd.DataFrame, path, fmt: str) -> None:
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "json":
        path.write_text(json.dumps(frame.to_dict("records")))
    else:
        frame.to_json(path, orient="records", lines=True)


def _seeded(source, **kw) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=5).with_seed_dataset(source, **kw)
    return b.add_column(name="copy", column_type="expression", expr="{{ text }}-{{ doc_id }}")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json", "jsonl"])
def test_every_file_format(tmp_path, fmt):
    _write(_frame(), tmp_path / f"seed.{fmt}", fmt)
    run(_seeded(dd.LocalFileSeedSource(path=f"seed.{fmt}")), tmp_path / "ds", num_records=10, base_dir=tmp_path)
    df = load(tmp_path / "ds")
    assert list(df.columns) == ["doc_id", "text", "copy"]
    assert df["doc_id"].tolist() == list(range(10)) and df["copy"][3] == "t3-3"


def test_glob_and_directory_of_parquet(tmp_path):
    (tmp_path / "parts").mkdir()
    frame = _frame(9)
    for i in range(3):
        frame.iloc[i * 3:(i + 1) * 3].to_parquet(tmp_path / f"parts/p{i}.parquet", index=False)
    run(_seeded(dd.LocalFileSeedSource(path="parts/*.parquet")), tmp_path / "g", num_records=9, base_dir=tmp_path)
    run(_seeded(dd.LocalFileSeedSource(path="parts")), tmp_path / "d", num_records=9, base_dir=tmp_path)
    assert load(tmp_path / "g")["doc_id"].tolist() == list(range(9)) == load(tmp_path / "d")["doc_id"].tolist()


def test_seed_errors(tmp_path):
    (tmp_path / "seed.txt").write_text("x")
    with pytest.raises(SeedError, match="Seed glob 'nothing/\\*.parquet' matched no files"):
        _seeded(dd.LocalFileSeedSource(path="nothing/*.parquet")).build(base_dir=tmp_path)
    with pytest.raises(SeedError, match="Seed file 'missing.parquet' does not exist"):
        _seeded(dd.LocalFileSeedSource(path="missing.parquet")).build(base_dir=tmp_path)
    with pytest.raises(SeedError, match="unsupported type '.txt'"):
        _seeded(dd.LocalFileSeedSource(path="seed.txt")).build(base_dir=tmp_path)


def test_ordered_cycles_across_batches(tmp_path):
    run(_seeded(dd.DataFrameSeedSource(df=_frame(4))), tmp_path / "ds", num_records=10, buffer_size=3)
    assert load(tmp_path / "ds")["doc_id"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_shuffle_is_seeded_and_reproducible(tmp_path):
    src = dd.DataFrameSeedSource(df=_frame(20))
    run(_seeded(src, sampling_strategy=dd.SamplingStrategy.SHUFFLE), tmp_path / "a", num_records=20, buffer_size=7)
    run(_seeded(src, sampling_strategy="shuffle"), tmp_path / "b", num_records=20, buffer_size=7)
    ids = load(tmp_path / "a")["doc_id"].tolist()
    assert ids == load(tmp_path / "b")["doc_id"].tolist()
    assert sorted(ids) == list(range(20)) and ids != list(range(20))


def test_index_range_inclusive_and_partition_block(tmp_path):
    src = dd.DataFrameSeedSource(df=_frame(10))
    run(_seeded(src, selection_strategy=dd.IndexRange(start=2, end=4)), tmp_path / "r", num_records=5)
    assert load(tmp_path / "r")["doc_id"].tolist() == [2, 3, 4, 2, 3]
    run(_seeded(src, selection_strategy=dd.PartitionBlock(index=2, num_partitions=3)), tmp_path / "p", num_records=4)
    assert load(tmp_path / "p")["doc_id"].tolist() == [6, 7, 8, 9]  # last partition absorbs the remainder
    run(_seeded(src, selection_strategy=dd.PartitionBlock(index=0, num_partitions=3)), tmp_path / "q", num_records=4)
    assert load(tmp_path / "q")["doc_id"].tolist() == [0, 1, 2, 0]


def test_index_range_out_of_bounds(tmp_path):
    b = _seeded(dd.DataFrameSeedSource(df=_frame(5)), selection_strategy=dd.IndexRange(start=0, end=9))
    with pytest.raises(SeedError, match=r"IndexRange\(0, 9\) is out of bounds: the seed has 5 rows"):
        run(b, tmp_path / "ds")


def test_batch_reads_only_its_slice_of_a_multi_row_group_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(_frame(50), preserve_index=False), tmp_path / "s.parquet", row_group_size=7)
    src = dd.LocalFileSeedSource(path="s.parquet")
    run(_seeded(src, sampling_strategy="shuffle"), tmp_path / "a", num_records=120, buffer_size=11, base_dir=tmp_path)
    df = load(tmp_path / "a")
    assert (df["copy"] == df["text"] + "-" + df["doc_id"].astype(str)).all()
    assert sorted(df["doc_id"][:50]) == list(range(50))
