"""The no-op fast path: served from the up-to-date stamp, identical output, and every invalidation.

Real processes (the fast path runs before click, in ``ddbuild.cli.main``); DDBUILD_DEBUG_FASTPATH=1
makes a served answer say "fast path" on stderr.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pydantic", "jinja2", "pandas", "pyarrow")  # click is imported: argv is parsed by its tree
PROBE = f"""
import json, sys
from ddbuild.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}), file=sys.stderr)
"""
CLEAN = ("DDBUILD_CACHE", "DDBUILD_REMOTE", "DDBUILD_REMOTE_UPLOAD", "DDBUILD_REQUIRE_SIGNED",
         "DDBUILD_SIGNING_KEY", "DDBUILD_NO_FASTPATH", "TEST_FAIL_STAGE", "TEST_ROWS", "TEST_LABEL")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    return {**env, "DDBUILD_DEBUG_FASTPATH": "1", **(extra or {})}


def dd(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ddbuild.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=_env(env))


def fast(proc: subprocess.CompletedProcess) -> bool:
    return "fast path:" in proc.stderr


def statuses(cwd: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    proc = dd(cwd, "-n", "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return {s["name"]: s["status"] for w in json.loads(proc.stdout)["workflows"] for s in w["stages"]}


def stamps(cwd: Path) -> list[Path]:
    folder = cwd / ".ddbuild" / "cache" / "stamps"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture
def built(chain):
    first = dd(chain.root)
    assert first.returncode == 0 and not fast(first), first.stderr
    return chain.root


def test_second_build_is_served_by_the_fast_path_without_heavy_imports(built):
    second = dd(built)
    assert second.returncode == 0 and fast(second), second.stderr
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=built, capture_output=True, text=True,
                           timeout=60, env=_env())
    assert json.loads(probe.stderr.strip().splitlines()[-1]) == {"code": 0, "heavy": []}
    probe = subprocess.run([sys.executable, "-c", PROBE, "-n"], cwd=built, capture_output=True, text=True,
                           timeout=60, env=_env())
    assert json.loads(probe.stderr.strip().splitlines()[-1]) == {"code": 0, "heavy": []}


@pytest.mark.parametrize("args", [(), ("-s",), ("-q",), ("-n",), ("-n", "-v"), ("-n", "--json"),
                                  ("status",), ("status", "--json"), ("build", "final"), ("final", "-n")])
def test_fast_output_equals_the_normal_path(built, args):
    assert dd(built, *args).returncode == 0  # writes the stamp for these targets if missing
    served = dd(built, *args)
    normal = dd(built, *args, "--no-fast-path")
    assert fast(served) and not fast(normal)
    assert served.returncode == normal.returncode == 0

    def timeless(text: str) -> str:
        return re.sub(r"built in [0-9.]+s", "built in Ns", text)

    assert timeless(served.stdout) == timeless(normal.stdout)


def test_disabled_by_env_and_verbose_says_why(built):
    assert not fast(dd(built, env={"DDBUILD_NO_FASTPATH": "1"}))
    (built / "ddfile.py").write_text((built / "ddfile.py").read_text() + "\n# edited\n")
    proc = dd(built, "-v", "-n")
    assert "fast path skipped: ddfile.py changed" in proc.stderr and not fast(proc)
    assert fast(dd(built, "-n"))  # the normal path wrote a fresh stamp


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_editing_the_build_file_invalidates(built):
    _edit(built / "ddfile.py", '"{{ colour }}-{{ double }}-"', '"{{ colour }}+{{ double }}-"')
    proc = dd(built, "-n")
    assert not fast(proc) and re.search(r"middle\s+run", proc.stdout), proc.stdout
    build = dd(built, "--json")
    ran = [s["name"] for s in json.loads(build.stdout.splitlines()[-1])["workflows"][0]["stages"]
           if s["status"] == "run"]
    assert ran == ["middle", "final"]  # explain said middle runs and final is pending
    assert fast(dd(built))


def test_env_var_read_by_the_build_file_invalidates(built):
    assert fast(dd(built, "-q"))
    proc = dd(built, "-q", env={"TEST_LABEL": "v2"})
    assert not fast(proc) and proc.returncode == 1
    assert statuses(built, env={"TEST_LABEL": "v2"})["middle"] == "run"
    assert fast(dd(built, "-q"))  # back to the recorded value: the stamp holds again


def test_deleted_view_file_is_restored_by_the_normal_path(built):
    view = built / "artifacts" / "chain"
    files = [p for p in view.rglob("*.parquet")]
    assert files
    files[0].unlink()
    proc = dd(built)
    assert proc.returncode == 0 and not fast(proc)
    assert files[0].exists()
    assert fast(dd(built))


def test_deleted_cache_entry_invalidates(built):
    entries = sorted((built / ".ddbuild" / "cache" / "actions").rglob("*.json"))
    entries[0].unlink()
    proc = dd(built, "-n")
    assert not fast(proc) and "run" in proc.stdout


def test_pyproject_settings_invalidate(built):
    (built / "pyproject.toml").write_text('[tool.ddbuild]\ncache = "other-cache"\n')
    proc = dd(built, "-q")
    assert not fast(proc) and proc.returncode == 1  # a new, empty cache


def test_other_targets_and_always_make(built):
    proc = dd(built, "middle", "-n")
    assert not fast(proc) and proc.returncode == 0
    assert fast(dd(built, "middle", "-n"))
    forced = dd(built, "-B")
    assert not fast(forced) and forced.returncode == 0 and "ran" in forced.stdout
    assert fast(dd(built))


def test_local_helper_module_invalidates(project):
    project.write('SUFFIX = "a"\n', "helper.py")
    project.write('''
import ddbuild as dd
from helper import SUFFIX
b = dd.DataDesignerConfigBuilder(seed=1).add_column(
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 9, "decimal_places": 0},
    convert_to="int").add_column(name="t", column_type="expression", expr="{{ n }}" + SUFFIX)
workflow = dd.DataDesigner().compose_workflow(name="helped")
workflow.add_stage("only", b, num_records=5)
''')
    assert dd(project.root).returncode == 0
    assert fast(dd(project.root, "-n"))
    project.write('SUFFIX = "b"\n', "helper.py")
    proc = dd(project.root, "-v", "-n")
    assert not fast(proc) and "fast path skipped: helper.py changed" in proc.stderr
    assert re.search(r"only\s+run", proc.stdout)


def test_seed_file_touch_or_change_invalidates(project):
    seed = project.root / "seed.jsonl"
    seed.write_text('{"text": "a"}\n{"text": "b"}\n')
    project.write('''
import ddbuild as dd
docs = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.jsonl")).add_column(
    name="upper", column_type="expression", expr="{{ text | upper }}")
workflow = dd.DataDesigner().compose_workflow(name="seeded")
workflow.add_stage("docs", docs)
''')
    assert dd(project.root).returncode == 0
    assert fast(dd(project.root))
    os.utime(seed, ns=(seed.stat().st_atime_ns, seed.stat().st_mtime_ns + 10**9))  # touched, same bytes
    proc = dd(project.root)
    assert not fast(proc) and "hit" in proc.stdout  # the normal path: same content, still a hit
    assert fast(dd(project.root))
    seed.write_text('{"text": "a"}\n{"text": "c"}\n')
    assert statuses(project.root)["docs"] == "run"


def test_no_stamp_after_a_failure_or_when_work_is_pending(chain):
    failed = dd(chain.root, env={"TEST_FAIL_STAGE": "middle"})
    assert failed.returncode == 1
    assert stamps(chain.root) == []
    assert dd(chain.root, "-n").returncode == 0 and stamps(chain.root) == []  # pending work: no stamp
    assert dd(chain.root, "-q").returncode == 1 and stamps(chain.root) == []
    assert dd(chain.root, "-s").returncode == 0 and len(stamps(chain.root)) == 1


def test_a_corrupt_stamp_falls_back(built):
    for path in stamps(built):
        path.write_text("{not json")
    proc = dd(built)
    assert proc.returncode == 0 and not fast(proc) and "hit" in proc.stdout
    assert fast(dd(built))


# argv -> eligible for the fast path (parsed by the real click tree; None = not eligible), one line each.
PARSE_CASES = [
    ([], ("build", ())),
    (["-Cproj", "-n"], ("build", ())),           # attached short value: click's parser, not a hand table
    (["--cache=c", "-q", "final"], ("build", ("final",))),
    (["final", "-sk"], ("build", ("final",))),    # flags after the target and clustered
    (["status", "--json", "a", "b"], ("status", ("a", "b"))),
    (["-v", "build", "-vn", "x"], ("build", ("x",))),
    (["--", "-n"], None),                        # click refuses it too (no such command): the normal path says so
    (["-B"], None), (["--rerun-from", "x"], None), (["-j", "2"], None), (["--jobs=1"], None),
    (["--resume=never"], None), (["--override", "a=b"], None), (["--remote", "r"], None),
    (["--remote-upload"], None), (["--require-signed"], None),
    (["-n", "-q"], None), (["-s", "-v"], None), (["--json"], None),  # usage errors / JSON-lines build
    (["status", "-n"], None),                    # status has no -n: click's usage error, reported by the normal path
    (["--bogus"], None), (["-f"], None), (["--resume", "sometimes"], None),
    (["-h"], None), (["-sh"], None), (["build", "--help"], None), (["--version"], None),
    (["export", "final", "out.jsonl"], None), (["graph"], None), (["cache", "ls"], None),
    (["report", "-o", "x.html"], None),
]


@pytest.mark.parametrize(("argv", "expected"), PARSE_CASES)
def test_fast_path_parses_argv_with_the_click_tree(argv, expected, capsys):
    from ddbuild.cli.fastpath import parse

    request = parse(argv)
    assert (None if request is None else (request.command, request.options.targets)) == expected
    assert capsys.readouterr() == ("", "")  # parsing never prints (no help, no version, no usage error)


def test_a_file_edited_during_the_build_is_not_taken_for_the_one_loaded(project):
    """The stamp is written after the build; what the load read must be signed when the load ended,
    not then: here a custom column rewrites settings.json (read at load) while the stage runs."""
    project.write('{"word": "w1"}\n', "settings.json")
    project.write('''
import json
import ddbuild as dd

WORD = json.load(open("settings.json"))["word"]


@dd.custom_column_generator(required_columns=["n"])
def meddle(row):
    with open("settings.json", "w") as handle:
        handle.write('{"word": "w2"}')
    row["m"] = row["n"]
    return row


b = dd.DataDesignerConfigBuilder(seed=1).add_column(
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 9, "decimal_places": 0},
    convert_to="int").add_column(dd.CustomColumnConfig(name="m", generator_function=meddle)).add_column(
    name="w", column_type="expression", expr="{{ n }}" + WORD)
workflow = dd.DataDesigner().compose_workflow(name="meddled")
workflow.add_stage("only", b, num_records=3)
''')
    assert dd(project.root, "-s").returncode == 0
    assert (project.root / "settings.json").read_text() == '{"word": "w2"}'
    fast_q, slow_q = dd(project.root, "-q"), dd(project.root, "-q", "--no-fast-path")
    assert slow_q.returncode == 1 and fast_q.returncode == 1 and not fast(fast_q)
