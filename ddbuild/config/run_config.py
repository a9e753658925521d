"""Run settings (Data Designer's names) and resume modes."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class ResumeMode(str, Enum):
    NEVER = "never"
    IF_POSSIBLE = "if_possible"
    ALWAYS = "always"


class RunConfig(BaseModel):
    """How a run executes. Only ``buffer_size`` and ``preserve_dropped_columns`` change the bytes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    buffer_size: int = Field(default=1000, ge=1)
    preserve_dropped_columns: bool = True
    max_retries: int = Field(default=5, ge=0)
    retry_max_wait: float = Field(default=60.0, gt=0)
    disable_early_shutdown: bool = False
    shutdown_error_rate: float = Field(default=0.5, gt=0, le=1)
    shutdown_error_window: int = Field(default=20, ge=1)
    max_conversation_correction_steps: int = Field(default=2, ge=0)
