"""The planner is pure: decisions from a MemoryView and precomputed facts, no files involved."""

from __future__ import annotations

from pathlib import Path

import ddbuild as dd
from ddbuild.fingerprint import stage_key
from ddbuild.planning.graph import Graph
from ddbuild.planning.identity import stage_identity
from ddbuild.planning.plan import ReasonKind, Status
from ddbuild.planning.planner import Facts, Options, Settled, plan
from ddbuild.planning.storeview import LastBuild, MemoryView
from tests.workflow.conftest import expr_builder, sampler_builder

CWD = Path("/nowhere")


def _graph() -> Graph:
    wf = dd.DataDesigner().compose_workflow(name="p")
    wf.add_stage("a", sampler_builder(), num_records=3).add_stage("b", expr_builder())
    return Graph(tuple(wf.stages))


def _facts(graph: Graph) -> Facts:
    return Facts(identities={s.name: stage_identity(s, CWD, dd.RunConfig()) for s in graph.stages})


def _entry(key: str, digest: str, rows: int) -> dict:
    return {"key": key, "selected_output": {"digest": digest, "rows": rows, "paths": []}, "outputs": []}


def test_cold_cache_runs_root_and_leaves_child_pending() -> None:
    graph = _graph()
    result = plan(graph, ["b"], MemoryView(), _facts(graph), Options("p"))
    assert [(d.name, d.status) for d in result.stages] == [("a", Status.RUN), ("b", Status.PENDING)]
    assert result.stage("a").reasons[0].kind == ReasonKind.NO_ENTRY
    assert result.stage("b").key is None and result.has_work
    doc = result.to_dict()
    assert doc["stages"][0]["status"] == "run" and doc["summary"]["rows_to_generate"] == 3


def test_replanning_with_a_settled_parent_gives_the_child_key() -> None:
    graph, view = _graph(), MemoryView()
    facts = _facts(graph)
    key_a = plan(graph, ["b"], view, facts, Options("p")).stage("a").key
    settled = {"a": Settled(Status.RUN, key_a, "f" * 32, 3)}
    b = plan(graph, ["b"], view, facts, Options("p"), settled).stage("b")
    assert b.status == Status.RUN
    assert b.key == stage_key(facts.identities["b"], {"a": "f" * 32}).key


def test_hits_and_partials_and_config_diffs() -> None:
    graph = _graph()
    facts = _facts(graph)
    first = plan(graph, ["b"], MemoryView(), facts, Options("p"))
    key_a = first.stage("a").key
    view = MemoryView(entries={key_a: _entry(key_a, "e" * 32, 3)})
    b_doc = stage_key({**facts.identities["b"], "columns": {"y": {"expr": "old"}}}, {"a": "e" * 32}).document
    view.last[("p", "b")] = LastBuild("0" * 32, b_doc)
    result = plan(graph, ["b"], view, facts, Options("p"))
    assert result.stage("a").status == Status.HIT
    b = result.stage("b")
    assert b.status == Status.RUN and b.reasons[0].kind == ReasonKind.CONFIG_CHANGED
    assert [c.path for c in b.reasons[0].changes][:1] == ["columns.y.column_type"]
    view.partials.add(b.key)
    assert plan(graph, ["b"], view, facts, Options("p")).stage("b").status == Status.RESUME
    view.corrupt.add(key_a)
    again = plan(graph, ["b"], view, facts, Options("p")).stage("a")
    assert again.status == Status.RUN and again.reasons[0].kind == ReasonKind.ENTRY_CORRUPT


def test_always_make_forces_everything() -> None:
    graph = _graph()
    result = plan(graph, ["b"], MemoryView(), _facts(graph), Options("p", always_make=True))
    assert all(any(r.kind == ReasonKind.FORCED for r in d.reasons) for d in result.stages)


# -- reasons carry what code needs as fields (the detail is a sentence, never parsed) -------------

def _chain4() -> Graph:
    wf = dd.DataDesigner().compose_workflow(name="p")
    wf.add_stage("a", sampler_builder(), num_records=3, allow_empty=True)
    wf.add_stage("b", expr_builder()).add_stage("c", expr_builder("{{ y }}?", "z"))
    return Graph(tuple(wf.stages))


def test_pending_and_upstream_changed_reasons_name_their_parents() -> None:
    graph, view = _graph(), MemoryView()
    facts = _facts(graph)
    waits = plan(graph, ["b"], view, facts, Options("p")).stage("b").reasons[0]
    assert (waits.kind, waits.parents) == (ReasonKind.UPSTREAM_PENDING, ("a",))
    assert waits.to_dict() == {"kind": "upstream_pending", "detail": "waits for a to run first", "parents": ["a"]}
    view.last[("p", "b")] = LastBuild("0" * 32, stage_key(facts.identities["b"], {"a": "e" * 32}).document)
    settled = {"a": Settled(Status.RUN, "1" * 32, "f" * 32, 3)}
    changed = plan(graph, ["b"], view, facts, Options("p"), settled).stage("b").reasons[0]
    assert (changed.kind, changed.parents, changed.detail) == (ReasonKind.UPSTREAM_CHANGED, ("a",), "output of a changed")
    assert [(c.path, c.old, c.new) for c in changed.changes] == [("parents.a", "e" * 32, "f" * 32)]


def test_skips_name_the_stage_they_come_from_down_a_chain() -> None:
    graph = _chain4()
    facts = _facts(graph)
    for settled_a, kind in [(Settled(Status.RUN, "1" * 32, "f" * 32, 0), ReasonKind.UPSTREAM_EMPTY),
                            (Settled(Status.ERROR, None, None, None), ReasonKind.UPSTREAM_FAILED)]:
        result = plan(graph, ["c"], MemoryView(), facts, Options("p"), {"a": settled_a})
        for name in ("b", "c"):
            reason = result.stage(name).reasons[0]
            assert result.stage(name).status == Status.SKIPPED
            assert (reason.kind, reason.origin) == (kind, "a"), name
            assert reason.to_dict()["origin"] == "a"
