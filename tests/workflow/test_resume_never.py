"""resume=NEVER is Data Designer's "generate afresh": every stage runs and its LLM requests are sent
again (cached replies are not read, new ones are stored); the new output becomes the stage's entry,
which IF_POSSIBLE then reuses. Requests are counted at the test server.
"""

from __future__ import annotations

import ddbuild as dd
from ddbuild.planning.plan import ReasonKind, Status
from tests.openai_server import FakeOpenAIServer

ROWS = 8



def _workflow(server: FakeOpenAIServer):
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server.url)])
    model = dd.ModelConfig(alias="fast", model="test-model", provider="local")
    topics = (
        dd.DataDesignerConfigBuilder(model_configs=[model], seed=5)
        .add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]})
        .add_column(name="text", column_type="llm-text", model_alias="fast", prompt="Write about {{ topic }}")
    )
    shout = dd.DataDesignerConfigBuilder().add_column(name="loud", column_type="expression", expr="{{ text }}!")
    workflow = designer.compose_workflow(name="never")
    workflow.add_stage("texts", topics, num_records=ROWS)
    workflow.add_stage("shout", shout)
    return workflow


def _texts(results) -> list[str]:
    return list(results.load_stage_output("texts")["text"])


def test_never_sends_again_and_if_possible_reuses_its_output(project, server):
    first = _workflow(server).run()
    assert server.total == ROWS and set(_texts(first)) == {"reply to: Write about a", "reply to: Write about b"}

    server.add_fault("reply", times=None, content="a fresh reply")  # the endpoint now answers differently
    fresh = _workflow(server).run(resume=dd.ResumeMode.NEVER)
    assert server.total == 2 * ROWS  # every request sent again, none read from the response cache
    assert {s.status for s in fresh.stages.values()} == {Status.RUN}
    assert _texts(fresh) == ["a fresh reply"] * ROWS
    assert list(fresh.load_stage_output("shout")["loud"]) == ["a fresh reply!"] * ROWS

    server.reset()  # back to the first replies: a request sent now would show it
    again = _workflow(server).run()
    assert server.total == 0 and {s.status for s in again.stages.values()} == {Status.HIT}
    assert _texts(again) == ["a fresh reply"] * ROWS  # NEVER's output is the stage's entry now
    forced = _workflow(server).run(always_make=True)  # -B rebuilds but reads the responses NEVER stored
    assert server.total == 0 and _texts(forced) == ["a fresh reply"] * ROWS


def test_explain_says_what_never_does(project, server):
    _workflow(server).run()
    plan = _workflow(server).plan(resume=dd.ResumeMode.NEVER, estimate_cost=True)
    texts = plan.stage("texts")
    assert texts.status == Status.RUN
    assert [(r.kind, r.detail) for r in texts.reasons] == [(
        ReasonKind.FORCED,
        "resume=NEVER generates every stage afresh: its LLM requests are sent again (cached replies are not read)",
    )]
    assert (texts.cost.llm_requests_to_send, texts.cost.llm_requests_cached) == (ROWS, 0)
    assert _workflow(server).plan(estimate_cost=True).stage("texts").status == Status.HIT
    assert server.total == ROWS  # the plans sent nothing
    _workflow(server).run(resume=dd.ResumeMode.NEVER)
    assert server.total == 2 * ROWS  # as explained
