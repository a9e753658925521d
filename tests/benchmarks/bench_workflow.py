"""Benchmark: a no-op build of a cached 5-stage workflow, and output digest throughput.

    python tests/benchmarks/bench_workflow.py [--rows 1000000] [--gib 1.0]

1. Builds a 5-stage workflow with ``--rows`` rows per stage once (not timed), then times a no-op
   ``run()`` in a fresh process and divides by the time of ``python -c "import ddbuild"``. The
   no-op process also reports whether pandas/pyarrow were imported and how many files it hashed
   (0: the stat cache and entries answer everything; no parquet row data is read).
2. Writes ``--gib`` GiB of output files and compares the build's per-file digest (what publishing
   an output does) with one-shot xxh3_128 of the same bytes held in memory. Target ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKFLOW = '''
import ddbuild as dd
def workflow(rows):
    designer = dd.DataDesigner()
    designer.set_run_config(dd.RunConfig(buffer_size=250_000))
    wf = designer.compose_workflow(name="bench")
    gen = dd.DataDesignerConfigBuilder()
    for name in ("a", "b", "c", "d", "e"):
        gen.add_column(name=name, column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1})
    wf.add_stage("gen", gen, num_records=rows)
    for i, col in enumerate(("a", "b", "c", "d")):
        drop = dd.DataDesignerConfigBuilder().add_processor(
            dd.DropColumnsProcessorConfig(name=f"drop_{col}", column_names=[col]))
        wf.add_stage(f"drop{i}", drop)
    return wf
'''

NOOP = '''
import json, sys, time
start = time.perf_counter()
from wfdef import workflow
wf = workflow(int(sys.argv[1]))
defined = time.perf_counter()
result = wf.run()
print(json.dumps({"executions": result.executions, "rows_generated": result.rows_generated,
                  "pandas": "pandas" in sys.modules, "pyarrow": "pyarrow" in sys.modules,
                  "define_s": defined - start, "run_s": time.perf_counter() - defined}))
'''


def _wall(args: list[str], cwd: Path, repeat: int = 5) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench_noop(rows: int, root: Path) -> None:
    (root / "wfdef.py").write_text(WORKFLOW)
    (root / "noop.py").write_text(NOOP)
    start = time.perf_counter()
    subprocess.run([sys.executable, "noop.py", str(rows)], cwd=root, check=True, capture_output=True)
    print(f"first build of 5 x {rows:,} rows: {time.perf_counter() - start:.1f} s (not part of the ratio)")
    noop, out = _wall([sys.executable, "noop.py", str(rows)], root)
    base, _ = _wall([sys.executable, "-c", "import ddbuild"], root)
    info = json.loads(out.strip().splitlines()[-1])
    print(f"no-op run(): {noop * 1000:.0f} ms; import ddbuild: {base * 1000:.0f} ms; ratio {noop / base:.2f}")
    print(f"  executions={info['executions']} rows_generated={info['rows_generated']} "
          f"pandas imported={info['pandas']} pyarrow imported={info['pyarrow']}")
    print(f"  in process: defining the workflow (imports) {info['define_s'] * 1000:.0f} ms, "
          f"run() {info['run_s'] * 1000:.0f} ms")


def bench_digest(gib: float, root: Path) -> None:
    import xxhash

    from ddbuild.fingerprint import digest_file, output_digest

    total = int(gib * (1 << 30))
    files, chunk = [], 128 << 20
    data = os.urandom(min(chunk, total))
    for i in range(max(1, total // chunk)):
        path = root / f"part-{i:03d}.parquet"
        path.write_bytes(data)
        files.append(path)
    size = sum(p.stat().st_size for p in files)
    blob = b"".join(p.read_bytes() for p in files)
    start = time.perf_counter()
    xxhash.xxh3_128_hexdigest(blob)
    raw = time.perf_counter() - start
    del blob
    digest_file(files[0])  # warm the page cache the same way a just-written output is warm
    start = time.perf_counter()
    output_digest([digest_file(p) for p in files])
    ours = time.perf_counter() - start
    gbs = size / 1e9
    print(f"digest {size / (1 << 30):.2f} GiB: files {gbs / ours:.1f} GB/s vs in-memory xxh3_128 "
          f"{gbs / raw:.1f} GB/s; ratio {raw / ours:.2f} (target >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env_root = Path(__file__).resolve().parents[2]
        os.environ["PYTHONPATH"] = str(env_root) + os.pathsep + os.environ.get("PYTHONPATH", "")
        os.environ.pop("DDBUILD_CACHE", None)
        bench_noop(args.rows, root)
        bench_digest(args.gib, root)


if __name__ == "__main__":
    main()
