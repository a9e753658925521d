"""Fixtures for the Ray tests: one local Ray instance per session, the LLM test server, a reference build.

Ray is optional (``pip install 'ddbuild[ray]'``): without it every test here is skipped, saying so.
Ray's own files go to a short temporary directory of ours, and only what we started is stopped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.openai_server import FakeOpenAIServer, start_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """``ray.init(num_cpus=2)`` once: builds with ``executor="ray"`` use the running instance."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'ddbuild[ray]' to run the Ray tests")
    temp = tempfile.mkdtemp(prefix="ddray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    running = start_server(latency_ms=20)
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Built:
    keys: dict[str, str]
    outputs: dict[str, dict[str, str]]  # stage -> {path: digest} of every data file its entry stores
    metadata: dict[str, dict[str, Any]]  # stage -> its metadata.json, but config_digest (see below)
    selected: dict[str, str]  # stage -> selected output digest
    requests: int
    results: Any


def build(server: FakeOpenAIServer, folder: Path, monkeypatch: pytest.MonkeyPatch, **run: Any) -> Built:
    """Build the tests' workflow in ``folder`` (its own cache) and read back what it stored."""
    from ddbuild.store.fs import FileSystemStore
    from tests.scaleout import ray_helpers

    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("DDBUILD_CACHE", raising=False)
    before = server.total
    results = ray_helpers.workflow(server, **run.pop("workflow", {})).run(**run)
    store = FileSystemStore(folder / ".ddbuild" / "cache")
    keys = {name: stage.key for name, stage in results.stages.items()}
    entries = {name: store.get_entry(key) for name, key in keys.items()}
    return Built(
        keys=keys,
        outputs={name: {o["path"]: o["digest"] for o in entry["outputs"] if o["path"] != "metadata.json"}
                 for name, entry in entries.items()},
        metadata={name: _metadata(store, entry) for name, entry in entries.items()},
        selected={name: entry["selected_output"]["digest"] for name, entry in entries.items()},
        requests=server.total - before, results=results,
    )


def _metadata(store: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """metadata.json without ``config_digest``: for a stage with parents that digest covers the
    seed's path, which names the build folder (two local builds in two folders differ there too)."""
    import json

    digest = next(o["digest"] for o in entry["outputs"] if o["path"] == "metadata.json")
    data = json.loads(store.blob_path(digest).read_text(encoding="utf-8"))
    data.pop("config_digest")
    return data


@pytest.fixture(scope="module")
def reference(server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The workflow built locally, once: what every Ray build must reproduce byte for byte."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return build(server, tmp_path_factory.mktemp("local"), monkeypatch, executor="local")


@dataclass
class Cluster:
    address: str
    temp: str
    env: dict[str, str]


def _ray_pids(marker: str) -> list[int]:
    """Pids of processes whose command line names ``marker`` (our cluster's temp dir), and their children."""
    found: set[int] = set()
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        parents[int(entry.name)] = ppid
        if marker in command:
            found.add(int(entry.name))
    grown = True
    while grown:
        children = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= children
        grown = bool(children)
    return sorted(found)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Two Ray nodes on this machine (``ray start --head`` + ``ray start --address``, one CPU each),
    Ray's files in a temp dir of ours; stopped by killing exactly the processes that name it."""
    import signal
    import socket
    import subprocess
    import time

    pytest.importorskip("ray", reason="Ray is not installed: pip install 'ddbuild[ray]' to run the Ray tests")
    ray_cli = shutil.which("ray")
    if ray_cli is None:
        pytest.skip("the `ray` command is not on PATH")
    temp = tempfile.mkdtemp(prefix="ddrc", dir="/tmp")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The workers reach the moto S3 remote with moto's test credentials (tests/store/store_servers.py).
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **os.environ,
           "PYTHONPATH": str(REPO), "RAY_ADDRESS": "", "RAY_AUTH_MODE": "token",
           "DDBUILD_WORKER_CACHE": os.path.join(temp, "worker-caches")}  # not the user's ~/.cache
    common = ["--num-cpus=1", "--disable-usage-stats"]
    try:
        subprocess.run([ray_cli, "start", "--head", f"--port={port}", f"--temp-dir={temp}",
                        "--include-dashboard=false", *common], env=env, check=True, capture_output=True, timeout=180)
        subprocess.run([ray_cli, "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True,
                       capture_output=True, timeout=180)
        yield Cluster(f"127.0.0.1:{port}", temp, {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"})
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _ray_pids(temp):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(1)
        shutil.rmtree(temp, ignore_errors=True)
