"""Config models: columns, samplers, processors, seeds, models, run settings, and the builder.

``import ddbuild.config as dd`` is Data Designer's ``import data_designer.config as dd``: every
public name of ``data_designer.config`` 0.9.7 is here. Most are ddbuild's own models with Data
Designer's fields and defaults; the ones ddbuild does not run yet are placeholders that raise
``NotSupportedError`` ("not supported by ddbuild yet: <name>") when used (config/unsupported.py).
Names resolve lazily, so importing this package costs nothing on the CLI's fast path.
"""

from __future__ import annotations

import importlib
from typing import Any

_C = "ddbuild.config"
# name -> module that defines it (Data Designer 0.9.7's names that ddbuild supports)
SUPPORTED: dict[str, str] = {
    "JudgeScoreProfilerConfig": f"{_C}.profilers",
    "ToolConfig": f"{_C}.profilers",
    "SkipConfig": f"{_C}.columns",
    "CustomColumnConfig": f"{_C}.columns",
    "ExpressionColumnConfig": f"{_C}.columns",
    "GenerationStrategy": f"{_C}.columns",
    "LLMCodeColumnConfig": f"{_C}.columns",
    "LLMJudgeColumnConfig": f"{_C}.columns",
    "EmbeddingColumnConfig": f"{_C}.columns",
    "ValidationColumnConfig": f"{_C}.columns",
    "CodeValidatorParams": f"{_C}.columns",
    "LocalCallableValidatorParams": f"{_C}.columns",
    "RemoteValidatorParams": f"{_C}.columns",
    "LLMStructuredColumnConfig": f"{_C}.columns",
    "LLMTextColumnConfig": f"{_C}.columns",
    "SamplerColumnConfig": f"{_C}.columns",
    "Score": f"{_C}.columns",
    "SeedDatasetColumnConfig": f"{_C}.columns",
    "custom_column_generator": f"{_C}.columns",
    "DataDesignerColumnType": f"{_C}.enums",
    "DataDesignerConfigBuilder": f"{_C}.builder",
    "DataDesignerConfig": f"{_C}.builder",
    "AudioFormat": f"{_C}.enums",
    "GenerationType": f"{_C}.enums",
    "ImageFormat": f"{_C}.enums",
    "Modality": f"{_C}.enums",
    "ModalityDataType": f"{_C}.enums",
    "VideoFormat": f"{_C}.enums",
    "CodeLang": f"{_C}.enums",
    "InfoType": f"{_C}.enums",
    "TraceType": f"{_C}.enums",
    "ValidatorType": f"{_C}.enums",
    "AgentRolloutFormat": f"{_C}.enums",
    "JinjaRenderingEngine": f"{_C}.enums",
    "ChatCompletionInferenceParams": f"{_C}.models",
    "EmbeddingInferenceParams": f"{_C}.models",
    "ManualDistribution": f"{_C}.models",
    "ManualDistributionParams": f"{_C}.models",
    "ModelConfig": f"{_C}.models",
    "ImageContext": f"{_C}.models",
    "ModelProvider": f"{_C}.models",
    "UniformDistribution": f"{_C}.models",
    "UniformDistributionParams": f"{_C}.models",
    "DropColumnsProcessorConfig": f"{_C}.processors",
    "ProcessorType": f"{_C}.processors",
    "SchemaTransformProcessorConfig": f"{_C}.processors",
    "ResumeMode": f"{_C}.run_config",
    "RequestAdmissionTuningConfig": f"{_C}.run_config",
    "ThrottleConfig": f"{_C}.run_config",
    "RunConfig": f"{_C}.run_config",
    "ColumnInequalityConstraint": f"{_C}.constraints",
    "ConstraintType": f"{_C}.constraints",
    "InequalityOperator": f"{_C}.constraints",
    "ScalarInequalityConstraint": f"{_C}.constraints",
    "BernoulliSamplerParams": f"{_C}.samplers",
    "BernoulliMixtureSamplerParams": f"{_C}.samplers",
    "ScipySamplerParams": f"{_C}.samplers",
    "BinomialSamplerParams": f"{_C}.samplers",
    "CategorySamplerParams": f"{_C}.samplers",
    "DatetimeSamplerParams": f"{_C}.samplers",
    "GaussianSamplerParams": f"{_C}.samplers",
    "PersonSamplerParams": f"{_C}.samplers",
    "PersonFromFakerSamplerParams": f"{_C}.samplers",
    "PoissonSamplerParams": f"{_C}.samplers",
    "SamplerType": f"{_C}.samplers",
    "SubcategorySamplerParams": f"{_C}.samplers",
    "TimeDeltaSamplerParams": f"{_C}.samplers",
    "UniformSamplerParams": f"{_C}.samplers",
    "UUIDSamplerParams": f"{_C}.samplers",
    "IndexRange": f"{_C}.seeds",
    "PartitionBlock": f"{_C}.seeds",
    "SamplingStrategy": f"{_C}.seeds",
    "SeedConfig": f"{_C}.seeds",
    "DataFrameSeedSource": f"{_C}.seeds",
    "LocalFileSeedSource": f"{_C}.seeds",
    "DirectorySeedSource": f"{_C}.seeds",
    "FileContentsSeedSource": f"{_C}.seeds",
    "HuggingFaceSeedSource": f"{_C}.seeds",
    "get_library_version": "ddbuild._version",
}

# Data Designer's names that ddbuild does not run yet: placeholders (config/unsupported.py).
NOT_SUPPORTED: tuple[str, ...] = (
    "ImageColumnConfig", "LocalStdioMCPProvider",
    "MCPProvider", "AudioContext", "VideoContext", "ModalityContext",
    "ImageInferenceParams", "DataDesignerScriptParams", "SchedulingMetadata",
    "SchedulingMetadataError", "AgentRolloutSeedSource",
)

__all__ = [*SUPPORTED, *NOT_SUPPORTED]


def __getattr__(name: str) -> Any:
    if name in SUPPORTED:
        value = getattr(importlib.import_module(SUPPORTED[name]), name)
    elif name in NOT_SUPPORTED:
        from ddbuild.config.unsupported import placeholder

        value = placeholder(name)
    else:
        raise AttributeError(f"module 'ddbuild.config' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(globals()))
