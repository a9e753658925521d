"""Bad input: each one a clear error, raised before the dataset directory is touched."""

from __future__ import annotations

import pandas as pd
import pytest
from engine_helpers import file_bytes, run, sampler

import ddbuild as dd
from ddbuild.errors import ColumnReferenceError, ConfigError, SeedError, TemplateError


@pytest.fixture
def existing(tmp_path):
    """A finished dataset whose bytes must survive every failed attempt below."""
    pd.DataFrame({"text": ["a", "b"]}).to_parquet(tmp_path / "seed.parquet")
    b = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    b.add_column(name="e", column_type="expression", expr="{{ text }}!")
    run(b, tmp_path / "artifacts/dataset", num_records=4, base_dir=tmp_path)
    return tmp_path, file_bytes(tmp_path / "artifacts")


def _attempt(tmp_path, make_builder, num_records=4):
    """Build and generate over the existing dataset dir (resume=False would clear it: it must not)."""
    run(make_builder(), tmp_path / "artifacts/dataset", num_records=num_records, base_dir=tmp_path)


def _seeded(path="seed.parquet"):
    return dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path=path))


def _config_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return lambda: dd.DataDesignerConfigBuilder.from_config(path)


BAD = {
    "malformed_yaml": (lambda t: _config_file(t, "c.yaml", "columns: [\n  - name: x\n   bad"),
                       ConfigError, r"is not valid YAML \(line \d+, column \d+\)"),
    "malformed_json": (lambda t: _config_file(t, "c.json", '{"columns": [}'),
                       ConfigError, r"is not valid JSON: .* \(line 1, column 14\)"),
    "unknown_column_type": (
        lambda t: lambda: dd.DataDesignerConfigBuilder().add_column(name="x", column_type="samplr"),
        ConfigError, r"Column 'x' has unknown column_type 'samplr'. Did you mean 'sampler'\? Valid types: custom, "),
    "wrong_param_types": (
        lambda t: lambda: sampler(dd.DataDesignerConfigBuilder(), "price", "uniform", low="cheap", high=2),
        ConfigError, r"Column 'price' \(sampler\).*low"),
    "missing_seed_file": (lambda t: lambda: _seeded("gone.parquet"), SeedError, "Seed file 'gone.parquet' does not exist"),
    "empty_glob": (lambda t: lambda: _seeded("none/*.csv"), SeedError, r"Seed glob 'none/\*.csv' matched no files"),
    "not_a_seed_type": (lambda t: (t / "seed.xlsx").write_text("x") and (lambda: _seeded("seed.xlsx")),
                        SeedError, "unsupported type '.xlsx'. Use parquet, csv, json or jsonl."),
    "unknown_reference": (
        lambda t: lambda: _seeded().add_column(name="e", column_type="expression", expr="{{ txet }}"),
        ColumnReferenceError, r"Column 'e' references unknown column 'txet'. Did you mean 'text'\?"),
    "sandbox_escape": (
        lambda t: lambda: _seeded().add_column(name="e", column_type="expression", expr="{{ ''.__class__ }}"),
        TemplateError, r"accesses '__class__', which the sandbox forbids"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_a_clear_error_and_leaves_artifacts_untouched(existing, case):
    tmp_path, before = existing
    make, error, message = BAD[case]
    with pytest.raises(error, match=message):
        _attempt(tmp_path, make(tmp_path))
    assert file_bytes(tmp_path / "artifacts") == before


@pytest.mark.parametrize("num_records", [0, -3])
def test_num_records_below_one(existing, num_records):
    tmp_path, before = existing
    b = _seeded().add_column(name="e", column_type="expression", expr="{{ text }}!")
    with pytest.raises(ConfigError, match=f"num_records must be a positive integer, got {num_records}"):
        _attempt(tmp_path, lambda: b, num_records=num_records)
    assert file_bytes(tmp_path / "artifacts") == before


def test_seed_removed_after_build_fails_before_touching(existing):
    tmp_path, before = existing
    pd.DataFrame({"text": ["z"]}).to_parquet(tmp_path / "other.parquet")
    config = _seeded("other.parquet").build(base_dir=tmp_path)
    (tmp_path / "other.parquet").unlink()
    with pytest.raises(SeedError, match="Seed file 'other.parquet' does not exist"):
        run(config, tmp_path / "artifacts/dataset", base_dir=tmp_path)
    assert file_bytes(tmp_path / "artifacts") == before


def test_designer_create_rejects_bad_input_without_touching(existing, monkeypatch):
    tmp_path, before = existing
    monkeypatch.chdir(tmp_path)
    designer = dd.DataDesigner(artifact_path=tmp_path / "artifacts")
    with pytest.raises(ConfigError, match="num_records must be a positive integer"):
        designer.create(_seeded(), num_records=0, resume=dd.ResumeMode.ALWAYS)
    assert file_bytes(tmp_path / "artifacts") == before
