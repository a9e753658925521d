"""Data Designer's engine error names (``data_designer.engine.errors`` and the dataset builder's),
so ported ``except`` clauses import; the classes live in ddbuild.errors."""

from ddbuild.errors import (
    ConfigCompilationError,
    DAGCircularDependencyError,
    DatasetGenerationError,
    NoModelProvidersError,
    SecretResolutionError,
    UnknownProviderError,
)

__all__ = [
    "ConfigCompilationError",
    "DAGCircularDependencyError",
    "DatasetGenerationError",
    "NoModelProvidersError",
    "SecretResolutionError",
    "UnknownProviderError",
]
