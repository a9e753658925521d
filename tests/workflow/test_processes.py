"""Crash and concurrency, with real processes: SIGKILL mid-stage resumes; two builders agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = '''
import json, sys, time
import ddbuild as dd

@dd.custom_column_generator(required_columns=["x"])
def slow(row):
    time.sleep(float(sys.argv[1]))
    row["s"] = row["x"] * 2
    return row

designer = dd.DataDesigner()
designer.set_run_config(dd.RunConfig(buffer_size=2))
wf = designer.compose_workflow(name="slow")
wf.add_stage("gen", dd.DataDesignerConfigBuilder().add_column(
    name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1}), num_records=12)
wf.add_stage("work", dd.DataDesignerConfigBuilder().add_column(
    name="s", column_type="custom", generator_function=slow))
result = wf.run()
print(json.dumps({n: [s.status.value, s.rows_generated] for n, s in result.stages.items()}))
'''


def _spawn(project: Path, delay: float) -> subprocess.Popen:
    (project / "job.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("DDBUILD_CACHE", None)
    return subprocess.Popen([sys.executable, "job.py", str(delay)], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _batches(project: Path) -> list[Path]:
    """Completed batches of the slow stage (the only one seeded by an upstream: it has inputs/)."""
    partials = (project / ".ddbuild" / "cache" / "partial").glob("*")
    return [b for p in partials if (p / "inputs").is_dir() for b in p.glob("dataset/parquet-files/batch_*.parquet")]


def test_sigkill_mid_stage_resumes_from_completed_batches(project: Path) -> None:
    proc = _spawn(project, 0.15)  # 6 batches of 2 rows, 0.3 s each
    deadline = time.monotonic() + 30
    while len(_batches(project)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_batches(project))
    assert 2 <= done < 6
    rerun = _spawn(project, 0.0)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    stages = json.loads(out.strip().splitlines()[-1])
    assert stages["gen"] == ["hit", 0]
    status, generated = stages["work"]
    assert status == "resume"
    assert generated <= (6 - done + 1) * 2  # repeats at most one batch
    assert not _batches(project)  # partial removed once published


def test_two_processes_one_cache(project: Path) -> None:
    first, second = _spawn(project, 0.01), _spawn(project, 0.01)
    outs = [p.communicate(timeout=60) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [e for _, e in outs]
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    executed = sum(1 for r in results for s in r.values() if s[0] in ("run", "resume"))
    assert executed == 2  # each stage built once; the other process waited and got a hit
    from ddbuild.store.fs import FileSystemStore

    store = FileSystemStore(project / ".ddbuild" / "cache")
    keys = list(store.list_entries())
    assert len(keys) == 2 and all(store.get_entry(k) is not None for k in keys)
    view = project / "artifacts" / "slow" / "stage-1-work" / "parquet-files"
    assert len(list(view.glob("*.parquet"))) == 6
