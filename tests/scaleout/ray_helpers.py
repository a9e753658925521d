"""The workflow the Ray tests build twice (locally and on Ray) and compare byte for byte.

It lives in an importable module (``tests.scaleout.ray_helpers``) because its custom column
function must be importable by Ray worker processes, as a project's own modules are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ddbuild as dd
from tests.openai_server import FakeOpenAIServer

CARD = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "points": {"type": "integer"}},
    "required": ["question", "points"],
}


@dd.custom_column_generator(required_columns=["x"])
def doubled(row: dict[str, Any]) -> dict[str, Any]:
    row["double"] = row["x"] * 2
    return row


@dd.custom_column_generator(required_columns=["x"])
def breaks(row: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(f"x is {row['x']:.2f}, which this column cannot take")


def model(parallel: int = 4) -> dd.ModelConfig:
    params = dd.ChatCompletionInferenceParams(max_parallel_requests=parallel)
    return dd.ModelConfig(alias="fast", model="fake-model", provider="local", inference_parameters=params)


def workflow(server: FakeOpenAIServer | str, *, rows: int = 30, buffer_size: int = 10, parallel: int = 4,
             name: str = "scale") -> Any:
    """topics (samplers, expression, custom) -> qa (LLM text + structured, a processor) and style
    (an expression) at once -> joined (JoinOn)."""
    url = server if isinstance(server, str) else server.url
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=url)])
    designer.set_run_config(dd.RunConfig(buffer_size=buffer_size))
    wf = designer.compose_workflow(name=name)
    topics = (dd.DataDesignerConfigBuilder(seed=7)
              .add_column(name="topic", column_type="sampler", sampler_type="category",
                          params={"values": ["cats", "dogs", "owls", "bees"]})
              .add_column(name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10})
              .add_column(name="id", column_type="expression", expr="{{ topic }}-{{ x }}")
              .add_column(name="double", column_type="custom", generator_function=doubled))
    wf.add_stage("topics", topics, num_records=rows)
    qa = (dd.DataDesignerConfigBuilder(model_configs=[model(parallel)])
          .add_column(name="answer", column_type="llm_text", model_alias="fast", prompt="Say something about {{ topic }}")
          .add_column(name="card", column_type="llm_structured", model_alias="fast",
                      prompt="A quiz card about {{ answer }}", output_format=CARD)
          .add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"t": "{{ topic }}: {{ answer }}"})))
    wf.add_stage("qa", qa, depends_on="topics")
    wf.add_stage("style", dd.DataDesignerConfigBuilder().add_column(
        name="tone", column_type="expression", expr="{{ id }}!"), depends_on="topics")
    wf.add_stage("joined", dd.DataDesignerConfigBuilder().add_column(
        name="summary", column_type="expression", expr="{{ tone }} {{ answer }}"),
        depends_on=["qa", "style"], join=dd.JoinOn(columns=["id"]))
    return wf


def single(server: FakeOpenAIServer, **settings: Any) -> tuple[Any, Any]:
    """(designer, builder) for DataDesigner.create()/preview(): samplers, an expression, a custom
    column, LLM text and structured columns and a processor in one dataset, batches of 10 rows."""
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server.url)], **settings)
    designer.set_run_config(dd.RunConfig(buffer_size=10))
    builder = (dd.DataDesignerConfigBuilder(model_configs=[model()], seed=11)
               .add_column(name="topic", column_type="sampler", sampler_type="category",
                           params={"values": ["cats", "dogs", "owls", "bees"]})
               .add_column(name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10})
               .add_column(name="id", column_type="expression", expr="{{ topic }}-{{ x }}")
               .add_column(name="double", column_type="custom", generator_function=doubled)
               .add_column(name="answer", column_type="llm_text", model_alias="fast",
                           prompt="Tell me of {{ topic }} ({{ id }})")
               .add_column(name="card", column_type="llm_structured", model_alias="fast",
                           prompt="A card about {{ answer }}", output_format=CARD)
               .add_processor(dd.SchemaTransformProcessorConfig(name="side", template={"t": "{{ answer }}"})))
    return designer, builder


def batch_processes(root: int) -> list[int]:
    """Pids of Ray workers below process ``root`` running a batch right now (their title is
    ``ray::generate_batch``): only processes this test session started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if title.startswith(b"ray::generate_batch"):
                found.append(pid)
    return found
