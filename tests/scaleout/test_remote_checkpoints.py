"""Batch checkpoints on a remote (what a multi-node Ray build keeps there): written from the
engine's record, restored on another machine to the same bytes, anything hostile or corrupt
ignored with a warning (that batch generated again), deleted once the stage is published.

No Ray needed: the driver's side runs here on a real engine run and a directory remote; the
cluster tests in test_ray.py run it end to end.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.engine.dataset import generate_dataset
from ddbuild.engine.identity import config_digest
from ddbuild.execution.checkpoints import StageCheckpoints
from ddbuild.store.checkpoints import RemoteCheckpoints
from ddbuild.store.fs import FileSystemStore

KEY = "0123456789abcdef0123456789abcdef"
RUN = dd.RunConfig(buffer_size=10)


def _config():
    return (dd.DataDesignerConfigBuilder(seed=5)
            .add_column(name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 9})
            .add_column(name="e", column_type="expression", expr="{{ x }}!")
            .add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"t": "{{ e }}"}))
            .build(base_dir=Path.cwd()))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


@pytest.fixture
def saved(tmp_path, monkeypatch):
    """A 30-row run (3 batches) on "machine A", its checkpoints saved to a directory remote."""
    monkeypatch.chdir(tmp_path)
    dataset = tmp_path / "a" / "dataset"
    generate_dataset(_config(), num_records=30, dataset_dir=dataset, run_config=RUN, resume=False, base_dir=tmp_path)
    remote = RemoteCheckpoints(FileSystemStore(tmp_path / "remote"))
    StageCheckpoints(remote, KEY).save(dataset)  # no worker uploaded: the driver uploads every file
    return tmp_path, dataset, remote


def _restore(root: Path, remote: RemoteCheckpoints, folder: str = "b") -> tuple[int, Path, StageCheckpoints]:
    dataset = root / folder / "dataset"
    checkpoints = StageCheckpoints(remote, KEY)
    restored = checkpoints.restore(dataset, config_digest(_config(), RUN, root), 30, RUN)
    return restored, dataset, checkpoints


def _resume(root: Path, dataset: Path):
    return generate_dataset(_config(), num_records=30, dataset_dir=dataset, run_config=RUN, resume=True, base_dir=root)


def test_another_machine_resumes_from_the_remote_checkpoints_to_the_same_bytes(saved):
    root, original, remote = saved
    restored, dataset, checkpoints = _restore(root, remote)
    assert restored == 3 and checkpoints.unverified and "carry no signature" in checkpoints.unverified
    summary = _resume(root, dataset)
    assert (summary.batches_reused, summary.batches_generated) == (3, 0)
    assert _files(dataset) == _files(original) and len(_files(original)) == 6  # batches + side outputs
    checkpoints.drop()
    assert not (root / "remote" / "checkpoints" / KEY).exists()


def _record(remote: RemoteCheckpoints) -> dict:
    return remote.get_record(KEY)


def _tamper(root: Path, remote: RemoteCheckpoints, change) -> None:
    record = _record(remote)
    change(record)
    remote.put_record(KEY, record)


@pytest.mark.parametrize("case, warning", [
    ("path", "names '../../escape/batch_00001.parquet', which is not one of its own files"),
    ("other-batch", "names 'parquet-files/batch_00002.parquet', which is not one of its own files"),
    ("count", "it has counts that are not non-negative integers"),
    ("corrupt", "cannot be used (blob"),
    ("not-parquet", "but it does not start and end with the Parquet magic bytes"),
    ("missing", "which the remote does not hold"),
])
def test_a_hostile_or_corrupt_batch_checkpoint_is_ignored_and_generated_again(saved, caplog, case, warning):
    root, original, remote = saved
    folder = root / "remote" / "checkpoints" / KEY

    def blob_of(record, rel="parquet-files/batch_00001.parquet"):
        digest = record["batches"]["1"]["digests"][rel]
        return folder / digest[:2] / digest

    if case == "path":
        _tamper(root, remote, lambda r: r["batches"]["1"]["digests"].update(
            {"../../escape/batch_00001.parquet": r["batches"]["1"]["digests"].pop("parquet-files/batch_00001.parquet")}))
    elif case == "other-batch":
        _tamper(root, remote, lambda r: r["batches"]["1"]["digests"].update(
            {"parquet-files/batch_00002.parquet": r["batches"]["1"]["digests"].pop("parquet-files/batch_00001.parquet")}))
    elif case == "count":
        _tamper(root, remote, lambda r: r["batches"]["1"].update(num_records=-3))
    elif case == "corrupt":
        path = blob_of(_record(remote))
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.chmod(0o644)
        path.write_bytes(bytes(data))
    elif case == "not-parquet":  # bytes that match the recorded digest, but are not Parquet
        evil = root / "evil.bin"
        evil.write_bytes(b"import os; os.system('echo pwned')\n" * 10)
        from ddbuild.fingerprint import digest_file

        digest = digest_file(evil)
        remote.put_file(KEY, evil, digest)
        _tamper(root, remote, lambda r: r["batches"]["1"]["digests"].update(
            {"parquet-files/batch_00001.parquet": digest}))
    else:
        blob_of(_record(remote)).unlink()
    with caplog.at_level(logging.WARNING, logger="ddbuild.ray"):
        restored, dataset, _ = _restore(root, remote)
    assert restored == 2
    assert any(f"batch checkpoint 1 on {remote.location}" in r.message and warning in r.message
               and r.message.endswith("the batch is generated again") for r in caplog.records), caplog.text
    assert not (root / "escape").exists()
    summary = _resume(root, dataset)
    assert (summary.batches_reused, summary.batches_generated) == (2, 1)
    assert _files(dataset) == _files(original)  # the batch generated again has the same bytes


@pytest.mark.parametrize("record, warning", [
    (b"{not json", "cannot be read"),
    (json.dumps({"format": 1, "key": "f" * 32, "batches": {}}).encode(), "it is the record of stage key 'ffff"),
    (json.dumps({"format": 2, "key": KEY, "batches": {}}).encode(), "not a format-1 checkpoint record"),
    (json.dumps([1, 2]).encode(), "not a format-1 checkpoint record"),
    (b"[" * 5000 + b"]" * 5000, "cannot be read"),
])
def test_an_unusable_record_is_ignored_and_the_stage_starts_over(saved, caplog, record, warning):
    root, _, remote = saved
    (root / "remote" / "checkpoints" / KEY / "record.json").write_bytes(record)
    with caplog.at_level(logging.WARNING, logger="ddbuild.ray"):
        restored, dataset, _ = _restore(root, remote)
    assert restored == 0 and not dataset.exists()
    assert warning in caplog.text and "the stage starts over" in caplog.text


def test_worker_uploads_are_not_uploaded_again_and_drop_removes_strays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dataset = tmp_path / "a" / "dataset"
    generate_dataset(_config(), num_records=30, dataset_dir=dataset, run_config=RUN, resume=False, base_dir=tmp_path)
    remote = RemoteCheckpoints(FileSystemStore(tmp_path / "remote"))
    checkpoints = StageCheckpoints(remote, KEY)
    meta = json.loads((dataset / "metadata.json").read_text())
    checkpoints.uploaded(0, list(meta["batches"]["0"]["digests"].values()))  # a worker uploaded batch 0 ...
    checkpoints.save(dataset)
    folder = tmp_path / "remote" / "checkpoints" / KEY
    uploaded = sorted(p.name for p in folder.glob("??/*"))
    assert len(uploaded) == 4  # ... so only batches 1 and 2 (2 files each) went up from here
    stray = tmp_path / "stray.bin"
    stray.write_bytes(b"a worker's upload the record never named")
    from ddbuild.fingerprint import digest_file

    remote.put_file(KEY, stray, digest_file(stray))
    checkpoints.drop()
    assert not folder.exists()


@pytest.mark.parametrize("kind", ["s3", "http"])
def test_checkpoints_round_trip_through_s3_and_http_remotes(tmp_path, monkeypatch, request, kind):
    import uuid

    monkeypatch.chdir(tmp_path)
    if kind == "s3":
        url = request.getfixturevalue("moto").url(uuid.uuid4().hex[:12])
    else:
        url = f"{request.getfixturevalue('nginx').url}{uuid.uuid4().hex[:12]}/"
    dataset = tmp_path / "a" / "dataset"
    generate_dataset(_config(), num_records=30, dataset_dir=dataset, run_config=RUN, resume=False, base_dir=tmp_path)
    StageCheckpoints(RemoteCheckpoints.open(url), KEY).save(dataset)
    restored, again, checkpoints = _restore(tmp_path, RemoteCheckpoints.open(url))
    assert restored == 3 and _files(again) == _files(dataset)
    checkpoints.drop()
    assert RemoteCheckpoints.open(url).get_record(KEY) is None
    assert list(RemoteCheckpoints.open(url).files.names(f"checkpoints/{KEY}")) == []


def test_a_remote_that_cannot_be_written_costs_a_warning_not_the_build(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    dataset = tmp_path / "a" / "dataset"
    generate_dataset(_config(), num_records=30, dataset_dir=dataset, run_config=RUN, resume=False, base_dir=tmp_path)
    (tmp_path / "remote").write_text("a file where the remote directory should be")
    checkpoints = StageCheckpoints(RemoteCheckpoints(FileSystemStore(tmp_path / "remote")), KEY)
    with caplog.at_level(logging.WARNING, logger="ddbuild.ray"):
        checkpoints.save(dataset)
        checkpoints.save(dataset)  # after a failure the remote is not tried again for this stage
    assert checkpoints.failed is not None
    assert [r.message for r in caplog.records if "cannot be written" in r.message] == [
        f"stage key {KEY}: its batch checkpoints cannot be written to {tmp_path / 'remote'} ({checkpoints.failed}); "
        "they stay on this machine only"]
