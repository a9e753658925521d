"""DataDesigner.preview: the rows create would write first, held in memory, no artifacts left."""

from __future__ import annotations

import tempfile

import pytest
from engine_helpers import sampler

import ddbuild as dd


def _builder():
    b = dd.DataDesignerConfigBuilder(seed=7)
    sampler(b, "n", "poisson", mean=4)
    b.add_column(name="e", column_type="expression", expr="n is {{ n }}\nsecond line")
    b.add_column(name="scratch", column_type="expression", expr="{{ n * 3 }}", drop=True)
    b.add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"v": "{{ scratch }}"}))
    return b


@pytest.fixture
def designer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    d = dd.DataDesigner(cache=tmp_path / "cache")
    d.set_run_config(dd.RunConfig(buffer_size=4))
    return d


def test_preview_equals_the_first_rows_of_create_and_writes_nothing(designer, tmp_path):
    preview = designer.preview(_builder(), num_records=6)
    assert not (tmp_path / "artifacts").exists() and list((tmp_path / "tmp").iterdir()) == []
    created = designer.create(_builder(), num_records=10).load_dataset()
    assert preview.dataset.equals(created.head(6))
    assert list(preview.dataset.columns) == ["n", "e"]
    assert list(preview.processor_artifacts) == ["side"]
    assert preview.processor_artifacts["side"]["v"].tolist() == [str(n * 3) for n in preview.dataset["n"]]
    assert preview.dropped_rows == {}


def test_display_sample_record(designer, capsys):
    preview = designer.preview(_builder(), num_records=3)
    preview.display_sample_record(1)
    n = preview.dataset["n"][1]
    assert capsys.readouterr().out == (
        f"Record 1 of 3\n  n: {n}\n  e: n is {n}\n     second line\n\nProcessor 'side'\n  v: {n * 3}\n"
    )
    with pytest.raises(IndexError, match="Record 3 does not exist: the preview has 3 record"):
        preview.display_sample_record(3)
