"""Benchmark: seed edits on a 1,000-row doc-qa workflow, requests sent ÷ minimal per edit (goal 1.00).

    python tests/benchmarks/bench_seed_edits.py [--rows 1000]

The workflow is examples/doc_qa (3 LLM stages, each reading the one before as its seed) over
``--rows`` generated passages, built with the CLI against tests/openai_server.py, which counts
requests. It is built cold once; each scenario then restores the original seed (0 requests: every
key is known), applies its edit and rebuilds. Minimal = 3 x the rows whose content changed or
appeared; a scenario whose minimal is 0 prints the requests sent instead of a ratio (goal 0).
Every scenario's new content is its own, so one scenario's replies never serve another.

Also prints what row identity costs: hashing the seed (per 1,000 rows) and drawing a sampler
column per row on seeded rows against the vectorised draw of unseeded rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.openai_server import start_server  # noqa: E402

LLM_STAGES = 3


def passage(tag: str) -> str:
    return json.dumps({"doc_id": f"doc-{tag}", "title": f"Topic {tag}",
                       "text": f"Passage {tag}. " + "Some sentences about the topic. " * 12})


def changed(lines: list[str], index: int) -> list[str]:
    row = json.loads(lines[index])
    row["text"] += " Revised."
    return [*lines[:index], json.dumps(row), *lines[index + 1:]]


# name -> (edit of the seed lines, rows whose content changed or appeared)
SCENARIOS: dict[str, tuple[Callable[[list[str]], list[str]], int]] = {
    "insert at top": (lambda lines: [passage("new-top"), *lines], 1),
    "insert in the middle": (lambda lines: [*lines[:len(lines) // 2], passage("new-mid"), *lines[len(lines) // 2:]], 1),
    "delete a row": (lambda lines: [*lines[:len(lines) // 10], *lines[len(lines) // 10 + 1:]], 0),
    "reverse the order": (lambda lines: lines[::-1], 0),
    "duplicate a row": (lambda lines: [*lines[:len(lines) // 5], *lines[len(lines) // 5 - 1:]], 1),
    "change one row": (lambda lines: changed(lines, len(lines) // 3), 1),
    "insert 10 rows at top": (lambda lines: [*(passage(f"new-{i}") for i in range(10)), *lines], 10),
}


def build(project: Path, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "ddbuild.cli", "--json"], cwd=project, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"build failed: {done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def bench_edits(rows: int) -> None:
    server = start_server()
    env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "bench",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(ROOT / "examples" / "doc_qa" / "ddfile.py", project / "ddfile.py")
        base = [passage(f"{i:04d}") for i in range(rows)]
        seed = project / "passages.jsonl"
        seed.write_text("\n".join(base) + "\n")
        started = time.perf_counter()
        build(project, env)
        print(f"cold build: {server.total} requests for {rows} rows x {LLM_STAGES} LLM stages "
              f"in {time.perf_counter() - started:.1f}s")
        print(f"{'scenario':<32}{'sent':>6}{'minimal':>9}{'sent/minimal':>14}{'rebuild s':>11}")

        def scenario(name: str, edit: Callable[[], None], minimal: int) -> None:
            before = server.total
            started = time.perf_counter()
            edit()
            build(project, env)
            sent = server.total - before
            ratio = f"{sent / minimal:.2f}" if minimal else ("0 (goal 0)" if sent == 0 else f"{sent} (goal 0)")
            print(f"{name:<32}{sent:>6}{minimal:>9}{ratio:>14}{time.perf_counter() - started:>11.1f}")

        for name, (change, rows_changed) in SCENARIOS.items():
            seed.write_text("\n".join(base) + "\n")
            before = server.total
            build(project, env)  # back to the original seed: every key is known
            assert server.total == before, f"restoring the seed sent {server.total - before} requests"
            scenario(name, lambda change=change: seed.write_text("\n".join(change(base)) + "\n"),
                     LLM_STAGES * rows_changed)

        ddfile = project / "ddfile.py"  # the same rows from a glob, then a new file that sorts first
        ddfile.write_text(ddfile.read_text().replace('path="passages.jsonl"', 'path="passages/*.jsonl"'))
        (project / "passages").mkdir()
        seed.rename(project / "passages" / "b.jsonl")
        (project / "passages" / "b.jsonl").write_text("\n".join(base) + "\n")
        before = server.total
        build(project, env)
        assert server.total == before, "moving the seed into a glob sent requests"
        scenario("new seed file first in the glob",
                 lambda: (project / "passages" / "a.jsonl").write_text(passage("new-file") + "\n"), LLM_STAGES)
    server.stop()


def bench_identity_cost(rows: int) -> None:
    import numpy as np
    import pyarrow as pa

    from ddbuild.config.columns import SamplerColumnConfig
    from ddbuild.engine.rowid import SelectionIdentity, content_hashes
    from ddbuild.engine.samplers import sample_column

    table = pa.Table.from_pylist([json.loads(passage(f"{i:06d}")) | {"n": i, "score": i / 7} for i in range(rows)])

    def timed(function: Callable[[], object], repeat: int = 5) -> float:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            function()
            best = min(best, time.perf_counter() - started)
        return best

    per_k = 1000 / rows * 1000  # seconds for ``rows`` -> ms per 1,000 rows
    hashing = timed(lambda: SelectionIdentity.of(content_hashes(table)).rows(
        np.arange(rows), np.zeros(rows, dtype=np.int64)).draws())
    print(f"row identity ({table.num_columns} columns: hashes, occurrences, draws): "
          f"{hashing * per_k:.2f} ms per 1,000 rows")
    column = SamplerColumnConfig(name="tone", sampler_type="category", params={"values": ["a", "b", "c"]})
    identity = SelectionIdentity.of(content_hashes(table)).rows(np.arange(rows), np.zeros(rows, dtype=np.int64))
    seeded = timed(lambda: sample_column(column, rows, 0, 0, {}, identity))
    unseeded = timed(lambda: sample_column(column, rows, 0, 0, {}))
    print(f"category sampler: seeded rows (one stream per row) {seeded * per_k:.2f} ms per 1,000 rows, "
          f"unseeded (vectorised) {unseeded * per_k:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    bench_identity_cost(max(args.rows, 1000))
    bench_edits(args.rows)


if __name__ == "__main__":
    main()
