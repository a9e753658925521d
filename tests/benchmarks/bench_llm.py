"""Benchmark: LLM column throughput against the test server, as a share of the ideal rate.

    python tests/benchmarks/bench_llm.py [--latency-ms 50] [--levels 16,64,256] [--seconds 1.5]

The server runs in its own process (so it does not share the client's GIL). For each
``max_parallel_requests`` level, N distinct rows go through a real ``llm-text`` generator (render,
request key, memory cache, semaphore, aiohttp, parse) and we report:

    efficiency = achieved req/s ÷ ideal req/s, ideal = max_parallel_requests ÷ latency
    client CPU µs per request (process time of this process ÷ requests)

and, measured in the same run as the floor, the same two figures for a bare aiohttp loop with the
same concurrency (no ddbuild code), so the overhead of ddbuild itself is visible. Target: efficiency
>= 0.9 at 16 and 64.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ddbuild.config.columns import LLMTextColumnConfig  # noqa: E402
from ddbuild.config.models import ChatCompletionInferenceParams, ModelConfig, ModelProvider  # noqa: E402
from ddbuild.engine.llm.cache import MemoryResponseCache  # noqa: E402
from ddbuild.engine.llm.columns import LLMServices  # noqa: E402


def start_server_process(latency_ms: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "openai_server.py"), "--port", "0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def server_call(url: str, path: str, method: str = "GET") -> dict:
    base = url.removesuffix("/v1")
    request = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def run_ddbuild(url: str, parallel: int, n: int) -> None:
    model = ModelConfig(
        alias="bench", model="bench-model",
        inference_parameters=ChatCompletionInferenceParams(max_parallel_requests=parallel, timeout=30),
    )  # fmt: skip
    services = LLMServices.create(
        [model], [ModelProvider(name="local", endpoint=url)], MemoryResponseCache(),
        sampling_seed=0, max_retries=0, retry_max_wait=1,
    )  # fmt: skip
    column = LLMTextColumnConfig(name="answer", prompt="Question {{ i }} about {{ topic }}", model_alias="bench")
    generator = services.generator_for(column)
    try:
        await asyncio.gather(*(generator.generate({"i": i, "topic": "benchmarks"}, i) for i in range(n)))
    finally:
        await services.aclose()


async def run_bare(url: str, parallel: int, n: int) -> None:
    import aiohttp

    semaphore = asyncio.Semaphore(parallel)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=parallel)) as session:

        async def one(i: int) -> None:
            body = {"model": "bench-model", "messages": [{"role": "user", "content": f"Question {i}"}]}
            async with semaphore, session.post(url + "/chat/completions", json=body) as response:
                json.loads(await response.read())

        await asyncio.gather(*(one(i) for i in range(n)))


def measure(runner, url: str, parallel: int, n: int) -> tuple[float, float, int]:
    server_call(url, "/_reset", "POST")
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(runner(url, parallel, n))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = server_call(url, "/_stats")
    assert stats["total"] == n, stats
    return n / wall, cpu / n * 1e6, stats["max_in_flight"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--levels", default="16,64,256")
    parser.add_argument("--seconds", type=float, default=1.5, help="ideal duration of each run")
    args = parser.parse_args()
    proc, url = start_server_process(args.latency_ms)
    try:
        asyncio.run(run_bare(url, 8, 200))  # warm up both processes
        latency = args.latency_ms / 1000
        print(f"server {url}, latency {args.latency_ms:g} ms, server in its own process")
        print(f"{'parallel':>8} {'ideal/s':>8} | {'ddbuild/s':>9} {'eff':>5} {'cpu µs/req':>10} {'max in flight':>13}"
              f" | {'bare/s':>7} {'eff':>5} {'cpu µs/req':>10}")
        for parallel in (int(x) for x in args.levels.split(",")):
            ideal = parallel / latency
            n = max(200, int(ideal * args.seconds))
            rate, cpu, peak = measure(run_ddbuild, url, parallel, n)
            bare_rate, bare_cpu, _ = measure(run_bare, url, parallel, n)
            print(f"{parallel:>8} {ideal:>8.0f} | {rate:>9.0f} {rate / ideal:>5.2f} {cpu:>10.0f} {peak:>13}"
                  f" | {bare_rate:>7.0f} {bare_rate / ideal:>5.2f} {bare_cpu:>10.0f}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
