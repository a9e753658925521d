"""A hostile remote (tests/sharing/hostile.py, one line per plant) against three real remotes, with and without keys.

For each case an honest teammate's remote is copied, the plant applied, and a reader builds from
it. Each build must end cleanly within a time and memory limit, write nothing to the remote or
outside its own directory, and (with keys always; without keys where the corpus says ``correct``)
produce exactly the honest bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import shutil
import signal
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import xxhash

from ddbuild.fingerprint import digest_bytes
from ddbuild.store.layout import LLM_PACKS, blob_rel, entry_rel, pack_index_rel, pack_rel
from ddbuild.store.packs import encode_pack
from tests.openai_server import start_server
from tests.sharing.hostile import cases
from tests.sharing.teammates import Teammate

KEY = "team-key-hostile"
LIMITS = {"DDBUILD_MAX_ENTRY_BYTES": str(1 << 20), "DDBUILD_MAX_RESPONSE_BYTES": str(1 << 20),
          "DDBUILD_TRANSFER_TIMEOUT": "5"}
SECONDS, PEAK_BYTES = 30, 150 * 1024 * 1024


class Raw:
    """Raw access to one remote's storage (what an attacker with write access can do)."""

    kind: str
    url: str

    def read(self, rel: str) -> bytes: ...
    def write(self, rel: str, data: bytes) -> None: ...
    def delete(self, rel: str) -> None: ...
    def names(self, prefix: str) -> list[str]: ...
    def snapshot(self) -> dict[str, str]: ...


class DiskRaw(Raw):
    """A directory remote, or the directory nginx serves a WebDAV remote from."""

    def __init__(self, kind: str, url: str, root: Path) -> None:
        self.kind, self.url, self.root = kind, url, root

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        path.write_bytes(data)
        path.chmod(0o644)

    def delete(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)

    def names(self, prefix: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in (self.root / prefix).rglob("*.json"))

    def snapshot(self) -> dict[str, str]:
        seen = {}
        for dirpath, dirs, files in os.walk(self.root):  # never follows links
            for name in dirs + files:
                path = Path(dirpath) / name
                rel = path.relative_to(self.root).as_posix()
                if path.is_symlink():
                    seen[rel] = "-> " + os.readlink(path)
                elif path.is_file():
                    seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        return seen


class S3Raw(Raw):
    def __init__(self, url: str, filesystem: Any, root: str) -> None:
        self.kind, self.url, self.fs, self.root = "s3", url, filesystem, root

    def read(self, rel: str) -> bytes:
        with self.fs.open_input_file(f"{self.root}/{rel}") as f:
            return f.read()

    def write(self, rel: str, data: bytes) -> None:
        with self.fs.open_output_stream(f"{self.root}/{rel}") as out:
            out.write(data)

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(f"{self.root}/{rel}")

    def _infos(self, prefix: str = "") -> list[Any]:
        from pyarrow.fs import FileSelector, FileType

        selector = FileSelector(f"{self.root}/{prefix}".rstrip("/"), allow_not_found=True, recursive=True)
        return [i for i in self.fs.get_file_info(selector) if i.type == FileType.File]

    def names(self, prefix: str) -> list[str]:
        return sorted(i.path[len(self.root) + 1 :] for i in self._infos(prefix) if i.path.endswith(".json"))

    def snapshot(self) -> dict[str, str]:
        return {i.path[len(self.root) + 1 :]: hashlib.sha256(self.read(i.path[len(self.root) + 1 :])).hexdigest()
                for i in self._infos()}


@dataclass
class Honest:
    """An honest teammate's remote for one (kind, keys) pair: what every case starts from."""

    raw: Raw
    keys: dict[str, str]  # stage -> key
    outputs: dict[str, bytes]  # stage -> view bytes
    blob_a: str  # digest of stage a's first Parquet output
    index_a: int  # its index in the entry's outputs


@pytest.fixture(scope="module")
def llm_module() -> Iterator[Any]:
    server = start_server()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", "test-key")
        yield server
    server.stop()


@pytest.fixture(scope="module")
def honest(llm_module, moto, nginx, tmp_path_factory) -> Iterator[Any]:
    """honest(kind, signed) -> a fresh copy of an honest remote (built once per kind and keys)."""
    built: dict[tuple[str, bool], Honest] = {}
    base = tmp_path_factory.mktemp("honest")

    def fresh_raw(kind: str) -> Raw:
        prefix = uuid.uuid4().hex[:12]
        if kind == "dir":
            root = base / "dirs" / prefix
            root.mkdir(parents=True)
            return DiskRaw("dir", str(root), root)
        if kind == "http":
            root = nginx.data / prefix
            root.mkdir(parents=True)
            shutil.chown(root, *(("nobody", "nogroup") if os.geteuid() == 0 else (None, None)))
            return DiskRaw("http", f"{nginx.url}{prefix}/", root)
        return S3Raw(moto.url(prefix), moto.filesystem(), f"{moto.bucket}/{prefix}")

    def copy(source: Raw) -> Raw:
        target = fresh_raw(source.kind)
        for rel in source.snapshot():
            target.write(rel, source.read(rel))
        return target

    def get(kind: str, signed: bool) -> Honest:
        if (kind, signed) not in built:
            raw = fresh_raw(kind)
            with pytest.MonkeyPatch.context() as mp:
                for name in ("DDBUILD_SIGNING_KEY", "DDBUILD_REQUIRE_SIGNED", "DDBUILD_REMOTE", "DDBUILD_CACHE"):
                    mp.delenv(name, raising=False)
                if signed:
                    mp.setenv("DDBUILD_SIGNING_KEY", KEY)
                alice = Teammate(base / f"alice-{kind}-{signed}", llm_module.url, remote=raw.url, remote_upload=True)
                alice.run()
                keys = alice.keys()
                outputs = {s: alice.output(s) for s in ("a", "b")}
            entry = json.loads(raw.read(entry_rel(keys["a"])))
            index = next(i for i, o in enumerate(entry["outputs"]) if o["path"].endswith(".parquet"))
            built[(kind, signed)] = Honest(raw, keys, outputs, entry["outputs"][index]["digest"], index)
        h = built[(kind, signed)]
        return Honest(copy(h.raw), h.keys, h.outputs, h.blob_a, h.index_a)

    return get


# -- plants ------------------------------------------------------------------------------------


def _set(doc: Any, dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for part in path:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    doc[int(last) if isinstance(doc, list) else last] = value


def _disk(raw: Raw) -> Path:
    assert isinstance(raw, DiskRaw), "links and FIFOs exist only on a disk"
    return raw.root


def plant(h: Honest, target: str, mutation: str, outside: Path) -> None:
    raw = h.raw
    if target.startswith("entry:"):
        rels = [entry_rel(h.keys[target[6:]])]
    elif target == "responses":
        rels = raw.names(LLM_PACKS)  # the pack files (their .keys indexes are not *.json)
        assert rels, "the honest remote has LLM responses"
    elif target == "blob:a":
        rels = [blob_rel(h.blob_a)]
    elif target == "dir:quarantine":
        rels = ["quarantine"]
    else:
        rels = [f"actions/{h.keys[target[6:]][:2]}"]
    if mutation == "swap":
        contents = [raw.read(rel) for rel in rels]
        for rel, data in zip(rels, contents[1:] + contents[:1], strict=True):
            raw.write(rel, data)
        return
    for rel in rels:
        plant_one(h, raw, rel, mutation, outside)


#: Mutations of a response's JSON: on a pack they are applied to every response in it, and the pack
#: is written again well formed under its new name (a tamperer who knows the format); the others
#: change the pack's bytes as they are.
PER_RESPONSE = ("deep", "huge", "pwned", "forge-signature", "json:")


def repack(raw: Raw, rel: str, mutation: str) -> None:
    responses = json.loads(raw.read(rel))["responses"]
    if mutation == "deep":
        first = min(responses)
        data = (b'{"format":"ddbuild.llm-pack","responses":{"' + first.encode() + b'":'
                + b"[" * 200_000 + b"]" * 200_000 + b'},"version":1}')
        keys = [first]
    else:
        changed = {}
        for key, response in responses.items():
            if mutation.startswith("json:"):
                changed[key] = json.loads(mutation[5:])
                continue
            if mutation == "huge":
                response["padding"] = "x" * (2 << 20)
            elif mutation == "pwned":
                response["choices"][0]["message"]["content"] = "PWNED"
            else:
                response["ddbuild_signature"] = "hmac-sha256:" + "0" * 64
            changed[key] = response
        data = encode_pack(changed)
        keys = sorted(changed)
    name = xxhash.xxh3_128_hexdigest(data)
    raw.write(pack_rel(name), data)
    raw.write(pack_index_rel(name), "".join(f"{k}\n" for k in keys).encode())
    raw.delete(rel)
    raw.delete(rel[: -len(".json")] + ".keys")


def plant_one(h: Honest, raw: Raw, rel: str, mutation: str, outside: Path) -> None:
    if rel.startswith(f"{LLM_PACKS}/") and mutation.startswith(PER_RESPONSE):
        repack(raw, rel, mutation)
    elif mutation == "delete":
        raw.delete(rel)
    elif mutation == "deep":
        raw.write(rel, b"[" * 200_000)
    elif mutation.startswith("json:"):
        raw.write(rel, mutation[5:].encode())
    elif mutation == "truncate":
        data = raw.read(rel)
        raw.write(rel, data[: len(data) // 2])
    elif mutation == "huge":
        doc = json.loads(raw.read(rel))
        doc["padding"] = "x" * (2 << 20)
        raw.write(rel, json.dumps(doc).encode())
    elif mutation in ("pwned", "forge-signature"):
        doc = json.loads(raw.read(rel))
        if mutation == "pwned":
            doc["choices"][0]["message"]["content"] = "PWNED"
        else:
            doc["ddbuild_signature"] = "hmac-sha256:" + "0" * 64
        raw.write(rel, json.dumps(doc).encode())
    elif mutation == "copy-of-b":
        raw.write(rel, raw.read(entry_rel(h.keys["b"])))
    elif mutation.startswith("field:"):
        dotted, value = mutation[6:].split("=", 1)
        doc = json.loads(raw.read(rel))
        _set(doc, dotted, json.loads(value))
        raw.write(rel, json.dumps(doc).encode())
    elif mutation == "flip":
        raw.write(rel, bytes(b ^ 0xFF for b in raw.read(rel)))
    elif mutation == "not-parquet":
        garbage = b"not parquet at all " * 50  # its digest matches: only a Parquet check can tell
        digest = digest_bytes(garbage)
        raw.write(blob_rel(digest), garbage)
        doc = json.loads(raw.read(entry_rel(h.keys["a"])))
        doc["outputs"][h.index_a].update(digest=digest, size=len(garbage))
        raw.write(entry_rel(h.keys["a"]), json.dumps(doc).encode())
    elif mutation == "devzero":
        raw.delete(rel)
        (_disk(raw) / rel).symlink_to("/dev/zero")
    elif mutation == "fifo":
        raw.delete(rel)
        os.mkfifo(_disk(raw) / rel)
    elif mutation == "symlink-out":
        path = _disk(raw) / rel
        if path.exists():
            shutil.move(path, outside / path.name)
        path.symlink_to(outside / path.name if (outside / path.name).exists() else outside)
    else:
        raise AssertionError(f"unknown mutation {mutation!r}")


def _vm_size() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))


@contextlib.contextmanager
def bounded(seconds: int, peak_bytes: int) -> Iterator[None]:
    """Fail (never hang, never get OOM-killed) past ``seconds`` or ``peak_bytes`` of new memory.

    SIGALRM interrupts a hang; RLIMIT_AS (address space now + 1 GiB) turns a runaway read into a
    MemoryError instead of the kernel killing the test run; tracemalloc checks the peak.
    """

    def expire(*_: Any) -> None:
        raise TimeoutError(f"the build took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + (1 << 30), hard))
    signal.alarm(seconds)
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < peak_bytes, f"peak Python allocation {peak} bytes"
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


CASES = cases()
PARAMS = [
    pytest.param(kind, signed, name, steps, expect, id=f"{kind}-{'keys' if signed else 'nokeys'}-{name}")
    for name, steps, remotes, expect in CASES
    for kind in ("dir", "http", "s3")
    if kind in remotes
    for signed in (False, True)
]


@pytest.mark.parametrize(("kind", "signed", "name", "steps", "expect"), PARAMS)
def test_hostile_remote(kind, signed, name, steps, expect, honest, llm_module, tmp_path, monkeypatch):
    h = honest(kind, signed)
    outside = tmp_path / "outside"
    outside.mkdir()
    for target, mutation in steps:
        plant(h, target, mutation, outside)
    remote_before, outside_before = h.raw.snapshot(), sorted(outside.rglob("*"))
    for name_, value in LIMITS.items():
        monkeypatch.setenv(name_, value)
    if signed:
        monkeypatch.setenv("DDBUILD_SIGNING_KEY", KEY)
    bob = Teammate(tmp_path / "bob", llm_module.url, remote=h.raw.url, require_signed=signed or None)

    with bounded(SECONDS, PEAK_BYTES):
        bob.run()  # a hostile remote never fails a build

    assert h.raw.snapshot() == remote_before, "a reader wrote to the remote"
    assert sorted(outside.rglob("*")) == outside_before, "a reader wrote outside its cache"
    assert not list(tmp_path.rglob("escaped.parquet")) and not list(tmp_path.rglob("passwd"))
    outputs = {s: bob.output(s) for s in ("a", "b")}
    if signed or expect == "correct":
        assert outputs == h.outputs, f"{name}: wrong bytes served"
