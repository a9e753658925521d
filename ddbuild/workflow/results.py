"""WorkflowResults: per-stage results, selected outputs, how each stage was satisfied, export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.errors import ArtifactError, WorkflowError
from ddbuild.planning.plan import Plan, Status

if TYPE_CHECKING:
    import pandas as pd

    from ddbuild.analysis import DatasetAnalysis
    from ddbuild.results import AnalysisFacts, DatasetCreationResults, StoredFiles
    from ddbuild.store.verify import BlobVerifier


class SkippedStageStatus(str, Enum):
    SKIPPED_EMPTY_UPSTREAM = "skipped_empty_upstream"
    SKIPPED_UPSTREAM_FAILED = "skipped_upstream_failed"  # keep-going: an ancestor failed


@dataclass(frozen=True)
class SkippedStageResult:
    status: SkippedStageStatus
    upstream_stage: str  # the stage that completed empty or failed (for a chain: the originating one)


@dataclass(frozen=True)
class StageSummary:
    """How a stage was satisfied in this run (tests count executions with these)."""

    name: str
    status: Status  # HIT, RUN, RESUME or SKIPPED
    key: str | None
    rows: int | None  # rows of the selected output
    rows_generated: int
    duration_s: float
    output_path: Path | None

    @property
    def executed(self) -> bool:
        return self.status in (Status.RUN, Status.RESUME)


class StageOutputs:
    """One stage's output as this run produced it: its entry's files by digest, read from the store.

    Results are values: they read these blobs (verified), not the view, which a later run of
    another config may rewrite. A blob removed since (``cache gc``) is an ArtifactError naming it.
    """

    def __init__(self, entry: dict[str, Any], verifier: BlobVerifier, cache_dir: Path | None = None) -> None:
        self.entry = entry
        self.verifier = verifier
        self.cache_dir = cache_dir  # local cache whose index/ keeps analyses (None: not kept)
        self.label = f"{entry['workflow']}:{entry['stage']}"

    def open_blob(self, digest: str, rel: str) -> Path:
        from ddbuild.errors import IntegrityError

        try:
            return Path(self.verifier.path(digest, self.label))
        except IntegrityError as exc:
            where = self.verifier.local_path(digest) or digest
            raise ArtifactError(
                f"The output of stage '{self.label}' from this run is gone: {rel} (blob {where}) "
                f"is not in the cache any more ({exc.message}).",
                hint="Run the workflow again to rebuild it (a `ddbuild cache gc` or a corrupt blob removed it).",
            ) from exc

    def under(self, prefix: str) -> StoredFiles:
        """The entry's files below ``prefix`` ("" or "output-processors/") as StoredFiles."""
        from ddbuild.results import StoredFiles

        digests = {o["path"][len(prefix):]: o["digest"] for o in self.entry["outputs"] if o["path"].startswith(prefix)}
        return StoredFiles(digests, lambda digest, rel: self.open_blob(digest, prefix + rel))

    def analysis_facts(self) -> AnalysisFacts:
        """load_analysis's facts: cached under this entry's stage key, column types from its identity."""
        from ddbuild.analysis import SEED_COLUMN, column_types_from_identity
        from ddbuild.results import AnalysisFacts

        seeded = (self.entry["identity"].get("stage") or {}).get("seed") is not None
        return AnalysisFacts(self.cache_dir, self.entry["key"], column_types_from_identity(self.entry["identity"]),
                             SEED_COLUMN if seeded else "general")

    def selected(self) -> list[Path]:
        by_path = {o["path"]: o["digest"] for o in self.entry["outputs"]}
        return [self.open_blob(by_path[p], p) for p in self.entry["selected_output"]["paths"]]


class WorkflowResults:
    """What ``workflow.run()`` returns (Data Designer's CompositeWorkflowResults, plus summaries)."""

    def __init__(self, name: str, stages: dict[str, StageSummary], final_stage_name: str,
                 views: dict[str, Path], skipped: dict[str, SkippedStageResult], has_output_processors: set[str],
                 plan: Plan | None = None, targets: list[str] | None = None,
                 outputs: dict[str, StageOutputs] | None = None) -> None:
        self.name = name
        self.targets = list(targets or [final_stage_name])  # several: no single "final" dataset
        self.stages = stages  # stage name -> StageSummary, in stage order
        self.final_stage_name = final_stage_name
        self.plan = plan  # the first Plan of the build (what --explain would have shown)
        self._views = views
        self._skipped = skipped
        self._with_ops = has_output_processors
        self._outputs = dict(outputs or {})  # stage -> its entry's blobs (what loading reads)

    # -- counting ------------------------------------------------------------------------
    @property
    def executions(self) -> int:
        return sum(1 for s in self.stages.values() if s.executed)

    @property
    def rows_generated(self) -> int:
        return sum(s.rows_generated for s in self.stages.values())

    def status(self, stage: str) -> Status:
        return self._summary(stage).status

    def executed_stages(self) -> list[str]:
        return [n for n, s in self.stages.items() if s.executed]

    # -- Data Designer's surface --------------------------------------------------------------
    def __getitem__(self, stage: str) -> DatasetCreationResults | SkippedStageResult:
        if stage in self._skipped:
            return self._skipped[stage]
        if stage not in self._views:
            raise KeyError(stage)
        return self._dataset(stage)

    def _dataset(self, stage: str) -> DatasetCreationResults:
        from ddbuild.results import DatasetCreationResults

        view = self._views[stage]
        base = view / "output-processors" if stage in self._with_ops else view
        outputs = self._outputs.get(stage)
        stored = outputs.under("output-processors/" if stage in self._with_ops else "") if outputs else None
        facts = outputs.analysis_facts() if outputs else None
        return DatasetCreationResults(base, artifact_path=view.parent, stored=stored, analysis=facts)

    def __iter__(self) -> Iterator[str]:
        return iter(self.stages)

    def keys(self) -> list[str]:
        return list(self.stages)

    def items(self) -> list[tuple[str, DatasetCreationResults | SkippedStageResult]]:
        return [(name, self[name]) for name in self.stages if name in self._views or name in self._skipped]

    def _summary(self, stage: str) -> StageSummary:
        if stage not in self.stages:
            from ddbuild.errors import TargetError, did_you_mean

            raise TargetError(f"Unknown stage '{stage}' in workflow '{self.name}'.{did_you_mean(stage, self.stages)}")
        return self.stages[stage]

    def get_stage_output_path(self, stage: str) -> Path:
        summary = self._summary(stage)
        if stage in self._skipped:
            raise WorkflowError(f"Stage '{stage}' was skipped: {self._skipped[stage].status.value}.")
        assert summary.output_path is not None
        return summary.output_path

    def _files(self, stage: str) -> list[Path]:
        from ddbuild.planning.inputs import parquet_files_at

        path = self.get_stage_output_path(stage)
        if stage in self._outputs:
            return self._outputs[stage].selected()
        files = parquet_files_at(path)
        if not files:  # an override whose files were removed since
            raise ArtifactError(f"The output of stage '{stage}' is gone: no parquet files at '{path}'.",
                                hint="Restore the files or run the workflow again.")
        return files

    def load_stage_output(self, stage: str) -> pd.DataFrame:
        from ddbuild.engine.io import load_dataframe

        return load_dataframe(self._files(stage))

    def count_stage_output_records(self, stage: str) -> int:
        from ddbuild.engine.io import count_rows

        return count_rows(self._files(stage))

    def _final(self) -> str:
        if len(self.targets) > 1:
            raise WorkflowError(
                f"Workflow '{self.name}' built several final stages ({', '.join(self.targets)}); "
                "there is no single dataset to load or export.",
                hint=f"Name one: results.load_stage_output('{self.targets[-1]}') or "
                     f"results.export_stage('{self.targets[-1]}', path).",
            )
        if self.final_stage_name in self._skipped:
            status = self._skipped[self.final_stage_name].status.value
            raise WorkflowError(f"Final stage '{self.final_stage_name}' was skipped: {status}.")
        return self.final_stage_name

    @property
    def final_result(self) -> DatasetCreationResults:
        return self._dataset(self._final())

    def load_dataset(self) -> pd.DataFrame:
        return self.load_stage_output(self._final())

    def load_analysis(self) -> DatasetAnalysis:
        """The final stage's dataset profile (Data Designer: ``final_result.load_analysis()``)."""
        return self.final_result.load_analysis()

    def count_records(self) -> int:
        return self.count_stage_output_records(self._final())

    def export(self, path: str | Path, format: str | None = None) -> Path:
        return self.export_stage(self._final(), path, format=format)

    def export_stage(self, stage: str, path: str | Path, *, format: str | None = None) -> Path:
        from ddbuild.engine.io import export_files

        return export_files(self._files(stage), path, format)

    def __repr__(self) -> str:
        states = ", ".join(f"{n}={s.status.value}" for n, s in self.stages.items())
        return f"WorkflowResults({self.name!r}: {states})"
