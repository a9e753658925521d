"""fingerprint's canonical-JSON normalisers (stage keys, request keys) against their slow, obvious twins.

The normalisers copy a dict's or list's plain items without a call (a fast path per request); the
twins below are the straightforward recursion they replaced. Over random JSON-like values (every
scalar type, floats that are integers, NaN and infinities, tuples, sets, paths, non-string and
colliding keys, mappings that are not dicts, subclasses of the scalar types) both must give the
same JSON text, hence the same keys.
"""

from __future__ import annotations

import enum
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ddbuild.fingerprint import (
    _normalise,
    _normalise_json_numbers,
    canonical_json,
    digest_bytes,
    digest_request,
)


def slow_normalise(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): slow_normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [slow_normalise(v) for v in value]
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(slow_normalise(v) for v in value)
    return value


def slow_json_numbers(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): slow_json_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [slow_json_numbers(v) for v in value]
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(slow_json_numbers(v) for v in value)
    return value


class Level(enum.IntEnum):
    LOW = 1


class Name(str, enum.Enum):
    A = "a"


class Real(float):
    """A float subclass, as numpy.float64 is."""


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1.0, -3.0, 2.0**53, 2.0**60, 0.5])
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | FLOATS | st.text(max_size=8)
           | st.sampled_from([Level.LOW, Name.A, Real(2.0), Real(0.25), Path("a/b"), Path("/abs/c")]))
KEYS = st.text(max_size=4) | st.integers(-3, 3) | st.sampled_from(["1", "a", "b"])


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (st.lists(children, max_size=4) | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(KEYS, children, max_size=4)
            | st.dictionaries(st.text(max_size=3), children, max_size=3).map(OrderedDict)
            | st.dictionaries(st.text(max_size=3), children, max_size=3).map(MappingProxyType)
            | st.frozensets(st.text(max_size=3), max_size=3) | st.sets(st.integers(-5, 5), max_size=3))


VALUES = st.recursive(SCALARS, _containers, max_leaves=25)
EXAMPLES = int(os.environ.get("DDBUILD_HYPOTHESIS_EXAMPLES", "300"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(VALUES)
def test_the_normalisers_give_their_slow_twins_text(value: Any) -> None:
    assert _text(_normalise(value)) == _text(slow_normalise(value))
    assert _text(_normalise_json_numbers(value)) == _text(slow_json_numbers(value))
    assert digest_request(value) == digest_bytes(_text(slow_json_numbers(value)).encode("utf-8"))
    assert canonical_json(value) == _text(slow_normalise(value))


def test_a_request_body_keeps_its_key_spelling() -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "temperature": 1.0, "top_p": 0.5, 3: [2.0, Real(1.0)]}
    assert _text(_normalise_json_numbers(body)) == (
        '{"3":[2,1],"messages":[{"content":"x","role":"user"}],"temperature":1,"top_p":0.5}')
    assert canonical_json(body) == '{"3":[2.0,1.0],"messages":[{"content":"x","role":"user"}],"temperature":1.0,"top_p":0.5}'
