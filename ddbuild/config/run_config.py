"""Run settings (Data Designer's names) and resume modes."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from ddbuild.config.enums import JinjaRenderingEngine


class ResumeMode(str, Enum):
    NEVER = "never"
    IF_POSSIBLE = "if_possible"
    ALWAYS = "always"


class RequestAdmissionTuningConfig(BaseModel):
    """Data Designer's adaptive request admission (AIMD). Accepted with its fields and defaults;
    ddbuild paces requests with per-model limits and Retry-After, so these never change data."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    multiplicative_decrease_factor: float = 0.75
    additive_increase_step: int = 1
    successes_until_increase: int = 25
    cooldown_seconds: float = 2.0
    startup_ramp_seconds: float = 0.0


class ThrottleConfig(BaseModel):
    """Data Designer's older name and fields for request admission (deprecated there)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    reduce_factor: float = 0.75
    additive_increase: int = 1
    success_window: int = 25
    cooldown_seconds: float = 2.0
    ceiling_overshoot: float = 0.1
    rampup_seconds: float = 0.0


class RunConfig(BaseModel):
    """How a run executes. Only ``buffer_size``, ``preserve_dropped_columns`` and
    ``max_conversation_correction_steps`` change the bytes.

    Data Designer's fields are all accepted. The ones from ``max_concurrent_row_groups`` down
    tune its scheduler, tracing and display, which ddbuild does not have: they are accepted and
    change nothing (fingerprint.EXCLUDED_FIELDS says why for each). Two defaults differ from Data
    Designer's, on purpose: ``shutdown_error_window`` (20, Data Designer 10) and
    ``max_conversation_correction_steps`` (2, Data Designer 0); pass Data Designer's values to
    get its behaviour.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    buffer_size: int = Field(default=1000, ge=1)
    preserve_dropped_columns: bool = True
    max_retries: int = Field(default=5, ge=0)
    retry_max_wait: float = Field(default=60.0, gt=0)
    disable_early_shutdown: bool = False
    shutdown_error_rate: float = Field(default=0.5, gt=0, le=1)
    shutdown_error_window: int = Field(default=20, ge=1)
    max_conversation_correction_steps: int = Field(default=2, ge=0)
    # Data Designer's scheduler, tracing and display settings: accepted, not used.
    max_concurrent_row_groups: int = Field(default=3, ge=1)
    max_in_flight_tasks: int = Field(default=1024, ge=1)
    non_inference_max_parallel_workers: int = Field(default=4, ge=1)
    max_conversation_restarts: int = Field(default=5, ge=0)
    async_trace: bool = False
    write_scheduler_events: bool = False
    display_tui: bool = False
    progress_interval: float = Field(default=5.0, gt=0)
    otel_metrics_port: int | None = 9464
    jinja_rendering_engine: JinjaRenderingEngine = JinjaRenderingEngine.SECURE
    request_admission: RequestAdmissionTuningConfig | None = None
