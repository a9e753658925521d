"""Journals seen by a second reader: a live writer's, one another reader is adopting right now,
and one claimed by an adopter that died. Each reply in them is found, none is lost or doubled."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from ddbuild.fingerprint import digest_bytes
from ddbuild.store.fs import FileSystemStore
from ddbuild.store.layout import LLM_JOURNAL, LLM_PACKS

DEAD_PID = 2**22 + 1  # above Linux's pid_max: never a live process
KEY = digest_bytes(b"a request answered before the kill")
REPLY = {"choices": [{"message": {"content": "answered"}}]}


def _journal(root: Path, name: str) -> Path:
    folder = root / LLM_JOURNAL
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"key": KEY, "received": 1, "response": REPLY}) + "\n")
    return path


def test_a_journal_another_reader_is_adopting_is_read_not_taken(tmp_path: Path) -> None:
    # Two batch workers start together after a kill: one has claimed the dead writer's journal and
    # is writing its pack; the other must still find the replies (it re-sent a whole batch before).
    claimed = _journal(tmp_path, f"h.{DEAD_PID}.abc.jsonl.adopting.{socket.gethostname()}.{os.getpid()}")
    assert FileSystemStore(tmp_path).get_response(KEY) == REPLY
    assert claimed.exists() and not (tmp_path / LLM_PACKS).exists()  # the adopter's to finish


def test_a_journal_whose_adopter_died_is_adopted_again(tmp_path: Path) -> None:
    claimed = _journal(tmp_path, f"h.{DEAD_PID}.abc.jsonl.adopting.{socket.gethostname()}.{DEAD_PID}")
    assert FileSystemStore(tmp_path).get_response(KEY) == REPLY
    assert not claimed.exists() and list((tmp_path / LLM_JOURNAL).iterdir()) == []
    assert len(list((tmp_path / LLM_PACKS).rglob("*.json"))) == 1


def test_a_live_writers_journal_is_read_and_left_to_it(tmp_path: Path) -> None:
    live = _journal(tmp_path, f"{socket.gethostname()}.{os.getpid()}.abc.jsonl")
    with open(live, "ab") as torn:
        torn.write(b'{"key": "')  # the line being written: skipped
    assert FileSystemStore(tmp_path).get_response(KEY) == REPLY
    assert live.exists() and not (tmp_path / LLM_PACKS).exists()
