"""What DataDesigner.create and .preview return: DatasetCreationResults (on disk), PreviewResults (in memory)."""

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
        known = self._layout.side_names()
        if name not in known:
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


class PreviewResults:
    """A preview held in memory: ``dataset`` and one DataFrame per schema_transform processor."""

    def __init__(self, dataset: Any, processor_artifacts: dict[str, Any], summary: Any = None) -> None:
        self.dataset = dataset
        self.processor_artifacts = processor_artifacts
        self.dropped_rows: dict[str, int] = dict(summary.dropped_rows) if summary else {}
        self.first_errors: dict[str, str] = dict(summary.first_errors) if summary else {}

    @classmethod
    def read(cls, summary: Any) -> PreviewResults:
        """Read a finished run (``summary.dataset_dir``) into memory, before its directory goes."""
        layout = DatasetLayout(summary.dataset_dir)
        artifacts = {name: load_dataframe(layout.side_files(name)) for name in layout.side_names()}
        return cls(load_dataframe(layout.batch_files()), artifacts, summary)

    def sample_record(self, index: int = 0) -> str:
        """Record ``index`` (and its processor outputs) as readable text."""
        count = len(self.dataset)
        if not 0 <= index < count:
            raise IndexError(f"Record {index} does not exist: the preview has {count} record(s).")
        lines = [f"Record {index} of {count}"]
        lines += _field_lines(self.dataset.iloc[index].to_dict())
        for name, frame in self.processor_artifacts.items():
            if index < len(frame):
                lines += ["", f"Processor '{name}'"] + _field_lines(frame.iloc[index].to_dict())
        return "\n".join(lines)

    def display_sample_record(self, index: int = 0) -> None:
        print(self.sample_record(index))

    def __repr__(self) -> str:
        return f"PreviewResults({len(self.dataset)} records, processors={sorted(self.processor_artifacts)})"


def _field_lines(record: dict[str, Any]) -> list[str]:
    """``name: value`` per field; multi-line values continue on indented lines."""
    width = max((len(str(k)) for k in record), default=0)
    lines = []
    for key, value in record.items():
        text = str(value).replace("\n", "\n" + " " * (width + 4))
        lines.append(f"  {str(key).ljust(width)}: {text}")
    return lines
