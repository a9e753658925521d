"""Durable publishing: every file ddbuild publishes is fsynced, renamed, then its directory fsynced.

The order is checked on real files by recording the os calls (fsync, rename, link) each writer
makes: a name may only point at bytes that were flushed, and the new name itself is flushed
after. One line per writer in WRITERS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ddbuild import atomic
from ddbuild.fingerprint import digest_bytes


def _table() -> Any:
    import pyarrow as pa

    return pa.table({"n": list(range(50)), "s": [f"row {i}" for i in range(50)]})


def _put_blob(root: Path) -> Path:
    from ddbuild.store.fs import FileSystemStore
    from ddbuild.store.layout import blob_rel

    source = root.parent / "source.bin"
    source.write_bytes(b"blob bytes " * 100)
    digest = digest_bytes(source.read_bytes())
    FileSystemStore(root).put_blob(digest, source)
    return root / blob_rel(digest)


def _put_entry(root: Path) -> Path:
    from ddbuild.store.entry import new_entry
    from ddbuild.store.fs import FileSystemStore
    from ddbuild.store.layout import entry_rel

    key = "ab" * 16
    outputs = [{"path": "parquet-files/batch_00000.parquet", "digest": "cd" * 16, "rows": 1, "size": 1}]
    entry = new_entry(key=key, workflow="wf", stage="s", identity={}, inputs={}, outputs=outputs,
                      selected_output={"root": "parquet-files", "paths": [outputs[0]["path"]],
                                       "digest": "ef" * 16, "rows": 1},
                      row_counts={}, usage={}, built_by="test")
    assert FileSystemStore(root).put_entry(key, entry)
    return root / entry_rel(key)


def _put_response(root: Path) -> Path:
    from ddbuild.store.fs import FileSystemStore
    from ddbuild.store.layout import LLM_PACKS

    FileSystemStore(root).put_response("12" * 16, {"choices": [{"message": {"content": "hi"}}]})
    (pack,) = (root / LLM_PACKS).rglob("*.json")
    return pack


def _checkpoint_batch(root: Path) -> Path:
    from ddbuild.engine.writer import write_parquet

    path = root / "dataset" / "parquet-files" / "batch_00000.parquet"
    write_parquet(_table(), path)
    return path


def _checkpoint_metadata(root: Path) -> Path:
    from ddbuild.engine.writer import write_json

    path = root / "dataset" / "metadata.json"
    write_json(path, {"completed_batches": [0]})
    return path


def _streamed_export(root: Path) -> Path:
    from ddbuild.engine.writer import write_parquet_stream

    table = _table()
    path = root / "export" / "out.parquet"
    write_parquet_stream(table.schema, [table, table], path)
    return path


def _dataset_export(suffix: str) -> Callable[[Path], Path]:
    def export(root: Path) -> Path:
        from ddbuild.engine.io import export_files
        from ddbuild.engine.writer import write_parquet

        batch = root / "dataset" / "batch_00000.parquet"
        write_parquet(_table(), batch)
        return export_files([batch], root / "export" / f"out.{suffix}")

    return export


# One line per writer: (name, function(root) -> the published file).
WRITERS: list[tuple[str, Callable[[Path], Path]]] = [
    ("store blob", _put_blob),
    ("store entry", _put_entry),
    ("store LLM response", _put_response),
    ("checkpoint batch", _checkpoint_batch),
    ("checkpoint metadata", _checkpoint_metadata),
    ("streamed parquet export", _streamed_export),
    ("jsonl export", _dataset_export("jsonl")),
    ("csv export", _dataset_export("csv")),
]


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record ('fsync', path), ('name', final path) for every fsync, rename and link."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_link = os.fsync, os.replace, os.link

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(("name", os.path.realpath(dst)))
        real_replace(src, dst)

    def link(src: Any, dst: Any, **kw: Any) -> None:
        events.append(("name", os.path.realpath(dst)))
        real_link(src, dst, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "link", link)
    return events


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fsynced files")
@pytest.mark.parametrize("writer", [w for _, w in WRITERS], ids=[n for n, _ in WRITERS])
def test_published_file_is_flushed_before_its_name_and_its_directory_after(
    writer: Callable[[Path], Path], tmp_path: Path, syscalls: list[tuple[str, str]]
) -> None:
    root = tmp_path / "cache"
    final = Path(os.path.realpath(writer(root)))
    assert final.is_file()
    named = [i for i, event in enumerate(syscalls) if event == ("name", str(final))]
    assert named, f"{final} was not published by a rename or link: {syscalls}"
    at = named[-1]
    before = [path for kind, path in syscalls[:at] if kind == "fsync"]
    # the temp file that became ``final`` was fsynced before it got the name (its path in
    # /proc is the temp name beside ``final``)
    assert any(Path(p).parent == final.parent and Path(p).name.startswith(atomic.TEMP_PREFIX) for p in before), (
        f"no fsync of a temp file beside {final.name} before it was named: {syscalls}"
    )
    assert ("fsync", str(final.parent)) in syscalls[at + 1:], f"directory not fsynced after the rename: {syscalls}"
    assert [p.name for p in final.parent.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_a_failed_write_publishes_nothing_and_leaves_no_temp(tmp_path: Path) -> None:
    from ddbuild.engine.writer import write_parquet_stream

    table = _table()

    def tables() -> Any:
        yield table
        raise RuntimeError("disk went away")

    target = tmp_path / "out" / "data.parquet"
    with pytest.raises(RuntimeError, match="disk went away"):
        write_parquet_stream(table.schema, tables(), target)
    with pytest.raises(RuntimeError, match="half-way"), atomic.open_temp(tmp_path / "x.json") as (_, handle):
        handle.write(b"{")
        raise RuntimeError("half-way")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


def test_exclusive_publish_keeps_the_first_writer(tmp_path: Path) -> None:
    target = tmp_path / "entry.json"
    assert atomic.write_bytes(target, b"first", exclusive=True) is True
    assert atomic.write_bytes(target, b"second", exclusive=True) is False
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.json"]


def test_checkpoint_batch_bytes_equal_a_direct_parquet_write(tmp_path: Path) -> None:
    """Serialising in memory (to hash on the way) writes the same bytes as pyarrow to a path."""
    import pyarrow.parquet as pq

    from ddbuild.engine.writer import PARQUET_OPTIONS, write_parquet

    table = _table()
    digest = write_parquet(table, tmp_path / "a.parquet")
    pq.write_table(table, tmp_path / "b.parquet", **PARQUET_OPTIONS)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert digest == digest_bytes((tmp_path / "a.parquet").read_bytes())


def test_a_leftover_temp_file_is_not_read_as_data(tmp_path: Path) -> None:
    """A write killed before its rename leaves a temp file; a directory seed must not read it."""
    from ddbuild.config.seeds import resolve_seed_files
    from ddbuild.engine.writer import write_parquet
    from ddbuild.store.fs import FileSystemStore
    from ddbuild.store.layout import response_rel

    write_parquet(_table(), tmp_path / "parquet-files" / "batch_00000.parquet")
    leftover = atomic.temp_path(tmp_path / "parquet-files" / "batch_00001.parquet")
    leftover.write_bytes(b"PAR1 half a batch")
    assert [p.name for p in resolve_seed_files(tmp_path / "parquet-files")] == ["batch_00000.parquet"]
    response = atomic.temp_path(tmp_path / response_rel("ab" * 16))
    response.parent.mkdir(parents=True)
    response.write_text("{")
    assert list(FileSystemStore(tmp_path).list_responses()) == []


# -- one helper --------------------------------------------------------------------------------

# Calls that put a file under a name (or make a temp file to do so). Outside ddbuild/atomic.py each
# one needs a line here saying why it is not an atomic write: (enclosing function, call) -> reason.
RENAMES_ALLOWED = {
    ("move", "os.replace"): "LocalFiles.move: quarantine moves a corrupt blob aside in the cache, no new bytes",
    ("quarantine", "shutil.move"): "a corrupt download moved to quarantine/ (maybe across filesystems)",
    ("_keep_aside", "os.replace"): "a file edited by hand in a view is moved to edited/, not written",
    ("_link", "os.link"): "inputs hard-linked into a stage's scratch folder, never published",
    ("fetch_blob", "tempfile.mkstemp"): "a scratch download the local store then copies in atomically",
    ("_scan_journals", "os.replace"): "a dead build's journal claimed by renaming it (one adopter wins); its "
    "lines are then written as a pack through atomic",
}
_NAMING_CALLS = {
    "os.replace", "os.rename", "os.renames", "os.link", "shutil.move",
    "tempfile.mkstemp", "tempfile.mktemp", "tempfile.NamedTemporaryFile",
}  # fmt: skip


def _renames_in(path: Path) -> list[tuple[str, str, int]]:
    """(enclosing function, call, line) for every naming call in one source file."""
    import ast

    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                name = ast.unparse(child.func)
                if name in _NAMING_CALLS:
                    found.append((function, name, child.lineno))
                # Path.replace(target) / Path.rename(target): one positional argument (str.replace has two)
                elif child.func.attr in ("replace", "rename") and len(child.args) == 1 and not child.keywords:
                    found.append((function, f"<path>.{child.func.attr}", child.lineno))
            visit(child, function)

    visit(ast.parse(path.read_text(encoding="utf-8")), "<module>")
    return found


def test_only_atomic_py_renames_files_into_place() -> None:
    """A new temp-and-rename outside ddbuild/atomic.py fails here: use atomic.write_bytes /
    write_json / open_temp + publish / replacing (fsync, rename, fsync of the directory)."""
    package = Path(__file__).resolve().parents[1] / "ddbuild"
    seen: set[tuple[str, str]] = set()
    unexplained = []
    for source in sorted(package.rglob("*.py")):
        if source == package / "atomic.py":
            continue
        for function, call, line in _renames_in(source):
            seen.add((function, call))
            if (function, call) not in RENAMES_ALLOWED:
                unexplained.append(f"{source.relative_to(package.parent)}:{line}: {call} in {function}()")
    assert unexplained == [], "write through ddbuild.atomic instead (or explain in RENAMES_ALLOWED):\n" + "\n".join(
        unexplained
    )
    assert set(RENAMES_ALLOWED) - seen == set(), "RENAMES_ALLOWED lists calls that are gone: remove them"
