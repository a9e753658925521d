"""One stage key: every entry a build publishes is stored under the key the planner computes for
that stage, and holds the document that key is the digest of, over workflow shapes kept as data.

For each case: a dry-run plan, a build, then a fresh plan. The build's entries must be exactly
the fresh plan's keys (all hits), the dry run's known keys must be among them, each entry's
document must hash to its key and name its parents' real output digests. Then the same after an
edit that changes one stage and after a forced rebuild.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ddbuild as dd
from ddbuild.fingerprint import digest_file, digest_json, output_digest
from ddbuild.store.fs import FileSystemStore
from ddbuild.workflow import Status
from tests.workflow.conftest import expr_builder, sampler_builder, write_seed

# A case: (make the workflow given a variant "v1"/"v2", run() keyword arguments). Variant v2
# edits one stage in the middle, so its descendants get new keys from new parent digests.
Case = tuple[Callable[[str], Any], dict[str, Any]]


def _chain(variant: str) -> Any:
    wf = dd.DataDesigner().compose_workflow(name="chain")
    wf.add_stage("a", sampler_builder(), num_records=4)
    wf.add_stage("b", expr_builder("{{ x }}-" + variant, "y"))
    wf.add_stage("c", expr_builder("{{ y }}?", "z"))
    return wf


def _seeded_chain(variant: str) -> Any:
    wf = dd.DataDesigner().compose_workflow(name="seeded")
    seed = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
    wf.add_stage("docs", seed.add_column(name="t2", column_type="expression", expr="{{ text }}-" + variant))
    wf.add_stage("short", expr_builder("{{ t2 }}!", "s"), num_records=3)
    return wf


def _frame_seed(variant: str) -> Any:
    import pandas as pd

    frame = pd.DataFrame({"id": [1, 2, 3], "text": ["p", "q", variant]})
    wf = dd.DataDesigner().compose_workflow(name="frame")
    wf.add_stage("root", dd.DataDesignerConfigBuilder().with_seed_dataset(dd.DataFrameSeedSource(df=frame)))
    wf.add_stage("child", expr_builder("{{ text }}.", "u"))
    return wf


#   src ─┬─► left ──┐
#        └─► right ─┴─► joined      (join on id)
def _dag_join(variant: str) -> Any:
    wf = dd.DataDesigner().compose_workflow(name="dag")
    wf.add_stage("src", dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet")))
    wf.add_stage("left", expr_builder("{{ text }}-L" + variant, "l"), depends_on="src")
    wf.add_stage("right", expr_builder("{{ text }}-R", "r"), depends_on="src")
    wf.add_stage("joined", expr_builder("{{ l }}|{{ r }}", "lr"), depends_on=["left", "right"],
                 join=dd.JoinOn(columns=["id"]))
    return wf


def _processor_output(variant: str) -> Any:
    wf = dd.DataDesigner().compose_workflow(name="ops")
    gen = sampler_builder().add_column(name="y", column_type="expression", expr="{{ x }}" + variant)
    wf.add_stage("gen", gen, num_records=3,
                 output_processors=[dd.DropColumnsProcessorConfig(name="dropx", column_names=["x"])])
    wf.add_stage("fmt", dd.DataDesignerConfigBuilder().add_processor(
        dd.SchemaTransformProcessorConfig(name="chat", template={"m": "{{ y }}"})), output="processor:chat")
    wf.add_stage("last", expr_builder("{{ m }}.", "n"))
    return wf


CASES: dict[str, Case] = {
    "chain": (_chain, {}),
    "chain-j2": (_chain, {"max_parallel_stages": 2}),
    "seed-file": (_seeded_chain, {}),
    "seed-frame": (_frame_seed, {}),
    "dag-join": (_dag_join, {}),
    "dag-join-j2": (_dag_join, {"max_parallel_stages": 2}),
    "processor-output": (_processor_output, {}),
    "override": (_chain, {"stage_output_overrides": {"a": "override.parquet"}}),
    "override-targets": (_chain, {"stage_output_overrides": {"a": "override.parquet"}, "targets": "b"}),
}


def _store(project: Path) -> FileSystemStore:
    return FileSystemStore(project / ".ddbuild" / "cache")


def _keys(project: Path) -> set[str]:
    return set(_store(project).list_entries())


def _check_round(make: Callable[[str], Any], variant: str, kwargs: dict[str, Any], project: Path,
                 always_make: bool = False) -> None:
    plan_kwargs = {k: v for k, v in kwargs.items() if k != "max_parallel_stages"}
    overrides = kwargs.get("stage_output_overrides", {})
    dry = make(variant).plan(always_make=always_make, **plan_kwargs)
    before = _keys(project)
    results = make(variant).run(always_make=always_make, **kwargs)
    built = {n: results.stages[n].key for n in results if results.stages[n].status in (Status.RUN, Status.RESUME)}
    assert built, "every round builds something"
    if not always_make:  # the build published exactly the entries of the stages it built
        assert _keys(project) - before == set(built.values()), sorted(built)

    fresh = make(variant).plan(**plan_kwargs)
    for decision in fresh.stages:
        if decision.name in overrides:
            assert decision.status == Status.HIT and decision.key is None
            continue
        assert decision.status == Status.HIT, (decision.name, decision.reasons)
        assert results.stages[decision.name].key == decision.key, decision.name
    for decision in dry.stages:
        if decision.key is not None:  # the dry run knew it: the build used it
            assert results.stages[decision.name].key == decision.key, decision.name
    for name, key in built.items():
        entry = _store(project).get_entry(key)
        assert entry["key"] == key and entry["stage"] == name
        assert digest_json(entry["identity"]) == key, name  # the document the key is the digest of
        parents = {p: _output_digest(results, p, project, overrides) for p in fresh.stage(name).depends_on}
        assert entry["inputs"]["parents"] == parents, name  # parents by their real selected output


def _output_digest(results: Any, stage: str, project: Path, overrides: dict[str, str]) -> str:
    if stage in overrides:
        return output_digest([digest_file(project / overrides[stage])])
    return _store(project).get_entry(results.stages[stage].key)["selected_output"]["digest"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_published_keys_are_the_planned_keys(project: Path, case: str) -> None:
    make, kwargs = CASES[case]
    write_seed(project / "seed.parquet", rows=5)
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0]}), project / "override.parquet")
    _check_round(make, "v1", kwargs, project)
    _check_round(make, "v2", kwargs, project)  # one stage edited: it and what reads it get new keys
    _check_round(make, "v2", kwargs, project, always_make=True)  # every entry replaced, under the same keys
