"""generate_dataset: one dataset run, batch by batch, resumable, with deterministic Parquet output.

Order of work (nothing touches ``dataset_dir`` before step 3)::

    1. validate   num_records, seed files, column graph, LLM models/providers
    2. plan       batch sizes; on resume, which recorded batches can be kept
    3. run        per batch: seed slice -> pipeline -> processors -> side files -> main file -> metadata
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

from ddbuild import atomic
from ddbuild.config.checks import positive_count
from ddbuild.config.columns import SeedDatasetColumnConfig, produced_columns
from ddbuild.config.run_config import RunConfig
from ddbuild.config.validation import validate_config
from ddbuild.engine.batch import Batch
from ddbuild.engine.identity import FileDigest, config_digest
from ddbuild.engine.layout import DatasetLayout
from ddbuild.engine.metadata import BatchRecord, RunRecord, read_record
from ddbuild.engine.pipeline import (
    LLMBinding,
    Pipeline,
    has_llm,
    needs_identity,
    plan_steps,
    systematic_failure,
)
from ddbuild.engine.processors import Processors
from ddbuild.engine.samplers import check_samplers
from ddbuild.engine.seeds import SeedReader, open_seed
from ddbuild.engine.validation import check_validators
from ddbuild.engine.writer import write_parquet
from ddbuild.errors import ConfigError, GenerationError, ResumeError, RowsLostError

if TYPE_CHECKING:
    from ddbuild.config.builder import DataDesignerConfig
    from ddbuild.config.models import ModelProvider
    from ddbuild.engine.llm.cache import ResponseCache
    from ddbuild.engine.llm.limits import ModelLimits
    from ddbuild.engine.llm.sessions import Session, SessionPool
    from ddbuild.engine.llm.transport import ChatTransport
    from ddbuild.engine.secret_resolver import SecretResolver


class BatchStatus(str, Enum):
    GENERATED = "generated"
    REUSED = "reused"


@dataclass(frozen=True)
class BatchEvent:
    """Reported to ``on_batch`` after each batch is durable (or found reusable)."""

    index: int
    total: int
    num_records: int
    status: BatchStatus
    llm_requests_sent: int = 0  # this run's LLM requests so far: sent to the endpoint ...
    llm_requests_cached: int = 0  # ... and answered from the response cache


@dataclass(frozen=True)
class DatasetRunSummary:
    dataset_dir: Path
    config_digest: str
    target_num_records: int
    num_records: int  # rows in parquet-files after the run (all batches, reused included)
    num_batches: int
    batches_generated: int
    batches_reused: int
    dropped_rows: dict[str, int] = field(default_factory=dict)
    first_errors: dict[str, str] = field(default_factory=dict)  # drop reason -> first row's message
    llm_stats: dict[str, Any] = field(default_factory=dict)  # the whole dataset: resumed-from runs too
    llm_stats_this_run: dict[str, Any] = field(default_factory=dict)  # requests this call sent / served


@dataclass
class _Prepared:
    """The validated run: everything decided before the dataset directory is touched."""

    config: Any
    seed: SeedReader | None
    columns: list[Any]
    output_columns: list[str]
    pipeline_steps: list[Any]
    digest: str
    batch_sizes: BatchSizes


class BatchSizes(Sequence[int]):
    """The size of each batch, computed on demand: planning a run of 10**12 rows costs what
    planning 10 rows does (a list would hold 10**9 ints before the first batch)."""

    def __init__(self, num_records: int, buffer_size: int) -> None:
        self.num_records, self.buffer_size = num_records, buffer_size
        self._count = -(-num_records // buffer_size)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return min(self.buffer_size, self.num_records - index * self.buffer_size)



def batch_sizes(num_records: int, buffer_size: int) -> BatchSizes:
    return BatchSizes(num_records, buffer_size)


def check_generation(
    config: DataDesignerConfig, run_config: RunConfig, base_dir: Path, providers: list[ModelProvider] | None = None,
    secret_resolver: SecretResolver | None = None,
) -> None:
    """Raise what ``generate_dataset`` would raise before its first batch (config, seed, models,
    API keys); reads the seed's schema, sends and writes nothing."""
    _prepare(config, 1, run_config, Path(base_dir), providers, secret_resolver=secret_resolver)


def _prepare(config: DataDesignerConfig, num_records: int, run_config: RunConfig, base_dir: Path,
             providers: list[ModelProvider] | None,
             file_digest: FileDigest | None = None, *, secret_resolver: SecretResolver | None = None) -> _Prepared:
    positive_count(num_records, "num_records", ConfigError)
    seed = open_seed(config.seed_config, config.seed, base_dir) if config.seed_config else None
    seed_columns = seed.column_names if seed else []
    order = validate_config(config, seed_columns)
    columns = [c for c in config.columns if not isinstance(c, SeedDatasetColumnConfig)]
    steps = plan_steps(columns, order, config.constraints)
    check_validators(columns)
    check_samplers(columns)
    if has_llm(steps):
        from ddbuild.engine.llm.columns import LLMServices

        LLMServices.validate(columns, config.model_configs, providers, secret_resolver=secret_resolver)
    return _Prepared(
        config=config, seed=seed, columns=columns,
        output_columns=seed_columns + [n for c in columns for n in produced_columns(c)],
        pipeline_steps=steps, digest=config_digest(config, run_config, base_dir, file_digest, providers),
        batch_sizes=batch_sizes(num_records, run_config.buffer_size),
    )


def _reusable(prepared: _Prepared, layout: DatasetLayout, resume: bool) -> RunRecord | None:
    """The prior run's record when resuming (digest checked), else None."""
    if not resume:
        return None
    record = read_record(layout.metadata)
    if record is None:
        return None
    if record.config_digest != prepared.digest:
        raise ResumeError(
            f"Cannot resume '{layout.root}': the config changed since the run that wrote it "
            f"(recorded digest {record.config_digest}, current digest {prepared.digest}).",
            hint="Run without resume to start fresh, or restore the original config.",
        )
    return record


def generate_dataset(
    config: DataDesignerConfig,
    *,
    num_records: int,
    dataset_dir: Path,
    run_config: RunConfig,
    resume: bool,
    base_dir: Path,
    response_cache: ResponseCache | None = None,
    model_providers: list[ModelProvider] | None = None,
    on_batch: Callable[[BatchEvent], None] | None = None,
    on_requests: Callable[[int], None] | None = None,
    llm_limits: ModelLimits | None = None,
    llm_transport: ChatTransport | None = None,
    file_digest: FileDigest | None = None,
    batch_runner: BatchRunner | None = None,
    secret_resolver: SecretResolver | None = None,
    llm_sessions: SessionPool | None = None,
) -> DatasetRunSummary:
    """Generate ``num_records`` rows of ``config`` into ``dataset_dir`` (see the module docstring).

    ``on_requests`` is told how many LLM requests of this run await a reply, each time that changes.
    ``llm_transport`` replaces the HTTP transport of LLM requests (a fake, or --explain's counter).
    ``batch_runner`` generates the batches somewhere else (a Ray cluster); by default they are
    generated here, one after the other. Either way the files and the record are the same.
    ``file_digest`` hashes seed files for the config digest; a caller that already knows them (a
    stat cache, a memo shared with its own checks) passes it so no seed file is hashed twice.
    ``secret_resolver`` resolves the providers' API key references (None: Data Designer's default).
    ``llm_sessions`` lends the run an event loop with open connections and takes it back after
    (a build's ``SessionPool``: a chain's stages do not connect again); None: the run's own.
    """
    prepared = _prepare(config, num_records, run_config, Path(base_dir), model_providers, file_digest,
                        secret_resolver=secret_resolver)
    layout = DatasetLayout(Path(dataset_dir))
    prior = _reusable(prepared, layout, resume)
    processors = Processors(config.processors, [c.name for c in prepared.columns if c.drop])
    record = RunRecord.start(prepared.digest, num_records, run_config, prior)
    if prior is None:
        layout.clear()
    keep = record.reusable_batches(layout, prepared.batch_sizes)
    for index in record.stale_batches(layout, keep):
        layout.remove_batch(index, processors.side_names())
        record.forget(index)
    runner = _Runner(prepared, layout, processors, record, on_batch)
    work = StageWork(config, prepared.pipeline_steps, prepared.output_columns,
                     [c.name for c in prepared.columns if c.drop], run_config.preserve_dropped_columns,
                     run_config, model_providers, base_dir=Path(base_dir), secret_resolver=secret_resolver)
    if batch_runner is not None:  # elsewhere (a cluster): the runner brings its own LLM services
        runner.run(keep, batch_runner, work, response_cache)
        this_run = batch_runner.stats()
    else:
        with _LLMContext(config, prepared.pipeline_steps, run_config, response_cache, model_providers,
                         llm_limits, llm_transport, on_requests, base_dir=work.base_dir,
                         secret_resolver=secret_resolver, sessions=llm_sessions) as llm:
            local = LocalBatches(llm)
            runner.run(keep, local, work, response_cache)
            this_run = local.stats()
    record.save(layout, processors.side_names())
    return DatasetRunSummary(
        dataset_dir=layout.root, config_digest=prepared.digest, target_num_records=num_records,
        num_records=record.actual_num_records, num_batches=len(prepared.batch_sizes),
        batches_generated=runner.generated, batches_reused=len(keep),
        dropped_rows=record.dropped_rows, first_errors=record.first_errors, llm_stats=record.total_llm_usage,
        llm_stats_this_run=this_run,
    )


def _remote_validator_connections(columns: Sequence[Any]) -> int:
    """Connections remote validators need beside the models' (their max_parallel_requests)."""
    from ddbuild.config.columns import RemoteValidatorParams

    return sum(c.validator_params.max_parallel_requests for c in columns
               if isinstance(getattr(c, "validator_params", None), RemoteValidatorParams))


class _LLMContext:
    """One asyncio event loop and one LLMServices per run, only when an LLM column exists."""

    def __init__(
        self, config: DataDesignerConfig, steps: list[Any], run_config: RunConfig, cache: ResponseCache | None,
        providers: list[ModelProvider] | None, limits: ModelLimits | None = None,
        transport: ChatTransport | None = None, on_requests: Callable[[int], None] | None = None,
        base_dir: Path | None = None,
        secret_resolver: SecretResolver | None = None,
        sessions: SessionPool | None = None,
    ) -> None:
        self.enabled = has_llm(steps)
        self.base_dir = base_dir  # image paths of multi_modal_context are read relative to it
        self.args = (config, run_config, cache, providers)
        self.limits = limits  # a ModelLimits shared by concurrent stage runs, or None (own budget)
        self.transport = transport  # None: the real HTTP transport
        self.on_requests = on_requests
        self.secret_resolver = secret_resolver
        self.sessions = sessions  # lends an event loop with open connections (a build's), or None: our own
        self.session: Session | None = None  # the one lent to this run
        self.loop: asyncio.AbstractEventLoop | None = None
        self.binding: LLMBinding | None = None

    def __enter__(self) -> _LLMContext:
        if self.enabled:
            from ddbuild.engine.llm.columns import LLMServices, RowDropped, http_connections

            config, run_config, cache, providers = self.args
            extra_connections = _remote_validator_connections(config.columns)
            transport = self.transport
            if transport is None and self.sessions is not None:
                from ddbuild.engine.llm.sessions import Borrowed

                self.session = self.sessions.lend(http_connections(config.model_configs, extra_connections))
                self.loop, transport = self.session.loop, Borrowed(self.session.transport)
            else:
                self.loop = asyncio.new_event_loop()

            if cache is None:
                from ddbuild.engine.llm.cache import MemoryResponseCache

                cache = MemoryResponseCache()

            async def create() -> Any:  # inside the loop: the HTTP session binds to it
                return LLMServices.create(
                    config.model_configs, providers, cache, sampling_seed=config.seed,
                    max_retries=run_config.max_retries, retry_max_wait=run_config.retry_max_wait,
                    max_correction_turns=run_config.max_conversation_correction_steps,
                    max_restarts=run_config.max_conversation_restarts, base_dir=self.base_dir,
                    shutdown_error_rate=run_config.shutdown_error_rate,
                    shutdown_error_window=run_config.shutdown_error_window,
                    disable_early_shutdown=run_config.disable_early_shutdown, limits=self.limits,
                    request_admission=run_config.request_admission, transport=transport,
                    extra_connections=extra_connections, secret_resolver=self.secret_resolver,
                )

            try:
                self.binding = LLMBinding(self.loop.run_until_complete(create()), RowDropped)
            except BaseException:  # no __exit__ follows: close (or give back) what was opened here
                self.__exit__(None)
                raise
            if self.on_requests is not None:
                self.binding.services.client.on_in_flight = self.on_requests
        return self

    def stats(self) -> dict[str, Any]:
        return dict(self.binding.services.stats) if self.binding else {}

    def flush(self) -> None:
        if self.binding is not None:
            self.binding.services.cache.flush()

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self.loop is None:
            return
        closed = False
        try:
            if self.binding is not None:
                self.loop.run_until_complete(self.binding.services.aclose())
                closed = kind is None
        finally:
            if self.session is not None and self.sessions is not None:  # its connections stay open for the next run
                self.sessions.give_back(self.session, reusable=closed)
            else:
                self.loop.close()
            self.loop = self.session = None


@dataclass
class _LostRows:
    """Rows of this run lost to transient request failures (5xx, 429, timeouts, connection errors
    after the retries). Their batches are not checkpointed, so they never become output; the
    replies that did arrive are in the response cache, so a resumed run asks only for these rows."""

    counts: Counter[str] = field(default_factory=Counter)
    first_error: str = ""
    batches: int = 0

    def add(self, lost: dict[str, int], first: str) -> None:
        """Count one batch's transient drops (that batch is not kept)."""
        self.counts.update(lost)
        self.batches += 1
        self.first_error = self.first_error or first

    def error(self, num_records: int, batches_kept: int, num_batches: int) -> RowsLostError:
        total = sum(self.counts.values())
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.counts.items()))
        return RowsLostError(
            f"{total} of {num_records} rows got no reply after the retries ({reasons}); "
            f"first error: {self.first_error}",
            lost=dict(sorted(self.counts.items())),
            hint=f"Nothing was stored for this stage. {batches_kept} of {num_batches} batches are kept as "
            "checkpoints and every reply received is cached: build again to ask only for the rows that "
            "failed (raise max_retries, or lower max_parallel_requests if the endpoint is overloaded).",
        )


def _check_first_batch(batch: Batch, size: int) -> None:
    """Early shutdown: the run's first batch lost every row to one column's error."""
    failure = systematic_failure(batch, size)
    if failure is not None:
        reason, first_error = failure
        column = reason.partition(":")[2]
        raise GenerationError(
            f"Column '{column}' failed for every row of the first batch ({size} of {size}, {reason}); "
            f"first error: {first_error}",
            hint="This looks like a bug in the column's config rather than bad rows; fix it and run again.",
        )


@dataclass(frozen=True)
class StageWork:
    """What every batch of one run shares, picklable (sent once to the workers of a Ray build)."""

    config: Any
    pipeline_steps: list[Any]
    output_columns: list[str]
    drop_flagged: list[str]
    preserve_dropped_columns: bool
    run_config: RunConfig
    model_providers: Any = None
    base_dir: Path | None = None  # image paths of multi_modal_context are read relative to it
    secret_resolver: Any = None  # resolves the providers' API keys where the batch runs (picklable)

    def processors(self) -> Processors:
        return Processors(self.config.processors, self.drop_flagged)


@dataclass(frozen=True)
class BatchJob:
    """One batch to generate: its index, rows and seed slice (read by the driver)."""

    index: int
    first_row: int
    size: int
    check_first: bool  # the run's first generated batch: every row failing on one column stops the run
    seed_columns: Any = None  # the seed's rows for this batch (a pyarrow Table), or None
    seed_identity: Any = None  # the seed rows' identities, when a column's draws or keys need them


@dataclass
class BatchOutcome:
    """A generated batch: its files written (relative path -> digest) or, when rows were lost to
    transient request failures, nothing written and the losses. ``payload`` holds the files' bytes
    when they were written somewhere else (a worker) for the driver to put in place."""

    index: int
    size: int
    rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    first_errors: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    lost_first: str = ""
    payload: dict[str, bytes] | None = None


class BatchRunner(Protocol):
    """Where batches are generated: in this process (``LocalBatches``) or elsewhere (a Ray cluster).

    ``run`` yields one outcome per job, in any order, consuming ``jobs`` lazily; ``stats`` is this
    run's LLM usage so far (requests sent, served from the cache, tokens).
    """

    def run(
        self, work: StageWork, jobs: Iterator[BatchJob], root: Path, response_cache: ResponseCache | None
    ) -> Iterator[BatchOutcome]:
        ...

    def stats(self) -> dict[str, Any]:
        ...


def produce_batch(work: StageWork, processors: Processors, pipeline: Pipeline,
                  loop: asyncio.AbstractEventLoop | None, job: BatchJob, root: Path) -> BatchOutcome:
    """Generate ``job``'s rows and write its files under ``root`` (side files first, main file last)."""
    import numpy as np

    batch = Batch(job.index, np.arange(job.first_row, job.first_row + job.size, dtype="int64"))
    if job.seed_columns is not None:
        batch.columns = {name: job.seed_columns.column(name) for name in job.seed_columns.column_names}
    if job.seed_identity is not None:
        batch.identity = job.seed_identity
    pipeline.run(batch, loop)
    lost = _transient(batch)
    if lost:  # not kept: the next run regenerates it, replies from the cache
        first = next(message for reason, message in batch.first_errors.items() if reason in lost)
        return BatchOutcome(job.index, job.size, lost=lost, lost_first=first)
    if job.check_first:
        _check_first_batch(batch, job.size)
    present = [c for c in work.output_columns if c in batch.columns]
    processed = processors.apply(batch, present)
    layout = DatasetLayout(root)
    outputs = [(table, layout.side_batch(name, batch.index))
               for name, table in processed.side_tables.items() if table.num_rows]
    if processed.dropped_columns and work.preserve_dropped_columns and batch.num_rows:
        outputs.append((batch.table(processed.dropped_columns), layout.dropped_batch(batch.index)))
    if batch.num_rows and processed.main_columns:
        outputs.append((batch.table(processed.main_columns), layout.batch(batch.index)))
    digests = {path.relative_to(root).as_posix(): write_parquet(table, path) for table, path in outputs}
    return BatchOutcome(job.index, job.size, batch.num_rows, dict(batch.dropped), dict(batch.first_errors),
                        digests)


def _transient(batch: Batch) -> dict[str, int]:
    from ddbuild.engine.llm.client import TRANSIENT_REASONS

    return {reason: n for reason, n in batch.dropped.items() if reason in TRANSIENT_REASONS}


class LocalBatches:
    """Batches generated one after the other in this process, on the run's own event loop."""

    def __init__(self, llm: _LLMContext) -> None:
        self.llm = llm

    def run(
        self, work: StageWork, jobs: Iterator[BatchJob], root: Path, response_cache: ResponseCache | None
    ) -> Iterator[BatchOutcome]:
        pipeline = Pipeline(work.pipeline_steps, work.config.seed, self.llm.binding, work.config.constraints)
        processors = work.processors()
        for job in jobs:
            outcome = produce_batch(work, processors, pipeline, self.llm.loop, job, root)
            self.llm.flush()  # the batch's replies are durable before its checkpoint
            yield outcome

    def stats(self) -> dict[str, Any]:
        return self.llm.stats()


def run_batch(work: StageWork, job: BatchJob, root: Path, response_cache: ResponseCache | None,
              llm_limits: Any = None, llm_sessions: SessionPool | None = None) -> tuple[BatchOutcome, dict[str, Any]]:
    """One batch with LLM services of its own (a worker's unit of work): its outcome and LLM usage.
    ``llm_sessions`` lends it an event loop with open connections (a worker process's pool)."""
    with _LLMContext(work.config, work.pipeline_steps, work.run_config, response_cache, work.model_providers,
                     llm_limits, base_dir=work.base_dir, secret_resolver=work.secret_resolver,
                     sessions=llm_sessions) as llm:
        outcome = next(LocalBatches(llm).run(work, iter([job]), root, response_cache))
        return outcome, llm.stats()


class _Runner:
    """Hands the batches that are not kept to a BatchRunner and records each outcome durably."""

    def __init__(self, prepared: _Prepared, layout: DatasetLayout, processors: Processors,
                 record: RunRecord, on_batch: Callable[[BatchEvent], None] | None) -> None:
        self.prepared = prepared
        self.layout = layout
        self.processors = processors
        self.record = record
        self.on_batch = on_batch
        self.generated = 0
        self.lost = _LostRows()

    def run(self, keep: set[int], runner: BatchRunner, work: StageWork, response_cache: Any) -> None:
        sizes = self.prepared.batch_sizes
        for index in sorted(keep):
            self._report(index, self.record.batch_rows(index), BatchStatus.REUSED)
        for outcome in runner.run(work, self._jobs(keep), self.layout.root, response_cache):
            if outcome.lost:
                self.lost.add(outcome.lost, outcome.lost_first)
                self.record.note_usage(runner.stats())
                self.record.save(self.layout, self.processors.side_names())
                continue
            if outcome.payload is not None:
                for rel, data in outcome.payload.items():
                    atomic.write_bytes(self.layout.root / rel, data)
            self.generated += 1
            record = BatchRecord(outcome.size, outcome.rows, outcome.dropped, list(outcome.digests),
                                 outcome.first_errors, digests=outcome.digests)
            self.record.complete(outcome.index, record, runner.stats())
            self.record.save(self.layout, self.processors.side_names())
            self._report(outcome.index, outcome.rows, BatchStatus.GENERATED, runner.stats())
        if self.lost.batches:
            raise self.lost.error(sum(sizes), len(sizes) - self.lost.batches, len(sizes))

    def _jobs(self, keep: set[int]) -> Iterator[BatchJob]:
        """The batches to generate, in order, each made when the runner asks for it (lazily: the
        seed is read one slice at a time, and "first generated" is known when the job is made)."""
        buffer_size = self.record.buffer_size
        seed_reader = self.prepared.seed
        identity = seed_reader is not None and needs_identity(self.prepared.pipeline_steps)
        for index, size in enumerate(self.prepared.batch_sizes):
            if index in keep:
                continue
            first_row = index * buffer_size
            seed = seed_reader.rows(first_row, size) if seed_reader is not None else None
            ids = seed_reader.identity(first_row, size) if identity and seed_reader is not None else None
            yield BatchJob(index, first_row, size, self.generated == 0, seed, ids)

    def _report(self, index: int, rows: int, status: BatchStatus, llm: dict[str, Any] | None = None) -> None:
        if self.on_batch is not None:
            llm = llm or {}
            self.on_batch(BatchEvent(index, len(self.prepared.batch_sizes), rows, status,
                                     int(llm.get("requests_sent", 0)), int(llm.get("served_from_cache", 0))))
