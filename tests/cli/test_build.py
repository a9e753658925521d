"""Building through the CLI: summary, counting executions, failures (-k), export, graph."""

from __future__ import annotations

import json

import pytest


def started(result):
    return [e["stage"] for e in result.json_lines() if e["event"] == "stage_started"]


def test_summary_then_noop(chain):
    first = chain.run()
    assert first.exit_code == 0
    assert "workflow chain: built in" in first.stdout
    rows = {line.split()[0]: line.split()[1] for line in first.stdout.splitlines()[2:]}
    assert rows == {"base": "ran", "middle": "ran", "final": "ran"}
    second = chain.run("--json")
    assert started(second) == []  # second build: 0 stage runs
    summary = second.json_lines()[-1]
    assert summary["event"] == "build_finished"
    assert [s["status"] for s in summary["workflows"][0]["stages"]] == ["hit", "hit", "hit"]


def test_edit_reruns_only_stage_and_descendants(chain):
    chain.run()
    result = chain.run("--json", env={"TEST_LABEL": "v2"})
    assert started(result) == ["middle", "final"]


def test_always_make_and_rerun_from(chain):
    chain.run()
    assert started(chain.run("--json", "-B")) == ["base", "middle", "final"]
    # --rerun-from forces the stage and its descendants; upstream stays a hit
    assert started(chain.run("--json", "--rerun-from", "middle")) == ["middle", "final"]
    # -B on one target forces only its closure; middle reproduces its bytes, so final is a hit
    assert started(chain.run("--json", "-B", "middle")) == ["base", "middle"]
    assert started(chain.run("--json")) == []
    unknown = chain.main("--rerun-from", "midle")
    assert unknown.exit_code == 2 and "Did you mean 'middle'?" in unknown.stderr


def test_failure_exit_1_reports_stage_and_kept(chain, monkeypatch):
    monkeypatch.setenv("TEST_FAIL_STAGE", "middle")
    failed = chain.main()
    monkeypatch.delenv("TEST_FAIL_STAGE")
    assert failed.exit_code == 1
    assert "failed at stage 'middle'" in failed.stderr
    assert "middle is broken on purpose" in failed.stderr
    assert "kept (complete, cached): base" in failed.stderr
    again = chain.run("--json")
    assert started(again) == ["middle", "final"]  # base was kept


def test_keep_going_builds_independent_branch(dag, monkeypatch):
    monkeypatch.setenv("TEST_FAIL_BRANCH", "1")
    stop = dag.main("good", "bad")
    assert stop.exit_code == 1 and "failed at stage 'bad'" in stop.stderr
    assert dag.main("-q", "good").exit_code == 1  # without -k the build stopped before good
    on = dag.main("-k", "--json", "bad", "good")
    assert on.exit_code == 1 and "failed at stage 'bad'" in on.stderr
    finished = {e["stage"]: e["status"] for e in on.json_lines() if e.get("event") == "stage_finished"}
    assert finished == {"base": "hit", "bad": "error", "good": "run"}
    monkeypatch.delenv("TEST_FAIL_BRANCH")
    assert dag.main("-q", "good").exit_code == 0  # good is built despite bad failing


def test_config_error_exit_2(project):
    project.write('''
import ddbuild as dd
b = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="missing.jsonl")).add_column(
    name="x", column_type="expression", expr="{{ 1 }}")
workflow = dd.DataDesigner().compose_workflow(name="broken")
workflow.add_stage("only", b)
''')
    result = project.main()
    assert result.exit_code == 2, result.stderr
    assert "Seed file 'missing.jsonl' does not exist." in result.stderr
    explained = project.main("-n")
    assert explained.exit_code == 2 and "  only   error    -         Seed file 'missing.jsonl' does not exist." in explained.stdout
    assert project.main("-q").exit_code == 2
    assert not (project.root / "artifacts").exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_formats(chain, fmt):
    chain.run()
    result = chain.main("export", "middle", f"out/middle.{fmt}")
    assert result.exit_code == 0, result.stderr
    out = chain.root / "out" / f"middle.{fmt}"
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 40 and {"n", "colour", "double", "label"} <= set(rows[0])
    elif fmt == "csv":
        assert out.read_text().splitlines()[0].split(",")[:2] == ["n", "colour"]
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(out).num_rows == 40


def test_export_explicit_format_and_unknown_suffix(chain):
    chain.run()
    assert chain.main("export", "final", "rows.txt").exit_code == 2
    assert chain.main("export", "final", "rows.txt", "--format", "jsonl").exit_code == 0
    assert len((chain.root / "rows.txt").read_text().splitlines()) == 40


def test_export_unbuilt_target_says_how(chain):
    result = chain.main("export", "final", "x.jsonl")
    assert result.exit_code == 1
    assert "Target 'final' is not built" in result.stderr and "ddbuild final" in result.stderr
    assert not (chain.root / "artifacts").exists()  # export builds nothing


def test_graph_formats(dag):
    text = dag.main("graph").stdout
    assert text == "workflow dag\n  base\n  bad <- base\n  good <- base\n"
    mermaid = dag.main("graph", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR") and "s_base --> s_good" in mermaid
    dot = dag.main("graph", "--format", "dot").stdout
    assert dot.startswith('digraph "dag" {') and '"base" -> "bad";' in dot


def test_silent_prints_nothing(chain):
    result = chain.main("-s")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_plain_log_lines_when_not_a_terminal(chain):
    result = chain.main("-v")
    assert "ddbuild: base: running (key " in result.stderr
    assert "ddbuild: base: ran in" in result.stderr


def test_default_targets_of_a_dag_are_all_sinks(dag):
    built = dag.run("--json")
    assert sorted(started(built)) == ["bad", "base", "good"]
    assert dag.main("-q").exit_code == 0
    export = dag.main("export", "dag", "out.jsonl")
    assert export.exit_code == 2
    assert "Workflow 'dag' has several final stages: bad, good." in export.stderr
    assert dag.main("export", "good", "out.jsonl").exit_code == 0


def test_csv_export_writes_nested_values_as_json(project):
    project.write('''
import ddbuild as dd
base = dd.DataDesignerConfigBuilder(seed=1).add_column(
    name="n", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]})
chat = dd.DataDesignerConfigBuilder().add_processor(dd.SchemaTransformProcessorConfig(
    name="chat", template={"messages": [{"role": "user", "content": "{{ n }}"}]}))
workflow = dd.DataDesigner().compose_workflow(name="nested")
workflow.add_stage("base", base, num_records=4)
workflow.add_stage("chat", chat, output="processor:chat")
''')
    assert project.main().exit_code == 0
    assert project.main("export", "chat", "out.csv").exit_code == 0
    import csv

    with open(project.root / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    (message,) = json.loads(rows[0]["messages"])  # a JSON cell, not a numpy repr
    assert message["role"] == "user" and message["content"] in {"a", "b"}
    jsonl = project.main("export", "chat", "out.jsonl")
    assert jsonl.exit_code == 0
    records = [json.loads(line) for line in (project.root / "out.jsonl").read_text().splitlines()]
    assert [r["messages"] for r in records] == [json.loads(r["messages"]) for r in rows]


def test_pyproject_cache_is_the_cache_of_the_python_api_and_of_the_cli(chain, monkeypatch):
    """``[tool.ddbuild] cache`` goes through one resolver: a build made through the Python API is
    the CLI's hit, and the other way round; neither touches the default .ddbuild/cache."""
    import runpy

    (chain.root / "pyproject.toml").write_text('[tool.ddbuild]\ncache = "team-cache"\n')
    monkeypatch.chdir(chain.root)
    workflow = runpy.run_path(str(chain.root / "ddfile.py"), run_name="ddfile")["workflow"]
    assert workflow.run().executed_stages() == ["base", "middle", "final"]
    assert chain.run("-q").exit_code == 0  # the CLI finds the API's build: up to date
    assert started(chain.run("--json", env={"TEST_LABEL": "v2"})) == ["middle", "final"]
    monkeypatch.setenv("TEST_LABEL", "v2")
    workflow = runpy.run_path(str(chain.root / "ddfile.py"), run_name="ddfile")["workflow"]
    assert workflow.run().executed_stages() == []  # the API finds the CLI's build
    standalone = type(workflow)("chain")  # a Workflow made without a designer resolves the same way
    for stage in workflow.stages:
        standalone.add_stage(stage.name, stage.builder, num_records=stage.num_records, output=stage.output)
    assert standalone.run().executed_stages() == []
    assert (chain.root / "team-cache").is_dir() and not (chain.root / ".ddbuild").exists()
