"""Views never write into the cache, no stage is built from bytes that fail their digest, results are values."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.errors import ArtifactError
from ddbuild.fingerprint import digest_file
from ddbuild.workflow import ReasonKind
from tests.workflow.conftest import three_stage

VIEW = Path("artifacts") / "wf"


def blobs(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "objects").rglob("*") if p.is_file())


def flip_a_byte(path: Path) -> None:
    os.chmod(path, 0o644)  # blobs are read-only; root could write anyway
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_view_files_are_copies_and_blobs_are_read_only(project: Path) -> None:
    three_stage().run()
    view = project / VIEW / "stage-0-a" / "parquet-files" / "batch_00000.parquet"
    stored = blobs(project / ".ddbuild" / "cache")
    assert all(view.stat().st_ino != b.stat().st_ino for b in stored)
    assert all(b.stat().st_mode & 0o222 == 0 for b in stored)


def test_editing_a_view_in_place_never_changes_the_cache(project: Path) -> None:
    first = three_stage().run()
    original_c = first.load_dataset()
    view = project / VIEW / "stage-0-a" / "parquet-files" / "batch_00000.parquet"
    original = view.read_bytes()
    frame = first.load_stage_output("a")
    frame["x"] = -1.0
    frame.to_parquet(view)  # pandas rewrites the file in place (same path, same inode)
    for blob in blobs(project / ".ddbuild" / "cache"):
        assert digest_file(blob) == blob.name  # the stored blob did not change
    plan = three_stage().plan()
    assert plan.stage("a").reasons[0].kind == ReasonKind.VIEW_EDITED
    assert plan.stage("a").reasons[0].detail.startswith("view edited by hand: restored parquet-files/batch_00000.parquet")
    again = three_stage(c_expr="{{ y }}?!").run()  # c rebuilds: it reads b's blob, which read a's
    assert again.executed_stages() == ["c"]
    assert view.read_bytes() == original  # restored from the store
    kept = list((project / VIEW / "edited").rglob("batch_00000.parquet"))
    assert len(kept) == 1 and kept[0].parent.parent.name == "stage-0-a"
    assert kept[0].parent.parent.parent.parent.name == "edited"
    import pandas as pd

    assert (pd.read_parquet(kept[0])["x"] == -1.0).all()  # the user's version is kept, not deleted
    assert list(again.load_stage_output("c")["y"]) == list(original_c["y"])
    assert again.stages["a"].status.value == "hit"
    assert three_stage().plan().stage("a").reasons[0].kind == ReasonKind.CACHED  # nothing left to restore


@pytest.mark.parametrize("shared", [False, True], ids=["local-cache", "shared-dir-cache"])
def test_corrupt_blobs_are_quarantined_and_rebuilt_never_used(project: Path, shared: bool) -> None:
    cache = project.parent / "shared-cache" if shared else project / ".ddbuild" / "cache"

    def workflow() -> object:
        designer = dd.DataDesigner(cache=cache) if shared else dd.DataDesigner()
        return three_stage(designer)

    first = workflow().run()
    rows = first.load_dataset()
    for blob in blobs(cache):
        flip_a_byte(blob)
    shutil.rmtree(project / "artifacts")
    plan = workflow().plan()
    assert plan.stage("a").reasons[0].kind == ReasonKind.OUTPUT_MISSING
    assert "fails its digest check" in plan.stage("a").reasons[0].detail
    again = workflow().run()
    assert again.executed_stages() == ["a", "b", "c"]
    assert again.load_dataset().equals(rows)
    for blob in blobs(cache):
        assert digest_file(blob) == blob.name
    quarantined = [p for p in (cache / "quarantine").iterdir() if not p.name.endswith(".reason.txt")]
    assert len(quarantined) == len(blobs(cache))
    assert workflow().run().executions == 0


def test_a_forced_rebuild_repairs_a_corrupt_blob(project: Path) -> None:
    three_stage().run()
    victim = blobs(project / ".ddbuild" / "cache")[0]
    flip_a_byte(victim)
    three_stage().run(always_make=True)  # -B: the planner does not look; put_blob must replace the bad file
    assert digest_file(victim) == victim.name


def test_results_keep_their_runs_data_after_another_config_rewrites_the_view(project: Path) -> None:
    reverted = three_stage().run()
    rows = reverted.load_dataset().copy()
    a_rows = reverted["a"].load_dataset().copy()
    later = three_stage(a_records=7).run()  # rewrites every view with other rows
    assert len(later.load_dataset()) == 7
    assert reverted.load_dataset().equals(rows)
    assert reverted["c"].load_dataset().equals(rows)
    assert reverted["a"].load_dataset().equals(a_rows)
    assert reverted.count_records() == 5
    assert not (project / VIEW / "edited").exists()  # the other config's files were cache copies: replaced


def test_a_file_added_to_a_stage_folder_is_kept_aside_not_deleted(project: Path) -> None:
    three_stage().run()
    notes = project / VIEW / "stage-1-b" / "notes.txt"
    notes.write_text("my review notes")
    assert three_stage().plan().stage("b").reasons[0].detail.startswith("view edited by hand: restored notes.txt")
    three_stage().run()
    assert not notes.exists()
    kept = list((project / VIEW / "edited").rglob("notes.txt"))
    assert [k.read_text() for k in kept] == ["my review notes"]


def test_results_whose_data_is_gone_raise_naming_the_path(project: Path) -> None:
    result = three_stage().run()
    shutil.rmtree(project / ".ddbuild" / "cache" / "objects")
    shutil.rmtree(project / "artifacts")
    with pytest.raises(ArtifactError, match=r"output of stage 'wf:c' from this run is gone: parquet-files/batch_00000"):
        result.load_dataset()
    with pytest.raises(ArtifactError, match="is gone"):
        result["a"].load_dataset()


def test_create_results_whose_files_are_gone_raise(project: Path) -> None:
    from tests.workflow.conftest import sampler_builder

    created = dd.DataDesigner().create(sampler_builder(), num_records=3)
    assert len(created.load_dataset()) == 3
    shutil.rmtree(created.base_dataset_path)
    with pytest.raises(ArtifactError, match=r"files are gone: '.*parquet-files'"):
        created.load_dataset()


def test_a_hard_linked_view_from_an_older_ddbuild_becomes_a_copy(project: Path) -> None:
    three_stage().run()
    view = project / VIEW / "stage-0-a" / "parquet-files" / "batch_00000.parquet"
    blob = next(b for b in blobs(project / ".ddbuild" / "cache") if b.name == digest_file(view))
    view.unlink()
    os.link(blob, view)  # what views were before
    assert three_stage().run().executions == 0
    assert view.stat().st_nlink == 1 and blob.stat().st_nlink == 1
