"""What DataDesigner.create and .preview return: DatasetCreationResults (on disk), PreviewResults (in memory)."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.engine.io import count_rows, export_files, load_dataframe
from ddbuild.engine.layout import METADATA_FILE, PARQUET_DIR, PROCESSORS_DIR, DatasetLayout
from ddbuild.errors import ArtifactError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from ddbuild.analysis import AnalysisCache, DatasetAnalysis
    from ddbuild.config.builder import DataDesignerConfigBuilder
    from ddbuild.config.models import ModelConfig
    from ddbuild.engine.dataset import DatasetRunSummary


class StoredFiles:
    """A dataset's files by content: path relative to the dataset folder -> blob digest.

    What a workflow stage's results read, so they keep returning that run's data after a later
    run rewrote the view. ``open_blob(digest, rel)`` gives the blob's verified local file or raises.
    """

    def __init__(self, digests: dict[str, str], open_blob: Callable[[str, str], Path]) -> None:
        self.digests = digests
        self._open = open_blob

    def names(self, folder: str, pattern: str = "batch_*.parquet") -> list[str]:
        """The relative paths of the files directly in ``folder`` matching ``pattern``, sorted."""
        prefix = folder.rstrip("/") + "/"
        return sorted(r for r in self.digests if r.startswith(prefix) and "/" not in r[len(prefix):]
                      and fnmatch.fnmatch(r[len(prefix):], pattern))

    def files(self, folder: str, pattern: str = "batch_*.parquet") -> list[Path]:
        """The files directly in ``folder`` whose names match ``pattern``, sorted by name."""
        return [self._open(self.digests[r], r) for r in self.names(folder, pattern)]

    def folders(self, folder: str) -> list[str]:
        prefix = folder.rstrip("/") + "/"
        return sorted({r[len(prefix):].split("/", 1)[0] for r in self.digests
                       if r.startswith(prefix) and "/" in r[len(prefix):]})

    def file(self, rel: str) -> Path | None:
        return self._open(self.digests[rel], rel) if rel in self.digests else None


@dataclass(frozen=True)
class AnalysisFacts:
    """What ``load_analysis`` needs besides the files: where analyses are cached and under which
    key, and what generated each column (from the config or the stage entry's identity)."""

    cache_dir: Path | None = None  # the ddbuild cache whose index/ keeps analyses (None: not kept)
    key: str | None = None  # the stage key (None for a DataDesigner.create dataset)
    column_types: dict[str, str] = field(default_factory=dict)
    other_columns: str = "general"  # columns the config does not name ("seed-dataset" when seeded)

    def cache(self) -> AnalysisCache:
        from ddbuild.analysis import AnalysisCache

        return AnalysisCache.in_cache(self.cache_dir)


class DatasetCreationResults:
    """One generated dataset: ``<artifact_path>/<dataset_name>/`` on disk, or (``stored``) the
    blobs of a workflow stage's output, read back by digest whatever the view holds now."""

    def __init__(self, base_dataset_path: Path, *, artifact_path: Path | None = None,
                 summary: DatasetRunSummary | None = None, stored: StoredFiles | None = None,
                 analysis: AnalysisFacts | None = None, model_configs: list[ModelConfig] | None = None) -> None:
        self._layout = DatasetLayout(Path(base_dataset_path))
        self.artifact_path = Path(artifact_path) if artifact_path else self._layout.root.parent
        self.summary = summary  # the engine's DatasetRunSummary when this run produced it
        self._stored = stored
        self._analysis = analysis or AnalysisFacts()
        self._model_configs = list(model_configs or [])  # what to_config_builder hands on

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
        if self._stored is not None:
            path = self._stored.file(METADATA_FILE) or path
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ArtifactError(f"'{path}' does not exist.") from None
        except ValueError as exc:
            raise ArtifactError(f"'{path}' is not valid JSON: {exc}.") from exc

    def dataset_files(self) -> list[Path]:
        if self._stored is not None:
            return self._stored.files(PARQUET_DIR)
        files = self._layout.batch_files()
        if not files:  # a finished dataset always has a batch: its files are gone, not empty
            raise ArtifactError(
                f"The dataset's files are gone: '{self._layout.parquet_dir}' holds no batch_*.parquet file.",
                hint="Generate the dataset again (it was deleted or moved).",
            )
        return files

    def processor_files(self, name: str) -> list[Path]:
        known = self.processor_names()
        if name not in known:
            raise ArtifactError(
                f"No processor output named '{name}' in '{self.base_dataset_path}'.{did_you_mean(name, known)}",
                hint=f"Processor outputs: {', '.join(known) or '(none)'}.",
            )
        if self._stored is not None:
            return self._stored.files(f"{PROCESSORS_DIR}/{name}")
        return self._layout.side_files(name)

    def load_dataset(self) -> pd.DataFrame:
        """The dataset as a pandas DataFrame."""
        return load_dataframe(self.dataset_files())

    def load_processor_dataset(self, name: str) -> pd.DataFrame:
        return load_dataframe(self.processor_files(name))

    def count_records(self) -> int:
        """Rows in the dataset, from Parquet metadata (no rows are read)."""
        return count_rows(self.dataset_files())

    def get_path_to_processor_artifacts(self, name: str) -> Path:
        """The folder holding processor ``name``'s output files (ArtifactError naming the known ones)."""
        return self.processor_files(name)[0].parent

    def processor_names(self) -> list[str]:
        return self._stored.folders(PROCESSORS_DIR) if self._stored is not None else self._layout.side_names()

    def sample_record(self, index: int = 0) -> str:
        """Record ``index`` (and its processor outputs) as readable text, as a preview shows it."""
        artifacts = {name: self.load_processor_dataset(name) for name in self.processor_names()}
        return PreviewResults(self.load_dataset(), artifacts).sample_record(index)

    def display_sample_record(self, index: int = 0) -> None:
        print(self.sample_record(index))

    def to_config_builder(self, columns: list[str] | None = None) -> DataDesignerConfigBuilder:
        """A new builder seeded with this dataset (or its ``columns``), with the same model configs."""
        from ddbuild.config.builder import DataDesignerConfigBuilder
        from ddbuild.config.seeds import DataFrameSeedSource

        frame = self.load_dataset()
        if columns is not None:
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ArtifactError(
                    f"to_config_builder: no column {missing[0]!r} in '{self.base_dataset_path}'."
                    f"{did_you_mean(missing[0], frame.columns)}",
                    hint=f"Columns: {', '.join(map(str, frame.columns))}.",
                )
            frame = frame.loc[:, columns]
        builder = DataDesignerConfigBuilder(model_configs=self._model_configs)
        return builder.with_seed_dataset(DataFrameSeedSource(df=frame))

    def load_analysis(self) -> DatasetAnalysis:
        """The dataset's profile (``ddbuild.analysis.DatasetAnalysis``): computed from the stored
        files once, then read from the cache (under the stage key) by any later call or process."""
        from ddbuild.analysis import analysis_of

        facts = self._analysis
        metadata = self._metadata_or_empty()
        if self._stored is not None:
            names = self._stored.names(PARQUET_DIR)
            files = [(rel, self._stored.digests[rel]) for rel in names]

            def open_files() -> list[Path]:
                return self.dataset_files()
        else:
            from ddbuild.fingerprint import digest_file

            paths = self.dataset_files()
            files = [(p.name, digest_file(p)) for p in paths]

            def open_files() -> list[Path]:
                return paths
        return analysis_of(
            files, open_files, cache=facts.cache(), key=facts.key, column_types=facts.column_types,
            other_columns=facts.other_columns, llm_stats=metadata.get("llm_usage") or {},
            target_num_records=metadata.get("target_num_records"),
        )

    def _metadata_or_empty(self) -> dict[str, Any]:
        try:
            data = self.metadata
        except ArtifactError:
            return {}
        return data if isinstance(data, dict) else {}

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the dataset as jsonl, csv or parquet (format from the suffix unless given)."""
        return export_files(self.dataset_files(), path, format)

    def __repr__(self) -> str:
        return f"DatasetCreationResults({str(self.base_dataset_path)!r})"


class PreviewResults:
    """A preview held in memory: ``dataset`` and one DataFrame per schema_transform processor."""

    def __init__(self, dataset: pd.DataFrame, processor_artifacts: dict[str, pd.DataFrame],
                 summary: DatasetRunSummary | None = None) -> None:
        self.dataset = dataset
        self.processor_artifacts = processor_artifacts
        self.dropped_rows: dict[str, int] = dict(summary.dropped_rows) if summary else {}
        self.first_errors: dict[str, str] = dict(summary.first_errors) if summary else {}

    @classmethod
    def read(cls, summary: DatasetRunSummary) -> PreviewResults:
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


def _field_lines(record: Mapping[Hashable, object]) -> list[str]:
    """``name: value`` per field; multi-line values continue on indented lines."""
    width = max((len(str(k)) for k in record), default=0)
    lines = []
    for key, value in record.items():
        text = str(value).replace("\n", "\n" + " " * (width + 4))
        lines.append(f"  {str(key).ljust(width)}: {text}")
    return lines
