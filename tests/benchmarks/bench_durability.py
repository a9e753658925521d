"""The cost of fsync: a cold build of examples/doc_qa with and without the fsyncs of ddbuild/atomic.py.

    python tests/benchmarks/bench_durability.py [--repeat 5] [--latency-ms 0]

Each cold build runs ``ddbuild -s`` in a fresh copy of the example against the stub LLM server
(tests/openai_server.py). "no fsync" runs the same code with ``os.fsync`` replaced by a no-op in
that process (for measuring only; ddbuild has no switch to turn durability off). Runs alternate
between the two modes; medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.openai_server import start_server  # noqa: E402

EXAMPLE = ROOT / "examples" / "doc_qa"
RUN = "import atexit, os, sys\n{patch}from ddbuild.cli import main\nsys.exit(main(sys.argv[1:]))\n"
NO_FSYNC = "os.fsync = lambda fd: None\n"
COUNT_FSYNC = (  # the same build, counting its fsyncs (printed to stderr at exit)
    "calls = [0]\n_fsync = os.fsync\n"
    "def _counted(fd):\n    calls[0] += 1\n    _fsync(fd)\n"
    "os.fsync = _counted\natexit.register(lambda: print(f'fsyncs={calls[0]}', file=sys.stderr))\n"
)


def cold_build(work: Path, env: dict[str, str], fsync: bool, patch: str | None = None) -> tuple[float, str]:
    """Seconds for one cold build in a fresh copy, and what it printed on stderr."""
    project = work / f"doc_qa-{time.monotonic_ns()}"
    shutil.copytree(EXAMPLE, project)
    code = RUN.format(patch=patch if patch is not None else "" if fsync else NO_FSYNC)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "-s"], cwd=project, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"build failed: {done.stderr}")
    shutil.rmtree(project)
    return elapsed, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = start_server(latency_ms=args.latency_ms)
    env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "bench",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        with tempfile.TemporaryDirectory(dir=ROOT) as work:  # on the disk the cache would use
            _, err = cold_build(Path(work), env, True, COUNT_FSYNC)  # also warms the page cache
            fsyncs = err.strip().splitlines()[-1]
            for _ in range(args.repeat):
                for fsync in (True, False):
                    elapsed, _ = cold_build(Path(work), env, fsync)
                    times[fsync].append(elapsed)
    finally:
        server.stop()
    with_fsync, without = statistics.median(times[True]), statistics.median(times[False])
    print(f"cold doc_qa build ({fsyncs} per build), median of {args.repeat}:")
    print(f"  with fsync     {with_fsync:7.3f} s   {sorted(round(t, 3) for t in times[True])}")
    print(f"  without fsync  {without:7.3f} s   {sorted(round(t, 3) for t in times[False])}")
    print(f"  ratio          {with_fsync / without:7.3f}x  (+{(with_fsync - without) * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
