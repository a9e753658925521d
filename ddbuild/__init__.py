"""ddbuild: build synthetic datasets the way make builds programs.

``import ddbuild as dd`` gives the Data-Designer-style API. Names are resolved lazily so that
``import ddbuild`` (and the CLI) stays fast: pandas, pyarrow and the HTTP client are imported only
where they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ddbuild._version import __version__

_EXPORTS: dict[str, str] = {
    # config builder
    "DataDesignerConfigBuilder": "ddbuild.config.builder",
    "DataDesignerConfig": "ddbuild.config.builder",
    # columns
    "ColumnType": "ddbuild.config.columns",
    "SamplerColumnConfig": "ddbuild.config.columns",
    "ExpressionColumnConfig": "ddbuild.config.columns",
    "CustomColumnConfig": "ddbuild.config.columns",
    "SeedDatasetColumnConfig": "ddbuild.config.columns",
    "LLMTextColumnConfig": "ddbuild.config.columns",
    "LLMCodeColumnConfig": "ddbuild.config.columns",
    "LLMStructuredColumnConfig": "ddbuild.config.columns",
    "LLMJudgeColumnConfig": "ddbuild.config.columns",
    "EmbeddingColumnConfig": "ddbuild.config.columns",
    "ValidationColumnConfig": "ddbuild.config.columns",
    "CodeValidatorParams": "ddbuild.config.columns",
    "LocalCallableValidatorParams": "ddbuild.config.columns",
    "RemoteValidatorParams": "ddbuild.config.columns",
    "Score": "ddbuild.config.columns",
    "GenerationStrategy": "ddbuild.config.columns",
    "custom_column_generator": "ddbuild.config.columns",
    # samplers
    "SamplerType": "ddbuild.config.samplers",
    "CategorySamplerParams": "ddbuild.config.samplers",
    "SubcategorySamplerParams": "ddbuild.config.samplers",
    "UniformSamplerParams": "ddbuild.config.samplers",
    "GaussianSamplerParams": "ddbuild.config.samplers",
    "BernoulliSamplerParams": "ddbuild.config.samplers",
    "BinomialSamplerParams": "ddbuild.config.samplers",
    "PoissonSamplerParams": "ddbuild.config.samplers",
    "UUIDSamplerParams": "ddbuild.config.samplers",
    "DatetimeSamplerParams": "ddbuild.config.samplers",
    "TimeDeltaSamplerParams": "ddbuild.config.samplers",
    "PersonSamplerParams": "ddbuild.config.samplers",
    # processors
    "DropColumnsProcessorConfig": "ddbuild.config.processors",
    "SchemaTransformProcessorConfig": "ddbuild.config.processors",
    # seeds
    "LocalFileSeedSource": "ddbuild.config.seeds",
    "DataFrameSeedSource": "ddbuild.config.seeds",
    "SamplingStrategy": "ddbuild.config.seeds",
    "IndexRange": "ddbuild.config.seeds",
    "PartitionBlock": "ddbuild.config.seeds",
    "SeedConfig": "ddbuild.config.seeds",
    # models
    "ModelConfig": "ddbuild.config.models",
    "ModelProvider": "ddbuild.config.models",
    "ChatCompletionInferenceParams": "ddbuild.config.models",
    "EmbeddingInferenceParams": "ddbuild.config.models",
    "UniformDistribution": "ddbuild.config.models",
    "ManualDistribution": "ddbuild.config.models",
    # run settings
    "RunConfig": "ddbuild.config.run_config",
    "ResumeMode": "ddbuild.config.run_config",
    "RequestAdmissionTuningConfig": "ddbuild.config.run_config",
    "ThrottleConfig": "ddbuild.config.run_config",
    # interface
    "DataDesigner": "ddbuild.designer",
    "DatasetCreationResults": "ddbuild.results",
    "PreviewResults": "ddbuild.results",
    # workflows
    "Workflow": "ddbuild.workflow",
    "WorkflowResults": "ddbuild.workflow",
    "SkippedStageResult": "ddbuild.workflow",
    "SkippedStageStatus": "ddbuild.workflow",
    "Concat": "ddbuild.workflow",
    "JoinOn": "ddbuild.workflow",
    "Status": "ddbuild.workflow",
    "RecordingReporter": "ddbuild.workflow",
    # caches
    "open_store": "ddbuild.store",
    "FileSystemStore": "ddbuild.store",
    "LayeredStore": "ddbuild.store",
    "MemoryStore": "ddbuild.store",
    # errors
    "DDBuildError": "ddbuild.errors",
    "StagesFailed": "ddbuild.errors",
    "ConfigError": "ddbuild.errors",
    "DataDesignerError": "ddbuild.errors",
    "DataDesignerWorkflowError": "ddbuild.errors",
    "DataDesignerGenerationError": "ddbuild.errors",
    "DataDesignerEarlyShutdownError": "ddbuild.errors",
}

# Data Designer's names for the same classes, so a ported pipeline only changes its imports.
_ALIASES: dict[str, str] = {
    "CompositeWorkflow": "Workflow",
    "CompositeWorkflowResults": "WorkflowResults",
}

# Every other public name of Data Designer's config and interface namespaces is here too, as
# ``ddbuild.config`` / ``ddbuild.interface`` give it (a placeholder where ddbuild has no such
# feature yet): ``import ddbuild as dd`` and ``import ddbuild.config as dd`` both port.
_NAMESPACES = ("ddbuild.config", "ddbuild.interface")
_DD_NAMES: dict[str, str] = {}  # name -> namespace, filled on first use (the lists are in those modules)


def _dd_names() -> dict[str, str]:
    if not _DD_NAMES:
        for namespace in _NAMESPACES:
            for name in importlib.import_module(namespace).__all__:
                _DD_NAMES.setdefault(name, namespace)
    return _DD_NAMES


__all__ = ["__version__", *_EXPORTS, *_ALIASES]


def __getattr__(name: str) -> Any:
    if name in _ALIASES:
        value = __getattr__(_ALIASES[name])
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        namespace = _dd_names().get(name)
        if namespace is None:
            raise AttributeError(f"module 'ddbuild' has no attribute {name!r}")
        value = getattr(importlib.import_module(namespace), name)
        globals()[name] = value
        return value
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_dd_names()})
