"""Independent branches run concurrently and share each model's request budget; keep-going."""

from __future__ import annotations

from pathlib import Path

import pytest
from dag_helpers import designer, llm_builder, model, seed_builder, write_seed

import ddbuild as dd
from ddbuild.errors import DDBuildError, StagesFailed, WorkflowError
from ddbuild.execution.events import StageStarted
from ddbuild.workflow import RecordingReporter, SkippedStageStatus, Status


def _two_branches(server, project: Path, model_b: dd.ModelConfig, model_c: dd.ModelConfig, rows: int = 24):
    write_seed(project / "seed.parquet", rows)
    workflow = designer(server).compose_workflow(name="fan")
    workflow.add_stage("src", seed_builder())
    workflow.add_stage("b", llm_builder("rb", "branch-b {{ text }}", model_b), depends_on="src")
    workflow.add_stage("c", llm_builder("rc", "branch-c {{ text }}", model_c), depends_on="src")
    return workflow


def test_branches_on_two_models_run_concurrently(project, server):
    workflow = _two_branches(server, project, model("m1", "model-one"), model("m2", "model-two"))
    results = workflow.run(max_parallel_stages=2)
    assert sorted(results.executed_stages()) == ["b", "c", "src"]
    assert server.total == 48
    # Each branch alone never has more than 4 requests in flight: above 4 means both overlapped.
    assert 4 < server.max_in_flight <= 8


def test_branches_on_one_model_share_its_budget(project, server):
    same = model("m", "shared-model")
    workflow = _two_branches(server, project, same, same)
    workflow.run(max_parallel_stages=2)
    assert server.total == 48
    assert server.max_in_flight <= 4  # two branches together never exceed the model's limit


def test_one_stage_at_a_time_by_default(project, server):
    workflow = _two_branches(server, project, model("m1", "model-one"), model("m2", "model-two"))
    workflow.run()
    assert server.max_in_flight <= 4


def test_max_parallel_stages_must_be_positive(project, server):
    workflow = _two_branches(server, project, model("m1", "model-one"), model("m2", "model-two"))
    with pytest.raises(WorkflowError, match="max_parallel_stages"):
        workflow.run(max_parallel_stages=0)


def _failing_fan(server, project: Path):
    workflow = _two_branches(server, project, model("m1", "model-one"), model("m2", "model-two"), rows=6)
    workflow.add_stage("b2", llm_builder("rb2", "after-b {{ rb }}", model("m1", "model-one")), depends_on="b")
    server.add_fault("400", times=None, match="branch-b")
    return workflow


@pytest.mark.parametrize("jobs", [1, 2])
def test_keep_going_completes_other_branch_and_skips_dependents(project, server, jobs):
    workflow = _failing_fan(server, project)
    reporter = RecordingReporter()
    with pytest.raises(StagesFailed) as caught:
        workflow.run(keep_going=True, max_parallel_stages=jobs, reporter=reporter)
    error = caught.value
    assert list(error.failures) == ["b"]
    assert error.skipped == {"b2": "b"}
    assert "b2 (needs b)" in str(error) and "b:" in str(error)
    results = error.results
    assert results.status("c") == Status.RUN and results.count_stage_output_records("c") == 6
    assert results.status("b") == Status.ERROR and results.status("b2") == Status.SKIPPED
    skipped = results["b2"]
    assert skipped.status == SkippedStageStatus.SKIPPED_UPSTREAM_FAILED and skipped.upstream_stage == "b"
    assert server.count_prompt("after-b") == 0
    assert reporter.finished()["b"] == Status.ERROR
    reason = results.plan.stage("b2").reasons[0] if results.plan.stage("b2").status == Status.SKIPPED else None
    assert reason is None  # the first plan had b2 PENDING; the skip was decided after b failed


def test_without_keep_going_the_first_failure_stops_new_stages(project, server):
    workflow = _failing_fan(server, project)  # add order: src, b, c, b2 -> b fails before c starts
    reporter = RecordingReporter()
    with pytest.raises(DDBuildError) as caught:
        workflow.run(reporter=reporter)
    assert not isinstance(caught.value, StagesFailed)
    started = [e.stage for e in reporter.of_type(StageStarted)]
    assert "c" not in started and "b2" not in started
    assert server.count_prompt("branch-c") == 0


def test_after_a_keep_going_failure_the_next_build_reuses_the_good_branch(project, server):
    workflow = _failing_fan(server, project)
    with pytest.raises(StagesFailed):
        workflow.run(keep_going=True, max_parallel_stages=2)
    server.reset()  # the fault is gone
    results = workflow.run(max_parallel_stages=2)
    assert sorted(results.executed_stages()) == ["b", "b2"]
    assert results.status("c") == Status.HIT and server.count_prompt("branch-c") == 0


def test_diamond_builds_each_stage_once(project):
    write_seed(project / "seed.parquet")
    workflow = designer().compose_workflow(name="diamond")
    workflow.add_stage("a", seed_builder())
    workflow.add_stage("b", dd.DataDesignerConfigBuilder().add_column(
        name="y", column_type="expression", expr="{{ text }}-b"), depends_on="a")
    workflow.add_stage("c", dd.DataDesignerConfigBuilder().add_column(
        name="y", column_type="expression", expr="{{ text }}-c"), depends_on="a")
    workflow.add_stage("d", dd.DataDesignerConfigBuilder().add_column(
        name="z", column_type="expression", expr="{{ y }}!"), depends_on=["b", "c"], join=dd.Concat())
    reporter = RecordingReporter()
    results = workflow.run(max_parallel_stages=4, reporter=reporter)
    started = [e.stage for e in reporter.of_type(StageStarted)]
    assert sorted(started) == ["a", "b", "c", "d"]  # each exactly once
    assert results.count_stage_output_records("d") == 12
    assert workflow.run(max_parallel_stages=4).executions == 0
