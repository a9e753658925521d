"""What the user is told is true: explain/status errors, drop reports, request counts (issue 10 §5, §6).

Builds run against the OpenAI-compatible stub (tests/openai_server.py); requests are counted there.
"""

from __future__ import annotations

import json

import pytest

from tests.openai_server import start_server

# topics (samplers) -> answers (one LLM column). Knobs are environment variables read at load.
LLM = '''
import os
import ddbuild as dd

provider = dd.ModelProvider(name="stub", endpoint=os.environ["STUB_URL"], api_key="env:STUB_KEY")
model = dd.ModelConfig(alias=os.environ.get("TEST_ALIAS", "fast"), model="stub-model",
                       provider=os.environ.get("TEST_PROVIDER", "stub"),
                       inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=4))
designer = dd.DataDesigner(model_providers=[provider])
designer.set_run_config(dd.RunConfig(max_retries=2, retry_max_wait=0.01, disable_early_shutdown=True,
                                     buffer_size=int(os.environ.get("TEST_BUFFER", "1000"))))
topics = dd.DataDesignerConfigBuilder(seed=1).add_column(
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1000, "decimal_places": 0},
    convert_to="int")
answers = dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
    name="answer", column_type=os.environ.get("TEST_KIND", "llm_text"), model_alias="fast",
    prompt="Say something about {{ n }}", **({"output_format": {"type": "object", "properties": {
        "a": {"type": "string"}}, "required": ["a"]}} if os.environ.get("TEST_KIND") == "llm_structured" else {}))
workflow = designer.compose_workflow(name="llm")
workflow.add_stage("topics", topics, num_records=int(os.environ.get("TEST_ROWS", "12")))
workflow.add_stage("answers", answers, allow_empty=os.environ.get("TEST_ALLOW_EMPTY") == "1")
'''


@pytest.fixture
def llm(project, monkeypatch):
    server = start_server()
    monkeypatch.setenv("STUB_URL", server.url)
    monkeypatch.setenv("STUB_KEY", "test-key")
    for name in ("TEST_ALIAS", "TEST_PROVIDER", "TEST_BUFFER", "TEST_ROWS", "TEST_KIND", "TEST_ALLOW_EMPTY"):
        monkeypatch.delenv(name, raising=False)
    project.write(LLM)
    try:
        yield project, server
    finally:
        server.stop()


def _stage_line(text: str, stage: str) -> str:
    return next(line for line in text.splitlines() if line.split()[:1] == [stage])


# -- a model that cannot be used is an error before anything runs ------------------------------

UNUSABLE_MODELS = [  # (environment, the message explain, status and the build all show)
    ({"TEST_ALIAS": "fats"}, "Stage 'answers': Column 'answer' uses model_alias 'fast', which is not configured."),
    ({"TEST_PROVIDER": "nim"}, "Stage 'answers': Model alias 'fast' (column 'answer') names provider 'nim', "
                               "which is not configured."),
    ({"STUB_KEY": ""}, "Stage 'answers': Model provider 'stub' reads its API key from the environment variable "
                       "STUB_KEY, which is not set."),
]


@pytest.mark.parametrize(("env", "message"), UNUSABLE_MODELS)
def test_an_unusable_model_is_an_error_in_explain_status_and_build(llm, monkeypatch, env, message):
    project, server = llm
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    explained = project.main("--explain")
    assert explained.exit_code == 2, explained.stderr
    line = _stage_line(explained.stdout, "answers")
    assert line.split()[1:3] == ["error", "-"] and message in line, explained.stdout
    assert message in explained.stderr
    status = project.main("status")
    assert status.exit_code == 2
    assert message in _stage_line(status.stdout, "answers") and message in status.stderr
    built = project.main()
    assert built.exit_code == 2 and message in built.stderr
    assert server.total == 0
    assert not (project.root / "artifacts").exists()  # refused before the first stage ran


def test_an_unusable_model_on_a_hit_is_not_an_error(llm, monkeypatch):
    """A hit sends nothing: a missing API key does not stop a teammate from using the entry."""
    project, server = llm
    assert project.main().exit_code == 0
    monkeypatch.setenv("STUB_KEY", "")
    assert project.main("--explain").exit_code == 0
    assert project.main("status").exit_code == 0
    rebuilt = project.main()
    assert rebuilt.exit_code == 0 and server.total == 12


def test_status_of_a_stage_in_error_exits_2_with_the_reason(chain):
    from cli_project import CHAIN

    chain.write(CHAIN.replace("{{ colour }}", "{{ colr }}"))
    message = "Stage 'middle': Column 'label' references unknown column 'colr'. Did you mean 'colour'?"
    status = chain.main("status")
    assert status.exit_code == 2
    assert _stage_line(status.stdout, "middle").split()[1:3] == ["error", "-"]
    assert _stage_line(status.stdout, "middle").endswith(message)
    assert f"ddbuild: error: {message}" in status.stderr


def test_explain_always_make_says_run_for_every_stage_the_build_runs(chain):
    chain.main()
    plan = json.loads(chain.main("--explain", "--json", "-B").stdout)["workflows"][0]["stages"]
    assert [s["status"] for s in plan] == ["run", "run", "run"]
    built = json.loads(chain.main("--json", "-B").stdout.splitlines()[-1])["workflows"][0]["stages"]
    assert [s["status"] for s in built] == ["run", "run", "run"]
