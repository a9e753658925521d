"""Data Designer's scipy and bernoulli_mixture samplers, conditional_params and sampler constraints:
values (moments with fixed seeds), every row meeting its constraints, determinism, row identity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from engine_helpers import file_bytes, load, run, sampler

import ddbuild as dd
from ddbuild.errors import ConfigError, GenerationError

ROOT = Path(__file__).parents[2]


def _scipy_builder(seed: int = 5) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=seed)
    sampler(b, "beta", "scipy", dist_name="beta", dist_params={"a": 2, "b": 5})
    sampler(b, "gamma", "scipy", dist_name="gamma", dist_params={"a": 3, "scale": 2}, decimal_places=1)
    sampler(b, "visits", "scipy", dist_name="nbinom", dist_params={"n": 5, "p": 0.5})
    sampler(b, "spend", "bernoulli_mixture", p=0.3, dist_name="expon", dist_params={"scale": 50})
    return b


def test_scipy_and_bernoulli_mixture_draw_their_distributions(tmp_path: Path) -> None:
    run(_scipy_builder(), tmp_path / "ds", num_records=20_000, buffer_size=5_000)
    df = load(tmp_path / "ds")
    assert len(df) == 20_000
    assert df["beta"].between(0, 1).all()
    assert abs(df["beta"].mean() - 2 / 7) < 0.005 and abs(df["beta"].var() - 10 / 392) < 0.001
    assert abs(df["gamma"].mean() - 6) < 0.1 and (df["gamma"].round(1) == df["gamma"]).all()
    assert df["visits"].dtype == np.int64 and abs(df["visits"].mean() - 5) < 0.1  # n(1-p)/p
    zeros = (df["spend"] == 0).mean()
    assert abs(zeros - 0.7) < 0.015  # 0 with probability 1 - p
    assert abs(df["spend"][df["spend"] > 0].mean() - 50) < 2.5


def test_scipy_samplers_are_seeded_per_batch(tmp_path: Path) -> None:
    run(_scipy_builder(5), tmp_path / "a", num_records=300, buffer_size=100)
    run(_scipy_builder(5), tmp_path / "b", num_records=300, buffer_size=100)
    run(_scipy_builder(6), tmp_path / "c", num_records=300, buffer_size=100)
    a, b, c = (file_bytes(tmp_path / n / "parquet-files") for n in "abc")
    assert len(a) == 3 and a == b and all(a[k] != c[k] for k in a)
    df = load(tmp_path / "a")
    batches = [df["beta"][i * 100:(i + 1) * 100].tolist() for i in range(3)]
    assert batches[0] != batches[1] != batches[2]  # each batch its own stream


def test_a_wrong_distribution_is_named_before_anything_is_written(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "x", "scipy", dist_name="betta", dist_params={"a": 2, "b": 5})
    with pytest.raises(ConfigError) as caught:
        run(b, tmp_path / "ds")
    assert str(caught.value) == (
        "Column 'x' (scipy sampler): dist_name 'betta' is not a scipy.stats distribution. Did you mean 'beta'?")
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "x", "bernoulli_mixture", p=0.5, dist_name="norm", dist_params={"loc": 0, "scale": -1})
    with pytest.raises(ConfigError, match=r"^Column 'x' \(bernoulli_mixture sampler\): scipy.stats.norm refuses "
                                          r"dist_params \{'loc': 0, 'scale': -1\}"):
        run(b, tmp_path / "ds2")
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds2").exists()


def test_without_scipy_the_error_names_the_column_and_the_install_command(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['scipy'] = None; sys.modules['scipy.stats'] = None\n"
        "import ddbuild as dd\n"
        "from ddbuild.engine.dataset import generate_dataset\n"
        "b = dd.DataDesignerConfigBuilder()\n"
        "b.add_column(name='spend', column_type='sampler', sampler_type='scipy',"
        " params={'dist_name': 'expon', 'dist_params': {'scale': 2}})\n"
        f"generate_dataset(b.build(), num_records=5, dataset_dir={str(tmp_path / 'ds')!r},"
        f" run_config=dd.RunConfig(), resume=False, base_dir={str(tmp_path)!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert ("ConfigError: Column 'spend' (scipy sampler) uses scipy.stats.expon, but scipy is not installed. "
            "Install the optional extra: pip install 'ddbuild[scipy]'") in done.stderr


def test_conditional_params_choose_the_params_row_by_row(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder(seed=2)
    sampler(b, "region", "category", values=["EU", "US", "APAC"])
    b.add_column(name="price", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1},
                 conditional_params={"region == 'EU'": {"low": 100, "high": 101},
                                     "region != 'US'": {"low": 10, "high": 11},
                                     "region == 'APAC'": {"low": 50, "high": 51}})
    run(b, tmp_path / "ds", num_records=600, buffer_size=200)
    df = load(tmp_path / "ds")
    by = df.groupby("region")["price"]
    # EU meets the first two conditions: the last one it meets wins; US meets none: params
    assert by.min()["EU"] >= 10 and by.max()["EU"] < 11
    assert by.min()["APAC"] >= 50 and by.max()["APAC"] < 51
    assert by.min()["US"] >= 0 and by.max()["US"] < 1
    assert set(df["region"]) == {"EU", "US", "APAC"}
    run(b, tmp_path / "again", num_records=600, buffer_size=200)
    assert file_bytes(tmp_path / "ds" / "parquet-files") == file_bytes(tmp_path / "again" / "parquet-files")


def test_conditional_params_read_numbers_and_reach_the_yaml(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder(seed=1)
    sampler(b, "age", "uniform", low=18, high=90, decimal_places=0)
    b.add_column(name="plan", column_type="sampler", sampler_type="category", params={"values": ["basic"]},
                 conditional_params={"age >= 65": {"values": ["senior"]}})
    run(b, tmp_path / "ds", num_records=400)
    df = load(tmp_path / "ds")
    assert (df["plan"] == np.where(df["age"] >= 65, "senior", "basic")).all()
    back = dd.DataDesignerConfigBuilder.from_config(yaml.safe_load(b.to_yaml()))
    assert back.get_column_config("plan").conditional_params == b.get_column_config("plan").conditional_params
    written = yaml.safe_load(b.to_yaml())["columns"][1]["conditional_params"]
    assert written == {"age >= 65": {"values": ["senior"], "weights": None, "sampler_type": "category"}}


def test_a_condition_on_an_unknown_column_is_named(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder()
    b.add_column(name="x", column_type="sampler", sampler_type="bernoulli", params={"p": 0.5},
                 conditional_params={"tier == 'gold'": {"p": 0.9}})
    with pytest.raises(ConfigError, match=r"^Column 'x' references unknown column 'tier'"):
        run(b, tmp_path / "ds")


def _constrained(seed: int = 4) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=seed)
    sampler(b, "low", "uniform", low=0, high=10)
    sampler(b, "high", "gaussian", mean=5, stddev=3)
    sampler(b, "count", "poisson", mean=3)
    b.add_constraint(dd.ScalarInequalityConstraint(target_column="low", operator="ge", rhs=2))
    b.add_constraint(dd.ColumnInequalityConstraint(target_column="high", operator="gt", rhs="low"))
    b.add_constraint(dd.ScalarInequalityConstraint(target_column="high", operator="le", rhs=12))
    b.add_constraint(dd.ScalarInequalityConstraint(target_column="count", operator="lt", rhs=3))
    return b


def test_constraints_hold_on_every_row_and_keep_the_rest_of_the_distribution(tmp_path: Path) -> None:
    run(_constrained(), tmp_path / "ds", num_records=5_000, buffer_size=1_000)
    df = load(tmp_path / "ds")
    assert len(df) == 5_000
    assert (df["low"] >= 2).all() and (df["high"] > df["low"]).all() and (df["high"] <= 12).all()
    assert (df["count"] < 3).all() and set(df["count"]) == {0, 1, 2}
    assert abs(df["low"].mean() - 6) < 0.1  # uniform on [2, 10): rejection keeps it uniform
    share = df["count"].value_counts(normalize=True)  # poisson(3) given < 3: 1 : 3 : 4.5
    assert abs(share[2] - 4.5 / 8.5) < 0.02 and abs(share[0] - 1 / 8.5) < 0.02
    run(_constrained(), tmp_path / "again", num_records=5_000, buffer_size=1_000)
    assert file_bytes(tmp_path / "ds" / "parquet-files") == file_bytes(tmp_path / "again" / "parquet-files")


def test_a_constraint_every_row_already_meets_changes_nothing(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder(seed=9)
    sampler(b, "u", "uniform", low=0, high=1)
    run(b, tmp_path / "plain", num_records=200)
    b.add_constraint(dd.ScalarInequalityConstraint(target_column="u", operator="lt", rhs=5))
    run(b, tmp_path / "constrained", num_records=200)
    assert load(tmp_path / "plain").equals(load(tmp_path / "constrained"))


def test_an_unsatisfiable_constraint_is_an_error_naming_it(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "age", "uniform", low=18, high=30)
    b.add_constraint(dd.ScalarInequalityConstraint(target_column="age", operator="gt", rhs=65))
    with pytest.raises(GenerationError) as caught:
        run(b, tmp_path / "ds", num_records=20)
    assert str(caught.value).startswith(
        "Column 'age': ScalarInequalityConstraint 'age > 65.0' is not met by 20 of 20 rows after 1000 draws each.")


@pytest.mark.parametrize(("constraint", "message"), [
    (dd.ScalarInequalityConstraint(target_column="title", operator="lt", rhs=1),
     "ScalarInequalityConstraint on 'title': target column 'title' is not a sampler column."),
    (dd.ScalarInequalityConstraint(target_column="aeg", operator="lt", rhs=1),
     "ScalarInequalityConstraint on 'aeg': target column 'aeg' does not exist. Did you mean 'age'?"),
    (dd.ColumnInequalityConstraint(target_column="age", operator="lt", rhs="title"),
     "ColumnInequalityConstraint on 'age': rhs column 'title' is not a sampler or seed column."),
])
def test_a_constraint_on_a_column_that_is_no_sampler_is_named(tmp_path: Path, constraint, message) -> None:
    b = dd.DataDesignerConfigBuilder()
    sampler(b, "age", "uniform", low=18, high=30)
    b.add_column(name="title", column_type="expression", expr="{{ age }}")
    b.add_constraint(constraint)
    with pytest.raises(ConfigError) as caught:
        run(b, tmp_path / "ds")
    assert str(caught.value).startswith(message)


def test_seeded_rows_keep_their_draws_when_a_seed_row_is_inserted(tmp_path: Path) -> None:
    """Row identity: scipy, mixture, conditional and constrained draws follow the row."""
    def build(keys: list[int], out: str) -> pd.DataFrame:
        seed = tmp_path / f"{out}.parquet"
        pd.DataFrame({"k": keys, "tier": ["gold" if k % 3 == 0 else "std" for k in keys]}).to_parquet(seed)
        b = dd.DataDesignerConfigBuilder(seed=3)
        b.with_seed_dataset(dd.LocalFileSeedSource(path=str(seed)))
        sampler(b, "beta", "scipy", dist_name="beta", dist_params={"a": 2, "b": 2})
        sampler(b, "spend", "bernoulli_mixture", p=0.5, dist_name="lognorm", dist_params={"s": 1})
        b.add_column(name="bonus", column_type="sampler", sampler_type="gaussian", params={"mean": 0, "stddev": 1},
                     conditional_params={"tier == 'gold'": {"mean": 100, "stddev": 1}})
        b.add_constraint(dd.ScalarInequalityConstraint(target_column="bonus", operator="gt", rhs=0))
        b.add_constraint(dd.ColumnInequalityConstraint(target_column="beta", operator="lt", rhs="k"))
        run(b, tmp_path / out, num_records=len(keys), buffer_size=7)
        return load(tmp_path / out).set_index("k")

    before = build(list(range(1, 40)), "before")
    after = build([1000, *range(1, 40)], "after")
    assert (before["bonus"] > 0).all() and (before.loc[before["tier"] == "gold", "bonus"] > 90).all()
    pd.testing.assert_frame_equal(before, after.drop(index=1000))


def test_person_from_faker_has_data_designers_fields(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder(seed=8)
    sampler(b, "who", "person_from_faker", age_range=[16, 30], city=["Springfield", "Shelbyville"])
    sampler(b, "any", "person_from_faker", locale="en_GB", sex="Female")
    run(b, tmp_path / "ds", num_records=300)
    df = load(tmp_path / "ds")
    from ddbuild.engine.samplers import FAKER_PERSON_FIELDS

    assert FAKER_PERSON_FIELDS == (
        "uuid", "locale", "first_name", "last_name", "middle_name", "sex", "street_number", "street_name", "city",
        "state", "postcode", "age", "birth_date", "country", "marital_status", "education_level", "unit",
        "occupation", "phone_number", "bachelors_field")
    people = df["who"].tolist()
    assert all(sorted(p) == sorted(FAKER_PERSON_FIELDS) for p in people)
    assert {p["city"] for p in people} == {"Springfield", "Shelbyville"}
    assert all(16 <= p["age"] <= 30 and p["middle_name"] is None and p["unit"] == "" for p in people)
    assert all((p["phone_number"] is None) == (p["age"] < 18) for p in people)
    for p in people:  # the person is ``age`` on 2026-01-01
        born = pd.Timestamp(p["birth_date"])
        assert (pd.Timestamp("2026-01-01") - born).days // 365.25 in (p["age"], p["age"] - 1)
        assert (p["bachelors_field"] == "no_degree") == (p["education_level"] not in ("bachelors", "graduate",
                                                                                      "doctorate"))
    assert {p["sex"] for p in df["any"]} == {"Female"} and {p["locale"] for p in df["any"]} == {"en_GB"}
    run(b, tmp_path / "again", num_records=300)
    assert file_bytes(tmp_path / "ds" / "parquet-files") == file_bytes(tmp_path / "again" / "parquet-files")


def test_convert_to_int_rounds_to_the_nearest_integer(tmp_path: Path) -> None:
    b = dd.DataDesignerConfigBuilder(seed=3)
    b.add_column(name="raw", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10})
    b.add_column(name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10},
                 convert_to="int")
    run(b, tmp_path / "ds", num_records=2_000)
    df = load(tmp_path / "ds")
    assert df["n"].dtype == np.int64 and set(df["n"]) == set(range(11))  # 10 only by rounding up
    assert abs(df["n"].mean() - 5) < 0.2  # truncation would give ~4.5


def test_changed_sampler_behaviours_enter_only_the_keys_of_configs_that_use_them(tmp_path: Path) -> None:
    from ddbuild.engine.identity import config_identity

    def identity(**column: object) -> dict:
        b = dd.DataDesignerConfigBuilder()
        b.add_column(name="x", column_type="sampler", **column)
        return config_identity(b.build(), dd.RunConfig(), tmp_path)

    assert "engine_behaviours" not in identity(sampler_type="uniform", params={"low": 0, "high": 1})
    assert identity(sampler_type="uniform", params={"low": 0, "high": 1}, convert_to="int")[
        "engine_behaviours"] == {"convert_to_int": 2}
    assert identity(sampler_type="person_from_faker")["engine_behaviours"] == {"person_from_faker": 2}
    # whole numbers already: rounding and truncating agree, the key stays as it was
    assert "engine_behaviours" not in identity(sampler_type="uniform", params={"low": 0, "high": 9,
                                                                               "decimal_places": 0}, convert_to="int")
    assert "engine_behaviours" not in identity(sampler_type="poisson", params={"mean": 2}, convert_to="int")
