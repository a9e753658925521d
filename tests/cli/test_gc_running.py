"""``cache gc`` beside a running build, and what it collects: stale temp files, abandoned checkpoints.

The build runs in a subprocess against the slow stub LLM server (so it is mid-stage while gc
runs); each stage's ``on_success`` sleeps, which holds the stage between storing its blobs and
publishing its entry, the window in which gc used to delete them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ddbuild.store.fs import BlobState, FileSystemStore
from tests.openai_server import start_server

BUILD = '''
import os
import time

import ddbuild as dd

provider = dd.ModelProvider(name="stub", endpoint=os.environ["OPENAI_BASE_URL"], api_key="env:OPENAI_API_KEY")
model = dd.ModelConfig(alias="m", model="stub-model", provider="stub",
                       inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=4))


def slow_publish(stage_dir):  # runs after the stage's blobs are stored, before its entry is published
    time.sleep(float(os.environ.get("TEST_PUBLISH_DELAY", "0")))
    return stage_dir / "parquet-files"


topics = dd.DataDesignerConfigBuilder(seed=1).add_column(
    name="topic", column_type="sampler", sampler_type="category", params={"values": ["tea", "rain", "maps"]})
questions = dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
    name="question", column_type="llm_text", model_alias="m", prompt="Ask about {{ topic }}.")
answers = dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
    name="answer", column_type="llm_text", model_alias="m", prompt="Answer: {{ question }}")

designer = dd.DataDesigner(model_providers=[provider])
designer.set_run_config(dd.RunConfig(buffer_size=4))
workflow = designer.compose_workflow(name="qa")
workflow.add_stage("topics", topics, num_records=12, on_success=slow_publish, on_success_version="1")
workflow.add_stage("questions", questions, on_success=slow_publish, on_success_version="1")
workflow.add_stage("answers", answers, on_success=slow_publish, on_success_version="1")
'''


def _ddbuild_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("ddbuild")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ddbuild.cli"]


def test_gc_beside_a_running_build_deletes_nothing_it_needs(project, monkeypatch):
    project.write(BUILD)
    server = start_server(latency_ms=150)  # 12 rows, 4 at a time: each LLM stage takes ~0.5 s
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # gc loads the build file too
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    env = {**os.environ, "TEST_PUBLISH_DELAY": "0.7"}
    try:
        build = subprocess.Popen([*_ddbuild_cmd(), "-s"], cwd=project.root, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reports = []
        deadline = time.monotonic() + 120
        while build.poll() is None and time.monotonic() < deadline:
            gc = project.main("cache", "gc", "--prune=now", "--keep-last", "0", "--json")
            assert gc.exit_code == 0, gc.stderr
            reports.append(json.loads(gc.stdout))
        _, err = build.communicate(timeout=60)
    finally:
        server.stop()
    assert build.returncode == 0, err
    assert any(r["live_builds"] == 1 for r in reports), "gc never ran while the build did"
    assert any(r["pinned_blobs"] or r["busy_partials"] for r in reports), "gc never met in-flight work"
    store = FileSystemStore(project.root / ".ddbuild" / "cache")
    entries = [store.get_entry(k) for k in store.list_entries()]
    assert sorted(e["stage"] for e in entries) == ["answers", "questions", "topics"]
    for entry in entries:
        for output in entry["outputs"]:
            assert store.check_blob(output["digest"]) is BlobState.OK, (entry["stage"], output["path"])
    assert project.main("-q").exit_code == 0  # up to date: nothing was lost
    assert not list((project.root / ".ddbuild" / "cache" / "pins").iterdir())  # the build dropped its pin


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _plant(path: Path, data: bytes = b"x", age_s: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return _age(path, age_s)


def test_gc_collects_stale_temp_files_and_abandoned_checkpoints_but_not_fresh_ones(chain):
    chain.run()
    cache = chain.root / ".ddbuild" / "cache"
    hour = 3600
    old, recent_s, fresh = 3 * hour, 20 * 60, 60
    # one line per leftover: (path, age in seconds, collected by the default --prune=2h, by --prune=now)
    leftovers = [
        (cache / "objects" / "ab" / ".tmp-123-deadbeef-ab00", old, True, True),
        (cache / "objects" / "ab" / ".tmp-124-deadbeef-ab01", recent_s, False, True),
        (cache / "objects" / "ab" / ".tmp-124-deadbeef-ab02", fresh, False, False),  # may be in flight
        (cache / "actions" / "cd" / ".tmp-125-00000000-cd.json", old, True, True),
        (cache / "llm" / "ef" / ".ef00.json.x1y2.tmp", old, True, True),  # an older writer's temp name
        (cache / "index" / "chain" / ".tmp-126-00000000-base.json", fresh, False, False),
        (cache / "objects" / "ff" / ("ff" * 16), old, True, True),  # an unreferenced blob
        (cache / "objects" / "fe" / ("fe" * 16), fresh, False, True),  # unreferenced, but just written
    ]
    for path, age, _, _ in leftovers:
        _plant(path, age_s=age)
    abandoned, recent = "a1" * 16, "b2" * 16
    for key, age in ((abandoned, old), (recent, fresh)):
        batch = _plant(cache / "partial" / key / "dataset" / "parquet-files" / "batch_00000.parquet", age_s=age)
        for folder in (batch.parent, batch.parent.parent, batch.parent.parent.parent):
            _age(folder, age)

    result = chain.main("cache", "gc")
    assert result.exit_code == 0, result.stderr
    assert "deleted 3 stale temp files and 1 abandoned checkpoint folders" in result.stdout
    assert "kept 1 unreferenced blobs and 1 checkpoint folders younger than 2h (--prune=now to delete them)" \
        in result.stdout
    for path, _, collected, _ in leftovers:
        assert path.exists() is not collected, path
    assert not (cache / "partial" / abandoned).exists() and (cache / "partial" / recent).exists()
    assert chain.main("-q").exit_code == 0

    assert chain.main("cache", "gc", "--prune=now").exit_code == 0
    for path, _, _, collected in leftovers:
        assert path.exists() is not collected, path
    assert not (cache / "partial" / recent).exists()


def test_gc_keeps_checkpoints_a_build_holds_and_those_the_build_file_resumes(chain):
    from ddbuild.execution.locks import key_lock
    from ddbuild.store.pins import key_lock_path

    chain.run()
    cache = chain.root / ".ddbuild" / "cache"
    busy = "c3" * 16
    _plant(cache / "partial" / busy / "dataset" / "metadata.json", age_s=3 * 3600)
    with key_lock(key_lock_path(cache, busy)):  # as a build of that key holds it
        held = json.loads(chain.main("cache", "gc", "--prune=now", "--json").stdout)
    assert held["busy_partials"] == 1 and held["partials"] == [] and (cache / "partial" / busy).exists()
    gone = json.loads(chain.main("cache", "gc", "--prune=now", "--json").stdout)
    assert gone["partials"] == [busy] and not (cache / "partial" / busy).exists()


def test_prune_values(chain):
    assert "is not a duration" in chain.main("cache", "gc", "--prune=soon").stderr
    assert chain.main("cache", "gc", "--prune=never").exit_code == 0
    assert chain.main("cache", "gc", "--prune=1.5d").exit_code == 0


def test_a_pin_keeps_old_unreferenced_blobs_until_its_build_ends_or_dies(tmp_path):
    from datetime import datetime, timezone

    from ddbuild.fingerprint import digest_bytes
    from ddbuild.store.gc import Policy, collect_garbage
    from ddbuild.store.pins import Pin

    store = FileSystemStore(tmp_path)
    digests = []
    for data in (b"kept by a live pin", b"pinned by a build that died"):
        source = _plant(tmp_path.parent / "src.bin", data)
        digests.append(digest_bytes(data))
        store.put_blob(digests[-1], source)
        _age(store.blob_path(digests[-1]), 3 * 3600)
    died = subprocess.run(  # a build killed without dropping its pin: os._exit skips every cleanup
        [sys.executable, "-c", "import os, sys; from ddbuild.store.pins import Pin; "
         f"p = Pin(sys.argv[1]).__enter__(); p.hold(blobs=[{digests[1]!r}]); os._exit(9)", str(tmp_path)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=60)
    assert died.returncode == 9
    now = datetime.now(timezone.utc)
    with Pin(tmp_path) as pin:
        pin.hold(blobs=[digests[0]])
        first = collect_garbage(store, tmp_path, Policy(grace_s=0), now)
        assert (first.blobs, first.pinned_blobs, first.live_pins, first.dead_pins) == ([digests[1]], 1, 1, 1)
        assert store.has_blob(digests[0]) and not store.has_blob(digests[1])
    second = collect_garbage(store, tmp_path, Policy(grace_s=0), now)
    assert (second.blobs, second.live_pins, second.dead_pins) == ([digests[0]], 0, 0)
    assert list((tmp_path / "pins").iterdir()) == []


def test_gc_deletes_unused_lock_files_and_a_waiting_builder_keeps_mutual_exclusion(chain, tmp_path):
    import fcntl
    import threading

    from ddbuild.execution.locks import key_lock

    chain.run()
    locks = chain.root / ".ddbuild" / "cache" / "locks"
    keys = sorted(p.name for p in locks.glob("*.lock") if p.name != "gc.lock")
    assert len(keys) == 3
    assert json.loads(chain.main("cache", "gc", "--json").stdout)["locks"] == 0  # younger than 2h
    assert json.loads(chain.main("cache", "gc", "--prune=now", "--json").stdout)["locks"] == 3
    assert not [p for p in locks.glob("*.lock") if p.name != "gc.lock"]
    assert chain.main("-B", "-s").exit_code == 0  # builds make them again

    # gc deletes a lock file while holding it; a builder already waiting on it must not then
    # share the lock with one that opened the new file
    path = tmp_path / "k.lock"
    path.touch()
    gc_fd = os.open(path, os.O_RDWR)
    fcntl.flock(gc_fd, fcntl.LOCK_EX)
    entered = threading.Event()

    def builder() -> None:
        with key_lock(path):
            entered.set()

    waiting = threading.Thread(target=builder)
    waiting.start()
    time.sleep(0.3)  # the builder opened the old file and waits for its lock
    path.unlink()
    other_fd = os.open(path, os.O_RDWR | os.O_CREAT)  # a second builder takes the new file
    fcntl.flock(other_fd, fcntl.LOCK_EX)
    os.close(gc_fd)
    assert not entered.wait(0.5)  # the first builder noticed the old file lost its name
    os.close(other_fd)
    assert entered.wait(10)
    waiting.join()

