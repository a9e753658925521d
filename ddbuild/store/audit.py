"""What ``ddbuild cache verify`` checks: every blob rehashed, and every entry's blobs, inputs and LLM responses.

    blobs        each file under objects/ hashed; a corrupt one is moved to quarantine/
    parquet      each blob an entry names as ``.parquet`` is Parquet (magic bytes, readable footer);
                 one that is not is quarantined too (the stage rebuilds)
    entries      each output blob is present (after the quarantines above)
                 selected_output.digest is the digest of the selected blobs' digests
    inputs       each parent output an entry was built from (inputs.parents) still verifies:
                 every entry of this cache that produced that digest has its blobs and a
                 selected digest that matches (an input no entry produces any more, e.g. after
                 ``cache gc``, cannot be checked and is not a finding)
    responses    each LLM response an entry lists hashes to the digest recorded at publish time

Findings are data (kind + message); the CLI prints them and exits 1 when there is any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ddbuild.fingerprint import output_digest
from ddbuild.store.base import BlobState, Store
from ddbuild.store.entry import blob_digests, response_digest


class FindingKind(str, Enum):
    CORRUPT_BLOB = "corrupt_blob"  # quarantined
    NOT_PARQUET = "not_parquet"  # an entry names it as a .parquet output but it is not Parquet: quarantined
    MISSING_BLOB = "missing_blob"  # an entry lists a blob that is not in the cache
    BAD_SELECTED_DIGEST = "bad_selected_digest"  # selected_output.digest does not match its blobs
    INPUT_UNVERIFIED = "input_unverified"  # a parent output this entry was built from fails
    RESPONSE_CHANGED = "response_changed"  # an LLM response's bytes differ from the recorded digest
    RESPONSE_MISSING = "response_missing"  # an LLM response with a recorded digest is gone


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    message: str


@dataclass
class Audit:
    blobs_checked: int = 0
    entries_checked: int = 0
    responses_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: FindingKind, message: str) -> None:
        self.findings.append(Finding(kind, message))


def selected_digest_ok(entry: dict[str, Any]) -> bool:
    by_path = {o["path"]: o["digest"] for o in entry["outputs"]}
    selected = entry["selected_output"]
    return bool(output_digest(by_path[p] for p in selected["paths"]) == selected["digest"])


def audit(store: Store) -> Audit:
    """Check the whole local ``store`` (see the module docstring); corrupt blobs are quarantined."""
    result = Audit()
    for digest in list(store.list_blobs()):
        result.blobs_checked += 1
        if store.check_blob(digest) is BlobState.CORRUPT:
            store.quarantine(digest, "content does not match its digest (ddbuild cache verify)")
            result.add(FindingKind.CORRUPT_BLOB, f"corrupt blob {digest} (moved to quarantine/)")
    entries = {}
    for key in store.list_entries():
        entry = store.get_entry(key)
        if entry is not None:
            entries[key] = entry
    result.entries_checked = len(entries)
    _check_parquet(store, entries, result)
    sound = {key: _check_entry(store, entry, result) for key, entry in sorted(entries.items())}
    producers: dict[str, list[str]] = {}
    for key, entry in entries.items():
        producers.setdefault(entry["selected_output"]["digest"], []).append(key)
    for _key, entry in sorted(entries.items()):
        _check_inputs(entry, producers, sound, result)
        _check_responses(store, entry, result)
    return result


def _check_parquet(store: Store, entries: dict[str, dict[str, Any]], result: Audit) -> None:
    from ddbuild.store.parquet import parquet_problem

    checked: set[str] = set()
    for _key, entry in sorted(entries.items()):
        for output in entry["outputs"]:
            digest = output["digest"]
            if not output["path"].endswith(".parquet") or digest in checked or not store.has_blob(digest):
                continue
            checked.add(digest)
            problem = parquet_problem(store.blob_path(digest))
            if problem is not None:
                why = f"{_name(entry)} names it {output['path']}, but {problem}"
                store.quarantine(digest, f"{why} (ddbuild cache verify)")
                result.add(FindingKind.NOT_PARQUET, f"blob {digest} is not Parquet: {why} (moved to quarantine/)")


def _name(entry: dict[str, Any]) -> str:
    return f"entry {entry['key'][:8]} ({entry['workflow']}:{entry['stage']})"


def _check_entry(store: Store, entry: dict[str, Any], result: Audit) -> bool:
    """True when every blob of the entry is present and its selected digest matches them."""
    ok = True
    for digest in blob_digests(entry):
        if not store.has_blob(digest):
            result.add(FindingKind.MISSING_BLOB,
                       f"{_name(entry)} lacks blob {digest}; that stage rebuilds next time")
            ok = False
    if not selected_digest_ok(entry):
        result.add(FindingKind.BAD_SELECTED_DIGEST,
                   f"{_name(entry)}: selected_output.digest does not match its selected blobs")
        ok = False
    return ok


def _check_inputs(entry: dict[str, Any], producers: dict[str, list[str]], sound: dict[str, bool],
                  result: Audit) -> None:
    parents = entry["inputs"].get("parents") if isinstance(entry["inputs"], dict) else None
    for parent, digest in sorted((parents or {}).items()):
        made_by = producers.get(digest, [])
        broken = [k[:8] for k in made_by if not sound[k]]
        if broken:
            result.add(FindingKind.INPUT_UNVERIFIED,
                       f"{_name(entry)}: its input from '{parent}' (output {str(digest)[:8]}) no longer verifies "
                       f"(entry {', '.join(broken)} is broken); rebuild both with `ddbuild -B`")


def _check_responses(store: Store, entry: dict[str, Any], result: Audit) -> None:
    recorded = entry["usage"].get("response_digests")
    if not isinstance(recorded, dict):
        return  # built before digests were recorded: nothing to compare with
    for key, digest in sorted(recorded.items()):
        result.responses_checked += 1
        response = store.get_response(key)
        if response is None:
            result.add(FindingKind.RESPONSE_MISSING, f"{_name(entry)}: LLM response {key} is gone")
        elif response_digest(response) != digest:
            result.add(FindingKind.RESPONSE_CHANGED,
                       f"{_name(entry)}: LLM response {key} changed since the stage was built")
