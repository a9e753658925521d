"""What a build prints in each output mode, from real processes: warnings follow -s / plain / --json,
the live display (a pseudo-terminal) honours NO_COLOR, TERM=dumb and the width, and rich is loaded
only for that display."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

VIEW = Path("artifacts") / "chain" / "stage-1-middle" / "metadata.json"

# Runs the CLI like the console script, then writes which modules it loaded to $PROBE_OUT.
PROBE = """
import json, os, sys
from ddbuild.cli import main
code = main(sys.argv[1:])
sys.stdout.flush(); sys.stderr.flush()
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump({"code": code, "rich": sorted(m for m in sys.modules if m == "rich" or m.startswith("rich."))}, out)
"""

SGR = re.compile(r"\x1b\[([0-9;]*)m")
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ddbuild.cli", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def probe(root: Path, *args: str, tty: bool = False, env: dict[str, str] | None = None) -> tuple[dict, str]:
    """(the probe's report, what the process printed) with stdout/stderr a pipe or a terminal."""
    report = root / ".probe.json"
    env = {**os.environ, "PROBE_OUT": str(report), **(env or {})}
    command = [sys.executable, "-c", PROBE, *args]
    if tty:
        code, text = in_terminal(command, root, env)
    else:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120, env=env)
        code, text = done.returncode, done.stdout + done.stderr
    assert code == 0, text
    return json.loads(report.read_text()), text


def in_terminal(
    command: list[str], cwd: Path, env: dict[str, str], columns: int = 80,
    interrupt_when: Callable[[str], bool] | None = None,
) -> tuple[int, str]:
    """Run ``command`` with stdin/stdout/stderr on a pseudo-terminal of ``columns``; all it printed.
    ``interrupt_when``: send SIGINT (Ctrl-C) once what it printed so far satisfies it."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal (Linux: EIO)
                break
            if not chunk:
                break
            chunks.append(chunk)
            if interrupt_when is not None and interrupt_when(b"".join(chunks).decode("utf-8", "replace")):
                proc.send_signal(signal.SIGINT)
                interrupt_when = None
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def colour_codes(text: str) -> list[str]:
    """SGR parameters that set a colour (30-49, 90-107); bold/dim/reset are not colours."""
    found = []
    for params in SGR.findall(text):
        found += [p for p in params.split(";") if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107)]
    return found


def rot_a_blob(root: Path) -> Path:
    """Bit rot in the cache: the next build quarantines the blob (a logged warning) and rebuilds."""
    blob = min(p for p in (root / ".ddbuild" / "cache" / "objects").rglob("*") if p.is_file())
    blob.chmod(0o644)
    blob.write_bytes(b"bit rot")
    return blob


def test_a_logged_warning_follows_the_output_mode(chain):
    assert run(chain.root, "-s").returncode == 0

    blob = rot_a_blob(chain.root)
    plain = run(chain.root, "--no-fast-path")
    assert plain.returncode == 0, plain.stderr
    warnings = [line for line in plain.stderr.splitlines() if "warning" in line]
    assert warnings == [next(line for line in warnings if line.startswith(f"ddbuild: warning: quarantined blob {blob.name} "))]

    rot_a_blob(chain.root)
    silent = run(chain.root, "--no-fast-path", "-s")
    assert (silent.returncode, silent.stdout, silent.stderr) == (0, "", "")  # was: the warning, bare, on stderr

    rot_a_blob(chain.root)
    as_json = run(chain.root, "--no-fast-path", "--json")
    assert as_json.returncode == 0 and as_json.stderr == ""
    events = [json.loads(line) for line in as_json.stdout.splitlines()]  # every line is one JSON object
    warned = [e for e in events if e["event"] == "warning"]
    assert len(warned) == 1 and warned[0]["message"].startswith(f"quarantined blob {blob.name} ")
    assert set(warned[0]) == {"event", "message", "stage"}
    assert any(e["event"] == "stage_started" for e in events)  # and the rotten output was rebuilt


def test_a_build_warning_names_its_stage_in_every_mode(chain):
    assert run(chain.root, "-s").returncode == 0
    view = chain.root / VIEW

    view.write_text("edited")
    plain = run(chain.root)
    assert "ddbuild: warning: middle: view edited by hand: restored metadata.json from the cache" in plain.stderr

    view.write_text("edited")
    assert run(chain.root, "-s").stderr == ""

    view.write_text("edited")
    events = [json.loads(line) for line in run(chain.root, "--json").stdout.splitlines()]
    warned = [e for e in events if e["event"] == "warning"]
    assert [(e["stage"], e["message"].split(";")[0]) for e in warned] == [
        ("middle", "view edited by hand: restored metadata.json from the cache")]


def test_other_commands_print_warnings_as_lines_and_nothing_under_s(chain):
    assert run(chain.root, "-s").returncode == 0
    blob = rot_a_blob(chain.root)
    verify = run(chain.root, "cache", "verify")
    assert verify.returncode == 1 and verify.stderr.splitlines()[0].startswith(
        f"ddbuild: warning: quarantined blob {blob.name} ")  # was: the bare message

    assert run(chain.root, "-s").returncode == 0  # rebuilt
    rot_a_blob(chain.root)
    silent = run(chain.root, "cache", "verify", "-s")
    assert (silent.returncode, silent.stdout, silent.stderr) == (1, "", "")


LIBRARY = """
import sys
sys.path.insert(0, ".")
import runpy
workflow = runpy.run_path("ddfile.py")["workflow"]
workflow.run()
"""


def library_run(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LIBRARY], cwd=root, capture_output=True, text=True, timeout=120)


def test_library_use_still_shows_warnings_on_stderr(chain):
    assert library_run(chain.root).stderr == ""
    (chain.root / VIEW).write_text("edited")
    blob = rot_a_blob(chain.root)
    done = library_run(chain.root)
    assert done.returncode == 0, done.stderr
    assert f"quarantined blob {blob.name} " in done.stderr  # logged by the store
    assert "middle: view edited by hand: restored metadata.json" in done.stderr  # an event, logged by default


def test_stage_started_says_how_many_rows_the_stage_generates(chain):
    events = [json.loads(line) for line in run(chain.root, "--json", env={"TEST_ROWS": "30"}).stdout.splitlines()]
    started = {e["stage"]: e["rows_total"] for e in events if e["event"] == "stage_started"}
    assert started == {"base": 30, "middle": 30, "final": 30}  # explicit num_records, then from the seed
    plain = run(chain.root, "-B", env={"TEST_ROWS": "30"})
    assert re.search(r"^ddbuild: middle: running \(key [0-9a-f]{8}, 30 rows\)$", plain.stderr, re.M), plain.stderr


def screen_lines(text: str) -> list[str]:
    """Every line the live display drew, escape codes removed (the summary on stdout left out)."""
    return [line for line in re.split(r"[\r\n]+", CSI.sub("", text.split("workflow chain: built")[0]))
            if line.strip()]


def display_lines(text: str) -> list[str]:
    """The last frame of the live display (one line per stage) as a person sees it."""
    return screen_lines(text)[-3:]


def test_the_live_display_on_a_terminal(chain):
    env = {**os.environ, "TERM": "xterm-256color", "PROBE_OUT": str(chain.root / ".probe.json")}
    env.pop("NO_COLOR", None)
    code, text = in_terminal([sys.executable, "-c", PROBE], chain.root, env, columns=40)
    assert code == 0, text
    assert "\x1b[1A" in text and "\x1b[2K" in text  # redrawn in place, not appended
    assert colour_codes(text)  # coloured where colour is allowed
    final = display_lines(text)
    assert [line.split()[:3] for line in final] == [["✓", "base", "ran"], ["✓", "middle", "ran"], ["✓", "final", "ran"]]
    drawn = screen_lines(text)
    assert max(len(line.rstrip()) for line in drawn) <= 40  # cut to the terminal's width, never wrapped:
    assert all(re.match(r"^\S? *(base|middle|final) ", line) for line in drawn)  # every line names its stage
    assert any(line.endswith("…") for line in drawn)  # (a running stage's progress does not fit in 40)


def test_the_live_display_honours_no_color_and_term_dumb(chain):
    base = {**os.environ, "PROBE_OUT": str(chain.root / ".probe.json")}
    code, text = in_terminal([sys.executable, "-c", PROBE, "-B"], chain.root, {**base, "TERM": "xterm", "NO_COLOR": "1"})
    assert code == 0 and "\x1b[2K" in text, text  # still live
    assert colour_codes(text) == []
    assert [line.split()[1:3] for line in display_lines(text)] == [["base", "ran"], ["middle", "ran"], ["final", "ran"]]

    env = {**base, "TERM": "dumb"}
    env.pop("NO_COLOR", None)
    code, text = in_terminal([sys.executable, "-c", PROBE, "-B"], chain.root, env)
    assert code == 0 and "\x1b[" not in text, text  # plain lines, exactly as in a pipe
    assert re.findall(r"^ddbuild: (\w+): ran in ", text, re.M) == ["base", "middle", "final"]


@pytest.mark.slow
def test_rich_is_loaded_only_for_the_live_display(chain):
    report, _ = probe(chain.root)  # a build into pipes
    assert report == {"code": 0, "rich": []}
    report, _ = probe(chain.root, tty=True, env={"TERM": "xterm"})  # a no-op on a terminal: the fast path
    assert report == {"code": 0, "rich": []}
    report, _ = probe(chain.root, "-B", tty=True, env={"TERM": "xterm"})  # a build on a terminal
    assert report["code"] == 0 and "rich.live" in report["rich"]
    report, _ = probe(chain.root, "-B", "-s", tty=True, env={"TERM": "xterm"})
    assert report == {"code": 0, "rich": []}


def test_a_warning_is_printed_above_the_live_display(chain):
    assert run(chain.root, "-s").returncode == 0
    (chain.root / VIEW).write_text("edited")
    env = {**os.environ, "TERM": "xterm", "NO_COLOR": "1", "PROBE_OUT": str(chain.root / ".probe.json")}
    code, text = in_terminal([sys.executable, "-c", PROBE], chain.root, env, columns=200)
    assert code == 0, text
    plain = CSI.sub("", text)
    assert "warning: middle: view edited by hand: restored metadata.json from the cache" in plain
    assert plain.index("warning: middle:") < plain.rindex("= middle")  # the display is drawn again below it



def test_a_command_gives_logging_back_when_it_ends(chain, caplog):
    import logging
    import warnings

    showwarning = warnings.showwarning
    assert chain.main("-s").exit_code == 0
    rot_a_blob(chain.root)
    assert chain.main("--no-fast-path", "-s").stderr == ""  # routed (and silenced) while it ran
    logger = logging.getLogger("ddbuild")
    assert logger.propagate and logger.handlers == [] and warnings.showwarning is showwarning
    with caplog.at_level(logging.WARNING, logger="ddbuild.store"):
        logging.getLogger("ddbuild.store").warning("after the command")
    assert [r.getMessage() for r in caplog.records] == ["after the command"]


@pytest.mark.slow
def test_ctrl_c_during_the_live_display_leaves_the_terminal_usable(project):
    from test_subprocess import SLOW

    project.write(SLOW)
    env = {**os.environ, "TERM": "xterm"}
    working = re.compile(r"work +run .* [1-9]\d*/400 rows")  # "work" has checkpointed a batch

    code, text = in_terminal([sys.executable, "-m", "ddbuild.cli"], project.root, env,
                             interrupt_when=lambda shown: working.search(CSI.sub("", shown)) is not None)
    assert code == 130, text
    assert "\x1b[?25l" in text and text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")  # the cursor is shown again
    assert "interrupted" in text.split("\x1b[?25h")[-1] and "Traceback" not in text
