"""Data Designer's ``data_designer.config.utils.errors`` names (the classes live in ddbuild.errors)."""

from ddbuild.errors import (
    DatasetSampleDisplayError,
    InvalidDiscriminatorFieldError,
    InvalidEnumValueError,
    InvalidTypeUnionError,
    UserJinjaTemplateSyntaxError,
)

__all__ = [
    "DatasetSampleDisplayError",
    "InvalidDiscriminatorFieldError",
    "InvalidEnumValueError",
    "InvalidTypeUnionError",
    "UserJinjaTemplateSyntaxError",
]
