"""DataDesigner: the Data-Designer-style entry point (create or preview one dataset; compose workflows).

Its settings (artifact path, run config, providers, default models, cache) are one ``BuildSettings``
value that a composed workflow reads at each plan/run, so the workflow never imports this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.config.columns import sends_requests
from ddbuild.config.run_config import ResumeMode, RunConfig
from ddbuild.errors import ConfigError, GenerationError, ModelConfigError, ResumeError, not_supported
from ddbuild.settings import DEFAULT_ARTIFACTS as DEFAULT_ARTIFACTS  # the default's public home so far
from ddbuild.settings import BuildSettings, CacheSettings, resolve_build_settings

if TYPE_CHECKING:
    from ddbuild.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
    from ddbuild.config.models import ModelConfig, ModelProvider
    from ddbuild.engine.dataset import BatchEvent, DatasetRunSummary
    from ddbuild.engine.identity import FileDigest
    from ddbuild.engine.secret_resolver import SecretResolver
    from ddbuild.execution.llmcache import StoreResponseCache
    from ddbuild.execution.ray_executor import RayExecutor
    from ddbuild.results import AnalysisFacts, DatasetCreationResults, PreviewResults
    from ddbuild.workflow import Workflow


class DatasetDirChoice(str, Enum):
    """How create() resolved the dataset directory."""

    FRESH = "fresh"  # empty or missing: generate from batch 0
    RESUME = "resume"  # continue the run recorded there
    SIBLING = "sibling"  # occupied: a new timestamped sibling, the old one untouched


def _is_occupied(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def timestamped_sibling(path: Path, now: dt.datetime | None = None) -> Path:
    """``<name>_<MM-DD-YYYY_HHMMSS>`` beside ``path`` (Data Designer's naming)."""
    stamp = (now or dt.datetime.now()).strftime("%m-%d-%Y_%H%M%S")
    candidate = path.with_name(f"{path.name}_{stamp}")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}_{stamp}_{counter}")
        counter += 1
    return candidate


class DataDesigner:
    """Generates datasets under ``artifact_path`` (default ``./artifacts``)."""

    def __init__(
        self,
        artifact_path: str | Path | None = None,
        *,
        model_providers: list[ModelProvider] | None = None,
        secret_resolver: SecretResolver | None = None,
        seed_readers: list[Any] | None = None,
        managed_assets_path: str | Path | None = None,
        person_reader: Any | None = None,
        mcp_providers: list[Any] | None = None,
        auto_configure_logging: bool = True,
        cache: str | Path | None = None,
        remote: str | None = None,
        remote_upload: bool | None = None,
        require_signed: bool | None = None,
        executor: str | None = None,
    ) -> None:
        """Data Designer 0.9.7's keywords, then ddbuild's.

        ``model_providers=None``: the user's ``~/.data-designer/model_providers.yaml`` if present,
        else Data Designer's predefined providers (nvidia, openai, openrouter); a builder without
        model configs may use the default aliases (``nvidia-text``, ...) of
        ``get_default_model_configs()``. Both are read now (``ddbuild.engine.llm.catalogue``).

        ``secret_resolver``: resolves each provider's ``api_key`` reference when a request needs
        it (``ddbuild.engine.secret_resolver``); None: the environment variable of that name, else
        the value itself. ``seed_readers``, ``managed_assets_path``, ``person_reader`` and
        ``mcp_providers`` select Data Designer machinery ddbuild does not have: any value but
        their default raises NotSupportedError. ``auto_configure_logging``: ddbuild never changes
        the logging configuration (its messages go to the ``ddbuild`` loggers), which is what
        False asks for; True is accepted and changes nothing.

        ``cache``/``remote``/``remote_upload``/``require_signed``/``executor``: None falls back to
        the environment, then ``[tool.ddbuild]`` in ./pyproject.toml (see ``ddbuild.settings``).
        ``executor="ray"`` (or ``"ray://host:port"``) runs the batches of ``create``, ``preview``
        and workflow builds on Ray (docs/scale-out.md), with the bytes of a local run."""
        _refuse_unsupported(seed_readers=seed_readers, managed_assets_path=managed_assets_path,
                            person_reader=person_reader, mcp_providers=mcp_providers)
        if secret_resolver is not None and not callable(getattr(secret_resolver, "resolve", None)):
            raise ModelConfigError(
                f"DataDesigner(secret_resolver=...) must have a resolve(reference) method, got "
                f"{type(secret_resolver).__name__}.",
                hint="Use one of ddbuild.engine.secret_resolver's resolvers (EnvironmentResolver, "
                "SecretsFileResolver, PlaintextResolver, CompositeResolver) or an object like them.")
        self._settings = resolve_build_settings(
            Path.cwd(), artifact_path=artifact_path, model_providers=model_providers, cache=cache,
            remote=remote, remote_upload=remote_upload, require_signed=require_signed, executor=executor,
            secret_resolver=secret_resolver,
        )

    def build_settings(self) -> BuildSettings:
        """The settings every run of this designer uses now (what a composed workflow reads)."""
        return self._settings

    @property
    def artifact_path(self) -> Path:
        return self._settings.artifact_path

    @property
    def model_providers(self) -> list[ModelProvider] | None:
        return self._settings.model_providers

    @property
    def secret_resolver(self) -> SecretResolver:
        """The resolver of the providers' API key references (Data Designer's default unless given)."""
        from ddbuild.engine.secret_resolver import DEFAULT_SECRET_RESOLVER

        return self._settings.secret_resolver or DEFAULT_SECRET_RESOLVER

    @property
    def default_model_configs(self) -> list[ModelConfig]:
        """Aliases a builder that declares no model configs may use (Data Designer's defaults)."""
        return self._settings.default_model_configs

    @property
    def settings(self) -> CacheSettings:
        """The resolved cache settings; ``settings.sources`` says where each value came from."""
        return self._settings.cache_settings

    @property
    def cache_path(self) -> Path:
        return self._settings.cache_settings.cache

    @property
    def run_config(self) -> RunConfig:
        return self._settings.run_config

    def set_run_config(self, run_config: RunConfig) -> None:
        self._settings = replace(self._settings, run_config=run_config)

    def get_default_model_configs(self) -> list[ModelConfig]:
        """The user's ``model_configs.yaml`` (in ``$DATA_DESIGNER_HOME``, default ``~/.data-designer``)
        if present, else Data Designer's default aliases ``<provider>-text|reasoning|vision``."""
        from ddbuild.engine.llm.catalogue import default_model_configs

        return default_model_configs()

    def get_default_model_providers(self) -> list[ModelProvider]:
        """The user's ``model_providers.yaml`` if present, else Data Designer's predefined
        providers: nvidia, openai, openrouter, each keyed by the variable holding its API key."""
        from ddbuild.engine.llm.catalogue import default_model_providers

        return default_model_providers()

    def validate(self, config_builder: DataDesignerConfigBuilder | DataDesignerConfig) -> None:
        """Raise what ``create`` would raise before generating: the config, its seed, its model
        aliases and providers, and every API key variable it needs (named with the alias and
        column). Nothing is sent and nothing is written."""
        from ddbuild.engine.dataset import check_generation

        check_generation(self._config(config_builder, Path.cwd()), self.run_config, Path.cwd(),
                         self.model_providers, self._settings.secret_resolver)

    def _config(self, config_builder: DataDesignerConfigBuilder | DataDesignerConfig, base_dir: Path) -> DataDesignerConfig:
        """The built config, with the default model configs its LLM columns name when it declares none."""
        from ddbuild.engine.llm.catalogue import effective_model_configs

        config = _built(config_builder, base_dir)
        models = effective_model_configs(config.model_configs, config.columns, self.default_model_configs)
        if len(models) != len(config.model_configs):
            config = config.model_copy(update={"model_configs": models})
        return config

    def response_cache(self) -> StoreResponseCache:
        """The LLM response cache shared by every run of this designer: the ``llm/`` area of its cache."""
        from ddbuild.execution.llmcache import StoreResponseCache
        from ddbuild.store.fs import FileSystemStore

        return StoreResponseCache(FileSystemStore(self.cache_path))

    def create(
        self,
        config_builder: DataDesignerConfigBuilder | DataDesignerConfig,
        *,
        num_records: int = 10,
        dataset_name: str = "dataset",
        resume: ResumeMode | str = ResumeMode.NEVER,
        artifact_path: str | Path | None = None,
        on_batch_complete: Callable[[Path], None] | None = None,
    ) -> DatasetCreationResults:
        """Generate ``num_records`` rows into ``<artifact_path>/<dataset_name>``.

        ``artifact_path``: this call's artifact root (default: the designer's).
        ``on_batch_complete``: called with each batch's parquet file once it is written (batches
        reused by a resumed run are not reported again); an exception it raises stops the run and
        is raised as GenerationError (Data Designer's DataDesignerGenerationError)."""
        import functools

        from ddbuild.fingerprint import digest_file
        from ddbuild.loading import refuse_build
        from ddbuild.results import DatasetCreationResults

        refuse_build("DataDesigner.create()")
        base_dir = Path.cwd()
        root = Path(artifact_path) if artifact_path is not None else self.artifact_path
        config = self._config(config_builder, base_dir)
        file_digest = functools.cache(digest_file)  # IF_POSSIBLE's check and the run share seed digests
        target, choice = self._dataset_dir(config, root / dataset_name, ResumeMode(resume), base_dir, file_digest)
        summary = self._generate(config, num_records, target, choice == DatasetDirChoice.RESUME, base_dir,
                                 file_digest, on_batch=_batch_callback(target, on_batch_complete))
        return DatasetCreationResults(target, artifact_path=root, summary=summary,
                                      analysis=_analysis_facts(config, self.cache_path),
                                      model_configs=config.model_configs)

    async def acreate(
        self,
        config_builder: DataDesignerConfigBuilder | DataDesignerConfig,
        *,
        num_records: int = 10,
        dataset_name: str = "dataset",
        resume: ResumeMode | str = ResumeMode.NEVER,
        artifact_path: str | Path | None = None,
    ) -> DatasetCreationResults:
        """``create`` in a worker thread, so the caller's event loop keeps running meanwhile."""
        import asyncio

        return await asyncio.to_thread(self.create, config_builder, num_records=num_records,
                                       dataset_name=dataset_name, resume=resume, artifact_path=artifact_path)

    def check_models(
        self,
        config_builder: DataDesignerConfigBuilder | DataDesignerConfig,
        *,
        max_attempts: int = 1,
        retry_backoff_seconds: float = 0,
    ) -> None:
        """Send one tiny chat request ("Hello!") to each model alias the config's LLM columns use,
        to learn whether its endpoint answers, before a real run (Data Designer's check_models).

        Aliases whose ModelConfig has ``skip_health_check=True`` are not probed. The aliases,
        providers and API keys are checked first (as ``validate`` does), so an unset key is named
        before anything is sent. A probe that fails raises LLMRequestError naming the alias, the
        model, the provider and the endpoint; a connection error, timeout, 429 or 5xx is tried
        again up to ``max_attempts`` times in all, waiting ``attempt * retry_backoff_seconds``.
        Probes are never read from or stored in the response cache."""
        from ddbuild.engine.llm.probe import check_models

        if max_attempts < 1:
            raise ConfigError("check_models: max_attempts must be at least 1.")
        if retry_backoff_seconds < 0:
            raise ConfigError("check_models: retry_backoff_seconds must be non-negative.")
        base_dir = Path.cwd()
        config = self._config(config_builder, base_dir)
        check_models(config.columns, config.model_configs, self.model_providers, self._settings.secret_resolver,
                     max_attempts=max_attempts, retry_backoff_seconds=retry_backoff_seconds)

    def get_models(self, model_aliases: list[str]) -> dict[str, Any]:
        """Data Designer's model facades for custom column development: not in ddbuild yet."""
        raise not_supported("DataDesigner.get_models", hint="ddbuild's custom columns receive no model "
                            "facades yet; use an LLM column for model calls (see docs/porting.md).")

    def list_mcp_tool_names(self, mcp_provider_name: str, *, timeout_sec: float = 10.0) -> list[str]:
        """Data Designer's MCP tools: not in ddbuild yet."""
        raise not_supported("DataDesigner.list_mcp_tool_names", hint="ddbuild has no MCP providers yet "
                            "(see docs/porting.md).")

    def preview(
        self, config_builder: DataDesignerConfigBuilder | DataDesignerConfig, *, num_records: int = 10
    ) -> PreviewResults:
        """Generate ``num_records`` rows in memory: the rows ``create`` would write first, no artifacts.

        The run goes through a temporary directory (the engine writes batch by batch) that is
        read back and deleted before this returns.
        """
        import tempfile

        from ddbuild.loading import refuse_build
        from ddbuild.results import PreviewResults

        refuse_build("DataDesigner.preview()")
        base_dir = Path.cwd()
        config = self._config(config_builder, base_dir)
        with tempfile.TemporaryDirectory(prefix="ddbuild-preview-") as temp:
            summary = self._generate(config, num_records, Path(temp) / "preview", False, base_dir)
            return PreviewResults.read(summary)

    def _generate(self, config: DataDesignerConfig, num_records: int, target: Path, resume: bool, base_dir: Path,
                  file_digest: FileDigest | None = None,
                  on_batch: Callable[[BatchEvent], None] | None = None) -> DatasetRunSummary:
        """One engine run with this designer's settings; a run that kept no rows is an error."""
        from ddbuild.engine.dataset import generate_dataset

        cache = self.response_cache() if _has_llm(config) else None
        executor = self._executor(base_dir)
        try:
            summary = generate_dataset(
                config, num_records=num_records, dataset_dir=target, run_config=self.run_config,
                resume=resume, base_dir=base_dir, response_cache=cache,
                model_providers=self.model_providers, file_digest=file_digest, on_batch=on_batch,
                secret_resolver=self._settings.secret_resolver,
                batch_runner=executor.batches(target.name) if executor is not None else None,
            )
        except BaseException:
            if cache is not None:
                cache.close(raise_errors=False)  # the replies received stay cached
            raise
        finally:
            if executor is not None:
                executor.close()
        if cache is not None:
            cache.close()
        if summary.num_records == 0:
            raise GenerationError(
                f"Dataset '{target}' has no rows: every row was dropped ({summary.dropped_rows}).",
                hint="See the dropped-row reasons; check the prompts and the model.",
            )
        return summary

    def _executor(self, base_dir: Path) -> RayExecutor | None:
        """The Ray executor of ``executor="ray"`` (Ray starts with the first batch); None: batches
        run here. The same executor a workflow build uses: the same files and record either way."""
        from ddbuild.execution.executors import ExecutorKind, parse_executor

        settings = self.settings
        origin = f"executor (from {settings.sources.get('executor', 'settings')})"
        spec = parse_executor(settings.executor, origin)
        if spec.kind == ExecutorKind.LOCAL:
            return None
        from ddbuild.execution.ray_executor import RayExecutor
        from ddbuild.store.fs import FileSystemStore

        return RayExecutor(spec, settings=settings, store=FileSystemStore(self.cache_path), cwd=base_dir,
                           fresh_replies=False)

    def _dataset_dir(self, config: DataDesignerConfig, path: Path, resume: ResumeMode, base_dir: Path,
                     file_digest: FileDigest | None = None) -> tuple[Path, DatasetDirChoice]:
        if not _is_occupied(path):
            if resume == ResumeMode.ALWAYS:
                raise ResumeError(f"Cannot resume: no existing dataset found at '{path}'.",
                                  hint="Use resume=ResumeMode.NEVER or IF_POSSIBLE to start one.")
            return path, DatasetDirChoice.FRESH
        if resume == ResumeMode.NEVER:
            return timestamped_sibling(path), DatasetDirChoice.SIBLING
        if resume == ResumeMode.IF_POSSIBLE and not _compatible(path, config, self.run_config, base_dir, file_digest,
                                                                   self.model_providers):
            return timestamped_sibling(path), DatasetDirChoice.SIBLING
        return path, DatasetDirChoice.RESUME

    def compose_workflow(self, name: str) -> Workflow:
        from ddbuild.workflow import Workflow

        return Workflow(name=name, settings=self.build_settings)


def _batch_callback(dataset_dir: Path, callback: Callable[[Path], None] | None) -> Callable[[BatchEvent], None] | None:
    """The engine's on_batch for ``create(on_batch_complete=)``: each newly written batch's file."""
    if callback is None:
        return None
    from ddbuild.engine.dataset import BatchStatus
    from ddbuild.engine.layout import DatasetLayout

    layout = DatasetLayout(dataset_dir)

    def on_batch(event: BatchEvent) -> None:
        if event.status != BatchStatus.GENERATED:
            return
        try:
            callback(layout.batch(event.index))
        except Exception as exc:
            raise GenerationError(
                f"on_batch_complete raised {type(exc).__name__} for batch {event.index} of "
                f"'{dataset_dir}': {exc}",
                hint="The batches written so far are kept: fix the callback and create again with "
                "resume=ResumeMode.ALWAYS to continue.",
            ) from exc

    return on_batch


_NOT_SUPPORTED_HINTS = {
    "seed_readers": "ddbuild reads its seed sources itself; custom seed readers cannot be plugged in.",
    "managed_assets_path": "ddbuild's person samplers use Faker, not Data Designer's managed person datasets.",
    "person_reader": "ddbuild's person samplers use Faker, not Data Designer's managed person datasets.",
    "mcp_providers": "ddbuild has no MCP tool calling yet.",
}


def _refuse_unsupported(**given: Any) -> None:
    """NotSupportedError for a Data Designer constructor keyword set to anything but its default
    (None, or an empty list): ignoring it would build something else than asked."""
    for name, value in given.items():
        if value is not None and not (isinstance(value, (list, tuple)) and not value):
            raise not_supported(f"DataDesigner({name}=...)", hint=_NOT_SUPPORTED_HINTS[name]
                                + " Leave it out; docs/porting.md lists what a ported project can use.")


def _built(config_builder: DataDesignerConfigBuilder | DataDesignerConfig, base_dir: Path) -> DataDesignerConfig:
    """A builder is built (validated) against ``base_dir``; a built config is checked for Data
    Designer features ddbuild does not run, then passes through."""
    if hasattr(config_builder, "build"):
        return config_builder.build(base_dir=base_dir)
    from ddbuild.config.support import check_supported

    check_supported(config_builder)
    return config_builder


def _analysis_facts(config: DataDesignerConfig, cache_path: Path) -> AnalysisFacts:
    """What load_analysis needs from the run: the cache that keeps analyses, each column's type."""
    from ddbuild.analysis import SEED_COLUMN, column_types_from_config
    from ddbuild.results import AnalysisFacts

    other = SEED_COLUMN if config.seed_config is not None else "general"
    return AnalysisFacts(Path(cache_path), None, column_types_from_config(config), other)


def _has_llm(config: DataDesignerConfig) -> bool:
    """Whether a run needs the response cache: a model column, or a remote validator (whose batch
    requests are cached like replies; without the cache, each create() sent them all again)."""
    return any(sends_requests(c) for c in config.columns)


def _compatible(path: Path, config: DataDesignerConfig, run_config: RunConfig, base_dir: Path,
                file_digest: FileDigest | None = None, providers: list[ModelProvider] | None = None) -> bool:
    """True when the run recorded at ``path`` has this config's digest (IF_POSSIBLE)."""
    from ddbuild.engine.identity import config_digest
    from ddbuild.engine.layout import METADATA_FILE
    from ddbuild.engine.metadata import read_record

    try:
        record = read_record(path / METADATA_FILE)
    except ResumeError:
        return False
    return record is None or record.config_digest == config_digest(config, run_config, base_dir, file_digest, providers)
