"""Precomputed input digests the planner needs: root seeds (files, a directory's files, a Hugging
Face dataset's cached files, or frames) and override outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddbuild.errors import SeedError, WorkflowError
from ddbuild.fingerprint import output_digest
from ddbuild.planning.identity import relative_path
from ddbuild.planning.statcache import StatCache


@dataclass(frozen=True)
class SeedInput:
    """What a root stage's own seed contributes to its key."""

    files: dict[str, str] = field(default_factory=dict)  # relative path -> content digest
    frame: str | None = None  # digest of an in-memory DataFrame
    rows: int | None = None  # rows before selection (None when unknown)
    error: str | None = None  # the seed could not be read (plan reports ERROR)

    def key_inputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.files:
            out["seed_files"] = dict(self.files)
        if self.frame is not None:
            out["seed_frame"] = self.frame
        return out


@dataclass(frozen=True)
class OverrideInput:
    """A stage_output_overrides entry: an external parquet file or folder."""

    path: Path  # resolved absolute path (what get_stage_output_path returns)
    files: list[Path]
    digest: str
    rows: int


@dataclass(frozen=True)
class InputDigests:
    seeds: dict[str, SeedInput] = field(default_factory=dict)  # root stage name -> its seed
    overrides: dict[str, OverrideInput] = field(default_factory=dict)


def parquet_rows(path: Path) -> int | None:
    """Row count from the parquet footer (never the row data); None for other formats."""
    if path.suffix.lower() != ".parquet":
        return None
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def any_rows(path: Path) -> int:
    rows = parquet_rows(path)
    if rows is not None:
        return rows
    from ddbuild.engine.seed_reader import read_table

    return read_table(path).num_rows


def source_file_rows(source: Any, path: Path) -> int:
    """Rows one file of a seed source gives: 1 for a directory source's file, else its rows."""
    return 1 if getattr(source, "one_row_per_file", False) else any_rows(path)


def file_label(source: Any, file: Path, cwd: Path) -> str:
    """A seed file as it enters keys: relative to the working directory, or its path in a Hugging
    Face dataset (the local cache's location differs per machine)."""
    label = getattr(source, "label", None)
    return label(file) if label is not None else relative_path(file.resolve(), cwd)


def seed_input(seed_config: Any, cwd: Path, stats: StatCache) -> SeedInput:
    """Digests and row count of a root stage's seed (files through the stat cache)."""
    source = seed_config.source
    if getattr(source, "seed_type", None) == "df":
        from ddbuild.fingerprint import frame_digest

        return SeedInput(frame=frame_digest(source.df), rows=len(source.df))
    try:
        files = source.files(cwd)
    except SeedError as exc:
        return SeedInput(error=str(exc))
    digests: dict[str, str] = {}
    total: int | None = 0
    one_each = getattr(source, "one_row_per_file", False)
    for file in files:
        # a directory source's file is one row whatever it holds: its row count is not asked
        digest, rows = stats.lookup(file, (lambda _: None) if one_each else any_rows)
        digests[file_label(source, file, cwd)] = digest
        total = None if total is None or rows is None else total + rows
    return SeedInput(files=digests, rows=len(files) if one_each else total)


def parquet_files_at(path: Path) -> list[Path]:
    """A parquet file itself, or the ``*.parquet`` files directly inside a folder (sorted)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".parquet" and p.is_file())
    return []


def override_input(stage: str, raw: str | Path, cwd: Path, stats: StatCache) -> OverrideInput:
    path = Path(raw).expanduser()
    path = (path if path.is_absolute() else cwd / path).resolve()
    files = parquet_files_at(path)
    if not files:
        raise WorkflowError(
            f"Invalid stage output override for stage '{stage}': No parquet files found at {path}."
        )
    digests, rows = [], 0
    for file in files:
        try:
            digest, count = stats.lookup(file, parquet_rows)
        except Exception as exc:  # noqa: BLE001 - any unreadable parquet makes the override invalid
            raise WorkflowError(
                f"Invalid stage output override for stage '{stage}': Failed to read parquet file {file}: {exc}"
            ) from exc
        digests.append(digest)
        rows += count or 0
    return OverrideInput(path=path, files=files, digest=output_digest(digests), rows=rows)
