"""Writers racing for the same keys (one shared directory; one S3 remote): nobody sees a corrupt entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ddbuild.store import FileSystemStore, open_store
from ddbuild.store.entry import blob_digests
from tests.sharing.teammates import Teammate

RACERS = 3
ROOT = Path(__file__).resolve().parents[2]


def _race(tmp_path: Path, env: dict[str, str]) -> list[Path]:
    dirs = [tmp_path / f"racer{i}" for i in range(RACERS)]
    procs = []
    for folder in dirs:
        folder.mkdir()
        procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "sharing" / "race_build.py"), str(folder)],
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        ))
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    return dirs


def _check_store(store, keys: list[str], scratch: Path) -> None:
    for key in keys:
        entry = store.get_entry(key)  # schema-checked: None if corrupt
        assert entry is not None and entry["key"] == key
        for digest in blob_digests(entry):
            assert store.get_blob(digest, scratch / digest)  # verified against its digest


@pytest.mark.parametrize("where", ["shared-dir", "s3"])
def test_racing_writers_leave_valid_entries(where, tmp_path, request):
    if where == "shared-dir":
        shared = tmp_path / "team-cache"
        settings = {"cache": str(shared)}
        dirs = _race(tmp_path, {"DDBUILD_CACHE": str(shared)})
        store = FileSystemStore(shared)
        assert not [p for p in (shared / "actions").rglob("*") if p.is_file() and not p.name.endswith(".json")]
    else:
        url = request.getfixturevalue("s3_remote")
        settings = {"remote": url}
        dirs = _race(tmp_path, {"DDBUILD_REMOTE": url, "DDBUILD_REMOTE_UPLOAD": "1"})
        store = open_store(url)
    keys = list(Teammate(dirs[0], **settings).keys().values())
    assert all(keys)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    _check_store(store, keys, scratch)
    assert len({Teammate(d).output("b") for d in dirs}) == 1  # everyone's view holds the same bytes
    assert Teammate(tmp_path / "late", **settings).run() == {"a": "hit", "b": "hit"}
