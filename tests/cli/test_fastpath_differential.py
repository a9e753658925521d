"""The fast path never answers differently from the full path: a corpus of mutations, as data.

Each case takes a built project whose up-to-date stamp answers (checked first), applies one
mutation, then asks, in real processes:

    fast   DDBUILD_DEBUG_FASTPATH=only ddbuild -q | -n --json | --json   (the stamp answers, or exit 3:
           "would step aside"; when it steps aside the real CLI runs the normal path, which is
           --no-fast-path by construction, so only answers the stamp gives need comparing)
    slow   ddbuild -q --no-fast-path, checked against the case's expected exit code (what the
           mutation really did); and for every fast answer, its slow twin: -n --json statuses, and
           a --no-fast-path build (in a copy of the mutated project) whose executions must match.
           The full path runs ``ddbuild.cli.main`` in a child forked from the test process with the
           library preloaded (``_full``: cwd, environment and sys.path as a real process has them),
           so each case pays for planning, not for importing pydantic again.

A corpus line is ``family | case | expected slow -q (0, 1, or * for "whatever it is") | mutation``;
``*`` marks cache entry / blob / view mutations whose full-path answer is the views slice's to
decide (blob verification, views restored): here only fast == full is asserted.
a mutation is operations joined by `` && `` (see ``MUTATIONS``), paths relative to the case root
(``proj/`` holds ddfile.py, ``site/`` a fake installed package on PYTHONPATH). A new finding is one
line. Each family is built once by a real process; cases copy it to the same path (``shutil.copytree``
keeps mtimes, so the copy's stamp still holds: checked once per family), except families marked
``restamp`` (seed stamps record inodes), which re-stamp each copy first.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_ANSWERED = 3

CORPUS = r"""
plain   | build-file-edited            | 1 | edit proj/ddfile.py "{{ n }}:" "{{ n }};"
plain   | build-file-comment-only      | 0 | append proj/ddfile.py "# a comment"
plain   | build-file-touched           | 0 | touch proj/ddfile.py
plain   | helper-module-edited         | 1 | edit proj/helper.py '"h1"' '"h2"'
plain   | helper-module-touched        | 0 | touch proj/helper.py
plain   | file-read-with-open-edited   | 1 | edit proj/settings.json '"w1"' '"w2"'
plain   | file-read-with-open-touched  | 0 | touch proj/settings.json
plain   | env-var-read-changed         | 1 | env TEST_LABEL=v2
plain   | env-var-unrelated-set        | 0 | env SOMETHING_ELSE=1
plain   | env-ddbuild-cache-elsewhere  | 1 | env DDBUILD_CACHE=other-cache
plain   | probed-file-appears          | 1 | write proj/extra.flag "x"
plain   | globbed-dir-gains-a-file     | 1 | write proj/parts/c.txt "c"
plain   | unrelated-file-added         | 0 | write proj/notes.txt "n"
plain   | pyproject-moves-the-cache    | 1 | write proj/pyproject.toml "[tool.ddbuild]\ncache = 'elsewhere'\n"
plain   | pyproject-unrelated-section  | 0 | write proj/pyproject.toml "[tool.black]\nline-length = 99\n"
plain   | package-upgraded-in-place    | 1 | edit site/fakepkg/__init__.py '"one"' '"two"' && rename site/fakepkg-1.0.dist-info site/fakepkg-2.0.dist-info
plain   | package-dist-version-only    | 0 | rename site/fakepkg-1.0.dist-info site/fakepkg-1.1.dist-info
plain   | local-module-shadows-package | 1 | write proj/fakepkg.py "VALUE = 'shadow'\n"
plain   | pythonpath-switched          | 1 | pythonpath site2
plain   | view-file-deleted            | 0 | delete proj/artifacts/**/*.parquet
plain   | view-file-rewritten          | * | rewrite-parquet proj/artifacts/**/*.parquet
plain   | cache-entry-deleted          | 1 | delete proj/.ddbuild/cache/actions/**/*.json
plain   | cache-entry-garbage          | * | garbage proj/.ddbuild/cache/actions/**/*.json
plain   | blob-deleted                 | * | delete proj/.ddbuild/cache/objects/*/*
plain   | blob-bytes-flipped           | * | flip proj/.ddbuild/cache/objects/*/*
plain   | stamp-corrupt                | 0 | garbage proj/.ddbuild/cache/stamps/*.json
seeded  | seed-edited-in-place         | 1 | edit-in-place proj/seed.jsonl "b" "c"
seeded  | seed-touched                 | 0 | touch proj/seed.jsonl
seeded  | seed-replaced-same-bytes     | 0 | replace proj/seed.jsonl
pyarrow | parquet-read-by-pyarrow      | 1 | write-parquet proj/labels.parquet y
pandas  | csv-read-by-pandas           | 1 | write proj/labels.csv "label\ny\n"
numpy   | array-read-by-numpy          | 1 | write-npy proj/weights.npy 7
clock   | clock-read-at-load           | 1 | nothing
random  | random-drawn-at-load         | 1 | nothing
process | file-read-by-a-subprocess    | 1 | write proj/value.txt "y"
socket  | value-fetched-over-http      | 1 | write served/value.txt "y"
"""

BASE = '''
import ddbuild as dd

base = dd.DataDesignerConfigBuilder(seed=3).add_column(
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 100, "decimal_places": 0},
    convert_to="int")
'''
STAGES = '''
middle = dd.DataDesignerConfigBuilder().add_column(name="label", column_type="expression", expr="{{ n }}:" + LABEL)
workflow = dd.DataDesigner().compose_workflow(name="w")
workflow.add_stage("base", base, num_records=6)
workflow.add_stage("middle", middle)
'''
PLAIN = BASE + '''
import glob, json, os
import fakepkg
from helper import SUFFIX

SETTINGS = json.load(open("settings.json"))
LABEL = "-".join([os.environ.get("TEST_LABEL", "v1"), SUFFIX, SETTINGS["word"], fakepkg.VALUE,
                  str(len(glob.glob("parts/*.txt")))])
if os.path.exists("extra.flag"):  # an existence probe (os.stat), not a read
    LABEL += "-extra"
''' + STAGES
SEEDED = '''
import ddbuild as dd

docs = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.jsonl")).add_column(
    name="upper", column_type="expression", expr="{{ text | upper }}")
workflow = dd.DataDesigner().compose_workflow(name="seeded")
workflow.add_stage("docs", docs)
'''
READERS = {
    "pyarrow": 'import pyarrow.parquet as pq\nLABEL = pq.read_table("labels.parquet").column("label")[0].as_py()\n',
    "pandas": 'import pandas as pd\nLABEL = str(pd.read_csv("labels.csv")["label"][0])\n',
    "numpy": 'import numpy as np\nLABEL = str(int(np.load("weights.npy")[0]))\n',
    "clock": 'from datetime import datetime\nLABEL = datetime.now().strftime("%H%M%S%f")\n',
    "random": 'import random\nLABEL = str(random.random())\n',
    "process": 'import subprocess\nLABEL = subprocess.check_output(["cat", "value.txt"], text=True).strip()\n',
    "socket": 'import os, urllib.request\n'
              'LABEL = urllib.request.urlopen(os.environ["VALUE_URL"], timeout=10).read().decode().strip()\n',
}


@dataclass
class Case:
    family: str
    name: str
    expected: str
    mutation: str


def _cases() -> list[Case]:
    cases = []
    for line in CORPUS.strip().splitlines():
        family, name, expected, mutation = (part.strip() for part in line.split("|", 3))
        cases.append(Case(family, name, expected, mutation))
    return cases


# -- mutations ----------------------------------------------------------------------------------
def _glob(root: Path, pattern: str) -> Path:
    found = sorted(p for p in root.glob(pattern) if p.is_file())
    assert found, f"nothing matches {pattern}"
    return found[0]


def _edit(root: Path, env: dict, path: str, old: str, new: str) -> None:
    file = root / path
    text = file.read_text()
    assert old in text, (path, old)
    file.write_text(text.replace(old, new))  # a new file's bytes through the same inode (truncate + write)


def _rewrite_parquet(root: Path, env: dict, pattern: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = _glob(root, pattern)
    table = pq.read_table(file)
    column = pa.array(["edited"] * table.num_rows)
    pq.write_table(table.append_column("edited_by_hand", column), file)  # in place, as pandas.to_parquet


def _flip(root: Path, env: dict, pattern: str) -> None:
    with open(_glob(root, pattern), "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))


def _write_parquet(root: Path, env: dict, path: str, value: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"label": [value]}), root / path)


def _write_npy(root: Path, env: dict, path: str, value: str) -> None:
    import numpy as np

    np.save(root / path, np.array([int(value)]))


def _replace(root: Path, env: dict, path: str) -> None:
    """Same bytes, a new inode (an editor's save-as-new-file)."""
    file = root / path
    shutil.copy2(file, file.with_suffix(".tmp"))
    os.replace(file.with_suffix(".tmp"), file)


def _touch(root: Path, env: dict, path: str) -> None:
    st = (root / path).stat()
    os.utime(root / path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _write(root: Path, env: dict, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text.encode().decode("unicode_escape"))


def _env(root: Path, env: dict, assignment: str) -> None:
    name, _, value = assignment.partition("=")
    env[name] = value


MUTATIONS: dict[str, Callable[..., None]] = {
    "edit": _edit,
    "edit-in-place": _edit,
    "append": lambda root, env, path, text: (root / path).write_text((root / path).read_text() + "\n" + text + "\n"),
    "touch": _touch,
    "write": _write,
    "rename": lambda root, env, old, new: os.rename(root / old, root / new),
    "delete": lambda root, env, pattern: _glob(root, pattern).unlink(),
    "garbage": lambda root, env, pattern: _glob(root, pattern).write_text("{not json"),
    "flip": _flip,
    "rewrite-parquet": _rewrite_parquet,
    "write-parquet": _write_parquet,
    "write-npy": _write_npy,
    "replace": _replace,
    "env": _env,
    "pythonpath": lambda root, env, site: env.update(PYTHONPATH=f"{root / site}{os.pathsep}{REPO}"),
    "nothing": lambda root, env: None,
}


def mutate(root: Path, env: dict, mutation: str) -> None:
    for operation in mutation.split(" && "):
        op, *args = shlex.split(operation)
        MUTATIONS[op](root, env, *args)


# -- projects -----------------------------------------------------------------------------------
def _plain(root: Path) -> None:
    proj = root / "proj"
    (proj / "parts").mkdir(parents=True)
    (proj / "ddfile.py").write_text(PLAIN)
    (proj / "helper.py").write_text('SUFFIX = "h1"\n')
    (proj / "settings.json").write_text('{"word": "w1"}\n')
    (proj / "parts" / "a.txt").write_text("a")
    for site, value, version in (("site", "one", "1.0"), ("site2", "two", "2.0")):
        (root / site / "fakepkg").mkdir(parents=True)
        (root / site / "fakepkg" / "__init__.py").write_text(f'VALUE = "{value}"\n')
        (root / site / f"fakepkg-{version}.dist-info").mkdir()
        (root / site / f"fakepkg-{version}.dist-info" / "METADATA").write_text(f"Name: fakepkg\nVersion: {version}\n")


def _seeded(root: Path) -> None:
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "ddfile.py").write_text(SEEDED)
    (root / "proj" / "seed.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')


def _reader(kind: str, root: Path) -> None:
    proj = root / "proj"
    proj.mkdir(parents=True)
    (proj / "ddfile.py").write_text(BASE + READERS[kind] + STAGES)
    _write_parquet(root, {}, "proj/labels.parquet", "x")
    (proj / "labels.csv").write_text("label\nx\n")
    _write_npy(root, {}, "proj/weights.npy", "3")
    (proj / "value.txt").write_text("x")
    (root / "served").mkdir()
    (root / "served" / "value.txt").write_text("x")


@dataclass
class Family:
    make: Callable[[Path], None]
    restamp: bool = False  # stamps of seeded builds record inodes, which a copy cannot keep
    opaque: bool = False  # the fast path must never answer for this build file


FAMILIES = {"plain": Family(_plain), "seeded": Family(_seeded, restamp=True),
            **{kind: Family(partial(_reader, kind), opaque=True) for kind in READERS}}


def _run(root: Path, env: dict, *args: str, probe: bool = False) -> subprocess.CompletedProcess:
    """``python -m ddbuild.cli ARGS`` in ``root/proj``: a real process, as a user runs it."""
    environ = dict(env, DDBUILD_DEBUG_FASTPATH="only" if probe else "1")
    return subprocess.run([sys.executable, "-m", "ddbuild.cli", *args], cwd=root / "proj", capture_output=True,
                          text=True, timeout=120, env=environ)


@functools.cache
def _interpreter_path() -> tuple[str, ...]:
    """sys.path of a fresh interpreter after its script directory and PYTHONPATH entries."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return tuple(json.loads(out))


def _forked(root: Path, env: dict, *args: str, probe: bool = False) -> subprocess.CompletedProcess:
    """``ddbuild.cli.main(ARGS)`` in a child forked from this process, with cwd, environment and
    sys.path set as ``_run``'s process would have them. A fork server: the child skips re-importing
    click, pydantic and the config models (the full path's fixed ~0.5 s) and runs the same code as
    the console script from there on."""
    import pandas  # noqa: F401 - what builds and the reader families import; their stamps see
    import pyarrow.parquet  # noqa: F401 - the imports anyway in the build file's own source

    import ddbuild.cli.app  # noqa: F401 - preloaded once, shared by every child
    import ddbuild.config.builder  # noqa: F401
    import ddbuild.workflow  # noqa: F401

    cwd = root / "proj"
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - fd 1 lives until _exit
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env, DDBUILD_DEBUG_FASTPATH="only" if probe else "1")
                sys.path[:] = [str(cwd), *env.get("PYTHONPATH", "").split(os.pathsep), *_interpreter_path()]
                from ddbuild.cli import main

                code = main(list(args))
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else 1
            except BaseException:  # noqa: BLE001 - report, never run pytest's code in the child
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, os.waitstatus_to_exitcode(status), out.read(), err.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Serves ``<root>/served`` of the current socket-family case over HTTP (the build file fetches)."""
    state = {"dir": tmp_path_factory.mktemp("served")}

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(state["dir"]), **kwargs)

        def log_message(self, *args):  # quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}/value.txt"
    httpd.shutdown()


@pytest.fixture(scope="module")
def templates(tmp_path_factory, server):
    """family -> (template dir, work dir, env): built once, stamped, then moved aside."""
    base = tmp_path_factory.mktemp("families")
    state, url = server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DDBUILD_", "TEST_"))}
    built: dict[str, tuple[Path, Path, dict]] = {}

    def get(name: str) -> tuple[Path, Path, dict]:
        if name not in built:
            work, template = base / name / "work", base / name / "template"
            FAMILIES[name].make(work)
            family_env = dict(env, PYTHONPATH=f"{work / 'site'}{os.pathsep}{REPO}", VALUE_URL=url)
            state["dir"] = work / "served"
            first = _forked(work, family_env, "-s")
            assert first.returncode == 0, first.stderr
            os.rename(work, template)
            shutil.copytree(template, work, symlinks=True)  # a copy at the same path keeps the stamp valid
            answered = _run(work, family_env, "-q", probe=True)  # a real process finds the stamp valid
            if FAMILIES[name].opaque:  # a stamp exists, but this build file is always loaded
                assert answered.returncode == NOT_ANSWERED and "it is always loaded" in answered.stderr, answered.stderr
            elif not FAMILIES[name].restamp:
                assert answered.returncode == 0 and "fast path:" in answered.stderr, answered.stderr
            shutil.rmtree(work)
            built[name] = (template, work, family_env)
        return built[name]

    return get


def _statuses(document: str) -> dict[str, str]:
    return {s["name"]: s["status"] for w in json.loads(document)["workflows"] for s in w["stages"]}


def _executed(build: subprocess.CompletedProcess) -> list[str]:
    summary = json.loads(build.stdout.splitlines()[-1])
    return [s["name"] for w in summary["workflows"] for s in w["stages"] if s["status"] in ("run", "resume")]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c.family}:{c.name}")
def test_fast_path_answers_as_the_full_path(case: Case, templates, server) -> None:
    template, work, family_env = templates(case.family)
    family = FAMILIES[case.family]
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work, symlinks=True)
    server[0]["dir"] = work / "served"
    env = dict(family_env)
    try:
        if family.restamp:
            assert _forked(work, env, "-s").returncode == 0
            before = _run(work, env, "-q", probe=True)
            assert before.returncode == 0 and "fast path:" in before.stderr, before.stderr

        mutate(work, env, case.mutation)
        fast_q = _run(work, env, "-q", probe=True)  # a real process: the start-up a user gets
        fast_n = _forked(work, env, "-n", "--json", probe=True)
        fast_build = _forked(work, env, "-s", probe=True)
        # Answered from the stamp: "fast path:" on stderr. Otherwise the probe exited NOT_ANSWERED
        # (or, with a ddbuild that predates DDBUILD_DEBUG_FASTPATH=only, ran the normal path).
        answered = ["fast path:" in fast.stderr for fast in (fast_q, fast_n, fast_build)]
        for fast, served in zip((fast_q, fast_n, fast_build), answered, strict=True):
            assert fast.returncode == 0 if served else "Traceback" not in fast.stderr, fast.stderr
        twin = work.with_name("twin")
        if answered[2]:
            shutil.rmtree(twin, ignore_errors=True)
            shutil.copytree(work, twin, symlinks=True)

        slow_q = _forked(work, env, "-q", "--no-fast-path")
        assert slow_q.returncode in (0, 1), slow_q.stderr
        if case.expected != "*":
            assert slow_q.returncode == int(case.expected), f"the mutation did not do what the corpus says\n{slow_q.stderr}"
        if answered[0]:
            assert slow_q.returncode == 0, "fast -q said up to date, the full path says work is pending"
        if answered[1]:
            slow_n = _forked(work, env, "-n", "--json", "--no-fast-path")
            assert _statuses(fast_n.stdout) == _statuses(slow_n.stdout)
        if answered[2]:
            slow_build = _forked(twin, env, "--json", "--no-fast-path")
            assert slow_build.returncode == 0, slow_build.stderr
            assert _executed(slow_build) == [], "the fast path served a no-op build, the full build ran stages"
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(work.with_name("twin"), ignore_errors=True)
