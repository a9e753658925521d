"""Config limits through the real ``ddbuild`` command: exit codes and messages, no traceback.

User code that exits or raises KeyboardInterrupt fails the build (it used to exit 0 with nothing
built), a real Ctrl-C still interrupts it (130), and a full disk (here: the file size limit, EFBIG,
which needs no root) is one message naming the file, after which the next build resumes.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DDFILE = '''
import os, time
import ddbuild as dd

MODE = os.environ.get("TEST_MODE", "ok")
CALLS = [0]


@dd.custom_column_generator(required_columns=["u"])
def tail(row):
    if MODE == "exit":
        raise SystemExit(0)
    if MODE == "interrupt":
        raise KeyboardInterrupt
    if MODE == "sleep":
        open("started", "w").close()
        time.sleep(30)
    CALLS[0] += 1
    size = 1000 if MODE == "grow" and CALLS[0] > 1000 else 50  # batch 2 holds ~1 MB, batch 1 ~50 KB
    row["t"] = os.urandom(size).hex()  # incompressible
    return row


b = dd.DataDesignerConfigBuilder().add_column(name="u", column_type="sampler", sampler_type="uuid")
b.add_column(dd.CustomColumnConfig(name="t", generator_function=tail))
workflow = dd.DataDesigner().compose_workflow(name="w")
workflow.add_stage("big", b, num_records=int(os.environ.get("TEST_ROWS", "4")))
'''


def _project(tmp_path: Path) -> Path:
    (tmp_path / "ddfile.py").write_text(textwrap.dedent(DDFILE))
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("DDBUILD_CACHE", None)
    return env


def _ddbuild(project: Path, *args: str, limit_file: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    def limits() -> None:
        if limit_file is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file, limit_file))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead

    return subprocess.run([sys.executable, "-m", "ddbuild.cli", *args], cwd=project, env=_env(**env),
                          capture_output=True, text=True, timeout=120, preexec_fn=limits)


def test_system_exit_in_a_custom_column_fails_the_build(tmp_path: Path) -> None:
    done = _ddbuild(_project(tmp_path), TEST_MODE="exit")
    assert done.returncode == 1, done.stderr
    assert "Column 't': custom generator tail (row 0) raised SystemExit(0)." in done.stderr
    assert "failed at stage 'big'" in done.stderr and "Traceback" not in done.stderr


def test_keyboard_interrupt_raised_by_a_column_is_its_error(tmp_path: Path) -> None:
    done = _ddbuild(_project(tmp_path), TEST_MODE="interrupt")
    assert done.returncode == 1, done.stderr
    assert "Column 't': custom generator tail (row 0) raised KeyboardInterrupt()." in done.stderr
    assert "Traceback" not in done.stderr


def test_a_real_ctrl_c_during_a_column_still_interrupts(tmp_path: Path) -> None:
    project = _project(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "ddbuild.cli"], cwd=project, env=_env(TEST_MODE="sleep"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (project / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert err.endswith("\nddbuild: interrupted. Finished stages and batches are kept; run the same command to resume.\n")


def test_a_full_disk_names_the_file_and_the_next_build_resumes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    full = _ddbuild(project, limit_file=400_000, TEST_ROWS="3000", TEST_MODE="grow")
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    assert "failed at stage 'big': Disk full: cannot write '" in full.stderr
    assert "/partial/" in full.stderr and "file too large" in full.stderr
    # the one error layout: the hint on its own line, as for any other error (ddbuild: error: ...)
    assert "\n  hint: Free space (e.g. `ddbuild cache gc`, old artifacts) or move the cache" in full.stderr
    assert "kept " in full.stderr and "rows of 'big' as batch checkpoints" in full.stderr
    again = _ddbuild(project, TEST_ROWS="3000", TEST_MODE="grow")
    assert again.returncode == 0, again.stderr
