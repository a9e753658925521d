"""Samplers: parameters respected, seeded determinism (byte-identical Parquet), convert_to."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from engine_helpers import file_bytes, load, run, sampler

import ddbuild as dd


def _all_samplers(seed: int = 3) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=seed)
    sampler(b, "cat", "category", values=["a", "b", "c"], weights=[0.7, 0.2, 0.1])
    sampler(b, "sub", "subcategory", category="cat", values={"a": ["a1", "a2"], "b": ["b1"], "c": ["c1"]})
    sampler(b, "u", "uniform", low=5, high=6, decimal_places=2)
    sampler(b, "g", "gaussian", mean=100, stddev=1)
    sampler(b, "bern", "bernoulli", p=0.25)
    sampler(b, "binom", "binomial", n=4, p=0.5)
    sampler(b, "pois", "poisson", mean=2)
    sampler(b, "id", "uuid", prefix="ID-", short_form=True, uppercase=True)
    sampler(b, "full_id", "uuid")
    sampler(b, "when", "datetime", start="2024-01-01", end="2024-01-31", unit="D")
    sampler(b, "later", "timedelta", dt_min=1, dt_max=3, reference_column_name="when", unit="h")
    sampler(b, "who", "person", locale="en_US", sex="Female", age_range=[30, 40])
    return b


def test_every_sampler_respects_its_parameters(tmp_path):
    run(_all_samplers(), tmp_path / "ds", num_records=2000, buffer_size=500)
    df = load(tmp_path / "ds")
    assert len(df) == 2000
    share = df["cat"].value_counts(normalize=True)
    assert abs(share["a"] - 0.7) < 0.05 and abs(share["c"] - 0.1) < 0.03
    assert all(s.startswith(c) for c, s in zip(df["cat"], df["sub"], strict=True))
    assert df["u"].between(5, 6).all() and (df["u"].round(2) == df["u"]).all()
    assert abs(df["g"].mean() - 100) < 0.2
    assert set(df["bern"]) <= {0, 1} and abs(df["bern"].mean() - 0.25) < 0.04
    assert df["binom"].between(0, 4).all() and abs(df["pois"].mean() - 2) < 0.2
    assert all(re.fullmatch(r"ID-[0-9A-F]{8}", v) for v in df["id"])
    assert df["full_id"].str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").all()
    assert df["full_id"].is_unique
    assert df["when"].between(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 31)).all()
    delta = (df["later"] - df["when"]).dt.total_seconds() / 3600
    assert delta.between(1, 2).all()
    people = df["who"].tolist()
    assert all(p["sex"] == "Female" and 30 <= p["age"] <= 40 and p["first_name"] for p in people)


def test_same_seed_same_bytes_and_different_seed_different(tmp_path):
    run(_all_samplers(seed=3), tmp_path / "a", num_records=300, buffer_size=100)
    run(_all_samplers(seed=3), tmp_path / "b", num_records=300, buffer_size=100)
    run(_all_samplers(seed=4), tmp_path / "c", num_records=300, buffer_size=100)
    a, b, c = (file_bytes(tmp_path / n / "parquet-files") for n in "abc")
    assert len(a) == 3 and a == b
    assert all(a[name] != c[name] for name in a)


def test_column_values_do_not_depend_on_other_columns(tmp_path):
    one = dd.DataDesignerConfigBuilder(seed=9)
    sampler(one, "u", "uniform", low=0, high=1)
    two = dd.DataDesignerConfigBuilder(seed=9)
    sampler(two, "other", "gaussian", mean=0, stddev=1)
    sampler(two, "u", "uniform", low=0, high=1)
    run(one, tmp_path / "one", num_records=50)
    run(two, tmp_path / "two", num_records=50)
    assert load(tmp_path / "one")["u"].tolist() == load(tmp_path / "two")["u"].tolist()


@pytest.mark.parametrize(
    ("kind", "params", "convert_to", "check"),
    [
        ("uniform", {"low": 1, "high": 9}, "int", lambda v: isinstance(v, int) and 1 <= v <= 9),
        ("poisson", {"mean": 3}, "float", lambda v: isinstance(v, float)),
        ("bernoulli", {"p": 0.5}, "str", lambda v: v in ("0", "1")),
        ("datetime", {"start": "2023-05-01", "end": "2023-05-02"}, "%Y/%m/%d",
         lambda v: v in ("2023/05/01", "2023/05/02")),
    ],
)
def test_convert_to(tmp_path, kind, params, convert_to, check):
    b = dd.DataDesignerConfigBuilder()
    b.add_column(name="x", column_type="sampler", sampler_type=kind, params=params, convert_to=convert_to)
    run(b, tmp_path / "ds", num_records=20)
    import pyarrow.parquet as pq

    values = pq.read_table(tmp_path / "ds/parquet-files/batch_00000.parquet").column("x").to_pylist()
    assert all(check(v) for v in values), values[:5]


def test_datetime_format_on_a_number_is_a_clear_error(tmp_path):
    b = dd.DataDesignerConfigBuilder()
    b.add_column(name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1},
                 convert_to="%Y")
    with pytest.raises(dd.DDBuildError, match="Column 'x': convert_to='%Y' is a date format"):
        run(b, tmp_path / "ds")
