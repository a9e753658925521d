"""Processors: drop_columns (globs, side folder), drop=True, schema_transform, processor-only runs."""

from __future__ import annotations

import json

import pandas as pd
from engine_helpers import load, run, sampler

import ddbuild as dd


def test_drop_processor_globs_and_side_folder(tmp_path):
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "keep", "uniform", low=0, high=1)
    sampler(b, "tmp_a", "uniform", low=0, high=1)
    sampler(b, "tmp_b", "bernoulli", p=0.5)
    b.add_column(name="scratch", column_type="expression", expr="{{ keep }}", drop=True)
    b.add_processor(dd.DropColumnsProcessorConfig(name="cleanup", column_names=["tmp_*"]))
    run(b, tmp_path / "ds", num_records=12, buffer_size=5)
    assert list(load(tmp_path / "ds").columns) == ["keep"]
    dropped = load(tmp_path / "ds", "dropped-columns-parquet-files")
    assert list(dropped.columns) == ["tmp_a", "tmp_b", "scratch"] and len(dropped) == 12
    assert sorted(p.name for p in (tmp_path / "ds/dropped-columns-parquet-files").iterdir()) == [
        "batch_00000.parquet", "batch_00001.parquet", "batch_00002.parquet"]


def test_dropped_columns_not_kept_when_disabled(tmp_path):
    from ddbuild.engine.dataset import generate_dataset

    b = dd.DataDesignerConfigBuilder()
    sampler(b, "keep", "uniform", low=0, high=1)
    sampler(b, "gone", "uniform", low=0, high=1)
    b.add_processor(dd.DropColumnsProcessorConfig(name="d", column_names=["gone"]))
    generate_dataset(b.build(), num_records=3, dataset_dir=tmp_path / "ds", resume=False, base_dir=tmp_path,
                     run_config=dd.RunConfig(preserve_dropped_columns=False))
    assert not (tmp_path / "ds/dropped-columns-parquet-files").exists()


def test_schema_transform_side_dataset_is_valid_json(tmp_path):
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({
        "q": ['He said "hi"\nthen left', "naïve \\ path", "{{ not a template }}"],
        "meta": [{"lang": "en"}, {"lang": "fr"}, {"lang": "de"}],
    })))
    b.add_processor(dd.SchemaTransformProcessorConfig(name="chatml", template={
        "messages": [{"role": "user", "content": "Q: {{ q }}"}, {"role": "assistant", "content": "ok"}],
        "lang": "{{ meta.lang }}",
    }))
    run(b, tmp_path / "ds", num_records=3)
    side = load(tmp_path / "ds", "processors-files/chatml")
    assert side["messages"][0][0]["content"] == 'Q: He said "hi"\nthen left'
    assert side["messages"][1][0]["content"] == "Q: naïve \\ path"
    assert side["messages"][2][0]["content"] == "Q: {{ not a template }}"
    assert side["lang"].tolist() == ["en", "fr", "de"]
    # the main dataset is unchanged by the transform
    assert list(load(tmp_path / "ds").columns) == ["q", "meta"]
    from ddbuild.engine.io import export_files

    export_files(sorted((tmp_path / "ds/processors-files/chatml").glob("*.parquet")), tmp_path / "c.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[1]["messages"][0] == {"role": "user", "content": "Q: naïve \\ path"}


def test_processor_only_run(tmp_path):
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_parquet(tmp_path / "seed.parquet", index=False)
    b = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    b.add_processor(dd.DropColumnsProcessorConfig(name="drop_b", column_names=["b"]))
    b.add_processor(dd.SchemaTransformProcessorConfig(name="pairs", template={"pair": "{{ a }}/{{ b }}"}))
    summary = run(b, tmp_path / "ds", num_records=3, base_dir=tmp_path)
    assert summary.num_records == 3
    assert load(tmp_path / "ds")["a"].tolist() == [1, 2, 3]
    assert load(tmp_path / "ds", "processors-files/pairs")["pair"].tolist() == ["1/x", "2/y", "3/z"]
    assert list(load(tmp_path / "ds", "dropped-columns-parquet-files").columns) == ["b"]


def test_schema_transform_sees_dropped_column_whatever_the_order(tmp_path):
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(tmp_path / "seed.parquet", index=False)
    b = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    b.add_processor(dd.SchemaTransformProcessorConfig(name="pairs", template={"pair": "{{ a }}/{{ b }}"}))
    b.add_processor(dd.DropColumnsProcessorConfig(name="drop_b", column_names=["b"]))
    run(b, tmp_path / "ds", num_records=2, base_dir=tmp_path)
    assert load(tmp_path / "ds", "processors-files/pairs")["pair"].tolist() == ["1/x", "2/y"]
    assert list(load(tmp_path / "ds").columns) == ["a"]
