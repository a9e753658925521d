"""The action-entry format: schema check, safe relative paths, and HMAC-SHA256 signatures.

An entry says "stage key K produced these blobs". It is the only thing a cache hands us that is
not a content-addressed blob, so it is never trusted: every entry read from any store goes through
``validate_entry`` before anyone looks at it. Validation guarantees:

- ``format_version`` is one we understand (a newer ddbuild's entry is a miss, not a crash);
- ``key``, every blob digest and every LLM response key is 32 lowercase hex, so it can become a
  path component without escaping anything;
- every output path is relative, POSIX, without ``..``/``.``/empty components, so a hostile entry
  can never make a view builder write outside its directory (use ``safe_join`` to place them);
- ``selected_output.paths`` name outputs of the same entry (every selected byte has a blob).

A signature is HMAC-SHA256 over the canonical JSON of the entry without its ``signature`` field.
Blob digests are inside that JSON, so a valid signature vouches for the blobs too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ddbuild._version import __version__
from ddbuild.errors import IntegrityError
from ddbuild.fingerprint import canonical_json, is_digest

FORMAT_VERSION = 1
SIGNING_KEY_ENV = "DDBUILD_SIGNING_KEY"
SIGNATURE_PREFIX = "hmac-sha256:"

# field -> required type (checked in this order so messages name the first problem)
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format_version": int,
    "key": str,
    "workflow": str,
    "stage": str,
    "identity": dict,
    "inputs": dict,
    "outputs": list,
    "selected_output": dict,
    "row_counts": dict,
    "usage": dict,
    "created": str,
    "built_by": str,
    "ddbuild_version": str,
}


def _fail(entry: Any, problem: str) -> IntegrityError:
    key = entry.get("key") if isinstance(entry, Mapping) else None
    where = f"cache entry {key!r}" if isinstance(key, str) and is_digest(key) else "cache entry"
    return IntegrityError(
        f"{where} is malformed: {problem}.",
        hint="A malformed entry is never used: reading one is a cache miss, writing one is refused.",
    )


def safe_relpath(path: object) -> str:
    """``path`` if it is a clean relative POSIX path (no ``..``, no absolute, no backslash), else raise."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"output path must be a non-empty string, got {path!r}")
    if "\\" in path or "\x00" in path:
        raise ValueError(f"output path {path!r} contains a backslash or NUL")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ValueError(f"output path {path!r} is absolute")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"output path {path!r} has an empty, '.' or '..' component")
    return path


def safe_join(root: str | os.PathLike[str], relpath: str) -> Path:
    """``root / relpath`` after checking ``relpath`` cannot leave ``root`` (belt and braces)."""
    safe_relpath(relpath)
    base = Path(root).resolve()
    target = (base / PurePosixPath(relpath)).resolve()
    if target != base and base not in target.parents:
        raise IntegrityError(f"output path {relpath!r} resolves outside {base} (a symlink?); refusing.")
    return target


def _check_count(entry: Any, value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(entry, f"{what} must be a non-negative integer, got {value!r}")


def _check_outputs(entry: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    for index, output in enumerate(entry["outputs"]):
        if not isinstance(output, dict):
            raise _fail(entry, f"outputs[{index}] must be an object")
        try:
            path = safe_relpath(output.get("path"))
        except ValueError as exc:
            raise _fail(entry, f"outputs[{index}]: {exc}") from None
        if path in seen:
            raise _fail(entry, f"outputs[{index}]: duplicate path {path!r}")
        seen.add(path)
        if not is_digest(output.get("digest")):
            raise _fail(entry, f"outputs[{index}].digest {output.get('digest')!r} is not 32 lowercase hex")
        _check_count(entry, output.get("rows"), f"outputs[{index}].rows")
        _check_count(entry, output.get("size"), f"outputs[{index}].size")
    return seen


def _check_selected(entry: dict[str, Any], output_paths: set[str]) -> None:
    selected = entry["selected_output"]
    paths = selected.get("paths")
    if not isinstance(paths, list):
        raise _fail(entry, "selected_output.paths must be a list")
    for path in paths:
        try:
            safe_relpath(path)
        except ValueError as exc:
            raise _fail(entry, f"selected_output: {exc}") from None
        if path not in output_paths:
            raise _fail(entry, f"selected_output path {path!r} is not one of the entry's outputs")
    if not is_digest(selected.get("digest")):
        raise _fail(entry, f"selected_output.digest {selected.get('digest')!r} is not 32 lowercase hex")
    _check_count(entry, selected.get("rows"), "selected_output.rows")


def validate_entry(obj: object, *, key: str | None = None) -> dict[str, Any]:
    """Return ``obj`` if it is a well-formed entry (for ``key`` when given); raise IntegrityError."""
    if not isinstance(obj, dict):
        raise _fail(obj, f"expected a JSON object, got {type(obj).__name__}")
    for field, kind in _FIELDS.items():
        if field not in obj:
            raise _fail(obj, f"missing field {field!r}")
        value = obj[field]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _fail(obj, f"field {field!r} must be {getattr(kind, '__name__', kind)}")
    if obj["format_version"] != FORMAT_VERSION:
        raise _fail(
            obj,
            f"format_version {obj['format_version']} is not {FORMAT_VERSION} "
            "(written by a different ddbuild version)",
        )
    if not is_digest(obj["key"]):
        raise _fail(obj, f"key {obj['key']!r} is not 32 lowercase hex")
    if key is not None and obj["key"] != key:
        raise _fail(obj, f"it is stored under key {key!r} but says key {obj['key']!r}")
    _check_selected(obj, _check_outputs(obj))
    for name in response_keys(obj, validate=False):
        if not is_digest(name):
            raise _fail(obj, f"usage.response_keys contains {name!r}, not 32 lowercase hex")
    try:
        datetime.fromisoformat(obj["created"])
    except ValueError:
        raise _fail(obj, f"created {obj['created']!r} is not an ISO 8601 timestamp") from None
    signature = obj.get("signature")
    if signature is not None and not isinstance(signature, str):
        raise _fail(obj, "signature must be a string")
    return obj


def blob_digests(entry: Mapping[str, Any]) -> list[str]:
    """Digests of every output blob of a (validated) entry, in output order, without duplicates."""
    return list(dict.fromkeys(output["digest"] for output in entry["outputs"]))


def response_keys(entry: Mapping[str, Any], *, validate: bool = True) -> list[str]:
    """LLM response keys the entry lists in ``usage.response_keys`` (empty when absent)."""
    usage = entry.get("usage")
    keys = usage.get("response_keys", []) if isinstance(usage, Mapping) else []
    if not isinstance(keys, list):
        raise _fail(entry, "usage.response_keys must be a list")
    if validate and not all(is_digest(k) for k in keys):
        raise _fail(entry, "usage.response_keys must hold 32 lowercase hex keys")
    return list(keys)


def new_entry(
    *,
    key: str,
    workflow: str,
    stage: str,
    identity: dict[str, Any],
    inputs: dict[str, Any],
    outputs: list[dict[str, Any]],
    selected_output: dict[str, Any],
    row_counts: dict[str, Any] | None = None,
    usage: dict[str, Any] | None = None,
    built_by: str = "",
    created: str | None = None,
) -> dict[str, Any]:
    """A validated format-1 entry; ``created`` defaults to now (UTC)."""
    entry = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "workflow": workflow,
        "stage": stage,
        "identity": identity,
        "inputs": inputs,
        "outputs": outputs,
        "selected_output": selected_output,
        "row_counts": row_counts or {},
        "usage": usage or {},
        "created": created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "built_by": built_by,
        "ddbuild_version": __version__,
    }
    return validate_entry(entry)


def _mac(entry: Mapping[str, Any], key: bytes) -> str:
    unsigned = {k: v for k, v in entry.items() if k != "signature"}
    payload = canonical_json(unsigned).encode("utf-8")
    return SIGNATURE_PREFIX + hmac.new(key, payload, hashlib.sha256).hexdigest()


def sign_entry(entry: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of ``entry`` with ``signature`` = HMAC-SHA256 of its canonical JSON (minus signature)."""
    if not key:
        raise ValueError("signing key is empty")
    signed = dict(entry)
    signed["signature"] = _mac(entry, key)
    return signed


def verify_signature(entry: Mapping[str, Any], key: bytes) -> bool:
    """True when ``entry`` carries a signature made with ``key`` over exactly its current content."""
    signature = entry.get("signature")
    if not isinstance(signature, str) or not key:
        return False
    return hmac.compare_digest(signature, _mac(entry, key))


def signing_key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The signing key from ``DDBUILD_SIGNING_KEY`` (UTF-8 bytes), or None when unset/empty."""
    value = (os.environ if environ is None else environ).get(SIGNING_KEY_ENV, "")
    return value.encode("utf-8") if value else None
