"""Benchmark: what checking blobs against their digests costs on a no-op build with a large stage.

    python tests/benchmarks/bench_verify.py [--gib 1.0] [--repeat 5]

Builds a one-stage workflow whose output is one ``--gib`` GiB Parquet file (an on_success
callback returns it, so building takes seconds), then times in fresh processes:

    import     python -c "import ddbuild"
    noop       a no-op ``run()``: the blob and the view file are known by stat, nothing is read
    cold       a no-op ``run()`` after ``index/verified-stats.json`` was deleted: the blob and the
               view file are hashed again (what a changed file costs; the first run after upgrading)

and prints medians with ``noop / import`` and ``cold - noop`` (the price of hashing the stage).
Run it on two checkouts to compare (PYTHONPATH decides which ddbuild is timed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKFLOW = '''
import json, os, sys, time
import ddbuild as dd

GIB = float(sys.argv[1])


def big_output(stage_dir):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    dest = stage_dir / "big" / "big.parquet"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        rows, width = int(GIB * (1 << 30)) // 4096, 4096
        data = np.random.default_rng(0).integers(0, 255, size=(rows, width), dtype=np.uint8)
        column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), rows, [None, pa.py_buffer(data)])
        pq.write_table(pa.table({"blob": column}), dest, compression="none")
    return dest


start = time.perf_counter()
wf = dd.DataDesigner().compose_workflow(name="big")
wf.add_stage("big", dd.DataDesignerConfigBuilder().add_column(
    name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1}),
    num_records=1, on_success=big_output, on_success_version="1")
result = wf.run()
print(json.dumps({"executions": result.executions, "run_s": time.perf_counter() - start}))
'''


def _run(root: Path, gib: float) -> tuple[float, dict]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "wf.py", str(gib)], cwd=root, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, json.loads(out.stdout.strip().splitlines()[-1])


def measure(gib: float, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ddbuild-bench-verify-") as tmp:
        root = Path(tmp)
        (root / "wf.py").write_text(WORKFLOW)
        first, info = _run(root, gib)
        print(f"first build ({gib:g} GiB output): {first:.1f} s, executions={info['executions']}")
        samples: dict[str, list[float]] = {"import": [], "noop": [], "cold": []}
        record = root / ".ddbuild" / "cache" / "index" / "verified-stats.json"
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import ddbuild"], cwd=root, check=True)
            samples["import"].append(time.perf_counter() - start)
            wall, info = _run(root, gib)
            assert info["executions"] == 0
            samples["noop"].append(wall)
            record.unlink(missing_ok=True)
            wall, info = _run(root, gib)
            assert info["executions"] == 0
            samples["cold"].append(wall)
        return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    m = measure(args.gib, args.repeat)
    print(f"import ddbuild {m['import'] * 1000:.0f} ms; no-op run() {m['noop'] * 1000:.0f} ms "
          f"(ratio {m['noop'] / m['import']:.2f}); cold no-op {m['cold'] * 1000:.0f} ms "
          f"(+{(m['cold'] - m['noop']) * 1000:.0f} ms to hash the {args.gib:g} GiB stage)")


if __name__ == "__main__":
    main()
