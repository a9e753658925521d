"""Workflow: Data Designer's compose_workflow API (add_stage, run) over the planner and executor."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.config.checks import positive_count
from ddbuild.config.columns import is_llm_column
from ddbuild.config.run_config import ResumeMode
from ddbuild.config.seeds import SamplingStrategy
from ddbuild.errors import StagesFailed, TargetError, WorkflowError, did_you_mean
from ddbuild.execution.context import BuildContext, store_dir
from ddbuild.execution.events import LoggingReporter, NullReporter, PlanReady, Reporter
from ddbuild.execution.executor import BuildLog, Scheduling, execute, planned_error
from ddbuild.execution.view import note_edited_views, write_json_atomic
from ddbuild.planning.graph import Graph
from ddbuild.planning.identity import stage_identity
from ddbuild.planning.inputs import InputDigests, override_input, seed_input
from ddbuild.planning.plan import Plan, ReasonKind, Status
from ddbuild.planning.planner import Facts, Options, plan
from ddbuild.planning.schema import SchemaCheck, check_schemas, observed_columns, read_schema_facts
from ddbuild.planning.stage import (
    OnSuccess,
    Stage,
    check_output,
    check_output_processors,
    check_selected_processor,
    check_stage_arguments,
    resolve_depends_on,
    validate_dir_name,
)
from ddbuild.planning.statcache import StatCache
from ddbuild.planning.storeview import CacheView, FetchingCacheView
from ddbuild.settings import BuildSettings, open_cache, resolve_build_settings
from ddbuild.store.base import Store
from ddbuild.workflow.results import (
    SkippedStageResult,
    SkippedStageStatus,
    StageOutputs,
    StageSummary,
    WorkflowResults,
)

RAY_PARALLEL_STAGES = 8  # stages of one build submitting batches to a Ray cluster at once

if TYPE_CHECKING:
    from ddbuild.config.builder import DataDesignerConfigBuilder
    from ddbuild.config.processors import ProcessorConfig
    from ddbuild.config.seeds import SelectionStrategy
    from ddbuild.execution.ray_executor import RayExecutor
    from ddbuild.planning.joins import Join
    from ddbuild.settings import CacheSettings
    from ddbuild.store.closure import ClosureCounts


class Workflow:
    """A DAG of named stages; each stage is a build target keyed by the content of its inputs."""

    def __init__(self, name: str, settings: BuildSettings | Callable[[], BuildSettings] | None = None) -> None:
        """``settings``: a BuildSettings, or a function giving the current one at each plan/run
        (``DataDesigner.compose_workflow`` passes its designer's); None resolves the defaults now."""
        self.name = validate_dir_name(name, "workflow name")
        if settings is None:
            settings = resolve_build_settings()
        self._settings = settings if callable(settings) else _constant(settings)
        self._stages: list[Stage] = []
        self._store: Store | None = None  # set by use_store (the CLI's cache); else opened per call
        self._store_settings: CacheSettings | None = None  # the settings use_store's Store was opened from

    def use_store(self, store: Store, settings: CacheSettings | None = None) -> None:
        """Build with this Store (e.g. a LayeredStore) instead of the designer's cache settings;
        ``settings`` (the ``ddbuild.settings.CacheSettings`` it was opened from) lets Ray workers
        open the same cache."""
        self._store = store
        self._store_settings = settings

    # -- declaring -----------------------------------------------------------------------
    def add_stage(
        self, name: str, config_builder: DataDesignerConfigBuilder, *, num_records: int | None = None,
        on_success: OnSuccess | None = None, on_success_version: str | None = None,
        output_processors: Sequence[ProcessorConfig] | None = None, output: str = "final", allow_empty: bool = False,
        sampling_strategy: SamplingStrategy | str = SamplingStrategy.ORDERED,
        selection_strategy: SelectionStrategy | None = None, depends_on: str | Sequence[str] | None = None,
        join: Join | None = None, join_version: str | None = None,
    ) -> Workflow:
        """Add a stage (checks in Data Designer's order, argument types first); returns the
        workflow so calls chain."""
        check_stage_arguments(self.name, name, {
            "config_builder": config_builder, "num_records": num_records, "on_success": on_success,
            "on_success_version": on_success_version, "output_processors": output_processors, "output": output,
            "allow_empty": allow_empty, "sampling_strategy": sampling_strategy,
            "selection_strategy": selection_strategy, "depends_on": depends_on, "join": join,
            "join_version": join_version,
        })
        validate_dir_name(name, "stage name")
        existing = [s.name for s in self._stages]
        if name in existing:
            raise WorkflowError(f"Stage name '{name}' is already used in workflow '{self.name}'.")
        if num_records is not None:
            positive_count(num_records, f"Workflow '{self.name}', stage '{name}': num_records", WorkflowError)
        sampling_strategy = _sampling(name, sampling_strategy)
        output = check_output(output)
        stage_processors = [p.name for p in config_builder.get_processor_configs()]
        ops = check_output_processors(list(output_processors or []), stage_processors)
        check_selected_processor(output, stage_processors, ops)
        parents = resolve_depends_on(depends_on, existing, name)
        _check_join(name, parents, join, join_version)
        self._stages.append(Stage(
            name=name, index=len(self._stages), builder=self._with_default_models(config_builder.copy()),
            depends_on=parents,
            num_records=num_records, on_success=on_success, on_success_version=on_success_version,
            output_processors=ops, output=output, allow_empty=allow_empty,
            sampling_strategy=sampling_strategy, selection_strategy=selection_strategy,
            join=join, join_version=join_version,
        ))
        return self

    def _with_default_models(self, builder: DataDesignerConfigBuilder) -> DataDesignerConfigBuilder:
        """A builder that declares no model configs gets the designer's default ones its LLM
        columns name (Data Designer's default aliases), so the stage's key holds what it sends."""
        from ddbuild.engine.llm.catalogue import effective_model_configs

        defaults = self._settings().default_model_configs
        models = effective_model_configs(builder.model_configs, builder.get_column_configs(), defaults)
        if len(models) != len(builder.model_configs):
            builder._model_configs = models  # the stage's own copy
        return builder

    @property
    def stages(self) -> list[Stage]:
        """The stage specs in add order (frozen: name, index, depends_on, output, ...); a copy."""
        return list(self._stages)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self._stages]

    @property
    def artifact_root(self) -> Path:
        """Where the stage views and workflow-metadata.json go: ``<artifact_path>/<name>`` (from the cwd)."""
        artifacts = self._settings().artifact_path
        return (artifacts if artifacts.is_absolute() else Path.cwd() / artifacts) / self.name

    # -- planning ------------------------------------------------------------------------
    def plan(
        self, targets: str | Iterable[str] | None = None, resume: ResumeMode | str = ResumeMode.IF_POSSIBLE,
        rerun_from: str | None = None, always_make: bool = False,
        stage_output_overrides: dict[str, str | Path] | None = None, estimate_cost: bool = False,
    ) -> Plan:
        """What ``run`` with the same arguments would do, and why (the dry run; nothing is built).

        Costs come from row counts and template sizes. ``estimate_cost=True`` (``--explain``) then
        dry-runs each stage that would run and whose inputs are known, with a transport that
        counts instead of sending: requests to send vs cached and tokens from rendered prompts.
        It is a separate pass over the same plan because it needs the same facts (overrides,
        seeds) and is much slower than planning, which push/pull/-q/status do not want.
        """
        graph, names, options = self._validate(targets, ResumeMode(resume), rerun_from, always_make)
        cwd = Path.cwd()
        ctx = self._context(cwd, NullReporter())
        ctx.fresh_replies = options.resume == ResumeMode.NEVER  # the dry run asks what the build will
        facts = self._facts(graph, names, cwd, ctx, stage_output_overrides)
        view = CacheView(ctx.store, ctx.layout, ctx.verifier)
        facts, _ = _check_schemas(graph, names, view, facts, options, ctx)
        decided = self._with_view_notes(plan(graph, names, view, facts, options), graph, view, ctx)
        if estimate_cost:
            from ddbuild.execution.costing import estimate_costs

            decided = estimate_costs(decided, graph, facts, ctx)
        ctx.verifier.save()
        return decided

    @staticmethod
    def _with_view_notes(decided: Plan, graph: Graph, view: CacheView, ctx: BuildContext) -> Plan:
        """Say which HITs have a view edited by hand (the build restores them and says the same)."""
        views = {d.name: ctx.stage_view(graph[d.name]) for d in decided.stages}
        return note_edited_views(decided, views, view.entry, ctx.verifier)

    # -- building ------------------------------------------------------------------------
    def run(
        self, *, resume: ResumeMode | str = ResumeMode.IF_POSSIBLE, targets: str | Iterable[str] | None = None,
        rerun_from: str | None = None, stage_output_overrides: dict[str, str | Path] | None = None,
        reporter: Reporter | None = None, always_make: bool = False, max_parallel_stages: int = 1,
        keep_going: bool = False, executor: str | None = None,
    ) -> WorkflowResults:
        """Build the targets (default: every stage nothing depends on), reusing what is cached.

        ``always_make`` (make ``-B``): rebuild every stage of the targets' closure. ``max_parallel_stages`` (make ``-j``): how many stages whose parents are settled may run at
        once; concurrent stages share each model's ``max_parallel_requests``. ``keep_going`` (make
        ``-k``): after a failure, finish the independent branches, skip the failed stage's
        dependents, then raise ``StagesFailed`` listing failures (``.results`` holds the rest).
        ``reporter`` receives the build's events (ddbuild.execution.events); without one, its
        warnings go to the ``ddbuild`` logger. ``executor``: ``"local"``, ``"ray"`` or
        ``"ray://host:port"`` (default: the designer's settings, ``[tool.ddbuild] executor``); on
        Ray each stage's batches run on the cluster and independent stages run at once, with the
        same outputs and keys (docs/scale-out.md).
        """
        from ddbuild.engine.llm.limits import ModelLimits
        from ddbuild.engine.llm.sessions import SessionPool
        from ddbuild.loading import refuse_build

        refuse_build(f"workflow.run() (workflow '{self.name}')")
        resume = ResumeMode(resume)
        graph, names, options = self._validate(targets, resume, rerun_from, always_make)
        if max_parallel_stages < 1:
            raise WorkflowError(f"max_parallel_stages must be at least 1 (got {max_parallel_stages}).")
        cwd = Path.cwd()
        ctx = self._context(cwd, reporter or LoggingReporter())
        ctx.llm_limits = ModelLimits(ctx.run_config.request_admission)  # one budget per model for the build
        ctx.fresh_replies = resume == ResumeMode.NEVER  # Data Designer's NEVER: ask the endpoint again
        facts = self._facts(graph, names, cwd, ctx, stage_output_overrides)
        view = FetchingCacheView(ctx.store, ctx.layout, ctx.verifier)  # remote hits are made local first
        facts, schemas = _check_schemas(graph, names, view, facts, options, ctx)
        first = self._with_view_notes(plan(graph, names, view, facts, options), graph, view, ctx)
        for decision in first.invalid():  # knowable now: fail before any stage of the closure runs
            raise schemas.errors.get(decision.name) or planned_error(decision)
        ctx.reporter.emit(PlanReady(first))
        ctx.executor = self._executor(executor, ctx)
        if ctx.executor is not None:  # the cluster, not this machine, bounds how many stages run at once
            max_parallel_stages = max(max_parallel_stages, RAY_PARALLEL_STAGES)
            if any(d.status in (Status.RUN, Status.RESUME) for d in first.stages):
                ctx.executor.start()  # here, on the main thread: a refused cluster fails before any stage
        ctx.llm_sessions = SessionPool()  # a chain's LLM stages reuse the connections the first one opened
        with _pinned(ctx):  # cache gc keeps what this build stores or reads until it ends
            try:
                log = execute(graph, names, view, facts, options, ctx, Scheduling(max_parallel_stages, keep_going))
            finally:
                ctx.llm_sessions.close()
                ctx.verifier.save()
                if ctx.executor is not None:
                    ctx.executor.close()
            results = self._results(graph, names, log, facts, ctx, first)
            self._write_metadata(graph, log, ctx, results)
        if log.failures:
            skipped = {n: r.skipped_by for n, r in log.records.items()
                       if r.status == Status.SKIPPED and r.skipped_by in log.failures}
            raise StagesFailed(self.name, dict(log.failures), skipped, results)
        return results

    # -- sharing -------------------------------------------------------------------------
    def push(self, targets: str | Iterable[str] | None = None) -> ClosureCounts:
        """Upload the targets' closures (entries, blobs, LLM responses they used) to the remote."""
        from ddbuild.workflow.sharing import push

        decisions = self.plan(targets).stages
        return push(self._sharing_store(), decisions)

    def pull(self, targets: str | Iterable[str] | None = None) -> ClosureCounts:
        """Download what the targets need from the remote, so that they build offline."""
        from ddbuild.workflow.sharing import pull

        decisions = self.plan(targets).stages
        return pull(self._sharing_store(), decisions)

    def _sharing_store(self) -> Store:
        from ddbuild.workflow.sharing import layered_store

        return layered_store(self._context(Path.cwd(), NullReporter()).store)

    # -- helpers -------------------------------------------------------------------------
    def _validate(
        self, targets: Any, resume: ResumeMode, rerun_from: str | None, always_make: bool
    ) -> tuple[Graph, list[str], Options]:
        if not self._stages:
            raise WorkflowError(f"Workflow '{self.name}' has no stages.", hint="Call add_stage() first.")
        if rerun_from is not None and resume == ResumeMode.NEVER:
            raise WorkflowError("rerun_from requires resume=IF_POSSIBLE or ALWAYS (NEVER already rebuilds everything).")
        graph = Graph(tuple(self._stages))
        names = _targets(graph, targets)
        if rerun_from is not None:
            _known(graph, [rerun_from], "rerun_from stage")
            if rerun_from not in graph.closure(names):
                raise TargetError(f"rerun_from must be an ancestor of at least one target stage: '{rerun_from}'.")
        return graph, names, Options(self.name, resume, always_make, rerun_from)

    def _context(self, cwd: Path, reporter: Reporter) -> BuildContext:
        settings = self._settings()
        if self._store is not None:  # use_store: the CLI's cache, resolved the same way
            store, cache_dir = self._store, store_dir(self._store)
        else:
            store, cache_dir = open_cache(settings.cache_settings), settings.cache_settings.cache
        artifacts = settings.artifact_path if settings.artifact_path.is_absolute() else cwd / settings.artifact_path
        return BuildContext(
            store=store, cache_dir=cache_dir, artifact_root=artifacts / self.name, cwd=cwd,
            run_config=settings.run_config, model_providers=settings.model_providers, reporter=reporter,
            secret_resolver=settings.secret_resolver,
        )

    def _executor(self, executor: str | None, ctx: BuildContext) -> RayExecutor | None:
        """A RayExecutor (Ray starts when a stage runs) for ``ray``/``ray://...``; None for ``local``."""
        from ddbuild.execution.executors import ExecutorKind, parse_executor

        settings = self._store_settings if self._store is not None else self._settings().cache_settings
        origin = "executor"
        if executor is None and settings is not None:
            executor = settings.executor
            origin = f"executor (from {settings.sources.get('executor', 'settings')})"
        spec = parse_executor(executor, origin)
        if spec.kind == ExecutorKind.LOCAL:
            return None
        from ddbuild.execution.ray_executor import RayExecutor

        return RayExecutor(spec, settings=settings, store=ctx.store, cwd=ctx.cwd, fresh_replies=ctx.fresh_replies)

    def _facts(self, graph: Graph, names: list[str], cwd: Path, ctx: BuildContext, overrides: Any) -> Facts:
        stats = ctx.stat_cache = StatCache(ctx.layout.stat_cache)  # builds reuse its digests
        closure = graph.closure(names)
        resolved = {}
        for stage, raw in (overrides or {}).items():
            _known(graph, [stage], "stage output override")
            if stage not in closure:
                raise TargetError(f"Stage output overrides must be ancestors of a target stage: '{stage}'.")
            resolved[stage] = override_input(stage, raw, cwd, stats)
        seeds = {}
        for name in closure:
            seed_config = graph[name].builder.get_seed_config()
            if not graph[name].depends_on and seed_config is not None and name not in resolved:
                seeds[name] = seed_input(seed_config, cwd, stats)
        stats.save()
        identities = {n: stage_identity(graph[n], cwd, ctx.run_config, ctx.model_providers) for n in closure}
        model_errors = {n: e for n in closure if (e := _model_error(graph[n], ctx.model_providers, ctx.secret_resolver))}
        return Facts(identities=identities, inputs=InputDigests(seeds=seeds, overrides=resolved),
                     model_errors=model_errors)

    def _results(
        self, graph: Graph, names: list[str], log: BuildLog, facts: Facts, ctx: BuildContext, first: Plan
    ) -> WorkflowResults:
        stages, views, skipped, outputs = {}, {}, {}, {}
        for name, record in log.records.items():
            view = ctx.stage_view(graph[name])
            output_path = None
            if record.status == Status.SKIPPED:
                skipped[name] = SkippedStageResult(_skip_status(record.decision), record.skipped_by or "")
            elif name in facts.inputs.overrides:
                output_path = facts.inputs.overrides[name].path
            if record.entry is not None:
                views[name] = view
                if name not in facts.inputs.overrides:
                    outputs[name] = StageOutputs(record.entry, ctx.verifier, ctx.cache_dir)
                output_path = output_path or view / record.entry["selected_output"]["root"]
            rows = record.entry["selected_output"]["rows"] if record.entry else None
            stages[name] = StageSummary(name, record.status, record.decision.key if not record.entry
                                        else record.entry["key"], rows, record.rows_generated,
                                        record.duration_s, output_path)
        final = [n for n in graph.names if n in names][-1]
        with_ops = {s.name for s in graph.stages if s.output_processors}
        return WorkflowResults(self.name, stages, final, views, skipped, with_ops, plan=first, targets=names,
                               outputs=outputs)

    def _write_metadata(self, graph: Graph, log: BuildLog, ctx: BuildContext, results: WorkflowResults) -> None:
        from ddbuild._version import __version__

        stages = []
        for name, summary in results.stages.items():
            stage, record = graph[name], log.records[name]
            stages.append({
                "index": stage.index, "name": name, "stage_dir": stage.dir_name,
                "depends_on": list(stage.depends_on), "status": summary.status.value, "key": summary.key,
                "reasons": [r.to_dict() for r in record.decision.reasons],
                "output_records": summary.rows, "rows_generated": summary.rows_generated,
                "duration_sec": round(summary.duration_s, 6),
                "output_path": str(summary.output_path) if summary.output_path else None,
                "upstream_stage": record.skipped_by,
            })
        write_json_atomic(ctx.artifact_root / "workflow-metadata.json",
                          {"name": self.name, "ddbuild_version": __version__, "stages": stages})


@contextlib.contextmanager
def _pinned(ctx: BuildContext) -> Iterator[None]:
    """Hold a pin in the local cache for the build (not for a store without one, e.g. in memory)."""
    if ctx.store.layout is None:
        yield
        return
    from ddbuild.store.pins import Pin

    with Pin(ctx.cache_dir) as ctx.pin:
        try:
            yield
        finally:
            ctx.pin = None


def _skip_status(decision: Any) -> SkippedStageStatus:
    failed = decision.reasons and decision.reasons[0].kind == ReasonKind.UPSTREAM_FAILED
    return SkippedStageStatus.SKIPPED_UPSTREAM_FAILED if failed else SkippedStageStatus.SKIPPED_EMPTY_UPSTREAM


def _check_schemas(
    graph: Graph, names: list[str], view: Any, facts: Facts, options: Options, ctx: BuildContext
) -> tuple[Facts, SchemaCheck]:
    """Check every stage whose seed columns are knowable now; the errors go into the facts.

    Derivation first (no I/O beyond root seed / override schemas). A stage whose output columns
    derivation cannot know (on_success, join callable) but whose entry is a HIT is read from its
    cached output's parquet footer; that needs the plan, so only then is the planner called twice.
    """
    closure = graph.closure(names)
    schema_facts = read_schema_facts(graph, closure, facts.inputs, ctx.cwd)
    check = check_schemas(graph, closure, schema_facts)
    facts = replace(facts, config_errors=check.messages())
    wanted = {p for n in closure for p in graph[n].depends_on if check.outputs.get(p) is None}
    unknown = [n for n in closure if n in wanted and n not in check.errors]
    if unknown:
        observed = observed_columns(plan(graph, names, view, facts, options), unknown, view, ctx.store)
        if any(cols is not None for cols in observed.values()):
            check = check_schemas(graph, closure, replace(schema_facts, observed=observed))
            facts = replace(facts, config_errors=check.messages())
    return facts, check


def _model_error(stage: Stage, providers: Any, secret_resolver: Any = None) -> str | None:
    """Why the stage's LLM columns could not send a request (alias, provider, API key), else None.

    The same check generate_dataset makes before a batch; the planner uses it for stages that run."""
    columns = stage.builder.get_column_configs()
    if not any(is_llm_column(c) for c in columns):
        return None
    from ddbuild.engine.llm.columns import LLMServices
    from ddbuild.errors import ConfigError

    try:
        LLMServices.validate(columns, stage.builder.model_configs, providers, secret_resolver=secret_resolver)
    except ConfigError as exc:
        return f"Stage '{stage.name}': {exc}"
    return None


def _constant(settings: BuildSettings) -> Callable[[], BuildSettings]:
    return lambda: settings


def _known(graph: Graph, names: Iterable[str], what: str) -> None:
    for name in names:
        if name not in graph.names:
            raise TargetError(f"Unknown {what}: '{name}'.{did_you_mean(name, graph.names)}",
                              hint=f"Stages: {', '.join(graph.names)}.")


def _targets(graph: Graph, targets: Any) -> list[str]:
    if targets is None:
        return graph.sinks()
    names = [targets] if isinstance(targets, str) else list(targets)
    if not names:
        raise TargetError("target must include at least one stage.")
    _known(graph, names, "target stage")
    return [n for n in graph.names if n in set(names)]


def _sampling(name: str, value: Any) -> SamplingStrategy:
    try:
        return SamplingStrategy(value)
    except ValueError:
        choices = ", ".join(s.value for s in SamplingStrategy)
        raise WorkflowError(f"Stage '{name}': sampling_strategy {value!r} is not one of: {choices}.") from None


def _check_join(name: str, parents: tuple[str, ...], join: Any, join_version: str | None) -> None:
    if len(parents) > 1 and join is None:
        raise WorkflowError(
            f"Stage '{name}' has several parents ({', '.join(parents)}) and needs join=.",
            hint="Use join=dd.Concat(), join=dd.JoinOn(columns=[...]), or a callable with join_version=.",
        )
    if join is not None and len(parents) < 2:
        raise WorkflowError(f"Stage '{name}' has join= but fewer than two parents in depends_on.")
