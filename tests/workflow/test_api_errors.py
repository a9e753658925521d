"""Every add_stage / run argument error, with Data Designer's message, and nothing built before it."""

from __future__ import annotations

from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.errors import ResumeError, TargetError
from tests.workflow.conftest import drop_builder, expr_builder, sampler_builder, three_stage


@pytest.mark.parametrize("name,match", [("", "non-empty"), (".", "not allowed"), ("..", "not allowed"),
                                        ("a/b", "invalid path characters"), ("a:b", "invalid path characters")])
def test_names_are_directory_names(project: Path, name: str, match: str) -> None:
    with pytest.raises(dd.DataDesignerWorkflowError, match=match):
        dd.DataDesigner().compose_workflow(name=name)
    workflow = dd.DataDesigner().compose_workflow(name="ok")
    with pytest.raises(dd.DataDesignerWorkflowError, match=match):
        workflow.add_stage(name, sampler_builder())


def test_add_stage_errors(project: Path) -> None:
    wf = dd.DataDesigner().compose_workflow(name="w").add_stage("a", sampler_builder())
    cases = [
        ({"name": "a"}, "already used"),
        ({"num_records": 0}, "at least 1"),
        ({"output": "best"}, "'final' or 'processor:<name>'"),
        ({"output": "processor:"}, "non-empty"),
        ({"output_processors": [dd.DropColumnsProcessorConfig(name="p", column_names=["x"])] * 2},
         "distinct within output_processors"),
        ({"output": "processor:nope"}, "not configured"),
    ]
    for kwargs, match in cases:
        args = {"name": "b", **kwargs}
        with pytest.raises(dd.DataDesignerWorkflowError, match=match):
            wf.add_stage(args.pop("name"), expr_builder(), **args)
    with pytest.raises(dd.DataDesignerWorkflowError, match="distinct"):
        wf.add_stage("b", drop_builder(["x"]), output_processors=[dd.DropColumnsProcessorConfig(name="drop",
                                                                                               column_names=["x"])])
    with pytest.raises(TargetError, match="Did you mean 'a'"):
        wf.add_stage("b", expr_builder(), depends_on="aa")
    wf.add_stage("b", expr_builder(), depends_on="a").add_stage("c", expr_builder("{{ x }}", "q"), depends_on="a")
    with pytest.raises(dd.DataDesignerWorkflowError, match="needs join="):
        wf.add_stage("d", expr_builder(), depends_on=["b", "c"])


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("s", "not a builder"), {},
     "Workflow 'w', stage 's': config_builder must be a DataDesignerConfigBuilder, got str 'not a builder'."),
    ((3, None), {}, "Workflow 'w': the stage name must be a str, got int 3."),
    (("s", None), {}, "Workflow 'w', stage 's': config_builder must be a DataDesignerConfigBuilder, got NoneType None."),
    (("s",), {"num_records": "10"}, "Workflow 'w', stage 's': num_records must be a positive int or None, got str '10'."),
    (("s",), {"on_success": "callback.py"},
     "Workflow 'w', stage 's': on_success must be a callable (stage directory -> output path) or None, "
     "got str 'callback.py'."),
    (("s",), {"on_success_version": 2}, "Workflow 'w', stage 's': on_success_version must be a str or None, got int 2."),
    (("s",), {"output_processors": "drop"},
     "Workflow 'w', stage 's': output_processors must be a list of processor configs (DropColumnsProcessorConfig, "
     "SchemaTransformProcessorConfig) or None, got str 'drop'."),
    (("s",), {"output_processors": [{"name": "p"}]},
     "Workflow 'w', stage 's': output_processors must be a list of processor configs (DropColumnsProcessorConfig, "
     "SchemaTransformProcessorConfig) or None, got list [{'name': 'p'}]."),
    (("s",), {"output": None}, "Workflow 'w', stage 's': output must be a str: 'final' or 'processor:<name>', got NoneType None."),
    (("s",), {"allow_empty": 1}, "Workflow 'w', stage 's': allow_empty must be True or False, got int 1."),
    (("s",), {"sampling_strategy": 0}, "Workflow 'w', stage 's': sampling_strategy must be a SamplingStrategy, got int 0."),
    (("s",), {"selection_strategy": (0, 5)},
     "Workflow 'w', stage 's': selection_strategy must be an IndexRange, a PartitionBlock or None, got tuple (0, 5)."),
    (("s",), {"depends_on": 1}, "Workflow 'w', stage 's': depends_on must be a stage name, a list of stage names, or None, got int 1."),
    (("s",), {"join": "concat"},
     "Workflow 'w', stage 's': join must be dd.Concat(), dd.JoinOn(columns=[...]), a callable, or None, got str 'concat'."),
    (("s",), {"join_version": 1.0}, "Workflow 'w', stage 's': join_version must be a str or None, got float 1.0."),
])
def test_add_stage_checks_argument_types(project: Path, args: tuple, kwargs: dict, message: str) -> None:
    """Each wrong type is named with the workflow, the stage and what was expected (was: AttributeError
    'str' object has no attribute 'get_processor_configs'), and nothing is added."""
    wf = dd.DataDesigner().compose_workflow(name="w").add_stage("a", sampler_builder())
    if len(args) == 1:
        args = (*args, expr_builder())
    with pytest.raises(dd.DataDesignerWorkflowError) as info:
        wf.add_stage(*args, **kwargs)
    assert info.value.message == message
    assert "add_stage(" in info.value.hint
    assert wf.stage_names == ["a"]


def test_builder_is_copied_when_added(project: Path) -> None:
    builder = sampler_builder()
    wf = dd.DataDesigner().compose_workflow(name="w").add_stage("a", builder, num_records=2)
    builder.add_column(name="late", column_type="expression", expr="{{ x }}")
    assert list(wf.run().load_dataset().columns) == ["x"]


def test_run_errors_before_any_work(project: Path) -> None:
    with pytest.raises(dd.DataDesignerWorkflowError, match="has no stages"):
        dd.DataDesigner().compose_workflow(name="empty").run()
    wf = three_stage()
    with pytest.raises(dd.DataDesignerWorkflowError, match="rerun_from requires resume"):
        wf.run(resume=dd.ResumeMode.NEVER, rerun_from="a")
    with pytest.raises(TargetError, match="Unknown target stage: 'bb'. Did you mean 'b'"):
        wf.run(targets="bb")
    with pytest.raises(TargetError, match="Unknown rerun_from stage: 'cc'"):
        wf.run(rerun_from="cc")
    with pytest.raises(TargetError, match="Unknown stage output override: 'aa'"):
        wf.run(stage_output_overrides={"aa": "x.parquet"})
    (project / "nothing").mkdir()
    with pytest.raises(dd.DataDesignerWorkflowError, match="Invalid stage output override for stage 'a'"):
        wf.run(stage_output_overrides={"a": "nothing"})
    assert not (project / "artifacts").exists() and not (project / ".ddbuild" / "cache" / "actions").exists()


def test_always_raises_before_running_anything(project: Path) -> None:
    three_stage().run(targets="b")
    with pytest.raises(ResumeError, match="stage 'c' is not reusable"):
        three_stage(c_expr="{{ y }}-changed").run(resume=dd.ResumeMode.ALWAYS)
    assert not (project / "artifacts" / "wf" / "stage-2-c").exists()
    with pytest.raises(ResumeError, match="stage 'b' is not reusable"):
        three_stage(b_expr="{{ x }}-changed").run(resume=dd.ResumeMode.ALWAYS)
    # a changed stage downstream of one that is forced is fine (like Data Designer)
    assert three_stage().run(resume=dd.ResumeMode.ALWAYS, targets="b").executions == 0


def test_unknown_stage_in_results(project: Path) -> None:
    result = three_stage().run()
    with pytest.raises(KeyError):
        result["zz"]
    with pytest.raises(TargetError, match="Did you mean 'c'"):
        result.load_stage_output("cc")
