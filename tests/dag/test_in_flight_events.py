"""A stage waiting for LLM replies reports how many are in flight: throttled, within the model's
limit, and back to 0 when they are done (what the live display shows next to the row count)."""

from __future__ import annotations

from dag_helpers import designer, llm_builder, model, seed_builder, write_seed

from ddbuild.execution.events import LLMRequestsInFlight, StageFinished, StageStarted
from ddbuild.workflow import RecordingReporter
from tests.openai_server import start_server


def test_requests_in_flight_are_reported_while_a_stage_waits_for_replies(project):
    server = start_server(latency_ms=250)  # 24 rows, 4 at a time: about 1.5 s of replies
    try:
        write_seed(project / "seed.parquet", 24)
        workflow = designer(server).compose_workflow(name="slow")
        workflow.add_stage("src", seed_builder())
        workflow.add_stage("ask", llm_builder("answer", "say {{ text }}", model("m", "slow-model", parallel=4)),
                           depends_on="src")
        reporter = RecordingReporter()
        workflow.run(reporter=reporter)
        assert server.total == 24
    finally:
        server.stop()
    counts = [e.in_flight for e in reporter.of_type(LLMRequestsInFlight)]
    assert {e.stage for e in reporter.of_type(LLMRequestsInFlight)} == {"ask"}  # src sends nothing
    assert 2 <= max(counts) <= 4 and counts[-1] == 0  # overlapping, within max_parallel_requests, drained
    assert len(counts) < 24  # throttled: not an event per request
    order = [type(e) for e in reporter.events if getattr(e, "stage", None) == "ask"]
    first, last = order.index(LLMRequestsInFlight), len(order) - 1 - order[::-1].index(LLMRequestsInFlight)
    assert order.index(StageStarted) < first and last < order.index(StageFinished)
