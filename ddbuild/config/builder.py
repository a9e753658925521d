"""DataDesignerConfigBuilder and the built DataDesignerConfig: assemble, validate, round-trip."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from ddbuild.config.checks import shown
from ddbuild.config.columns import (
    COLUMN_CLASSES,
    UNSUPPORTED_COLUMN_TYPES,
    ColumnConfig,
    SeedDatasetColumnConfig,
    UnsupportedColumnConfig,
    normalise_column_type,
)
from ddbuild.config.constraints import Constraint
from ddbuild.config.ddformat import TOP_LEVEL, from_dd, to_dd
from ddbuild.config.processors import PROCESSOR_CLASSES, ProcessorConfig
from ddbuild.config.profilers import JudgeScoreProfilerConfig, ToolConfig
from ddbuild.config.seeds import (
    DataFrameSeedSource,
    DirectorySeedSource,
    FileContentsSeedSource,
    HuggingFaceSeedSource,
    LocalFileSeedSource,
    SamplingStrategy,
    SeedConfig,
    SeedSource,
    SelectionStrategy,
)
from ddbuild.config.support import check_supported
from ddbuild.config.validation import validate_config
from ddbuild.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from ddbuild.config.models import ModelConfig


def _model_config_class() -> type[BaseModel]:
    from ddbuild.config.models import ModelConfig

    return ModelConfig


class DataDesignerConfig(BaseModel):
    """A complete, validated single-run config (what a stage runs).

    ``constraints``, ``profilers`` and ``tool_configs`` are Data Designer's sections: loaded and
    written, refused at build time when not empty (config/support.py). ``seed`` is ddbuild's.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    model_configs: list[Any] = Field(default_factory=list)
    columns: list[ColumnConfig] = Field(default_factory=list)
    processors: list[ProcessorConfig] = Field(default_factory=list)
    seed_config: SeedConfig | None = None
    seed: int = 0
    constraints: list[Constraint] | None = None
    profilers: list[JudgeScoreProfilerConfig] | None = None
    tool_configs: list[ToolConfig] | None = None

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> list[Any]:
        return [parse_column(c) if isinstance(c, dict) else c for c in (value or [])]

    @field_validator("model_configs", mode="before")
    @classmethod
    def _models(cls, value: Any) -> list[Any]:
        if not value:
            return []
        model_class = _model_config_class()
        return [m if isinstance(m, model_class) else model_class.model_validate(m) for m in value]

    def column(self, name: str) -> ColumnConfig:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Data Designer's file mapping of this config (ddformat.py): what its from_config reads."""
        return to_dd(self.model_dump(mode="json"))

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        return _write_json(self.to_dict(), path, indent)

    def to_yaml(self, path: str | Path | None = None) -> str:
        return _write_yaml(self.to_dict(), path)


def _write_json(data: dict[str, Any], path: str | Path | None, indent: int) -> str:
    text = json.dumps(data, indent=indent, sort_keys=False)
    if path is not None:
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text


def _write_yaml(data: dict[str, Any], path: str | Path | None) -> str:
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def format_validation_error(where: str, error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")  # a validator's own message says enough
        parts.append(f"{loc}: {message}" if loc else message)
    return f"{where}: " + "; ".join(parts)


def parse_column(data: Mapping[str, object]) -> ColumnConfig:
    """Validate one column dict, naming the column and listing valid types on error."""
    name = _display_name(data)
    kind = normalise_column_type(data.get("column_type"))
    if kind in UNSUPPORTED_COLUMN_TYPES:
        return UnsupportedColumnConfig.model_validate({**data, "column_type": kind})
    if kind not in COLUMN_CLASSES:
        raise ConfigError(
            f"Column {name} has unknown column_type {data.get('column_type')!r}.{did_you_mean(str(kind), COLUMN_CLASSES)}",
            hint=f"Valid types: {', '.join(sorted(COLUMN_CLASSES))}.",
        )
    try:
        return COLUMN_CLASSES[kind].model_validate({**data, "column_type": kind})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"Column {name} ({kind})", exc)) from None


def parse_processor(data: Mapping[str, object]) -> ProcessorConfig:
    name = _display_name(data)
    kind = data.get("processor_type")
    if kind not in PROCESSOR_CLASSES:
        raise ConfigError(
            f"Processor {name} has unknown processor_type {kind!r}.{did_you_mean(str(kind), PROCESSOR_CLASSES)}",
            hint=f"Valid types: {', '.join(sorted(PROCESSOR_CLASSES))}.",
        )
    try:
        return PROCESSOR_CLASSES[kind].model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"Processor {name} ({kind})", exc)) from None


def _display_name(data: Mapping[str, object]) -> str:
    """The quoted name of a column or processor dict, printable even when the name is invalid."""
    name = data.get("name", "?")
    return f"'{name}'" if isinstance(name, str) and name.isprintable() and len(name) <= 40 else shown(name)


def seed_column_names(seed_config: SeedConfig | None, base_dir: Path | None = None) -> list[str] | None:
    """Column names of the seed, read from file schemas (no row data) or the DataFrame; None when
    they are not known yet (a Hugging Face dataset not in the local cache: the run fetches it)."""
    if seed_config is None:
        return []
    source = seed_config.source
    if isinstance(source, DataFrameSeedSource):
        return [str(c) for c in source.df.columns]
    if isinstance(source, (DirectorySeedSource, FileContentsSeedSource)):  # one row per file
        source.files(base_dir)  # the directory and a matching file exist
        return list(source.output_columns)
    if isinstance(source, HuggingFaceSeedSource):
        files = source.cached_files()
        if files is None:
            return None
    else:
        files = source.files(base_dir)
    from ddbuild.engine.seed_reader import read_schema_names

    return read_schema_names(files[0])


class DataDesignerConfigBuilder:
    """Assembles a DataDesignerConfig one column / processor / seed at a time."""

    def __init__(self, model_configs: Sequence[ModelConfig | Mapping[str, object]] | str | Path | None = None,
                 tool_configs: Sequence[ToolConfig | Mapping[str, object]] | None = None, *, seed: int = 0) -> None:
        """``model_configs`` may also be a YAML/JSON file with a ``model_configs:`` list, as in Data Designer."""
        if isinstance(model_configs, (str, Path)):
            model_configs = _model_configs_file(Path(model_configs))
        self._model_configs: list[ModelConfig] = DataDesignerConfig(model_configs=list(model_configs or [])).model_configs
        self._columns: dict[str, ColumnConfig] = {}
        self._processors: dict[str, ProcessorConfig] = {}
        self._seed_config: SeedConfig | None = None
        self._constraints: list[Constraint] = []
        self._profilers: list[JudgeScoreProfilerConfig] = []
        self._tool_configs: list[ToolConfig] = []
        self.seed = int(seed)
        for tool_config in tool_configs or []:
            self.add_tool_config(tool_config)

    # -- assembling --------------------------------------------------------------------------
    def add_column(
        self, config: ColumnConfig | Mapping[str, object] | None = None, /, **params: object
    ) -> DataDesignerConfigBuilder:
        """Add a column (a config object, or ``name=..., column_type=..., **params``).

        Adding a name that exists replaces that column, as in Data Designer.
        """
        column: ColumnConfig
        if config is None:
            if "name" not in params or "column_type" not in params:
                raise ConfigError("add_column needs a column config, or name=... and column_type=....")
            column = parse_column(params)
        elif params:
            raise ConfigError("add_column takes a config object or keyword parameters, not both.")
        elif isinstance(config, Mapping):
            column = parse_column(config)
        else:
            column = config
        self._columns[column.name] = column
        return self

    def add_processor(
        self, config: ProcessorConfig | Mapping[str, object] | None = None, /, **params: object
    ) -> DataDesignerConfigBuilder:
        processor: ProcessorConfig
        if config is None:
            processor = parse_processor(params)
        elif isinstance(config, Mapping):
            processor = parse_processor(config)
        else:
            processor = config
        self._processors[processor.name] = processor
        return self

    def with_seed_dataset(
        self,
        source: SeedSource | str | Path,
        *,
        sampling_strategy: SamplingStrategy | str = SamplingStrategy.ORDERED,
        selection_strategy: SelectionStrategy | None = None,
    ) -> DataDesignerConfigBuilder:
        if isinstance(source, (str, Path)):
            source = LocalFileSeedSource(path=str(source))
        try:
            # model_validate: a str strategy is validated (and refused) by the model, as a config file's is
            self._seed_config = SeedConfig.model_validate(
                {"source": source, "sampling_strategy": sampling_strategy, "selection_strategy": selection_strategy}
            )
        except ValidationError as exc:
            raise ConfigError(format_validation_error("Seed dataset", exc)) from None
        return self

    def delete_column(self, name: str) -> DataDesignerConfigBuilder:
        self._columns.pop(name, None)
        return self

    # Data Designer's sections that ddbuild loads and writes but does not run yet: build() refuses
    # a builder that has any (config/support.py), so they can be ported and seen, never ignored.
    def add_constraint(
        self, constraint: Constraint | Mapping[str, object] | None = None, /, **params: object
    ) -> DataDesignerConfigBuilder:
        self._constraints.append(_section_item("constraints", constraint, params, Constraint))
        return self

    def add_profiler(
        self, profiler: JudgeScoreProfilerConfig | Mapping[str, object] | None = None, /, **params: object
    ) -> DataDesignerConfigBuilder:
        self._profilers.append(_section_item("profilers", profiler, params, JudgeScoreProfilerConfig))
        return self

    def add_tool_config(
        self, tool_config: ToolConfig | Mapping[str, object] | None = None, /, **params: object
    ) -> DataDesignerConfigBuilder:
        self._tool_configs.append(_section_item("tool_configs", tool_config, params, ToolConfig))
        return self

    def get_constraints(self, target_column: str | None = None) -> list[Constraint]:
        return [c for c in self._constraints if target_column is None or c.target_column == target_column]

    def delete_constraints(self, target_column: str) -> DataDesignerConfigBuilder:
        self._constraints = [c for c in self._constraints if c.target_column != target_column]
        return self

    def delete_tool_config(self, alias: str) -> DataDesignerConfigBuilder:
        self._tool_configs = [t for t in self._tool_configs if t.tool_alias != alias]
        return self

    @property
    def tool_configs(self) -> list[ToolConfig]:
        return list(self._tool_configs)

    def get_profilers(self) -> list[JudgeScoreProfilerConfig]:
        return list(self._profilers)

    def get_tool_configs(self) -> list[ToolConfig]:
        return list(self._tool_configs)

    # -- reading ---------------------------------------------------------------------------
    @property
    def model_configs(self) -> list[ModelConfig]:
        return list(self._model_configs)

    def get_column_configs(self) -> list[ColumnConfig]:
        return list(self._columns.values())

    def get_column_config(self, name: str) -> ColumnConfig:
        if name not in self._columns:
            raise ConfigError(f"No column named '{name}'.{did_you_mean(name, self._columns)}")
        return self._columns[name]

    def add_model_config(self, model_config: ModelConfig | Mapping[str, object]) -> DataDesignerConfigBuilder:
        """Add a model alias (replacing one of the same alias)."""
        added = DataDesignerConfig(model_configs=[model_config]).model_configs[0]
        self._model_configs = [m for m in self._model_configs if m.alias != added.alias] + [added]
        return self

    def delete_model_config(self, alias: str) -> DataDesignerConfigBuilder:
        self._model_configs = [m for m in self._model_configs if m.alias != alias]
        return self

    def get_processor_configs(self) -> list[ProcessorConfig]:
        return list(self._processors.values())

    def get_seed_config(self) -> SeedConfig | None:
        return self._seed_config

    # -- building --------------------------------------------------------------------------
    def build(self, *, base_dir: Path | None = None) -> DataDesignerConfig:
        """Validate and return the config. References are checked now when the seed is known.

        A Data Designer feature ddbuild does not run yet raises NotSupportedError naming it."""
        config = DataDesignerConfig(
            model_configs=self._model_configs,
            columns=[c for c in self._columns.values() if not isinstance(c, SeedDatasetColumnConfig)],
            processors=list(self._processors.values()),
            seed_config=self._seed_config,
            seed=self.seed,
            **self._sections(),
        )
        check_supported(config)
        validate_config(config, seed_column_names(config.seed_config, base_dir))
        return config

    def _sections(self) -> dict[str, Any]:
        return {
            "constraints": list(self._constraints) or None,
            "profilers": list(self._profilers) or None,
            "tool_configs": list(self._tool_configs) or None,
        }

    def copy(self) -> DataDesignerConfigBuilder:
        """An independent copy (a workflow stage keeps its own; later edits do not leak in)."""
        clone = DataDesignerConfigBuilder.__new__(DataDesignerConfigBuilder)
        clone._model_configs = copy.deepcopy(self._model_configs)
        clone._columns = dict(self._columns)  # column configs are replaced, never mutated in place
        clone._processors = copy.deepcopy(self._processors)
        clone._seed_config = self._seed_config
        clone._constraints = list(self._constraints)  # frozen models: sharing them is safe
        clone._profilers = list(self._profilers)
        clone._tool_configs = list(self._tool_configs)
        clone.seed = self.seed
        return clone

    # -- round trip ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The config in Data Designer's file format (not validated: a partial builder dumps too)."""
        config = DataDesignerConfig(
            model_configs=self._model_configs,
            columns=list(self._columns.values()),
            processors=list(self._processors.values()),
            seed_config=self._seed_config,
            seed=self.seed,
            **self._sections(),
        )
        return config.to_dict()

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        return _write_json(self.to_dict(), path, indent)

    def to_yaml(self, path: str | Path | None = None) -> str:
        return _write_yaml(self.to_dict(), path)

    def write_config(self, path: str | Path, indent: int = 2) -> None:
        """Write Data Designer's builder file (``{"data_designer": config, "library_version": null}``)
        as YAML or JSON by the file's suffix; ``from_config`` (and Data Designer's) reads it back.
        ``library_version`` is Data Designer's version, which ddbuild does not have: null."""
        suffix = Path(path).suffix.lower()
        data = {"data_designer": self.to_dict(), "library_version": None}
        if suffix in (".yaml", ".yml"):
            _write_yaml(data, path)
        elif suffix == ".json":
            _write_json(data, path, indent)
        else:
            raise ConfigError(f"Cannot write config file '{path}': the name must end in .yaml, .yml or .json.")

    @classmethod
    def from_config(cls, config: dict[str, Any] | str | Path | DataDesignerConfig) -> DataDesignerConfigBuilder:
        """Rebuild a builder from a dict, a DataDesignerConfig, or a .json / .yaml / .yml file.

        Reads Data Designer 0.9.7's files as it writes them (ddformat.py), and its
        ``builder_config.json``. Loading never refuses a feature ddbuild does not run yet;
        ``build()`` names those."""
        if isinstance(config, DataDesignerConfig):
            data = config.to_dict()
        elif isinstance(config, (str, Path)):
            data = _load_config_file(Path(config))
        else:
            data = dict(config) if isinstance(config, dict) else config
        if not isinstance(data, dict):
            raise ConfigError("A config must be a mapping with columns, processors, seed_config and model_configs.")
        data = from_dd(data)
        fields = [*TOP_LEVEL, "seed"]
        unknown = set(data) - set(fields)
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(
                f"Unknown config field '{name}'.{did_you_mean(name, fields)}",
                hint=f"Valid fields: {', '.join(fields)}.",
            )
        seed = data.get("seed", 0) or 0
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"Config field 'seed' must be an integer, got {type(seed).__name__} {seed!r}.")
        try:
            builder = cls(_listed(data, "model_configs"), seed=seed)
        except ValidationError as exc:
            raise ConfigError(format_validation_error("model_configs", exc)) from None
        for column in _listed(data, "columns"):
            builder.add_column(column)
        for processor in _listed(data, "processors"):
            builder.add_processor(processor)
        seed = data.get("seed_config")
        if seed and not isinstance(seed, dict):
            raise ConfigError(f"Config field 'seed_config' must be a mapping, got {type(seed).__name__}.")
        if seed and (seed.get("source") or {}).get("seed_type") == "df":
            raise ConfigError(
                "seed_config names a DataFrame seed, which a config file cannot carry.",
                hint="Save the frame to parquet and use LocalFileSeedSource(path=...), or call with_seed_dataset().",
            )
        if seed:
            try:
                builder._seed_config = TypeAdapter(SeedConfig).validate_python(seed)
            except ValidationError as exc:
                raise ConfigError(format_validation_error("seed_config", exc)) from None
        for item in _listed(data, "constraints"):
            builder.add_constraint(item)
        for item in _listed(data, "profilers"):
            builder.add_profiler(item)
        for item in _listed(data, "tool_configs"):
            builder.add_tool_config(item)
        return builder


def _model_configs_file(path: Path) -> list[Any]:
    data = _load_config_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("model_configs"), list):
        raise ConfigError(f"Model config file '{path}' must hold a list under 'model_configs'.")
    return data["model_configs"]


def _section_item(section: str, item: Any, params: dict[str, Any], kind: Any) -> Any:
    """One constraint / profiler / tool config, validated; ConfigError naming the section."""
    if item is None:
        item = params
    elif params:
        raise ConfigError(f"add to {section}: give a config object or keyword parameters, not both.")
    if isinstance(item, BaseModel):
        item = item.model_dump()
    try:
        return TypeAdapter(kind).validate_python(item)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(section, exc)) from None


def _listed(data: dict[str, Any], field: str) -> list[Any]:
    """``data[field]`` as a list of mappings (or config objects); ConfigError naming the field otherwise."""
    items = data.get(field) or []
    if not isinstance(items, list):
        raise ConfigError(f"Config field '{field}' must be a list, got {type(items).__name__}.")
    for index, item in enumerate(items):
        if not isinstance(item, (dict, BaseModel)):
            raise ConfigError(f"Config field '{field}[{index}]' must be a mapping, got {type(item).__name__} {item!r}.")
    return items


def _load_config_file(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"Config file '{path}' is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ConfigError(f"Config file '{path}' is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from exc
    raise ConfigError(f"Config file '{path}' must end in .json, .yaml or .yml.")
