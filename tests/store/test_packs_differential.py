"""Differential test of the pack index (a quick answer) against the obvious one: a dict where the
response received last wins. Random programs of writes, reopened stores (another process),
journals of killed writers and of live ones, and damaged packs; after every step a fresh store
must answer every key as the dict does (a miss only where the pack holding the last reply was
damaged; a live writer's journaled reply counts for keys no pack holds, until it packs), and the
long-lived writer too, except that it may lag another process's writes (answering a miss or the
reply before) until it re-lists the packs (packs.RELIST_LOCAL_SECONDS) or is reopened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddbuild.fingerprint import digest_bytes
from ddbuild.store.fs import FileSystemStore
from ddbuild.store.layout import LLM_PACKS

KEYS = [digest_bytes(f"request {i}".encode()) for i in range(10)]
DEAD_PID = 2**22 + 1  # above Linux's pid_max: never a live process

step = st.one_of(
    st.tuples(st.just("put"), st.dictionaries(st.sampled_from(KEYS), st.integers(0, 5), min_size=1, max_size=6)),
    st.tuples(st.just("killed"), st.dictionaries(st.sampled_from(KEYS), st.integers(0, 5), min_size=1, max_size=4)),
    st.tuples(st.just("live"), st.dictionaries(st.sampled_from(KEYS), st.integers(0, 5), min_size=1, max_size=4)),
    st.tuples(st.just("reopen"), st.none()),
    st.tuples(st.just("damage"), st.integers(0, 20)),
)


def reply(value: int) -> dict[str, Any]:
    return {"choices": [{"message": {"content": f"answer {value}"}}]}


def run_program(root: Path, program: list[tuple[str, Any]]) -> None:
    expected: dict[str, dict[str, Any]] = {}  # packed replies (adopted journals included)
    live: dict[str, dict[str, Any]] = {}  # replies in journals of writers still running
    lost: set[str] = set()  # keys whose only copy was in a damaged pack: a miss is right for them
    lagging: dict[str, list[Any]] = {}  # key -> what the long-lived store may still answer for it
    store = FileSystemStore(root)
    for op, arg in program:
        if op == "put":
            store.put_responses({k: reply(v) for k, v in arg.items()})
            expected.update({k: reply(v) for k, v in arg.items()})
            lost -= set(arg)
            for k in arg:
                lagging.pop(k, None)
        elif op == "killed":  # a build journals replies, then is killed before packing them
            journal = FileSystemStore(root).open_journal()
            assert journal is not None
            for k, v in arg.items():
                journal.append(k, reply(v))
            assert journal.path is not None
            journal.path.rename(journal.path.with_name(journal.path.name.replace(f".{os.getpid()}.", f".{DEAD_PID}.")))
            for k, v in arg.items():  # any reply it saw at its last listing, or none, or this one
                lagging.setdefault(k, [None, expected.get(k), live.get(k)]).append(reply(v))
            expected.update({k: reply(v) for k, v in arg.items()})
            lost -= set(arg)
        elif op == "live":  # a build still running has journaled these replies
            journal = FileSystemStore(root).open_journal()
            assert journal is not None
            for k, v in arg.items():
                journal.append(k, reply(v))
                lagging.setdefault(k, [None, expected.get(k), live.get(k)]).append(reply(v))
                live[k] = reply(v)
        elif op == "reopen":
            store = FileSystemStore(root)
            lagging.clear()
        else:  # flip a byte of one pack: its responses are misses until written again
            packs = sorted((root / LLM_PACKS).rglob("*.json"))
            if packs:
                victim = packs[arg % len(packs)]
                data = bytearray(victim.read_bytes())
                data[len(data) // 2] ^= 0x20
                victim.write_bytes(bytes(data))
                lost |= _keys_of(victim)
        fresh = FileSystemStore(root)
        for k in KEYS:
            want = expected[k] if k in expected else live.get(k)
            got = fresh.get_response(k)
            if k in lost:
                assert got in (None, want), (op, k)
            else:
                assert got == want, (op, k, got, want)
            mine = store.get_response(k)
            assert mine == want or mine in lagging.get(k, []) or (k in lost and mine is None), (op, k)


def _keys_of(pack: Path) -> set[str]:
    index = pack.with_suffix(".keys").read_text().splitlines()
    return {line for line in index if not line.startswith("@")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(step, min_size=1, max_size=12))
def test_the_pack_index_answers_as_last_write_wins(tmp_path_factory, program) -> None:
    run_program(tmp_path_factory.mktemp("packs"), program)
