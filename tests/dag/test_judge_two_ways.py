"""examples/judge_two_ways against the LLM test server: two judge branches, a join, a disagreement filter."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

from ddbuild.workflow import Status

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "judge_two_ways"


def _workflow(project: Path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    for name in ("ddfile.py", "qa.jsonl"):
        shutil.copy(EXAMPLE / name, project / name)
    return runpy.run_path(str(project / "ddfile.py"))["workflow"]


def test_judges_run_in_parallel_and_only_disagreements_are_kept(project, server, monkeypatch):
    # The test server's judge replies all score 1; the strict judge disagrees about one record.
    verdict = json.dumps({"correctness": {"reasoning": "the author is wrong", "score": 5}})
    server.add_fault("reply", times=None, match="Strict grader. Q: Who wrote", content=verdict)
    results = _workflow(project, server, monkeypatch).run(max_parallel_stages=2)
    assert results.executions == 4 and server.total == 16  # 8 records x 2 judges
    assert server.by_model["gpt-4o-mini"] == 16
    kept = results.load_dataset()
    assert list(kept["record_id"]) == ["r02"] and list(kept["gap"]) == [4]

    server.reset()
    again = _workflow(project, server, monkeypatch).run(max_parallel_stages=2)
    assert again.executions == 0 and server.total == 0
    assert again.status("disagreements") == Status.HIT
