"""--explain costs from rendered prompts: a dry run of the engine that counts instead of sending.

Every test counts requests at a real OpenAI-compatible server on loopback: a dry run must leave
its counter unchanged, and the build that follows must send exactly what the dry run predicted.
"""

from __future__ import annotations

from pathlib import Path

import ddbuild as dd
from ddbuild.execution import costing
from ddbuild.execution.costing import sample_rows
from ddbuild.planning.plan import Status
from tests.openai_server import FakeOpenAIServer


def write_seed(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": list(range(rows)), "text": [f"t{i}" for i in range(rows)]}), path)


def _designer(server: FakeOpenAIServer, buffer_size: int = 1000) -> dd.DataDesigner:
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server.url)])
    designer.set_run_config(dd.RunConfig(buffer_size=buffer_size))
    return designer


MODEL = dd.ModelConfig(alias="fast", model="test-model", provider="local")


def _workflow(server: FakeOpenAIServer, rows: int, tag: str = "{{ id }}-a", prompt: str = "Describe {{ text }}",
              buffer_size: int = 1000):
    builder = (
        dd.DataDesignerConfigBuilder(model_configs=[MODEL])
        .with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
        .add_column(name="tag", column_type="expression", expr=tag)
        .add_column(name="answer", column_type="llm_text", model_alias="fast", prompt=prompt)
    )
    workflow = _designer(server, buffer_size).compose_workflow(name="wf")
    workflow.add_stage("gen", builder, num_records=rows)
    return workflow


def _cache_files(project: Path) -> set[str]:
    root = project / ".ddbuild" / "cache"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "index" not in p.parts}


def _cost(workflow, stage: str = "gen"):
    decision = workflow.plan(estimate_cost=True).stage(stage)
    assert decision.cost is not None, decision
    return decision


def test_explain_predicts_what_the_build_sends(project, server):
    write_seed(project / "seed.parquet", rows=40)
    _workflow(server, 10).run()
    assert server.total == 10

    before = _cache_files(project)
    more = _cost(_workflow(server, 20))
    assert more.status == Status.RUN
    assert (more.cost.llm_requests_to_send, more.cost.llm_requests_cached) == (10, 10)
    assert more.cost.rows_to_generate == 20 and more.cost.prompt_tokens_estimate > 0
    assert "rendered prompts of all 20 rows" in more.cost.estimate_basis
    assert server.total == 10  # the dry run sent nothing
    assert _cache_files(project) == before  # ... and wrote nothing to the cache
    assert not list((project / ".ddbuild" / "cache").glob(".explain-*"))  # its temp dir is gone

    _workflow(server, 20).run()
    assert server.total == 20  # exactly the 10 predicted

    unread = _cost(_workflow(server, 20, tag="{{ id }}-b"))
    assert unread.status == Status.RUN  # the key changed: the stage runs...
    assert (unread.cost.llm_requests_to_send, unread.cost.llm_requests_cached) == (0, 20)  # ...sending nothing
    assert unread.cost.prompt_tokens_estimate == 0

    reworded = _cost(_workflow(server, 20, prompt="Summarise {{ text }}"))
    assert (reworded.cost.llm_requests_to_send, reworded.cost.llm_requests_cached) == (20, 0)
    assert server.total == 20
    _workflow(server, 20, prompt="Summarise {{ text }}").run()
    assert server.total == 40


def test_plan_without_estimate_keeps_the_template_estimate(project, server):
    write_seed(project / "seed.parquet", rows=40)
    cost = _workflow(server, 10).plan().stage("gen").cost
    assert cost is not None and "cache hits unknown" in cost.estimate_basis
    assert server.total == 0


def test_child_of_a_hit_is_costed_from_its_parent_blobs_and_pending_keeps_template(project, server):
    write_seed(project / "seed.parquet", rows=8)

    def wf(prompt: str):
        seed = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
        seed.add_column(name="shout", column_type="expression", expr="{{ text | upper }}")
        ask = dd.DataDesignerConfigBuilder(model_configs=[MODEL]).add_column(
            name="q", column_type="llm_structured", model_alias="fast", prompt=prompt,
            output_format={"type": "object", "properties": {"title": {"type": "string"}, "n": {"type": "integer"}},
                           "required": ["title", "n"]})
        ask.add_column(name="a", column_type="llm_text", model_alias="fast", prompt="Answer {{ q.title }}")
        workflow = _designer(server).compose_workflow(name="two")
        workflow.add_stage("base", seed)
        workflow.add_stage("ask", ask)
        return workflow

    fresh = wf("Title for {{ shout }}").plan(estimate_cost=True)
    assert fresh.stage("ask").status == Status.PENDING
    assert "unknown until upstream runs" in fresh.stage("ask").cost.estimate_basis
    wf("Title for {{ shout }}").run()
    assert server.total == 16

    again = wf("A title for {{ shout }}").plan(estimate_cost=True).stage("ask")
    assert again.status == Status.RUN
    # The structured column is resent. The text column reads the dry run's placeholder reply,
    # which here equals the server's (both build example_for(schema)), so its prompts are cached.
    assert (again.cost.llm_requests_to_send, again.cost.llm_requests_cached) == (8, 8)
    assert server.total == 16
    wf("A title for {{ shout }}").run()
    assert server.total == 24


def test_big_stages_are_sampled_on_whole_batches_and_scaled(project, server, monkeypatch):
    write_seed(project / "seed.parquet", rows=40)
    monkeypatch.setattr(costing, "DRY_RUN_MAX_ROWS", 10)
    decision = _cost(_workflow(server, 40, buffer_size=4))
    assert decision.cost.llm_requests_to_send == 40 and decision.cost.rows_to_generate == 40
    assert "the first 8 of 40 rows, scaled" in decision.cost.estimate_basis
    assert server.total == 0


def test_sample_rows():
    assert sample_rows(50, 1000, 2000) == 50
    assert sample_rows(50_000, 1000, 2000) == 2000
    assert sample_rows(50_000, 300, 2000) == 1800  # whole batches only
    assert sample_rows(50_000, 5000, 2000) == 5000  # at least one batch


def test_a_failing_dry_run_keeps_the_template_estimate(project, server):
    write_seed(project / "seed.parquet", rows=5)
    # A template that parses but fails to render (a parse error is an invalid config, found by the plan).
    decision = _cost(_workflow(server, 5, tag="{{ id / 0 }}"))
    assert "dry run failed" in decision.cost.estimate_basis
    assert server.total == 0
