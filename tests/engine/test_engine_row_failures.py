"""Row-level failures drop the row (Data Designer's behaviour), counted per reason; a first batch
lost entirely to one column is an error (early shutdown), not a silently empty dataset."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.errors import GenerationError, TemplateError


def _seeded(values):
    return dd.DataDesignerConfigBuilder().with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"v": values})))


@dd.custom_column_generator(required_columns=["v"])
def shout(row):
    if row["v"] == "x":
        raise ValueError(f"cannot shout {row['v']!r}")
    row["loud"] = str(row["v"]).upper() + "!"
    return row


def test_cast_failures_drop_rows_with_exact_counts(tmp_path):
    b = _seeded(["1", "2", "x", "4", "y"])
    b.add_column(name="num", column_type="expression", expr="{{ v }}", dtype="int")
    b.add_column(name="after", column_type="expression", expr="{{ num + 1 }}", dtype="int")
    summary = run(b, tmp_path / "ds", num_records=10, buffer_size=5)
    assert summary.num_records == 6 and summary.dropped_rows == {"expression_error:num": 4}
    assert load(tmp_path / "ds")["after"].tolist() == [2, 3, 5, 2, 3, 5]
    meta = json.loads((tmp_path / "ds/metadata.json").read_text())
    assert meta["dropped_rows"] == {"expression_error:num": 4} and meta["actual_num_records"] == 6
    assert meta["first_errors"] == {
        "expression_error:num": "Column 'num': cannot cast rendered value 'x' to int (row 2)."
    }
    assert meta["batches"]["1"]["dropped_rows"] == {"expression_error:num": 2}
    assert summary.first_errors == meta["first_errors"]


def test_render_failures_and_custom_errors_drop_rows(tmp_path):
    b = _seeded(["0", "2", "x", "5"])
    b.add_column(name="inv", column_type="expression", expr="{{ 10 // (v | int) }}", dtype="int")
    b.add_column(dd.CustomColumnConfig(name="loud", generator_function=shout))
    summary = run(b, tmp_path / "ds", num_records=8, buffer_size=8)
    # row 0/4: v=0 divides by zero; rows 2/6: v='x' -> int 0 -> divides by zero too (render error)
    assert summary.dropped_rows == {"expression_error:inv": 4} and summary.num_records == 4
    assert "ZeroDivisionError" in summary.first_errors["expression_error:inv"]
    assert "(row 0)" in summary.first_errors["expression_error:inv"]
    b2 = _seeded(["a", "x", "b", "x", "c"])
    b2.add_column(dd.CustomColumnConfig(name="loud", generator_function=shout))
    summary = run(b2, tmp_path / "ds2", num_records=5)
    assert summary.dropped_rows == {"custom_error:loud": 2} and summary.num_records == 3
    assert load(tmp_path / "ds2")["loud"].tolist() == ["A!", "B!", "C!"]
    assert summary.first_errors == {
        "custom_error:loud": "Column 'loud': custom generator shout raised ValueError: cannot shout 'x' (row 1)."
    }


def test_first_batch_all_failing_for_one_column_is_an_error(tmp_path):
    b = _seeded(["x", "y"])
    b.add_column(name="num", column_type="expression", expr="{{ v }}", dtype="int")
    with pytest.raises(GenerationError) as caught:
        run(b, tmp_path / "ds", num_records=6, buffer_size=3)
    message = str(caught.value)
    assert "Column 'num' failed for every row of the first batch (3 of 3, expression_error:num)" in message
    assert "first error: Column 'num': cannot cast rendered value 'x' to int (row 0)." in message
    assert not (tmp_path / "ds/parquet-files").exists()


def test_later_batch_failing_entirely_is_dropped_not_fatal(tmp_path):
    b = _seeded(["1", "2", "3", "x", "y", "z"])
    b.add_column(name="num", column_type="expression", expr="{{ v }}", dtype="int")
    summary = run(b, tmp_path / "ds", num_records=6, buffer_size=3)
    assert summary.num_records == 3 and summary.dropped_rows == {"expression_error:num": 3}
    assert [p.name for p in sorted((tmp_path / "ds/parquet-files").iterdir())] == ["batch_00000.parquet"]


def test_first_batch_failing_across_two_columns_drops_rows(tmp_path):
    b = _seeded(["x", "0"])
    b.add_column(name="num", column_type="expression", expr="{{ v }}", dtype="int")
    b.add_column(name="inv", column_type="expression", expr="{{ 10 // num }}", dtype="int")
    designer = dd.DataDesigner(artifact_path=tmp_path / "artifacts", cache=tmp_path / "cache")
    with pytest.raises(GenerationError, match=r"every row was dropped \(\{'expression_error:inv': 1, "
                                              r"'expression_error:num': 1\}\)"):
        designer.create(b, num_records=2)


def test_syntax_and_sandbox_errors_stay_build_errors(tmp_path):
    b = _seeded(["a"])
    with pytest.raises(TemplateError, match="does not parse"):
        b.add_column(name="e", column_type="expression", expr="{{ v ")
        b.build(base_dir=tmp_path)
    b = _seeded(["a"])
    b.add_column(name="e", column_type="expression", expr="{{ v.__class__ }}")
    with pytest.raises(TemplateError, match="sandbox forbids"):
        b.build(base_dir=tmp_path)


def test_sandbox_violation_at_render_time_stays_an_error(tmp_path):
    from ddbuild.config.columns import ExpressionColumnConfig
    from ddbuild.engine.cells import ExpressionCell

    cell = ExpressionCell(ExpressionColumnConfig(name="e", expr="{{ v.append(1) }}"))
    with pytest.raises(TemplateError, match="sandbox violation"):
        cell({"v": []}, 0)
