"""Column profilers and tool configs of a Data Designer config: loaded and written, not run yet.

``ddbuild.config.support`` refuses a config that lists any, so a build never silently skips them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JudgeScoreProfilerConfig(BaseModel):
    """Data Designer's LLM summary of judge scores (a profile of the output, not its rows)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_alias: str
    summary_score_sample_size: int | None = Field(default=20, ge=1)


class ToolConfig(BaseModel):
    """Tools (MCP providers) an LLM column may call through ``tool_alias``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool_alias: str
    providers: list[str]
    allow_tools: list[str] | None = None
    max_tool_call_turns: int = Field(default=5, ge=1)
    timeout_sec: float | None = Field(default=None, gt=0)
