"""Shell completion through click's protocol (real processes, the env vars click's scripts set):
the scripts for bash, zsh and fish, and TARGET names completed from the build file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_project import CHAIN, DAG


def complete(cwd: Path, mode: str, **env: str) -> subprocess.CompletedProcess:
    """What the shell's completion function runs: ``_DDBUILD_COMPLETE=<mode> ddbuild``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DDBUILD_")}
    environ.update(env, _DDBUILD_COMPLETE=mode)
    return subprocess.run([sys.executable, "-m", "ddbuild.cli"], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=environ)


def bash(cwd: Path, line: str) -> list[str]:
    words = line.split(" ")
    proc = complete(cwd, "bash_complete", COMP_WORDS=line, COMP_CWORD=str(len(words) - 1))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return [item.split(",", 1)[1] for item in proc.stdout.splitlines() if item]


@pytest.mark.parametrize(("shell", "marker"), [("bash", "_ddbuild_completion()"), ("zsh", "#compdef ddbuild"),
                                               ("fish", "complete --no-files --command ddbuild")])
def test_source_prints_the_completion_script_even_in_a_built_project(chain, shell, marker):
    """Issue 10 §2: in an up-to-date project the fast path used to answer this with a build summary."""
    assert subprocess.run([sys.executable, "-m", "ddbuild.cli", "-s"], cwd=chain.root, timeout=120).returncode == 0
    proc = complete(chain.root, f"{shell}_source")
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout and "workflow chain" not in proc.stdout and "hit" not in proc.stdout


def test_bash_completes_targets_commands_and_options(chain):
    assert bash(chain.root, "ddbuild m") == ["middle"]
    assert bash(chain.root, "ddbuild ") == ["build", "cache", "export", "graph", "report", "status", "base", "middle", "final"]
    assert bash(chain.root, "ddbuild build ") == ["base", "middle", "final"]
    assert bash(chain.root, "ddbuild -n fi") == ["final"]
    assert bash(chain.root, "ddbuild status b") == ["base"]
    assert "--explain" in bash(chain.root, "ddbuild --ex")
    assert not (chain.root / ".ddbuild").exists()  # completing loads the build file, builds nothing


def _words(stdout: str) -> set[str]:
    """The completion values in a zsh/fish reply, whatever click's wire format: zsh sends
    ``type``/``value``/``help`` lines; fish sent the same in click 8.4 and ``type,value`` lines in 8.5."""
    return {word for line in stdout.splitlines() for word in line.split(",")} - {"plain", "_", ""}


def test_zsh_and_fish_complete_targets(chain):
    proc = complete(chain.root, "zsh_complete", COMP_WORDS="ddbuild mid", COMP_CWORD="1")
    assert proc.returncode == 0 and _words(proc.stdout) == {"middle"}, (proc.stdout, proc.stderr)
    proc = complete(chain.root, "fish_complete", COMP_WORDS="ddbuild build fi", COMP_CWORD="fi")
    assert proc.returncode == 0 and _words(proc.stdout) == {"final"}, (proc.stdout, proc.stderr)


def test_dash_c_and_several_workflows(project):
    sub = project.root / "sub"
    sub.mkdir()
    (sub / "ddfile.py").write_text(DAG + "\nsecond = dd.DataDesigner().compose_workflow(name='second')\n"
                                   "second.add_stage('base', base, num_records=3)\nsecond.add_stage('tail', good)\n")
    assert bash(project.root, "ddbuild -C sub ") == [
        "build", "cache", "export", "graph", "report", "status",
        "dag:base", "dag:bad", "dag:good", "second:base", "second:tail", "bad", "good", "tail", "dag", "second"]
    assert bash(project.root, "ddbuild -C sub build second:") == ["second:base", "second:tail"]


def test_a_build_file_that_fails_or_builds_on_load_completes_nothing(project):
    project.write("raise RuntimeError('broken')\n")
    assert bash(project.root, "ddbuild ") == ["build", "cache", "export", "graph", "report", "status"]
    project.write(CHAIN + "\nworkflow.run()\n")
    assert bash(project.root, "ddbuild build ") == []
    assert not (project.root / "artifacts").exists()
