"""A stage's damaged checkpoints (partial/<key>/) are regenerated, never used, and never fail the build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.execution.events import BatchDone


class MachineDown(Exception):
    pass


class DieAtBatch:
    """A reporter that ends the build after stage ``b`` made ``batches`` batches durable."""

    def __init__(self, batches: int) -> None:
        self.left = batches

    def emit(self, event: object) -> None:
        if isinstance(event, BatchDone) and event.stage == "b":
            self.left -= 1
            if self.left == 0:
                raise MachineDown


def _workflow() -> object:
    designer = dd.DataDesigner()
    designer.set_run_config(dd.RunConfig(buffer_size=2))
    workflow = designer.compose_workflow(name="wf")
    workflow.add_stage("a", dd.DataDesignerConfigBuilder(seed=1).add_column(
        name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10}), num_records=10)
    workflow.add_stage("b", dd.DataDesignerConfigBuilder(seed=2).add_column(
        name="y", column_type="expression", expr="{{ x }}!").add_column(
        name="u", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1}))
    return workflow


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# One line per damage to the checkpoints of a killed build: (file under dataset/, damage, rows rebuilt).
DAMAGE = [
    ("metadata.json", lambda p: p.write_bytes(p.read_bytes()[:50]), 10),  # unreadable: start over
    ("parquet-files/batch_00001.parquet", _flip, 8),  # batches 1..4 again, batch 0 kept
    ("parquet-files/batch_00000.parquet", lambda p: p.write_bytes(b""), 8),  # batch 0, then 2..4
]


@pytest.mark.parametrize("name,damage,rebuilt", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_checkpoint_is_regenerated_and_output_equals_a_clean_build(project, name, damage, rebuilt):
    _workflow().run()
    clean_digest = _selected_digest(Path.cwd())
    shutil.rmtree(".ddbuild")
    with pytest.raises(MachineDown):
        _workflow().run(reporter=DieAtBatch(2))
    (partial,) = Path(".ddbuild/cache/partial").iterdir()
    damage(partial / "dataset" / name)
    resumed = _workflow().run()
    assert resumed.stages["b"].rows_generated == rebuilt
    assert _selected_digest(Path.cwd()) == clean_digest


def _selected_digest(root: Path) -> str:
    from ddbuild.store.fs import FileSystemStore

    store = FileSystemStore(root / ".ddbuild" / "cache")
    (entry,) = [e for e in map(store.get_entry, store.list_entries()) if e["stage"] == "b"]
    return entry["selected_output"]["digest"]
