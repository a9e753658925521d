"""DataDesigner.create resume modes and DatasetCreationResults (load, count, export, paths)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from engine_helpers import sampler

import ddbuild as dd
from ddbuild.errors import ArtifactError, ResumeError


def _builder(expr="{{ n }}"):
    b = dd.DataDesignerConfigBuilder(seed=1)
    sampler(b, "n", "poisson", mean=4)
    b.add_column(name="when", column_type="sampler", sampler_type="datetime",
                 params={"start": "2024-01-01", "end": "2024-02-01"})
    b.add_column(name="e", column_type="expression", expr="ünï-" + expr)
    b.add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"v": "{{ e }}"}))
    return b


@pytest.fixture
def designer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DDBUILD_CACHE", raising=False)
    d = dd.DataDesigner()
    d.set_run_config(dd.RunConfig(buffer_size=4))
    return d


def test_defaults_and_run_config(designer, tmp_path, monkeypatch):
    assert designer.artifact_path == dd.designer.DEFAULT_ARTIFACTS
    assert designer.cache_path == tmp_path / ".ddbuild" / "cache"
    assert designer.run_config.buffer_size == 4
    monkeypatch.setenv("DDBUILD_CACHE", str(tmp_path / "shared"))
    assert dd.DataDesigner().cache_path == tmp_path / "shared"


def test_create_and_results(designer, tmp_path):
    results = designer.create(_builder(), num_records=10)
    assert results.base_dataset_path == dd.designer.DEFAULT_ARTIFACTS / "dataset"
    assert results.final_dataset_path == results.base_dataset_path / "parquet-files"
    assert results.processors_outputs_path == results.base_dataset_path / "processors-files"
    assert results.count_records() == 10 and len(results.load_dataset()) == 10
    assert results.load_processor_dataset("side")["v"].str.startswith("ünï-").all()
    assert results.metadata["actual_num_records"] == 10
    with pytest.raises(ArtifactError, match="No processor output named 'sdie'.*Did you mean 'side'"):
        results.load_processor_dataset("sdie")


def test_exports(designer, tmp_path):
    results = designer.create(_builder(), num_records=6)
    frame = results.load_dataset()
    results.export(tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and "ünï-" in lines[0]  # non-ASCII kept
    record = json.loads(lines[0])
    assert record["when"] == frame["when"][0].isoformat() and record["n"] == frame["n"][0]
    results.export(tmp_path / "out.csv")
    assert len(pd.read_csv(tmp_path / "out.csv")) == 6
    results.export(tmp_path / "out.parquet")
    assert pd.read_parquet(tmp_path / "out.parquet").equals(frame)
    results.export(tmp_path / "data.txt", format="jsonl")
    with pytest.raises(ArtifactError, match="Unsupported export format 'xlsx'"):
        results.export(tmp_path / "out.xlsx")


def test_resume_modes(designer, tmp_path):
    first = designer.create(_builder(), num_records=8)
    again = designer.create(_builder(), num_records=8)  # NEVER: a timestamped sibling
    assert again.base_dataset_path.name.startswith("dataset_") and first.base_dataset_path.exists()
    cont = designer.create(_builder(), num_records=12, resume=dd.ResumeMode.ALWAYS)
    assert cont.base_dataset_path == first.base_dataset_path and cont.summary.batches_reused == 2
    other = designer.create(_builder("{{ n + 1 }}"), num_records=8, resume=dd.ResumeMode.IF_POSSIBLE)
    assert other.base_dataset_path != first.base_dataset_path  # incompatible: fresh sibling
    same = designer.create(_builder(), num_records=12, resume=dd.ResumeMode.IF_POSSIBLE)
    assert same.base_dataset_path == first.base_dataset_path and same.summary.batches_generated == 0
    with pytest.raises(ResumeError, match="no existing dataset found"):
        designer.create(_builder(), dataset_name="fresh", resume=dd.ResumeMode.ALWAYS)
    with pytest.raises(ResumeError, match="recorded digest"):
        designer.create(_builder("{{ n + 1 }}"), num_records=8, resume=dd.ResumeMode.ALWAYS)


def test_import_stays_light():
    code = ("import sys, ddbuild as dd\n"
            "b = dd.DataDesignerConfigBuilder()\n"
            "b.add_column(name='x', column_type='sampler', sampler_type='uniform', params={'low': 0, 'high': 1})\n"
            "b.build(); dd.DataDesigner; dd.DatasetCreationResults\n"
            "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy', 'faker', 'aiohttp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_if_possible_hashes_each_seed_file_once(designer, tmp_path, monkeypatch):
    import ddbuild.fingerprint as fingerprint

    pd.DataFrame({"t": ["a", "b", "c"]}).to_parquet(tmp_path / "seed.parquet")
    b = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    b.add_column(name="e", column_type="expression", expr="{{ t }}!")
    designer.create(b, num_records=4)
    hashed = []
    real = fingerprint.digest_file
    monkeypatch.setattr(fingerprint, "digest_file", lambda path: hashed.append(path) or real(path))
    again = designer.create(b, num_records=8, resume=dd.ResumeMode.IF_POSSIBLE)
    assert again.summary.batches_reused == 1
    # the seed once (config digest), and the reused checkpoint once (its recorded digest is checked)
    assert sorted(Path(p).name for p in hashed) == ["batch_00000.parquet", "seed.parquet"]
