"""Ported Data Designer code and configs run against the OpenAI-compatible test server: the seed
page's complete example with only its imports renamed, and a config file Data Designer wrote."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import ddbuild.config as dd
from ddbuild.interface import DataDesigner, DataDesignerWorkflowError
from tests.openai_server import FakeOpenAIServer

HERE = Path(__file__).parent
ROOT = HERE.parents[1]



@pytest.mark.skipif(importlib.util.find_spec("ddbuild.engine.llm.catalogue") is None,
                    reason="needs Data Designer's predefined providers and ~/.data-designer files (issue 13, "
                    "models part)")
def test_the_seed_page_script_runs_with_only_its_imports_renamed(server: FakeOpenAIServer, tmp_path: Path) -> None:
    script = HERE / "scripts" / "seed_page_complete_example.py"
    imports = [line for line in script.read_text().splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import ddbuild.config as dd", "from ddbuild.interface import DataDesigner"]
    pd.DataFrame({"diagnosis": ["flu", "migraine", "sprain"],
                  "symptoms": ["fever, cough", "headache, nausea", "swollen ankle"]}).to_csv(
        tmp_path / "symptom_to_diagnosis.csv", index=False)
    home = tmp_path / "dd-home"
    home.mkdir()
    (home / "model_providers.yaml").write_text(
        f"providers:\n- name: nvidia\n  endpoint: {server.url}\n  provider_type: openai\n  api_key: NVIDIA_API_KEY\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DESIGNER_HOME": str(home), "NVIDIA_API_KEY": "sk-test"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.total == 5  # one request per previewed row
    assert "physician_notes" in done.stdout and "reply to: You are a physician" in done.stdout


def test_a_config_data_designer_wrote_builds_in_a_workflow_and_rebuilds_from_cache(
        server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(HERE / "dd_configs" / "seeded_questions.yaml", tmp_path)
    shutil.copy(HERE / "dd_configs" / "passages.parquet", tmp_path)
    providers = [dd.ModelProvider(name="local", endpoint=server.url)]
    for _ in range(2):
        questions = dd.DataDesignerConfigBuilder.from_config("seeded_questions.yaml")
        workflow = DataDesigner(model_providers=providers, cache=tmp_path / "cache").compose_workflow(name="qa")
        workflow.add_stage("questions", questions, num_records=5)
        results = workflow.run()
        frame = results.load_dataset()
        assert list(frame.columns) == ["text", "question"]  # drop_noise removed the sampler column
        assert sorted(frame["text"]) == [f"passage {i}" for i in range(5)]
        assert all(q.startswith("reply to: Ask about: passage ") for q in frame["question"])
        assert server.total == 5  # the second build sent nothing


def test_a_ported_except_clause_catches_ddbuilds_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ddbuild.config.errors import InvalidConfigError
    from ddbuild.errors import WorkflowError

    monkeypatch.chdir(tmp_path)
    workflow = DataDesigner().compose_workflow(name="w")
    builder = dd.DataDesignerConfigBuilder().add_column(
        dd.SamplerColumnConfig(name="n", sampler_type=dd.SamplerType.UNIFORM, params=dd.UniformSamplerParams(low=0, high=1)))
    workflow.add_stage("a", builder)
    try:
        workflow.add_stage("a", builder)
    except DataDesignerWorkflowError as exc:  # as a Data Designer script catches it
        caught = exc
    assert isinstance(caught, WorkflowError) and caught.exit_code == 2
    assert "already used" in str(caught)
    bad = dd.DataDesignerConfigBuilder().add_column(dd.ExpressionColumnConfig(name="e", expr="{{ missing }}"))
    try:
        DataDesigner().validate(bad)
    except InvalidConfigError as exc:
        assert "Column 'e'" in str(exc) and "missing" in str(exc)
    else:
        pytest.fail("validate() accepted a template naming a missing column")


def test_results_have_data_designers_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    fast = dd.ModelConfig(alias="fast", model="m", provider="local")
    builder = dd.DataDesignerConfigBuilder(model_configs=[fast])
    builder.add_column(dd.SamplerColumnConfig(name="topic", sampler_type=dd.SamplerType.CATEGORY,
                                              params=dd.CategorySamplerParams(values=["a", "b"])))
    builder.add_column(dd.ExpressionColumnConfig(name="title", expr="about {{ topic }}"))
    builder.add_processor(dd.SchemaTransformProcessorConfig(name="chat", template={"text": "{{ title }}"}))
    results = DataDesigner(cache=tmp_path / "cache").create(builder, num_records=3, dataset_name="d")
    folder = results.get_path_to_processor_artifacts("chat")
    assert folder.resolve() == tmp_path / "artifacts" / "d" / "processors-files" / "chat"
    assert any(folder.glob("*.parquet"))
    results.display_sample_record(1)
    shown = capsys.readouterr().out
    assert shown.startswith("Record 1 of 3\n") and "title: about " in shown and "Processor 'chat'" in shown
    seeded = results.to_config_builder(columns=["title"])
    assert seeded.model_configs == [fast]
    assert list(seeded.get_seed_config().source.df.columns) == ["title"]
    with pytest.raises(Exception, match="to_config_builder: no column 'titel'.*Did you mean 'title'"):
        results.to_config_builder(columns=["titel"])


@pytest.mark.parametrize("name", ["support_tickets.yaml", "support_tickets.json"])
def test_the_constrained_config_data_designer_wrote_builds_against_the_test_server(
        name: str, server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """support_tickets carries a ScalarInequalityConstraint (age >= 21) on a uniform sampler."""
    monkeypatch.chdir(tmp_path)
    providers = [dd.ModelProvider(name="local", endpoint=server.url)]
    tickets = dd.DataDesignerConfigBuilder.from_config(HERE / "dd_configs" / name)
    workflow = DataDesigner(model_providers=providers, cache=tmp_path / "cache").compose_workflow(name="t")
    workflow.add_stage("tickets", tickets, num_records=40)
    frame = workflow.run().load_dataset()
    assert len(frame) == 40 and (frame["age"] >= 21).all() and frame["age"].max() <= 80
    assert frame["age"].dtype == "int64" and frame["title"].str.fullmatch(r"\w+/\w+ \(\d+\)").all()
    assert server.total == 40 * 3  # ticket, meta, quality: one request each per row


def test_a_data_designer_file_combining_samplers_constraints_and_file_seeds_builds(
        server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data Designer's spelling (sampler_type inside params and conditional params) of the scipy and
    bernoulli_mixture samplers, conditional_params, both constraint kinds and a file-contents seed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    for i in range(6):
        (tmp_path / "notes" / f"n{i}.txt").write_text(f"note {i}: {'urgent' if i % 2 else 'routine'}")
    sampler = {"column_type": "sampler", "drop": False, "convert_to": None, "skip": None, "propagate_skip": True}
    data = {
        "model_configs": [{"alias": "fast", "model": "stub-model", "provider": "local",
                           "inference_parameters": {"generation_type": "chat-completion", "max_tokens": 64}}],
        "seed_config": {"source": {"seed_type": "file_contents", "path": "notes", "file_pattern": "*.txt",
                                   "recursive": True, "encoding": "utf-8"}, "sampling_strategy": "ordered"},
        "columns": [
            {**sampler, "name": "priority", "sampler_type": "category", "conditional_params": {},
             "params": {"sampler_type": "category", "values": ["low", "high"], "weights": None}},
            {**sampler, "name": "wait_days", "sampler_type": "scipy",
             "params": {"sampler_type": "scipy", "dist_name": "gamma", "dist_params": {"a": 2, "scale": 3},
                        "decimal_places": 1},
             "conditional_params": {"priority == 'high'": {"sampler_type": "scipy", "dist_name": "uniform",
                                                           "dist_params": {"loc": 0, "scale": 1},
                                                           "decimal_places": 2}}},
            {**sampler, "name": "refund", "sampler_type": "bernoulli_mixture", "conditional_params": {},
             "params": {"sampler_type": "bernoulli_mixture", "p": 0.5, "dist_name": "expon",
                        "dist_params": {"scale": 20}}},
            {**sampler, "name": "budget", "sampler_type": "uniform", "conditional_params": {},
             "params": {"sampler_type": "uniform", "low": 0, "high": 100, "decimal_places": None}},
            {"column_type": "llm-text", "name": "reply", "model_alias": "fast",
             "prompt": "Answer {{ content }} within {{ wait_days }} days"},
        ],
        "constraints": [
            {"constraint_type": "scalar_inequality", "target_column": "wait_days", "operator": "le", "rhs": 10.0},
            {"constraint_type": "column_inequality", "target_column": "refund", "operator": "le", "rhs": "budget"},
        ],
    }
    providers = [dd.ModelProvider(name="local", endpoint=server.url)]
    builder = dd.DataDesignerConfigBuilder.from_config(data)
    workflow = DataDesigner(model_providers=providers, cache=tmp_path / "cache").compose_workflow(name="n")
    workflow.add_stage("notes", builder, num_records=60)  # 6 files, cycled
    frame = workflow.run().load_dataset()
    assert len(frame) == 60 and sorted(set(frame["file_name"])) == [f"n{i}.txt" for i in range(6)]
    assert (frame["wait_days"] <= 10).all() and (frame["refund"] <= frame["budget"]).all()
    high = frame["priority"] == "high"
    assert frame.loc[high, "wait_days"].between(0, 1).all() and frame.loc[~high, "wait_days"].max() > 1
    assert (frame["refund"] == 0).any() and (frame["refund"] > 0).any()
    assert server.total == 60
    assert server.count_prompt("Answer note 3: urgent within") == 10
