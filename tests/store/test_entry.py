"""The entry format: schema checks with exact messages, safe paths, HMAC signatures."""

from __future__ import annotations

import pytest
from store_helpers import key_of, make_entry

from ddbuild.errors import IntegrityError
from ddbuild.store.entry import (
    safe_join,
    safe_relpath,
    sign_entry,
    signing_key_from_env,
    validate_entry,
    verify_signature,
)

KEY = key_of("stage")


def malformed(problem: str, key: str | None = KEY) -> str:
    where = f"cache entry '{key}'" if key else "cache entry"  # a bad key is not repeated back
    return (
        f"{where} is malformed: {problem}. "
        "A malformed entry is never used: reading one is a cache miss, writing one is refused."
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"stage": None}, "field 'stage' must be str"),
        ({"outputs": {}}, "field 'outputs' must be list"),
        ({"format_version": True}, "field 'format_version' must be int"),
        ({"key": "ABC"}, "key 'ABC' is not 32 lowercase hex"),
        ({"outputs": [{"path": "a\\..\\b", "digest": "0" * 32, "rows": 1, "size": 1}]},
         "outputs[0]: output path 'a\\\\..\\\\b' contains a backslash or NUL"),
        ({"outputs": [{"path": "C:/x", "digest": "0" * 32, "rows": 1, "size": 1}]},
         "outputs[0]: output path 'C:/x' is absolute"),
        ({"outputs": [{"path": "a", "digest": "0" * 32, "rows": -1, "size": 1}]},
         "outputs[0].rows must be a non-negative integer, got -1"),
        ({"selected_output": {"paths": ["elsewhere.parquet"], "digest": "0" * 32, "rows": 1}},
         "selected_output path 'elsewhere.parquet' is not one of the entry's outputs"),
        ({"usage": {"response_keys": ["../x"]}}, "usage.response_keys contains '../x', not 32 lowercase hex"),
        ({"created": "yesterday"}, "created 'yesterday' is not an ISO 8601 timestamp"),
    ],
)
def test_malformed_entries_name_the_problem(change: dict, problem: str) -> None:
    entry = make_entry(KEY) | change
    with pytest.raises(IntegrityError) as info:
        validate_entry(entry)
    assert str(info.value) == malformed(problem, key=None if "key" in change else KEY)


def test_missing_field_and_wrong_key() -> None:
    entry = make_entry(KEY)
    del entry["usage"]
    with pytest.raises(IntegrityError, match="missing field 'usage'"):
        validate_entry(entry)
    with pytest.raises(IntegrityError, match=f"it is stored under key '{key_of('other')}' but says key '{KEY}'"):
        validate_entry(make_entry(KEY), key=key_of("other"))
    with pytest.raises(IntegrityError, match="cache entry is malformed: expected a JSON object, got list"):
        validate_entry([])


@pytest.mark.parametrize("path", ["..", "a/../b", "/abs", "a//b", "./a", "", "a/"])
def test_unsafe_relative_paths(path: str) -> None:
    with pytest.raises(ValueError):
        safe_relpath(path)


def test_safe_join_refuses_symlink_escapes(tmp_path) -> None:
    (tmp_path / "view").mkdir()
    (tmp_path / "view" / "link").symlink_to(tmp_path.parent)
    assert safe_join(tmp_path / "view", "stage-1/x.parquet") == tmp_path / "view" / "stage-1" / "x.parquet"
    with pytest.raises(IntegrityError, match="resolves outside"):
        safe_join(tmp_path / "view", "link/escape.parquet")


def test_signatures_cover_everything_but_themselves() -> None:
    entry = make_entry(KEY)
    signed = sign_entry(entry, b"k1")
    assert "signature" not in entry  # the input is not modified
    assert signed["signature"].startswith("hmac-sha256:") and len(signed["signature"]) == 12 + 64
    assert verify_signature(signed, b"k1")
    assert not verify_signature(signed, b"k2")
    assert not verify_signature(entry, b"k1")
    doctored = signed | {"outputs": [dict(signed["outputs"][0], digest="f" * 32)]}
    assert not verify_signature(doctored, b"k1")
    assert sign_entry(signed, b"k1") == signed  # re-signing is stable
    assert validate_entry(signed) is signed


def test_signing_key_from_env() -> None:
    assert signing_key_from_env({"DDBUILD_SIGNING_KEY": "abc"}) == b"abc"
    assert signing_key_from_env({"DDBUILD_SIGNING_KEY": ""}) is None
    assert signing_key_from_env({}) is None
