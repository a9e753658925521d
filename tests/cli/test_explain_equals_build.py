"""Differential: what ``--explain`` says about each stage is what the build then does, for every
option the CLI accepts, over project states kept as data (one line per state, one per option).

For each (state, options) case, the state's project is copied, ``--explain --json`` is asked, then
the same command line builds (``--json`` events) and each stage's outcome is compared:

    explain says   the build must             explain says   the build must
    hit            reuse it (hit)             pending        run, resume or hit it (early cutoff)
    run            run it (or fail in it)     skipped        skip it
    resume         resume it (or fail in it)  error          exit as explain did, before any stage

and no stage outside the plan is touched; every key explain knew is the key the build used. A
stage that ``-B`` or ``--rerun-from`` forces runs whatever its upstream produces, so for it
"pending" would hide a certainty: explain must say run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_project import Project

# base ─┬─► left ─► final       (final selects a processor output)
#       └─► right               (fails on purpose when TEST_FAIL_BRANCH=1)
DIFF = '''
import os
import ddbuild as dd

LABEL = os.environ.get("TEST_LABEL", "v1")


@dd.custom_column_generator(required_columns=["n"])
def fragile(row):
    if os.environ.get("TEST_FAIL_BRANCH") == "1":
        raise RuntimeError("right is broken on purpose")
    row["r"] = row["n"] + 1
    return row


base = (
    dd.DataDesignerConfigBuilder(seed=3)
    .add_column(name="n", column_type="sampler", sampler_type="uniform",
                params={"low": 0, "high": 100, "decimal_places": 0}, convert_to="int")
    .add_column(name="colour", column_type="sampler", sampler_type="category",
                params={"values": ["red", "green", "blue"]})
)
if os.environ.get("TEST_BASE_SCRATCH") == "1":  # a new key for base, the same selected bytes
    base.add_column(name="scratch", column_type="expression", expr="{{ n }}", drop=True)
left = dd.DataDesignerConfigBuilder().add_column(
    name="label", column_type="expression", expr="{{ colour }}-{{ n }}-" + LABEL)
final = dd.DataDesignerConfigBuilder().add_processor(
    dd.SchemaTransformProcessorConfig(name="chat", template={"text": "{{ label }}"}))
right = dd.DataDesignerConfigBuilder().add_column(dd.CustomColumnConfig(name="r", generator_function=fragile))

workflow = dd.DataDesigner().compose_workflow(name="diff")
workflow.add_stage("base", base, num_records=int(os.environ.get("TEST_ROWS", "30")))
workflow.add_stage("left", left, depends_on="base")
workflow.add_stage("final", final, depends_on="left", output="processor:chat")
workflow.add_stage("right", right, depends_on="base")
'''

# state -> (builds that made it: (args, env) each, the environment of the case's own commands)
STATES: dict[str, tuple[list[tuple[list[str], dict[str, str]]], dict[str, str]]] = {
    "fresh": ([], {}),
    "built": ([([], {})], {}),
    "partly-built": ([(["left"], {})], {}),
    "edited-left": ([([], {})], {"TEST_LABEL": "v2"}),
    "edited-base-rows": ([([], {})], {"TEST_ROWS": "20"}),
    "base-new-key-same-bytes": ([([], {})], {"TEST_BASE_SCRATCH": "1"}),
    "broken-branch": ([(["left"], {})], {"TEST_FAIL_BRANCH": "1"}),
    "broken-branch-fresh": ([], {"TEST_FAIL_BRANCH": "1"}),
}

OPTIONS: list[list[str]] = [
    [],
    ["-B"],
    ["left"],
    ["right"],
    ["-B", "left"],
    ["--rerun-from", "left"],
    ["--rerun-from", "base", "final"],
    ["-j", "2"],
    ["-k"],
    ["-k", "-j", "2", "-B"],
    ["--resume", "never"],
    ["--resume", "never", "left"],
    ["--resume", "never", "-j", "2"],
    ["-k", "--resume", "never"],
    ["--resume", "always"],
    ["--resume", "always", "--rerun-from", "left"],
    ["--override", "base=override.parquet"],
]

def _applies(state: str, options: list[str]) -> bool:
    """-k only where a branch fails; where one fails, only -k or targets that avoid it (else the
    build stops at the failure and the stages after it are neither built nor wrong)."""
    broken = bool(STATES[state][1].get("TEST_FAIL_BRANCH"))
    return ("-k" in options) == broken or options == ["left"]


CASES = [(state, options) for state in STATES for options in OPTIONS if _applies(state, options)]

DESCENDANTS = {"base": {"base", "left", "final", "right"}, "left": {"left", "final"}}  # --rerun-from X


def forced(options: list[str], plan: dict[str, dict]) -> set[str]:
    """Stages the options rebuild whatever their inputs (make -B; Data Designer's rerun_from)."""
    if "-B" in options or "never" in options:
        return set(plan)
    if "--rerun-from" in options:
        return DESCENDANTS[options[options.index("--rerun-from") + 1]] & set(plan)
    return set()


MAY_BECOME = {  # explain's status -> what the build may do with the stage
    "hit": {"hit"},
    "run": {"run"},
    "resume": {"resume"},
    "pending": {"run", "resume", "hit"},
    "skipped": {"skipped"},
}


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each state built once; a case works on a copy."""
    roots = {}
    for name, (setup, _) in STATES.items():
        project = Project(tmp_path_factory.mktemp(name))
        project.write(DIFF)
        pq.write_table(pa.table({"n": [7, 8, 9], "colour": ["red", "red", "blue"]}), project.root / "override.parquet")
        for args, env in setup:
            assert project.run(*args, env=env).exit_code == 0
        roots[name] = project.root
    return roots


def _stages(document: dict) -> dict[str, dict]:
    return {s["name"]: s for w in document["workflows"] for s in w["stages"]}


@pytest.mark.parametrize(("state", "options"), CASES, ids=[f"{s}:{' '.join(o) or '-'}" for s, o in CASES])
def test_explain_equals_build(states, tmp_path, monkeypatch, state, options):
    shutil.copytree(states[state], tmp_path / "p", symlinks=True)
    project = Project(tmp_path / "p")
    for name, value in STATES[state][1].items():
        monkeypatch.setenv(name, value)
    explained = project.main("--explain", "--json", *options)  # through main(): the fast path too
    plan = _stages(json.loads(explained.stdout))
    built = project.main("--json", *options)
    events = built.json_lines()
    started = {e["stage"]: e["status"] for e in events if e["event"] == "stage_started"}
    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}

    if any(s["status"] == "error" for s in plan.values()):  # refused before anything runs
        assert explained.exit_code == built.exit_code != 0 and not started, (explained.stderr, built.stderr)
        assert explained.stderr.splitlines()[0].removeprefix("ddbuild: error: ") in built.stderr  # the same message
        return
    failed = {name for name, e in finished.items() if e["status"] == "error"}
    assert built.exit_code == (1 if failed else 0), built.stderr
    assert set(finished) == set(plan), (sorted(finished), sorted(plan))  # no stage outside the plan
    for name in forced(options, plan):
        assert plan[name]["status"] == "run", (name, plan[name]["status"])
    for name, said in plan.items():
        did = finished[name]["status"]
        if did == "error":  # a stage that fails was one explain said would run (it cannot know more)
            assert said["status"] in ("run", "resume", "pending"), name
            continue
        assert did in MAY_BECOME[said["status"]], (name, said["status"], did)
        if did in ("run", "resume"):
            assert started[name] == did, name
        if said["key"]:
            assert finished[name]["key"] == said["key"], name


# One LLM stage: what explain says it will send / read from the response cache is what the build
# then sends / reads, for each option that changes it (NEVER asks again; -B reads the cache).
LLM = '''
import os
import ddbuild as dd

provider = dd.ModelProvider(name="stub", endpoint=os.environ["STUB_URL"])
fast = dd.ModelConfig(alias="fast", model="stub-model", provider="stub")
texts = dd.DataDesignerConfigBuilder(model_configs=[fast], seed=2)
texts.add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b", "c"]})
skip = dd.SkipConfig(when="{{ topic == 'a' }}") if os.environ.get("TEST_SKIP") == "1" else None
texts.add_column(name="text", column_type="llm-text", model_alias="fast", prompt="Write about {{ topic }}",
                 skip=skip)
texts.add_column(name="more", column_type="llm-text", model_alias="fast", prompt="More on {{ text }}")
workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="llm")
workflow.add_stage("texts", texts, num_records=int(os.environ.get("TEST_ROWS", "12")))
'''


@pytest.mark.parametrize(("setup", "options", "sent", "cached"), [
    ([], [], 24, 0),
    ([[]], [], 0, 0),  # a hit: nothing to send or read
    ([[]], ["--resume", "never"], 24, 0),  # generate afresh: everything sent again
    ([[]], ["-B"], 0, 24),  # make -B: rebuilt from cached replies
    ([[], ["--resume", "never"]], [], 0, 0),  # NEVER's output is the entry IF_POSSIBLE reuses
], ids=["fresh", "built", "built:never", "built:-B", "never-then:-"])
def test_explain_counts_llm_requests_as_the_build_sends_them(tmp_path, monkeypatch, setup, options, sent, cached):
    from tests.openai_server import start_server

    server = start_server()
    try:
        monkeypatch.setenv("STUB_URL", server.url)
        project = Project(tmp_path)
        project.write(LLM)
        for args in setup:
            assert project.main(*args).exit_code == 0
        before = server.total
        explained = json.loads(project.main("--explain", "--json", *options).stdout)
        [stage] = [s for w in explained["workflows"] for s in w["stages"]]
        cost = stage["cost"] or {"llm_requests_to_send": 0, "llm_requests_cached": 0}
        assert (cost["llm_requests_to_send"], cost["llm_requests_cached"]) == (sent, cached), stage
        assert server.total == before  # explain sent nothing
        built = project.main("--json", *options)
        [finished] = [e for e in built.json_lines() if e["event"] == "stage_finished"]
        assert (finished.get("llm_requests_sent") or 0, finished.get("llm_requests_cached") or 0) == (sent, cached)
        assert server.total - before == sent
    finally:
        server.stop()


def test_explain_does_not_count_skipped_cells_as_requests(tmp_path, monkeypatch):
    """text is skipped where topic == 'a' and more propagates the skip: explain's count is what the
    build sends, 2 per row that is not skipped."""
    from tests.openai_server import start_server

    server = start_server()
    try:
        monkeypatch.setenv("STUB_URL", server.url)
        monkeypatch.setenv("TEST_SKIP", "1")
        project = Project(tmp_path)
        project.write(LLM)
        explained = json.loads(project.main("--explain", "--json").stdout)
        [stage] = [s for w in explained["workflows"] for s in w["stages"]]
        to_send = stage["cost"]["llm_requests_to_send"]
        assert server.total == 0
        built = project.main("--json")
        [finished] = [e for e in built.json_lines() if e["event"] == "stage_finished"]
        assert finished["llm_requests_sent"] == server.total == to_send
        assert 0 < to_send < 24 and to_send % 2 == 0
        assert server.count_prompt("Write about a") == 0
    finally:
        server.stop()


EMBED = '''
import os
import ddbuild as dd

provider = dd.ModelProvider(name="stub", endpoint=os.environ["STUB_URL"])
embed = dd.ModelConfig(alias="embed", model="stub-embed", provider="stub",
                       inference_parameters=dd.EmbeddingInferenceParams(dimensions=4))
texts = dd.DataDesignerConfigBuilder(model_configs=[embed], seed=2)
texts.add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b", "c"]})
texts.add_column(name="vec", column_type="embedding", target_column="topic", model_alias="embed",
                 skip=dd.SkipConfig(when="{{ topic == 'a' }}"))
workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="embed")
workflow.add_stage("texts", texts, num_records=12)
'''


@pytest.mark.parametrize("options", [[], ["-B"]], ids=["fresh-then-hit", "-B"])
def test_explain_counts_embedding_requests_as_the_build_sends_them(tmp_path, monkeypatch, options):
    from tests.openai_server import start_server

    server = start_server()
    try:
        monkeypatch.setenv("STUB_URL", server.url)
        project = Project(tmp_path)
        project.write(EMBED)
        for _ in range(2):  # a fresh build, then a hit (or -B: rebuilt from cached replies)
            before = server.total
            explained = json.loads(project.main("--explain", "--json", *options).stdout)
            [stage] = [s for w in explained["workflows"] for s in w["stages"]]
            cost = stage["cost"] or {"llm_requests_to_send": 0, "llm_requests_cached": 0}
            assert server.total == before
            built = project.main("--json", *options)
            [finished] = [e for e in built.json_lines() if e["event"] == "stage_finished"]
            assert (finished.get("llm_requests_sent") or 0, finished.get("llm_requests_cached") or 0) == (
                cost["llm_requests_to_send"], cost["llm_requests_cached"])
            assert server.total - before == cost["llm_requests_to_send"]
        assert 0 < server.by_api["embeddings"] == server.total < 12  # skipped rows asked nothing
    finally:
        server.stop()


VALIDATE = '''
import os
import ddbuild as dd

texts = dd.DataDesignerConfigBuilder(seed=2)
texts.add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "bad", "c"]})
texts.add_column(dd.ValidationColumnConfig(
    name="check", target_columns=["topic"], validator_type="remote", batch_size=4,
    validator_params=dd.RemoteValidatorParams(endpoint_url=os.environ["STUB_URL"] + "/validate"),
    skip=dd.SkipConfig(when="{{ topic == 'a' }}")))
workflow = dd.DataDesigner().compose_workflow(name="validate")
workflow.add_stage("texts", texts, num_records=12)
'''


def test_explain_counts_remote_validator_requests_as_the_build_sends_them(tmp_path, monkeypatch):
    from tests.openai_server import start_server

    server = start_server()
    try:
        monkeypatch.setenv("STUB_URL", server.url)
        project = Project(tmp_path)
        project.write(VALIDATE)
        for options in ([], ["-B"]):  # a fresh build, then a rebuild from cached replies
            before = server.total
            explained = json.loads(project.main("--explain", "--json", *options).stdout)
            [stage] = [s for w in explained["workflows"] for s in w["stages"]]
            assert server.total == before
            built = project.main("--json", *options)
            [finished] = [e for e in built.json_lines() if e["event"] == "stage_finished"]
            assert (finished.get("llm_requests_sent") or 0, finished.get("llm_requests_cached") or 0) == (
                stage["cost"]["llm_requests_to_send"], stage["cost"]["llm_requests_cached"])
            assert server.total - before == stage["cost"]["llm_requests_to_send"]
        assert 0 < server.by_api["validate"] == server.total <= 3  # rows not skipped, in batches of 4
    finally:
        server.stop()


# One seeded LLM stage with a sampler on the seeded rows: after an edit of the seed, what explain
# says it will send is what the build sends, and both are the rows whose content changed or
# appeared (rows keep their identity: their keys and sampled values follow the row, not its position).
SEEDED = '''
import os
import ddbuild as dd

provider = dd.ModelProvider(name="stub", endpoint=os.environ["STUB_URL"])
fast = dd.ModelConfig(alias="fast", model="stub-model", provider="stub")
texts = dd.DataDesignerConfigBuilder(model_configs=[fast], seed=2).with_seed_dataset(
    "topics.jsonl", sampling_strategy=os.environ.get("TEST_SAMPLING", "ordered"))
texts.add_column(name="tone", column_type="sampler", sampler_type="category",
                 params={"values": ["dry", "warm", "terse", "lyrical"]})
texts.add_column(name="text", column_type="llm-text", model_alias="fast",
                 prompt="Write about {{ topic }} in a {{ tone }} tone.")
workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="seeded")
workflow.add_stage("texts", texts)
'''
TOPICS = [f'{{"topic": "topic {i}"}}' for i in range(10)]
SEED_EDITS = {  # name -> (the edited seed lines, rows whose content changed or appeared)
    "insert-top": (['{"topic": "new"}', *TOPICS], 1),
    "insert-middle": ([*TOPICS[:5], '{"topic": "new"}', *TOPICS[5:]], 1),
    "delete": ([*TOPICS[:3], *TOPICS[4:]], 0),
    "reverse": (TOPICS[::-1], 0),
    "duplicate": ([*TOPICS, TOPICS[2]], 1),
    "change-one": ([*TOPICS[:6], '{"topic": "topic 6, revised"}', *TOPICS[7:]], 1),
}


@pytest.mark.parametrize("sampling", ["ordered", "shuffle"])
@pytest.mark.parametrize("edit", list(SEED_EDITS))
def test_explain_counts_seed_edits_as_the_build_sends_them(tmp_path, monkeypatch, edit, sampling):
    from tests.openai_server import start_server

    server = start_server()
    try:
        monkeypatch.setenv("STUB_URL", server.url)
        monkeypatch.setenv("TEST_SAMPLING", sampling)
        project = Project(tmp_path)
        project.write(SEEDED)
        (tmp_path / "topics.jsonl").write_text("\n".join(TOPICS) + "\n")
        assert project.main().exit_code == 0
        assert server.total == len(TOPICS)
        lines, changed = SEED_EDITS[edit]
        (tmp_path / "topics.jsonl").write_text("\n".join(lines) + "\n")
        explained = json.loads(project.main("--explain", "--json").stdout)
        [stage] = [s for w in explained["workflows"] for s in w["stages"]]
        assert stage["cost"]["llm_requests_to_send"] == changed, stage
        before = server.total
        built = project.main("--json")
        [finished] = [e for e in built.json_lines() if e["event"] == "stage_finished"]
        assert (finished.get("llm_requests_sent") or 0, server.total - before) == (changed, changed)
    finally:
        server.stop()
