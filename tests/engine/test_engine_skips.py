"""Conditional skips (``skip=SkipConfig(when, value)``, ``propagate_skip``) end to end: a skipped
cell sends no request, holds its value, and its dependants are skipped when they propagate."""

from __future__ import annotations

import pandas as pd
import pytest
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.engine.llm.cache import MemoryResponseCache
from ddbuild.errors import ConfigError, GenerationError

TOPICS = ["cats", "skip-me", "dogs", "skip-me", "owls", "bats"]


def _builder(*, propagate: bool = True, value: str | None = "n/a") -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(alias="fast", model="test-model", provider="local")
    b = dd.DataDesignerConfigBuilder(model_configs=[model], seed=3)
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"topic": TOPICS})))
    b.add_column(name="question", column_type="llm-text", model_alias="fast", prompt="Ask about {{ topic }}",
                 skip=dd.SkipConfig(when="{{ topic == 'skip-me' }}", value=value))
    b.add_column(name="answer", column_type="llm-text", model_alias="fast", prompt="Answer: {{ question }}",
                 propagate_skip=propagate)
    b.add_column(name="shout", column_type="expression", expr="{{ answer | upper }}")
    return b


def _providers(server):
    return [dd.ModelProvider(name="local", endpoint=server.url)]


def test_a_skipped_cell_sends_nothing_and_its_dependants_are_skipped(tmp_path, openai_server):
    run(_builder(), tmp_path / "ds", num_records=6, model_providers=_providers(openai_server))
    df = load(tmp_path / "ds")
    assert openai_server.total == 8  # 4 rows x 2 columns; the 2 skipped rows ask nothing
    assert openai_server.count_prompt("skip-me") == 0
    skipped = df[df["topic"] == "skip-me"]
    assert list(skipped["question"]) == ["n/a", "n/a"]
    assert skipped["answer"].isna().all() and skipped["shout"].isna().all()  # propagated: None
    kept = df[df["topic"] == "cats"].iloc[0]
    assert kept["question"] == "reply to: Ask about cats"
    assert kept["shout"] == kept["answer"].upper()


def test_propagate_skip_off_generates_the_dependant_from_the_skip_value(tmp_path, openai_server):
    run(_builder(propagate=False), tmp_path / "ds", num_records=6, model_providers=_providers(openai_server))
    df = load(tmp_path / "ds")
    assert openai_server.total == 4 + 6  # question for 4 rows, answer for all 6
    assert openai_server.count_prompt("Answer: n/a") == 2
    assert set(df[df["topic"] == "skip-me"]["answer"]) == {"reply to: Answer: n/a"}


def test_a_rebuild_sends_nothing_and_a_changed_condition_asks_only_the_new_rows(tmp_path, openai_server):
    cache = MemoryResponseCache()
    run(_builder(), tmp_path / "a", num_records=6, model_providers=_providers(openai_server), response_cache=cache)
    run(_builder(), tmp_path / "b", num_records=6, model_providers=_providers(openai_server), response_cache=cache)
    assert openai_server.total == 8
    b = _builder()
    b.delete_column("question")
    b.add_column(name="question", column_type="llm-text", model_alias="fast", prompt="Ask about {{ topic }}",
                 skip=dd.SkipConfig(when="{{ topic in ['skip-me', 'owls'] }}", value="n/a"))
    run(b, tmp_path / "c", num_records=6, model_providers=_providers(openai_server), response_cache=cache)
    assert openai_server.total == 8  # owls is skipped now: its requests are not sent, the rest are cached
    assert list(load(tmp_path / "c")["question"])[4] == "n/a"


def test_a_full_column_generator_sees_only_the_rows_it_generates(tmp_path):
    seen: list[int] = []

    @dd.custom_column_generator(required_columns=["n"])
    def double(df: pd.DataFrame) -> pd.DataFrame:
        seen.append(len(df))
        df["twice"] = df["n"] * 2
        return df

    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"n": [1, 2, 3, 4]})))
    b.add_column(dd.CustomColumnConfig(name="twice", generator_function=double, generation_strategy="full_column",
                                       skip=dd.SkipConfig(when="{{ n % 2 == 0 }}", value=-1)))
    b.add_column(name="label", column_type="expression", expr="#{{ twice }}")
    run(b, tmp_path / "ds", num_records=4)
    df = load(tmp_path / "ds")
    assert seen == [2]
    assert list(df["twice"]) == [2, -1, 6, -1]
    assert list(df["label"].fillna("<skipped>")) == ["#2", "<skipped>", "#6", "<skipped>"]


def test_skip_enters_the_stage_key_only_when_set():
    from ddbuild.fingerprint import model_identity

    plain = _builder().build().columns[1]
    assert "skip" not in model_identity(plain) and "propagate_skip" not in model_identity(plain)
    gated = _builder().build().columns[0]
    assert model_identity(gated)["skip"] == {"when": "{{ topic == 'skip-me' }}", "value": "n/a"}
    other = _builder(value="none").build().columns[0]
    assert model_identity(other) != model_identity(gated)
    assert model_identity(_builder(propagate=False).build().columns[1])["propagate_skip"] is False


def test_a_skip_condition_must_read_a_column_and_samplers_cannot_skip():
    with pytest.raises(ValueError, match="reads no column"):
        dd.SkipConfig(when="{{ true }}")
    b = dd.DataDesignerConfigBuilder()
    b.add_column(name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1})
    b.add_column(name="m", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1},
                 skip=dd.SkipConfig(when="{{ n > 0.5 }}"))
    with pytest.raises(ConfigError, match="Column 'm' is a sampler column and sets skip"):
        b.build()


def _side_builder(**reader: object) -> dd.DataDesignerConfigBuilder:
    """``question`` (skipped for skip-me, with its trace and reasoning) and columns that read only
    its side columns."""
    model = dd.ModelConfig(alias="fast", model="test-model", provider="local")
    b = dd.DataDesignerConfigBuilder(model_configs=[model], seed=3)
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"topic": TOPICS})))
    b.add_column(name="question", column_type="llm-text", model_alias="fast", prompt="Ask about {{ topic }}",
                 with_trace="last_message", extract_reasoning_content=True,
                 skip=dd.SkipConfig(when="{{ topic == 'skip-me' }}", value="n/a"))
    b.add_column(name="why", column_type="llm-text", model_alias="fast",
                 prompt="Why {{ question__reasoning_content }}?", **reader)
    b.add_column(name="turns", column_type="expression", expr="{{ (question__trace or []) | length }}",
                 **reader)
    return b


def test_a_column_reading_a_skipped_columns_side_column_is_skipped_with_it(tmp_path, openai_server):
    """Regression: a skipped cell left its side columns (trace, reasoning) undefined for the row's
    later columns, and one reading them dropped the row (template_error) instead of being skipped."""
    openai_server.add_fault("reasoning", times=None, match="Ask about", reasoning="thinking")
    summary = run(_side_builder(), tmp_path / "ds", num_records=6, model_providers=_providers(openai_server))
    df = load(tmp_path / "ds")
    assert summary.num_records == 6 and summary.dropped_rows == {}
    skipped = df["topic"] == "skip-me"
    assert list(df.loc[skipped, "question"]) == ["n/a", "n/a"]
    assert df.loc[skipped, ["question__trace", "question__reasoning_content", "why", "turns"]].isna().all().all()
    assert set(df.loc[~skipped, "why"]) == {"reply to: Why thinking?"} and set(df.loc[~skipped, "turns"]) == {"1"}
    assert openai_server.total == 4 + 4  # question and why for the 4 rows not skipped
    assert openai_server.count_prompt("skip-me") == 0


def test_without_propagation_a_skipped_columns_side_columns_read_as_none(tmp_path, openai_server):
    run(_side_builder(propagate_skip=False), tmp_path / "ds", num_records=6,
        model_providers=_providers(openai_server))
    df = load(tmp_path / "ds")
    assert len(df) == 6 and openai_server.count_prompt("Why None?") == 6  # no reasoning in any reply
    assert set(df.loc[df["topic"] == "skip-me", "turns"]) == {"0"}  # no trace: None


def test_the_side_column_skip_behaviour_enters_only_the_keys_of_configs_that_use_it(tmp_path):
    from ddbuild.engine.identity import config_identity

    def behaviours(builder: dd.DataDesignerConfigBuilder) -> dict:
        return config_identity(builder.build(), dd.RunConfig(), tmp_path).get("engine_behaviours", {})

    assert behaviours(_side_builder()) == {"skipped_side_columns": 2}
    assert behaviours(_builder()) == {}  # skips, but no side column read
    unskipped = _side_builder()
    unskipped.delete_column("question")
    unskipped.add_column(name="question", column_type="llm-text", model_alias="fast", prompt="Ask {{ topic }}",
                         with_trace="last_message", extract_reasoning_content=True)
    assert behaviours(unskipped) == {}  # side columns read, nothing can be skipped


def test_a_skip_value_of_another_type_than_the_column_says_what_to_do(tmp_path, openai_server):
    b = _builder()
    b.delete_column("question")
    b.add_column(name="question", column_type="llm-structured", model_alias="fast", prompt="Ask about {{ topic }}",
                 output_format={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
                 skip=dd.SkipConfig(when="{{ topic == 'skip-me' }}", value="n/a"))
    with pytest.raises(GenerationError) as caught:
        run(b, tmp_path / "ds", num_records=6, model_providers=_providers(openai_server))
    assert str(caught.value).startswith("Column 'question' holds values Parquet cannot store in one column: dict x4")
    assert caught.value.hint == (
        "Its skipped cells hold its skip.value (str) and its generated cells dict: set skip.value to None "
        "(a missing value) or to a value of the generated type.")
