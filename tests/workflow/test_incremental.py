"""Make-style reuse, counted: which stages executed and how many rows they generated."""

from __future__ import annotations

import shutil
from pathlib import Path

import ddbuild as dd
from ddbuild.workflow import ReasonKind, Status
from tests.workflow.conftest import expr_builder, sampler_builder, three_stage, write_seed


def test_second_run_executes_nothing(project: Path) -> None:
    first = three_stage().run()
    assert first.executed_stages() == ["a", "b", "c"] and first.rows_generated == 15
    view = project / "artifacts" / "wf" / "stage-2-c" / "parquet-files"
    mtimes = {p: p.stat().st_mtime_ns for p in view.iterdir()}
    second = three_stage().run()
    assert second.executions == 0 and second.rows_generated == 0
    assert {s.status for s in second.stages.values()} == {Status.HIT}
    assert {p: p.stat().st_mtime_ns for p in view.iterdir()} == mtimes
    assert second.load_dataset().equals(first.load_dataset())


def test_changing_last_stage_runs_only_it(project: Path) -> None:
    three_stage().run()
    again = three_stage(c_expr="{{ y }}??").run()
    assert again.executed_stages() == ["c"] and again.rows_generated == 5


def test_changing_middle_stage_runs_it_and_descendants(project: Path) -> None:
    three_stage().run()
    workflow = three_stage(b_expr="{{ x }}!!")
    plan = workflow.plan()
    b = plan.stage("b")
    assert b.status == Status.RUN and b.reasons[0].kind == ReasonKind.CONFIG_CHANGED
    assert b.reasons[0].changes[0].path == "columns.y.expr"
    assert (b.reasons[0].changes[0].old, b.reasons[0].changes[0].new) == ("{{ x }}!", "{{ x }}!!")
    assert plan.stage("c").status == Status.PENDING
    assert workflow.run().executed_stages() == ["b", "c"]


def test_revert_is_a_hit(project: Path) -> None:
    three_stage().run()
    three_stage(b_expr="{{ x }}!!").run()
    assert three_stage().run().executions == 0


def test_seed_content_change_reruns_first_stage(project: Path) -> None:
    seed = write_seed(project / "data" / "seed.parquet")

    def workflow() -> object:
        wf = dd.DataDesigner().compose_workflow(name="seeded")
        builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="data/seed.parquet"))
        wf.add_stage("load", builder.add_column(name="u", column_type="expression", expr="{{ text }}-u"))
        wf.add_stage("next", expr_builder("{{ u }}", "v"))
        return wf

    first = workflow().run()
    assert first.count_records() == 6  # num_records defaults to the seed's row count
    write_seed(seed, rows=6, offset=100)  # same name, new content
    plan = workflow().plan()
    assert plan.stage("load").reasons[0].kind == ReasonKind.SEED_CHANGED
    assert workflow().run().executed_stages() == ["load", "next"]


def test_moving_project_and_artifacts_keeps_keys(project: Path, monkeypatch) -> None:
    write_seed(project / "seed.parquet")
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    builder.add_column(name="u", column_type="expression", expr="{{ id }}")

    def run(artifacts: str) -> object:
        wf = dd.DataDesigner(artifact_path=artifacts).compose_workflow(name="m")
        wf.add_stage("s", builder).add_stage("t", expr_builder("{{ u }}", "w"))
        return wf.run()

    assert run("out1").executions == 2
    moved = project.parent / "moved"
    shutil.move(project, moved)
    monkeypatch.chdir(moved)
    again = run("out2")
    assert again.executions == 0
    assert (moved / "out2" / "m" / "stage-1-t" / "parquet-files").is_dir()


def test_deleted_view_is_restored_without_executions(project: Path) -> None:
    first = three_stage().run()
    expected = first.load_dataset()
    shutil.rmtree(project / "artifacts")
    again = three_stage().run()
    assert again.executions == 0
    assert again.load_dataset().equals(expected)
    assert (project / "artifacts" / "wf" / "workflow-metadata.json").is_file()


def test_early_cutoff_after_forced_rebuild(project: Path) -> None:
    def workflow() -> object:
        wf = dd.DataDesigner().compose_workflow(name="cut")
        wf.add_stage("gen", sampler_builder(), num_records=4)
        wf.add_stage("clean", dd.DataDesignerConfigBuilder().add_processor(
            dd.SchemaTransformProcessorConfig(name="side", template={"s": "{{ x }}"})))
        wf.add_stage("proc", dd.DataDesignerConfigBuilder().add_processor(
            dd.SchemaTransformProcessorConfig(name="fmt", template={"v": "{{ x }}"})), output="processor:fmt")
        return wf

    workflow().run()
    # Force only gen (its closure), then build everything: gen reproduced identical bytes, so the
    # processor-only stages below it keep their keys and are hits (early cutoff).
    assert workflow().run(targets="gen", always_make=True).executed_stages() == ["gen"]
    again = workflow().run()
    assert again.executions == 0
    assert again.status("clean") == Status.HIT and again.status("proc") == Status.HIT


def test_never_rebuilds_and_keeps_old_entries(project: Path) -> None:
    three_stage().run()
    entries = set((project / ".ddbuild" / "cache" / "actions").rglob("*.json"))
    again = three_stage().run(resume=dd.ResumeMode.NEVER)
    assert again.executed_stages() == ["a", "b", "c"]
    assert entries <= set((project / ".ddbuild" / "cache" / "actions").rglob("*.json"))


def test_force_and_rerun_from(project: Path) -> None:
    three_stage().run()
    assert three_stage().run(always_make=True).executions == 3
    # rerun_from forces the stage and its descendants (Data Designer's meaning); upstream is reused
    again = three_stage().run(rerun_from="b")
    assert again.executed_stages() == ["b", "c"] and again.status("a") == Status.HIT


def test_targets_build_only_what_they_need(project: Path) -> None:
    result = three_stage().run(targets="b")
    assert result.executed_stages() == ["a", "b"] and result.final_stage_name == "b"
    assert list(result) == ["a", "b"]
    assert three_stage().run().executed_stages() == ["c"]


def test_output_processors_and_processor_outputs(project: Path) -> None:
    wf = dd.DataDesigner().compose_workflow(name="ops")
    wf.add_stage("gen", sampler_builder().add_column(name="y", column_type="expression", expr="{{ x }}"),
                 num_records=3, output_processors=[dd.DropColumnsProcessorConfig(name="dropx", column_names=["x"])])
    wf.add_stage("fmt", dd.DataDesignerConfigBuilder().add_processor(
        dd.SchemaTransformProcessorConfig(name="chat", template={"m": "{{ y }}"})), output="processor:chat")
    result = wf.run()
    assert list(result.load_stage_output("gen").columns) == ["y"]
    assert str(result["gen"].base_dataset_path).endswith("stage-0-gen/output-processors")
    assert list(result.load_dataset().columns) == ["m"]
    out = result.export(project / "out.jsonl")
    assert len(out.read_text().splitlines()) == 3


def test_on_success_with_and_without_version(project: Path) -> None:
    calls: list[Path] = []

    def keep_two(stage_dir: Path) -> Path:
        import pyarrow.parquet as pq

        calls.append(stage_dir)
        table = pq.read_table(stage_dir / "parquet-files").slice(0, 2)
        dest = stage_dir / "callback-outputs" / "two.parquet"
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, dest)
        return dest

    def workflow(version: str | None) -> object:
        wf = dd.DataDesigner().compose_workflow(name="cb")
        wf.add_stage("gen", sampler_builder(), num_records=5, on_success=keep_two, on_success_version=version)
        wf.add_stage("next", expr_builder())
        return wf

    first = workflow(None).run()
    assert first.count_records() == 2 and calls[0].name == "stage-0-gen"
    plan = workflow(None).plan()
    assert any(r.kind == ReasonKind.CALLBACK_SOURCE for r in plan.stage("gen").reasons)
    assert workflow(None).run().executions == 0 and len(calls) == 1  # source unchanged: hit
    assert workflow("v1").run().executed_stages() == ["gen"]  # same bytes: "next" is an early-cutoff hit
    assert workflow("v1").run().executions == 0


def test_allow_empty_skips_downstream(project: Path) -> None:
    def empty(stage_dir: Path) -> Path:
        import pyarrow.parquet as pq

        dest = stage_dir / "callback-outputs" / "none.parquet"
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pq.read_table(stage_dir / "parquet-files").slice(0, 0), dest)
        return dest

    def workflow(allow: bool) -> object:
        wf = dd.DataDesigner().compose_workflow(name="empty")
        wf.add_stage("gen", sampler_builder(), num_records=3, on_success=empty, on_success_version="1",
                     allow_empty=allow)
        wf.add_stage("next", expr_builder()).add_stage("last", expr_builder("{{ y }}", "q"))
        return wf

    import pytest

    with pytest.raises(dd.DataDesignerGenerationError, match="produced an empty output"):
        workflow(False).run()
    result = workflow(True).run()
    assert result.status("next") == Status.SKIPPED
    skipped = result["last"]
    assert isinstance(skipped, dd.workflow.SkippedStageResult) and skipped.upstream_stage == "gen"
    with pytest.raises(dd.DataDesignerWorkflowError, match="Final stage 'last' was skipped"):
        result.load_dataset()


def test_override_replaces_selected_output(project: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    override = project / "reviewed" / "part.parquet"
    override.parent.mkdir()
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0]}), override)
    result = three_stage().run(stage_output_overrides={"a": "reviewed"})
    assert result.executed_stages() == ["b", "c"]
    assert result.get_stage_output_path("a") == (project / "reviewed").resolve()
    assert result.count_records() == 3
    assert override.exists()


def test_diamond_builds_each_stage_once(project: Path) -> None:
    def workflow() -> object:
        wf = dd.DataDesigner().compose_workflow(name="diamond")
        wf.add_stage("a", sampler_builder().add_column(name="id", column_type="sampler", sampler_type="uuid",
                                                       params={}), num_records=4)
        wf.add_stage("b", expr_builder("{{ x }}b", "vb"), depends_on="a")
        wf.add_stage("c", expr_builder("{{ x }}c", "vc"), depends_on="a")
        wf.add_stage("d", expr_builder("{{ vb }}{{ vc }}", "vd"), depends_on=["b", "c"],
                     join=dd.workflow.JoinOn(columns=["id"]))
        wf.add_stage("e", dd.DataDesignerConfigBuilder().add_processor(
            dd.DropColumnsProcessorConfig(name="d", column_names=["vb"])), depends_on=["b", "c"],
            join=dd.workflow.Concat())
        return wf

    result = workflow().run()
    assert sorted(result.executed_stages()) == ["a", "b", "c", "d", "e"]
    frame = result.load_stage_output("d")
    assert len(frame) == 4 and {"x_b", "x_c", "vd"} <= set(frame.columns)
    assert result.count_stage_output_records("e") == 8
    assert workflow().run().executions == 0


def test_reporter_events(project: Path) -> None:
    from ddbuild.execution.events import BatchDone, PlanReady
    from ddbuild.workflow import RecordingReporter

    reporter = RecordingReporter()
    three_stage().run(reporter=reporter)
    assert reporter.finished() == {"a": Status.RUN, "b": Status.RUN, "c": Status.RUN}
    assert reporter.of_type(PlanReady) and reporter.of_type(BatchDone)[-1].rows_done == 5
