"""Engine throughput and memory: rows/s and peak RSS for 100k and 1M rows (separate processes).

    python tests/benchmarks/bench_engine.py            # 100k and 1M, prints the RSS ratio
    python tests/benchmarks/bench_engine.py --child N  # one run (used by the parent)

Config: 3 samplers + 2 expression columns + a schema_transform, batch 10,000. Memory must be
bounded by the batch, not the dataset: peak_RSS(1M) / peak_RSS(100k) should stay under 1.5.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 10_000


def _builder():
    import ddbuild as dd

    b = dd.DataDesignerConfigBuilder(seed=42)
    b.add_column(name="cat", column_type="sampler", sampler_type="category",
                 params={"values": ["red", "green", "blue"], "weights": [3, 2, 1]})
    b.add_column(name="price", column_type="sampler", sampler_type="uniform",
                 params={"low": 1, "high": 100, "decimal_places": 2})
    b.add_column(name="qty", column_type="sampler", sampler_type="poisson", params={"mean": 3})
    b.add_column(name="label", column_type="expression", expr="{{ cat | upper }}-{{ qty }}")
    b.add_column(name="total", column_type="expression", expr="{{ price * qty }}", dtype="float")
    b.add_processor(dd.SchemaTransformProcessorConfig(
        name="chat", template={"messages": [{"role": "user", "content": "{{ label }} costs {{ total }}"}]}))
    return b


def child(num_records: int) -> dict[str, float]:
    import ddbuild as dd
    from ddbuild.engine.dataset import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        config = _builder().build()
        start = time.perf_counter()
        summary = generate_dataset(config, num_records=num_records, dataset_dir=Path(tmp) / "ds",
                                   run_config=dd.RunConfig(buffer_size=BATCH), resume=False, base_dir=Path(tmp))
        seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": summary.num_records, "seconds": seconds, "rows_per_s": summary.num_records / seconds,
            "peak_rss_mib": peak_kib / 1024}


def _run(num_records: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(num_records)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", type=int)
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    small, large = (_run(n) for n in args.sizes)
    for result in (small, large):
        print(f"{result['rows']:>9,} rows  {result['seconds']:7.1f} s  {result['rows_per_s']:9,.0f} rows/s  "
              f"peak RSS {result['peak_rss_mib']:7.1f} MiB")
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    print(f"peak_RSS({args.sizes[1]:,}) / peak_RSS({args.sizes[0]:,}) = {ratio:.2f}  (target < 1.5)")
    return 0 if ratio < 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
