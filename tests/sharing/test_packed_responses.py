"""LLM responses travel in packs: objects per 1,000 responses on a real S3 server, and a teammate
served from them without a request. Objects are counted on the server, requests at the test LLM.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.store.layout import LLM, LLM_PACKS
from tests.openai_server import FakeOpenAIServer
from tests.store.store_servers import Moto

ROWS = 1000
BATCH = 250


def _workflow(root: Path, llm_url: str, remote: str, *, upload: bool):  # noqa: ANN202
    model = dd.ModelConfig(alias="fast", model="test-model", provider="test",
                           inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=32))
    builder = (dd.DataDesignerConfigBuilder(model_configs=[model], seed=3)
               .add_column(name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1})
               .add_column(name="say", column_type="llm_text", model_alias="fast", prompt="Say {{ n }}"))
    designer = dd.DataDesigner(artifact_path=root / "artifacts", cache=root / "cache", remote=remote,
                               remote_upload=upload,
                               model_providers=[dd.ModelProvider(name="test", endpoint=llm_url)])
    designer.set_run_config(dd.RunConfig(buffer_size=BATCH))
    workflow = designer.compose_workflow(name="packed")
    workflow.add_stage("talk", builder, num_records=ROWS)
    return workflow


def _objects(moto: Moto, prefix: str, area: str) -> list[str]:
    from pyarrow.fs import FileSelector

    infos = moto.filesystem().get_file_info(
        FileSelector(f"{moto.bucket}/{prefix}/{area}", allow_not_found=True, recursive=True))
    return [i.base_name for i in infos if i.is_file]


@pytest.mark.parametrize("how", ["upload", "push"])
def test_a_thousand_responses_are_eight_objects_and_serve_a_teammate(
        how: str, moto: Moto, llm: FakeOpenAIServer, tmp_path: Path) -> None:
    prefix = uuid.uuid4().hex[:12]
    remote = moto.url(prefix)
    alice = _workflow(tmp_path / "alice", llm.url, remote, upload=how == "upload")
    alice.run()
    if how == "push":
        assert alice.push().responses_copied == ROWS
    assert llm.total == ROWS
    # One pack and its index per batch of 250 replies (was: one object per reply).
    packs = _objects(moto, prefix, LLM_PACKS)
    expected = 2 * (ROWS // BATCH) if how == "upload" else 2  # push packs an entry's replies together
    assert len(packs) == expected and sum(p.endswith(".keys") for p in packs) == expected // 2
    assert _objects(moto, prefix, LLM) == []

    # Bob: his own empty cache and a forced rebuild (-B): every reply is read from Alice's packs.
    llm.reset()
    bob = _workflow(tmp_path / "bob", llm.url, remote, upload=False)
    results = bob.run(always_make=True)
    assert llm.total == 0
    assert list(results.load_stage_output("talk")["say"]) == list(alice.run().load_stage_output("talk")["say"])
