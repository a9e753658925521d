"""Directory, file-contents and Hugging Face seed sources: one row per file, keyed by the files'
bytes (not their paths' modification times), and with row identity only a changed file's row asks
its LLM request again (counted at the test server)."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml

import ddbuild as dd
from ddbuild.errors import ColumnReferenceError, SeedError
from ddbuild.planning.plan import Status
from tests.openai_server import FakeOpenAIServer


def _docs(root: Path) -> Path:
    docs = root / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "a.md").write_text("Alpha notes")
    (docs / "b.txt").write_text("not markdown")
    (docs / "guides" / "c.md").write_text("Gamma guide, café")
    (docs / "guides" / "d.md").write_text("Delta guide")
    return docs


def _summaries(server: FakeOpenAIServer, source: object) -> object:
    model = dd.ModelConfig(alias="fast", model="test-model", provider="local")
    builder = (dd.DataDesignerConfigBuilder(model_configs=[model]).with_seed_dataset(source)
               .add_column(name="summary", column_type="llm-text", model_alias="fast",
                           prompt="Summarise {{ relative_path }}: {{ content }}"))
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server.url)])
    workflow = designer.compose_workflow(name="docs")
    workflow.add_stage("summaries", builder)
    return workflow


def test_file_contents_gives_one_row_per_matching_file(project: Path, server: FakeOpenAIServer) -> None:
    _docs(project)
    result = _summaries(server, dd.FileContentsSeedSource(path="docs", file_pattern="*.md")).run()
    df = result.load_dataset()
    assert df[["source_kind", "source_path", "relative_path", "file_name", "content"]].values.tolist() == [
        ["file_contents", "docs/a.md", "a.md", "a.md", "Alpha notes"],
        ["file_contents", "docs/guides/c.md", "guides/c.md", "c.md", "Gamma guide, café"],
        ["file_contents", "docs/guides/d.md", "guides/d.md", "d.md", "Delta guide"],
    ]
    assert server.total == 3 and server.count_prompt("Summarise guides/c.md: Gamma guide, café") == 1


def test_directory_lists_files_without_reading_them(project: Path) -> None:
    docs = _docs(project)
    (docs / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.DirectorySeedSource(path="docs", recursive=False))
    builder.add_column(name="ext", column_type="expression", expr="{{ file_name.split('.')[-1] }}")
    workflow = dd.DataDesigner().compose_workflow(name="dir")
    workflow.add_stage("files", builder)
    df = workflow.run().load_dataset()
    assert list(df.columns) == ["source_kind", "source_path", "relative_path", "file_name", "ext"]
    assert df["relative_path"].tolist() == ["a.md", "b.txt", "blob.bin"]  # not recursive: no guides/
    assert set(df["source_kind"]) == {"directory_file"} and df["ext"].tolist() == ["md", "txt", "bin"]


def test_touching_a_file_keeps_the_key_and_editing_one_asks_only_its_row_again(
    project: Path, server: FakeOpenAIServer,
) -> None:
    docs = _docs(project)
    source = dd.FileContentsSeedSource(path="docs", file_pattern="*.md")
    first = _summaries(server, source).run()
    assert first.status("summaries") == Status.RUN and server.total == 3
    before = first.load_dataset().set_index("relative_path")["summary"]

    for file in docs.rglob("*.md"):  # touch: new mtimes, same bytes
        os.utime(file, (1_000_000_000, 1_000_000_000))
    again = _summaries(server, source).run()
    assert again.status("summaries") == Status.HIT and again.executions == 0 and server.total == 3

    (docs / "guides" / "c.md").write_text("Gamma guide, revised")
    changed = _summaries(server, source).run()
    assert changed.status("summaries") == Status.RUN
    assert server.total == 4 and server.count_prompt("Summarise guides/c.md: Gamma guide, revised") == 1
    after = changed.load_dataset().set_index("relative_path")["summary"]
    assert after["a.md"] == before["a.md"] and after["guides/d.md"] == before["guides/d.md"]
    assert after["guides/c.md"] != before["guides/c.md"]


def test_file_pattern_and_encoding_enter_the_key(project: Path, server: FakeOpenAIServer) -> None:
    _docs(project)
    plans = [
        _summaries(server, source).plan().stage("summaries").key
        for source in (dd.FileContentsSeedSource(path="docs", file_pattern="*.md"),
                       dd.FileContentsSeedSource(path="docs", file_pattern="*.md", encoding="latin-1"),
                       dd.FileContentsSeedSource(path="docs", file_pattern="*.md", recursive=False),
                       dd.FileContentsSeedSource(path=str(project / "docs"), file_pattern="*.md"))
    ]
    assert len(set(plans[:3])) == 3
    assert plans[3] == plans[0]  # an absolute path to the same directory: the same key


def test_bad_directory_sources_are_named(project: Path, server: FakeOpenAIServer) -> None:
    _docs(project)
    with pytest.raises(SeedError, match=r"^FileContentsSeedSource path 'nowhere' is not a directory\."):
        _summaries(server, dd.FileContentsSeedSource(path="nowhere")).run()
    with pytest.raises(SeedError, match=r"^FileContentsSeedSource: no file under 'docs' matches '\*\.rst'\."):
        _summaries(server, dd.FileContentsSeedSource(path="docs", file_pattern="*.rst")).run()
    (project / "docs" / "bad.md").write_bytes(b"\xff\xfe bad utf-8")
    with pytest.raises(SeedError, match=r"^FileContentsSeedSource: file '.*bad\.md' is not valid utf-8"):
        _summaries(server, dd.FileContentsSeedSource(path="docs", file_pattern="*.md")).run()
    with pytest.raises(ValueError, match="file_pattern 'guides/\\*.md' must match file names"):
        dd.FileContentsSeedSource(path="docs", file_pattern="guides/*.md")
    with pytest.raises(ValueError, match="unknown encoding 'utf-99'"):
        dd.FileContentsSeedSource(path="docs", encoding="utf-99")
    assert server.total == 0


def test_a_directory_source_round_trips_through_data_designers_yaml(project: Path) -> None:
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(
        dd.FileContentsSeedSource(path="docs", file_pattern="*.md", encoding="latin-1"))
    written = yaml.safe_load(builder.to_yaml())["seed_config"]["source"]
    assert written == {"seed_type": "file_contents", "path": "docs", "file_pattern": "*.md", "recursive": True,
                       "encoding": "latin-1"}
    back = dd.DataDesignerConfigBuilder.from_config(yaml.safe_load(builder.to_yaml()))
    assert back.get_seed_config().source == builder.get_seed_config().source


# -- Hugging Face -------------------------------------------------------------------------------

def _hub_snapshot(cache: Path, repo: str, revision: str, files: dict[str, pd.DataFrame]) -> None:
    """A dataset as the hub's client caches it: refs/main names the snapshot holding the files."""
    root = cache / ("datasets--" + repo.replace("/", "--"))
    for name, frame in files.items():
        target = root / "snapshots" / revision / name
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(revision)


def _hf_workflow(source: object) -> object:
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(source)
    builder.add_column(name="q", column_type="expression", expr="Q: {{ question }}")
    workflow = dd.DataDesigner().compose_workflow(name="hf")
    workflow.add_stage("questions", builder)
    return workflow


def test_a_hugging_face_dataset_in_the_local_cache_loads_without_network(
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = project.parent / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    _hub_snapshot(cache, "acme/faq", "a" * 40, {
        "data/train-00000.parquet": pd.DataFrame({"question": ["why?", "how?"]}),
        "data/train-00001.parquet": pd.DataFrame({"question": ["when?"]}),
        "README.md": pd.DataFrame({"x": [1]}),
    })
    source = dd.HuggingFaceSeedSource(path="datasets/acme/faq/data/*.parquet", endpoint="http://127.0.0.1:9")
    result = _hf_workflow(source).run()
    assert result.load_dataset()["q"].tolist() == ["Q: why?", "Q: how?", "Q: when?"]
    key = result.stages["questions"].key

    moved = project.parent / "elsewhere"  # another machine's cache, the same bytes: the same key
    cache.rename(moved)
    monkeypatch.setenv("HF_HUB_CACHE", str(moved))
    assert _hf_workflow(source).plan().stage("questions").key == key
    token = dd.HuggingFaceSeedSource(path=source.path, token="HF_TOKEN", endpoint="https://hub.example")
    assert _hf_workflow(token).plan().stage("questions").key == key  # token and endpoint: not the data

    _hub_snapshot(moved, "acme/faq", "b" * 40, {"data/train-00000.parquet": pd.DataFrame({"question": ["who?"]})})
    assert _hf_workflow(source).plan().stage("questions").key != key  # a new revision's bytes


def test_an_unreachable_hub_is_a_clear_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(project.parent / "empty-hub"))
    source = dd.HuggingFaceSeedSource(path="datasets/acme/faq/data/*.parquet", endpoint="http://127.0.0.1:9")
    with pytest.raises(SeedError) as caught:
        _hf_workflow(source).run()
    assert str(caught.value).startswith(
        "HuggingFaceSeedSource 'datasets/acme/faq/data/*.parquet': the hub at http://127.0.0.1:9 cannot be reached")
    assert "dataset 'acme/faq' is not in the local cache" in str(caught.value)
    with pytest.raises(ValueError, match="must be 'datasets/<owner>/<name>/<file or glob>'"):
        dd.HuggingFaceSeedSource(path="acme/faq")


def test_building_a_config_never_contacts_the_hub(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: builder.build() read the seed's column names, so a Hugging Face dataset not in
    the local cache was fetched (offline: a SeedError) where Data Designer's build() reads nothing;
    writing a config file needed the hub. Its columns are checked once the dataset is cached."""
    cache = project.parent / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    source = dd.HuggingFaceSeedSource(path="datasets/acme/faq/data/*.parquet", endpoint="http://127.0.0.1:9")
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(source)
    builder.add_column(name="q", column_type="expression", expr="Q: {{ questoin }}")
    config = builder.build()  # the hub at port 9 refuses: nothing was asked of it
    assert yaml.safe_load(config.to_yaml())["seed_config"]["source"]["path"] == source.path
    assert not cache.exists()
    _hub_snapshot(cache, "acme/faq", "a" * 40, {"data/train.parquet": pd.DataFrame({"question": ["why?"]})})
    with pytest.raises(ColumnReferenceError, match="Column 'q' references unknown column 'questoin'"):
        builder.build()


class _Hub(BaseHTTPRequestHandler):
    """The two hub endpoints a dataset download uses: a revision's file list, and a file."""

    files: dict[str, bytes] = {}
    seen: list[tuple[str, str | None]] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/api/datasets/acme/faq/revision/main":
            body = json.dumps({"sha": "c" * 40, "siblings": [{"rfilename": n} for n in self.files]}).encode()
        elif self.path.startswith(f"/datasets/acme/faq/resolve/{'c' * 40}/"):
            body = self.files.get(self.path.split("/", 6)[-1], b"")
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_dataset_missing_from_the_cache_is_fetched_into_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    frame = tmp_path / "f.parquet"
    pd.DataFrame({"question": ["where?", "which?"]}).to_parquet(frame, index=False)
    _Hub.files, _Hub.seen = {"data/train.parquet": frame.read_bytes(), "other.csv": b"a\n1\n"}, []
    hub = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        cache = project.parent / "hub"
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        monkeypatch.setenv("MY_HF_TOKEN", "secret-123")
        source = dd.HuggingFaceSeedSource(path="datasets/acme/faq/data/*.parquet", token="MY_HF_TOKEN",
                                          endpoint=f"http://127.0.0.1:{hub.server_address[1]}")
        assert _hf_workflow(source).run().load_dataset()["q"].tolist() == ["Q: where?", "Q: which?"]
        fetched = [p for p, _ in _Hub.seen]
        assert fetched == ["/api/datasets/acme/faq/revision/main", f"/datasets/acme/faq/resolve/{'c' * 40}/data/train.parquet"]
        assert {auth for _, auth in _Hub.seen} == {"Bearer secret-123"}  # the variable's value, sent
        snapshot = cache / "datasets--acme--faq" / "snapshots" / ("c" * 40)
        assert (snapshot / "data" / "train.parquet").read_bytes() == frame.read_bytes()
        assert (cache / "datasets--acme--faq" / "refs" / "main").read_text() == "c" * 40
        assert _hf_workflow(source).run().executions == 0 and len(_Hub.seen) == 2  # cached: no request
    finally:
        hub.shutdown()
    assert "secret-123" not in yaml.safe_dump(json.loads(json.dumps(source.model_dump())))  # the name is kept

