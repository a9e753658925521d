"""Data Designer 0.9.7 configs that combine its features differently build against the test server.

``dd_combos/`` holds the configs (and their ``*.run_config.*`` run settings) as Data Designer
0.9.7 wrote them with ``dd_combos/make_combos.py``, plus the seed files they name. Each config is
built three times against the OpenAI-compatible test server, which counts what it is sent:

1. as the one stage of a workflow, fresh cache: the values a user sees and the requests sent;
   ``--explain``'s dry run (``plan(estimate_cost=True)``), asked first, sends nothing and counts
   the requests the build then sends (all but correction turns and restarts);
2. with ``DataDesigner.create``, another fresh cache: the same values and requests again;
3. with ``DataDesigner.create`` again on that cache: no request, the same parquet bytes; and
   ``DataDesigner.preview`` on it: no request, the same rows.

Each file is also checked to load and be written back as Data Designer wrote it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import ddbuild.config as dd
from ddbuild.interface import DataDesigner
from tests.openai_server import FakeOpenAIServer, embedding_for, start_server

HERE = Path(__file__).parent / "dd_combos"


def said(message: str) -> str:
    """The test server's reply to a user message (its first 40 characters), as a value (stripped)."""
    return f"reply to: {message[:40]}".strip()


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def _text(entry: dict[str, Any]) -> str:
    return "".join(p["text"] for p in entry["content"] if p["type"] == "text")


def _chat(server: FakeOpenAIServer) -> int:
    return server.by_api["chat"]


# -- 1. skips propagating through LLM, embedding and expression columns ------------------------

def _skips(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    spam, phone = df["channel"] == "spam", df["channel"] == "phone"
    assert 0 < spam.sum() < len(df) and 0 < phone.sum() < len(df)
    assert df.loc[spam, ["complaint", "reply", "complaint_vec", "headline"]].isna().all().all()
    for _, row in df[~spam].iterrows():
        assert row["complaint"] == said(f"Write a {row['channel']} complaint.")
        assert row["reply"] == said(f"Reply to: {row['complaint']}")
        assert row["headline"] == f"{row['channel']}: {row['reply']}"
        vec = row["complaint_vec"]
        assert vec["dimension"] == 4 and vec["num_embeddings"] == 1
        assert list(vec["embeddings"][0]) == embedding_for(row["complaint"], 4)
    assert (df.loc[phone, "tone"] == "spoken").all()  # the skip's value...
    assert (df.loc[~phone, "tone"] == [said(f"Tone of a {c} message") for c in df.loc[~phone, "channel"]]).all()
    assert (df["tone_note"] == [said(f"Note on tone: {t}") for t in df["tone"]]).all()  # ...read on
    kept = int((~spam).sum())
    assert server.by_api["embeddings"] == kept  # a skipped text asks for no vector
    assert {r.body["dimensions"] for r in server.records if r.api == "embeddings"} == {4}
    assert _chat(server) == 2 * kept + int((~phone).sum()) + len(df)
    assert server.count_prompt("spam complaint") == server.count_prompt("Tone of a phone") == 0
    assert server.count_prompt("Note on tone: spoken") == phone.sum()


# -- 2. a structured column corrected and restarted, feeding code, a validator and a judge ------

GOOD = "def add(a, b):\n    return a + b"
UNDEFINED = "print(f'hello {name}')"


def _code_review_server(server: FakeOpenAIServer) -> None:
    server.add_fault("invalid_json", match="Spec for: sort")  # one correction turn
    server.add_fault("schema_invalid", match="Spec for: parse")  # a correction that fails too...
    server.add_fault("invalid_json", match="does not match the schema")  # ...then a restart
    server.add_fault("reply", times=None, match="Implement add two", content=f"```python\n{GOOD}\n```")
    server.add_fault("reply", times=None, match="Implement greet", content=f"Here:\n```python\n{UNDEFINED}\n```")


def _code_review(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    assert list(df["task"]) == ["add two numbers", "greet a user", "sort a list", "parse a date"]
    for spec in df["spec"]:
        assert isinstance(spec["function_name"], str) and isinstance(spec["arity"], int)
    traces = {task: list(trace) for task, trace in zip(df["task"], df["spec__trace"], strict=True)}
    assert [e["role"] for e in traces["add two numbers"]] == ["user", "assistant"]
    sort = traces["sort a list"]
    assert [e["role"] for e in sort] == ["user", "assistant", "user", "assistant"]
    assert _text(sort[1]) == '{"this is": not json' and "the reply is not valid JSON" in _text(sort[2])
    assert json.loads(_text(sort[3])) == df["spec"][2]
    assert [e["role"] for e in traces["parse a date"]] == ["user", "assistant"]  # the restarted conversation
    assert list(df["solution"][:2]) == [GOOD, UNDEFINED]
    lint = list(df["lint"])
    assert [check["is_valid"] for check in lint] == [True, False, False, False]
    assert [m["symbol"] for m in lint[1]["python_linter_messages"]] == ["F821"]
    assert [check["python_linter_severity"] for check in lint] == ["none", "error", "fatal", "fatal"]
    assert all(set(review) == {"correctness"} and review["correctness"]["score"] in ("0", "1")
               for review in df["review"])
    assert server.count_prompt("Spec for: ") == 4 + 1  # parse's restart asks again
    assert server.count_prompt("Your previous reply could not be used") == 2  # sort's and parse's corrections
    assert _chat(server) == 7 + 4 + 4  # spec (with its corrections and restart), solution, review


# -- 3. a Faker person, conditional params, convert_to and both inequality constraints --------

PERSON_FIELDS = {"uuid", "locale", "first_name", "last_name", "middle_name", "sex", "street_number", "street_name",
                 "city", "state", "postcode", "age", "birth_date", "country", "marital_status", "education_level",
                 "unit", "occupation", "phone_number", "bachelors_field"}


def _pricing(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    assert df["price"].dtype == "int64" and df["discount"].dtype == "int64"
    assert (df["discount"] < df["price"]).all() and (df["price"] >= 15).all()
    gold = df["tier"] == "gold"
    assert 0 < gold.sum() < len(df)
    assert df.loc[gold, "price"].between(100, 200).all() and df.loc[~gold, "price"].between(15, 50).all()
    assert df.loc[gold, "discount"].max() > 50  # the constraint follows each row's own price
    for _, row in df.iterrows():
        person = row["customer"]
        assert set(person) == PERSON_FIELDS and 25 <= person["age"] <= 60 and person["locale"] == "en_US"
        assert row["greeting"] == f"Dear {person['first_name']} {person['last_name']}"
        assert row["pitch"] == said(f"Pitch {row['tier']} at {row['price']} to a {person['age']}-year-old in "
                                    f"{person['state']}")
    assert server.total == len(df)


# -- 4. a file-contents seed, traces and extracted reasoning -----------------------------------

def _notes_server(server: FakeOpenAIServer) -> None:
    server.add_fault("reasoning", match="Summarise a.md", reasoning="  weighing alpha  ")  # not labels' turn
    server.add_fault("reply", times=None, match="Summarise deep/c.md",
                     content="<think>gamma first</think>Gamma in short")


def _notes(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    assert list(df["relative_path"]) == ["a.md", "deep/c.md", "deep/d.md", "deep/e.md"]  # b.txt is not *.md
    assert list(df["content"]) == ["Alpha notes", "Gamma notes", "Delta notes", "draft: Epsilon"]
    assert list(df["summary"]) == [said("Summarise a.md: Alpha notes"), "Gamma in short",
                                   said("Summarise deep/d.md: Delta notes"), "(draft)"]
    assert list(df["summary__reasoning_content"][:2]) == ["weighing alpha", "gamma first"]
    assert df["summary__reasoning_content"][2:].isna().all()  # no reasoning in d's reply; e is skipped
    assert list(df["critique"][:3]) == [said("Critique the reasoning: weighing alpha"),
                                        said("Critique the reasoning: gamma first"),
                                        said("Critique the reasoning: None")]
    draft = df.iloc[3]  # skipped: its side columns and every column reading them or it
    side = ["summary__trace", "summary__reasoning_content", "critique", "labels", "labels__trace"]
    assert draft[side].isna().all()
    for row in df[:3].itertuples():
        trace = list(row.summary__trace)
        assert [e["role"] for e in trace] == ["system", "user", "assistant"]
        assert _text(trace[0]) == "Be brief."
        assert _text(trace[1]) == f"Summarise {row.relative_path}: {row.content}"
        assert list(row.labels["tags"]) == ["tags text"]
        [last] = row.labels__trace  # LAST_MESSAGE: the reply alone
        assert last["role"] == "assistant" and json.loads(_text(last)) == {"tags": ["tags text"]}
    replies = [list(trace)[2] for trace in df["summary__trace"][:3]]
    assert [_text(reply) for reply in replies] == [df["summary"][0], "<think>gamma first</think>Gamma in short",
                                                   df["summary"][2]]  # the trace keeps the reply as sent
    assert [reply["reasoning_content"] for reply in replies] == ["weighing alpha", None, None]
    assert server.count_prompt("Label Gamma in short") == 1  # the value without its <think> block
    assert server.count_prompt("Epsilon") == 0
    assert server.total == 3 * 3  # summary, critique and labels for the three rows not skipped


# -- 5. a directory seed, image URLs, a skip with a value and a base64 embedding ---------------

def _gallery(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    assert list(df["file_name"]) == ["cat.png", "dog.png", "draft-owl.png"]  # not readme.txt, not old/
    assert list(df["image_url"]) == [f"https://img.example/{n}" for n in df["file_name"]]
    assert list(df["caption"]) == [f"reply to: Caption this picture [images: https://img.example/{n}]"
                                   for n in ("cat.png", "dog.png")] + ["(draft)"]
    for caption, vec in zip(df["caption"][:2], df["caption_vec"][:2], strict=True):
        assert vec["dimension"] == 3 and list(vec["embeddings"][0]) == embedding_for(caption, 3)
    assert pd.isna(df["caption_vec"][2])  # the skipped caption's vector is skipped too
    chats = [r for r in server.records if r.api == "chat"]
    assert sorted(r.images[0] for r in chats) == ["https://img.example/cat.png", "https://img.example/dog.png"]
    embeddings = [r.body for r in server.records if r.api == "embeddings"]
    assert [(body["encoding_format"], body["dimensions"]) for body in embeddings] == [("base64", 3)] * 2
    assert server.total == 4


# -- 6. a Hugging Face seed, scipy samplers, an expression and drops ---------------------------

QUESTIONS = ["why?", "how?", "when?"]


def _hub(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dataset as the hub's client caches it (no network): refs/main names the snapshot."""
    root = project / "hub" / "datasets--acme--faq"
    (root / "snapshots" / ("c" * 40) / "data").mkdir(parents=True)
    pd.DataFrame({"question": QUESTIONS}).to_parquet(root / "snapshots" / ("c" * 40) / "data" / "train.parquet")
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("c" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(project / "hub"))


def _hub_scipy(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    assert list(df.columns) == ["question", "latency_ms", "line", "answer"]  # refund and scratch dropped
    assert list(df["question"]) == QUESTIONS * 2
    assert (df["latency_ms"] > 0).all() and (df["latency_ms"] == df["latency_ms"].round(1)).all()
    assert df["latency_ms"].nunique() == len(df)
    assert list(df["line"]) == [f"{q} ({lat} ms)" for q, lat in zip(df["question"], df["latency_ms"], strict=True)]
    refunds = {answer.removeprefix(said(f"Answer: {q} (refund"))
               for q, answer in zip(df["question"], df["answer"], strict=True)}
    assert refunds == {" True, True)", " False, True)"}  # the dropped columns were there to read
    assert server.total == len(df)


# -- 7. request admission against a server that refuses a 4th request in flight -----------------

def _admission_server(server: FakeOpenAIServer) -> None:
    server.set_concurrency_limit(3)


def _admission(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    assert len(df) == 60 and df.notna().all().all()
    assert (df["draft"] == [said(f"Draft {u} on {t}") for u, t in zip(df["uid"], df["topic"], strict=True)]).all()
    assert server.by_status[200] == 2 * len(df)  # every cell answered once: the 429s were retried
    assert 0 < server.by_status[429] < len(df)
    arrivals = server.arrivals
    assert max(arrivals[:20]) > 3 and max(arrivals[len(arrivals) // 2:]) <= 4  # converged below the cap


# -- 8. no LLM column: SQL linted by sqlfluff and checked by a remote validator that skips rows --

def _sql_endpoint(data: dict[str, Any], server: FakeOpenAIServer) -> dict[str, Any]:
    [remote] = [c for c in data["columns"] if c["name"] == "remote_check"]
    remote["validator_params"]["endpoint_url"] = f"{server.url}/validate"
    return data


def _sql(df: pd.DataFrame, server: FakeOpenAIServer) -> None:
    assert list(df["query"]) == [f"{'SELEC' if t else 'SELECT'} id FROM {table} LIMIT {n}"
                                 for t, table, n in zip(df["typo"], df["table"], df["row_limit"], strict=True)]
    assert 0 < df["typo"].sum() < len(df)
    assert [c["is_valid"] for c in df["sql_lint"]] == [not t for t in df["typo"]]
    orders = df["table"] == "orders"
    assert df.loc[orders, "remote_check"].isna().all()
    checked = df[~orders]
    assert [c["is_valid"] for c in checked["remote_check"]] == list(checked["table"] != "bad_table")
    assert [c["chars"] for c in checked["remote_check"]] == [len(q) + len(t) for q, t in
                                                              zip(checked["query"], checked["table"], strict=True)]
    assert server.by_api == {"validate": math.ceil(len(checked) / 4)}  # batches of the rows not skipped
    sent = [row for r in server.records for row in r.body["data"]]  # batches in any order
    assert sorted(sent, key=json.dumps) == sorted(
        [{"query": q, "table": t} for q, t in zip(checked["query"], checked["table"], strict=True)],
        key=json.dumps)


@dataclass(frozen=True)
class Combo:
    file: str
    num_records: int
    check: Callable[[pd.DataFrame, FakeOpenAIServer], None]
    program: Callable[[FakeOpenAIServer], None] = lambda server: None
    setup: Callable[[Path, pytest.MonkeyPatch], None] = lambda project, monkeypatch: None
    adjust: Callable[[dict[str, Any], FakeOpenAIServer], dict[str, Any]] = lambda data, server: data
    latency_ms: float = 0.0
    unplanned: int = 0  # replies --explain cannot foresee: correction turns and restarts


COMBOS = [
    Combo("skip_propagation.yaml", 24, _skips),
    Combo("code_review.yaml", 4, _code_review, program=_code_review_server, unplanned=3),
    Combo("faker_pricing.json", 30, _pricing),
    Combo("notes_traces.yaml", 4, _notes, program=_notes_server),
    Combo("gallery_images.yaml", 3, _gallery),
    Combo("hub_scipy.yaml", 6, _hub_scipy, setup=_hub),
    Combo("admission.json", 60, _admission, program=_admission_server, latency_ms=10),
    Combo("sql_remote.json", 20, _sql, adjust=_sql_endpoint),
]


def test_the_corpus_is_every_config_in_the_folder() -> None:
    files = {p.name for p in HERE.iterdir() if p.suffix in (".yaml", ".json") and ".run_config." not in p.name}
    assert files == {c.file for c in COMBOS} and len(files) >= 6


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.file)
def test_a_file_loads_and_is_written_back_as_data_designer_wrote_it(combo: Combo) -> None:
    builder = dd.DataDesignerConfigBuilder.from_config(HERE / combo.file)
    assert yaml.safe_load(builder.to_yaml()) == _read(HERE / combo.file)
    assert json.loads(builder.to_json()) == _read(HERE / combo.file)


def test_the_script_that_wrote_the_corpus_writes_the_same_configs_with_only_its_import_renamed(
        tmp_path: Path) -> None:
    """make_combos.py, run by ddbuild (the hub unreachable and its cache empty), writes each config
    as Data Designer did. Its run configs are left out: two defaults differ on purpose."""
    script = (HERE / "make_combos.py").read_text()
    assert script.count("import data_designer.config as dd\n") == 1
    renamed = script.replace("import data_designer.config as dd\n", "import ddbuild.config as dd\n")
    (tmp_path / "make.py").write_text(renamed)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[2]), "HF_HUB_CACHE": str(tmp_path / "empty-hub")}
    done = subprocess.run([sys.executable, str(tmp_path / "make.py"), "."], cwd=out, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for combo in COMBOS:
        assert _read(out / combo.file) == _read(HERE / combo.file), combo.file
    assert not (tmp_path / "empty-hub").exists()


@pytest.fixture
def combo_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of dd_combos/ (configs and seed files) as the working directory."""
    project = tmp_path / "project"
    shutil.copytree(HERE, project, ignore=shutil.ignore_patterns("make_combos.py", "__pycache__"))
    monkeypatch.chdir(project)
    yield project


def _parquet_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "parquet-files").glob("*.parquet"))}


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.file)
def test_a_combined_config_builds_in_a_workflow_and_with_create(
        combo: Combo, combo_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    combo.setup(combo_project, monkeypatch)
    sidecar = (combo_project / combo.file).with_suffix(f".run_config{Path(combo.file).suffix}")
    run_config = dd.RunConfig(**_read(sidecar)) if sidecar.exists() else dd.RunConfig()
    server = start_server(latency_ms=combo.latency_ms)
    try:
        def designer(cache: str) -> DataDesigner:
            made = DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server.url)],
                                cache=combo_project / cache)
            made.set_run_config(run_config)
            return made

        def builder() -> dd.DataDesignerConfigBuilder:
            data = combo.adjust(_read(combo_project / combo.file), server)
            return dd.DataDesignerConfigBuilder.from_config(data)

        combo.program(server)
        workflow = designer("cache-a").compose_workflow(name="combo")
        workflow.add_stage("combo", builder(), num_records=combo.num_records)
        cost = workflow.plan(estimate_cost=True).stage("combo").cost  # --explain's dry run
        assert server.total == 0 and cost is not None and cost.rows_to_generate == combo.num_records
        staged = workflow.run().load_dataset()
        assert len(staged) == combo.num_records
        combo.check(staged, server)
        assert server.by_status[200] == cost.llm_requests_to_send + combo.unplanned

        server.reset()
        combo.program(server)
        created = designer("cache-b").create(builder(), num_records=combo.num_records, dataset_name="first")
        combo.check(created.load_dataset(), server)
        pd.testing.assert_frame_equal(created.load_dataset(), staged)

        server.reset()
        combo.program(server)
        again = designer("cache-b").create(builder(), num_records=combo.num_records, dataset_name="again")
        assert server.total == 0  # every reply (and validator batch) from the response cache
        assert _parquet_bytes(again.base_dataset_path) == _parquet_bytes(created.base_dataset_path) != {}
        previewed = designer("cache-b").preview(builder(), num_records=combo.num_records).dataset
        assert server.total == 0
        pd.testing.assert_frame_equal(previewed, staged)
    finally:
        server.stop()
