"""Processor configs: drop_columns and schema_transform (Data Designer's names)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ddbuild.config.checks import check_name


class ProcessorType(str, Enum):
    DROP_COLUMNS = "drop_columns"
    SCHEMA_TRANSFORM = "schema_transform"


class _Processor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return check_name(value, "processor name", directory=True)


class DropColumnsProcessorConfig(_Processor):
    """Remove columns (``*`` globs allowed); the removed values are kept in a side folder."""

    processor_type: Literal["drop_columns"] = "drop_columns"
    column_names: list[str] = Field(min_length=1)


class SchemaTransformProcessorConfig(_Processor):
    """Render a Jinja2 JSON template per row into the side dataset ``processors-files/<name>/``."""

    processor_type: Literal["schema_transform"] = "schema_transform"
    template: dict[str, Any]


ProcessorConfig = Annotated[
    Union[DropColumnsProcessorConfig, SchemaTransformProcessorConfig],
    Field(discriminator="processor_type"),
]

PROCESSOR_CLASSES: dict[str, type[ProcessorConfig]] = {
    ProcessorType.DROP_COLUMNS.value: DropColumnsProcessorConfig,
    ProcessorType.SCHEMA_TRANSFORM.value: SchemaTransformProcessorConfig,
}
