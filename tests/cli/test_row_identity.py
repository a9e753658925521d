"""Rows keep their identity: editing the seed of examples/doc_qa re-asks only the rows whose content
changed or appeared, counted at the OpenAI-compatible test server (tests/openai_server.py).

doc_qa has three LLM stages (summary, question, answer), each reading the one before as its seed,
so a new or changed passage costs 3 requests and a moved, removed or re-ordered one costs none.
The outputs keep the seed's order; the first stage's ``--explain`` count is the build's.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

LLM_STAGES = 3
NEW = json.dumps({"doc_id": "doc-new", "title": "Tides",
                  "text": "The Moon's gravity raises two bulges of ocean water; Earth turns beneath them."})


def _changed(lines: list[str]) -> list[str]:
    row = json.loads(lines[7])
    row["text"] += " It was revised."
    return [*lines[:7], json.dumps(row), *lines[8:]]


# name -> (new lines of passages.jsonl from the old ones, rows whose content changed or appeared)
EDITS: dict[str, tuple[Callable[[list[str]], list[str]], int]] = {
    "insert-top": (lambda lines: [NEW, *lines], 1),
    "insert-middle": (lambda lines: [*lines[:6], NEW, *lines[6:]], 1),
    "delete": (lambda lines: [*lines[:5], *lines[6:]], 0),
    "reverse": (lambda lines: lines[::-1], 0),
    "duplicate": (lambda lines: [*lines[:4], lines[3], *lines[4:]], 1),
    "change-one": (_changed, 1),
}



def _sources(project) -> list[str]:
    assert project.main("export", "chatml", "train.jsonl").exit_code == 0
    return [json.loads(line)["source"] for line in (project.root / "train.jsonl").read_text().splitlines()]


def _rebuild_counts(project, server, seed_doc_ids: list[str]) -> tuple[int, list[int], int]:
    """(first stage's --explain count, requests sent per stage, requests the server received)."""
    explained = json.loads(project.main("--explain", "--json").stdout)
    to_send = explained["workflows"][0]["stages"][0]["cost"]["llm_requests_to_send"]
    before = server.total
    built = project.main("--json")
    assert built.exit_code == 0, built.stderr
    stages = [e for e in built.json_lines() if e["event"] == "stage_finished"]
    sent = [s.get("llm_requests_sent") or 0 for s in stages if s["stage"] != "chatml"]
    assert _sources(project) == seed_doc_ids  # outputs keep the seed's order
    return to_send, sent, server.total - before


@pytest.mark.parametrize("edit", list(EDITS))
def test_seed_edit_re_asks_only_new_or_changed_rows(doc_qa, edit):
    project, server = doc_qa
    passages = project.root / "passages.jsonl"
    assert project.main("-s").exit_code == 0
    lines = passages.read_text().splitlines()
    assert server.total == LLM_STAGES * len(lines)

    change, changed_rows = EDITS[edit]
    edited = change(lines)
    passages.write_text("\n".join(edited) + "\n")
    to_send, sent, received = _rebuild_counts(project, server, [json.loads(line)["doc_id"] for line in edited])
    assert (to_send, sent, received) == (changed_rows, [changed_rows] * LLM_STAGES, LLM_STAGES * changed_rows)


def test_new_seed_file_sorting_first_in_a_glob_re_asks_only_its_rows(doc_qa):
    project, server = doc_qa
    ddfile = project.root / "ddfile.py"
    ddfile.write_text(ddfile.read_text().replace('path="passages.jsonl"', 'path="passages/*.jsonl"'))
    (project.root / "passages").mkdir()
    lines = (project.root / "passages.jsonl").read_text().splitlines()
    (project.root / "passages" / "b.jsonl").write_text("\n".join(lines) + "\n")
    assert project.main("-s").exit_code == 0
    assert server.total == LLM_STAGES * len(lines)

    (project.root / "passages" / "a.jsonl").write_text(NEW + "\n")  # sorts before b.jsonl
    to_send, sent, received = _rebuild_counts(project, server, ["doc-new"] + [json.loads(x)["doc_id"] for x in lines])
    assert (to_send, sent, received) == (1, [1] * LLM_STAGES, LLM_STAGES)


def test_identical_rows_get_independent_draws(doc_qa):
    """Two copies of a passage are two requests per stage (not one shared reply); asking again
    for the same file sends nothing."""
    project, server = doc_qa
    passages = project.root / "passages.jsonl"
    first = passages.read_text().splitlines()[0]
    passages.write_text(f"{first}\n{first}\n")
    assert project.main("-s").exit_code == 0
    assert server.total == LLM_STAGES * 2
    assert project.main("-s", "-B").exit_code == 0
    assert server.total == LLM_STAGES * 2
