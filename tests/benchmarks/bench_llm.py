"""Benchmark: LLM column throughput against the test server, as a share of the ideal rate.

    python tests/benchmarks/bench_llm.py [--latency-ms 50] [--levels 16,64,256] [--seconds 1.5]
    python tests/benchmarks/bench_llm.py --doc-qa [--rows 1000] [--parallel 64] [--profile] [--warmup-rows 64]
    python tests/benchmarks/bench_llm.py --admission [--threshold 16] [--parallel 64]

The server runs in its own process (so it does not share the client's GIL). For each
``max_parallel_requests`` level, N distinct rows go through a real ``llm-text`` generator (render,
request key, memory cache, semaphore, aiohttp, parse) and we report:

    efficiency = achieved req/s ÷ ideal req/s, ideal = max_parallel_requests ÷ latency
    client CPU µs per request (process time of this process ÷ requests)

and, measured in the same run as the floor, the same two figures for a bare aiohttp loop with the
same concurrency (no ddbuild code), so the overhead of ddbuild itself is visible. Target: efficiency
>= 0.9 at 16 and 64.

``--doc-qa``: the whole engine on the doc-qa pipeline (examples/doc_qa's shape: seed passages ->
summary -> question -> answer, three chained LLM stages of ``--rows`` rows, one model with
``--parallel`` in flight), built by ``Workflow.run()`` into a fresh project (store, response
cache on disk, checkpoints), after an unmeasured ``--warmup-rows`` build that pays the process's
one-time imports (as the bare loop is warmed up too; its cold first request is printed). Printed:
requests/s ÷ the server-alone rate, measured in the same run
as a bare aiohttp loop sending the same number of requests at the same concurrency (the most this
server delivers to a client that costs nothing), and the CPU µs per request of this process.
Also printed: the server's CPU per request in each run (from /proc), and where the build's wall
time went outside the requests (before the first one, between stages, after the last). ``--profile``
adds one run under cProfile and splits the build thread's CPU per request by phase (rendering,
request keys, HTTP client + transport, response parsing, response cache, event loop, bookkeeping;
functions of no phase, such as builtins and json, are charged to their callers), scaled to the
unprofiled run's CPU.

``--admission``: request admission against a server that answers 429 above ``--threshold``
requests in flight. Three runs of the same rows: a fixed ``max_parallel_requests`` at the
threshold (what a user who knew the limit would set), then ``--parallel`` with Data Designer's
default admission, then with the server sending ``Retry-After`` (``--retry-after``). Printed:
req/s, the ratio to the fixed limit, 429s, and the most in flight after the first half.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
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


def start_server_process(latency_ms: float, extra: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "openai_server.py"), "--port", "0", "--latency-ms", str(latency_ms),
         *(extra or [])],
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


# -- the doc-qa pipeline through the whole engine ------------------------------------------------

WORDS = "the river carries silt from the mountains to the delta where farmers plant rice".split()


def doc_qa_workflow(url: str, rows: int, parallel: int, project: Path, run_config: object = None) -> object:
    """examples/doc_qa's three LLM stages over ``rows`` synthetic passages, in ``project``."""
    import ddbuild as dd

    passages = project / "passages.jsonl"
    with passages.open("w", encoding="utf-8") as out:
        for i in range(rows):
            text = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(60))
            out.write(json.dumps({"doc_id": f"doc-{i:05d}", "title": f"Passage {i}", "text": text}) + "\n")
    fast = dd.ModelConfig(alias="fast", model="bench-model", provider="local",
                          inference_parameters=dd.ChatCompletionInferenceParams(
                              temperature=0.3, max_tokens=256, max_parallel_requests=parallel, timeout=60))
    summaries = (
        dd.DataDesignerConfigBuilder(model_configs=[fast])
        .with_seed_dataset(dd.LocalFileSeedSource(path=str(passages)))
        .add_column(name="summary", column_type="llm_text", model_alias="fast",
                    prompt="Summarize this passage in two sentences.\n\nTitle: {{ title }}\n\n{{ text }}")
    )
    questions = dd.DataDesignerConfigBuilder(model_configs=[fast]).add_column(
        name="question", column_type="llm_text", model_alias="fast",
        prompt="Write one question about '{{ title }}' that this summary answers.\n\n{{ summary }}")
    answers = dd.DataDesignerConfigBuilder(model_configs=[fast]).add_column(
        name="answer", column_type="llm_text", model_alias="fast",
        prompt="Answer the question using only the passage.\n\nQuestion: {{ question }}\n\nPassage: {{ text }}")
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=url)])
    if run_config is not None:
        designer.set_run_config(run_config)
    workflow = designer.compose_workflow(name="doc-qa")
    workflow.add_stage("summaries", summaries)
    workflow.add_stage("questions", questions)
    workflow.add_stage("answers", answers)
    return workflow


def run_doc_qa(url: str, rows: int, parallel: int, run_config: object = None, profiler: object = None
               ) -> tuple[float, float, int]:
    """One fresh build: (wall s, CPU s of this process, requests answered 200)."""
    import os
    import tempfile

    server_call(url, "/_reset", "POST")
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="bench-docqa-") as tmp:
        project = Path(tmp)
        os.chdir(project)
        try:
            workflow = doc_qa_workflow(url, rows, parallel, project, run_config)
            usage, thread = resource.getrusage(resource.RUSAGE_SELF), time.thread_time()
            cpu, wall, started = time.process_time(), time.perf_counter(), time.monotonic()
            if profiler is not None:
                profiler.enable()
            workflow.run()
            if profiler is not None:
                profiler.disable()
            wall, cpu, ended = time.perf_counter() - wall, time.process_time() - cpu, time.monotonic()
            thread, after = time.thread_time() - thread, resource.getrusage(resource.RUSAGE_SELF)
            LAST_SPLIT.update(user=after.ru_utime - usage.ru_utime, system=after.ru_stime - usage.ru_stime,
                              build_thread=thread, started=started, ended=ended)
        finally:
            os.chdir(here)
    stats = server_call(url, "/_stats")
    return wall, cpu, int(stats["by_status"].get("200", 0))


LAST_SPLIT: dict[str, float] = {}  # CPU seconds of the last run_doc_qa: user, system, build thread; its start


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` so far; None where /proc is not there."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timeline(arrived_at: list[float], started: float, ended: float, latency: float) -> str:
    """Where the wall time went, from the server's arrival times: before the first request, the
    gaps between stages (an arrival gap longer than the latency) and after the last arrival."""
    arrivals = sorted(arrived_at)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False) if b - a > latency]
    return (f"first request after {(arrivals[0] - started) * 1e3:.0f} ms; {len(gaps)} gaps between stages "
            f"{' + '.join(f'{g * 1e3:.0f}' for g in gaps)} ms (each holds the {latency * 1e3:g} ms latency of the "
            f"stage's last reply); {(ended - arrivals[-1]) * 1e3:.0f} ms after the last arrival")


# Phases as issue 14 names them. A function whose "file:function" holds one of a phase's needles
# belongs to that phase (first match wins); any other function (builtins, json, fingerprint's
# canonical JSON and digests, asyncio futures, contextvars) is charged to its callers' phases in
# proportion to the time each call site spent.
PHASES: list[tuple[str, tuple[str, ...]]] = [
    ("rendering (prompts, messages)", ("ddbuild/templating.py", "ddbuild/sandbox.py", "jinja2/", "markupsafe/",
                                       "llm/messages.py", "llm/columns.py:_messages", "llm/columns.py:_render")),
    ("request keys (+ sampling draw)", ("llm/cache.py:request_key", "llm/columns.py:_body")),
    ("response parsing / validation", ("llm/replies.py", "llm/client.py:_classify", "llm/columns.py:_message",
                                       "llm/columns.py:_value")),
    ("response cache (get + put)", ("ddbuild/execution/llmcache.py", "ddbuild/store/", "ddbuild/atomic.py",
                                    "llm/cache.py:get", "llm/cache.py:put")),
    ("HTTP client + transport", ("aiohttp/", "yarl/", "multidict/", "propcache/", "frozenlist/", "aiosignal/",
                                 "llm/transport.py", "llm/client.py", "llm/limits.py", "asyncio/selector_events.py",
                                 "http/", "email/")),
    ("event loop (asyncio, epoll)", ("asyncio/base_events.py:_run_once", "asyncio/base_events.py:run_forever",
                                     "selectors.py", "asyncio/events.py:_run")),
    ("bookkeeping (engine, build)", ("ddbuild/", "pandas/", "pyarrow/", "numpy/")),
]
OTHER = "other (unattributed)"
SHARED = ("ddbuild/fingerprint.py",)  # utilities of several phases: charged to their callers


def _owner(func: tuple[str, int, str]) -> str | None:
    filename, _line, function = func
    where = f"{filename}:{function}"
    if any(needle in where for needle in SHARED):
        return None
    for name, needles in PHASES:
        if any(needle in where for needle in needles):
            return name
    return None


def phase_split(stats: dict) -> dict[str, float]:
    """Self time (s) per phase of a pstats ``stats`` table, unowned functions charged to callers
    (a caller reached again through recursion, e.g. a normaliser and its comprehensions, is skipped)."""
    memo: dict[tuple, dict[str, float]] = {}

    def shares(func: tuple, seen: frozenset) -> tuple[dict[str, float], bool]:
        """phase -> fraction of ``func``'s time, and whether a recursive caller was skipped."""
        owner = _owner(func)
        if owner is not None:
            return {owner: 1.0}, False
        if func in memo:
            return memo[func], False
        out: dict[str, float] = {}
        total, cut = 0.0, False
        for caller, values in (stats[func][4] if func in stats else {}).items():
            if caller in seen:
                cut = True
                continue
            caller_shares, caller_cut = shares(caller, seen | {func})
            cut = cut or caller_cut
            if caller_shares:
                total += values[2]
                for phase, share in caller_shares.items():
                    out[phase] = out.get(phase, 0.0) + share * values[2]
        out = {phase: weight / total for phase, weight in out.items()} if total else {}
        if not cut:
            memo[func] = out
        return out, cut

    by_phase: dict[str, float] = {}
    for func, (_cc, _nc, self_time, _cum, _callers) in stats.items():
        for phase, share in (shares(func, frozenset())[0] or {OTHER: 1.0}).items():
            by_phase[phase] = by_phase.get(phase, 0.0) + share * self_time
    return by_phase


def print_profile(profiler: object, requests: int, split: dict[str, float]) -> None:
    """CPU µs per request: the build's thread split by phase (cProfile self-time shares scaled to
    its measured thread CPU), then the other threads (response-cache writers, aiohttp's resolver)."""
    import pstats

    stats = pstats.Stats(profiler)
    by_phase = phase_split(stats.stats)
    total = sum(by_phase.values()) or 1.0
    thread_us = split["build_thread"] / requests * 1e6
    others_us = (split["user"] + split["system"] - split["build_thread"]) / requests * 1e6
    print(f"  CPU µs per request by phase (shares from a profiled run, scaled to the unprofiled run's build "
          f"thread {thread_us:.0f} µs; other threads {others_us:.0f} µs):")
    for phase, seconds in sorted(by_phase.items(), key=lambda item: -item[1]):
        print(f"    {phase:<32} {seconds / total * thread_us:>7.0f} µs  {seconds / total:>5.1%} of the build thread")
    print(f"    {'other threads (cache writers)':<32} {others_us:>7.0f} µs")
    top = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:25]
    print("  top functions of the build thread (self time, µs/request):")
    for (filename, line, function), (_cc, calls, self_time, _cum, _callers) in top:
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else "~"
        print(f"    {self_time / total * thread_us:>7.1f}  {calls / requests:>6.1f}/req  {short}:{line} {function}")


def doc_qa(args: argparse.Namespace) -> None:
    proc, url = start_server_process(args.latency_ms)
    try:
        asyncio.run(run_bare(url, 8, 200))  # warm up both processes
        requests = 3 * args.rows
        ideal = args.parallel / (args.latency_ms / 1000)
        import os

        cold = ""
        if args.warmup_rows:  # the process imports pandas, pyarrow, jinja2... on its first build only
            run_doc_qa(url, args.warmup_rows, args.parallel)
            first = min(server_call(url, "/_stats")["arrived_at"])
            cold = (f"; warmed up by a {args.warmup_rows}-row build first (cold, its first request left after "
                    f"{(first - LAST_SPLIT['started']) * 1e3:.0f} ms)")
        load = os.getloadavg()[0]
        server_cpu = process_cpu(proc.pid)
        bare_rate, bare_cpu, _ = measure(run_bare, url, args.parallel, requests)
        bare_server = process_cpu(proc.pid)
        wall, cpu, answered = run_doc_qa(url, args.rows, args.parallel)
        engine_server = process_cpu(proc.pid)
        arrived_at = server_call(url, "/_stats")["arrived_at"]
        assert answered == requests, (answered, requests)
        rate = requests / wall
        print(f"doc-qa: {args.rows} rows x 3 chained LLM stages = {requests} requests, latency "
              f"{args.latency_ms:g} ms, {args.parallel} in flight (ideal {ideal:.0f} req/s); load average "
              f"{load:.2f} before, {os.getloadavg()[0]:.2f} after{cold}")

        def server_us(before: float | None, after: float | None) -> str:
            return f"  server CPU {(after - before) / requests * 1e6:.0f} µs/req" if before and after else ""

        print(f"  server alone (bare aiohttp loop): {bare_rate:>6.0f} req/s  {bare_rate / ideal:.2f} of ideal  "
              f"client CPU {bare_cpu:.0f} µs/req{server_us(server_cpu, bare_server)}")
        print(f"  ddbuild (Workflow.run)          : {rate:>6.0f} req/s  {rate / ideal:.2f} of ideal  "
              f"CPU {cpu / requests * 1e6:.0f} µs/req  wall {wall:.2f} s{server_us(bare_server, engine_server)}")
        split = {k: LAST_SPLIT[k] / requests * 1e6 for k in ("user", "system", "build_thread")}
        print(f"  ddbuild CPU µs/req: user {split['user']:.0f}, system {split['system']:.0f}; the build's thread "
              f"{split['build_thread']:.0f}, other threads {cpu / requests * 1e6 - split['build_thread']:.0f}")
        print(f"  ddbuild wall: {timeline(arrived_at, LAST_SPLIT['started'], LAST_SPLIT['ended'], args.latency_ms / 1e3)}")
        print(f"  ddbuild / server alone = {rate / bare_rate:.2f}   (goal >= 0.85)")
        if args.profile:
            import cProfile

            unprofiled = dict(LAST_SPLIT)  # cProfile inflates CPU ~3x: shares from it, µs from this run
            profiler = cProfile.Profile(time.thread_time)  # CPU of the build's thread, not waits
            run_doc_qa(url, args.rows, args.parallel, profiler=profiler)
            print_profile(profiler, requests, unprofiled)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- request admission against a rate-limited server ---------------------------------------------

def admission(args: argparse.Namespace) -> None:
    import ddbuild as dd

    proc, url = start_server_process(args.latency_ms, ["--concurrency-limit", str(args.threshold)])
    proc_ra, url_ra = start_server_process(args.latency_ms, ["--concurrency-limit", str(args.threshold),
                                                             "--limit-retry-after", f"{args.retry_after:g}"])
    try:
        requests = 3 * args.rows
        print(f"admission: doc-qa {args.rows} rows ({requests} requests), latency {args.latency_ms:g} ms, server "
              f"answers 429 above {args.threshold} in flight")
        runs = [
            (f"fixed max_parallel_requests={args.threshold}", url, args.threshold, None),
            (f"max_parallel_requests={args.parallel}, default admission", url, args.parallel, None),
            (f"max_parallel_requests={args.parallel}, server Retry-After {args.retry_after:g} s",
             url_ra, args.parallel, None),
            (f"max_parallel_requests={args.parallel}, cooldown_seconds={args.latency_ms / 1000:g}", url,
             args.parallel, dd.RunConfig(request_admission=dd.RequestAdmissionTuningConfig(
                 cooldown_seconds=args.latency_ms / 1000))),
        ]
        fixed_rate = None
        for label, server, parallel, run_config in runs:
            wall, _cpu, answered = run_doc_qa(server, args.rows, parallel, run_config)
            stats = server_call(server, "/_stats")
            arrivals = stats["arrivals"]
            late = max(arrivals[len(arrivals) // 2:]) if arrivals else 0
            assert answered == requests, (label, answered, requests)
            rate = requests / wall
            fixed_rate = fixed_rate or rate
            print(f"  {label:<58} {rate:>6.0f} req/s  {rate / fixed_rate:>4.2f} of fixed  "
                  f"429s {stats['by_status'].get('429', 0):>5}  in flight after half-time <= {late}")
    finally:
        for p in (proc, proc_ra):
            p.terminate()
            p.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--levels", default="16,64,256")
    parser.add_argument("--seconds", type=float, default=1.5, help="ideal duration of each run")
    parser.add_argument("--doc-qa", action="store_true", help="the doc-qa pipeline through the whole engine")
    parser.add_argument("--admission", action="store_true", help="request admission against a 429-ing server")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=64)
    parser.add_argument("--threshold", type=int, default=16)
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--warmup-rows", type=int, default=64,
                        help="--doc-qa: rows of a first, unmeasured build (0: measure a cold process)")
    args = parser.parse_args()
    if args.doc_qa:
        doc_qa(args)
        return 0
    if args.admission:
        admission(args)
        return 0
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
