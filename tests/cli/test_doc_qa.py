"""examples/doc_qa end to end against the OpenAI-compatible test server (tests/openai_server.py)."""

from __future__ import annotations

import json


def test_doc_qa_builds_and_rebuilds_for_free(doc_qa):
    project, server = doc_qa
    passages = len((project.root / "passages.jsonl").read_text().splitlines())

    explained = json.loads(project.main("--explain", "--json").stdout)
    assert server.total == 0  # a dry run sends nothing
    first = explained["workflows"][0]["stages"][0]
    assert first["status"] == "run" and first["cost"]["llm_requests_to_send"] == passages
    assert first["cost"]["prompt_tokens_estimate"] > 0

    built = project.main("--json")
    assert built.exit_code == 0, built.stderr
    assert server.total == 3 * passages  # summary, question, answer per passage
    stages = json.loads(built.stdout.splitlines()[-1])["workflows"][0]["stages"]
    assert [s["status"] for s in stages] == ["run", "run", "run", "run"]
    assert stages[0]["llm_requests_sent"] == passages and stages[0]["tokens"] > 0

    assert project.main("export", "chatml", "train.jsonl").exit_code == 0
    rows = [json.loads(line) for line in (project.root / "train.jsonl").read_text().splitlines()]
    assert len(rows) == passages
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"] and rows[0]["source"] == "doc-00"

    again = project.main("-q")
    assert again.exit_code == 0 and server.total == 3 * passages  # second build: 0 requests


def test_doc_qa_prompt_edit_reruns_from_that_stage(doc_qa):
    project, server = doc_qa
    assert project.main("-s").exit_code == 0
    sent = server.total
    text = (project.root / "ddfile.py").read_text()
    (project.root / "ddfile.py").write_text(text.replace("Answer the question using only", "Answer briefly using only"))
    explained = project.main("-n").stdout
    assert "answers    run" in explained and "config changed: columns.answer.prompt" in explained
    assert project.main("-s").exit_code == 0
    passages = len((project.root / "passages.jsonl").read_text().splitlines())
    assert server.total - sent == passages  # only the answers were asked again
