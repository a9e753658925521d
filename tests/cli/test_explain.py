"""--explain / -q / status: golden text, the JSON document, and explain == what a build executes."""

from __future__ import annotations

import json

import pytest
from golden import assert_golden


def explain_json(project, *args, env=None):
    result = project.run("--explain", "--json", *args, env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def build_events(project, *args, env=None):
    result = project.run("--json", *args, env=env)
    assert result.exit_code == 0, result.stderr
    return result.json_lines()


def test_explain_fresh_golden(chain):
    result = chain.run("--explain")
    assert result.exit_code == 0
    assert_golden("explain_fresh.txt", result.stdout)
    assert not (chain.root / "artifacts").exists()  # a dry run builds nothing


def test_explain_after_build_golden(chain):
    chain.run()
    assert_golden("explain_hit.txt", chain.run("-n").stdout)


def test_explain_config_changed_golden(chain):
    chain.run()
    result = chain.run("-n", env={"TEST_LABEL": "v2"})
    assert "config changed: columns.label.expr" in result.stdout
    assert_golden("explain_config_changed.txt", result.stdout)


def test_explain_forced_golden(chain):
    chain.run()
    assert_golden("explain_always_make.txt", chain.run("-n", "-B").stdout)
    assert_golden("explain_rerun_from.txt", chain.run("-n", "--rerun-from", "middle").stdout)


def test_explain_seed_changed(project):
    (project.root / "seed.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    project.write('''
import ddbuild as dd
docs = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.jsonl")).add_column(
    name="upper", column_type="expression", expr="{{ text | upper }}")
workflow = dd.DataDesigner().compose_workflow(name="seeded")
workflow.add_stage("docs", docs)
''')
    assert project.run().exit_code == 0
    (project.root / "seed.jsonl").write_text('{"text": "a"}\n{"text": "c"}\n')
    result = project.run("-n")
    assert "docs" in result.stdout and "seed content changed" in result.stdout
    assert "seed.jsonl" in result.stdout


def test_explain_json_document(chain):
    doc = explain_json(chain)
    assert doc["schema"] == "ddbuild.explain/1" and doc["build_file"] == "ddfile.py" and doc["has_work"]
    (plan,) = doc["workflows"]
    assert plan["workflow"] == "chain" and plan["targets"] == ["final"]
    assert [s["status"] for s in plan["stages"]] == ["run", "pending", "pending"]
    assert plan["stages"][0]["cost"]["rows_to_generate"] == 40
    assert plan["stages"][0]["reasons"][0]["kind"] == "no_entry"
    assert doc["summary"]["status_counts"]["pending"] == 2


def test_question_exit_status(chain):
    pending = chain.run("-q")
    assert pending.exit_code == 1 and pending.stdout == "" and pending.stderr == ""
    chain.run()
    done = chain.run("-q")
    assert done.exit_code == 0 and done.stdout == ""
    assert chain.run("-q", env={"TEST_LABEL": "v3"}).exit_code == 1


def test_status_table(chain):
    chain.run("middle")
    result = chain.run("status")
    assert result.exit_code == 0
    assert_golden("status_partial.txt", result.stdout)


SCENARIOS = [
    ("fresh", [], {}),
    ("noop", [], {}),
    ("edit-middle", [], {"TEST_LABEL": "v2"}),
    ("edit-rows", [], {"TEST_ROWS": "30", "TEST_LABEL": "v2"}),
    ("always-make", ["-B"], {"TEST_ROWS": "30", "TEST_LABEL": "v2"}),
    ("rerun-from", ["--rerun-from", "middle"], {"TEST_ROWS": "30", "TEST_LABEL": "v2"}),
    ("back-to-start", [], {}),
    ("target-middle", ["middle"], {"TEST_LABEL": "v9"}),
]


@pytest.mark.parametrize("prefix", [1, len(SCENARIOS)])
def test_build_executes_exactly_what_explain_said(chain, prefix):
    """The same planner decides both: stages started == explain's run/resume, plus pending that missed."""
    for name, args, env in SCENARIOS[:prefix]:
        plan = explain_json(chain, *args, env=env)["workflows"][0]["stages"]
        will_run = {s["name"] for s in plan if s["status"] in ("run", "resume")}
        maybe = {s["name"] for s in plan if s["status"] == "pending"}
        hits = {s["name"] for s in plan if s["status"] == "hit"}
        events = build_events(chain, *args, env=env)
        started = {e["stage"] for e in events if e["event"] == "stage_started"}
        finished = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
        assert will_run <= started <= will_run | maybe, name
        assert not (hits & started), name
        assert set(finished) == will_run | maybe | hits, name
        planned_keys = {s["name"]: s["key"] for s in plan if s["key"]}
        for stage, key in planned_keys.items():  # keys known at plan time are the keys built/hit
            (done,) = [e for e in events if e["event"] == "stage_finished" and e["stage"] == stage]
            assert done["key"] == key, (name, stage)


def test_explain_shows_dag_branches_and_parallel_groups(dag):
    text = dag.main("-n", "bad", "good").stdout
    lines = [line.split()[:4] for line in text.splitlines()[1:] if not line.startswith(" " * 6)][:3]
    assert [line[:2] if line[0] == "base" else line for line in lines] == [
        ["base", "run"], ["bad", "<-", "base", "pending"], ["good", "<-", "base", "pending"]]
    assert "  independent, can build together with -j 2: bad, good\n" in text
    dag.main("base")  # once base is built, both branches are plain runs, still independent
    assert "independent, can build together with -j 2: bad, good" in dag.main("-n", "bad", "good").stdout
    assert "<-" not in dag.main("-n", "base").stdout  # a single stage is a chain: no arrows


def test_a_misspelt_reference_is_an_error_in_explain_and_stops_the_build_before_work(chain):
    from cli_project import CHAIN

    chain.write(CHAIN.replace("{{ colour }}", "{{ colr }}"))
    message = "Stage 'middle': Column 'label' references unknown column 'colr'. Did you mean 'colour'?"
    explained = chain.main("-n")
    assert explained.exit_code == 2, explained.stderr
    lines = explained.stdout.splitlines()
    assert any(line.split()[:3] == ["middle", "error", "-"] and line.endswith(message) for line in lines), lines
    assert any(line.split()[:2] == ["final", "skipped"] for line in lines)
    assert f"ddbuild: error: {message}" in explained.stderr
    assert chain.main("-q").exit_code == 2
    built = chain.main()
    assert built.exit_code == 2
    assert f"ddbuild: build of chain not started: {message}" in built.stderr
    assert "running" not in built.stderr and not (chain.root / "artifacts").exists()
    cache = chain.root / ".ddbuild" / "cache" / "actions"
    assert not cache.exists() or not any(cache.rglob("*.json"))
