"""Real processes: the console script's exit codes, startup imports, Ctrl-C then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HEAVY = ("pandas", "aiohttp")

PROBE = f"""
import json, sys
from ddbuild.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}), file=sys.stderr)
"""


def probe(cwd: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def ddbuild(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("ddbuild")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ddbuild.cli"]
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_help_and_noop_build_do_not_import_pandas_or_aiohttp(chain):
    assert probe(chain.root, "--help") == {"code": 0, "heavy": []}
    assert ddbuild(chain.root, "-s").returncode == 0
    assert probe(chain.root) == {"code": 0, "heavy": []}  # a no-op build
    assert probe(chain.root, "--explain") == {"code": 0, "heavy": []}


def test_console_script_exit_codes(chain):
    assert ddbuild(chain.root, "-q").returncode == 1
    assert ddbuild(chain.root, "nope").returncode == 2
    assert ddbuild(chain.root, "-s").returncode == 0
    assert ddbuild(chain.root, "-q").returncode == 0
    failed = ddbuild(chain.root, "-B", env={"TEST_FAIL_STAGE": "middle"})
    assert failed.returncode == 1 and "failed at stage 'middle'" in failed.stderr


SLOW = """
import time
import ddbuild as dd


@dd.custom_column_generator(required_columns=["n"])
def slow(row):
    time.sleep(0.01)
    row["s"] = row["n"] * 3
    return row


base = dd.DataDesignerConfigBuilder(seed=5).add_column(
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 9, "decimal_places": 0},
    convert_to="int")
work = dd.DataDesignerConfigBuilder().add_column(dd.CustomColumnConfig(name="s", generator_function=slow))
designer = dd.DataDesigner()
designer.set_run_config(dd.RunConfig(buffer_size=20))
workflow = designer.compose_workflow(name="slow")
workflow.add_stage("base", base, num_records=400)
workflow.add_stage("work", work)
"""


@pytest.mark.slow
def test_sigint_keeps_batches_and_next_run_resumes(project):
    project.write(SLOW)
    exe = Path(sys.executable).with_name("ddbuild")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ddbuild.cli"]
    proc = subprocess.Popen([*cmd, "--json"], cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    batches = 0
    deadline = time.monotonic() + 60
    for line in proc.stdout:  # wait for two checkpointed batches of "work"
        event = json.loads(line)
        if event.get("event") == "batch_done" and event["stage"] == "work":
            batches += 1
            if batches == 2:
                break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "resume" in err
    assert "Traceback" not in err

    plan = json.loads(ddbuild(project.root, "-n", "--json").stdout)["workflows"][0]["stages"]
    assert [s["status"] for s in plan] == ["hit", "resume"]
    resumed = ddbuild(project.root, "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.splitlines()[-1])["workflows"][0]["stages"]
    work = summary[1]
    assert work["status"] == "resume" and work["rows"] == 400
    assert 0 < work["rows_generated"] <= 400 - 40  # at least the two finished batches were kept
