"""Benchmark: two independent LLM branches built together vs one branch alone.

    python tests/benchmarks/bench_dag.py [--rows 200] [--parallel 8] [--latency-ms 50] [--repeat 3]

The OpenAI-compatible test server runs in a separate process with ``--latency-ms`` per request.
A root stage seeds ``--rows`` rows; branches ``b`` and ``c`` each add one ``llm_text`` column on
their own model (``max_parallel_requests=--parallel``), so each branch is the same LLM work.

Reported, each the median of ``--repeat`` builds into a fresh cache:
  floor  = wall time of building ``b`` alone (root + one branch)
  dag    = wall time of building both branches with ``max_parallel_stages=2``
  serial = the same with ``max_parallel_stages=1`` (for reference: about 2x the floor)
Target: dag / floor <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

from bench_llm import server_call, start_server_process  # noqa: E402

import ddbuild as dd  # noqa: E402

TARGET = 1.3


def _workflow(url: str, rows: int, parallel: int) -> dd.Workflow:
    provider = dd.ModelProvider(name="local", endpoint=url)
    params = dd.ChatCompletionInferenceParams(max_parallel_requests=parallel)
    models = {n: dd.ModelConfig(alias=n, model=f"bench-{n}", provider="local", inference_parameters=params)
              for n in ("mb", "mc")}
    workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="bench-dag")
    src = dd.DataDesignerConfigBuilder().add_column(
        name="topic", column_type="sampler", sampler_type="uuid", params={})
    workflow.add_stage("src", src, num_records=rows)
    for branch, alias in (("b", "mb"), ("c", "mc")):
        builder = dd.DataDesignerConfigBuilder(model_configs=[models[alias]]).add_column(
            name=f"text_{branch}", column_type="llm_text", model_alias=alias,
            prompt=f"branch {branch}: write about {{{{ topic }}}}")
        workflow.add_stage(branch, builder, depends_on="src")
    return workflow


def _timed(url: str, args: argparse.Namespace, targets: list[str], jobs: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            workflow = _workflow(url, args.rows, args.parallel)
            server_call(url, "/_reset", "POST")
            start = time.perf_counter()
            results = workflow.run(targets=targets, max_parallel_stages=jobs)
            elapsed = time.perf_counter() - start
        finally:
            os.chdir(cwd)
    assert results.executions == len(targets) + 1, results
    return elapsed, server_call(url, "/_stats")["max_in_flight"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    proc, url = start_server_process(args.latency_ms)
    try:
        _timed(url, args, ["b"], 1)  # warm-up: imports, first connection
        measured = {}
        for label, targets, jobs in (("floor", ["b"], 1), ("dag", ["b", "c"], 2), ("serial", ["b", "c"], 1)):
            runs = [_timed(url, args, targets, jobs) for _ in range(args.repeat)]
            measured[label] = (statistics.median(t for t, _ in runs), max(m for _, m in runs))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    floor = measured["floor"][0]
    print(f"rows={args.rows} per branch, max_parallel_requests={args.parallel}, latency={args.latency_ms:g} ms")
    for label, (seconds, in_flight) in measured.items():
        print(f"{label:7s} {seconds:7.3f} s   ratio {seconds / floor:5.2f}   server max in flight {in_flight}")
    ratio = measured["dag"][0] / floor
    print(f"DAG (two branches, -j2) / one branch alone = {ratio:.2f} (target <= {TARGET})"
          f" -> {'OK' if ratio <= TARGET else 'ABOVE TARGET'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
