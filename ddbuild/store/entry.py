"""The action-entry format: schema check, safe relative paths, and HMAC-SHA256 signatures.

An entry says "stage key K produced these blobs". It is the only thing a cache hands us that is
not a content-addressed blob, so it is never trusted: every entry read from any store goes through
``validate_entry`` before anyone looks at it. Validation guarantees:

- ``format_version`` is one we understand (a newer ddbuild's entry is a miss, not a crash);
- ``key``, every blob digest and every LLM response key is 32 lowercase hex, so it can become a
  path component without escaping anything;
- every output path is relative, POSIX, without ``..``/``.``/empty components, so a hostile entry
  can never make a view builder write outside its directory (use ``safe_join`` to place them);
- ``selected_output.root`` is a safe relative path (or ``.``) and every selected path lies under it,
  so ``load_dataset()`` can never read outside the stage's view;
- counts (output rows and sizes, ``row_counts``, LLM usage numbers) are non-negative integers.

A signature is HMAC-SHA256 over the canonical JSON of the entry without its ``signature`` and
``unverified`` fields. Blob digests are inside that JSON, so a valid signature vouches for the
blobs too. LLM responses are signed the same way (``sign_response``), bound to their request key.

``unverified`` is local bookkeeping, never signed: set on an entry pulled from a remote without a
trusted signature, and on any entry built from such data (a parent, an LLM response). A holder of
the key never signs an entry that carries it (docs/sharing.md, "Trust").
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ddbuild._version import __version__
from ddbuild.errors import IntegrityError
from ddbuild.fingerprint import canonical_json, is_digest

FORMAT_VERSION = 1
SIGNING_KEY_ENV = "DDBUILD_SIGNING_KEY"
TRUSTED_KEYS_ENV = "DDBUILD_TRUSTED_KEYS"
SIGNATURE_PREFIX = "hmac-sha256:"
#: Fields that are not covered by an entry's signature (the signature itself, local bookkeeping).
UNSIGNED_FIELDS = ("signature", "unverified")
#: Reserved top-level fields of a stored LLM response (a chat completion has none of these).
RESPONSE_SIGNATURE = "ddbuild_signature"
RESPONSE_UNVERIFIED = "ddbuild_unverified"

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
    root = selected.get("root")
    if root is not None and root != ".":
        try:
            safe_relpath(root)
        except ValueError as exc:
            raise _fail(entry, f"selected_output.root: {exc}") from None
        outside = [p for p in paths if p != root and not p.startswith(root + "/")]
        if outside:
            raise _fail(entry, f"selected_output path {outside[0]!r} is not under root {root!r}")
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
    digests = obj["usage"].get("response_digests", {})
    if not isinstance(digests, dict) or not all(is_digest(k) and is_digest(v) for k, v in digests.items()):
        raise _fail(obj, "usage.response_digests must map 32-hex response keys to 32-hex digests")
    for name, value in obj["row_counts"].items():  # a count, or counts by reason ("dropped")
        for part, count in (value.items() if isinstance(value, dict) else [("", value)]):
            _check_count(obj, count, f"row_counts.{name}" + (f".{part}" if part else ""))
    for name in ("responses_cached", "responses_new"):
        if name in obj["usage"]:
            _check_count(obj, obj["usage"][name], f"usage.{name}")
    for name in UNSIGNED_FIELDS:
        if obj.get(name) is not None and not isinstance(obj[name], str):
            raise _fail(obj, f"{name} must be a string")
    try:
        datetime.fromisoformat(obj["created"])
    except ValueError:
        raise _fail(obj, f"created {obj['created']!r} is not an ISO 8601 timestamp") from None
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


def response_digest(response: Mapping[str, Any]) -> str:
    """Digest of an LLM response as the model gave it: signature and local marks excluded, so
    signing or marking a response never makes it look changed (``usage.response_digests``)."""
    from ddbuild.fingerprint import digest_json

    return digest_json({k: v for k, v in response.items() if k not in (RESPONSE_SIGNATURE, RESPONSE_UNVERIFIED)})


def _hmac(payload: Any, key: bytes) -> str:
    data = canonical_json(payload).encode("utf-8")
    return SIGNATURE_PREFIX + hmac.new(key, data, hashlib.sha256).hexdigest()


def _mac(entry: Mapping[str, Any], key: bytes) -> str:
    return _hmac({k: v for k, v in entry.items() if k not in UNSIGNED_FIELDS}, key)


def _response_mac(request_key: str, response: Mapping[str, Any], key: bytes) -> str:
    body = {k: v for k, v in response.items() if k not in (RESPONSE_SIGNATURE, RESPONSE_UNVERIFIED)}
    return _hmac({"kind": "llm-response", "request_key": request_key, "response": body}, key)


def sign_entry(entry: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of ``entry`` with ``signature`` = HMAC-SHA256 of its canonical JSON (signed fields only)."""
    if not key:
        raise ValueError("signing key is empty")
    signed = {k: v for k, v in entry.items() if k != "unverified"}
    signed["signature"] = _mac(entry, key)
    return signed


def verify_signature(entry: Mapping[str, Any], key: bytes) -> bool:
    """True when ``entry`` carries a signature made with ``key`` over exactly its current content."""
    signature = entry.get("signature")
    if not isinstance(signature, str) or not key:
        return False
    return hmac.compare_digest(signature, _mac(entry, key))


def sign_response(request_key: str, response: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of an LLM ``response`` signed for ``request_key`` (a signature cannot move to another key)."""
    if not key:
        raise ValueError("signing key is empty")
    signed = {k: v for k, v in response.items() if k != RESPONSE_UNVERIFIED}
    signed[RESPONSE_SIGNATURE] = _response_mac(request_key, response, key)
    return signed


def verify_response(request_key: str, response: Mapping[str, Any], key: bytes) -> bool:
    """True when ``response`` carries a signature made with ``key`` for ``request_key``."""
    signature = response.get(RESPONSE_SIGNATURE)
    if not isinstance(signature, str) or not key:
        return False
    return hmac.compare_digest(signature, _response_mac(request_key, response, key))


@dataclass(frozen=True)
class Keyring:
    """The key this process signs with (may be None) and every key whose signatures it accepts.

    Rotation: sign with the new key (DDBUILD_SIGNING_KEY) and keep the old one in
    DDBUILD_TRUSTED_KEYS until nothing signed with it is still needed.
    """

    signing: bytes | None = dc_field(default=None, repr=False)
    trusted: tuple[bytes, ...] = dc_field(default=(), repr=False)

    def __post_init__(self) -> None:
        keys = ([self.signing] if self.signing else []) + [k for k in self.trusted if k]
        object.__setattr__(self, "trusted", tuple(dict.fromkeys(keys)))

    def __bool__(self) -> bool:
        return bool(self.trusted)

    def entry_ok(self, entry: Mapping[str, Any]) -> bool:
        return any(verify_signature(entry, key) for key in self.trusted)

    def response_ok(self, request_key: str, response: Mapping[str, Any]) -> bool:
        return any(verify_response(request_key, response, key) for key in self.trusted)


def signing_key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The signing key from ``DDBUILD_SIGNING_KEY`` (UTF-8 bytes), or None when unset/empty."""
    value = (os.environ if environ is None else environ).get(SIGNING_KEY_ENV, "")
    return value.encode("utf-8") if value else None


def trusted_keys_from_env(environ: Mapping[str, str] | None = None) -> tuple[bytes, ...]:
    """Extra accepted keys from ``DDBUILD_TRUSTED_KEYS`` (comma-separated; keys hold no comma)."""
    value = (os.environ if environ is None else environ).get(TRUSTED_KEYS_ENV, "")
    return tuple(part.strip().encode("utf-8") for part in value.split(",") if part.strip())
