"""--executor ray: a stage's batches as Ray tasks, with the bytes, digests and keys of a local build.

Real Ray on this machine (a session-wide ``ray.init(num_cpus=2)``), the OpenAI-compatible test
server on loopback; every build is compared with the same workflow built locally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.scaleout import ray_helpers
from tests.scaleout.conftest import REPO, build


def test_a_ray_build_has_the_bytes_digests_and_keys_of_a_local_build(ray_session, server, reference, tmp_path,
                                                                   monkeypatch):
    events = Events()
    built = build(server, tmp_path / "ray", monkeypatch, executor="ray", reporter=events)
    # progress on the driver: batches done / total and the cluster's requests, per stage
    assert [(e.batches_done, e.batches_total, e.llm_requests_sent) for e in events.batches("qa")][-1] == (3, 3, 60)
    assert [e.rows_done for e in events.batches("topics")] == [10, 20, 30]
    assert built.keys == reference.keys
    assert built.selected == reference.selected
    assert built.outputs == reference.outputs  # every file: batches, side outputs
    assert built.metadata == reference.metadata  # batches, rows, drops, LLM usage
    assert built.requests == reference.requests == 60  # 30 rows x 2 LLM columns, each asked once
    assert sorted(built.results.executed_stages()) == ["joined", "qa", "style", "topics"]
    again = build(server, tmp_path / "ray", monkeypatch, executor="ray")
    assert again.results.executions == 0 and again.requests == 0


class Events:
    """A reporter keeping every event (the executor serialises emit calls)."""

    def __init__(self):
        self.seen = []

    def emit(self, event):
        self.seen.append(event)

    def batches(self, stage):
        from ddbuild.execution.events import BatchDone

        return [e for e in self.seen if isinstance(e, BatchDone) and e.stage == stage]


def test_create_and_preview_on_ray_write_the_bytes_of_a_local_run(ray_session, server, tmp_path, monkeypatch):
    from ddbuild.errors import GenerationError

    monkeypatch.delenv("DDBUILD_CACHE", raising=False)
    monkeypatch.delenv("DDBUILD_EXECUTOR", raising=False)
    runs = {}
    for executor in ("local", "ray"):
        folder = tmp_path / executor  # its own cache: every reply is asked for again
        folder.mkdir()
        monkeypatch.chdir(folder)
        designer, builder = ray_helpers.single(server, executor=executor)
        before = server.total
        created = designer.create(builder, num_records=30, dataset_name="d")
        sent = server.total - before
        files = {p.relative_to(created.base_dataset_path).as_posix(): p.read_bytes()
                 for p in sorted(created.base_dataset_path.rglob("*.parquet"))}
        preview = designer.preview(builder, num_records=12)  # replies cached by create: none sent
        runs[executor] = (files, sent, server.total - before - sent, preview)
        with pytest.raises(GenerationError) as failed:  # where the batches ran: the error says
            designer.create(builder.add_column(name="y", column_type="custom", generator_function=ray_helpers.breaks),
                            num_records=10, dataset_name="broken")
        assert ("(batch 0, Ray worker on " in failed.value.message) == (executor == "ray"), failed.value.message
    (local, local_sent, local_again, local_preview), (ray, ray_sent, ray_again, ray_preview) = runs.values()
    assert sorted(ray) == sorted(local) and len([f for f in ray if f.startswith("parquet-files/")]) == 3
    assert ray == local  # every batch file and processor file, byte for byte
    assert ray_sent == local_sent == 60 and ray_again == local_again == 0
    assert ray_preview.dataset.equals(local_preview.dataset) and len(ray_preview.dataset) == 12
    assert ray_preview.processor_artifacts["side"].equals(local_preview.processor_artifacts["side"])


def test_max_parallel_requests_holds_across_the_workers(ray_session, server, tmp_path, monkeypatch):
    # Two workers each run a batch of the same model at once; 3 per batch would be 6 in flight.
    server.reset()
    build(server, tmp_path / "p", monkeypatch, executor="ray", workflow={"parallel": 3, "name": "limit"})
    assert server.max_in_flight == 3


def test_a_rate_limiting_endpoint_brings_the_clusters_in_flight_down_as_it_does_locally(ray_session, tmp_path,
                                                                                       monkeypatch):
    # Two batches at once on two workers, 24 in flight allowed cluster-wide; the server refuses
    # (429) a 7th request in flight. Workers hand slots on between their own requests, so the
    # limiter's adaptive limit must still reach them: the cluster settles at the server's limit.
    import ddbuild as dd
    from tests.openai_server import start_server

    limited = start_server(latency_ms=20)
    limited.set_concurrency_limit(6)
    tuning = dd.RequestAdmissionTuningConfig(cooldown_seconds=0.05, successes_until_increase=10)
    monkeypatch.chdir(tmp_path)
    try:
        designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=limited.url)])
        designer.set_run_config(dd.RunConfig(buffer_size=100, request_admission=tuning))
        model = dd.ModelConfig(alias="m", model="limited-model", provider="local",
                               inference_parameters={"max_parallel_requests": 24})
        builder = (dd.DataDesignerConfigBuilder(model_configs=[model], seed=1)
                   .add_column(name="i", column_type="sampler", sampler_type="uuid", params={})
                   .add_column(name="answer", column_type="llm-text", model_alias="m", prompt="Row {{ i }}"))
        wf = designer.compose_workflow(name="aimd")
        wf.add_stage("s", builder, num_records=400)
        df = wf.run(executor="ray").load_dataset()
        refused, answered, arrivals = limited.by_status[429], limited.by_status[200], limited.arrivals
    finally:
        limited.stop()
    assert len(df) == 400 and answered == 400  # every row answered once; the 429s were retried
    assert 0 < refused < 100
    assert max(arrivals[:30]) > 6  # it started above the server's limit and was pushed back...
    assert max(arrivals[len(arrivals) // 2:]) <= 7, arrivals[len(arrivals) // 2:]  # ...to within one step


def test_a_worker_error_names_stage_and_batch_without_a_ray_traceback(ray_session, server, tmp_path, monkeypatch):
    import ddbuild as dd

    @dd.custom_column_generator(required_columns=["x"])
    def breaks(row):
        raise ValueError(f"x is {row['x']:.2f}, which this column cannot take")

    monkeypatch.chdir(tmp_path)
    wf = dd.DataDesigner().compose_workflow(name="err")
    wf.add_stage("gen", dd.DataDesignerConfigBuilder(seed=3).add_column(
        name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10}).add_column(
        name="y", column_type="custom", generator_function=breaks), num_records=30)
    local = _error(wf, "local")
    remote = _error(wf, "ray")
    assert type(remote) is type(local)
    assert remote.stage == local.stage == "gen"
    assert remote.message.startswith(local.message)
    assert "(batch " in remote.message and "Ray worker on" in remote.message
    assert "RayTaskError" not in str(remote) and "Traceback" not in str(remote)


def _error(wf, executor):
    from ddbuild.errors import DDBuildError

    with pytest.raises(DDBuildError) as caught:
        wf.run(executor=executor, resume="never")
    return caught.value


def test_the_core_never_imports_ray_and_explain_is_the_same_with_it(tmp_path):
    (tmp_path / "ddfile.py").write_text(
        "import ddbuild as dd\n"
        "wf = dd.DataDesigner().compose_workflow(name='w')\n"
        "wf.add_stage('a', dd.DataDesignerConfigBuilder().add_column(name='x', column_type='sampler',"
        " sampler_type='uniform', params={'low': 0, 'high': 1}), num_records=5)\n"
    )
    probe = ("import runpy, sys\nsys.argv = ['ddbuild', '-C', sys.argv[1]]\n"
             "try:\n    runpy.run_module('ddbuild.cli', run_name='__main__')\nexcept SystemExit as e:\n"
             "    assert not e.code, e.code\nprint('RAY' if 'ray' in sys.modules else 'NO-RAY')\n")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.stdout.strip().endswith("NO-RAY"), done.stderr
    explain = [subprocess.run([sys.executable, "-m", "ddbuild.cli", "-C", str(tmp_path), "--explain", "-B", *extra],
                              capture_output=True, text=True, env=env, timeout=120) for extra in ([], ["--executor", "ray"])]
    assert explain[0].returncode == explain[1].returncode == 0, explain[1].stderr
    assert explain[0].stdout == explain[1].stdout and "a" in explain[0].stdout


def test_an_unknown_executor_is_refused_before_any_stage_runs(server, tmp_path, monkeypatch):
    from ddbuild.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"executor = 'spark' is not an executor\..*'ray://host:port'"):
        ray_helpers.workflow(server).run(executor="spark")
    assert not (tmp_path / ".ddbuild" / "cache" / "entries").exists() or not any(
        (tmp_path / ".ddbuild" / "cache" / "entries").iterdir())


# ---- Faults: a worker killed mid-batch, the driver killed mid-stage

def _slow(server):
    server.reset()
    server.add_fault("slow", times=None, delay=0.25)  # batches last long enough to be interrupted


def test_a_worker_killed_mid_batch_is_retried_and_resends_at_most_what_was_in_flight(
        ray_session, server, reference, tmp_path, monkeypatch):
    _slow(server)
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            pids = ray_helpers.batch_processes(os.getpid()) if server.in_flight >= 2 else []
            if pids:  # qa is the only stage sending requests: this worker is half-way through one of its batches
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        built = build(server, tmp_path / "k", monkeypatch, executor="ray", targets="qa")
    finally:
        thread.join()
        server.reset()
    assert killed, "no batch worker was found to kill"
    assert built.outputs["qa"] == reference.outputs["qa"] and built.keys["qa"] == reference.keys["qa"]
    resent = built.requests - 60
    assert 0 <= resent <= 4  # what was in flight (max_parallel_requests=4); answered replies were cached


DRIVER = """
import os, sys
import ray
from tests.scaleout import ray_helpers
ray.init(address=sys.argv[2], log_to_driver=False)
os.chdir(sys.argv[3])
ray_helpers.workflow(sys.argv[1]).run(executor="ray", targets="qa")
"""


def test_a_driver_killed_mid_stage_resumes_from_its_completed_batches(
        ray_session, server, reference, tmp_path, monkeypatch):
    folder = tmp_path / "d"
    folder.mkdir()
    _slow(server)
    address = ray_session.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": str(REPO), "DDBUILD_CACHE": ""}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, server.url, address, str(folder)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = folder / ".ddbuild" / "cache" / "partial" / reference.keys["qa"] / "dataset" / "metadata.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and driver.poll() is None:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["num_completed_batches"] >= 1:
            break
        time.sleep(0.05)
    assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
    driver.kill()
    driver.wait()
    first = server.total
    try:
        built = build(server, folder, monkeypatch, executor="ray", targets="qa")
    finally:
        server.reset()
    assert built.results.stages["qa"].status.value == "resume"
    assert built.outputs["qa"] == reference.outputs["qa"] and built.keys["qa"] == reference.keys["qa"]
    assert first >= 20  # at least one batch (10 rows x 2 columns) was answered before the kill
    assert 0 <= first + built.requests - 60 <= 4  # re-sent: at most what was in flight at the kill


# ---- Two nodes (`ray start` twice on this machine): a cache every node reaches, or a clear error

BUILD_FILE = """
import os
from tests.scaleout import ray_helpers
wf = ray_helpers.workflow(os.environ["LLM_URL"])
"""


def _cli(project, env, *args):
    return subprocess.run([sys.executable, "-m", "ddbuild.cli", "-C", str(project), "--executor", "ray", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def _project(tmp_path, name):
    project = tmp_path / name
    project.mkdir()
    (project / "ddfile.py").write_text(BUILD_FILE)
    return project


class Remote:
    """A remote cache every node reaches: a directory (here: on the same disk) or moto's S3 server."""

    def __init__(self, kind, tmp_path, request):
        self.kind = kind
        if kind == "shared":
            self.root = tmp_path / "shared"
            self.url = str(self.root)
        else:
            self.moto = request.getfixturevalue("moto")
            self.prefix = f"ray-{uuid.uuid4().hex[:8]}"
            self.url = self.moto.url(self.prefix)

    def names(self, folder):
        """The objects under ``folder`` of the remote (relative paths)."""
        if self.kind == "shared":
            return [p.relative_to(self.root / folder).as_posix() for p in (self.root / folder).rglob("*") if p.is_file()]
        from pyarrow.fs import FileSelector, FileType

        base = f"{self.moto.bucket}/{self.prefix}/{folder}"
        infos = self.moto.filesystem().get_file_info(FileSelector(base, allow_not_found=True, recursive=True))
        return [i.path[len(base) + 1:] for i in infos if i.type == FileType.File]

    def read(self, folder, rel):
        if self.kind == "shared":
            return (self.root / folder / rel).read_bytes()
        with self.moto.filesystem().open_input_stream(f"{self.moto.bucket}/{self.prefix}/{folder}/{rel}") as stream:
            return stream.read()


@pytest.mark.ray_cluster
@pytest.mark.parametrize("kind", ["shared", "moto"])
def test_two_nodes_need_a_remote_and_then_build_the_same_bytes(cluster, server, reference, tmp_path, request, kind):
    from ddbuild.store.fs import FileSystemStore

    project = _project(tmp_path, "two-nodes")
    env = {**cluster.env, "LLM_URL": server.url, "DDBUILD_CACHE": ""}
    remote = Remote(kind, tmp_path, request)
    before = server.total
    if kind == "shared":  # once is enough: the refusal does not depend on the remote
        refused = _cli(project, env)
        assert refused.returncode == 2, refused.stderr
        assert "build of scale not started: --executor ray: the Ray cluster has 2 nodes, but the cache" in refused.stderr
        assert "Set a remote every node can reach: --remote s3://bucket/prefix" in refused.stderr
        assert server.total == before  # refused before any stage ran

    done = _cli(project, env, "--remote", remote.url)
    assert done.returncode == 0, done.stderr
    assert server.total - before == 60
    # The workers' replies are on the remote in packs: a pack and its index per batch, not one per reply.
    packs = remote.names("llm-packs")
    assert remote.names("llm") == [] and 2 <= len(packs) <= 2 * 6 and len(packs) % 2 == 0
    assert sum(len(json.loads(remote.read("llm-packs", p))["responses"]) for p in packs if p.endswith(".json")) >= 60
    assert remote.names("checkpoints") == []  # the stages' checkpoints went when their entries were published
    store = FileSystemStore(project / ".ddbuild" / "cache")
    for stage, key in reference.keys.items():
        index = json.loads((project / ".ddbuild" / "cache" / "index" / "scale" / f"{stage}.json").read_text())
        assert index["key"] == key
        entry = store.get_entry(key)
        assert {o["path"]: o["digest"] for o in entry["outputs"] if o["path"] != "metadata.json"} == (
            reference.outputs[stage])


@pytest.mark.ray_cluster
def test_a_driver_killed_on_one_machine_resumes_on_another_from_the_remote_checkpoints(
        cluster, server, reference, tmp_path):
    from ddbuild.store.fs import FileSystemStore

    project = _project(tmp_path, "kill")
    shared = tmp_path / "shared"
    machine = {name: {**cluster.env, "LLM_URL": server.url, "DDBUILD_CACHE": str(tmp_path / name)}
               for name in ("machine-a", "machine-b")}  # two local caches, one remote: two machines
    key = reference.keys["qa"]
    record = shared / "checkpoints" / key / "record.json"
    _slow(server)
    driver = subprocess.Popen(
        [sys.executable, "-m", "ddbuild.cli", "-C", str(project), "--executor", "ray", "--remote", str(shared), "qa"],
        env=machine["machine-a"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None and not record.exists():
        time.sleep(0.05)
    assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
    driver.kill()
    driver.wait()
    first = server.total
    recorded = sorted(json.loads(record.read_text())["batches"])
    try:
        resumed = _cli(project, machine["machine-b"], "--remote", str(shared), "--json", "qa")
        second = server.total - first
    finally:
        server.reset()
    assert resumed.returncode == 0, resumed.stderr
    summary = {s["name"]: s for w in json.loads(resumed.stdout.splitlines()[-1])["workflows"] for s in w["stages"]}
    assert summary["qa"]["status"] == "resume"
    assert 1 <= len(recorded) < 3  # killed mid-stage, after at least one batch was checkpointed
    assert summary["qa"]["rows_generated"] == 10 * (3 - len(recorded))  # completed batches were not generated again
    assert 0 <= first + second - 60 <= 4  # re-sent: at most what was in flight at the kill
    entry = FileSystemStore(tmp_path / "machine-b").get_entry(key)
    assert {o["path"]: o["digest"] for o in entry["outputs"] if o["path"] != "metadata.json"} == reference.outputs["qa"]
    assert entry.get("unverified")  # built from what the remote served (replies, checkpoints), unsigned
    assert not (shared / "checkpoints" / key).exists()  # dropped once the entry was published
