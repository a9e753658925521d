"""Entries record the digest of every LLM response they used; cache verify finds one whose bytes changed."""

from __future__ import annotations

from dag_helpers import designer, llm_builder, model, seed_builder, write_seed

from ddbuild.fingerprint import digest_json
from ddbuild.store.audit import FindingKind, audit
from ddbuild.store.fs import FileSystemStore
from tests.packs_helpers import rewrite_responses


def test_cache_verify_finds_an_llm_response_whose_bytes_changed(project, server):
    write_seed(project / "seed.parquet", rows=3)
    workflow = designer(server).compose_workflow(name="qa")
    workflow.add_stage("seed", seed_builder().add_column(name="t", column_type="expression", expr="{{ text }}"))
    workflow.add_stage("ask", llm_builder("q", "Ask about {{ t }}", model("fast", "qa-model")))
    workflow.run()
    cache = project / ".ddbuild" / "cache"
    store = FileSystemStore(cache)
    ask = next(e for e in map(store.get_entry, store.list_entries()) if e["stage"] == "ask")
    recorded = ask["usage"]["response_digests"]
    assert sorted(recorded) == sorted(ask["usage"]["response_keys"]) and len(recorded) == 3
    assert all(digest_json(store.get_response(k)) == d for k, d in recorded.items())
    assert audit(store).findings == []
    key = ask["usage"]["response_keys"][0]

    def pwn(response_key, response):
        if response_key == key:
            response["choices"][0]["message"]["content"] = "PWNED"
        return response

    rewrite_responses(cache, pwn)
    store = FileSystemStore(cache)  # a new process: the rewritten pack is the one it finds
    found = audit(store)
    assert [f.kind for f in found.findings] == [FindingKind.RESPONSE_CHANGED]
    assert found.findings[0].message == (
        f"entry {ask['key'][:8]} (qa:ask): LLM response {key} changed since the stage was built")
