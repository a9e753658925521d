"""Resume: a run killed midway, continued, equals an uninterrupted run byte for byte."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from engine_helpers import file_bytes, run, sampler

import ddbuild as dd
from ddbuild.errors import ResumeError

SCRIPT = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    import ddbuild as dd
    from ddbuild.engine.dataset import generate_dataset

    HERE = Path(__file__).parent

    @dd.custom_column_generator(required_columns=["doc_id"])
    def maybe_die(row):
        if os.environ.get("DIE_AT") == str(row["doc_id"]):
            os.kill(os.getpid(), signal.SIGKILL)
        row["checked"] = row["doc_id"] * 10
        return row

    def builder():
        b = dd.DataDesignerConfigBuilder(seed=11).with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
        b.add_column(name="u", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1})
        b.add_column(name="who", column_type="sampler", sampler_type="uuid", params={})
        b.add_column(name="e", column_type="expression", expr="{{ text }}:{{ u }}")
        b.add_column(dd.CustomColumnConfig(name="checked", generator_function=maybe_die))
        b.add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"t": "{{ e }}"}))
        return b

    if __name__ == "__main__":
        s = generate_dataset(builder().build(base_dir=HERE), num_records=50, dataset_dir=HERE / sys.argv[1],
                             run_config=dd.RunConfig(buffer_size=10), resume=sys.argv[2] == "1", base_dir=HERE)
        print(s.batches_generated, s.batches_reused, s.num_records)
''')


def _run_script(tmp_path: Path, out: str, resume: bool, die_at: int | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DIE_AT"}
    if die_at is not None:
        env["DIE_AT"] = str(die_at)
    return subprocess.run([sys.executable, str(tmp_path / "killer.py"), out, "1" if resume else "0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_sigkilled_run_resumes_to_identical_bytes(tmp_path):
    (tmp_path / "killer.py").write_text(SCRIPT)
    pd.DataFrame({"doc_id": range(50), "text": [f"d{i}" for i in range(50)]}).to_parquet(tmp_path / "seed.parquet")
    killed = _run_script(tmp_path, "ds", resume=False, die_at=25)
    assert killed.returncode == -signal.SIGKILL
    written = sorted(p.name for p in (tmp_path / "ds/parquet-files").iterdir())
    assert written == ["batch_00000.parquet", "batch_00001.parquet"]
    resumed = _run_script(tmp_path, "ds", resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.split() == ["3", "2", "50"]  # generated, reused, rows
    full = _run_script(tmp_path, "full", resume=False)
    assert full.returncode == 0, full.stderr
    for sub in ("parquet-files", "processors-files"):
        resumed_files = file_bytes(tmp_path / "ds" / sub)
        assert resumed_files == file_bytes(tmp_path / "full" / sub) and len(resumed_files) == 5


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, same name: only a digest can tell


def _tear(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # what a power cut could leave


# One line per damage to a checkpoint of a killed run: (file, damage, batches (generated, reused)).
CHECKPOINT_DAMAGE = [
    ("parquet-files/batch_00001.parquet", _flip_middle_byte, (4, 1)),
    ("parquet-files/batch_00000.parquet", _tear, (4, 1)),
    ("processors-files/side/batch_00001.parquet", _flip_middle_byte, (4, 1)),
    ("processors-files/side/batch_00000.parquet", lambda p: p.write_bytes(b""), (4, 1)),
]


def _crash_builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=11).with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    sampler(b, "u", "uniform", low=0, high=1)
    b.add_column(name="e", column_type="expression", expr="{{ text }}:{{ u }}")
    return b.add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"t": "{{ e }}"}))


class MachineDown(Exception):
    pass


def _die_after_batch(last: int):
    def on_batch(event):
        if event.index == last:
            raise MachineDown  # the run ends here, after batch ``last`` was made durable
    return on_batch


def test_resume_regenerates_a_corrupt_or_torn_checkpoint_instead_of_using_it(tmp_path, caplog):
    import shutil

    pd.DataFrame({"doc_id": range(50), "text": [f"d{i}" for i in range(50)]}).to_parquet(tmp_path / "seed.parquet")
    args = {"num_records": 50, "buffer_size": 10, "base_dir": tmp_path}
    with pytest.raises(MachineDown):
        run(_crash_builder(), tmp_path / "killed", on_batch=_die_after_batch(1), **args)
    assert sorted(p.name for p in (tmp_path / "killed/parquet-files").iterdir()) == [
        "batch_00000.parquet", "batch_00001.parquet"]
    run(_crash_builder(), tmp_path / "full", **args)
    for name, damage, batches in CHECKPOINT_DAMAGE:
        shutil.rmtree(tmp_path / "ds", ignore_errors=True)
        shutil.copytree(tmp_path / "killed", tmp_path / "ds")
        damage(tmp_path / "ds" / name)
        caplog.clear()
        summary = run(_crash_builder(), tmp_path / "ds", resume=True, **args)
        assert (summary.batches_generated, summary.batches_reused, summary.num_records) == (*batches, 50), name
        index = int(name[-13:-8])
        assert f"checkpoint batch {index} in {tmp_path / 'ds'} is missing or no longer has the bytes" \
            in caplog.text, name
        for sub in ("parquet-files", "processors-files"):
            assert file_bytes(tmp_path / "ds" / sub) == file_bytes(tmp_path / "full" / sub), (name, sub)


def _builder(expr: str = "{{ u }}") -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=2)
    sampler(b, "u", "uniform", low=0, high=1)
    return b.add_column(name="e", column_type="expression", expr=expr)


def test_resume_after_losing_last_batch_regenerates_only_it(tmp_path):
    run(_builder(), tmp_path / "full", num_records=35, buffer_size=10)
    run(_builder(), tmp_path / "ds", num_records=35, buffer_size=10)
    (tmp_path / "ds/parquet-files/batch_00003.parquet").unlink()
    events = []
    summary = run(_builder(), tmp_path / "ds", num_records=35, buffer_size=10, resume=True, on_batch=events.append)
    assert (summary.batches_generated, summary.batches_reused, summary.num_records) == (1, 3, 35)
    assert [(e.index, e.status.value) for e in events] == [
        (0, "reused"), (1, "reused"), (2, "reused"), (3, "generated")]
    assert file_bytes(tmp_path / "ds/parquet-files") == file_bytes(tmp_path / "full/parquet-files")


def test_resume_with_more_records_extends(tmp_path):
    run(_builder(), tmp_path / "ds", num_records=25, buffer_size=10)
    summary = run(_builder(), tmp_path / "ds", num_records=40, buffer_size=10, resume=True)
    assert (summary.batches_reused, summary.batches_generated, summary.num_records) == (2, 2, 40)
    run(_builder(), tmp_path / "full", num_records=40, buffer_size=10)
    assert file_bytes(tmp_path / "ds/parquet-files") == file_bytes(tmp_path / "full/parquet-files")


def test_digest_mismatch_shows_both_digests(tmp_path):
    first = run(_builder(), tmp_path / "ds", num_records=5)
    before = file_bytes(tmp_path / "ds")
    changed = _builder("{{ u * 2 }}").build()
    from ddbuild.engine.identity import config_digest

    new = config_digest(changed, dd.RunConfig(), tmp_path)
    with pytest.raises(ResumeError) as info:
        run(changed, tmp_path / "ds", num_records=5, resume=True)
    assert first.config_digest in str(info.value) and new in str(info.value) and new != first.config_digest
    assert file_bytes(tmp_path / "ds") == before


def test_metadata_records_counts(tmp_path):
    import json

    run(_builder(), tmp_path / "ds", num_records=25, buffer_size=10)
    meta = json.loads((tmp_path / "ds/metadata.json").read_text())
    assert (meta["target_num_records"], meta["actual_num_records"], meta["buffer_size"]) == (25, 25, 10)
    assert meta["num_completed_batches"] == 3 and meta["dropped_rows"] == {} and meta["llm_usage"] == {}
    assert meta["file_paths"]["parquet-files"] == [f"parquet-files/batch_0000{i}.parquet" for i in range(3)]


def test_metadata_file_paths_match_the_files_on_disk_after_a_resume(tmp_path):
    import json

    b = _builder()
    b.add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"v": "x"}))
    run(b, tmp_path / "ds", num_records=20, buffer_size=10)
    run(b, tmp_path / "ds", num_records=30, buffer_size=10, resume=True)
    meta = json.loads((tmp_path / "ds/metadata.json").read_text())

    def on_disk(sub):
        return sorted(p.relative_to(tmp_path / "ds").as_posix() for p in (tmp_path / "ds" / sub).glob("*.parquet"))

    assert meta["file_paths"] == {
        "parquet-files": on_disk("parquet-files"),
        "processor-files": {"side": on_disk("processors-files/side")},
    }
    assert len(meta["file_paths"]["parquet-files"]) == 3
