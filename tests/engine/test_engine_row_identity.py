"""Seeded rows keep their identity: sampled values follow the row (its content and occurrence
number), not its position, so editing the seed leaves the other rows' values alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from engine_helpers import load, run, sampler

import ddbuild as dd
from ddbuild.engine.rowid import SelectionIdentity, content_hashes

DOCS = [{"doc": f"d{i:02d}", "kind": ["a", "b"][i % 2]} for i in range(24)]


def _builder(path: Path, **seed: str) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=5).with_seed_dataset(dd.LocalFileSeedSource(path=str(path)), **seed)
    sampler(b, "cat", "category", values=["x", "y", "z"], weights=[1, 2, 3])
    sampler(b, "sub", "subcategory", category="kind", values={"a": ["a1", "a2"], "b": ["b1", "b2", "b3"]})
    sampler(b, "u", "uniform", low=0, high=10)
    sampler(b, "g", "gaussian", mean=0, stddev=1)
    sampler(b, "coin", "bernoulli", p=0.5)
    sampler(b, "k", "binomial", n=10, p=0.3)
    sampler(b, "pois", "poisson", mean=4)
    sampler(b, "id", "uuid")
    sampler(b, "when", "datetime", start="2024-01-01", end="2024-12-31")
    sampler(b, "later", "timedelta", dt_min=1, dt_max=30, reference_column_name="when")
    sampler(b, "who", "person")
    return b


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _values(tmp_path: Path, name: str, rows: list[dict], buffer_size: int = 1000, **seed: str) -> list[dict]:
    src = _write(tmp_path / f"{name}.jsonl", rows)
    run(_builder(src, **seed), tmp_path / name, num_records=len(rows), buffer_size=buffer_size)
    frame = load(tmp_path / name)
    frame["who"] = frame["who"].map(lambda p: p["full_name"])
    return json.loads(frame.to_json(orient="records", date_format="iso"))


@pytest.mark.parametrize("edit", ["insert-top", "delete", "reverse", "smaller-batches"])
def test_sampled_values_follow_the_row_not_its_position(tmp_path, edit):
    before = {r["doc"]: r for r in _values(tmp_path, "base", DOCS)}
    edited, size = {
        "insert-top": ([{"doc": "new", "kind": "a"}, *DOCS], 1000),
        "delete": ([*DOCS[:5], *DOCS[6:]], 1000),
        "reverse": (DOCS[::-1], 1000),
        "smaller-batches": (DOCS, 5),  # the batch a seeded row lands in does not matter either
    }[edit]
    after = _values(tmp_path, "edited", edited, buffer_size=size)
    assert [r["doc"] for r in after] == [r["doc"] for r in edited]  # output keeps the seed's order
    for row in after:
        if row["doc"] in before:
            assert row == before[row["doc"]], row["doc"]
    assert len({r["id"] for r in after}) == len(after)


def test_identical_rows_draw_independently_and_keep_their_draws(tmp_path):
    rows = [DOCS[0], DOCS[0], DOCS[0], DOCS[1]]
    first = _values(tmp_path, "a", rows)
    assert len({r["id"] for r in first[:3]}) == 3  # three copies, three samples
    again = _values(tmp_path, "b", [DOCS[1], DOCS[0], DOCS[0], DOCS[0]])  # moved: the k-th copy keeps its draw
    assert again[1:] == first[:3] and again[0] == first[3]


def test_shuffle_keeps_the_other_rows_in_their_relative_order(tmp_path):
    base = [r["doc"] for r in _values(tmp_path, "base", DOCS, sampling_strategy="shuffle")]
    assert base != [r["doc"] for r in DOCS] and sorted(base) == sorted(r["doc"] for r in DOCS)
    edited = [r["doc"] for r in _values(tmp_path, "edited", [{"doc": "new", "kind": "b"}, *DOCS[:-1]],
                                        sampling_strategy="shuffle")]
    assert [d for d in edited if d != "new"] == [d for d in base if d != DOCS[-1]["doc"]]


def test_row_stream_distributions(tmp_path):
    """Vectorised per-row streams draw what the sampler says (ranges, weights, moments)."""
    rows = [{"doc": f"r{i}", "kind": "a"} for i in range(6000)]
    values = _values(tmp_path, "many", rows)
    cats = [r["cat"] for r in values]
    assert [round(cats.count(c) / len(cats), 1) for c in "xyz"] == [0.2, 0.3, 0.5]
    u = np.array([r["u"] for r in values])
    assert u.min() >= 0 and u.max() < 10 and abs(u.mean() - 5) < 0.2
    g = np.array([r["g"] for r in values])
    assert abs(g.mean()) < 0.05 and abs(g.std() - 1) < 0.05
    assert abs(np.mean([r["coin"] for r in values]) - 0.5) < 0.03
    assert {r["sub"] for r in values} == {"a1", "a2"}
    days = np.array([np.datetime64(r["later"][:19]) - np.datetime64(r["when"][:19]) for r in values])
    assert days.min() >= np.timedelta64(1, "D") and days.max() < np.timedelta64(30, "D")
    assert all(r["id"][14] == "4" for r in values)  # version-4-shaped uuids


def test_content_hash_reads_values_not_layout():
    table = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"]})
    hashes = content_hashes(table)
    assert list(content_hashes(table.select(["b", "a"]))) == list(hashes)  # column order
    with_empty = table.append_column("c", pa.array([None, None, None], pa.string()))
    assert list(content_hashes(with_empty)) == list(hashes)  # a null cell counts as absent
    encoded = pa.table({"a": [1, 2, None], "b": pa.array(["x", "y", "z"]).dictionary_encode()})
    assert list(content_hashes(encoded)) == list(hashes)  # dictionary encoding is layout
    as_float = pa.table({"a": [1.0, 2.0, None], "b": ["x", "y", "z"]})
    assert list(content_hashes(as_float) == hashes) == [False, False, True]  # 1 and 1.0 differ
    ids = SelectionIdentity.of(content_hashes(pa.table({"t": ["p", "q", "p", "p"]})))
    assert ids.occurrence.tolist() == [0, 0, 1, 2] and ids.copies.tolist() == [3, 1, 3, 3]
