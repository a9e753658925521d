"""What the user is told is true: explain/status errors, drop reports, request counts (issue 10 §5, §6).

Builds run against the OpenAI-compatible stub (tests/openai_server.py); requests are counted there.
"""

from __future__ import annotations

import json
import re

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
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10**6, "decimal_places": 0},
    convert_to="int")
answers = dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
    name="answer", column_type=os.environ.get("TEST_KIND", "llm_text"), model_alias="fast",
    prompt="Say something about {{ n }}", **({"output_format": {"type": "object", "properties": {
        "a": {"type": "string"}}, "required": ["a"]}} if os.environ.get("TEST_KIND") == "llm_structured" else {}))
workflow = designer.compose_workflow(name="llm")
workflow.add_stage("topics", topics, num_records=int(os.environ.get("TEST_ROWS", "12")))
workflow.add_stage("answers", answers, allow_empty=os.environ.get("TEST_ALLOW_EMPTY") == "1")
if os.environ.get("TEST_BRANCH") == "1":  # a second LLM branch beside answers (for -j 2)
    critique = dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
        name="critique", column_type=os.environ.get("TEST_KIND", "llm_text"), model_alias="fast",
        prompt="Criticise {{ n }}", **({"output_format": {"type": "object", "properties": {
            "a": {"type": "string"}}, "required": ["a"]}} if os.environ.get("TEST_KIND") == "llm_structured" else {}))
    workflow.add_stage("critique", critique, depends_on="topics")
'''


@pytest.fixture
def llm(project, monkeypatch):
    server = start_server()
    monkeypatch.setenv("STUB_URL", server.url)
    monkeypatch.setenv("STUB_KEY", "test-key")
    for name in ("TEST_ALIAS", "TEST_PROVIDER", "TEST_BUFFER", "TEST_ROWS", "TEST_KIND", "TEST_ALLOW_EMPTY",
                 "TEST_BRANCH"):
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
                       "STUB_KEY, which is not set; model alias 'fast' (column 'answer') needs it."),
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


def test_every_column_dropped_names_the_columns_and_what_drops_them():
    import ddbuild as dd
    from ddbuild.errors import ConfigError

    builder = (
        dd.DataDesignerConfigBuilder()
        .add_column(name="a", column_type="sampler", sampler_type="bernoulli", params={"p": 0.5}, drop=True)
        .add_column(name="b", column_type="expression", expr="{{ a }}")
        .add_processor(dd.DropColumnsProcessorConfig(name="scratch", column_names=["b*"]))
    )
    with pytest.raises(ConfigError) as caught:
        builder.build()
    assert caught.value.message == (
        "Every column is dropped, so the dataset would have no columns: 'a' (drop=True), 'b' (processor 'scratch').")


# -- a failure is never cached as data (§6) -------------------------------------------------------

def _summary(result) -> dict:
    """Stage name -> its row of the build_finished document (``--json`` builds)."""
    document = json.loads(result.stdout.splitlines()[-1])
    return {s["name"]: s for w in document["workflows"] for s in w["stages"]}


def test_rows_lost_to_server_errors_fail_the_stage_and_the_next_build_asks_only_for_them(llm, monkeypatch):
    project, server = llm
    monkeypatch.setenv("TEST_ROWS", "60")
    monkeypatch.setenv("TEST_BUFFER", "10")
    server.add_fault("500", times=None, rate=0.6)
    first = project.main()
    assert first.exit_code == 1, first.stderr
    lost = re.search(r"failed at stage 'answers': (\d+) of 60 rows got no reply after the retries "
                     r"\(server_error: (\d+)\); first error: Model alias 'fast': POST \S+ failed after 3 attempts: "
                     r"HTTP 500", first.stderr)
    assert lost, first.stderr
    failed = int(lost.group(1))
    assert 0 < failed == int(lost.group(2)) < 60
    assert "build again to ask only for the rows that failed" in first.stderr
    plan = json.loads(project.main("--explain", "--json").stdout)["workflows"][0]["stages"]
    assert plan[1]["status"] in ("run", "resume")  # no entry: the short output was not stored

    server.reset()  # the endpoint is healthy again
    second = project.main("--json")
    assert second.exit_code == 0, second.stderr
    assert server.total == failed  # only the rows that failed are asked again
    answers = _summary(second)["answers"]
    assert answers["rows"] == 60 and answers["llm_requests_sent"] == failed  # sent in THIS run
    assert answers["llm_requests_cached"] <= 60 - failed  # rows of checkpointed batches ask nothing at all
    third = project.main("--json")
    assert _summary(third)["answers"]["status"] == "hit" and _summary(third)["answers"]["rows"] == 60
    assert server.total == failed


def test_a_resumed_stage_counts_the_requests_this_build_sent(llm, monkeypatch):
    """Killed after some batches: the summary of the resumed build counts what the stub received."""
    project, server = llm
    monkeypatch.setenv("TEST_ROWS", "30")
    monkeypatch.setenv("TEST_BUFFER", "10")
    server.add_fault("500", times=None, rate=0.6)
    assert project.main().exit_code == 1
    received = server.total
    server.reset()
    resumed = project.main("--json")
    assert resumed.exit_code == 0, resumed.stderr
    answers = _summary(resumed)["answers"]
    assert answers["llm_requests_sent"] == server.total < received


def test_all_rows_dropped_names_the_reasons_the_first_error_then_allow_empty(llm, monkeypatch):
    project, server = llm
    monkeypatch.setenv("TEST_ROWS", "5")
    monkeypatch.setenv("TEST_KIND", "llm_structured")
    server.add_fault("invalid_json", times=None)
    built = project.main()
    assert built.exit_code == 1
    assert ("ddbuild: build of llm failed at stage 'answers': Stage 'answers' produced an empty output: all 5 rows "
            "were dropped (invalid_structured_output: 5); first error (invalid_structured_output): Column 'answer': "
            "the reply was still invalid after 2 correction turns and 5 conversation restarts (18 replies): the reply "
            "is not valid JSON") in built.stderr
    cause, hint = built.stderr.index("invalid_structured_output: 5"), built.stderr.index("allow_empty=True")
    assert cause < hint
    assert server.total == 5 * 18  # each row: 6 conversations (5 restarts) of a request and two correction turns


def test_with_j2_the_failure_report_names_the_stage_that_failed(llm, monkeypatch):
    project, server = llm
    monkeypatch.setenv("TEST_ROWS", "4")
    monkeypatch.setenv("TEST_KIND", "llm_structured")
    monkeypatch.setenv("TEST_BRANCH", "1")
    server.add_fault("invalid_json", times=None)
    built = project.main("-j", "2")
    assert built.exit_code == 1
    header = re.search(r"failed at stage '(\w+)': Stage '(\w+)' produced an empty output", built.stderr)
    assert header and header.group(1) == header.group(2), built.stderr


DROPS = '''
import ddbuild as dd

base = (
    dd.DataDesignerConfigBuilder(seed=5)
    .add_column(name="n", column_type="sampler", sampler_type="uniform",
                params={"low": 0, "high": 30, "decimal_places": 0}, convert_to="int")
    .add_column(name="inv", column_type="expression", expr="{{ 60 // (n % 3) }}", dtype="int")
)
workflow = dd.DataDesigner().compose_workflow(name="drops")
workflow.add_stage("base", base, num_records=40)
'''


def test_rows_dropped_for_data_reasons_are_output_counted_in_the_entry_summary_and_explain(project):
    project.write(DROPS)
    built = project.main()
    assert built.exit_code == 0, built.stderr
    line = next(line for line in built.stdout.splitlines() if line.startswith("  base: "))
    dropped = int(re.fullmatch(r"  base: (\d+) rows dropped \(expression_error:inv: (\d+)\)", line).group(1))
    rows = _summary(project.main("--json", "-B"))["base"]["rows"]
    assert 0 < dropped and rows + dropped == 40
    explained = project.main("--explain")
    assert f"built with {dropped} rows dropped (expression_error:inv: {dropped})" in explained.stdout
    plan = json.loads(project.main("--explain", "--json").stdout)["workflows"][0]["stages"]
    assert plan[0]["status"] == "hit" and plan[0]["dropped_rows"] == {"expression_error:inv": dropped}
    hit = _summary(project.main("--json"))["base"]
    assert hit["status"] == "hit" and hit["dropped_rows"] == {"expression_error:inv": dropped}
