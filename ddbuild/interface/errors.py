"""Data Designer's ``data_designer.interface.errors`` names (the classes live in ddbuild.errors)."""

from ddbuild.errors import (
    DataDesignerEarlyShutdownError,
    DataDesignerError,
    DataDesignerGenerationError,
    DataDesignerProfilingError,
    DataDesignerWorkflowError,
    InvalidBufferValueError,
)

__all__ = [
    "DataDesignerEarlyShutdownError",
    "DataDesignerError",
    "DataDesignerGenerationError",
    "DataDesignerProfilingError",
    "DataDesignerWorkflowError",
    "InvalidBufferValueError",
]
