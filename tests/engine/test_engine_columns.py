"""Expression and custom columns through the row-wise pipeline; step planning."""

from __future__ import annotations

import pytest
from engine_helpers import load, run, sampler
from pydantic import BaseModel

import ddbuild as dd
from ddbuild.engine.pipeline import StepKind, plan_steps
from ddbuild.errors import GenerationError


def test_expression_dtype_casts(tmp_path):
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "n", "binomial", n=10, p=0.5)
    b.add_column(name="as_str", column_type="expression", expr="n={{ n }}")
    b.add_column(name="as_int", column_type="expression", expr="{{ n * 2 }}", dtype="int")
    b.add_column(name="as_float", column_type="expression", expr="{{ n / 4 }}", dtype="float")
    b.add_column(name="as_bool", column_type="expression", expr="{{ n > 5 }}", dtype="bool")
    b.add_column(name="chained", column_type="expression", expr="{{ as_str }}!", dtype="str")
    run(b, tmp_path / "ds", num_records=30)
    df = load(tmp_path / "ds")
    for row in df.to_dict("records"):
        assert row["as_str"] == f"n={row['n']}" and row["chained"] == row["as_str"] + "!"
        assert row["as_int"] == 2 * row["n"] and row["as_float"] == row["n"] / 4
        assert row["as_bool"] == (row["n"] > 5)
    assert str(df["as_int"].dtype) == "int64" and str(df["as_bool"].dtype) == "bool"


def test_expression_cast_failure_names_column_and_value(tmp_path):
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "c", "category", values=["x"])
    b.add_column(name="bad", column_type="expression", expr="value-{{ c }}", dtype="int")
    with pytest.raises(GenerationError, match=r"Column 'bad': cannot cast rendered value 'value-x' to int"):
        run(b, tmp_path / "ds")


@dd.custom_column_generator(required_columns=["n"])
def double_it(row):
    row["double"] = row["n"] * 2
    return row


@dd.custom_column_generator(required_columns=["double"])
def add_rank(df):
    df["rank"] = df["double"].rank(method="first").astype(int)
    return df


@dd.custom_column_generator(required_columns=["n"])
def explode(row):
    raise RuntimeError("boom")


def test_custom_cell_by_cell_and_full_column(tmp_path):
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "n", "uniform", low=0, high=100)
    b.add_column(dd.CustomColumnConfig(name="double", generator_function=double_it))
    b.add_column(dd.CustomColumnConfig(name="rank", generator_function=add_rank, generation_strategy="full_column"))
    b.add_column(name="label", column_type="expression", expr="{{ rank }}:{{ double }}")
    run(b, tmp_path / "ds", num_records=25, buffer_size=10)
    df = load(tmp_path / "ds")
    assert (df["double"] == df["n"] * 2).all()
    assert sorted(df["rank"][:10]) == list(range(1, 11))  # ranked within each batch (the barrier)
    assert (df["label"] == df["rank"].astype(str) + ":" + df["double"].astype(str)).all()


def test_custom_error_is_wrapped_with_column_name(tmp_path):
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "n", "uniform", low=0, high=1)
    b.add_column(dd.CustomColumnConfig(name="boom", generator_function=explode))
    with pytest.raises(GenerationError, match=r"Column 'boom': custom generator explode raised RuntimeError: boom"):
        run(b, tmp_path / "ds")


def test_steps_group_row_wise_columns_between_barriers():
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "n", "uniform", low=0, high=1)
    b.add_column(name="e1", column_type="expression", expr="{{ n }}")
    b.add_column(dd.CustomColumnConfig(name="double", generator_function=double_it))
    b.add_column(dd.CustomColumnConfig(name="rank", generator_function=add_rank, generation_strategy="full_column"))
    b.add_column(name="e2", column_type="expression", expr="{{ rank }}")
    sampler(b, "m", "uniform", low=0, high=1)
    config = b.build()
    order = dd.config.validation.validate_config(config, [])
    steps = plan_steps(config.columns, order)
    assert [(s.kind, [c.name for c in s.columns]) for s in steps] == [
        (StepKind.SAMPLERS, ["n", "m"]),
        (StepKind.ROW_SEGMENT, ["e1", "double"]),
        (StepKind.FULL_COLUMN, ["rank"]),
        (StepKind.ROW_SEGMENT, ["e2"]),
    ]


class Scale(BaseModel):
    factor: int = 2
    suffix: str = ""


@dd.custom_column_generator(required_columns=["n"])
def scaled(row, generator_params: Scale):
    row["scaled"] = f"{row['n'] * generator_params.factor}{generator_params.suffix}"
    return row


@dd.custom_column_generator(required_columns=["n"])
def scaled_frame(df, generator_params):
    factor = generator_params["factor"] if isinstance(generator_params, dict) else generator_params.factor
    df["total"] = df["n"].sum() * factor
    return df


def _params_builder(params, frame_params=None):
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "n", "binomial", n=10, p=0.5)
    b.add_column(dd.CustomColumnConfig(name="scaled", generator_function=scaled, generator_params=params))
    b.add_column(dd.CustomColumnConfig(name="total", generator_function=scaled_frame,
                                       generation_strategy="full_column", generator_params=frame_params or params))
    return b


def test_custom_generator_params_reach_both_strategies(tmp_path):
    run(_params_builder(Scale(factor=3, suffix="x")), tmp_path / "ds", num_records=8)
    df = load(tmp_path / "ds")
    assert df["scaled"].tolist() == [f"{n * 3}x" for n in df["n"]]
    assert set(df["total"]) == {df["n"].sum() * 3}


def test_custom_generator_params_enter_the_config_identity(tmp_path):
    from ddbuild.engine.identity import config_digest

    def digest(params):
        return config_digest(_params_builder(params).build(), dd.RunConfig(), tmp_path)

    dump = _params_builder(Scale(factor=3)).to_dict()["columns"][1]
    assert dump["generator_params"] == {"factor": 3, "suffix": ""}
    assert digest(Scale(factor=3)) == digest(Scale(factor=3))
    assert digest(Scale(factor=3)) != digest(Scale(factor=4))


def test_custom_generator_params_round_trip_as_a_dict(tmp_path):
    original = _params_builder(Scale(factor=5)).to_dict()
    loaded = dd.DataDesignerConfigBuilder.from_config(original)
    assert loaded.to_dict() == original
    run(loaded, tmp_path / "ds", num_records=4)
    df = load(tmp_path / "ds")
    assert set(df["total"]) == {df["n"].sum() * 5}


def test_generator_params_need_a_function_that_takes_them():
    with pytest.raises(ValueError, match=r"generator_params are set but double_it takes no second argument"):
        dd.CustomColumnConfig(name="double", generator_function=double_it, generator_params=Scale())
