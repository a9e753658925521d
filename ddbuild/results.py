"""DatasetCreationResults: what DataDesigner.create returns (load, count, export one dataset)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ddbuild.engine.io import count_rows, export_files, load_dataframe
from ddbuild.engine.layout import DatasetLayout
from ddbuild.errors import ArtifactError, did_you_mean


class DatasetCreationResults:
    """One generated dataset on disk: ``<artifact_path>/<dataset_name>/``."""

    def __init__(self, base_dataset_path: Path, *, artifact_path: Path | None = None, summary: Any = None) -> None:
        self._layout = DatasetLayout(Path(base_dataset_path))
        self.artifact_path = Path(artifact_path) if artifact_path else self._layout.root.parent
        self.summary = summary  # the engine's DatasetRunSummary when this run produced it

    @property
    def base_dataset_path(self) -> Path:
        return self._layout.root

    @property
    def final_dataset_path(self) -> Path:
        return self._layout.parquet_dir

    @property
    def processors_outputs_path(self) -> Path:
        return self._layout.processors_dir

    @property
    def metadata(self) -> dict[str, Any]:
        path = self._layout.metadata
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ArtifactError(f"'{path}' does not exist.") from None
        except ValueError as exc:
            raise ArtifactError(f"'{path}' is not valid JSON: {exc}.") from exc

    def dataset_files(self) -> list[Path]:
        return self._layout.batch_files()

    def processor_files(self, name: str) -> list[Path]:
        if not (self._layout.processors_dir / name).is_dir():
            known = sorted(p.name for p in self._layout.processors_dir.glob("*") if p.is_dir())
            raise ArtifactError(
                f"No processor output named '{name}' in '{self.base_dataset_path}'.{did_you_mean(name, known)}",
                hint=f"Processor outputs: {', '.join(known) or '(none)'}.",
            )
        return self._layout.side_files(name)

    def load_dataset(self) -> Any:
        """The dataset as a pandas DataFrame."""
        return load_dataframe(self.dataset_files())

    def load_processor_dataset(self, name: str) -> Any:
        return load_dataframe(self.processor_files(name))

    def count_records(self) -> int:
        """Rows in the dataset, from Parquet metadata (no rows are read)."""
        return count_rows(self.dataset_files())

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the dataset as jsonl, csv or parquet (format from the suffix unless given)."""
        return export_files(self.dataset_files(), path, format)

    def __repr__(self) -> str:
        return f"DatasetCreationResults({str(self.base_dataset_path)!r})"
