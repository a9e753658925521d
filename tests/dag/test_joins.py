"""Joins in a DAG: what reruns when a branch changes, early cutoff across joins, join kinds, sinks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dag_helpers import designer, expr_builder, seed_builder, write_seed

import ddbuild as dd
from ddbuild.errors import WorkflowError
from ddbuild.workflow import Status


def _fan_in(b_expr: str = "{{ text }}-b", c_records: int | None = None, how: str = "inner"):
    workflow = designer().compose_workflow(name="fanin")
    workflow.add_stage("src", seed_builder())
    workflow.add_stage("b", expr_builder("y", b_expr), depends_on="src")
    workflow.add_stage("c", expr_builder("z", "{{ text }}-c"), depends_on="src", num_records=c_records)
    workflow.add_stage("d", expr_builder("w", "{{ y }}|{{ z }}"), depends_on=["b", "c"],
                       join=dd.JoinOn(columns=["id"], how=how))
    return workflow


@pytest.fixture
def seeded(project: Path) -> Path:
    write_seed(project / "seed.parquet", rows=6)
    return project


def test_changing_one_branch_reruns_that_branch_and_the_join(seeded):
    assert sorted(_fan_in().run(max_parallel_stages=2).executed_stages()) == ["b", "c", "d", "src"]
    assert _fan_in().run(max_parallel_stages=2).executions == 0
    results = _fan_in(b_expr="{{ text }}-B").run(max_parallel_stages=2)
    assert sorted(results.executed_stages()) == ["b", "d"]
    assert results.status("c") == Status.HIT and results.status("src") == Status.HIT
    df = results.load_stage_output("d")
    assert list(df["w"]) == [f"t{i}-B|t{i}-c" for i in range(6)]
    assert {"text_b", "text_c"} <= set(df.columns)  # clashing non-key columns get _<parent>


def test_branch_reproducing_identical_bytes_leaves_the_join_a_hit(seeded):
    _fan_in().run()
    # A different template (so a different key) that renders the same bytes: b runs, d is a hit.
    results = _fan_in(b_expr="{{text}}-b").run(max_parallel_stages=2)
    assert results.executed_stages() == ["b"]
    assert results.status("d") == Status.HIT
    # Rebuilding the branch alone (make -B b): same bytes again, so the join stays a hit.
    assert _fan_in().run(targets="b", always_make=True).executed_stages() == ["src", "b"]
    results = _fan_in().run()
    assert results.executions == 0 and results.status("d") == Status.HIT


def test_join_on_left_keeps_unmatched_rows(seeded):
    inner = _fan_in(c_records=3).run()
    assert inner.count_stage_output_records("d") == 3
    left = _fan_in(c_records=3, how="left").run()
    assert left.executed_stages() == ["d"]  # how= is part of the join's identity
    df = left.load_stage_output("d")
    assert len(df) == 6 and df["z"].isna().sum() == 3


def test_join_callable_and_its_version(seeded):
    calls: list[list[str]] = []

    def first_parent_only(paths: dict[str, Path]) -> Path:
        calls.append(sorted(paths))
        return paths["b"]

    def build(version: str):
        workflow = designer().compose_workflow(name="custom")
        workflow.add_stage("src", seed_builder())
        workflow.add_stage("b", expr_builder("y", "{{ text }}-b"), depends_on="src")
        workflow.add_stage("c", expr_builder("z", "{{ text }}-c"), depends_on="src")
        workflow.add_stage("d", expr_builder("w", "{{ y }}."), depends_on=["b", "c"],
                           join=first_parent_only, join_version=version)
        return workflow

    results = build("1").run()
    assert calls == [["b", "c"]]
    assert list(results.load_stage_output("d")["w"]) == [f"t{i}-b." for i in range(6)]
    assert build("1").run().executions == 0 and len(calls) == 1
    assert build("2").run().executed_stages() == ["d"] and len(calls) == 2


def test_several_parents_without_join_lists_the_options(project):
    workflow = designer().compose_workflow(name="nojoin")
    workflow.add_stage("a", expr_builder("x", "1"), depends_on=[])
    workflow.add_stage("b", expr_builder("y", "2"), depends_on=[])
    with pytest.raises(WorkflowError) as caught:
        workflow.add_stage("c", expr_builder("z", "3"), depends_on=["a", "b"])
    text = str(caught.value)
    assert "a, b" in text and "Concat" in text and "JoinOn" in text and "join_version" in text


def test_several_sinks_load_dataset_and_export_name_them(seeded):
    workflow = designer().compose_workflow(name="sinks")
    workflow.add_stage("src", seed_builder())
    workflow.add_stage("b", expr_builder("y", "{{ text }}-b"), depends_on="src")
    workflow.add_stage("c", expr_builder("z", "{{ text }}-c"), depends_on="src")
    results = workflow.run(max_parallel_stages=2)
    for call in (results.load_dataset, lambda: results.export(seeded / "out.jsonl"), results.count_records):
        with pytest.raises(WorkflowError) as caught:
            call()
        text = str(caught.value)
        assert "b, c" in text and "load_stage_output('c')" in text
    assert len(results.load_stage_output("b")) == 6
    assert len(workflow.run(targets="b").load_dataset()) == 6  # one target: a single final dataset


def test_metadata_records_depends_on(seeded):
    _fan_in().run()
    meta = json.loads((seeded / "artifacts" / "fanin" / "workflow-metadata.json").read_text())
    assert {s["name"]: s["depends_on"] for s in meta["stages"]} == {
        "src": [], "b": ["src"], "c": ["src"], "d": ["b", "c"],
    }
