"""The malformed-config corpus (cases.py), run in a few subprocesses under memory and time limits.

Each case must end in the expected clear error (class and a message naming the field, column or
stage) or the expected result, within ``CASE_SECONDS``, inside an address space of ``MEMORY_BYTES``
(RLIMIT_AS: a memory bomb hits the limit instead of the machine). A case that hangs or kills its
process fails by name (the harness announces each case before running it).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.configs.cases import BY_ID, CASES

ROOT = Path(__file__).resolve().parents[2]
MEMORY_BYTES = 3 * 1024**3  # an import of pyarrow + numpy + pandas maps ~1.7 GB of address space
CASE_SECONDS = 10.0
GROUPS = 2  # subprocesses: few, so the corpus pays for the imports only twice


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _run_group(ids: list[str]) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DDBUILD_CACHE", None)
    timeout = 30 + CASE_SECONDS * len(ids) / 3
    try:
        done = subprocess.run([sys.executable, "-m", "tests.configs.harness", *ids], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory)
        output, tail = done.stdout, f"exit {done.returncode}; stderr: {done.stderr[-2000:]}"
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        tail = f"timed out after {timeout:.0f} s"
    results: dict[str, dict[str, Any]] = {}
    started = None
    for line in output.splitlines():
        if line.startswith("START "):
            started = line[6:]
        elif line.startswith("RESULT "):
            result = json.loads(line[7:])
            results[result["id"]] = result
    for case_id in ids:
        if case_id not in results:
            why = "hung or killed its process" if case_id == started else "did not run (an earlier case died)"
            results[case_id] = {"outcome": "crash", "message": f"{why}: {tail}"}
    return results


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    ids = [case.id for case in CASES]
    merged: dict[str, dict[str, Any]] = {}
    for group in range(GROUPS):
        merged.update(_run_group(ids[group::GROUPS]))
    return merged


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 72
    kinds = {case.kind for case in CASES}
    assert {"type", "size", "name", "nan", "memory", "time", "escape", "callback", "arrow", "endpoint"} <= kinds


@pytest.mark.parametrize("case_id", list(BY_ID))
def test_case(results: dict[str, dict[str, Any]], case_id: str) -> None:
    case, result = BY_ID[case_id], results[case_id]
    if case.expect.pending:
        try:
            _check(case_id, case.expect, result)
        except AssertionError as failure:
            pytest.xfail(f"waits for {case.expect.pending}: {str(failure)[:300]}")
        return
    _check(case_id, case.expect, result)


def _check(case_id: str, expect: Any, result: dict[str, Any]) -> None:
    shown = json.dumps({k: v for k, v in result.items() if k != "traceback"}, indent=1)
    assert result["outcome"] != "crash", f"{case_id}: {result['message']}"
    assert result["seconds"] <= CASE_SECONDS, f"{case_id} took {result['seconds']} s"
    if expect.error is None:
        assert result["outcome"] == "ok", f"{case_id} should succeed:\n{shown}\n{result.get('traceback', '')}"
        assert not expect.check or result.get("check"), f"{case_id}: check {expect.check!r} failed:\n{shown}"
        return
    assert result["outcome"] == "error", f"{case_id} should fail with {expect.error}:\n{shown}"
    assert expect.error in result["mro"], (
        f"{case_id}: expected {expect.error}, got {result['type']}:\n{shown}\n{result.get('traceback', '')}")
    assert re.search(expect.pattern, result["message"], re.DOTALL), (
        f"{case_id}: message does not match {expect.pattern!r}:\n{result['message']}")
