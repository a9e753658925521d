"""Data Designer 0.9.7's config files load into ddbuild, write back as Data Designer wrote them,
round-trip, and key like the same config built in Python; what ddbuild does not run yet is named.

``dd_configs/`` holds files Data Designer 0.9.7 wrote itself (with ``make_configs.py``, the script
that wrote them); ``every_kind.yaml`` is ddbuild's own, which Data Designer 0.9.7 read and wrote
back identically when it was made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import ddbuild.config as dd
from ddbuild.errors import ConfigError, NotSupportedError
from ddbuild.fingerprint import stage_key
from ddbuild.interface import DataDesigner
from ddbuild.planning.identity import stage_identity
from tests.porting.own_configs import every_kind
from tests.porting.ported_configs import seeded_questions, support_tickets

HERE = Path(__file__).parent
DD_FILES = sorted((HERE / "dd_configs").glob("*.yaml")) + sorted((HERE / "dd_configs").glob("*.json"))
ALL_FILES = [*DD_FILES, HERE / "every_kind.yaml"]
PROVIDERS = [dd.ModelProvider(name="local", endpoint="http://127.0.0.1:9/v1")]
PORTS = {"support_tickets": support_tickets, "seeded_questions": seeded_questions, "every_kind": every_kind}


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def _key(builder: Any, cwd: Path) -> str:
    """The stage key of ``builder`` as the one stage of a workflow (fixed seed-file digest)."""
    workflow = DataDesigner().compose_workflow(name="port").add_stage("s", builder, num_records=4)
    identity = stage_identity(workflow.stages[0], cwd, dd.RunConfig(), PROVIDERS)
    return stage_key(identity, {}, {"seed_files": {"passages.parquet": "1" * 32}}).key


def test_the_files_are_data_designers() -> None:
    assert [p.name for p in DD_FILES] == ["seeded_questions.yaml", "support_tickets.yaml", "support_tickets.json"]


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_a_file_loads_and_is_written_back_as_data_designer_wrote_it(path: Path) -> None:
    builder = dd.DataDesignerConfigBuilder.from_config(path)
    assert yaml.safe_load(builder.to_yaml()) == _read(path)
    assert json.loads(builder.to_json()) == _read(path)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_a_file_round_trips_and_keeps_its_key(path: Path, tmp_path: Path) -> None:
    builder = dd.DataDesignerConfigBuilder.from_config(path)
    for name in ("again.yaml", "again.json"):
        again = dd.DataDesignerConfigBuilder.from_config(tmp_path / name) if (
            builder.to_yaml(tmp_path / name) if name.endswith("yaml") else builder.to_json(tmp_path / name)) else None
        assert again.to_dict() == builder.to_dict()
        assert _key(again, tmp_path) == _key(builder, tmp_path)
    builder.write_config(tmp_path / "builder_config.json")  # Data Designer's wrapped form
    assert dd.DataDesignerConfigBuilder.from_config(tmp_path / "builder_config.json").to_dict() == builder.to_dict()


@pytest.mark.parametrize("name", ["support_tickets.json", "seeded_questions.yaml", "every_kind.yaml"])
def test_the_same_config_built_in_python_has_the_same_key(name: str, tmp_path: Path) -> None:
    path = HERE / name if name == "every_kind.yaml" else HERE / "dd_configs" / name
    loaded = dd.DataDesignerConfigBuilder.from_config(path)
    built = PORTS[path.stem]()
    assert built.to_dict() == loaded.to_dict()
    assert _key(built, tmp_path) == _key(loaded, tmp_path)


def test_data_designers_yaml_sorts_a_template_whose_key_order_is_data(tmp_path: Path) -> None:
    """Data Designer's YAML sorts mapping keys. A schema_transform template's key order is the
    order of its output's fields, so support_tickets.yaml's ``chat`` writes content before role:
    another output, another key (its JSON twin keeps the order and keys like the Python config)."""
    from_yaml = dd.DataDesignerConfigBuilder.from_config(HERE / "dd_configs" / "support_tickets.yaml")
    from_json = dd.DataDesignerConfigBuilder.from_config(HERE / "dd_configs" / "support_tickets.json")
    assert list(from_yaml.get_processor_configs()[0].template["messages"][0]) == ["content", "role"]
    assert list(from_json.get_processor_configs()[0].template["messages"][0]) == ["role", "content"]
    assert _key(from_yaml, tmp_path) != _key(from_json, tmp_path) == _key(support_tickets(), tmp_path)
    from_yaml.get_processor_configs()[0].template["messages"][0] = {"role": "user", "content": "{{ ticket }}"}
    assert _key(from_yaml, tmp_path) == _key(from_json, tmp_path)  # nothing else differs


def test_keys_did_not_move_for_configs_that_spell_no_data_designer_field(tmp_path: Path) -> None:
    """The literal is this config's key before Data Designer's fields were accepted (computed on
    the commit before them): spelling their defaults changes nothing."""
    b = dd.DataDesignerConfigBuilder(model_configs=[dd.ModelConfig(alias="fast", model="m", provider="local")])
    b.add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]})
    b.add_column(name="q", column_type="llm_text", model_alias="fast", prompt="Ask about {{ topic }}")
    spelled = dd.DataDesignerConfigBuilder.from_config(b.to_dict())
    assert "skip" in b.to_dict()["columns"][1] and "with_trace" in b.to_dict()["columns"][1]
    assert _key(b, tmp_path) == _key(spelled, tmp_path) == "cdb4b3c2b9bb49f6476971dfe4275cc4"


UNSUPPORTED_FIELDS = [
    ("tool_alias", "search", "column 'q' sets tool_alias = 'search' (default None)"),
    ("multi_modal_context", [{"modality": "audio", "column_name": "clip"}],
     "column 'q' sets multi_modal_context with modality 'audio' (only image runs)"),
]


@pytest.mark.parametrize("field,value,line", UNSUPPORTED_FIELDS, ids=[u[0] for u in UNSUPPORTED_FIELDS])
def test_a_field_ddbuild_does_not_run_loads_and_validate_names_it(field: str, value: Any, line: str,
                                                                   tmp_path: Path) -> None:
    data = _read(HERE / "dd_configs" / "seeded_questions.yaml")
    data["columns"][1] = {**data["columns"][1], "name": "q", field: value}
    builder = dd.DataDesignerConfigBuilder.from_config(data)  # loading works
    assert builder.to_dict()["columns"][1][field] == value
    with pytest.raises(NotSupportedError) as caught:
        DataDesigner().validate(builder)
    assert str(caught.value) == (
        f"not supported by ddbuild yet: {field}:\n  - {line}\n"
        "Data Designer runs these features; ddbuild would ignore them and build different data. "
        "Remove them (or set them to their defaults) to build this config with ddbuild."
    )
    default = _key(dd.DataDesignerConfigBuilder.from_config(HERE / "dd_configs" / "seeded_questions.yaml"), tmp_path)
    assert _key(builder, tmp_path) != default  # a value that is set enters the key


def test_every_unsupported_section_and_field_is_named_at_once() -> None:
    data = _read(HERE / "dd_configs" / "support_tickets.yaml")
    data["columns"][0]["conditional_params"] = {"age > 60": {"values": ["billing"], "sampler_type": "category"}}
    data["columns"].append({"name": "pic", "column_type": "image", "prompt": "Draw {{ ticket }}", "model_alias": "fast"})
    data["columns"].append({"name": "beta", "column_type": "sampler", "sampler_type": "scipy",
                            "params": {"dist_name": "beta", "dist_params": {"a": 2, "b": 5}, "sampler_type": "scipy"}})
    data["columns"].append({"name": "who", "column_type": "sampler", "sampler_type": "person",
                            "params": {"with_synthetic_personas": True, "sampler_type": "person"}})
    data["profilers"] = [{"model_alias": "fast"}]
    data["tool_configs"] = [{"tool_alias": "web", "providers": ["mcp"]}]
    builder = dd.DataDesignerConfigBuilder.from_config(data)
    written = yaml.safe_load(builder.to_yaml())  # all of it written back (with defaults spelled)
    assert written["profilers"] == [{"model_alias": "fast", "summary_score_sample_size": 20}]
    assert written["tool_configs"] == [{"tool_alias": "web", "providers": ["mcp"], "allow_tools": None,
                                        "max_tool_call_turns": 5, "timeout_sec": None}]
    assert written["columns"][0]["conditional_params"] == {  # runs now; written with its defaults spelled
        "age > 60": {"values": ["billing"], "weights": None, "sampler_type": "category"}}
    assert {k: written["columns"][-3][k] for k in ("prompt", "model_alias")} == {
        "prompt": "Draw {{ ticket }}", "model_alias": "fast"}
    assert written["columns"][-2]["params"] == {**data["columns"][-2]["params"], "decimal_places": None}
    assert dd.DataDesignerConfigBuilder.from_config(written).to_dict() == builder.to_dict()
    with pytest.raises(NotSupportedError) as caught:
        builder.build()
    assert str(caught.value).splitlines()[:6] == [
        "not supported by ddbuild yet: profilers, tool_configs, column_type, with_synthetic_personas:",
        "  - config field 'profilers' lists 1 (JudgeScoreProfilerConfig)",
        "  - config field 'tool_configs' lists 1 (ToolConfig)",
        "  - column 'pic' is of column_type 'image'",
        "  - column 'who' sets params.with_synthetic_personas = True",
        "Data Designer runs these features; ddbuild would ignore them and build different data. Remove them "
        "(or set them to their defaults) to build this config with ddbuild.",
    ]


def test_explain_names_the_unsupported_field_and_the_build_refuses(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = _read(HERE / "dd_configs" / "support_tickets.yaml")
    data["profilers"] = [{"model_alias": "fast"}]  # a section ddbuild does not run
    (tmp_path / "support_tickets.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "ddfile.py").write_text(
        "import ddbuild.config as dd\n"
        "from ddbuild.interface import DataDesigner\n"
        "providers = [dd.ModelProvider(name='local', endpoint='http://127.0.0.1:9/v1')]\n"
        "tickets = dd.DataDesignerConfigBuilder.from_config('support_tickets.yaml')\n"
        "workflow = DataDesigner(model_providers=providers).compose_workflow(name='t')\n"
        "workflow.add_stage('tickets', tickets)\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    for args in (["--explain"], []):
        done = subprocess.run([sys.executable, "-m", "ddbuild.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Stage 'tickets': not supported by ddbuild yet: profilers:\n" \
               "  - config field 'profilers' lists 1 (JudgeScoreProfilerConfig)\n" in done.stdout + done.stderr
    assert not (tmp_path / "artifacts").exists()


def test_a_malformed_file_still_names_the_field() -> None:
    data = _read(HERE / "dd_configs" / "support_tickets.yaml")
    data["constraintz"] = []
    with pytest.raises(ConfigError, match="Unknown config field 'constraintz'. Did you mean 'constraints'?"):
        dd.DataDesignerConfigBuilder.from_config(data)
    data = _read(HERE / "dd_configs" / "support_tickets.yaml")
    data["columns"][1]["params"]["sampler_type"] = "gaussian"
    with pytest.raises(ConfigError, match="Column 'age' has sampler_type 'uniform' but its params say 'gaussian'"):
        dd.DataDesignerConfigBuilder.from_config(data)


def test_the_builder_takes_data_designers_constructor_arguments(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("model_configs:\n- alias: fast\n  model: stub-model\n  provider: local\n")
    tools = [dd.ToolConfig(tool_alias="web", providers=["mcp"])]
    builder = dd.DataDesignerConfigBuilder(tmp_path / "models.yaml", tool_configs=tools)
    assert [m.alias for m in builder.model_configs] == ["fast"] and builder.tool_configs == tools
    (tmp_path / "bad.yaml").write_text("- alias: fast\n")
    with pytest.raises(ConfigError, match="must hold a list under 'model_configs'"):
        dd.DataDesignerConfigBuilder(tmp_path / "bad.yaml")
