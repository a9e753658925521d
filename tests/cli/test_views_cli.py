"""The CLI side of sound views: explain and build say a view was edited by hand; cache verify finds more."""

from __future__ import annotations

from pathlib import Path

from ddbuild.fingerprint import digest_file

BASE_VIEW = Path("artifacts") / "chain" / "stage-0-base" / "parquet-files" / "batch_00000.parquet"


def blobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".ddbuild" / "cache" / "objects").rglob("*") if p.is_file())


def test_a_view_edited_by_hand_is_reported_restored_and_kept_aside(chain):
    import pandas as pd

    assert chain.main("-s").exit_code == 0
    view = chain.root / BASE_VIEW
    original = view.read_bytes()
    frame = pd.read_parquet(view)
    frame["n"] = -1
    frame.to_parquet(view)
    explain = chain.main("--explain")
    assert explain.exit_code == 0
    base_line = next(line for line in explain.stdout.splitlines() if line.strip().startswith("base"))
    assert "hit" in base_line and "view edited by hand: restored parquet-files/batch_00000.parquet" in base_line
    assert chain.main("-q").exit_code == 0  # nothing to build: restoring a view is not a stage run
    build = chain.main()
    assert build.exit_code == 0
    assert "view edited by hand: restored parquet-files/batch_00000.parquet" in build.stdout + build.stderr
    assert view.read_bytes() == original
    kept = list((chain.root / "artifacts" / "chain" / "edited").rglob("batch_00000.parquet"))
    assert len(kept) == 1 and (pd.read_parquet(kept[0])["n"] == -1).all()
    assert all(digest_file(b) == b.name for b in blobs(chain.root))
    assert "view edited" not in chain.main("--explain").stdout


def test_verify_reports_an_entry_whose_blob_is_missing_and_exits_1(chain):
    chain.run()
    blobs(chain.root)[0].unlink()
    result = chain.main("cache", "verify")
    assert result.exit_code == 1
    assert "lacks blob" in result.stdout and "that stage rebuilds next time" in result.stdout


def test_verify_reports_entries_whose_inputs_no_longer_verify(chain):
    chain.run()
    store_view = chain.root / "artifacts" / "chain" / "stage-0-base" / "parquet-files" / "batch_00000.parquet"
    victim = next(b for b in blobs(chain.root) if digest_file(store_view) == b.name)
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes() + b"tampered")
    result = chain.main("cache", "verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(f"corrupt blob {victim.name}" in line for line in lines)
    assert any("(chain:base) lacks blob" in line for line in lines)
    assert any("(chain:middle): its input from 'base'" in line and "no longer verifies" in line for line in lines)


def test_the_fast_path_steps_aside_for_a_file_added_to_a_view(chain):
    assert chain.main("-s").exit_code == 0
    assert chain.main("-s").exit_code == 0  # a stamp now answers no-op builds
    notes = chain.root / "artifacts" / "chain" / "stage-1-middle" / "notes.txt"
    notes.write_text("mine")
    assert chain.main("-s").exit_code == 0  # the full path runs: it keeps the file aside
    assert not notes.exists()
    assert [p.read_text() for p in (chain.root / "artifacts" / "chain" / "edited").rglob("notes.txt")] == ["mine"]
