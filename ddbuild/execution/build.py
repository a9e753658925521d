"""Building one stage: lock the key, generate into partial/<key>/, publish blobs + entry, view;
and turning the finished dataset directory into entry outputs (the selected one among them).

    partial/<key>/inputs/...     the seed handed in (links to parent blobs, or a joined file)
    partial/<key>/dataset/...    generate_dataset's output (batch checkpoints = resume points)

The entry is published only when the stage is complete; the partial folder is removed after.
On a multi-node Ray build the checkpoints are kept on the remote as well (execution/checkpoints.py):
a stage with none here starts from the remote's, and they are deleted there once it is published.
"""

from __future__ import annotations

import functools
import getpass
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.errors import GenerationError, ResumeError
from ddbuild.execution.context import BuildContext
from ddbuild.execution.events import BatchDone, LLMRequestsInFlight, StageStarted, WarningEvent
from ddbuild.execution.llmcache import StoreResponseCache
from ddbuild.execution.locks import key_lock
from ddbuild.execution.view import materialise, write_json_atomic
from ddbuild.fingerprint import digest_file, output_digest
from ddbuild.planning.inputs import parquet_files_at
from ddbuild.planning.plan import Status, sorted_drops
from ddbuild.planning.planner import selected_rows
from ddbuild.planning.stage import Stage
from ddbuild.store.base import BlobState, Store
from ddbuild.store.entry import blob_digests, new_entry
from ddbuild.store.verify import BlobVerifier

if TYPE_CHECKING:
    from ddbuild.config.builder import DataDesignerConfig
    from ddbuild.execution.checkpoints import StageCheckpoints


@dataclass(frozen=True)
class ParentOutput:
    """A parent's selected output as files on local disk (blobs or an override)."""

    files: list[Path]
    rows: int
    unverified: str | None = None  # the entry's "unverified" mark: a child built from it inherits it


@dataclass(frozen=True)
class Built:
    status: Status  # RUN / RESUME, or HIT when another process published the key meanwhile
    entry: dict[str, Any]
    rows_generated: int
    llm_this_run: dict[str, Any] | None = None  # LLM stats of requests sent/served by THIS build


def llm_counts(stats: dict[str, Any] | None) -> dict[str, int]:
    """The summary's LLM numbers from engine stats: requests sent, served from cache, tokens."""
    stats = stats or {}
    return {
        "llm_requests_sent": int(stats.get("requests_sent", 0) or 0),
        "llm_requests_cached": int(stats.get("served_from_cache", 0) or 0),
        "tokens": int(stats.get("prompt_tokens", 0) or 0) + int(stats.get("completion_tokens", 0) or 0),
    }


def built_by() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def build_stage(
    ctx: BuildContext, workflow: str, stage: Stage, key: str, document: dict[str, Any],
    status: Status, parents: dict[str, ParentOutput], *, forced: bool = False,
) -> Built:
    """Run ``stage`` for ``key`` (RUN: fresh; RESUME: continue the partial) and publish it.

    ``forced`` (always-make, NEVER, rerun_from) rebuilds even when an entry exists and then
    replaces that entry; otherwise the first writer wins.
    """
    with key_lock(ctx.lock_path(key)):
        existing = _usable_entry(ctx, key)
        if existing is not None and not forced:  # another process finished it while we waited
            ctx.hold(entries=[key], blobs=blob_digests(existing))
            return Built(Status.HIT, existing, 0)
        partial = ctx.store.partial_dir(key)
        resume = status == Status.RESUME and partial.exists()
        if not resume and partial.exists():
            shutil.rmtree(partial)
        dataset = partial / "dataset"
        cache = StoreResponseCache(ctx.store, read=not ctx.fresh_replies)
        # multi-node Ray: checkpoints on the remote too, where a driver on another machine finds them
        remote = ctx.executor.checkpoints(key) if ctx.executor is not None else None
        try:
            summary = _generate(ctx, stage, key, partial, dataset, parents, resume, cache, remote, forced)
        except BaseException:
            cache.close(raise_errors=False)  # replies received stay cached for the next build
            raise
        cache.close()  # every response the entry names is durable before it is published
        if forced or existing is None:
            # A forced rebuild replaces the entry for its own key; so does a rebuild of an entry
            # whose blobs are gone (quarantined or deleted), which would otherwise win the publish.
            _drop_local_entry(ctx.store, key)
        taint = next((f"built from {name}, which is not verified" for name, p in parents.items() if p.unverified),
                     cache.unverified or (remote.unverified if remote is not None else None))
        entry = _publish(ctx, workflow, stage, key, document, dataset, summary, cache, taint)
        _remember(ctx, workflow, stage.name, key, document)
        shutil.rmtree(partial, ignore_errors=True)
        if remote is not None:
            remote.drop()  # the entry holds the stage now
        generated = summary["rows_generated"]
        status = Status.RESUME if summary["resumed"] else Status.RUN
        return Built(status, entry, generated, summary["llm_stats_this_run"])


def _usable_entry(ctx: BuildContext, key: str) -> dict[str, Any] | None:
    """The entry for ``key`` if all its output blobs are (or can be made) local and verify; else None."""
    store = ctx.store
    if not store.fetch(key):
        return None  # absent, untrusted, or its remote blobs are missing/corrupt: build it here
    entry = store.get_entry(key)
    stage = f"{entry['workflow']}:{entry['stage']}" if entry is not None else None
    if entry is not None and not all(ctx.verifier.verify(d, stage) is BlobState.OK for d in blob_digests(entry)):
        return None  # a blob was quarantined, deleted or is corrupt: rebuild rather than reuse
    return entry


def _drop_local_entry(store: Store, key: str) -> None:
    if store.local_store().get_entry(key) is not None:
        store.delete_entry(key)


def _remember(ctx: BuildContext, workflow: str, stage: str, key: str, document: dict[str, Any]) -> None:
    """index/<workflow>/<stage>.json: the last key, so the next plan can say what changed."""
    write_json_atomic(ctx.layout.last_build(workflow, stage), {"key": key, "document": document})


def prepare_generation(
    stage: Stage, folder: Path, parents: dict[str, ParentOutput], cwd: Path
) -> tuple[DataDesignerConfig, int]:
    """(config, num_records) for one run of ``stage``, its seed laid out under ``folder``/inputs/.

    The one preparation shared by a build (folder = partial/<key>/) and the --explain dry run
    (folder = a temporary directory), so both generate from exactly the same inputs.
    """
    seed = seed_path(stage, folder, parents)
    config = stage_config(stage, seed, cwd)
    return config, stage_num_records(stage, config, seed, cwd)


def entry_output(verifier: BlobVerifier, entry: dict[str, Any]) -> ParentOutput:
    """An entry's selected output as local blob files, each checked against its digest before a
    child reads it (IntegrityError, the blob quarantined, when one fails). Fetch remote hits first."""
    by_path = {o["path"]: o["digest"] for o in entry["outputs"]}
    stage = f"{entry['workflow']}:{entry['stage']}"
    files = [verifier.path(by_path[p], stage) for p in entry["selected_output"]["paths"]]
    return ParentOutput(files, entry["selected_output"]["rows"], entry.get("unverified"))


def seed_path(stage: Stage, partial: Path, parents: dict[str, ParentOutput]) -> Path | None:
    """Lay the parents' outputs out under partial/inputs/ and return the seed to read."""
    if not parents:
        return None
    dirs: dict[str, Path] = {}
    for name in stage.depends_on:
        folder = partial / "inputs" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, source in enumerate(parents[name].files):
            dest = folder / f"part-{i:05d}.parquet"
            if not dest.exists():
                _link(source, dest)
        dirs[name] = folder
    if len(dirs) == 1:
        return next(iter(dirs.values()))
    from ddbuild.planning.joins import apply_join

    files = {n: sorted(d.glob("*.parquet")) for n, d in dirs.items()}
    assert stage.join is not None, "add_stage refuses several parents without join="
    return apply_join(stage.join, files, dirs, partial / "inputs" / "_joined" / "joined.parquet")


def _link(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def stage_config(stage: Stage, seed: Path | None, cwd: Path) -> DataDesignerConfig:
    builder = stage.builder.copy()
    if seed is not None:
        from ddbuild.config.seeds import LocalFileSeedSource

        builder.with_seed_dataset(
            LocalFileSeedSource(path=str(seed)),
            sampling_strategy=stage.sampling_strategy,
            selection_strategy=stage.selection_strategy,
        )
    return builder.build(base_dir=cwd)


def stage_num_records(stage: Stage, config: DataDesignerConfig, seed: Path | None, cwd: Path) -> int:
    """Explicit, else the seed's rows after selection (cycling covers larger counts), else 10."""
    if stage.num_records is not None:
        return stage.num_records
    seed_config = config.seed_config
    if seed_config is None:
        return 10
    from ddbuild.config.seeds import DataFrameSeedSource
    from ddbuild.planning.inputs import source_file_rows

    source = seed_config.source
    if isinstance(source, DataFrameSeedSource):
        rows = len(source.df)
    else:
        rows = sum(source_file_rows(source, f) for f in source.files(cwd))
    return max(1, selected_rows(rows, seed_config.selection_strategy) or 0)


def _generate(
    ctx: BuildContext, stage: Stage, key: str, partial: Path, dataset: Path, parents: dict[str, ParentOutput],
    resume: bool, cache: StoreResponseCache, remote: StageCheckpoints | None = None, forced: bool = False,
) -> dict[str, Any]:
    from ddbuild.engine.dataset import BatchEvent, generate_dataset

    config, num_records = prepare_generation(stage, partial, parents, ctx.cwd)
    if remote is not None and not resume and not forced:  # no local checkpoints: the remote's, if any
        from ddbuild.engine.identity import config_digest

        digest = config_digest(config, ctx.run_config, ctx.cwd, ctx.file_digest(), ctx.model_providers)
        resume = remote.restore(dataset, digest, num_records, ctx.run_config) > 0
    ctx.reporter.emit(StageStarted(stage.name, Status.RESUME if resume else Status.RUN, key, rows_total=num_records))
    done = {"rows": 0, "batches": 0}

    def on_batch(event: BatchEvent) -> None:
        done["rows"] += event.num_records
        done["batches"] += 1
        ctx.reporter.emit(BatchDone(stage.name, done["rows"], num_records, done["batches"], event.total,
                                    event.llm_requests_sent, event.llm_requests_cached))

    run = functools.partial(
        generate_dataset, run_config=ctx.run_config, base_dir=ctx.cwd, response_cache=cache,
        on_requests=InFlightEvents(ctx, stage.name), model_providers=ctx.model_providers,
        llm_limits=ctx.llm_limits, secret_resolver=ctx.secret_resolver, llm_sessions=ctx.llm_sessions,
        file_digest=ctx.file_digest(),  # seeds the planner hashed are not read again
        batch_runner=ctx.executor.batches(stage.name, remote) if ctx.executor is not None else None,
    )
    try:
        summary = run(config, num_records=num_records, dataset_dir=dataset, resume=resume, on_batch=on_batch)
    except ResumeError as exc:  # checkpoints that cannot be read back (a torn metadata.json): they
        if not resume:          # are a cache, so the stage starts over instead of failing the build
            raise
        ctx.reporter.emit(WarningEvent(
            f"its checkpoints cannot be resumed ({exc.message}); starting the stage over", stage=stage.name))
        summary = run(config, num_records=num_records, dataset_dir=dataset, resume=False, on_batch=on_batch)
    generated = summary.batches_generated and summary.num_records - _reused_rows(summary)
    if stage.output_processors and summary.num_records > 0:
        op = _output_processor_config(stage, dataset / "parquet-files", ctx.cwd)
        run(op, num_records=summary.num_records, dataset_dir=dataset / "output-processors", resume=False)
    return {"num_records": summary.num_records, "rows_generated": generated, "llm_stats": summary.llm_stats,
            "llm_stats_this_run": summary.llm_stats_this_run, "dropped_rows": summary.dropped_rows,
            "first_errors": summary.first_errors, "resumed": resume}


class InFlightEvents:
    """A stage run's LLM requests awaiting a reply, as LLMRequestsInFlight events: at most one per
    ``interval`` seconds (the count it settles on is shown once the interval is up), and at once
    when it drains to 0, so a display never shows requests that are done. Called on the stage's
    event loop (engine.llm.client.ChatClient.on_in_flight)."""

    def __init__(self, ctx: BuildContext, stage: str, interval: float = 0.5) -> None:
        self.ctx, self.stage, self.interval = ctx, stage, interval
        self.latest = self.shown = 0
        self.shown_at = float("-inf")
        self.pending = False

    def __call__(self, in_flight: int) -> None:
        import asyncio

        self.latest = in_flight
        wait = self.shown_at + self.interval - self.ctx.clock()
        if in_flight == 0 or wait <= 0:
            self.show()
        elif not self.pending:  # show what the count is when the interval is up
            self.pending = True
            asyncio.get_running_loop().call_later(wait, self.show)

    def show(self) -> None:
        self.pending = False
        if self.latest != self.shown:
            self.shown, self.shown_at = self.latest, self.ctx.clock()
            self.ctx.reporter.emit(LLMRequestsInFlight(self.stage, self.latest))


def _reused_rows(summary: Any) -> int:
    """Rows that came from completed batches of an earlier attempt (approximate per batch)."""
    if not summary.batches_reused or not summary.num_batches:
        return 0
    return summary.num_records * summary.batches_reused // summary.num_batches


def _output_processor_config(stage: Stage, main_output: Path, cwd: Path) -> Any:
    from ddbuild.config.builder import DataDesignerConfigBuilder
    from ddbuild.config.seeds import LocalFileSeedSource

    builder = DataDesignerConfigBuilder(model_configs=stage.builder.model_configs)
    builder.with_seed_dataset(LocalFileSeedSource(path=str(main_output)))
    for processor in stage.output_processors:
        builder.add_processor(processor)
    return builder.build(base_dir=cwd)


def _publish(
    ctx: BuildContext, workflow: str, stage: Stage, key: str, document: dict[str, Any], dataset: Path,
    summary: dict[str, Any], cache: StoreResponseCache, unverified: str | None = None,
) -> dict[str, Any]:
    """Hash and store every file, run on_success on the view, then publish the entry.

    ``unverified`` (a parent or an LLM response was not verified) marks the entry so that no key
    holder ever signs it (docs/sharing.md, "Trust").
    """
    files = collect(dataset)
    ctx.hold(entries=[key], blobs=[record["digest"] for _, record in files])  # before they exist
    for path, record in files:
        _store_blob(ctx, record["digest"], path)
    outputs = [record for _, record in files]
    view_dir = ctx.stage_view(stage)
    root = selected_root(stage)
    if stage.on_success is not None:
        materialise(ctx.verifier, {"outputs": outputs}, view_dir, f"{workflow}:{stage.name}")
        root, extra = _run_callback(stage, view_dir, ctx.cwd)
        ctx.hold(blobs=[record["digest"] for _, record in extra])
        for path, record in extra:
            _store_blob(ctx, record["digest"], path)
        taken = {r["path"] for _, r in extra}
        outputs = [o for o in outputs if o["path"] not in taken] + [r for _, r in extra]
    selected = select(outputs, root, stage)
    if selected["rows"] == 0 and not stage.allow_empty:
        raise GenerationError(
            f"Stage '{stage.name}' produced an empty output{_drop_cause(summary)}.",
            hint="If an empty output is expected, pass allow_empty=True to add_stage (downstream stages are "
            "then skipped).",
        )
    usage = {"response_keys": cache.used, "response_digests": dict(cache.digests),
             "responses_cached": cache.hits, "responses_new": cache.misses,
             "llm_stats": summary["llm_stats"], "first_errors": summary["first_errors"]}
    row_counts = {"main": summary["num_records"], "selected": selected["rows"],
                  "generated": summary["rows_generated"], "dropped": summary["dropped_rows"]}
    entry = new_entry(key=key, workflow=workflow, stage=stage.name, identity=document,
                      inputs=document["inputs"], outputs=outputs, selected_output=selected,
                      row_counts=row_counts, usage=usage, built_by=built_by())
    if unverified:
        entry["unverified"] = unverified
    if not ctx.store.put_entry(key, entry):
        entry = ctx.store.get_entry(key) or entry  # first writer wins: use theirs
    return entry


def drop_phrase(dropped: dict[str, int]) -> str:
    """'invalid_structured_output: 3, expression_error:label: 1' (most rows first)."""
    return ", ".join(f"{reason}: {n:,}" for reason, n in sorted_drops(dropped))


def _drop_cause(summary: dict[str, Any]) -> str:
    """': all 12 rows were dropped (reason: n, ...); first error: ...' when rows were dropped."""
    dropped = summary.get("dropped_rows") or {}
    if not dropped or summary.get("num_records"):
        return ""  # rows survived generation: the selection (a processor, on_success) is what is empty
    total = sum(dropped.values())
    top = max(dropped, key=lambda r: (dropped[r], r))
    first = (summary.get("first_errors") or {}).get(top, "")
    return f": all {total:,} rows were dropped ({drop_phrase(dropped)}); first error ({top}): {first}"


def _store_blob(ctx: BuildContext, digest: str, path: Path) -> None:
    """put_blob hashes what it stores (and replaces a corrupt file): remember the stored file as verified."""
    ctx.store.put_blob(digest, path)
    blob = ctx.verifier.local_path(digest)
    if blob is not None:
        ctx.verifier.stats.remember(blob, digest)


def _run_callback(stage: Stage, view_dir: Path, cwd: Path) -> tuple[str, list[tuple[Path, dict[str, Any]]]]:
    assert stage.on_success is not None
    from ddbuild.usercode import call_user

    what = f"Stage '{stage.name}': on_success callback {getattr(stage.on_success, '__qualname__', '?')}"
    value = call_user(stage.on_success, what, view_dir)
    if not isinstance(value, (str, os.PathLike)):
        raise GenerationError(f"{what} returned {type(value).__name__}; it must return a path (str or Path).")
    returned = Path(value).expanduser()
    result = returned if returned.is_absolute() else cwd / returned
    files = parquet_files_at(result)
    if not files:
        raise GenerationError(
            f"Stage '{stage.name}': on_success returned {result}, where no parquet files were found.",
            hint="Return a parquet file or a folder that directly contains *.parquet files.",
        )
    return callback_outputs(result, view_dir, files)


# ---- Turning a finished dataset directory into entry outputs, and choosing the selected output

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
