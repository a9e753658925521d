"""Looking at a cache's LLM responses from outside: count them, rewrite them as a tamperer would.

Reads the files directly (the packs, their indexes, journals, one-per-file responses), never
through the store under test, so a test can compare what the store says with what is on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xxhash

from ddbuild.store.layout import LLM, LLM_JOURNAL, LLM_PACKS
from ddbuild.store.packs import encode_pack


def pack_files(root: Path) -> list[Path]:
    """The pack files (``<pack>.json``) below a cache root, in name order."""
    folder = Path(root) / LLM_PACKS
    return sorted(p for p in folder.rglob("*.json") if not p.name.startswith(".")) if folder.exists() else []


def stored_responses(root: Path) -> dict[str, dict[str, Any]]:
    """Every response a cache holds durably or in a journal (complete lines only), by request key."""
    root = Path(root)
    found: dict[str, dict[str, Any]] = {}
    legacy = root / LLM
    if legacy.exists():
        for path in legacy.rglob("*.json"):
            if not path.name.startswith("."):
                found[path.stem] = json.loads(path.read_text())
    for path in pack_files(root):
        found.update(json.loads(path.read_bytes())["responses"])
    journals = root / LLM_JOURNAL
    if journals.exists():
        for path in journals.iterdir():
            for line in path.read_bytes().split(b"\n")[:-1]:
                doc = json.loads(line)
                found[doc["key"]] = doc["response"]
    return found


def rewrite_responses(root: Path, change: Callable[[str, dict[str, Any]], dict[str, Any]]) -> int:
    """Rewrite every pack with ``change(key, response)`` applied, as a well-formed pack under its new
    name (what a tamperer who knows the format does); returns how many responses were rewritten."""
    count = 0
    for path in pack_files(root):
        responses = json.loads(path.read_bytes())["responses"]
        changed = {key: change(key, response) for key, response in responses.items()}
        data = encode_pack(changed)
        name = xxhash.xxh3_128_hexdigest(data)
        target = path.parent.parent / name[:2] / f"{name}.json"
        count += len(changed)
        if target == path:
            continue
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        index = path.with_suffix(".keys").read_text().splitlines()[0]  # "@<written>": keeps its place in time
        target.with_suffix(".keys").write_text(index + "\n" + "".join(f"{k}\n" for k in changed))
        path.unlink()
        path.with_suffix(".keys").unlink()
    return count
