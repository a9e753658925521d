"""LLM response packs: many responses in one object, found by request key; and the response journal.

    <root>/llm-packs/ab/<pack>.json    {"format": "ddbuild.llm-pack", "version": 1,
                                        "responses": {request key: response}}   (<pack> = xxh3_128 of the bytes)
    <root>/llm-packs/ab/<pack>.keys    "@<written, ns since the epoch>", then the pack's request keys,
                                       sorted, one per line (its index)
    <root>/llm-journal/<host>.<pid>.<random>.jsonl
                                       responses of a running stage not packed yet (local caches only)

Why packs: one file per response cost one fsync'd write per request (the engine's throughput
ceiling on a local disk) and one PUT per request on an object store (a million responses, a
million objects). A stage now writes the responses of a batch as one pack when the batch is
checkpointed: objects per 1,000 responses go from 1,000 to 2 (pack + index) per pack.

Why a journal: a response must survive its process being killed before the batch ends (a
retried batch re-sends only what was in flight). Each response is appended to the stage's
journal as it arrives: one ``write`` with no fsync, which survives a killed process (the page cache
is the kernel's) though not a power cut, where the torn tail is skipped on reading. A journal
whose writer is dead (same host, pid gone) is adopted by the next reader: its lines become a pack.
The complete lines of a live writer's journal are read too (a miss in the packs looks there), so
a build started while a killed build's workers are still being torn down re-sends nothing they
had answered.

When two packs hold the same key (``resume=NEVER`` asks again and stores the new reply), the one
written last wins, as a file replaced in place did; the time in the index decides.

Trust: the index only says where to look. A pack is verified against its name (the digest of its
bytes) before use, read within ``ObjectKind.PACK``'s size bound, parsed within the JSON depth
bound; a response is used only under the key it is filed under in the pack (signatures bind
key and response, ``store/entry.py``). Old caches keep working: ``llm/ab/<key>.json`` files
(one per response) are still read, never written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import xxhash

from ddbuild.bounds import Limits, ObjectKind, parse_json
from ddbuild.errors import IntegrityError, StoreError
from ddbuild.fingerprint import is_digest
from ddbuild.store._files import Files, LocalFiles
from ddbuild.store.layout import LLM_JOURNAL, LLM_PACKS, pack_index_rel, pack_rel

log = logging.getLogger("ddbuild.store")

PACK_FORMAT = "ddbuild.llm-pack"
PACK_VERSION = 1
#: A pack holds at most this many responses / about this many bytes (more are split over packs).
PACK_MAX_RESPONSES = 2048
PACK_TARGET_BYTES = 8 * 1024 * 1024
#: Parsed packs kept in memory (a batch's lookups hit the same pack one after another).
PACKS_IN_MEMORY = 8
#: A lookup that misses re-lists the packs at most this often (seconds); writes of this process
#: are indexed at once. A miss is never wrong (the request is sent), only slower than needed.
RELIST_LOCAL_SECONDS = 2.0
RELIST_REMOTE_SECONDS = 30.0

Responses = dict[str, dict[str, Any]]


def encode_pack(responses: Mapping[str, dict[str, Any]]) -> bytes:
    """The canonical bytes of a pack (sorted keys: the same responses give the same pack name)."""
    body = {"format": PACK_FORMAT, "version": PACK_VERSION, "responses": dict(responses)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def split_for_packs(responses: Mapping[str, dict[str, Any]]) -> Iterator[Responses]:
    """``responses`` in key order, cut into chunks of at most PACK_MAX_RESPONSES / ~PACK_TARGET_BYTES."""
    chunk: Responses = {}
    size = 0
    for key in sorted(responses):
        response = responses[key]
        weight = len(json.dumps(response, ensure_ascii=False)) + 40
        if chunk and (len(chunk) >= PACK_MAX_RESPONSES or size + weight > PACK_TARGET_BYTES):
            yield chunk
            chunk, size = {}, 0
        chunk[key] = response
        size += weight
    if chunk:
        yield chunk


def copy_response(response: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON response (what a caller may change without touching the index's)."""
    copied: dict[str, Any] = json.loads(json.dumps(response))
    return copied


def decode_pack(data: bytes, name: str, where: str, limits: Limits) -> Responses:
    """The responses of the pack ``name`` read from ``where``; IntegrityError when it is not that pack."""
    got = xxhash.xxh3_128_hexdigest(data)
    if got != name:
        raise IntegrityError(f"LLM response pack {name} in {where} has digest {got}: its bytes changed.")
    value = parse_json(data, ObjectKind.PACK, f"LLM response pack {name}", limits, extra_depth=2)
    if not (isinstance(value, dict) and value.get("format") == PACK_FORMAT and value.get("version") == PACK_VERSION
            and isinstance(value.get("responses"), dict)):
        raise IntegrityError(f"LLM response pack {name} in {where} is not a {PACK_FORMAT} version {PACK_VERSION}.")
    return {k: v for k, v in value["responses"].items() if is_digest(k) and isinstance(v, dict)}


class PackIndex:
    """Request key -> pack, over one cache's ``Files``; reads, verifies and writes packs.

    Thread-safe: a store is shared by the stages of a ``-j`` build.
    """

    def __init__(self, files: Files, location: str, limits: Limits, *, writable_journals: bool) -> None:
        self.files = files
        self.location = location
        self.limits = limits
        self.relist_seconds = RELIST_LOCAL_SECONDS if files.is_local else RELIST_REMOTE_SECONDS
        self.adopts_journals = writable_journals and isinstance(files, LocalFiles)
        self._where: dict[str, str] = {}  # request key -> pack name
        self._journaled: Responses = {}  # complete lines of live writers' journals (at the last listing)
        self._written: dict[str, int] = {}  # pack name -> when it was written (its index says)
        self._indexed: set[str] = set()  # pack names whose index was read (or written here)
        self._listed_at: float | None = None
        self._parsed: OrderedDict[str, Responses] = OrderedDict()
        self._bad: set[str] = set()  # packs that failed verification (not read again)
        self._warned: set[str] = set()
        self._lock = threading.RLock()

    # -- lookups -------------------------------------------------------------------------------
    def pack_of(self, key: str) -> Responses | None:
        """Every response filed with ``key``'s (its pack), or None when no pack holds ``key``.

        The dict is the index's own (kept for the next lookups): read it, never change it.
        """
        with self._lock:
            if self._listed_at is None:
                self.refresh()
            name = self._where.get(key)
            if name is None and time.monotonic() - (self._listed_at or 0.0) >= self.relist_seconds:
                self.refresh()
                name = self._where.get(key)
            if name is None:
                journaled = self._journaled.get(key)
                return None if journaled is None else {key: journaled}
            pack = self._read(name)
            if pack is None or key not in pack:
                return None
            return pack

    def keys(self) -> Iterator[str]:
        with self._lock:
            self.refresh()
            return iter(sorted(self._where))

    def refresh(self) -> None:
        """List the packs; read the index of each one not seen yet; adopt journals of dead writers
        and read those of live ones."""
        with self._lock:
            if self.adopts_journals:
                self._adopt_journals()
            self._listed_at = time.monotonic()
            try:
                filenames = list(self.files.names(LLM_PACKS))
            except StoreError as exc:  # an HTTP server without directory listings
                self._warn("listing", f"LLM response packs in {self.location} cannot be found by request key: {exc}")
                return
            for filename in filenames:
                name, dot, suffix = filename.partition(".")
                if suffix != "keys" or not is_digest(name) or name in self._indexed:
                    continue
                self._indexed.add(name)
                try:
                    data = self.files.read_bytes(pack_index_rel(name), self.limits.bytes_for(ObjectKind.LISTING))
                except IntegrityError as exc:
                    self._warn(name, f"ignoring the index of LLM response pack {name} in {self.location}: {exc}")
                    continue
                lines = (data or b"").decode("utf-8", "replace").splitlines()
                written = int(lines[0][1:]) if lines and lines[0][1:].isdigit() else 0
                self._written[name] = written
                for line in lines:
                    if is_digest(line):
                        other = self._where.get(line)
                        if other is None or self._written.get(other, 0) < written:
                            self._where[line] = name

    def _read(self, name: str) -> Responses | None:
        pack = self._parsed.get(name)
        if pack is not None:
            self._parsed.move_to_end(name)
            return pack
        if name in self._bad:
            return None
        try:
            data = self.files.read_bytes(pack_rel(name), self.limits.bytes_for(ObjectKind.PACK))
            if data is None:
                return None
            pack = decode_pack(data, name, self.location, self.limits)
        except IntegrityError as exc:
            self._bad.add(name)
            self._warn(name, f"ignoring LLM response pack {name} in {self.location}: {exc} (its responses are "
                       "requested again)")
            return None
        self._parsed[name] = pack
        while len(self._parsed) > PACKS_IN_MEMORY:
            self._parsed.popitem(last=False)
        return pack

    # -- writes --------------------------------------------------------------------------------
    def write(self, responses: Mapping[str, dict[str, Any]], *, written: int | None = None) -> list[str]:
        """Store ``responses`` durably as packs (pack first, then its index); their names.

        ``written`` (ns since the epoch, default now): when the responses were received, which
        decides between two packs holding the same key (a journal adopted later keeps its time).
        """
        names = []
        for chunk in split_for_packs(responses):
            data = encode_pack(chunk)
            name = xxhash.xxh3_128_hexdigest(data)
            if not self.files.create(pack_rel(name), data) and not self._intact(name):
                self.files.replace(pack_rel(name), data)  # the existing file was damaged: repair it
            stamp = time.time_ns() if written is None else written
            index = f"@{stamp}\n" + "".join(f"{k}\n" for k in chunk)
            if not self.files.create(pack_index_rel(name), index.encode("ascii")):
                self.files.replace(pack_index_rel(name), index.encode("ascii"))  # the same pack again: newest now
            with self._lock:
                self._indexed.add(name)
                self._written[name] = stamp
                self._bad.discard(name)
                for key in chunk:
                    other = self._where.get(key)
                    if other is None or other == name or self._written.get(other, 0) <= stamp:
                        self._where[key] = name
                self._parsed.pop(name, None)  # read back from the file when asked: never the caller's objects
            names.append(name)
        return names

    def _intact(self, name: str) -> bool:
        try:
            data = self.files.read_bytes(pack_rel(name), self.limits.bytes_for(ObjectKind.PACK))
        except IntegrityError:
            return False
        return data is not None and xxhash.xxh3_128_hexdigest(data) == name

    # -- journals ------------------------------------------------------------------------------
    def _adopt_journals(self) -> None:
        """Pack the journals of dead writers; read the others (live writers', and those another
        reader is adopting at this moment). A journal that vanishes while we look was just claimed
        or packed by another reader, so the folder is scanned again: its claimed name, or its pack
        (written before the claimed file goes), is there then."""
        assert isinstance(self.files, LocalFiles)
        folder = self.files.path(LLM_JOURNAL)
        journaled: dict[str, tuple[int, dict[str, Any]]] = {}
        for _ in range(5):
            journaled, vanished = self._scan_journals(folder)
            if not vanished:
                break
        self._journaled = {key: response for key, (_, response) in journaled.items()}

    def _scan_journals(self, folder: Path) -> tuple[dict[str, tuple[int, dict[str, Any]]], bool]:
        journaled: dict[str, tuple[int, dict[str, Any]]] = {}
        vanished = False
        try:
            names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False))
        except FileNotFoundError:
            return journaled, vanished
        for name in names:
            if not journal_writer_is_dead(name):
                try:
                    lines = list(journal_lines(folder / name, self.limits))
                except FileNotFoundError:
                    vanished = True
                    continue
                for key, when, response in lines:
                    if key not in journaled or journaled[key][0] <= when:  # the later reply wins
                        journaled[key] = (when, response)
                continue
            stem = name.partition(".jsonl")[0]
            claimed = folder / f"{stem}.jsonl.adopting.{socket.gethostname()}.{os.getpid()}"
            try:
                os.replace(folder / name, claimed)  # one adopter wins the rename
            except FileNotFoundError:
                vanished = True
                continue
            try:
                responses, received = read_journal(claimed, self.limits)
            except FileNotFoundError:
                continue
            if responses:
                self.write(responses, written=received)
                log.info("adopted %d LLM responses from the journal of a stopped build (%s)", len(responses), name)
            claimed.unlink(missing_ok=True)
        return journaled, vanished

    def _warn(self, name: str, message: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("%s", message)


def journal_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:12]}.jsonl"


def journal_writer_is_dead(name: str) -> bool:
    """True for a journal (or a claimed one) whose writing process is gone; only this host's are judged."""
    stem, _, claim = name.partition(".jsonl")
    if claim:  # "<journal>.jsonl.adopting.<host>.<pid>": an adopter that died mid-adoption
        parts = claim.split(".")
        host, pid = ".".join(parts[2:-1]), parts[-1]
    else:
        parts = stem.split(".")
        if len(parts) < 3:
            return False
        host, pid = ".".join(parts[:-2]), parts[-2]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def journal_lines(path: Path, limits: Limits) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(request key, received ns, response) for each complete, well-formed line of a journal (a
    torn or foreign line is skipped); FileNotFoundError when it is gone."""
    limit = limits.bytes_for(ObjectKind.PACK)
    try:
        with open(path, "rb") as handle:
            data = handle.read(min(limit, os.fstat(handle.fileno()).st_size) + 1)
    except FileNotFoundError:
        raise  # the caller looks again: it was claimed or packed meanwhile
    except OSError:
        return
    for line in data[:limit].split(b"\n")[:-1]:  # the last piece has no newline: torn or empty
        try:
            value = parse_json(line, ObjectKind.RESPONSE, f"journal line in {path.name}", limits, extra_depth=1)
        except IntegrityError:
            continue
        if isinstance(value, dict) and is_digest(value.get("key")) and isinstance(value.get("response"), dict):
            received = value.get("received")
            yield value["key"], received if isinstance(received, int) else 0, value["response"]


def read_journal(path: Path, limits: Limits) -> tuple[Responses, int]:
    """The responses of a journal (the later line wins for a key) and when the last was received."""
    responses: Responses = {}
    received = 0
    for key, when, response in journal_lines(path, limits):
        responses[key] = response
        received = max(received, when)
    return responses, received or time.time_ns()


class ResponseJournal:
    """Appends a stage's responses as they arrive to its journal file (see the module docstring)."""

    def __init__(self, files: LocalFiles) -> None:
        self.files = files
        self.path: Path | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()

    def append(self, key: str, response: dict[str, Any]) -> None:
        entry = {"key": key, "received": time.time_ns(), "response": response}
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
                + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                folder = self.files.path(LLM_JOURNAL)
                self.files.ensure_dir(folder)
                self.path = folder / journal_name()
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view):]

    def clear(self) -> None:
        """Drop the journal: everything in it is in a durable pack now."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                self.path = None
