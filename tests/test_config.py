"""Config builder behaviour: round trips, Data Designer spellings, and the errors a user sees."""

from __future__ import annotations

import json

import pytest

import ddbuild as dd
from ddbuild.errors import ColumnReferenceError, ConfigError, TemplateError


def _builder() -> dd.DataDesignerConfigBuilder:
    return (
        dd.DataDesignerConfigBuilder(seed=11)
        .add_column(name="topic", column_type="sampler", sampler_type="category",
                    params={"values": ["a", "b"], "weights": [3, 1]})
        .add_column(name="score", column_type="sampler", sampler_type="uniform",
                    params={"low": 0, "high": 1, "decimal_places": 2})
        .add_column(name="question", column_type="expression", expr="About {{ topic }}")
        .add_column(name="answer", column_type="llm_text", model_alias="fast", prompt="Answer: {{ question }}")
        .add_processor(dd.SchemaTransformProcessorConfig(name="chat", template={"messages": [{"content": "{{ question }}"}]}))
    )


def test_round_trip_through_dict_json_and_yaml(tmp_path):
    builder = _builder()
    original = builder.to_dict()
    assert dd.DataDesignerConfigBuilder.from_config(original).to_dict() == original
    json_path = tmp_path / "config.json"
    builder.to_json(json_path)
    assert dd.DataDesignerConfigBuilder.from_config(json_path).to_dict() == original
    yaml_path = tmp_path / "config.yaml"
    builder.to_yaml(yaml_path)
    assert dd.DataDesignerConfigBuilder.from_config(str(yaml_path)).to_dict() == original
    assert original["seed"] == 11


def test_column_type_accepts_both_spellings():
    builder = dd.DataDesignerConfigBuilder()
    builder.add_column(name="a", column_type="llm_text", model_alias="m", prompt="hi")
    builder.add_column(name="b", column_type="llm-text", model_alias="m", prompt="hi")
    types = [c.column_type for c in builder.get_column_configs()]
    assert types == ["llm-text", "llm-text"]


def test_adding_an_existing_name_replaces_the_column():
    builder = _builder()
    builder.add_column(name="question", column_type="expression", expr="Why {{ topic }}?")
    questions = [c for c in builder.get_column_configs() if c.name == "question"]
    assert len(questions) == 1 and questions[0].expr == "Why {{ topic }}?"


def test_unknown_column_type_lists_valid_ones():
    with pytest.raises(ConfigError) as info:
        dd.DataDesignerConfigBuilder().add_column(name="x", column_type="expresion", expr="1")
    assert str(info.value) == (
        "Column 'x' has unknown column_type 'expresion'. Did you mean 'expression'? "
        "Valid types: custom, embedding, expression, llm-code, llm-judge, llm-structured, llm-text, sampler, seed-dataset, validation."
    )


def test_wrong_parameter_type_names_the_column():
    with pytest.raises(ConfigError, match=r"^Column 'score' \(sampler\): low: Input should be a valid number"):
        dd.DataDesignerConfigBuilder().add_column(
            name="score", column_type="sampler", sampler_type="uniform", params={"low": "zero", "high": 1}
        )


def test_unknown_reference_suggests_closest_name():
    builder = _builder().add_column(name="bad", column_type="expression", expr="{{ questoin }}")
    with pytest.raises(ColumnReferenceError, match="Column 'bad' references unknown column 'questoin'. Did you mean 'question'?"):
        builder.build()


def test_sandbox_escape_is_rejected_at_build():
    builder = _builder().add_column(name="evil", column_type="expression", expr="{{ ''.__class__ }}")
    with pytest.raises(TemplateError, match="Column 'evil': template accesses '__class__', which the sandbox forbids"):
        builder.build()


def test_cycle_is_named():
    builder = (
        dd.DataDesignerConfigBuilder()
        .add_column(name="a", column_type="expression", expr="{{ b }}")
        .add_column(name="b", column_type="expression", expr="{{ a }}")
    )
    with pytest.raises(ConfigError, match=r"Columns form a cycle: a -> b -> a\."):
        builder.build()


def test_drop_processor_naming_missing_column():
    builder = _builder().add_processor(dd.DropColumnsProcessorConfig(name="drop", column_names=["scor"]))
    with pytest.raises(ColumnReferenceError, match="Processor 'drop' drops column 'scor', which does not exist. Did you mean 'score'?"):
        builder.build()


def test_every_column_dropped_is_an_error():
    builder = (
        dd.DataDesignerConfigBuilder()
        .add_column(name="a", column_type="sampler", sampler_type="bernoulli", params={"p": 0.5})
        .add_processor(dd.DropColumnsProcessorConfig(name="drop", column_names=["*"]))
    )
    with pytest.raises(ConfigError, match="Every column is dropped"):
        builder.build()


def test_malformed_json_and_yaml_configs(tmp_path):
    bad_json = tmp_path / "c.json"
    bad_json.write_text('{"columns": [}')
    with pytest.raises(ConfigError, match=r"is not valid JSON: .* \(line 1, column 14\)"):
        dd.DataDesignerConfigBuilder.from_config(bad_json)
    bad_yaml = tmp_path / "c.yaml"
    bad_yaml.write_text("columns:\n  - name: a\n   column_type: x\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML \(line 3"):
        dd.DataDesignerConfigBuilder.from_config(bad_yaml)


def test_unknown_top_level_field_suggests(tmp_path):
    with pytest.raises(ConfigError, match="Unknown config field 'colums'. Did you mean 'columns'?"):
        dd.DataDesignerConfigBuilder.from_config({"colums": []})


def test_seed_collision_with_configured_column(tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"topic": "x"}) + "\n")
    builder = _builder().with_seed_dataset(dd.LocalFileSeedSource(path=str(seed)))
    with pytest.raises(ConfigError, match="Column 'topic' collides with a seed dataset column"):
        builder.build()


def test_missing_seed_and_empty_glob(tmp_path):
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path=str(tmp_path / "nope.parquet")))
    with pytest.raises(dd.ConfigError, match=r"Seed file '.*nope.parquet' does not exist\."):
        builder.build()
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path=str(tmp_path / "*.parquet")))
    with pytest.raises(dd.ConfigError, match=r"Seed glob '.*\*.parquet' matched no files\."):
        builder.build()


def test_seed_of_unsupported_type(tmp_path):
    seed = tmp_path / "seed.txt"
    seed.write_text("hello")
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path=str(seed)))
    with pytest.raises(dd.ConfigError, match=r"has an unsupported type '.txt'. Use parquet, csv, json or jsonl\."):
        builder.build()


def test_custom_column_requires_decorator():
    def plain(row):
        return row

    with pytest.raises(Exception, match="must be decorated with @dd.custom_column_generator"):
        dd.CustomColumnConfig(name="c", generator_function=plain)


def test_public_names_resolve():
    for name in dd.__all__:
        assert getattr(dd, name) is not None, name


def test_one_llm_column_predicate_for_configs_identities_and_spellings():
    from ddbuild.config.columns import is_llm_column
    from ddbuild.fingerprint import model_identity

    columns = {c.name: c for c in _builder().get_column_configs()}
    assert [n for n, c in columns.items() if is_llm_column(c)] == ["answer"]
    assert [n for n, c in columns.items() if is_llm_column(model_identity(c))] == ["answer"]  # as keys hold it
    for spelling in ("llm_text", "llm-text", "LLM_Code", "llm-judge", "llm_structured"):
        assert is_llm_column({"column_type": spelling}), spelling
    for other in ("expression", "sampler", "custom", "seed-dataset", "llm", "llmish", None, 3, ["llm-text"]):
        assert not is_llm_column({"column_type": other}), other
