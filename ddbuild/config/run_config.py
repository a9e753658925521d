"""Run settings (Data Designer's names), request-admission tuning, and resume modes."""

from __future__ import annotations

import warnings
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ddbuild.config.enums import JinjaRenderingEngine


class ResumeMode(str, Enum):
    NEVER = "never"
    IF_POSSIBLE = "if_possible"
    ALWAYS = "always"


class RequestAdmissionTuningConfig(BaseModel):
    """How the in-flight requests of one model adapt below ``max_parallel_requests`` (AIMD).

    Data Designer's names and defaults. A rate-limit signal (429, 503) or a timeout multiplies
    the model's limit by ``multiplicative_decrease_factor`` (never below 1); a 429/503 also holds
    new requests back for its ``Retry-After`` or, without one, ``cooldown_seconds``. Every
    ``successes_until_increase`` successful replies add ``additive_increase_step`` back, up to
    ``max_parallel_requests``. With ``startup_ramp_seconds > 0`` a model starts at one request in
    flight and ramps linearly to its cap over that time, unless a rate limit ends the ramp.
    Speed only: never part of a stage key (fingerprint.EXCLUDED_FIELDS). See docs/models.md.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    multiplicative_decrease_factor: float = Field(default=0.75, gt=0.0, lt=1.0)
    additive_increase_step: int = Field(default=1, ge=1)
    successes_until_increase: int = Field(default=25, ge=1)
    cooldown_seconds: float = Field(default=2.0, gt=0.0)
    startup_ramp_seconds: float = Field(default=0.0, ge=0.0)


THROTTLE_DEPRECATED = (
    "RunConfig.throttle and ThrottleConfig are deprecated: use "
    "RunConfig(request_admission=RequestAdmissionTuningConfig(...)) (same settings, Data Designer's new names)."
)


class ThrottleConfig(BaseModel):
    """Deprecated spelling of ``RequestAdmissionTuningConfig`` (``RunConfig(throttle=...)``).

    ``ceiling_overshoot`` is accepted and ignored, as in Data Designer."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    reduce_factor: float = Field(default=0.75, gt=0.0, lt=1.0)
    additive_increase: int = Field(default=1, ge=1)
    success_window: int = Field(default=25, ge=1)
    cooldown_seconds: float = Field(default=2.0, gt=0.0)
    ceiling_overshoot: float = Field(default=0.10, ge=0.0)
    rampup_seconds: float = Field(default=0.0, ge=0.0)

    def to_request_admission_tuning(self) -> RequestAdmissionTuningConfig:
        return RequestAdmissionTuningConfig(
            multiplicative_decrease_factor=self.reduce_factor,
            additive_increase_step=self.additive_increase,
            successes_until_increase=self.success_window,
            cooldown_seconds=self.cooldown_seconds,
            startup_ramp_seconds=self.rampup_seconds,
        )


class RunConfig(BaseModel):
    """How a run executes. Only ``buffer_size``, ``preserve_dropped_columns``,
    ``max_conversation_correction_steps`` and ``max_conversation_restarts`` change the bytes.

    Data Designer's fields are all accepted. The ones from ``max_concurrent_row_groups`` to
    ``jinja_rendering_engine`` tune its scheduler, tracing and display, which ddbuild does not
    have: they are accepted and change nothing (fingerprint.EXCLUDED_FIELDS says why for each).
    ``request_admission`` (and the deprecated ``throttle``) tunes how each model's requests in
    flight adapt to the endpoint (engine/llm/limits.py). Two defaults differ from Data
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
    max_conversation_restarts: int = Field(default=5, ge=0)
    # Data Designer's scheduler, tracing and display settings: accepted, not used.
    max_concurrent_row_groups: int = Field(default=3, ge=1)
    max_in_flight_tasks: int = Field(default=1024, ge=1)
    non_inference_max_parallel_workers: int = Field(default=4, ge=1)
    async_trace: bool = False
    write_scheduler_events: bool = False
    display_tui: bool = False
    progress_interval: float = Field(default=5.0, gt=0)
    otel_metrics_port: int | None = 9464
    jinja_rendering_engine: JinjaRenderingEngine = JinjaRenderingEngine.SECURE
    # None: the defaults of RequestAdmissionTuningConfig (admission always adapts, as in Data Designer).
    request_admission: RequestAdmissionTuningConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _translate_throttle(cls, data: Any) -> Any:
        """``throttle=ThrottleConfig(...)`` (deprecated) becomes ``request_admission``."""
        if not isinstance(data, dict) or "throttle" not in data:
            return data
        data = dict(data)
        throttle = data.pop("throttle")
        if data.get("request_admission") is not None:
            raise ValueError(
                "RunConfig: give request_admission or the deprecated throttle, not both (throttle is "
                "the old name of request_admission)."
            )
        warnings.warn(THROTTLE_DEPRECATED, DeprecationWarning, stacklevel=4)
        if throttle is not None:
            throttle = throttle if isinstance(throttle, ThrottleConfig) else ThrottleConfig.model_validate(throttle)
            data["request_admission"] = throttle.to_request_admission_tuning()
        return data
