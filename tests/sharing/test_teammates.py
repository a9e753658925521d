"""Two teammates share stages through a remote (nginx WebDAV, moto S3) or one shared directory."""

from __future__ import annotations

import pytest

from tests.sharing.teammates import HIT, RUN, Teammate


@pytest.mark.parametrize("remote_kind", ["http", "s3"])
def test_b_reuses_what_a_pushed(remote_kind, request, tmp_path, llm):
    url = request.getfixturevalue("http_remote")[0] if remote_kind == "http" else request.getfixturevalue("s3_remote")
    a = Teammate(tmp_path / "alice", llm.url, remote=url)
    b = Teammate(tmp_path / "bob", llm.url, remote=url)
    assert a.run() == {"a": RUN, "b": RUN}
    sent = llm.total
    assert sent == 4
    assert b.plan() == {"a": (RUN, None), "b": ("pending", None)}  # nothing on the remote yet
    counts = a.call("push")
    assert counts.complete and counts.entries_copied == 2 and counts.responses_copied == 4

    assert b.plan() == {"a": (HIT, "remote"), "b": (HIT, "remote")}
    assert b.run() == {"a": HIT, "b": HIT}  # 0 stage executions
    assert llm.total == sent  # 0 LLM requests
    assert b.output("b") == a.output("b")
    assert b.plan() == {"a": (HIT, "local"), "b": (HIT, "local")}  # pulled into Bob's cache


def test_upload_while_building_then_offline(http_remote, tmp_path, llm):
    url, _ = http_remote
    a = Teammate(tmp_path / "alice", llm.url, remote=url, remote_upload=True)
    assert a.run() == {"a": RUN, "b": RUN}
    assert a.call("push").entries_copied == 0  # already uploaded while building

    b = Teammate(tmp_path / "bob", llm.url, remote=url)
    pulled = b.call("pull")
    assert pulled.complete and pulled.entries_copied == 2 and pulled.responses_copied == 4
    offline = Teammate(tmp_path / "bob", llm.url)  # same project copy, no remote at all
    assert offline.plan() == {"a": (HIT, "local"), "b": (HIT, "local")}
    assert offline.run() == {"a": HIT, "b": HIT} and llm.total == 4


def test_shared_directory_cache(tmp_path, llm):
    shared = tmp_path / "team-cache"
    a = Teammate(tmp_path / "alice", llm.url, cache=str(shared))
    b = Teammate(tmp_path / "bob", llm.url, cache=str(shared))
    assert a.run() == {"a": RUN, "b": RUN}
    assert b.plan() == {"a": (HIT, "local"), "b": (HIT, "local")}
    assert b.run() == {"a": HIT, "b": HIT} and llm.total == 4
    assert (tmp_path / "bob" / "artifacts" / "shared").is_dir() and b.output("b") == a.output("b")


def test_llm_responses_read_through_the_remote(http_remote, tmp_path, llm):
    """A changed downstream stage still reuses the responses Alice uploaded (request-level cache)."""
    url, _ = http_remote
    a = Teammate(tmp_path / "alice", llm.url, remote=url, remote_upload=True)
    a.run()
    b = Teammate(tmp_path / "bob", llm.url, remote=url)
    assert b.run(always_make=True) == {"a": RUN, "b": RUN}  # forced: both run, every request is a cache hit
    assert llm.total == 4
