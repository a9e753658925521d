"""Run every benchmark script in this folder, one after another, and echo what each prints.

    python tests/benchmarks/run_all.py            # the issues' full sizes (several minutes)
    python tests/benchmarks/run_all.py --quick    # small sizes, to check the scripts run

Benchmarks print ratios against a floor measured in the same run; they never assert timings.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# script -> (full-size arguments, quick arguments)
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "bench_engine.py": ([], ["--sizes", "10000", "100000"]),
    "bench_llm.py": ([], ["--seconds", "1", "--levels", "16,64"]),
    "bench_workflow.py": ([], ["--rows", "100000", "--gib", "0.25"]),
    "bench_cli.py": ([], ["--repeat", "3"]),
    "bench_dag.py": ([], ["--rows", "50", "--repeat", "1"]),
    "bench_remote_pull.py": ([], ["--size-mib", "128"]),
    "bench_seed_edits.py": ([], ["--rows", "60"]),
    "bench_ray.py": ([], ["--rows", "400", "--buffer-size", "100"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("only", nargs="*", help="script names to run (default: all)")
    args = parser.parse_args()
    failed = []
    for script, (full, quick) in SCRIPTS.items():
        if args.only and script not in args.only:
            continue
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n=== {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        if subprocess.run(command).returncode != 0:
            failed.append(script)
        print(f"=== {script}: {time.monotonic() - started:.1f}s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
