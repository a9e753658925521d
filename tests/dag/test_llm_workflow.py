"""LLM columns through a workflow: requests are paid once, and only for what changed (server counts)."""

from __future__ import annotations

from dag_helpers import designer, model, write_seed

import ddbuild as dd

QUESTION = "Write a question about {{ text }}"


def _qa(server, answer_prompt: str = "Answer briefly: {{ question }}", num_records: int = 10):
    fast = model("fast", "qa-model")
    builder = (
        dd.DataDesignerConfigBuilder(model_configs=[fast])
        .with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
        .add_column(name="question", column_type="llm_text", model_alias="fast", prompt=QUESTION)
        .add_column(name="answer", column_type="llm_text", model_alias="fast", prompt=answer_prompt)
    )
    workflow = designer(server).compose_workflow(name="qa")
    workflow.add_stage("qa", builder, num_records=num_records)
    workflow.add_stage("tidy", dd.DataDesignerConfigBuilder().add_column(
        name="pair", column_type="expression", expr="{{ question }} => {{ answer }}"))
    return workflow


def test_second_run_sends_no_requests(project, server):
    write_seed(project / "seed.parquet", rows=20)
    assert _qa(server).run().executions == 2 and server.total == 20
    server.reset()
    assert _qa(server).run().executions == 0
    assert server.total == 0


def test_changing_the_answer_prompt_sends_only_answer_requests(project, server):
    write_seed(project / "seed.parquet", rows=20)
    _qa(server).run()
    server.reset()
    results = _qa(server, answer_prompt="Answer in one word: {{ question }}").run()
    assert results.executed_stages() == ["qa", "tidy"]
    assert server.total == 10 and server.count_prompt("Answer in one word") == 10
    assert not [r for r in server.records if r.last_user.startswith("Write a question")]


def test_more_records_sends_only_the_new_rows_requests(project, server):
    write_seed(project / "seed.parquet", rows=20)
    _qa(server, num_records=10).run()
    server.reset()
    results = _qa(server, num_records=20).run()
    assert results.count_stage_output_records("tidy") == 20
    assert server.total == 20  # 10 new rows x 2 LLM columns
    asked = {r.last_user for r in server.records if r.last_user.startswith("Write a question")}
    assert asked == {f"Write a question about t{i}" for i in range(10, 20)}
