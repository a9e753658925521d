"""Ported Data Designer code and configs run against the OpenAI-compatible test server: the seed
page's complete example with only its imports renamed, and a config file Data Designer wrote."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import ddbuild.config as dd
from ddbuild.interface import DataDesigner, DataDesignerWorkflowError
from tests.openai_server import FakeOpenAIServer, start_server

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    started = start_server()
    yield started
    started.stop()


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
