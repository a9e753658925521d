"""Turning a finished dataset directory into entry outputs, and choosing the selected output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ddbuild.errors import GenerationError
from ddbuild.fingerprint import digest_file, output_digest
from ddbuild.workflow.stage import Stage

OUTPUT_PROCESSORS_DIR = "output-processors"
CALLBACK_DIR = "callback-output"


def file_record(path: Path, rel: str) -> dict[str, Any]:
    """{path, digest, rows, size} for one file (rows from the parquet footer; 0 for other files)."""
    rows = 0
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_metadata(path).num_rows
    return {"path": rel, "digest": digest_file(path), "rows": rows, "size": path.stat().st_size}


def collect(dataset_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every file a run left in ``dataset_dir`` (hidden/temp files excluded), sorted by path."""
    found = []
    for root, dirs, files in os.walk(dataset_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("tmp", ".")))
        for name in sorted(files):
            if name.startswith(".") or name.endswith((".tmp", ".part")):
                continue
            path = Path(root) / name
            found.append((path, file_record(path, path.relative_to(dataset_dir).as_posix())))
    return sorted(found, key=lambda item: item[1]["path"])


def selected_root(stage: Stage) -> str:
    """The entry-relative folder that ``output=`` selects (callbacks are handled separately)."""
    op_names = {p.name for p in stage.output_processors}
    base = f"{OUTPUT_PROCESSORS_DIR}/" if stage.output_processors else ""
    processor = stage.output_processor
    if processor is None:
        return f"{base}parquet-files"
    if processor in op_names:
        return f"{OUTPUT_PROCESSORS_DIR}/processors-files/{processor}"
    return f"processors-files/{processor}"


def select(outputs: list[dict[str, Any]], root: str, stage: Stage) -> dict[str, Any]:
    """The selected output: parquet files directly under ``root`` (or ``root`` itself), in order."""
    chosen = [o for o in outputs if o["path"] == root or (
        o["path"].startswith(root + "/") and "/" not in o["path"][len(root) + 1 :] and o["path"].endswith(".parquet")
    )]
    if not chosen and stage.output_processor is not None and stage.on_success is None:
        raise GenerationError(f"Stage output processor '{stage.output_processor}' did not produce artifacts.")
    return {
        "root": root,
        "paths": [o["path"] for o in chosen],
        "digest": output_digest(o["digest"] for o in chosen),
        "rows": sum(o["rows"] for o in chosen),
    }


def callback_outputs(result: Path, view_dir: Path, files: list[Path]) -> tuple[str, list[tuple[Path, dict[str, Any]]]]:
    """Records for the files an on_success callback returned; paths inside the view are kept."""
    view_dir = view_dir.resolve()
    result = result.resolve()
    if result == view_dir or view_dir in result.parents:
        root = result.relative_to(view_dir).as_posix()
        rels = [f.resolve().relative_to(view_dir).as_posix() for f in files]
    else:
        root = f"{CALLBACK_DIR}/{result.name}"
        rels = [root if result.is_file() else f"{root}/{f.name}" for f in files]
    return root, [(f, file_record(f, rel)) for f, rel in zip(files, rels, strict=True)]
