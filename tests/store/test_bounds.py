"""ddbuild.bounds: size and depth caps on cache JSON, configured from the environment."""

from __future__ import annotations

import pytest

from ddbuild.bounds import ObjectKind, json_depth, limits_from_env, parse_json
from ddbuild.errors import ConfigError, IntegrityError


def test_depth_is_measured_without_recursion() -> None:
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert json_depth(deep) == 50_001
    assert json_depth({"a": [1, {"b": 2}]}) == 3 and json_depth(7) == 0


@pytest.mark.parametrize(("data", "problem"), [
    (b"[" * 200_000, "deeper than the parser allows"),
    (b"[" * 65 + b"]" * 65, "nested 65 levels deep; the limit is 64"),
    (b'{"a": 1', "is not valid JSON"),
    (b"\xff\xfe", "is not valid JSON"),
    (b" " * (16 * 1024 * 1024 + 1), "over the 16777216-byte limit for a cache entry"),
])
def test_hostile_json_is_an_integrity_error(data: bytes, problem: str) -> None:
    with pytest.raises(IntegrityError, match=problem):
        parse_json(data, ObjectKind.ENTRY, "entry x", limits_from_env({}))


def test_limits_come_from_the_environment() -> None:
    limits = limits_from_env({"DDBUILD_MAX_ENTRY_BYTES": "10", "DDBUILD_MAX_JSON_DEPTH": "2",
                              "DDBUILD_TRANSFER_TIMEOUT": "1.5"})
    assert (limits.bytes_for(ObjectKind.ENTRY), limits.json_depth, limits.transfer_seconds) == (10, 2, 1.5)
    assert parse_json(b"[[1]]", ObjectKind.ENTRY, "x", limits) == [[1]]
    with pytest.raises(ConfigError, match="DDBUILD_MAX_BLOB_BYTES='-1': expected a positive int"):
        limits_from_env({"DDBUILD_MAX_BLOB_BYTES": "-1"})
