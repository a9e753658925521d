"""Column references checked against the columns each stage's seed will have, before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ddbuild as dd
from ddbuild.errors import ColumnReferenceError, ConfigError
from ddbuild.execution.events import StageStarted
from ddbuild.planning.graph import Graph
from ddbuild.planning.schema import SchemaFacts, check_schemas, join_on_columns
from ddbuild.workflow import ReasonKind, Status
from tests.workflow.conftest import expr_builder, sampler_builder, write_seed

TYPO = "Stage 'questions': Column 'question' references unknown column 'topc'. Did you mean 'topic'?"


class Counting:
    """A reporter that counts the stages the executor started."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def emit(self, event: Any) -> None:
        if isinstance(event, StageStarted) and event.status in (Status.RUN, Status.RESUME):
            self.started.append(event.stage)


def topics() -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder(seed=1).add_column(
        name="topic", column_type="sampler", sampler_type="category", params={"values": ["rain", "snow"]}
    )


def chain(question: str = "Why {{ topc }}?") -> Any:
    workflow = dd.DataDesigner().compose_workflow(name="qa")
    workflow.add_stage("topics", topics(), num_records=4)
    workflow.add_stage("questions", expr_builder(question, "question"))
    workflow.add_stage("answers", expr_builder("{{ question }} because.", "answer"))
    return workflow


def _cache_entries(project: Path) -> list[Path]:
    return list((project / ".ddbuild" / "cache" / "actions").rglob("*.json"))


def test_plan_marks_a_misspelt_reference_in_stage_two_as_error(project: Path) -> None:
    plan = chain().plan()
    questions = plan.stage("questions")
    assert questions.status == Status.ERROR and questions.key is None
    assert questions.reasons[0].kind == ReasonKind.CONFIG_INVALID
    assert questions.reasons[0].detail == TYPO
    assert plan.stage("topics").status == Status.RUN
    answers = plan.stage("answers")
    assert answers.status == Status.SKIPPED and "'questions'" in answers.reasons[0].detail
    assert [d.name for d in plan.invalid()] == ["questions"]


def test_run_raises_before_any_stage_executes(project: Path) -> None:
    reporter = Counting()
    with pytest.raises(ColumnReferenceError) as raised:
        chain().run(reporter=reporter)
    assert raised.value.message == TYPO and raised.value.exit_code == 2
    assert "Known columns: question, topic." in str(raised.value)
    assert reporter.started == [] and _cache_entries(project) == []


def test_keep_going_still_fails_up_front(project: Path) -> None:
    reporter = Counting()
    with pytest.raises(ConfigError):
        chain().run(reporter=reporter, keep_going=True, max_parallel_stages=2)
    assert reporter.started == []


def test_a_correct_chain_is_unaffected(project: Path) -> None:
    assert chain("Why {{ topic }}?").run().executed_stages() == ["topics", "questions", "answers"]


def test_a_reference_to_a_column_dropped_by_output_processors_is_caught(project: Path) -> None:
    workflow = dd.DataDesigner().compose_workflow(name="drops")
    builder = topics().add_column(name="scratch", column_type="expression", expr="{{ topic }}!")
    workflow.add_stage("topics", builder, num_records=3,
                       output_processors=[dd.DropColumnsProcessorConfig(name="tidy", column_names=["scratch"])])
    workflow.add_stage("uses", expr_builder("{{ scratch }}", "copy"))
    uses = workflow.plan().stage("uses")
    assert uses.status == Status.ERROR
    assert uses.reasons[0].detail.startswith("Stage 'uses': Column 'copy' references unknown column 'scratch'.")


def test_drop_true_and_drop_processors_are_propagated(project: Path) -> None:
    workflow = dd.DataDesigner().compose_workflow(name="drops")
    builder = (topics().add_column(name="tmp", column_type="expression", expr="{{ topic }}", drop=True)
               .add_processor(dd.DropColumnsProcessorConfig(name="d", column_names=["to*"]))
               .add_column(name="kept", column_type="expression", expr="{{ tmp }}"))
    workflow.add_stage("first", builder, num_records=3)
    workflow.add_stage("second", expr_builder("{{ tmp }}{{ topic }}", "z"))
    detail = workflow.plan().stage("second").reasons[0].detail
    assert "unknown column 'tmp'" in detail and "Known columns: kept, z" not in detail


def _chatml_workflow(reference: str) -> Any:
    workflow = dd.DataDesigner().compose_workflow(name="chat")
    chatml = dd.SchemaTransformProcessorConfig(
        name="chatml", template={"messages": [{"role": "user", "content": "{{ topic }}"}], "source": "topics"}
    )
    workflow.add_stage("topics", topics().add_processor(chatml), num_records=3, output="processor:chatml")
    workflow.add_stage("count", expr_builder(reference, "n"))
    return workflow


def test_references_through_a_processor_output_use_the_template_keys(project: Path) -> None:
    plan = _chatml_workflow("{{ mesages | length }}").plan()
    count = plan.stage("count")
    assert count.status == Status.ERROR
    assert count.reasons[0].detail == (
        "Stage 'count': Column 'n' references unknown column 'mesages'. Did you mean 'messages'?"
    )
    topic = _chatml_workflow("{{ topic }}").plan().stage("count")  # topic is not in the chatml output
    assert topic.status == Status.ERROR and "unknown column 'topic'" in topic.reasons[0].detail
    assert _chatml_workflow("{{ messages | length }}-{{ source }}").plan().stage("count").status == Status.PENDING


def _copy_two(stage_dir: Path) -> Path:
    import pyarrow.parquet as pq

    dest = stage_dir / "callback-outputs" / "two.parquet"
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pq.read_table(stage_dir / "parquet-files").slice(0, 2), dest)
    return dest


def _callback_workflow(reference: str) -> Any:
    workflow = dd.DataDesigner().compose_workflow(name="cb")
    workflow.add_stage("gen", sampler_builder(), num_records=4, on_success=_copy_two, on_success_version="1")
    workflow.add_stage("next", expr_builder(reference))
    return workflow


def test_an_on_success_upstream_is_not_checked_before_it_runs(project: Path) -> None:
    plan = _callback_workflow("{{ anything_at_all }}").plan()
    assert plan.stage("next").status == Status.PENDING  # unknown columns: no false error
    assert plan.invalid() == []


def test_a_cached_on_success_upstream_is_checked_from_its_parquet_footer(project: Path) -> None:
    _callback_workflow("{{ x }}").run()
    plan = _callback_workflow("{{ xx }}").plan()
    assert plan.stage("gen").status == Status.HIT
    assert plan.stage("next").reasons[0].detail == (
        "Stage 'next': Column 'y' references unknown column 'xx'. Did you mean 'x'?"
    )
    reporter = Counting()
    with pytest.raises(ColumnReferenceError):
        _callback_workflow("{{ xx }}").run(reporter=reporter)
    assert reporter.started == []


def test_a_root_file_seed_is_checked(project: Path) -> None:
    write_seed(project / "seed.parquet")
    workflow = dd.DataDesigner().compose_workflow(name="seeded")
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    workflow.add_stage("load", builder.add_column(name="u", column_type="expression", expr="{{ txt }}"))
    load = workflow.plan().stage("load")
    assert load.status == Status.ERROR
    assert load.reasons[0].detail == "Stage 'load': Column 'u' references unknown column 'txt'. Did you mean 'text'?"


def test_an_override_gives_the_columns_of_its_file(project: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"topic": ["a"], "extra": [1]}), project / "reviewed.parquet")
    plan = chain("{{ extra }} {{ topic }}").plan(stage_output_overrides={"topics": "reviewed.parquet"})
    assert plan.invalid() == []
    plan = chain("{{ extar }}").plan(stage_output_overrides={"topics": "reviewed.parquet"})
    assert "Did you mean 'extra'?" in plan.stage("questions").reasons[0].detail


def _dag(join: Any, reference: str) -> Graph:
    workflow = dd.DataDesigner().compose_workflow(name="dag")
    workflow.add_stage("base", topics().add_column(name="id", column_type="expression", expr="{{ topic }}"),
                       num_records=3)
    workflow.add_stage("left", expr_builder("{{ topic }}", "l"), depends_on="base")
    workflow.add_stage("right", expr_builder("{{ topic }}", "r"), depends_on="base")
    workflow.add_stage("joined", expr_builder(reference, "j"), depends_on=["left", "right"], join=join)
    return Graph(tuple(workflow.stages))


def test_concat_is_the_union_and_join_on_suffixes_clashes() -> None:
    concat = check_schemas(_dag(dd.Concat(), "{{ l }}{{ r }}"), ["base", "left", "right", "joined"], SchemaFacts())
    assert concat.outputs["base"] is None  # the root's seed columns were not supplied: unknown
    facts = SchemaFacts(roots={"base": ()})
    concat = check_schemas(_dag(dd.Concat(), "{{ l }}{{ r }}"), ["base", "left", "right", "joined"], facts)
    assert concat.errors == {} and concat.outputs["joined"] == ("topic", "id", "l", "r", "j")
    joined = check_schemas(_dag(dd.JoinOn(columns=["id"]), "{{ topic }}"), ["base", "left", "right", "joined"], facts)
    assert joined.errors["joined"].message == (
        "Stage 'joined': Column 'j' references unknown column 'topic'. Did you mean 'topic_left'?"
    )
    assert join_on_columns(dd.JoinOn(columns=["id"]), {"a": ("id", "x"), "b": ("id", "y")}) == ("id", "x", "y")
    assert join_on_columns(dd.JoinOn(columns=["id"]), {"a": ("id",), "b": ("x",)}) is None  # key missing
    callable_join = check_schemas(_dag(lambda dirs: dirs["left"], "{{ nope }}"),
                                  ["base", "left", "right", "joined"], facts)
    assert callable_join.errors == {} and callable_join.outputs["joined"] is None
