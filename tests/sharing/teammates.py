"""Two teammates = two project copies (own working dir, local cache, artifacts) sharing a remote."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ddbuild as dd
from ddbuild.planning.plan import Status


def workflow(designer: dd.DataDesigner, llm_url: str | None) -> Any:
    """a: sampled numbers; b: an LLM column over them (or an expression without an LLM server)."""
    wf = designer.compose_workflow(name="shared")
    wf.add_stage("a", dd.DataDesignerConfigBuilder(seed=7).add_column(
        name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 100}), num_records=4)
    if llm_url is None:
        wf.add_stage("b", dd.DataDesignerConfigBuilder().add_column(name="y", column_type="expression", expr="{{ x }}!"))
        return wf
    model = dd.ModelConfig(alias="fast", model="test-model", provider="test",
                           inference_parameters=dd.ChatCompletionInferenceParams(max_tokens=16))
    wf.add_stage("b", dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
        name="y", column_type="llm_text", model_alias="fast", prompt="Say something about {{ x }}."))
    return wf


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """``contextlib.chdir`` (Python 3.11+), for 3.10."""
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


class Teammate:
    """One project copy; every call runs in its own working directory with a fresh DataDesigner."""

    def __init__(self, root: Path, llm_url: str | None = None, **settings: Any) -> None:
        self.root = root
        self.llm_url = llm_url
        self.settings = settings
        root.mkdir(parents=True, exist_ok=True)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with _inside(self.root):
            providers = None
            if self.llm_url is not None:
                providers = [dd.ModelProvider(name="test", endpoint=self.llm_url, api_key="env:OPENAI_API_KEY")]
            designer = dd.DataDesigner(model_providers=providers, **self.settings)
            return getattr(workflow(designer, self.llm_url), method)(*args, **kwargs)

    def plan(self, **kwargs: Any) -> dict[str, Any]:
        """{stage: (status, origin)}"""
        return {d.name: (d.status.value, d.origin) for d in self.call("plan", **kwargs).stages}

    def run(self, **kwargs: Any) -> dict[str, str]:
        """{stage: status} of a build."""
        results = self.call("run", **kwargs)
        return {name: s.status.value for name, s in results.stages.items()}

    def keys(self) -> dict[str, str]:
        return {d.name: d.key for d in self.call("plan").stages}

    def output(self, stage: str) -> bytes:
        files = sorted((self.root / "artifacts" / "shared").glob(f"stage-*-{stage}/**/*.parquet"))
        assert files, f"no view for {stage} under {self.root}"
        return b"".join(f.read_bytes() for f in files)


HIT, RUN = Status.HIT.value, Status.RUN.value
