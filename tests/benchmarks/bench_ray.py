"""Benchmark: one LLM stage on Ray with one and two workers, and against the local executor.

    python tests/benchmarks/bench_ray.py [--rows 4000] [--latency-ms 50] [--per-worker 16] [--buffer-size 200]

A stage of ``--rows`` rows with three chained LLM text columns (each prompt names the previous
column) against the test server (its own process) at ``--latency-ms``. Every run builds into a
fresh cache, so every request is sent. Three runs, ratios taken in this one run:

    local       the local executor, max_parallel_requests = per-worker
    ray x1      a local Ray instance with 1 CPU (one worker), max_parallel_requests = per-worker
    ray x2      a local Ray instance with 2 CPUs (two workers), max_parallel_requests = 2 x per-worker
                (the limit is cluster-wide: 16 in flight per worker means 32 for the cluster)

and prints req/s, ``x2 / x1`` (goal: close to 2 where the cores allow) and ``ray x1 / local``
wall time (the Ray path's overhead, goal <= 1.2). Requires ``pip install 'ddbuild[ray]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import ddbuild as dd  # noqa: E402


def start_server(latency_ms: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_server.py"), "--port", "0",
                             "--latency-ms", str(latency_ms)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def workflow(url: str, rows: int, parallel: int, buffer_size: int) -> dd.Workflow:
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="bench", endpoint=url)])
    designer.set_run_config(dd.RunConfig(buffer_size=buffer_size))
    model = dd.ModelConfig(alias="m", model="bench-model", provider="bench",
                           inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=parallel))
    builder = (dd.DataDesignerConfigBuilder(model_configs=[model])
               .add_column(name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1e9})
               .add_column(name="a", column_type="llm_text", model_alias="m", prompt="Topic {{ n }}")
               .add_column(name="b", column_type="llm_text", model_alias="m", prompt="Expand: {{ a }}")
               .add_column(name="c", column_type="llm_text", model_alias="m", prompt="Summarise: {{ b }}"))
    wf = designer.compose_workflow(name="bench")
    wf.add_stage("chain", builder, num_records=rows)
    return wf


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats", timeout=10) as response:
        return json.loads(response.read())


def timed(url: str, args: argparse.Namespace, parallel: int, executor: str) -> tuple[float, int, int]:
    """(wall seconds, requests the server saw, the most it had in flight) of one fresh build."""
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    os.chdir(folder)
    before = server_stats(url)["total"]
    start = time.perf_counter()
    workflow(url, args.rows, parallel, args.buffer_size).run(executor=executor)
    wall = time.perf_counter() - start
    after = server_stats(url)
    return wall, after["total"] - before, after["max_in_flight"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--per-worker", type=int, default=16)
    parser.add_argument("--buffer-size", type=int, default=200)
    args = parser.parse_args()
    import ray

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    server, url = start_server(args.latency_ms)
    ideal = args.per_worker / (args.latency_ms / 1000)
    print(f"{args.rows} rows x 3 chained LLM columns, {args.latency_ms:g} ms latency, {args.per_worker} in flight "
          f"per worker (ideal {ideal:.0f} req/s per worker), batches of {args.buffer_size}")
    try:
        runs = {}
        runs["local"] = timed(url, args, args.per_worker, "local")
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     _temp_dir=tempfile.mkdtemp(prefix="ddrb", dir="/tmp"))
            try:
                runs[f"ray x{workers}"] = timed(url, args, args.per_worker * workers, "ray")
            finally:
                ray.shutdown()
    finally:
        server.kill()
        server.wait()
    for name, (wall, sent, peak) in runs.items():
        print(f"  {name:<8} {wall:7.1f} s  {sent:6d} requests  {sent / wall:7.1f} req/s  (server max in flight "
              f"so far: {peak})")
    rate = {name: sent / wall for name, (wall, sent, _) in runs.items()}
    print(f"two workers / one worker (req/s): {rate['ray x2'] / rate['ray x1']:.2f}x (goal: close to 2)")
    print(f"ray x1 / local (wall):            {runs['ray x1'][0] / runs['local'][0]:.2f}x (goal <= 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
