"""Data Designer's ``data_designer.config.errors`` names (the classes live in ddbuild.errors)."""

from ddbuild.errors import (
    BuilderConfigurationError,
    BuilderSerializationError,
    InvalidColumnTypeError,
    InvalidConfigError,
    InvalidFileFormatError,
    InvalidFilePathError,
)

__all__ = [
    "BuilderConfigurationError",
    "BuilderSerializationError",
    "InvalidColumnTypeError",
    "InvalidConfigError",
    "InvalidFileFormatError",
    "InvalidFilePathError",
]
